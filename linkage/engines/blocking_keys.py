"""The join keys of each blocking pass, one side and one slice of records at a time, and
blocking as a broadcast hash join over them.

:func:`linkage.blocking.block` runs each pass as one or more equi-joins of (key, row)
arrays (``join_on_keys``). A distributed engine runs the same joins, so it needs the same
keys, computed where the records are: :func:`join_keys` gives, for a slice of one side's
records, every (pass, join, key, row) the local engine feeds to ``join_on_keys``, from the
same function (:func:`linkage.blocking.join_keys`).
Keys are uint64 as locally; engines that only have signed 64-bit integers view them as
int64, which keeps equality.

A distributed engine then runs each pass as a *broadcast hash join*: the left side (the
cohort, the small one) becomes a :class:`KeyIndex`; each slice of right records counts
its keys that the left side also has (:func:`shared_key_counts`), the counts are added up
across slices, :func:`guard` drops the blocks ``join_on_keys`` would skip and reports the
same figures, and every slice probes the guarded index (:func:`probe`) for its pairs.
The pairs never leave the slice that made them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from linkage.blocking import LEFT, RIGHT, PassReport
from linkage.blocking import join_keys as pass_join_keys
from linkage.encoded_arrays import EncodedRecords
from linkage.spec import BlockingPass

__all__ = ["LEFT", "RIGHT", "KeyIndex", "join_keys", "shared_key_counts", "guard", "probe", "dedup_pairs"]


def join_keys(spec_blocking: tuple[BlockingPass, ...], records: EncodedRecords, side: str, *, seed: int,
              left_lists: set[str], right_lists: set[str]) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """(pass index, join index, uint64 keys, int32 rows into ``records``) for every join of
    every pass, on ``side`` (:func:`linkage.blocking.join_keys`, pass by pass)."""
    return [(index, join, keys, rows) for index, p in enumerate(spec_blocking)
            for join, keys, rows in pass_join_keys(p, index, records, side, seed=seed, left_lists=left_lists,
                                                   right_lists=right_lists)]


def dedup_pairs(right_rows: np.ndarray, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs from one right record's proposals: ``packed`` = left row * 32 + pass
    index, one per (join hit); returns (left rows, right rows, pass bit masks) with one entry
    per distinct pair, sorted by (right row, left row)."""
    if len(packed) == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.uint32)
    pair = (right_rows.astype(np.int64) << 32) | (packed >> 5)
    bit = (np.uint32(1) << (packed & 31).astype(np.uint32)).astype(np.uint32)
    order = np.argsort(pair, kind="stable")
    pair, bit = pair[order], bit[order]
    starts = np.flatnonzero(np.concatenate([[True], pair[1:] != pair[:-1]]))
    bits = np.bitwise_or.reduceat(bit, starts)
    unique = pair[starts]
    return (unique & 0xFFFFFFFF).astype(np.int32), (unique >> 32).astype(np.int32), bits.astype(np.uint32)


# --- blocking as a broadcast hash join: the left side's keys are an index every slice of
# --- right records is probed against, after a guard computed from both sides' key counts

@dataclass
class KeyIndex:
    """One side's join keys per (pass, join), sorted, with the row of each key."""

    keys: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # uint64, sorted
    rows: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # int32, aligned with keys

    @classmethod
    def build(cls, parts: list[tuple[int, int, np.ndarray, np.ndarray]]) -> "KeyIndex":
        index = cls()
        for p, j, keys, rows in parts:
            order = np.argsort(keys, kind="stable")
            index.keys[(p, j)], index.rows[(p, j)] = keys[order], rows[order].astype(np.int32)
        return index

    def distinct(self) -> dict[tuple[int, int], np.ndarray]:
        return {pj: np.unique(keys) for pj, keys in self.keys.items()}

    @property
    def nbytes(self) -> int:
        return sum(k.nbytes + r.nbytes for k, r in zip(self.keys.values(), self.rows.values()))


def shared_key_counts(parts: list[tuple[int, int, np.ndarray, np.ndarray]],
                      left_distinct: dict[tuple[int, int], np.ndarray]
                      ) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """For a slice of right records: (pass, join, key, how many times) for the keys the left side has too
    (the only ones a block can form on); slices' counts add up."""
    out = []
    for p, j, keys, _ in parts:
        known = left_distinct.get((p, j))
        if known is None or not len(known) or not len(keys):
            continue
        position = np.minimum(np.searchsorted(known, keys), len(known) - 1)
        values, counts = np.unique(keys[known[position] == keys], return_counts=True)
        if len(values):
            out.append((p, j, values, counts.astype(np.int64)))
    return out


def guard(spec_blocking: tuple[BlockingPass, ...], left: KeyIndex,
          right_counts: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]) -> tuple[KeyIndex, list[PassReport]]:
    """``join_on_keys``'s guard from key counts: the left index reduced to the blocks that are
    shared and within the pass's ``max_block_size``, and the pass reports the local engine
    writes (blocks, pairs, skipped blocks and pairs)."""
    reports = [PassReport(p.name) for p in spec_blocking]
    kept = KeyIndex()
    for (p, j), keys in left.keys.items():
        report = reports[p]
        values, l_start, l_count = np.unique(keys, return_index=True, return_counts=True)
        r_values, r_counts = right_counts.get((p, j), (np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)))
        if len(r_values):
            position = np.minimum(np.searchsorted(r_values, values), len(r_values) - 1)
            r_count = np.where(r_values[position] == values, r_counts[position], 0)
        else:
            r_count = np.zeros(len(values), dtype=np.int64)
        sizes = l_count.astype(np.int64) * r_count
        shared = r_count > 0
        too_big = sizes > spec_blocking[p].max_block_size
        keep = shared & ~too_big
        report.blocks += int(keep.sum())
        report.skipped_blocks += int((shared & too_big).sum())
        report.skipped_pairs += int(sizes[shared & too_big].sum())
        report.pairs += int(sizes[keep].sum())
        mask = np.repeat(keep, l_count)  # keys are sorted, so each value's keys are contiguous
        kept.keys[(p, j)], kept.rows[(p, j)] = keys[mask], left.rows[(p, j)][mask]
    return kept, reports


def probe(index: KeyIndex, parts: list[tuple[int, int, np.ndarray, np.ndarray]]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs of a slice of right records against the (guarded) left index:
    (left rows, right rows into the slice, pass bit masks), one entry per distinct pair."""
    rights, packed = [], []
    for p, j, keys, rows in parts:
        left_keys = index.keys.get((p, j))
        if left_keys is None or not len(left_keys) or not len(keys):
            continue
        start = np.searchsorted(left_keys, keys, side="left")
        count = np.searchsorted(left_keys, keys, side="right") - start
        total = int(count.sum())
        if not total:
            continue
        # position k of the expansion takes left key start[i] + (k - first k of i)
        first = np.repeat(np.cumsum(count) - count, count)
        left_positions = np.repeat(start, count) + (np.arange(total) - first)
        rights.append(np.repeat(rows, count).astype(np.int32))
        packed.append(index.rows[(p, j)][left_positions].astype(np.int64) * 32 + p)
    if not rights:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.uint32)
    return dedup_pairs(np.concatenate(rights), np.concatenate(packed))
