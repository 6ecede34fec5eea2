"""Blocking at the linkage unit: which pairs of records are compared at all.

Each pass of the spec proposes pairs that share something:

- ``keys``: equality of one or more encoded token columns (all present);
- ``events``: at least one shared care-event token (exact, or a tolerance token, or, where
  the files hold them, a wide-tolerance or establishment-group token);
- ``lsh``: the same bits at ``rows`` keyed-random positions of a Bloom filter, in any of
  ``bands`` bands (Hamming LSH: similar filters collide in some band), optionally only
  among records with equal ``keys``.

Candidates are integer index arrays (left row, right row), deduplicated across passes.
A block (a key value) whose pairs exceed ``max_block_size`` left x right records is
skipped, and the number of pairs skipped is reported: a guard against keys that are too
common (a missing value written as a placeholder, a huge commune).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from linkage import encoded_columns as columns_of
from linkage.encoded_arrays import EncodedRecords
from linkage.kernels import expand_blocks
from linkage.spec import BlockingPass, EventsPass, KeysPass

LEFT, RIGHT = "left", "right"
_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class PassReport:
    name: str
    pairs: int = 0
    blocks: int = 0
    skipped_blocks: int = 0
    skipped_pairs: int = 0


@dataclass
class Candidates:
    left: np.ndarray   # int32 row indices
    right: np.ndarray  # int32
    passes: list[PassReport] = field(default_factory=list)
    proposed_by: np.ndarray | None = None  # uint32 bit mask per pair: which passes proposed it

    def __len__(self) -> int:
        return len(self.left)

    def pass_mask(self, index: int) -> np.ndarray:
        return (self.proposed_by >> np.uint32(index)) & np.uint32(1) == 1


def _combine(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One uint64 key per row from several token columns; and whether all were present."""
    present = np.ones(len(columns[0]), dtype=bool)
    key = np.zeros(len(columns[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            present &= column != 0
            key = key * _MIX + column.view(np.uint64)
    return key, present


def join_on_keys(left_key: np.ndarray, left_rows: np.ndarray, right_key: np.ndarray, right_rows: np.ndarray,
                 report: PassReport, max_block_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """All (left, right) row pairs with equal keys, block by block, guarding oversized blocks."""
    lo = np.argsort(left_key, kind="stable")
    ro = np.argsort(right_key, kind="stable")
    lk, lr = left_key[lo], left_rows[lo]
    rk, rr = right_key[ro], right_rows[ro]
    values, l_start, l_count = np.unique(lk, return_index=True, return_counts=True)
    r_start = np.searchsorted(rk, values, side="left")
    r_count = np.searchsorted(rk, values, side="right") - r_start
    sizes = l_count.astype(np.int64) * r_count
    shared = r_count > 0
    too_big = sizes > max_block_pairs
    keep = shared & ~too_big
    report.blocks += int(keep.sum())
    report.skipped_blocks += int((shared & too_big).sum())
    report.skipped_pairs += int(sizes[shared & too_big].sum())
    total = int(sizes[keep].sum())
    li, ri = expand_blocks(l_start[keep].astype(np.int64), l_count[keep].astype(np.int64),
                           r_start[keep].astype(np.int64), r_count[keep].astype(np.int64),
                           lr.astype(np.int32), rr.astype(np.int32), total)
    report.pairs += total
    return li, ri


def _exploded(records: EncodedRecords, column: str) -> tuple[np.ndarray, np.ndarray]:
    lists = records.lists[column]
    rows = np.repeat(np.arange(len(records), dtype=np.int32), lists.lengths())
    return lists.values.view(np.uint64), rows


@lru_cache(maxsize=64)  # engines ask once per slice of records
def _lsh_positions(bits: int, bands: int, rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(bits, size=rows, replace=False) for _ in range(bands)])


def _pack_rows(bits: np.ndarray) -> np.ndarray:
    weights = (np.uint64(1) << np.arange(bits.shape[1], dtype=np.uint64))
    return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def join_keys(spec_pass: BlockingPass, index: int, records: EncodedRecords, side: str, *, seed: int,
              left_lists: set[str], right_lists: set[str]) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(join index, uint64 keys, int32 rows into ``records``) of every equi-join the pass runs,
    on ``side`` (:data:`LEFT` or :data:`RIGHT`); the pass's joins pair up by join index.

    ``left_lists``/``right_lists`` are the token-list columns each whole file holds (they
    decide which tolerance join an events pass runs); ``index`` is the pass's position in
    the spec (it seeds the LSH bands). Engines that see a slice of records at a time call
    this per slice: keys depend on the record only.
    """
    if isinstance(spec_pass, EventsPass):
        joins = columns_of.event_blocking_joins(spec_pass.events, left_lists, right_lists)
        return [(j, *_exploded(records, columns[0] if side == LEFT else columns[1])) for j, columns in enumerate(joins)]
    key, present = _combine([records.tokens[c] for c in spec_pass.keys]) if spec_pass.keys else (None, None)
    if isinstance(spec_pass, KeysPass):
        rows = np.flatnonzero(present).astype(np.int32)
        return [(0, key[rows], rows)]
    filters, ones = records.filters[spec_pass.lsh]
    positions = _lsh_positions(filters.shape[1] * 64, spec_pass.bands, spec_pass.rows, seed + index)
    present = ones > 0 if present is None else (ones > 0) & present  # LSH within equal keys, if any
    rows = np.flatnonzero(present).astype(np.int32)
    chosen = filters[rows]
    return [(band, _with_key(_pack_rows(_bits_at(chosen, band_positions)), key, rows), rows)
            for band, band_positions in enumerate(positions)]


def blocking_steps(spec_blocking: tuple[BlockingPass, ...], left: EncodedRecords, right: EncodedRecords) -> int:
    """How many steps :func:`block` reports through ``on_step``: each pass's equi-joins (one for keys,
    one per band for LSH, one per tolerance join for events), each pass's deduplication, and the final
    merge. At 193,000 x 3,000,000 the first pass (events) alone runs five joins of ~8 s and a 15 s
    deduplication: counted in passes, it had no ETA for most of a minute."""
    lists = (set(left.lists), set(right.lists))

    def joins(p: BlockingPass) -> int:
        if isinstance(p, EventsPass):
            return len(columns_of.event_blocking_joins(p.events, *lists))
        return 1 if isinstance(p, KeysPass) else p.bands

    return sum(joins(p) + 1 for p in spec_blocking) + 1


def block(spec_blocking: tuple[BlockingPass, ...], left: EncodedRecords, right: EncodedRecords, *, seed: int = 0,
          on_step: Callable[[], None] | None = None) -> Candidates:
    """Run every blocking pass of the spec; return the deduplicated candidate pairs. ``on_step`` is called
    after each join, each pass's deduplication and the final merge (:func:`blocking_steps` of them), so a
    progress line has an ETA within a pass."""
    if len(spec_blocking) > 32:
        raise ValueError("at most 32 blocking passes")
    step = on_step if on_step is not None else (lambda: None)
    lists = {"left_lists": set(left.lists), "right_lists": set(right.lists)}
    reports, per_pass = [], []
    for index, p in enumerate(spec_blocking):
        report = PassReport(p.name)
        lefts, rights = [], []
        right_joins = join_keys(p, index, right, RIGHT, seed=seed, **lists)
        for (_, lk, lrows), (_, rk, rrows) in zip(join_keys(p, index, left, LEFT, seed=seed, **lists), right_joins):
            li, ri = join_on_keys(lk, lrows, rk, rrows, report, p.max_block_size)
            lefts.append(li)
            rights.append(ri)
            step()
        reports.append(report)
        per_pass.append(_pair_keys(lefts, rights))
        del lefts, rights
        step()
    key = np.unique(np.concatenate(per_pass)) if per_pass else np.zeros(0, dtype=np.int64)
    proposed_by = np.zeros(len(key), dtype=np.uint32)
    for index, keys in enumerate(per_pass):
        proposed_by[np.searchsorted(key, keys)] |= np.uint32(1 << index)
    step()
    return Candidates((key >> 32).astype(np.int32), (key & 0xFFFFFFFF).astype(np.int32), reports, proposed_by)


def _with_key(band_key: np.ndarray, key: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    if key is None:
        return band_key
    with np.errstate(over="ignore"):
        return band_key * _MIX + key[rows]


def _pair_keys(lefts: list[np.ndarray], rights: list[np.ndarray]) -> np.ndarray:
    if not lefts:
        return np.zeros(0, dtype=np.int64)
    return np.unique((np.concatenate(lefts).astype(np.int64) << 32) | np.concatenate(rights).astype(np.int64))


def _bits_at(filters: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(n, len(positions)) 0/1 array of the filters' bits at the given positions (MSB-first bytes)."""
    as_bytes = filters.view(np.uint8)
    chosen = as_bytes[:, positions // 8]
    return (chosen >> (7 - (positions % 8)).astype(np.uint8)) & 1
