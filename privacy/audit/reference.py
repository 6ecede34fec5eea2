"""Public-like name-frequency lists for the attack self-audit, from the simulator's vocabularies.

A real attacker knows published frequencies (INSEE's surname and given-name files), not a
holder's data. The simulator draws names from fixed vocabularies with known frequencies,
which play that role here: the exported counts are the vocabulary's *population*
probabilities times ``total``, not counts of any simulated file, so the attacker's list
differs from each holder's sample (sampling noise, typos, the age and sex mix of cancer
patients), as a public list would.

- ``surnames``: the surname vocabulary (common names then the long tail).
- ``first_names``: the six given-name lists (two sexes x three birth eras) mixed with
  equal weights, as a national list over all birth years would be, unaware of the
  population's age and sex.

Values are normalised as the spec normalises names (upper-case ASCII letters only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from harmonie.errors import HarmonieError
from harmonie.io import write_parquet
from linkage.datasets.names import ERAS, first_names, surnames
from linkage.normalise.names import given_names, surname

KINDS = ("surnames", "first_names")


def _probabilities(cum: np.ndarray) -> np.ndarray:
    return np.diff(np.r_[0.0, cum])


def name_reference(kind: str, total: int = 1_000_000) -> pa.Table:
    """(value, count) of a simulator vocabulary; counts are expected counts among ``total`` people."""
    if kind not in KINDS:
        raise HarmonieError(f"no reference list {kind!r}; choose one of {', '.join(KINDS)}")
    if total < 1000:
        raise HarmonieError("a reference list needs a total of at least 1000 people")
    weights: dict[str, float] = {}
    if kind == "surnames":
        vocab = surnames()
        for value, p in zip(vocab.values, _probabilities(vocab.cum)):
            name = surname(value)
            if name:
                weights[name] = weights.get(name, 0.0) + p
    else:
        lists = [first_names(sex, era) for sex in ("M", "F") for era in ERAS]
        for vocab in lists:
            for value, p in zip(vocab.values, _probabilities(vocab.cum)):
                names = given_names(value)
                if names:
                    weights[names[0]] = weights.get(names[0], 0.0) + p / len(lists)
    ordered = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
    counts = np.maximum(np.rint(np.array([p for _, p in ordered]) * total), 1).astype(np.int64)
    return pa.table({"value": pa.array([v for v, _ in ordered], pa.string()), "count": pa.array(counts)})


def write_name_reference(kind: str, path: str | Path, total: int = 1_000_000) -> Path:
    return write_parquet(name_reference(kind, total), path)
