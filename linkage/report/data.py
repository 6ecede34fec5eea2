"""What the linkage report shows, assembled from a link result: aggregates, never all pairs.

A run at 193,000 x 3,000,000 has ~68 million candidate pairs; the report holds what the
linkage unit needs to understand and tune the run at the size of the model, not of the data:

- the model: per comparison and level its label, m, u and match weight; each EM session's m;
- per blocking pass: pairs proposed, new pairs (no earlier pass had them), pairs only it
  proposed, oversized blocks skipped;
- the match weights of every candidate pair as a histogram;
- every distinct comparison pattern with its count, weight, probability and decision statuses,
  and a few example pairs of each status (links, grey zone, below the threshold, not
  one-to-one) by linkage id, so any pattern's or example's weight can be explained;
- the threshold tool: for a grid of probability thresholds, the links a threshold would keep
  among the one-to-one pairs (the only pairs a threshold can turn into links) and the model's
  expected precision, recall and F1 there, as :mod:`linkage.decide` computes them.

The linkage unit holds encoded data only: everything here is linkage ids (pseudonymous),
levels, weights and counts. The one-to-one pairs themselves (at most one per left record) go
to ``one_to_one.parquet`` beside the links, which ``evaluate`` reads to add the true
precision, recall and F1 per threshold (:meth:`LinkReportData.with_truth`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from linkage.model import FellegiSunter
from linkage.report.patterns import GREY, GREY_LINK, STATUSES, ids_in, pair_status, tally_patterns

FORMAT = "harmonie-link-report/1"
DATA_FILE, PAIRS_FILE, PAGE_FILE = "report_data.json", "one_to_one.parquet", "report.html"


@dataclass(frozen=True)
class ReportSettings:
    """How much of a run the report embeds: bounded, so a report stays a few MB at any scale."""

    examples_per_status: int = 2        # example pairs per pattern and decision status
    max_example_patterns: int = 3_000   # patterns (most frequent first) that get example pairs
    max_searchable_pairs: int = 25_000  # one-to-one pairs embedded for look-up by linkage id (grey zone first)
    threshold_step: float = 0.005       # grid of the threshold tool, in match probability
    weight_bin: float = 0.5             # width of the match-weight histogram's bins (log2 odds)

    def __post_init__(self):
        if self.examples_per_status < 0 or self.max_example_patterns < 0 or self.max_searchable_pairs < 0:
            raise ValueError("report sizes must be zero or more")
        if not 0 < self.threshold_step <= 0.5 or not self.weight_bin > 0:
            raise ValueError("threshold_step must be in (0, 0.5] and weight_bin above 0")


@dataclass
class LinkReportData:
    """The report's content (``report_data.json``): plain, JSON-ready values, tables as columns."""

    run: dict
    comparisons: list[dict]
    prior_weight: float
    sessions: list[dict]
    blocking: list[dict]
    weight_histogram: dict
    patterns: dict
    pairs: dict
    threshold: dict
    statuses: list[str] = field(default_factory=lambda: list(STATUSES))
    truth: dict | None = None
    links_to: dict = field(default_factory=dict)  # other reports of the same run: {title: relative path}
    format: str = FORMAT

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        from harmonie.io import write_text

        return write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n", path)

    @classmethod
    def load(cls, path: str | Path) -> "LinkReportData":
        from harmonie.errors import HarmonieError

        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise HarmonieError(f"{path} not found: run `harmonie link` again (without --no-charts) for the "
                                "linkage report") from None
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            raise HarmonieError(f"{path} is not a Harmonie linkage report data file (not readable JSON)") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise HarmonieError(f"{path} is not a {FORMAT} file: run `harmonie link` again")
        try:
            return cls(**document)
        except TypeError:
            raise HarmonieError(f"{path} is not a {FORMAT} file: run `harmonie link` again") from None

    def with_truth(self, truth: dict) -> "LinkReportData":
        return replace(self, truth=truth)


@dataclass
class LinkReport:
    """A run's report: its data and the one-to-one pairs (at most one per left record) it was drawn from."""

    data: LinkReportData
    one_to_one: pa.Table


def rounded(values, digits: int = 6) -> list:
    """Floats to ``digits`` significant digits (a smaller, still exact-enough page); NaN and inf as None."""
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in np.asarray(values, dtype=float).tolist()]


def threshold_grid(step: float, chosen: float, grey_zone: tuple[float, float]) -> np.ndarray:
    """Probability thresholds of the tool: a regular grid, the chosen threshold, the grey zone's bounds
    and the high end where links thin out (0.999, 0.9999)."""
    regular = np.round(np.arange(0.0, 1.0 + step / 2, step), 10)
    return np.unique(np.concatenate([regular, [chosen, *grey_zone, 0.999, 0.9999]]).clip(0, 1))


def expected_curve(probability: np.ndarray, expected_matches: float, grid: np.ndarray) -> dict:
    """Per threshold t of ``grid``: one-to-one pairs at p >= t (the links t gives), and the model's
    expected true links (sum of their p), precision, recall and F1 as :func:`linkage.decide.expected_quality`
    counts them (the denominator of recall: ``expected_matches``, at least the sum of all p)."""
    ascending = np.sort(probability)
    before = np.concatenate([[0.0], np.cumsum(ascending)])
    start = np.searchsorted(ascending, grid, side="left")
    links = len(ascending) - start
    expected_tp = before[-1] - before[start]
    total = max(float(expected_matches), float(before[-1]))
    precision = np.where(links > 0, expected_tp / np.maximum(links, 1), 1.0)
    recall = expected_tp / total if total else np.zeros(len(grid))
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-300), 0.0)
    return {"threshold": [float(t) for t in grid],  # exact, not rounded: a threshold is compared with p
            "links": links.astype(int).tolist(), "expected_tp": rounded(expected_tp), "precision": rounded(precision), "recall": rounded(recall), "f1": rounded(f1),
            "expected_matches": total}


def true_curve(probability: np.ndarray, correct: np.ndarray, true_pairs: int, grid: np.ndarray) -> dict:
    """Per threshold of ``grid``: true links among the one-to-one pairs at p >= t, true precision, recall, F1."""
    order = np.argsort(probability, kind="stable")
    ascending, hits = probability[order], correct[order].astype(np.int64)
    before = np.concatenate([[0], np.cumsum(hits)])
    start = np.searchsorted(ascending, grid, side="left")
    links = len(ascending) - start
    tp = before[-1] - before[start]
    precision = np.where(links > 0, tp / np.maximum(links, 1), 1.0)
    recall = tp / true_pairs if true_pairs else np.zeros(len(grid))
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-300), 0.0)
    return {"true_tp": tp.astype(int).tolist(), "precision": rounded(precision), "recall": rounded(recall),
            "f1": rounded(f1)}


def _comparisons(model: FellegiSunter) -> list[dict]:
    document = model.to_dict()
    return [{"name": c["name"], "kind": c["kind"], "term_frequency": c["term_frequency"],
             "levels": [{"label": level["label"], "m": level["m"], "u": level["u"], "weight": level["weight"]}
                        for level in c["levels"]]} for c in document["comparisons"]]


def _blocking(summary: dict, proposed: np.ndarray, new: np.ndarray, only: np.ndarray) -> list[dict]:
    rows = []
    for i, p in enumerate(summary["blocking"]):
        rows.append({"name": p["name"], "proposed": p["pairs"], "pairs": int(proposed[i]), "new": int(new[i]),
                     "only": int(only[i]), "blocks": p["blocks"], "skipped_blocks": p["skipped_blocks"],
                     "skipped_pairs": p["skipped_pairs"]})
    return rows


def _histogram(weights: np.ndarray, counts: np.ndarray | None, width: float) -> dict:
    finite = np.isfinite(weights)
    if not finite.all():  # (weights are finite: no copy of tens of millions of them for nothing)
        weights, counts = weights[finite], None if counts is None else counts[finite]
    if not len(weights):
        return {"bin_width": width, "start": [], "count": []}
    low, high = math.floor(weights.min() / width) * width, math.floor(weights.max() / width) * width + width
    bins = int(round((high - low) / width))
    edges = low + width * np.arange(bins + 1)
    tally, _ = np.histogram(weights, bins=bins, range=(low, high), weights=counts)  # equal bins: no search per value
    keep = tally > 0
    return {"bin_width": width, "start": rounded(edges[:-1][keep]), "count": tally[keep].astype(np.int64).tolist()}


def _run(summary: dict) -> dict:
    keys = ("spec", "spec_hash", "left", "right", "candidate_pairs", "reduction_ratio", "status", "links",
            "grey_zone_pairs", "one_to_one_pairs", "threshold", "estimated", "prior_lambda", "expected_matches",
            "left_records_with_a_match", "em_iterations", "em_converged", "warnings", "grey_zone", "engine")
    return {k: summary[k] for k in keys if k in summary}


def _searchable(status: np.ndarray, kept: np.ndarray, probability: np.ndarray, limit: int) -> np.ndarray:
    """The one-to-one pairs embedded for look-up by linkage id: all of them up to ``limit``, else the grey
    zone first, then the pairs nearest the threshold's side of doubt (lowest probability first)."""
    if len(kept) <= limit:
        return kept
    grey = np.isin(status[kept], (GREY, GREY_LINK))
    order = np.lexsort((probability[kept], ~grey))
    return np.sort(kept[order[:limit]])


def build_link_report(result, settings: ReportSettings = ReportSettings(), *,
                      links_to: dict[str, str] | None = None) -> LinkReport:
    """The report of a linked :class:`linkage.link.LinkResult` (either engine); ``links_to``: other
    reports of the same run ({title: relative path}), linked from its contents."""
    model, decision, summary = result.model, result.decision, result.summary
    n = len(result.weights)
    status = pair_status(n, decision.kept, decision.linked, decision.grey)
    tally = tally_patterns(result.levels, model.comparisons, status, result.candidates.proposed_by,
                           len(summary["blocking"]), settings.examples_per_status, result.pattern_table())
    pattern_weight = model.match_weight(tally.patterns)
    kept = decision.kept.astype(np.int64)
    probability = decision.probability
    kept_pattern = ids_in(tally.patterns, result.levels[kept]) if len(kept) else np.zeros(0, dtype=np.int32)
    kept_probability = np.bincount(kept_pattern, weights=probability[kept], minlength=len(tally.patterns))
    kept_count = np.bincount(kept_pattern, minlength=len(tally.patterns))

    # embedded pairs: examples of the most frequent patterns, and one-to-one pairs to look up by id
    frequent = np.argsort(-tally.counts, kind="stable")[:settings.max_example_patterns]
    examples = tally.examples[frequent].ravel()
    wanted = np.union1d(examples[examples >= 0], _searchable(status, kept, probability,
                                                              settings.max_searchable_pairs)).astype(np.int64)
    left_ids, right_ids = result.pair_ids(wanted)
    known = np.asarray(right_ids.is_valid())
    wanted, left_ids, right_ids = wanted[known], left_ids.filter(pa.array(known)), right_ids.filter(pa.array(known))
    wanted_pattern = ids_in(tally.patterns, result.levels[wanted]) if len(wanted) else np.zeros(0, dtype=np.int32)
    order = np.lexsort((wanted, -result.weights[wanted]))  # strongest first, then candidate order

    grid = threshold_grid(settings.threshold_step, summary["threshold"]["probability"], tuple(summary["grey_zone"]))
    share = summary["left_records_with_a_match"]
    expected = (share["declared_share"] or share["estimated_share"]) * summary["left"]["records"]
    kept_left, kept_right = result.pair_ids(kept)
    one_to_one = pa.table({
        "left_id": kept_left, "right_id": kept_right,
        "match_weight": pa.array(result.weights[kept], pa.float64()),
        "match_probability": pa.array(probability[kept], pa.float64()),
        "pattern": pa.array(kept_pattern, pa.int32()),
        "status": pa.DictionaryArray.from_arrays(pa.array(status[kept].astype(np.int8)), pa.array(STATUSES))})
    weights, counts = result.weight_distribution()
    data = LinkReportData(
        run=_run(summary), comparisons=_comparisons(model), prior_weight=float(model.prior_weight),
        sessions=[dict(s) for s in model.sessions_],
        blocking=_blocking(summary, tally.pass_pairs, tally.pass_new, tally.pass_only),
        weight_histogram=_histogram(np.asarray(weights), None if counts is None else np.asarray(counts),
                                    settings.weight_bin),
        patterns={"levels": tally.patterns.tolist(), "count": tally.counts.tolist(),
                  "weight": rounded(pattern_weight), "probability": rounded(FellegiSunter.probability(pattern_weight)),
                  "by_status": tally.by_status.tolist(), "one_to_one": kept_count.tolist(),
                  "mean_probability": rounded(np.where(kept_count > 0, kept_probability / np.maximum(kept_count, 1),
                                                       np.nan))},
        pairs={"left_id": left_ids.take(pa.array(order)).to_pylist(),
               "right_id": right_ids.take(pa.array(order)).to_pylist(),
               "pattern": wanted_pattern[order].tolist(), "weight": rounded(result.weights[wanted][order]),
               "probability": rounded(probability[wanted][order]), "status": status[wanted][order].tolist(),
               "searchable_of": int(len(kept))},
        threshold=expected_curve(probability[kept], expected, grid), links_to=dict(links_to or {}))
    return LinkReport(data, one_to_one)


def write_link_report(report: LinkReport, out_dir: str | Path) -> dict[str, Path]:
    """report_data.json, one_to_one.parquet and report.html into ``out_dir``."""
    from harmonie.io import write_parquet, write_text
    from linkage.report.page import render_page

    out = Path(out_dir)
    return {"report_data": report.data.save(out / DATA_FILE),
            "one_to_one": write_parquet(report.one_to_one, out / PAIRS_FILE),
            "report": write_text(render_page(report.data, out / PAGE_FILE), out / PAGE_FILE)}
