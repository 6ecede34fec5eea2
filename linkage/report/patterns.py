"""Candidate pairs folded into comparison patterns: what the linkage report shows instead of pairs.

At 193,000 x 3,000,000 there are ~68 million candidate pairs but a few hundred to a few
thousand distinct level patterns, so every view of the report (pattern viewer, waterfall by
pattern, per-pass yields) is built from one pass over the pairs that keeps, per pattern, its
count, its count per decision status and a few example pairs of each status, and per
blocking pass the pairs it proposed, the pairs no earlier pass had proposed and the pairs
only it proposed. The pass runs in compiled code (numba) over arrays the engine already
holds; nothing of the size of the pairs is allocated but one int32 pattern id per pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from linkage.compare import Comparison

# Decision status of a candidate pair, as the report names it. A link can also be in the grey
# zone (its probability between the threshold and the zone's upper bound).
STATUSES = ("link", "link in the grey zone", "grey zone, not linked", "one-to-one, below the threshold",
            "not one-to-one")
LINK, GREY_LINK, GREY, BELOW, NOT_KEPT = range(len(STATUSES))
DENSE_PATTERNS = 1 << 23  # possible patterns up to which ids come from a lookup table, not a sort


@dataclass
class PatternTally:
    """Distinct level patterns of the candidate pairs, with what the report needs of each."""

    patterns: np.ndarray    # (G, C) int8 levels, -1 missing; in lexicographic order of the levels
    counts: np.ndarray      # (G,) candidate pairs with each pattern
    by_status: np.ndarray   # (G, len(STATUSES)) of them, per decision status
    examples: np.ndarray    # (G, len(STATUSES), k) positions of example pairs (into the engine's arrays), -1 none
    pass_pairs: np.ndarray  # (P,) distinct pairs each blocking pass proposed
    pass_new: np.ndarray    # (P,) of them, pairs no earlier pass had proposed
    pass_only: np.ndarray   # (P,) of them, pairs no other pass proposed


def pair_status(n_pairs: int, kept: np.ndarray, linked: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """uint8 status (:data:`STATUSES`) of each of ``n_pairs`` pairs from a decision's positions."""
    status = np.full(n_pairs, NOT_KEPT, dtype=np.uint8)
    status[kept] = BELOW
    status[grey] = GREY
    status[linked] = LINK
    status[np.intersect1d(linked, grey)] = GREY_LINK
    return status


@njit(cache=True, parallel=True)
def _dense_keys(levels, bases):
    n, width = levels.shape
    out = np.empty(n, dtype=np.int32)
    for i in prange(n):
        key = 0
        for j in range(width):
            key = key * bases[j] + levels[i, j] + 1
        out[i] = key
    return out


@njit(cache=True)
def _tally(ids, status, n_patterns, n_status, k, examples):
    by_status = np.zeros((n_patterns, n_status), dtype=np.int64)
    for i in range(len(ids)):
        g, s = ids[i], status[i]
        filled = by_status[g, s]
        if filled < k:
            examples[g, s, filled] = i
        by_status[g, s] = filled + 1
    return by_status


@njit(cache=True)
def _pass_yields(bits, counts, n_passes):
    """Per pass: pairs it proposed, of them new (no earlier pass), only it; ``counts`` empty = 1 per row."""
    proposed = np.zeros(n_passes, dtype=np.int64)
    new = np.zeros(n_passes, dtype=np.int64)
    only = np.zeros(n_passes, dtype=np.int64)
    weighted = len(counts) > 0
    for i in range(len(bits)):
        b = np.int64(bits[i])
        c = counts[i] if weighted else 1
        first = True
        for p in range(n_passes):
            if (b >> p) & 1:
                proposed[p] += c
                if first:
                    new[p] += c
                    first = False
                if b == (np.int64(1) << p):
                    only[p] += c
    return proposed, new, only


def pattern_ids(levels: np.ndarray, comparisons: list[Comparison]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct patterns (G, C) int8 in lexicographic order, int32 pattern id of each pair)."""
    bases = np.array([c.n_levels + 1 for c in comparisons], dtype=np.int64)
    if float(np.prod(bases, dtype=np.float64)) > DENSE_PATTERNS:  # too many possible patterns for a table
        patterns, ids = np.unique(levels, axis=0, return_inverse=True)
        return patterns.astype(np.int8), ids.ravel().astype(np.int32)
    ids = _dense_keys(levels, bases)
    present = np.flatnonzero(np.bincount(ids, minlength=1))
    lookup = np.zeros(int(np.prod(bases)), dtype=np.int32)
    lookup[present] = np.arange(len(present), dtype=np.int32)
    patterns = np.empty((len(present), len(bases)), dtype=np.int8)
    rest = present.astype(np.int64)
    for j in range(len(bases) - 1, -1, -1):
        patterns[:, j] = rest % bases[j] - 1
        rest //= bases[j]
    np.take(lookup, ids, out=ids)
    return patterns, ids


def ids_in(patterns: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Position in ``patterns`` (distinct rows) of each row of ``levels`` (all present in ``patterns``)."""
    width = patterns.shape[1]
    rows = np.ascontiguousarray(np.concatenate([patterns, levels]).astype(np.int8))
    keyed = rows.view(np.dtype((np.void, width))).ravel()
    order = np.argsort(keyed[:len(patterns)], kind="stable")
    at = np.searchsorted(keyed[:len(patterns)][order], keyed[len(patterns):])
    return order[at].astype(np.int32)


def tally_patterns(levels: np.ndarray, comparisons: list[Comparison], status: np.ndarray,
                   proposed_by: np.ndarray | None, n_passes: int, examples_per_status: int,
                   cluster_table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> PatternTally:
    """Fold the pairs (``levels`` and decision ``status`` per pair; ``proposed_by`` the pass bits)
    into patterns.

    With ``cluster_table`` (an engine's (patterns, bits, counts) of every candidate pair, when
    ``levels`` holds only the pairs considered for a link), counts and pass yields come from the
    table, and the pairs not in ``levels`` count as not one-to-one.
    """
    k = examples_per_status
    if cluster_table is None:
        patterns, ids = pattern_ids(levels, comparisons)
        counts = np.bincount(ids, minlength=len(patterns)).astype(np.int64)
        bits = np.zeros(0, dtype=np.uint32) if proposed_by is None else proposed_by
        bit_counts = np.zeros(0, dtype=np.int64)  # one pair per row
    else:
        table_patterns, bits, bit_counts = cluster_table
        patterns, inverse = np.unique(table_patterns.astype(np.int8), axis=0, return_inverse=True)
        counts = np.bincount(inverse.ravel(), weights=bit_counts, minlength=len(patterns)).astype(np.int64)
        ids = ids_in(patterns, levels) if len(levels) else np.zeros(0, dtype=np.int32)
    examples = np.full((len(patterns), len(STATUSES), k), -1, dtype=np.int64)
    by_status = _tally(ids, status, len(patterns), len(STATUSES), k, examples)
    if cluster_table is not None:  # pairs the engine left on the cluster were never one-to-one
        by_status[:, NOT_KEPT] += counts - by_status.sum(axis=1)
    proposed, new, only = _pass_yields(bits, bit_counts.astype(np.int64), n_passes)
    return PatternTally(patterns, counts, by_status, examples, proposed, new, only)
