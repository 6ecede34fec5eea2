"""Scoring candidate pairs with a fitted model: level weights plus term-frequency adjustments.

Both engines call :func:`score_partition` on their own partitions of pairs, with the
right file's term frequencies computed once (:func:`term_frequencies`, or the Spark
engine's cluster count of the same figures).
"""

from __future__ import annotations

import numpy as np

from linkage.encoded_arrays import EncodedRecords
from linkage.kernels import dice_pairs
from linkage.model import FellegiSunter


# random odd multipliers of a filter's 64-bit words: equal filters get equal hashes, and two
# different filters collide with probability ~2^-64 (fixed, so both engines and every run agree)
_FILTER_MIX = np.random.default_rng(0x5EED).integers(1, 2**63, size=64, dtype=np.uint64) | np.uint64(1)


def filter_hashes(words: np.ndarray) -> np.ndarray:
    """A uint64 per Bloom filter (rows of 64-bit words); equal filters, equal hashes. Identical
    filters are identical normalised values, so their count is the value's frequency."""
    with np.errstate(over="ignore"):
        return (words * _FILTER_MIX[:words.shape[1]]).sum(axis=1, dtype=np.uint64)


def identity_signatures(records: EncodedRecords, rows: np.ndarray) -> np.ndarray:
    """A uint64 per record of ``rows`` over all its token columns and Bloom filters (care-event lists
    aside): records whose identity encodings are all identical get the same signature, which is
    how one person's second SNDS id looks (its stays are split from the first id's)."""
    signature = np.zeros(len(rows), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in sorted(records.tokens):
            signature = signature * _FILTER_MIX[0] + records.tokens[name][rows].view(np.uint64)
        for name in sorted(records.filters):
            signature = signature * _FILTER_MIX[1] + filter_hashes(records.filters[name][0][rows])
    return signature


def filter_value_counts(records: EncodedRecords, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, int]:
    """(distinct filter hashes, records carrying each in any of ``columns``, records with any filter)."""
    hashes, present = [], np.zeros(len(records), dtype=bool)
    for column in columns:
        words, ones = records.filters[column]
        has = ones > 0
        present |= has
        hashes.append(np.stack([np.flatnonzero(has).astype(np.uint64), filter_hashes(words[has])], axis=1))
    pairs = np.unique(np.concatenate(hashes), axis=0)  # a value in two columns of one record counts once
    values, counts = np.unique(pairs[:, 1], return_counts=True)
    return values, counts.astype(np.int64), int(present.sum())


def filter_frequency_table(values: np.ndarray, counts: np.ndarray, present: int) -> tuple[np.ndarray, np.ndarray]:
    """The values held by two records or more, with their share of the records holding a filter;
    a value held by one record takes the floor share (1 / records) when looked up."""
    common = counts >= 2
    order = np.argsort(values[common], kind="stable")
    return values[common][order], counts[common][order] / max(present, 1)


def term_frequencies(model: FellegiSunter, right: EncodedRecords) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each term-frequency comparison: the right file's distinct values (tokens, or Bloom-filter
    hashes) and their shares."""
    tables = {}
    for j, c in enumerate(model.comparisons):
        if c.term_frequency and c.kind == "token":
            tokens = right.tokens[c.columns[0]]
            values, counts = np.unique(tokens[tokens != 0], return_counts=True)
            tables[j] = (values, counts / max(counts.sum(), 1))
        elif c.term_frequency and c.kind == "dice":
            tables[j] = filter_frequency_table(*filter_value_counts(right, c.columns))
    return tables


def _shares(table: tuple[np.ndarray, np.ndarray], keys: np.ndarray) -> np.ndarray:
    values, shares = table
    if not len(values):
        return np.zeros(len(keys))
    position = np.minimum(np.searchsorted(values, keys), len(values) - 1)
    return np.where(values[position] == keys, shares[position], 0.0)


def _dice_value_shares(c, table, left: EncodedRecords, right: EncodedRecords, li: np.ndarray,
                       ri: np.ndarray) -> np.ndarray:
    """For pairs at a Dice comparison's top level: the share of the rarest value they agree on.

    A value's share is the larger of the two filters' (a near-identical pair agreeing on a
    rare typo of a common name counts as common); over the (left, right) column pairs that
    reach the top level (birth name with birth name, or with a married name), the rarest.
    """
    best = np.full(len(li), np.inf)
    right_shares = {rcol: _shares(table, filter_hashes(right.filters[rcol][0][ri])) for rcol in c.columns}
    for lcol in c.columns:
        lwords, lones = left.filters[lcol]
        left_share = _shares(table, filter_hashes(lwords[li]))
        for rcol in c.columns:
            rwords, rones = right.filters[rcol]
            agree = dice_pairs(lwords, rwords, lones, rones, li, ri) >= c.thresholds[0]
            best = np.where(agree, np.minimum(best, np.maximum(left_share, right_shares[rcol])), best)
    return np.where(np.isfinite(best), best, 0.0)


def term_frequency_adjustment(model: FellegiSunter, frequencies: dict, left: EncodedRecords, right: EncodedRecords,
                              n_right: int, li: np.ndarray, ri: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Extra weight for agreeing on a rare value, less for a common one (top level only, as Splink
    does): log2(u / f) where f is the value's share among the right file's records, at least
    1 / n_right (a value seen once, or not at all)."""
    adjustment = np.zeros(len(li))
    for j, table in frequencies.items():
        c = model.comparisons[j]
        agree = levels[:, j] == 0
        if not agree.any() or (c.kind == "token" and not len(table[0])):
            continue
        if c.kind == "dice":
            share = _dice_value_shares(c, table, left, right, li[agree], ri[agree])
        else:  # agreeing tokens are equal: the left one says it
            share = _shares(table, left.tokens[c.columns[0]][li[agree]])
        adjustment[agree] = np.log2(model.u_[j][0] / np.maximum(share, 1.0 / max(n_right, 1)))
    return adjustment


def score_partition(model: FellegiSunter, frequencies: dict, left: EncodedRecords, right: EncodedRecords,
                    n_right: int, li: np.ndarray, ri: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Match weights of the pairs (li[k], ri[k]) at ``levels``."""
    return model.match_weight(levels) + term_frequency_adjustment(model, frequencies, left, right, n_right, li, ri,
                                                                  levels)
