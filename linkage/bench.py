"""The match-quality study behind ``harmonie bench`` on the user's own encoded files.

Given two encoded files, their spec and the true pairs, it links them exactly as
``harmonie link`` does and reports precision, recall and F1 at the model's own threshold,
the blocking's pairs completeness and reduction ratio, the model's own estimate of its
precision and recall (to see whether it can be trusted where no truth exists), the time
taken and the peak memory. Truth is in the holders' local ids, mapped through both
crosswalks, or, without crosswalks, directly in linkage ids.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from harmonie.errors import HarmonieError


def _identity_crosswalk(path: str | Path) -> pd.DataFrame:
    """The crosswalk of truth written in linkage ids: each encoded record's id to itself (read from the file's
    id column only; the linkage reads and checks the whole file)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from linkage.encoding.encoded_file import read_footer

    read_footer(path)  # a missing, foreign or altered file is the linkage's own one-line error, before reading
    ids = pq.read_table(str(path), columns=["linkage_id"])["linkage_id"].to_pylist()
    return pd.DataFrame({"local_id": ids, "linkage_id": ids})


def bench_linkage(spec_path: str | Path, left_path: str | Path, right_path: str | Path, truth: pd.DataFrame, *,
                  left_crosswalk: pd.DataFrame | None = None, right_crosswalk: pd.DataFrame | None = None,
                  duplicates: pd.DataFrame | None = None, threshold: float | None = None):
    """Link and measure against truth; returns (report dict, LinkResult)."""
    import pandas as pd

    from harmonie.progress import peak_rss_gb
    from linkage.evaluate import evaluate_links, pairs_completeness, truth_pairs
    from linkage.link import link
    from linkage.spec import load_spec

    if (left_crosswalk is None) != (right_crosswalk is None):
        raise HarmonieError("give both crosswalks (truth in local ids) or neither (truth in linkage ids)")
    spec = load_spec(spec_path)
    if left_crosswalk is None:  # truth already in linkage ids: identity crosswalks
        left_crosswalk, right_crosswalk = (_identity_crosswalk(path) for path in (left_path, right_path))
    # the truth is checked before linking, so a wrong truth file or crosswalk is one line in a second, not
    # after the whole linkage
    pairs = truth_pairs(truth, left_crosswalk, right_crosswalk, duplicates)
    if len(truth) and not pairs.pairs:  # before evaluate_links, whose own message presumes crosswalks were given
        raise HarmonieError("none of the truth pairs is among the encoded records: truth in local ids needs "
                            "--left-crosswalk and --right-crosswalk, and truth in linkage ids needs neither")
    start = time.perf_counter()
    result = link(spec, left_path, right_path, threshold=threshold)
    link_seconds = time.perf_counter() - start
    link_rss = peak_rss_gb()

    t0 = time.perf_counter()
    links = result.links.select(["left_id", "right_id", "match_probability"]).to_pandas()
    report = evaluate_links(links, truth, left_crosswalk, right_crosswalk, duplicates)
    summary = result.summary
    report["pairs_completeness"] = pairs_completeness(
        result.candidates.left, result.candidates.right, result.left_ids.to_pylist(), result.right_ids.to_pylist(),
        pairs) if len(result.candidates) else 0.0
    report.update({
        "spec": spec.name, "left_records": summary["left"]["records"], "right_records": summary["right"]["records"],
        "status": summary["status"], "candidate_pairs": summary["candidate_pairs"],
        "reduction_ratio": summary["reduction_ratio"], "threshold": summary.get("threshold"),
        "estimated": summary.get("estimated"), "truth_rows_not_encoded": pairs.unmapped,
        "seconds": {"link": round(link_seconds, 2), "evaluate": round(time.perf_counter() - t0, 2)},
        "peak_rss_gb": {"link": round(link_rss, 2), "whole": round(peak_rss_gb(), 2)},
    })
    return report, result


def render_markdown(report: dict) -> str:
    e = report.get("estimated") or {}
    threshold = report.get("threshold") or {}
    rows = [
        ("precision", f"{report['precision']:.4f}"), ("recall", f"{report['recall']:.4f}"),
        ("F1", f"**{report['f1']:.4f}**"),
        ("links (correct / false)",
         f"{report['links']:,} ({report['true_positives']:,} / {report['false_positives']:,})"),
        ("true pairs (missed)", f"{report['true_pairs']:,} ({report['false_negatives']:,})"),
        ("model's own estimate: precision / recall",
         f"{e['precision']:.4f} / {e['recall']:.4f}" if e else "–"),
        ("threshold (match probability)",
         f"{threshold['probability']:.3f} ({threshold['chosen']})" if threshold else "–"),
        ("candidate pairs", f"{report['candidate_pairs']:,}"),
        ("pairs completeness (true pairs among candidates)", f"{report['pairs_completeness']:.4f}"),
        ("reduction ratio", f"{report['reduction_ratio']:.6f}"),
        ("time: link / evaluate (s)", f"{report['seconds']['link']:.1f} / {report['seconds']['evaluate']:.1f}"),
        ("peak RSS: link / whole (GB)", f"{report['peak_rss_gb']['link']:.2f} / {report['peak_rss_gb']['whole']:.2f}"),
    ]
    lines = [f"# Match quality: {report['left_records']:,} x {report['right_records']:,} records, "
             f"spec {report['spec']!r}", "", "| measure | value |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    if report.get("truth_rows_not_encoded"):
        lines += ["", f"{report['truth_rows_not_encoded']:,} truth rows name records that were not encoded "
                      "(rejected at the holder); they count as missed."]
    return "\n".join(lines) + "\n"
