"""Scoring candidate pairs with a fitted model: level weights plus term-frequency adjustments.

Both engines call :func:`score_partition` on their own partitions of pairs, with the
right file's term frequencies computed once (:func:`term_frequencies`, or the Spark
engine's cluster count of the same figures).
"""

from __future__ import annotations

import numpy as np

from linkage.encoded_arrays import EncodedRecords
from linkage.model import FellegiSunter


def term_frequencies(model: FellegiSunter, right: EncodedRecords) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each term-frequency comparison: the right file's distinct tokens and their shares."""
    tables = {}
    for j, c in enumerate(model.comparisons):
        if c.term_frequency and c.kind == "token":
            tokens = right.tokens[c.columns[0]]
            values, counts = np.unique(tokens[tokens != 0], return_counts=True)
            tables[j] = (values, counts / max(counts.sum(), 1))
    return tables


def term_frequency_adjustment(model: FellegiSunter, frequencies: dict, left: EncodedRecords, n_right: int,
                              li: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Extra weight for agreeing on a rare value, less for a common one (agreement level only):
    log2(u / f) where f is the value's share among the right file's records."""
    adjustment = np.zeros(len(li))
    for j, (values, shares) in frequencies.items():
        agree = levels[:, j] == 0
        if not agree.any() or not len(values):
            continue
        tokens = left.tokens[model.comparisons[j].columns[0]][li[agree]]
        position = np.minimum(np.searchsorted(values, tokens), len(values) - 1)
        share = np.where(values[position] == tokens, shares[position], 0.0)  # agreeing tokens are always found
        adjustment[agree] = np.log2(model.u_[j][0] / np.maximum(share, 1.0 / max(n_right, 1)))
    return adjustment


def score_partition(model: FellegiSunter, frequencies: dict, left: EncodedRecords, n_right: int, li: np.ndarray,
                    levels: np.ndarray) -> np.ndarray:
    return model.match_weight(levels) + term_frequency_adjustment(model, frequencies, left, n_right, li, levels)
