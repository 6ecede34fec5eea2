"""The in-process engine: the link plan (:mod:`linkage.plan`) executed on this machine.

load -> block -> compare -> EM -> score -> one-to-one -> write. It reads encoded files
only. Comparison and scoring run per partition of candidate pairs, so memory for levels
grows with the pairs but the kernels' working sets do not; the Spark engine runs the same
plan and the same kernels on its own partitions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from harmonie.io import ensure_output_dir, write_parquet, write_text
from harmonie.progress import progress, stage
from linkage.blocking import Candidates, block, blocking_steps
from linkage.compare import Comparison, compare
from linkage.decide import Decision
from linkage.encoded_arrays import EncodedRecords
from linkage.encoding.encoded_file import EncodedFile, check_same_encoding, read_encoded
from linkage.model import FellegiSunter
from linkage.plan import LinkPlan
from linkage.scoring import identity_signatures, score_partition, term_frequencies
from linkage.spec import Spec

PARTITION_PAIRS = 4_000_000
RUN_IDS = "harmonie.run_ids"  # links.parquet metadata: {"left": run id, "right": run id} of the encodings linked


@dataclass
class LinkResult:
    links: pa.Table
    grey_zone: pa.Table
    model: FellegiSunter | None
    summary: dict
    candidates: Candidates
    weights: np.ndarray
    levels: np.ndarray
    left_ids: pa.Array | None = None
    right_ids: pa.Array | None = None
    decision: Decision | None = None  # positions into candidates/weights/levels: one-to-one pairs, links, grey zone

    def weight_distribution(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Match weights of all candidate pairs, for the histogram: (weights, None here; an
        engine that aggregates them gives distinct weights and their counts)."""
        return self.weights, None

    def pattern_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(distinct (levels, proposing passes) rows, pass bits, counts) of every candidate pair, when
        ``levels`` holds only some pairs (an engine that aggregates the rest on a cluster); None here:
        ``levels`` and ``candidates.proposed_by`` hold every pair."""
        return None

    def pair_ids(self, positions: np.ndarray) -> tuple[pa.Array, pa.Array]:
        """Linkage ids (left, right) of the pairs at ``positions`` of ``candidates``; a right id this
        engine did not fetch is null."""
        positions = np.asarray(positions, dtype=np.int64)
        return (self.left_ids.take(pa.array(self.candidates.left[positions].astype(np.int64))),
                self.right_ids.take(pa.array(self.candidates.right[positions].astype(np.int64))))


def link(spec: Spec, left: str | Path | EncodedFile, right: str | Path | EncodedFile, *,
         threshold: float | None = None, model: FellegiSunter | None = None) -> LinkResult:
    """Link two encoded files (paths, or :class:`EncodedFile` objects) under ``spec`` (see
    :class:`linkage.plan.LinkPlan` for ``threshold`` and ``model``)."""
    plan = LinkPlan(spec, threshold=threshold, model=model)
    with stage("load encoded files"):
        left_file, right_file = (side if isinstance(side, EncodedFile) else read_encoded(side) for side in (left, right))
        plan.check_inputs(left_file.metadata, right_file.metadata)
        check_same_encoding(left_file.table, right_file.table)
        left, right = EncodedRecords.from_table(left_file.table), EncodedRecords.from_table(right_file.table)
    comparisons = plan.comparisons(set(left_file.table.column_names), set(right_file.table.column_names))
    steps = blocking_steps(spec.blocking, left, right)
    with progress(f"blocking, {len(spec.blocking)} passes", steps, unit="steps") as blocked:
        candidates = block(spec.blocking, left, right, seed=spec.model.seed, on_step=blocked.advance)
    n = len(candidates)
    summary = plan.summary(left_file.metadata, right_file.metadata, len(left), len(right), candidates.passes, n)
    if n == 0 or len(left) == 0 or len(right) == 0:
        empty = _pairs_table(candidates, np.zeros(0, dtype=np.int64), left, right, np.zeros(0), np.zeros(0),
                             np.zeros((0, 0)), [])
        return LinkResult(empty, empty, None, summary.to_dict(), candidates, np.zeros(0),
                          np.zeros((0, len(comparisons))), left.ids, right.ids)

    levels = _compare_in_partitions(f"compare {n:,} pairs", comparisons, left, right, candidates.left,
                                    candidates.right)
    model = plan.saved_model
    if plan.needs_em:
        model = plan.new_model(comparisons)
        rl, rr = plan.random_pairs(len(left), len(right))
        # ~10 s of the EM's ~20 s at 193,000 x 3,000,000: counted, so the stage has an ETA
        model.fit_u(_compare_in_partitions(f"EM: u from {len(rl):,} random pairs", comparisons, left, right, rl, rr))
        with stage("EM: m per blocking pass, prior"):
            model.fit(levels, total_pairs=len(left) * len(right),
                      sessions=plan.training_sessions(candidates, comparisons, len(left)),
                      max_matches=min(len(left), len(right)))
    with stage("score and assign one-to-one"):
        weights = np.empty(n)
        frequencies = term_frequencies(model, right)  # once, then passed to every partition
        for start in range(0, n, PARTITION_PAIRS):
            stop = min(start + PARTITION_PAIRS, n)
            weights[start:stop] = score_partition(model, frequencies, left, right, len(right),
                                                  candidates.left[start:stop], candidates.right[start:stop],
                                                  levels[start:stop])
        decision = plan.decide(model, candidates.left, candidates.right, weights, len(left), len(right),
                               identity_signatures(right, np.arange(len(right)))[candidates.right])
    summary = plan.decided(summary, model, decision)
    links = _pairs_table(candidates, decision.linked, left, right, weights, decision.probability, levels, comparisons)
    grey_zone = _pairs_table(candidates, decision.grey, left, right, weights, decision.probability, levels,
                             comparisons)
    return LinkResult(links, grey_zone, model, summary.to_dict(), candidates, weights, levels, left.ids, right.ids,
                      decision)


def _compare_in_partitions(label: str, comparisons: list[Comparison], left: EncodedRecords, right: EncodedRecords,
                           rows_left: np.ndarray, rows_right: np.ndarray) -> np.ndarray:
    """The comparison levels of the pairs (rows_left[i], rows_right[i]), computed
    :data:`PARTITION_PAIRS` at a time with a progress line (counts, rate, ETA) named ``label``."""
    n = len(rows_left)
    levels = np.empty((n, len(comparisons)), dtype=np.int8)
    with progress(label, n, unit="pairs") as compared:
        for start in range(0, n, PARTITION_PAIRS):
            stop = min(start + PARTITION_PAIRS, n)
            levels[start:stop] = compare(comparisons, left, right, rows_left[start:stop], rows_right[start:stop])
            compared.advance(stop - start)
    return levels


def level_labels(levels: np.ndarray, comparison: Comparison) -> pa.DictionaryArray:
    """A comparison's levels as their labels ('missing' for -1), dictionary-encoded: what a reader of
    links.parquet needs to read ``level_<comparison>`` without model.json."""
    indices = np.where(levels < 0, comparison.n_levels, levels).astype(np.int8)
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int8()),
                                          pa.array([*comparison.labels, "missing"], pa.string()))


def _pairs_table(candidates: Candidates, rows: np.ndarray, left: EncodedRecords, right: EncodedRecords,
                 weights: np.ndarray, probability: np.ndarray, levels: np.ndarray,
                 comparisons: list[Comparison]) -> pa.Table:
    li, ri = candidates.left[rows], candidates.right[rows]
    order = np.argsort(-weights[rows], kind="stable") if len(rows) else rows
    columns = {
        "left_id": left.ids.take(pa.array(li[order].astype(np.int64))),
        "right_id": right.ids.take(pa.array(ri[order].astype(np.int64))),
        "match_weight": pa.array(weights[rows][order], pa.float64()),
        "match_probability": pa.array(probability[rows][order], pa.float64()),
    }
    for j, c in enumerate(comparisons):
        columns[f"level_{c.name}"] = pa.array(levels[rows, j][order], pa.int8())
    for j, c in enumerate(comparisons):
        columns[f"level_{c.name}_label"] = level_labels(levels[rows, j][order], c)
    return pa.table(columns)


def write_link_outputs(result: LinkResult, out_dir: str | Path, *, charts: bool = True,
                       keep_candidates: bool = False, links_to: dict[str, str] | None = None) -> dict[str, Path]:
    """Write links, grey zone, model, summary, the charts and the linkage report (``charts``:
    report.html, its data and the one-to-one pairs, :mod:`linkage.report`); with
    ``keep_candidates`` also every candidate pair (``candidates.parquet``, for measuring the
    blocking against truth). ``links_to``: other reports of the same run the report links to
    ({title: path relative to ``out_dir``})."""
    out = ensure_output_dir(out_dir)
    encodings = {side: result.summary[side].get("run_id") for side in ("left", "right")}
    paths = {"links": write_parquet(result.links, out / "links.parquet", metadata={RUN_IDS: json.dumps(encodings)}),
             "grey_zone": write_parquet(result.grey_zone, out / "grey_zone.parquet")}
    if keep_candidates and result.left_ids is not None:
        candidates = pa.table({
            "left_id": result.left_ids.take(pa.array(result.candidates.left.astype(np.int64))),
            "right_id": result.right_ids.take(pa.array(result.candidates.right.astype(np.int64)))})
        paths["candidates"] = write_parquet(candidates, out / "candidates.parquet")
    if result.model is not None:
        result.model.save(out / "model.json")
        paths["model"] = out / "model.json"
    paths["summary"] = write_text(json.dumps(result.summary, indent=2) + "\n", out / "summary.json")
    if charts and result.model is not None:
        from linkage.charts import link_charts
        from linkage.report import build_link_report, write_link_report

        with stage("charts and the linkage report"):
            paths.update(link_charts(result, out))
            if result.decision is not None:
                paths.update(write_link_report(build_link_report(result, links_to=links_to), out))
    return paths
