"""Attack self-audit of the second round: what the linkage unit learns from per-pair given names.

The linkage unit receives, for each queried pair, each holder's balanced filters of the
first given name and of all given names, under a key of that pair only
(:mod:`linkage.encoding.pair_names`). It also holds the first round: the query, the links
and every token of the encoded files. Played here as that attacker, with a public
name-frequency list and, as an upper bound on what it can infer from the sex token, each
record's sex:

1. **identical filters across pairs**: filters occurring in more than one pair (of any
   holder or field). Field-level filters of MARIE are identical for every MARIE; per-pair
   filters should never repeat.
2. **the published frequency + q-gram pattern attack** (:func:`privacy.audit.attack.attack_table`,
   as ``harmonie audit attack`` runs it, told the encoding's parameters) on each holder's
   answer, every queried pair a row.
3. **cross-pair similarity**: the Dice coefficient between filters of *different* pairs,
   for filters whose true names are equal and for filters whose names differ; if the
   per-pair keys did not separate pairs, equal names would be more similar. Reported as the
   AUC of telling the two apart (0.5: chance) and the largest TPR - FPR over thresholds.
4. **bit frequencies**: the share of filters setting each position, against the binomial
   noise of a fair coin (what a positional frequency analysis would start from).
5. **the agreement graph** (the pair-correlation attack the design must withstand): the
   linkage unit knows which queried pairs agree exactly on a given name, and that linked
   records are one person. Records joined by such edges share a given name; a large
   component of records sharing one name points at a common name. The attacker names every
   record of each component of at least ``min_component`` records with the commonest name
   of its sex, and is scored against the truth and against chance (the same claims' expected
   hits if their records were drawn at random among the queried ones of that sex).

The figures are counts and shares only, never a name. Like :mod:`privacy.audit.attack`, a
low figure bounds these attacks, not every attack.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from linkage.datasets.names import ERAS, first_names
from linkage.normalise.names import given_names
from privacy.audit.attack import FieldPlan, Reference, _shares, attack_table, reference_from_pairs
from privacy.audit.attack_patterns import AttackSettings

SEXES = ("M", "F")


def sex_references() -> dict[str, Reference]:
    """Public first-name frequencies per sex (the simulator's lists, eras mixed equally)."""
    out = {}
    for sex in SEXES:
        weights: Counter = Counter()
        for era in ERAS:
            vocab = first_names(sex, era)
            for value, p in zip(vocab.values, np.diff(np.r_[0.0, vocab.cum])):
                names = given_names(value)
                if names:
                    weights[names[0]] += p / len(ERAS)
        out[sex] = reference_from_pairs(list(weights), [weights[v] * 1e6 for v in weights])
    return out


def _words(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    width = column.type.byte_width
    data = np.frombuffer(column.buffers()[1], dtype=np.uint8)[column.offset * width:(column.offset + len(column))
                                                              * width].reshape(len(column), width)
    present = column.is_valid().to_numpy(zero_copy_only=False)
    return np.where(present[:, None], data, 0), present


def _dice_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ones = np.unpackbits(a, axis=1).sum(1) + np.unpackbits(b, axis=1).sum(1)
    return 2.0 * np.unpackbits(a & b, axis=1).sum(1) / np.maximum(ones, 1)


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a random positive > of a random negative), ties half (Mann-Whitney)."""
    if not len(positive) or not len(negative):
        return float("nan")
    scores = np.concatenate([positive, negative])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]  # average ranks of ties
    return float((ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2)
                 / (len(positive) * len(negative)))


def _max_advantage(positive: np.ndarray, negative: np.ndarray) -> float:
    cuts = np.unique(np.concatenate([positive, negative]))
    tpr = 1 - np.searchsorted(np.sort(positive), cuts, side="left") / len(positive)
    fpr = 1 - np.searchsorted(np.sort(negative), cuts, side="left") / len(negative)
    return float(np.max(tpr - fpr)) if len(cuts) else 0.0


@dataclass
class HolderView:
    """One holder's answer as the attacker holds it, and the truth the holder measures with."""

    role: str
    own_ids: list[str]                 # per queried pair, this holder's linkage id
    filters: dict[str, pa.Array]       # per field, per queried pair
    first_name: list[str | None]       # per queried pair, the true normalised first given name
    all_names: list[str | None]        # ... and all given names joined
    sex: list[str | None]              # per queried pair, the record's sex ('M'/'F')


def identical_across_pairs(views: list[HolderView]) -> dict:
    """Filters (any holder, any field) found in more than one pair."""
    seen: dict[bytes, set[int]] = {}
    for view in views:
        for column in view.filters.values():
            for k, value in enumerate(column.to_pylist()):
                if value is not None:
                    seen.setdefault(value, set()).add(k)
    repeated = [v for v, pairs in seen.items() if len(pairs) > 1]
    return {"distinct_filters": len(seen), "filters_in_more_than_one_pair": len(repeated)}


def frequency_and_pattern_attack(view: HolderView, reference: Reference, bloom) -> dict:
    """The published attacks on one holder's answer (every queried pair a row)."""
    table = pa.table({"linkage_id": pa.array(view.own_ids, pa.string()), **view.filters})
    plans = [FieldPlan(field=name, reference=reference, qgram=bloom.qgram, pool="pair", use_lengths=True,
                       bloom=bloom) for name in view.filters]
    outcomes = attack_table(table, plans, AttackSettings(qgram=bloom.qgram))
    truth = {"first_name": np.array(view.first_name, dtype=object),
             "given_names": np.array(view.all_names, dtype=object)}
    out = {}
    for name, outcome in outcomes.items():
        expected = truth.get(name)
        out[name] = {"distinct_filters": outcome.distinct_filters,
                     "balanced_recovered": bool(outcome.balanced and outcome.balanced.get("recovered")),
                     "frequency_attack": _shares(outcome.frequency, outcome.present, reference, expected),
                     "frequency_and_pattern_attack": _shares(outcome.final, outcome.present, reference, expected)}
    return out


def cross_pair_similarity(views: list[HolderView], *, samples: int = 200_000, seed: int = 0) -> dict:
    """Dice between first-name filters of two different pairs: equal true names vs different ones."""
    rng = np.random.default_rng(seed)
    words, names = [], []
    for view in views:
        data, present = _words(view.filters["first_name"])
        keep = np.flatnonzero(present)
        words.append(data[keep])
        names += [view.first_name[k] for k in keep]
        # rows of one pair are a pair apart in the stacked array only within a view; pairs across
        # views (the other holder's filter of the same pair) are excluded below by pair index
    pair_index = np.concatenate([np.flatnonzero(_words(v.filters["first_name"])[1]) for v in views])
    stacked = np.concatenate(words)
    names = np.array(names, dtype=object)
    n = len(stacked)
    if n < 2:
        return {"sampled": 0}
    # half the samples drawn among equal names (so rare equal pairs are measured), half at random
    by_name: dict = {}
    for k, name in enumerate(names):
        by_name.setdefault(name, []).append(k)
    groups = [np.array(g) for g in by_name.values() if len(g) > 1]
    sizes = np.array([len(g) for g in groups], dtype=float)
    a_eq, b_eq = [], []
    if groups:
        picks = rng.choice(len(groups), size=samples // 2, p=sizes ** 2 / (sizes ** 2).sum())
        for g in picks:
            x, y = rng.choice(groups[g], size=2, replace=False)
            a_eq.append(x)
            b_eq.append(y)
    a_rand, b_rand = rng.integers(0, n, samples // 2), rng.integers(0, n, samples // 2)
    a = np.concatenate([np.array(a_eq, dtype=np.int64), a_rand])
    b = np.concatenate([np.array(b_eq, dtype=np.int64), b_rand])
    other_pair = (pair_index[a] != pair_index[b]) & (a != b)
    a, b = a[other_pair], b[other_pair]
    dice = _dice_rows(stacked[a], stacked[b])
    equal = names[a] == names[b]
    return {"sampled": int(len(a)), "equal_names": int(equal.sum()), "different_names": int((~equal).sum()),
            "mean_dice_equal_names": float(dice[equal].mean()) if equal.any() else None,
            "mean_dice_different_names": float(dice[~equal].mean()) if (~equal).any() else None,
            "auc_equal_vs_different": auc(dice[equal], dice[~equal]),
            "max_tpr_minus_fpr": _max_advantage(dice[equal], dice[~equal]),
            "identical_filters": int((dice >= 0.999).sum())}


def bit_frequencies(views: list[HolderView], field: str = "first_name") -> dict:
    """Per position, the share of filters setting it, against a fair coin's noise. One filter per
    pair (the first holder's ``field``): a pair's other filters repeat its names under its key."""
    data, present = _words(views[0].filters[field])
    data = data[present]
    if not len(data):
        return {"filters": 0}
    bits = np.unpackbits(data, axis=1)
    share = bits.mean(axis=0)
    sigma = 0.5 / np.sqrt(len(bits))
    return {"filters": int(len(bits)), "positions": int(bits.shape[1]),
            "ones_per_filter": sorted({int(o) for o in np.unique(bits.sum(axis=1))})[:5],
            "max_abs_share_minus_half": float(np.abs(share - 0.5).max()), "binomial_sigma": float(sigma),
            "max_z": float(np.abs(share - 0.5).max() / sigma),
            # the largest |z| of that many fair coins, for comparison
            "expected_max_z": float(np.sqrt(2 * np.log(2 * bits.shape[1])))}


def agreement_graph_attack(left: HolderView, right: HolderView, identical: np.ndarray, links: list[tuple[str, str]],
                           references: dict[str, Reference], *, min_component: int = 3,
                           file_records: tuple[int, int] | None = None) -> dict:
    """Components of records sharing a name (identical pairs, plus first-round links), named by frequency."""
    nodes: dict[tuple[str, str], int] = {}

    def node(side: str, ident: str) -> int:
        return nodes.setdefault((side, ident), len(nodes))

    truth, sexes = {}, {}
    for view, side in ((left, "L"), (right, "R")):
        for ident, name, sex in zip(view.own_ids, view.first_name, view.sex):
            k = node(side, ident)
            truth[k], sexes[k] = name, sex
    queried = len(nodes)
    parent = list(range(queried))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(x: int, y: int) -> None:
        x, y = find(x), find(y)
        if x != y:
            parent[max(x, y)] = min(x, y)

    for a, b, same in zip(left.own_ids, right.own_ids, identical):
        if same:
            union(nodes[("L", a)], nodes[("R", b)])
    for a, b in links:  # one person: the same given name (up to typos)
        if ("L", a) in nodes and ("R", b) in nodes:
            union(nodes[("L", a)], nodes[("R", b)])
    roots = np.array([find(k) for k in range(queried)])
    _, inverse, sizes = np.unique(roots, return_inverse=True, return_counts=True)
    size_of = sizes[inverse]
    # base rates among the queried records, per sex (what a blind guess of that name would hit)
    base: dict[str, Counter] = {s: Counter() for s in SEXES}
    for k in range(queried):
        if sexes[k] in base and truth[k] is not None:
            base[sexes[k]][truth[k]] += 1
    top = {s: references[s].values[0] for s in SEXES}
    result = {"records": queried, "components": int(len(sizes)),
              "component_sizes": {str(s): int(c) for s, c in zip(*np.unique(sizes, return_counts=True))},
              "by_min_size": {}}
    side_of = np.array([side for side, _ in nodes], dtype=object)
    for threshold in sorted({2, min_component, min_component + 1, min_component + 2}):
        claimed = correct = 0
        chance = 0.0
        per_side = {"L": [0, 0.0], "R": [0, 0.0]}  # records re-identified, expected by chance
        for k in np.flatnonzero(size_of >= threshold):
            sex = sexes[k]
            if sex not in top or truth[k] is None:
                continue
            hit, expected = int(truth[k] == top[sex]), base[sex][top[sex]] / max(sum(base[sex].values()), 1)
            claimed, correct, chance = claimed + 1, correct + hit, chance + expected
            per_side[side_of[k]][0] += hit
            per_side[side_of[k]][1] += expected
        figures = {
            "records_claimed": claimed, "records_reidentified": int(correct),
            "precision": round(correct / claimed, 4) if claimed else None,
            "expected_by_chance": round(chance, 1), "beyond_chance": round(correct - chance, 1),
            "share_reidentified": round(correct / max(queried, 1), 6),
            "share_beyond_chance": round((correct - chance) / max(queried, 1), 6)}
        if file_records is not None:  # the share of each holder's whole file, as `harmonie audit attack` counts
            for side, role, n in zip(("L", "R"), (left.role, right.role), file_records):
                figures[f"share_of_{role}_file_beyond_chance"] = round((per_side[side][0] - per_side[side][1])
                                                                       / max(n, 1), 6)
        result["by_min_size"][str(threshold)] = figures
    return result


def audit_second_round(views: list[HolderView], levels: np.ndarray, links: list[tuple[str, str]], *,
                       references: dict[str, Reference] | None = None, bloom=None, min_component: int = 3,
                       file_records: tuple[int, int] | None = None, seed: int = 0) -> dict:
    """Every attack of the module docstring on one second round: ``views`` the two holders' answers
    (left first) with their truth, ``levels`` the linkage unit's given-name level per queried pair
    (:func:`linkage.second_round.given_name_levels`), ``links`` the (left, right) linkage ids the
    linkage unit holds as one person (e.g. its links), ``file_records`` the sizes of the two holders'
    encoded files (for shares of each file, as ``harmonie audit attack`` reports them)."""
    from linkage.encoding.pair_names import PAIR_BLOOM

    references = references or sex_references()
    bloom = bloom or PAIR_BLOOM
    overall = reference_from_pairs(
        [v for s in SEXES for v in references[s].values],
        [c for s in SEXES for c in references[s].counts])
    left, right = views
    identical = np.asarray(levels) <= 2   # the same first given name (levels 0-2; -1 is missing)
    identical &= np.asarray(levels) >= 0
    return {
        "pairs": len(levels),
        "identical_filters_across_pairs": identical_across_pairs(views),
        "frequency_and_pattern_attack": {v.role: frequency_and_pattern_attack(v, overall, bloom) for v in views},
        "cross_pair_similarity": cross_pair_similarity(views, seed=seed),
        "bit_frequencies": bit_frequencies(views),
        "agreement_graph": agreement_graph_attack(left, right, identical, links, references,
                                                  min_component=min_component, file_records=file_records),
    }
