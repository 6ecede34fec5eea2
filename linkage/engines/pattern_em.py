"""Fellegi-Sunter fitting from pattern counts, for engines that never hold every pair's levels.

The local engine calls :meth:`FellegiSunter.fit` with one row of levels per candidate pair
(tens of millions of rows). The model itself only ever looks at *counts of distinct
comparison patterns*, per training session and over all candidates (the fastLink idea), so
a distributed engine can aggregate ``(pattern, proposing passes) -> count`` on the cluster
(thousands of rows) and fit here, on the driver, with the same arithmetic in the same order:

- a session's patterns are the rows whose pass bit is set, projected on the comparisons it
  keeps, summed, and put in the order :func:`linkage.model.pattern_counts` gives them;
- every floating-point sum then runs over the same values in the same order as in
  ``fit``, so the model is bit-for-bit the one the local engine fits.

:func:`fit_from_pattern_counts` mirrors ``FellegiSunter.fit`` and ``_em`` step by step;
``tests/test_spark_engine.py`` checks, without Spark, that both give identical models.
"""

from __future__ import annotations

import numpy as np

from linkage.compare import Comparison
from linkage.model import FellegiSunter, pattern_counts


def pattern_count_table(levels: np.ndarray, proposed_by: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(patterns (G, C) int8, pass bits (G,) uint32, counts (G,) int64): the distinct
    (levels, proposing passes) rows of a partition and how often each occurs. Partitions'
    tables are merged by adding counts of equal rows (:func:`merge_pattern_counts`)."""
    if len(levels) == 0:
        return (np.zeros((0, levels.shape[1]), dtype=np.int8), np.zeros(0, dtype=np.uint32),
                np.zeros(0, dtype=np.int64))
    width = levels.shape[1]
    # one int64 per row (levels in 4 bits each above the 32 pass bits) when it fits: a sort of
    # integers, ~50x faster than np.unique(axis=0) on millions of rows
    if width <= 7 and len(levels) and int(levels.max(initial=-1)) < 15 and int(levels.min(initial=-1)) >= -1:
        key = np.zeros(len(levels), dtype=np.int64)
        for j in range(width):
            key = (key << 4) | (levels[:, j].astype(np.int64) + 1)
        key = (key << 32) | proposed_by.astype(np.uint32).astype(np.int64)
        values, counts = np.unique(key, return_counts=True)
        patterns = np.empty((len(values), width), dtype=np.int8)
        rest = values >> 32
        for j in range(width - 1, -1, -1):
            patterns[:, j] = (rest & 15) - 1
            rest = rest >> 4
        return patterns, (values & 0xFFFFFFFF).astype(np.uint32), counts.astype(np.int64)
    rows = np.concatenate([levels.astype(np.int8), proposed_by.astype(np.uint32).view(np.int8).reshape(-1, 4)],
                          axis=1)
    distinct, counts = np.unique(rows, axis=0, return_counts=True)
    return (np.ascontiguousarray(distinct[:, :levels.shape[1]]),
            np.ascontiguousarray(distinct[:, levels.shape[1]:]).view(np.uint32).ravel(), counts.astype(np.int64))


def merge_pattern_counts(patterns: np.ndarray, bits: np.ndarray, counts: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add up the counts of equal (pattern, bits) rows."""
    if len(patterns) == 0:
        return patterns, bits, counts
    rows = np.concatenate([patterns.astype(np.int8), bits.astype(np.uint32).view(np.int8).reshape(-1, 4)], axis=1)
    distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
    total = np.zeros(len(distinct), dtype=np.int64)
    np.add.at(total, inverse.ravel(), counts.astype(np.int64))
    width = patterns.shape[1]
    return (np.ascontiguousarray(distinct[:, :width]),
            np.ascontiguousarray(distinct[:, width:]).view(np.uint32).ravel(), total)


def _ordered_counts(patterns: np.ndarray, counts: np.ndarray, columns: list[int],
                    comparisons: list[Comparison]) -> tuple[np.ndarray, np.ndarray]:
    """The (patterns, counts) ``pattern_counts`` would return for the pairs behind these rows,
    projected on ``columns``: same patterns, same order, same integer counts."""
    projected = np.ascontiguousarray(patterns[:, columns])
    distinct, inverse = np.unique(projected, axis=0, return_inverse=True)
    total = np.zeros(len(distinct), dtype=np.int64)
    np.add.at(total, inverse.ravel(), counts.astype(np.int64))
    canonical, _ = pattern_counts(distinct, comparisons)  # its order (lexicographic either way), by construction
    if not np.array_equal(canonical, distinct):
        position = {row.tobytes(): k for k, row in enumerate(distinct)}
        total = total[[position[row.tobytes()] for row in canonical]]
    return canonical, total


def fit_from_pattern_counts(model: FellegiSunter, patterns: np.ndarray, bits: np.ndarray, counts: np.ndarray,
                            total_pairs: int, sessions: list[tuple[str, int, set[int]]],
                            max_matches: int | None = None) -> FellegiSunter:
    """``model.fit(levels, total_pairs, sessions, max_matches)`` from the merged pattern table.

    ``sessions``: (name, blocking pass index, comparisons left out), as
    :meth:`linkage.plan.LinkPlan.training_plan` returns them; a session's pairs are those whose pass
    bit is set. u must be fitted first.
    """
    if not model.u_:
        raise ValueError("fit_u must be called before fit")
    everything = list(range(len(model.comparisons)))
    n = int(counts.sum())
    max_matches = n if max_matches is None else max_matches
    estimates: list[list[tuple[np.ndarray, float]]] = [[] for _ in model.comparisons]
    model.sessions_ = []
    for name, index, excluded in sessions:
        included = [j for j in everything if j not in excluded]
        mask = (bits >> np.uint32(index)) & np.uint32(1) == 1
        pairs = int(counts[mask].sum())
        if not included or pairs == 0:
            continue
        session_patterns, session_counts = _ordered_counts(patterns[mask], counts[mask], included,
                                                           [model.comparisons[j] for j in included])
        model.fit_session(name, session_patterns, session_counts, included, excluded, max_matches, estimates)
    all_patterns, all_counts = _ordered_counts(patterns, counts, everything, model.comparisons)
    return model.finish_fit(estimates, all_patterns, all_counts, total_pairs)
