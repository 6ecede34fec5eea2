"""recordlinkage 0.16 (the Python Record Linkage Toolkit), as its documentation recommends.

    .venv-peers/bin/python benchmarks/peers/recordlinkage_runner.py --data DIR --out DIR

Indexing: standard blocking (``Index.block``) on a few keys, plus sorted-neighbourhood
indexing on the surname within a birth year, their union as candidate pairs; comparison:
``Compare.string`` (Jaro-Winkler >= 0.85, the threshold of the docs' examples) for names,
``Compare.exact`` for dates, residence and NIR (binary features, which ECM requires; sex
is left out, as it turned ECM's two classes into men and women); classification: the unsupervised
``ECMClassifier`` (Fellegi-Sunter by expectation-conditional maximisation on binary
features), whose predicted matches are the links. ECM does not make links one-to-one.

The indirect scenario has care events, which recordlinkage does not handle natively: a
custom index algorithm (the documented ``BaseIndexAlgorithm`` extension point) proposes the
pairs sharing a hospital stay, and a vectorised custom comparison counts shared stays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from common import Run

import recordlinkage as rl
from recordlinkage.base import BaseIndexAlgorithm

STRING_THRESHOLD = 0.85


class SharedStay(BaseIndexAlgorithm):
    """Pairs of records sharing at least one (FINESS, admission day) token; blocks larger
    than ``max_block`` (a hospital day with thousands of patients on each side) are skipped."""

    def __init__(self, column: str = "stays", max_block: int = 2000, **kwargs):
        super().__init__(**kwargs)
        self.column, self.max_block = column, max_block

    def _link_index(self, df_a, df_b):
        a = df_a[self.column].explode().dropna()
        b = df_b[self.column].explode().dropna()
        a = pd.DataFrame({"token": a.to_numpy(), "a": a.index.to_numpy()})
        b = pd.DataFrame({"token": b.to_numpy(), "b": b.index.to_numpy()})
        size = a.groupby("token").size().mul(b.groupby("token").size(), fill_value=0)
        small = size.index[(size > 0) & (size <= self.max_block)]
        pairs = a[a.token.isin(small)].merge(b[b.token.isin(small)], on="token")[["a", "b"]].drop_duplicates()
        return pd.MultiIndex.from_arrays([pairs.a.to_numpy(), pairs.b.to_numpy()])


def shared_count(left: pd.Series, right: pd.Series, at_least: int) -> np.ndarray:
    out = np.zeros(len(left), dtype=np.int8)
    for k, (x, y) in enumerate(zip(left.to_numpy(), right.to_numpy())):
        if x is not None and y is not None and len(x) and len(y):
            out[k] = len(set(x).intersection(y)) >= at_least
    return out


def any_surname(bl, ul, br, ur) -> np.ndarray:
    """Jaro-Winkler >= 0.85 between any of the birth and use names of each side (a married
    name on one side may be the birth name on the other)."""
    import jellyfish

    out = np.zeros(len(bl), dtype=np.int8)
    for k, names in enumerate(zip(bl.to_numpy(), ul.to_numpy(), br.to_numpy(), ur.to_numpy())):
        x = [v for v in names[:2] if isinstance(v, str)]
        y = [v for v in names[2:] if isinstance(v, str)]
        out[k] = any(jellyfish.jaro_winkler_similarity(p, q) >= STRING_THRESHOLD for p in x for q in y)
    return out


def configure(run: Run) -> tuple[rl.Index, rl.Compare]:
    # two worker processes, one per core; each holds a copy of the pairs: "serial" halves the memory
    index, compare = rl.Index(), rl.Compare(n_jobs=1 if run.args.variant == "serial" else 2)
    if run.scenario == "febrl":
        index.block("birth_date")
        index.block(["first_name", "birth_name"])
        index.sortedneighbourhood("birth_name", window=5, block_on=["birth_year"])
        compare.string("first_name", "first_name", method="jarowinkler", threshold=STRING_THRESHOLD, label="first_name")
        compare.string("birth_name", "birth_name", method="jarowinkler", threshold=STRING_THRESHOLD, label="surname")
        compare.exact("birth_date", "birth_date", label="birth_date")
        compare.exact("commune", "commune", label="postcode")
    elif run.scenario in ("names", "direct"):
        index.block("birth_date")
        index.block(["first_name", "birth_year"])
        index.sortedneighbourhood("birth_name", window=5, block_on=["birth_year"])
        index.sortedneighbourhood("use_name", window=5, block_on=["birth_year"])
        # sex is left out: nearly uninformative, it pulls ECM's two classes towards men vs women
        compare.compare_vectorized(any_surname, ["birth_name", "use_name"], ["birth_name", "use_name"],
                                   label="surname")
        compare.string("first_name", "first_name", method="jarowinkler", threshold=STRING_THRESHOLD, label="first_name")
        compare.exact("birth_date", "birth_date", label="birth_date")
        compare.exact("commune", "commune", label="commune")
        if run.scenario == "direct":
            index.block("nir")
            compare.exact("nir", "nir", label="nir")
    else:
        index.add(SharedStay())
        index.block(["birth_ym", "sex", "commune"])
        index.block(["death_date", "sex"])
        compare.compare_vectorized(shared_count, "stays", "stays", 1, label="stays_1")
        compare.compare_vectorized(shared_count, "stays", "stays", 3, label="stays_3")
        compare.exact("birth_ym", "birth_ym", label="birth_ym")
        compare.exact("commune", "commune", label="commune")
        compare.exact("death_date", "death_date", label="death_date")
    return index, compare


def main() -> int:
    run = Run("recordlinkage", __doc__)
    with run.stage("read plaintext"):
        left, right = run.read(["id", *run.meta["fields"]])
        left, right = left.set_index("id"), right.set_index("id")
    index, compare = configure(run)
    with run.stage("index (blocking)"):
        pairs = index.index(left, right)
    run.counts["candidate_pairs"] = len(pairs)
    with run.stage(f"compare {len(pairs):,} pairs"):
        features = compare.compute(pairs, left, right)
    with run.stage("ECM classifier (fit and predict)"):
        classifier = rl.ECMClassifier()
        matches = classifier.fit_predict(features)
        probability = classifier.prob(features.loc[matches]) if len(matches) else pd.Series([], dtype=float)
    links = pd.DataFrame({"left_id": matches.get_level_values(0), "right_id": matches.get_level_values(1),
                          "score": np.asarray(probability, dtype=float)})
    run.config = {"n_jobs": compare.n_jobs, "indexing": [type(a).__name__ for a in index.algorithms],
                  "features": list(features.columns),
                  "classifier": "ECMClassifier (defaults)", "string_threshold": STRING_THRESHOLD}
    run.finish(links)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
