"""Compiled hot loops of the linkage unit (numba): popcount Dice, token-list intersections,
greedy one-to-one assignment, block expansion. Each works on plain numpy arrays and runs
in parallel over pairs where pairs are independent.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def popcount64(x):
    # LLVM turns this into the ctpop instruction on CPUs that have POPCNT
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True, parallel=True)
def popcounts(filters):
    """Bits set in each filter ((n, words) uint64)."""
    n, words = filters.shape
    out = np.zeros(n, dtype=np.int32)
    for i in prange(n):
        total = 0
        for w in range(words):
            total += popcount64(filters[i, w])
        out[i] = total
    return out


@njit(cache=True, parallel=True)
def dice_pairs(left, right, left_ones, right_ones, li, ri):
    """Dice coefficient of the filters of each pair (li[k], ri[k]); -1 when either is empty."""
    n = len(li)
    words = left.shape[1]
    out = np.empty(n, dtype=np.float32)
    for k in prange(n):
        a = li[k]
        b = ri[k]
        total = left_ones[a] + right_ones[b]
        if left_ones[a] == 0 or right_ones[b] == 0:
            out[k] = -1.0
            continue
        common = 0
        for w in range(words):
            common += popcount64(left[a, w] & right[b, w])
        out[k] = 2.0 * common / total
    return out


@njit(cache=True, parallel=True)
def shared_tokens(left_offsets, left_values, right_offsets, right_values, li, ri):
    """Number of distinct tokens of each pair's left list found in its right list.

    Lists are short (a patient's stays), so a nested loop beats sorting them.
    """
    n = len(li)
    out = np.zeros(n, dtype=np.int32)
    for k in prange(n):
        a0, a1 = left_offsets[li[k]], left_offsets[li[k] + 1]
        b0, b1 = right_offsets[ri[k]], right_offsets[ri[k] + 1]
        count = 0
        for i in range(a0, a1):
            x = left_values[i]
            repeated = False
            for j in range(a0, i):
                if left_values[j] == x:
                    repeated = True
                    break
            if repeated:
                continue
            for j in range(b0, b1):
                if right_values[j] == x:
                    count += 1
                    break
        out[k] = count
    return out


@njit(cache=True, parallel=True)
def token_in_list(offsets, values, rows, tokens):
    """Whether tokens[k] (0 = missing, never found) is in the list of row rows[k]."""
    n = len(rows)
    out = np.zeros(n, dtype=np.bool_)
    for k in prange(n):
        t = tokens[k]
        if t == 0:
            continue
        for j in range(offsets[rows[k]], offsets[rows[k] + 1]):
            if values[j] == t:
                out[k] = True
                break
    return out


@njit(cache=True)
def greedy_one_to_one(order, li, ri, n_left, n_right):
    """Accept pairs in the given order (best first) unless either record is already taken."""
    used_left = np.zeros(n_left, dtype=np.bool_)
    used_right = np.zeros(n_right, dtype=np.bool_)
    accepted = np.zeros(len(order), dtype=np.bool_)
    for k in order:
        a = li[k]
        b = ri[k]
        if not used_left[a] and not used_right[b]:
            used_left[a] = True
            used_right[b] = True
            accepted[k] = True
    return accepted


@njit(cache=True)
def expand_blocks(left_start, left_count, right_start, right_count, left_rows, right_rows, total):
    """All pairs of each block: block b pairs left_rows[left_start[b]: +left_count[b]] with right likewise."""
    li = np.empty(total, dtype=np.int32)
    ri = np.empty(total, dtype=np.int32)
    k = 0
    for b in range(len(left_start)):
        for i in range(left_count[b]):
            a = left_rows[left_start[b] + i]
            for j in range(right_count[b]):
                li[k] = a
                ri[k] = right_rows[right_start[b] + j]
                k += 1
    return li, ri
