"""The stepwise deterministic indirect linkage used for SNDS today, on encoded tokens.

As published for SNDS linkages without a NIR: an exact join on all criteria (sex, birth
year and month, residence, establishment + stay date), keeping only pairs that are unique
on both sides; then the same with one criterion dropped at a time, among the records not
yet linked; and so on. Here it runs on the same keyed tokens Harmonie's linkage unit
receives (equality of tokens is equality of values), so the comparison is like for like.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from linkage.blocking import PassReport, _combine, join_on_keys
from linkage.encoded_arrays import EncodedRecords

CRITERIA = ("sex", "birth_date__ym", "commune", "stays")


def _keyed(records: EncodedRecords, criteria: tuple[str, ...], available: np.ndarray):
    """(key, row) per record, or per (record, stay) when a stay is among the criteria."""
    plain = [c for c in criteria if c != "stays"]
    rows = np.flatnonzero(available).astype(np.int32)
    if plain:
        key, present = _combine([records.tokens[c][rows] for c in plain])
        rows, key = rows[present], key[present]
    else:
        key = np.zeros(len(rows), dtype=np.uint64)
    if "stays" not in criteria:
        return key, rows
    lists = records.lists["stays"]
    counts = lists.lengths()[rows]
    starts = lists.offsets[rows]
    flat = np.repeat(starts, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    stay_rows = np.repeat(rows, counts)
    parts = ([np.repeat(key, counts).view(np.int64)] if plain else []) + [lists.values[flat]]
    stay_key, _ = _combine(parts)
    return stay_key, stay_rows


def stepwise_link(left: EncodedRecords, right: EncodedRecords, criteria: tuple[str, ...] = CRITERIA,
                  min_criteria: int = 3) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Links (left rows, right rows) and what each step added."""
    free_left = np.ones(len(left), dtype=bool)
    free_right = np.ones(len(right), dtype=bool)
    out_left, out_right, steps = [], [], []
    for size in range(len(criteria), min_criteria - 1, -1):
        for subset in combinations(criteria, size):
            lk, lr = _keyed(left, subset, free_left)
            rk, rr = _keyed(right, subset, free_right)
            li, ri = join_on_keys(lk, lr, rk, rr, PassReport("step"), max_block_pairs=10**7)
            pairs = np.unique((li.astype(np.int64) << 32) | ri.astype(np.int64))
            li, ri = (pairs >> 32).astype(np.int32), (pairs & 0xFFFFFFFF).astype(np.int32)
            unique = (np.bincount(li, minlength=len(left))[li] == 1) & (np.bincount(ri, minlength=len(right))[ri] == 1)
            li, ri = li[unique], ri[unique]
            free_left[li] = False
            free_right[ri] = False
            out_left.append(li)
            out_right.append(ri)
            steps.append({"criteria": list(subset), "links": int(len(li))})
    return np.concatenate(out_left), np.concatenate(out_right), steps
