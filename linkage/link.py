"""The linkage unit's job, as a plan of stages: load -> block -> compare -> EM -> score ->
one-to-one -> write. It reads encoded files only.

Comparison and scoring run per partition of candidate pairs with the model passed in
(``compare_partition``, ``score_partition``); this in-process engine is one executor of
that plan, and a distributed one can run the same functions on its own partitions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from harmonie.errors import HarmonieError
from harmonie.io import ensure_output_dir, write_parquet, write_text
from harmonie.progress import stage
from linkage.blocking import Candidates, block
from linkage.compare import Comparison, build_comparisons, compare
from linkage.decide import Threshold, choose_threshold, expected_quality, one_to_one
from linkage.encoded_arrays import EncodedRecords
from linkage.encoding.encoded_file import check_compatible, read_encoded
from linkage.model import FellegiSunter
from linkage.spec import BlockingPass, ModelSettings, Spec

PARTITION_PAIRS = 4_000_000
ASSIGNMENT_FLOOR = 0.01  # pairs less likely than this are not even considered for a link


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

    def weight_distribution(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Match weights of all candidate pairs, for the histogram: (weights, None here; an
        engine that aggregates them gives distinct weights and their counts)."""
        return self.weights, None


def compare_partition(comparisons: list[Comparison], left: EncodedRecords, right: EncodedRecords,
                      li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    return compare(comparisons, left, right, li, ri)


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


def forced_fields(spec: Spec, spec_pass: BlockingPass) -> set[str]:
    """Fields a blocking pass biases: its own, any field read from the same input columns (a
    pass on the commune also fixes the departement derived from it), and the fields the
    spec says its non-matches agree on more than random pairs do (``leave_out``: people who
    shared a hospital stay tend to live in the same departement)."""
    fields = spec_pass.fields | set(spec_pass.leave_out)
    columns = {c for f in spec.fields if f.name in fields for c in f.columns}
    return fields | {f.name for f in spec.fields if columns & set(f.columns)}


def training_sessions(spec: Spec, candidates: Candidates, comparisons: list[Comparison], n_left: int,
                      max_pairs_per_record: float) -> list[tuple[str, np.ndarray, set[int]]]:
    """One EM session per blocking pass, leaving out the comparisons the pass forces to agree.

    Passes proposing more than ``max_pairs_per_record`` pairs per left record are not used
    for training: they are mostly non-matches, and EM would mistake their structure (same-sex
    pairs having more similar first names, say) for matches. If every pass is that large,
    the smallest one is used.
    """
    masks = [candidates.pass_mask(i) for i in range(len(spec.blocking))]
    plan = training_plan(spec, comparisons, [int(mask.sum()) for mask in masks], n_left, max_pairs_per_record)
    return [(name, masks[index], excluded) for name, index, excluded in plan]


def training_plan(spec: Spec, comparisons: list[Comparison], pass_pairs: list[int], n_left: int,
                  max_pairs_per_record: float) -> list[tuple[str, int, set[int]]]:
    """:func:`training_sessions` from the number of pairs each pass proposed: (name, pass
    index, comparisons left out) per session. Shared with engines that hold pair counts,
    not pair masks."""
    sessions = []
    for i, p in enumerate(spec.blocking):
        excluded = {j for j, c in enumerate(comparisons) if set(c.fields) & forced_fields(spec, p)}
        sessions.append((p.name, i, excluded, pass_pairs[i]))
    usable = [s for s in sessions if 0 < s[3] <= max_pairs_per_record * max(n_left, 1)]
    if not usable:
        usable = [min((s for s in sessions if s[3] > 0), key=lambda s: s[3])]
    return [s[:3] for s in usable]


# The random pairs u is estimated on (``[model] u_sample_pairs`` of them, see ModelSettings)
# reuse 200,000 right-hand records (each met by 25 random left records at the default), so
# the Spark driver fetches no more than that.
U_SAMPLE_RIGHT_RECORDS = 200_000


def random_pairs(settings: ModelSettings, n_left: int, n_right: int) -> tuple[np.ndarray, np.ndarray]:
    """The random (left, right) row pairs u is estimated on: ``[model] u_sample_pairs`` of them."""
    count = settings.u_sample_pairs
    rng = np.random.default_rng(settings.seed)
    right = rng.integers(0, n_right, size=min(count, U_SAMPLE_RIGHT_RECORDS))
    left = rng.integers(0, n_left, size=count)
    return left.astype(np.int32), np.resize(right, count).astype(np.int32)


def link(spec: Spec, left_path: str | Path, right_path: str | Path, *, threshold: float | None = None,
         model: FellegiSunter | None = None) -> LinkResult:
    """Link two encoded files under ``spec`` (see the module docstring).

    With a fitted ``model`` (e.g. last year's model.json), no EM runs: the pairs are scored
    with it, which keeps weights comparable between runs.
    """
    with stage("load encoded files"):
        left_file, right_file = read_encoded(left_path), read_encoded(right_path)
        check_inputs(spec, left_file.metadata, right_file.metadata)
        left, right = EncodedRecords.from_table(left_file.table), EncodedRecords.from_table(right_file.table)
    settings = spec.model
    comparisons = build_comparisons(spec, set(left_file.table.column_names), set(right_file.table.column_names))
    with stage("blocking"):
        candidates = block(spec.blocking, left, right, seed=settings.seed)
    summary = {
        "spec": spec.name, "spec_hash": spec.hash, "key_fingerprint": left_file.key_fingerprint,
        "left": {"holder": left_file.metadata.get("holder"), "records": len(left)},
        "right": {"holder": right_file.metadata.get("holder"), "records": len(right)},
        "blocking": [vars(r) for r in candidates.passes],
        "candidate_pairs": len(candidates),
        "reduction_ratio": 1 - len(candidates) / max(len(left) * len(right), 1),
    }
    n = len(candidates)
    if n == 0 or len(left) == 0 or len(right) == 0:
        summary["status"] = "no candidate pairs: nothing to link (check the blocking passes and the inputs)"
        empty = _pairs_table(candidates, np.zeros(0, dtype=np.int64), left, right, np.zeros(0), np.zeros((0, 0)), [])
        return LinkResult(empty, empty, None, summary, candidates, np.zeros(0), np.zeros((0, len(comparisons))),
                          left.ids, right.ids)

    with stage(f"compare {n:,} pairs"):
        levels = np.empty((n, len(comparisons)), dtype=np.int8)
        for start in range(0, n, PARTITION_PAIRS):
            stop = min(start + PARTITION_PAIRS, n)
            levels[start:stop] = compare_partition(comparisons, left, right, candidates.left[start:stop],
                                                   candidates.right[start:stop])
    if model is not None:
        if [c.labels for c in model.comparisons] != [c.labels for c in comparisons]:
            raise HarmonieError("the saved model's comparisons and levels differ from this spec's")
    else:
        with stage("EM: u from random pairs, m per blocking pass, prior"):
            model = FellegiSunter(comparisons, max_iterations=settings.em_max_iterations,
                                  tolerance=settings.em_tolerance)
            rl, rr = random_pairs(settings, len(left), len(right))
            model.fit_u(compare(comparisons, left, right, rl, rr))
            sessions = training_sessions(spec, candidates, comparisons, len(left), settings.em_max_pairs_per_record)
            model.fit(levels, total_pairs=len(left) * len(right), sessions=sessions,
                      max_matches=min(len(left), len(right)))
    with stage("score and assign one-to-one"):
        weights = np.empty(n)
        frequencies = term_frequencies(model, right)  # once, then passed to every partition
        for start in range(0, n, PARTITION_PAIRS):
            stop = min(start + PARTITION_PAIRS, n)
            weights[start:stop] = score_partition(model, frequencies, left, len(right), candidates.left[start:stop],
                                                  levels[start:stop])
        decision = decide(candidates.left, candidates.right, weights, len(left), len(right), threshold, settings)
        linked, grey = decision.linked, decision.grey
    summary.update(decision_summary(model, decision))
    names = [c.name for c in comparisons]
    links = _pairs_table(candidates, linked, left, right, weights, levels, names)
    grey_zone = _pairs_table(candidates, grey, left, right, weights, levels, names)
    return LinkResult(links, grey_zone, model, summary, candidates, weights, levels, left.ids, right.ids)


def check_inputs(spec: Spec, left_metadata: dict, right_metadata: dict) -> None:
    """Both files from the same secret and spec, two holders, and that spec is ``spec``."""
    check_compatible(left_metadata, right_metadata)
    if left_metadata["spec_hash"] != spec.hash:
        raise HarmonieError(f"the encoded files were made with another spec than {spec.name!r} "
                            f"(hash {left_metadata['spec_hash'][:12]}... vs {spec.hash[:12]}...)")


@dataclass
class Decision:
    kept: np.ndarray    # positions (into the arrays given to :func:`decide`) of the one-to-one pairs
    linked: np.ndarray  # of those, the links
    grey: np.ndarray    # of those, the grey zone
    chosen: Threshold
    threshold_given: bool


def decide(left_rows: np.ndarray, right_rows: np.ndarray, weights: np.ndarray, n_left: int, n_right: int,
           threshold: float | None, settings: ModelSettings) -> Decision:
    """One-to-one assignment, threshold and grey zone over scored pairs in candidate order
    (ascending left row, then right row). Pairs below ``ASSIGNMENT_FLOOR`` may be left out
    beforehand: they are never considered."""
    probability = FellegiSunter.probability(weights)
    considered = np.flatnonzero(probability >= ASSIGNMENT_FLOOR)
    kept = considered[one_to_one(left_rows[considered], right_rows[considered], weights[considered],
                                 n_left, n_right)]
    threshold = threshold if threshold is not None else settings.threshold
    chosen = choose_threshold(probability[kept]) if threshold is None else \
        expected_quality(probability[kept], float(threshold))
    linked = kept[probability[kept] >= chosen.probability]
    low, high = settings.grey_zone
    grey = kept[(probability[kept] >= low) & (probability[kept] <= high)]
    return Decision(kept, linked, grey, chosen, threshold is not None)


def decision_summary(model: FellegiSunter, decision: Decision) -> dict:
    chosen = decision.chosen
    return {
        "status": "linked",
        "prior_lambda": model.lambda_, "expected_matches": model.expected_matches_,
        "em_iterations": model.n_iter_, "em_converged": model.converged_,
        "one_to_one_pairs": int(len(decision.kept)), "links": int(len(decision.linked)),
        "grey_zone_pairs": int(len(decision.grey)),
        "threshold": {"probability": chosen.probability, "chosen": "given" if decision.threshold_given else
                      "max expected F1 (at least 0.5)"},
        "em_sessions": model.sessions_,
        "estimated": {"precision": chosen.expected_precision, "recall": chosen.expected_recall,
                      "f1": chosen.expected_f1},
    }


def _pairs_table(candidates: Candidates, rows: np.ndarray, left: EncodedRecords, right: EncodedRecords,
                 weights: np.ndarray, levels: np.ndarray, names: list[str]) -> pa.Table:
    li, ri = candidates.left[rows], candidates.right[rows]
    order = np.argsort(-weights[rows], kind="stable") if len(rows) else rows
    columns = {
        "left_id": left.ids.take(pa.array(li[order].astype(np.int64))),
        "right_id": right.ids.take(pa.array(ri[order].astype(np.int64))),
        "match_weight": pa.array(weights[rows][order], pa.float64()),
        "match_probability": pa.array(FellegiSunter.probability(weights[rows][order]), pa.float64()),
    }
    for j, name in enumerate(names):
        columns[f"level_{name}"] = pa.array(levels[rows, j][order], pa.int8())
    return pa.table(columns)


def write_link_outputs(result: LinkResult, out_dir: str | Path, *, charts: bool = True,
                       keep_candidates: bool = False) -> dict[str, Path]:
    """Write links, grey zone, model, summary and charts; with ``keep_candidates`` also every
    candidate pair (``candidates.parquet``, for measuring the blocking against truth)."""
    out = ensure_output_dir(out_dir)
    paths = {"links": write_parquet(result.links, out / "links.parquet"),
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

        paths.update(link_charts(result, out))
    return paths
