"""Yearly refresh of one pair: link this year's files against last year's run, scoring only what changed.

A pair's run leaves a **refresh state** beside its outputs: ``records.parquet`` (per side and
linkage id, a 64-bit digest of the record's encoded row) and ``scored_pairs.parquet`` (every
scored pair likely enough to be assigned: pair probability >= ``ASSIGNMENT_FLOOR``, the only
pairs the decision ever considers). Next year, with the same spec, key and project:

1. each record of the new files is *unchanged* (same linkage id, same digest) or *changed*
   (new, or any encoded value differs: a new stay, a death, a move, a corrected identity);
2. blocking joins only changed x all and unchanged x changed records; oversized blocks are
   judged on the whole files, so the candidates are exactly the full relink's candidates that
   involve a changed record;
3. those are scored with last year's model (no EM: weights stay comparable) and this year's
   term frequencies; last year's scored pairs of two unchanged records keep their weights;
4. the decision (per-record probabilities, one-to-one, threshold, grey zone) runs on the union,
   as a full relink with the saved model would.

What is never recomputed is what cannot have changed: the comparisons of two records whose
encodings are identical. (Term frequencies can drift a little between years; a pair of two
unchanged records keeps last year's adjustment.)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harmonie.io import write_parquet
from harmonie.progress import stage
from linkage.blocking import LEFT, RIGHT, Candidates, PassReport, join_keys, join_on_keys
from linkage.decide import ASSIGNMENT_FLOOR
from linkage.encoded_arrays import EncodedRecords
from linkage.model import FellegiSunter
from linkage.multisource.ids import as_ids
from linkage.scoring import filter_hashes

RECORDS_STATE = "records.parquet"
PAIRS_STATE = "scored_pairs.parquet"
_MIX = np.random.default_rng(0xD16E57).integers(1, 2**63, size=4, dtype=np.uint64) | np.uint64(1)


def _splitmix(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def record_digests(records: EncodedRecords) -> np.ndarray:
    """A uint64 per record over every encoded column (tokens, Bloom filters, token lists): equal
    encodings, equal digests; any changed value (a new stay token) changes it with probability
    1 - 2^-64."""
    digest = np.zeros(len(records), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in sorted(records.tokens):
            digest = digest * _MIX[0] + _splitmix(records.tokens[name].view(np.uint64))
        for name in sorted(records.filters):
            digest = digest * _MIX[1] + filter_hashes(records.filters[name][0])
        for name in sorted(records.lists):
            lists = records.lists[name]
            lengths = lists.lengths()
            sums = np.zeros(len(records), dtype=np.uint64)
            filled = np.flatnonzero(lengths > 0)
            if len(filled):  # a list is a set of tokens: the sum of their mixes, whatever their order
                sums[filled] = np.add.reduceat(_splitmix(lists.values.view(np.uint64)), lists.offsets[filled])
            digest = digest * _MIX[2] + _splitmix(sums + lengths.astype(np.uint64))
    return digest


@dataclass
class PairState:
    """Last year's state of a pair: per side, (linkage ids, digests), and the scored pairs."""

    left_ids: np.ndarray
    left_digests: np.ndarray
    right_ids: np.ndarray
    right_digests: np.ndarray
    pairs: pa.Table              # left_id, right_id, match_weight

    @classmethod
    def load(cls, folder: Path) -> "PairState":
        records = pq.read_table(Path(folder) / RECORDS_STATE)
        sides = {}
        for side in ("left", "right"):
            mine = records.filter(pc.equal(records["side"], side))
            sides[side] = (as_ids(mine["linkage_id"]), mine["digest"].to_numpy().view(np.uint64))
        return cls(*sides["left"], *sides["right"], pq.read_table(Path(folder) / PAIRS_STATE))


def write_state(folder: Path, left: EncodedRecords, right: EncodedRecords, left_rows: np.ndarray,
                right_rows: np.ndarray, weights: np.ndarray) -> None:
    """Write a run's refresh state: both sides' digests and the scored pairs worth assigning."""
    keep = FellegiSunter.probability(weights) >= ASSIGNMENT_FLOOR
    parts = []
    for side, records in (("left", left), ("right", right)):
        parts.append(pa.table({"side": pa.array([side] * len(records), pa.string()), "linkage_id": records.ids,
                               "digest": pa.array(record_digests(records).view(np.int64), pa.int64())}))
    write_parquet(pa.concat_tables(parts), Path(folder) / RECORDS_STATE)
    write_parquet(pa.table({"left_id": left.ids.take(pa.array(left_rows[keep].astype(np.int64))),
                            "right_id": right.ids.take(pa.array(right_rows[keep].astype(np.int64))),
                            "match_weight": pa.array(weights[keep], pa.float64())}), Path(folder) / PAIRS_STATE)


def changed_rows(ids: pa.Array, digests: np.ndarray, previous_ids: np.ndarray, previous_digests: np.ndarray
                 ) -> np.ndarray:
    """Per record of this year's file: True when new or its digest differs from last year's."""
    current = as_ids(ids)
    order = np.argsort(previous_ids)
    known = previous_ids[order]
    at = np.minimum(np.searchsorted(known, current), max(len(known) - 1, 0))
    same = (known[at] == current) & (previous_digests[order][at] == digests) if len(known) else \
        np.zeros(len(current), dtype=bool)
    return ~same


def _without_oversized(lk, lrows, rk, rrows, report: PassReport, max_block: int):
    """Drop the keys whose whole-file block exceeds ``max_block`` pairs (what the full run skips), by
    position in the left keys' distinct values (no set membership test over millions of keys)."""
    values, inverse, l_count = np.unique(lk, return_inverse=True, return_counts=True)
    if not len(values):
        return lk, lrows, rk[:0], rrows[:0]
    at = np.minimum(np.searchsorted(values, rk), len(values) - 1)
    hit = values[at] == rk
    r_count = np.bincount(at[hit], minlength=len(values))
    big = l_count.astype(np.int64) * r_count > max_block
    report.skipped_blocks += int(big.sum())
    keep_l, keep_r = ~big[inverse], hit & ~big[at]  # a right key no left key has joins nothing either
    return lk[keep_l], lrows[keep_l], rk[keep_r], rrows[keep_r]


def block_changed(spec_blocking, left: EncodedRecords, right: EncodedRecords, left_changed: np.ndarray,
                  right_changed: np.ndarray, *, seed: int) -> Candidates:
    """The candidates a full blocking gives that have a changed record on either side (module docstring)."""
    lists = {"left_lists": set(left.lists), "right_lists": set(right.lists)}
    reports, keys = [], []
    unlimited = np.iinfo(np.int64).max
    for index, p in enumerate(spec_blocking):
        report = PassReport(p.name)
        right_joins = join_keys(p, index, right, RIGHT, seed=seed, **lists)
        for (_, lk, lrows), (_, rk, rrows) in zip(join_keys(p, index, left, LEFT, seed=seed, **lists), right_joins):
            lk, lrows, rk, rrows = _without_oversized(lk, lrows, rk, rrows, report, p.max_block_size)
            lc, rc = left_changed[lrows], right_changed[rrows]
            for (a, b, c, d) in ((lk[lc], lrows[lc], rk, rrows), (lk[~lc], lrows[~lc], rk[rc], rrows[rc])):
                if len(a) and len(c):
                    li, ri = join_on_keys(a, b, c, d, report, unlimited)
                    keys.append((li.astype(np.int64) << 32) | ri.astype(np.int64))
        reports.append(report)
    key = np.unique(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)
    return Candidates((key >> 32).astype(np.int32), (key & 0xFFFFFFFF).astype(np.int32), reports,
                      np.zeros(len(key), dtype=np.uint32))


@dataclass
class RefreshResult:
    """What :func:`linkage.link.write_link_outputs` writes, and the refresh's own figures."""

    links: pa.Table
    grey_zone: pa.Table
    model: FellegiSunter
    summary: dict
    candidates: Candidates
    weights: np.ndarray
    levels: np.ndarray
    left_ids: pa.Array
    right_ids: pa.Array
    left: EncodedRecords
    right: EncodedRecords


def _rows_of(ids: pa.Array, wanted: pa.ChunkedArray) -> np.ndarray:
    """Row of each wanted id in ``ids``, -1 when absent."""
    rows = pc.fill_null(pc.index_in(wanted, value_set=ids), -1)
    return rows.to_numpy() if isinstance(rows, pa.Array) else rows.combine_chunks().to_numpy()


def refresh_pair(spec, model: FellegiSunter, state: PairState, left_path: Path, right_path: Path, *,
                 threshold: float | None = None) -> RefreshResult:
    """This year's links of one pair from last year's state and model (module docstring)."""
    from linkage.compare import compare
    from linkage.encoding.encoded_file import check_same_encoding, read_encoded
    from linkage.link import _pairs_table
    from linkage.plan import LinkPlan
    from linkage.scoring import identity_signatures, score_partition, term_frequencies

    start = time.perf_counter()
    plan = LinkPlan(spec, threshold=threshold, model=model)
    with stage("load encoded files, find changed records"):
        left_file, right_file = read_encoded(left_path), read_encoded(right_path)
        plan.check_inputs(left_file.metadata, right_file.metadata)
        check_same_encoding(left_file.table, right_file.table)
        left, right = EncodedRecords.from_table(left_file.table), EncodedRecords.from_table(right_file.table)
        comparisons = plan.comparisons(set(left_file.table.column_names), set(right_file.table.column_names))
        left_changed = changed_rows(left.ids, record_digests(left), state.left_ids, state.left_digests)
        right_changed = changed_rows(right.ids, record_digests(right), state.right_ids, state.right_digests)
    with stage(f"blocking changed records ({int(left_changed.sum()):,} left, {int(right_changed.sum()):,} right)"):
        fresh = block_changed(spec.blocking, left, right, left_changed, right_changed, seed=spec.model.seed)
    with stage(f"compare and score {len(fresh):,} pairs with last year's model"):
        frequencies = term_frequencies(model, right)
        levels = compare(comparisons, left, right, fresh.left, fresh.right)
        weights = score_partition(model, frequencies, left, right, len(right), fresh.left, fresh.right, levels)
        del levels
    with stage("last year's pairs of unchanged records, decision"):
        old = state.pairs
        li, ri = _rows_of(left.ids, old["left_id"]), _rows_of(right.ids, old["right_id"])
        present = (li >= 0) & (ri >= 0)
        li, ri = np.where(present, li, 0), np.where(present, ri, 0)
        keep = present & ~left_changed[li] & ~right_changed[ri]
        key = np.concatenate([(li[keep].astype(np.int64) << 32) | ri[keep],
                              (fresh.left.astype(np.int64) << 32) | fresh.right])
        weight = np.concatenate([old["match_weight"].to_numpy()[keep], weights])
        order = np.argsort(key, kind="stable")
        key, weight = key[order], weight[order]
        union = Candidates((key >> 32).astype(np.int32), (key & 0xFFFFFFFF).astype(np.int32), fresh.passes)
        decision = plan.decide(model, union.left, union.right, weight, len(left), len(right),
                               identity_signatures(right, np.arange(len(right)))[union.right])
        summary = plan.summary(left_file.metadata, right_file.metadata, len(left), len(right), fresh.passes,
                               len(union))
        summary = plan.decided(summary, model, decision)
        rows = np.union1d(decision.linked, decision.grey)
        levels = np.zeros((len(union), len(comparisons)), dtype=np.int8)
        levels[rows] = compare(comparisons, left, right, union.left[rows], union.right[rows])
        # the links' columns are the pairwise engine's own (linkage.link), whatever they come to hold
        links = _pairs_table(union, decision.linked, left, right, weight, decision.probability, levels, comparisons)
        grey = _pairs_table(union, decision.grey, left, right, weight, decision.probability, levels, comparisons)
    summary = summary.to_dict()
    summary["refresh"] = {"left_changed": int(left_changed.sum()), "right_changed": int(right_changed.sum()),
                          "pairs_scored": int(len(fresh)), "pairs_kept_from_last_year": int(keep.sum()),
                          "seconds": time.perf_counter() - start}
    return RefreshResult(links, grey, model, summary, union, weight, np.zeros((0, len(comparisons)), np.int8),
                         left.ids, right.ids, left, right)


def summary_of(folder: Path) -> dict:
    path = Path(folder) / "summary.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
