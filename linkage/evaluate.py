"""Match quality against ground truth: precision, recall, F1, and the blocking's pairs
completeness and reduction ratio.

Truth is in local ids (cohort_id, snds_id); links are in linkage ids; each holder's
crosswalk maps one to the other (only the evaluator, who holds the truth, needs both).
A link to a second SNDS id of the right person (``snds_duplicates``) counts as correct.

With the simulator's ``hard_cases.parquet`` (one row per cohort patient, flags and counts
of what makes them hard), recall and false links are also broken down by hard case: counts
only, never an identifier, for the evaluator inside the secure area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class TruthPairs:
    pairs: set[tuple[str, str]]           # (left linkage id, right linkage id), first ids
    same_person: dict[str, str]           # right linkage id of a second id -> of the first id
    unmapped: int                         # truth rows whose records were not encoded (rejected)

    def __len__(self) -> int:
        return len(self.pairs) + self.unmapped


def truth_pairs(truth: pd.DataFrame, left_crosswalk: pd.DataFrame, right_crosswalk: pd.DataFrame,
                duplicates: pd.DataFrame | None = None) -> TruthPairs:
    from harmonie.errors import HarmonieError

    if truth.shape[1] < 2:
        raise HarmonieError("the truth table needs two id columns (left id, right id)")
    left_map = dict(zip(left_crosswalk.local_id, left_crosswalk.linkage_id))
    right_map = dict(zip(right_crosswalk.local_id, right_crosswalk.linkage_id))
    left_col, right_col = truth.columns[:2]
    pairs, unmapped = set(), 0
    for a, b in zip(truth[left_col].astype(str), truth[right_col].astype(str)):
        if a in left_map and b in right_map:
            pairs.add((left_map[a], right_map[b]))
        else:
            unmapped += 1
    same = {}
    if duplicates is not None:
        for second, first in zip(duplicates.iloc[:, 0].astype(str), duplicates.iloc[:, 1].astype(str)):
            if second in right_map and first in right_map:
                same[right_map[second]] = right_map[first]
    return TruthPairs(pairs, same, unmapped)


def check_truth_maps(truth: TruthPairs) -> None:
    """A truth none of whose pairs maps to linkage ids measures nothing (F1 0): one line naming the likely
    cause instead (the crosswalks given the wrong way round, or the truth's columns)."""
    from harmonie.errors import HarmonieError

    if len(truth) and not truth.pairs:
        raise HarmonieError(f"0 of {len(truth):,} truth pairs map to linkage ids through the crosswalks — are the "
                            "crosswalks swapped? (the left crosswalk must be the first holder's, as linked, and the "
                            "truth's first column the left holder's ids)")


def _correct(left_ids, right_ids, truth: TruthPairs) -> np.ndarray:
    return np.array([(a, truth.same_person.get(b, b)) in truth.pairs for a, b in zip(left_ids, right_ids)], dtype=bool)


def quality(links: pd.DataFrame, truth: TruthPairs) -> dict:
    correct = _correct(links.left_id, links.right_id, truth)
    tp = int(correct.sum())
    precision = tp / len(links) if len(links) else 1.0
    recall = tp / len(truth) if len(truth) else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"links": int(len(links)), "true_pairs": len(truth), "true_positives": tp,
            "false_positives": int(len(links) - tp), "false_negatives": int(len(truth) - tp),
            "precision": precision, "recall": recall, "f1": f1}


def precision_recall_curve(links: pd.DataFrame, truth: TruthPairs) -> pd.DataFrame:
    """Precision and recall of the links above each probability (links sorted best first)."""
    order = np.argsort(-links.match_probability.to_numpy(), kind="stable")
    ranked = links.iloc[order]
    correct = _correct(ranked.left_id, ranked.right_id, truth)
    tp = np.cumsum(correct)
    k = np.arange(1, len(ranked) + 1)
    return pd.DataFrame({"threshold": ranked.match_probability.to_numpy(), "precision": tp / k,
                         "recall": tp / max(len(truth), 1)})


def pairs_completeness(left_rows: np.ndarray, right_rows: np.ndarray, left_ids, right_ids,
                       truth: TruthPairs) -> float:
    """Share of true pairs that blocking proposed (candidate pairs given as row indices)."""
    left_index = {v: i for i, v in enumerate(left_ids)}
    right_index = {v: i for i, v in enumerate(right_ids)}
    keys = np.unique((left_rows.astype(np.int64) << 32) | right_rows.astype(np.int64))
    wanted = []
    for a, b in truth.pairs:
        wanted.append((left_index[a] << 32) | right_index[b])
    wanted = np.array(wanted, dtype=np.int64)
    pos = np.searchsorted(keys, wanted)
    found = (pos < len(keys)) & (keys[np.minimum(pos, max(len(keys) - 1, 0))] == wanted) if len(keys) else \
        np.zeros(len(wanted), dtype=bool)
    return float(found.sum() / len(truth)) if len(truth) else 1.0


def pairs_completeness_in_file(path, truth: TruthPairs) -> float:
    """Share of true pairs among the candidate pairs of a ``candidates.parquet`` file, read in
    batches (it can hold tens of millions of pairs) and matched in Arrow, not in Python."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not len(truth):
        return 1.0
    wanted = pa.array([f"{a}|{b}" for a, b in truth.pairs], pa.string())
    found: set[str] = set()
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1 << 21, columns=["left_id", "right_id"]):
        joined = pc.binary_join_element_wise(batch.column(0), batch.column(1), "|")
        found.update(joined.filter(pc.is_in(joined, value_set=wanted)).to_pylist())
    return len(found) / len(truth)


# Hard cases the breakdown knows how to read: column -> (label, how). Flags give one case
# (the patients flagged; ``absent`` the patients not flagged), counts give buckets 0, 1, 2+
# (``buckets``) or one case of patients with at least one (``any``). Columns it does not know
# are read the same way by type (flags, or counts in buckets), so older and newer
# hard_cases files both work.
HARD_CASES: dict[str, tuple[str, str]] = {
    "in_snds": ("not in SNDS (cohort-only)", "absent"),
    "married_name": ("uses a married name", "flag"),
    "birth_name_missing": ("birth name not recorded in the cohort", "flag"),
    "account_holder_nir": ("filed in SNDS under an account holder's NIR", "flag"),
    "twin": ("same-sex twin in SNDS", "flag"),
    "snds_duplicate": ("a second SNDS id", "flag"),
    "moved": ("moved since diagnosis", "flag"),
    "moved_far": ("moved to another département", "flag"),
    "nir_present": ("NIR present in the cohort", "flag"),
    "nir_mistyped": ("NIR mistyped in the cohort", "flag"),
    "borrowed_nir": ("carries another person's NIR", "flag"),
    "cohort_death_missing": ("died, no death date in the cohort", "flag"),
    "centre_stays": ("cohort stays", "buckets"),
    "stays_in_snds": ("cohort stays visible in SNDS (same FINESS, ±1 day)", "buckets"),
    "shifted_stays": ("a stay 2+ days off between the holders", "any"),
    "sister_site_stays": ("a stay at a sister site (same legal entity)", "any"),
}


def _patient_outcomes(links: pd.DataFrame, truth: pd.DataFrame, left_crosswalk: pd.DataFrame,
                      pairs: TruthPairs, local_ids: pd.Series) -> pd.DataFrame:
    """Per patient (local left id): has a true pair, found it, number of false links."""
    left_col = truth.columns[0]
    linkage_id = local_ids.astype(str).map(dict(zip(left_crosswalk.local_id.astype(str), left_crosswalk.linkage_id)))
    correct = _correct(links.left_id, links.right_id, pairs)
    per_left = pd.DataFrame({"left_id": links.left_id.to_numpy(), "correct": correct, "wrong": ~correct})
    per_left = per_left.groupby("left_id")[["correct", "wrong"]].sum()
    found = linkage_id.map(per_left["correct"]).fillna(0).to_numpy() > 0
    false_links = linkage_id.map(per_left["wrong"]).fillna(0).to_numpy().astype(np.int64)
    has_pair = local_ids.astype(str).isin(set(truth[left_col].astype(str))).to_numpy()
    return pd.DataFrame({"has_pair": has_pair, "found": found & has_pair, "false_links": false_links})


def _case_row(case: str, label: str, mask: np.ndarray, outcome: pd.DataFrame) -> dict:
    sub = outcome[mask]
    true_pairs, found = int(sub.has_pair.sum()), int(sub.found.sum())
    return {"case": case, "label": label, "patients": int(mask.sum()), "true_pairs": true_pairs, "found": found,
            "recall": found / true_pairs if true_pairs else None, "false_links": int(sub.false_links.sum())}


def by_hard_case(links: pd.DataFrame, truth: pd.DataFrame, left_crosswalk: pd.DataFrame, pairs: TruthPairs,
                 hard_cases: pd.DataFrame) -> list[dict]:
    """Recall and false links per hard case: one row per case with ``case``, ``label``,
    ``patients``, ``true_pairs`` (patients who are in SNDS), ``found``, ``recall`` (None
    without true pairs) and ``false_links`` (links from these patients to a wrong record).
    The first row, ``all``, reconciles with the overall figures."""
    from harmonie.errors import HarmonieError

    id_column = truth.columns[0]
    if id_column not in hard_cases:
        raise HarmonieError(f"the hard cases table lacks the truth's id column {id_column}")
    if hard_cases[id_column].duplicated().any():
        raise HarmonieError(f"the hard cases table has repeated {id_column} values")
    outcome = _patient_outcomes(links, truth, left_crosswalk, pairs, hard_cases[id_column])
    rows = [_case_row("all", "every cohort patient", np.ones(len(outcome), dtype=bool), outcome)]
    known = [c for c in HARD_CASES if c in hard_cases]
    for column in known + [c for c in hard_cases.columns if c not in HARD_CASES and c != id_column]:
        values = hard_cases[column]
        if pd.api.types.is_bool_dtype(values):
            label, how = HARD_CASES.get(column, (column.replace("_", " "), "flag"))
            flag = values.fillna(False).to_numpy(dtype=bool)
            if how == "absent":
                rows.append(_case_row(f"not_{column}", label, ~flag, outcome))
            else:
                rows.append(_case_row(column, label, flag, outcome))
        elif pd.api.types.is_integer_dtype(values):
            label, how = HARD_CASES.get(column, (column.replace("_", " "), "buckets"))
            count = values.fillna(0).to_numpy(dtype=np.int64)
            if how == "any":
                rows.append(_case_row(column, label, count > 0, outcome))
            else:
                for case, mask in ((f"{column}=0", count == 0), (f"{column}=1", count == 1),
                                   (f"{column}>=2", count >= 2)):
                    rows.append(_case_row(case, f"{label}: {case.removeprefix(column)}", mask, outcome))
    return rows


def format_hard_cases(rows: list[dict]) -> str:
    """The by-hard-case breakdown as a compact fixed-width table (counts only)."""
    lines = [f"{'hard case':<26s} {'patients':>9s} {'found/in SNDS':>15s} {'recall':>7s} {'false links':>11s}"]
    for r in rows:
        recall = "-" if r["recall"] is None else f"{r['recall']:.4f}"
        lines.append(f"{r['case']:<26s} {r['patients']:>9,} {r['found']:>7,}/{r['true_pairs']:<7,} {recall:>7s} "
                     f"{r['false_links']:>11,}")
    return "\n".join(lines)


def truth_section(report_data, one_to_one: pd.DataFrame, pairs: TruthPairs, quality_report: dict) -> dict:
    """What the linkage report shows with the truth: the true precision, recall and F1 on the threshold
    tool's grid (over the one-to-one pairs, so below the chosen threshold too), true and false pairs
    among each pattern's one-to-one pairs, the errors by hard case (counts only) and the overall figures."""
    from linkage.report.data import true_curve

    correct = _correct(one_to_one.left_id, one_to_one.right_id, pairs)
    grid = np.asarray(report_data.threshold["threshold"], dtype=float)
    patterns = one_to_one["pattern"].to_numpy().astype(np.int64)
    size = len(report_data.patterns["count"])
    keys = ("links", "true_pairs", "true_positives", "false_positives", "false_negatives", "precision", "recall",
            "f1", "pairs_completeness", "reduction_ratio")
    return {"quality": {k: quality_report[k] for k in keys if k in quality_report},
            "threshold": true_curve(one_to_one.match_probability.to_numpy(), correct, len(pairs), grid),
            "patterns": {"correct": np.bincount(patterns[correct], minlength=size).tolist(),
                         "wrong": np.bincount(patterns[~correct], minlength=size).tolist()},
            "by_hard_case": quality_report.get("by_hard_case", [])}


def write_truth_report(run_dir, out_dir, pairs: TruthPairs, quality_report: dict,
                       links_to: dict[str, str] | None = None, placed_in=None) -> dict:
    """The run's linkage report (``report_data.json`` and ``one_to_one.parquet`` in ``run_dir``) again,
    with the truth, as ``out_dir/report.html``; its links to other reports re-based on where the page will be
    read: ``placed_in`` (the folder a staging ``out_dir`` becomes), else ``out_dir``.
    Returns {} (nothing written) if the run wrote no report (``link --no-charts``, or an older run)."""
    import os
    from pathlib import Path

    from harmonie.io import write_text
    from linkage.report.data import DATA_FILE, PAGE_FILE, PAIRS_FILE, LinkReportData
    from linkage.report.page import render_page

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    base = Path(placed_in) if placed_in is not None else out_dir
    if not (run_dir / DATA_FILE).is_file() or not (run_dir / PAIRS_FILE).is_file():
        return {}
    data = LinkReportData.load(run_dir / DATA_FILE)
    one_to_one = pd.read_parquet(run_dir / PAIRS_FILE, columns=["left_id", "right_id", "match_probability", "pattern"])
    data = data.with_truth(truth_section(data, one_to_one, pairs, quality_report))
    rebased = {title: os.path.relpath(run_dir / href, base) for title, href in data.links_to.items()
               if (run_dir / href).resolve() != (base / PAGE_FILE).resolve()}  # not to this page itself
    if (run_dir / PAGE_FILE).resolve() != (base / PAGE_FILE).resolve():
        rebased = {"linkage report (without the truth)": os.path.relpath(run_dir / PAGE_FILE, base), **rebased}
    data.links_to = {**rebased, **(links_to or {})}
    return {"report": write_text(render_page(data, base / PAGE_FILE), out_dir / PAGE_FILE),
            "one_to_one": one_to_one}


def evaluate_links(links: pd.DataFrame, truth: pd.DataFrame, left_crosswalk: pd.DataFrame,
                   right_crosswalk: pd.DataFrame, duplicates: pd.DataFrame | None = None, *,
                   summary_path=None, out_dir=None, candidates_path=None,
                   hard_cases: pd.DataFrame | None = None, run_dir=None,
                   links_to: dict[str, str] | None = None, placed_in=None) -> dict:
    """Quality of links against truth; with ``out_dir``, writes evaluation.json and a PR curve (``placed_in``:
    the folder ``out_dir`` becomes, when it is a command's staging folder, for the report's relative links).
    With the candidate pairs file (``candidates.parquet``), also the blocking's pairs completeness;
    with the simulator's hard cases table, recall and false links by hard case (``by_hard_case``).
    With ``run_dir`` (the link run's folder, holding its linkage report) and ``out_dir``, also the
    linkage report with the truth (``report.html``: :func:`write_truth_report`), and the PR curve
    over every one-to-one pair, not only the links."""
    import json
    from pathlib import Path

    from harmonie.errors import HarmonieError

    for name, frame, needed in (("links", links, ("left_id", "right_id", "match_probability")),
                                ("crosswalk", left_crosswalk, ("local_id", "linkage_id")),
                                ("crosswalk", right_crosswalk, ("local_id", "linkage_id"))):
        missing = [c for c in needed if c not in frame]
        if missing:
            raise HarmonieError(f"the {name} table lacks column(s) {', '.join(missing)}")
    pairs = truth_pairs(truth, left_crosswalk, right_crosswalk, duplicates)
    check_truth_maps(pairs)
    report = quality(links, pairs)
    if hard_cases is not None:
        if truth.columns[0] not in hard_cases:
            raise HarmonieError(f"the hard cases table lacks the truth's id column {truth.columns[0]}")
        report["by_hard_case"] = by_hard_case(links, truth, left_crosswalk, pairs, hard_cases)
    if candidates_path is not None:
        report["pairs_completeness"] = pairs_completeness_in_file(candidates_path, pairs)
    if summary_path is not None and Path(summary_path).exists():
        summary = json.loads(Path(summary_path).read_text())
        report["reduction_ratio"] = summary.get("reduction_ratio")
        report["candidate_pairs"] = summary.get("candidate_pairs")
        report["estimated"] = summary.get("estimated")
    if out_dir is not None:
        from harmonie.io import ensure_output_dir, write_text

        out = ensure_output_dir(out_dir)
        enriched = write_truth_report(run_dir, out, pairs, report, links_to, placed_in) if run_dir is not None else {}
        ranked = enriched.get("one_to_one", links)  # every pair a threshold could link, when the run says
        curve = precision_recall_curve(ranked, pairs)
        report["paths"] = {"json": "evaluation.json", "curve": "precision_recall.png"}  # beside each other
        if "report" in enriched:
            report["paths"]["report"] = "report.html"
        write_text(json.dumps(report, indent=2) + "\n", out / "evaluation.json")
        _plot_curve(curve, report, out / "precision_recall.png", over_one_to_one="one_to_one" in enriched)
        report["paths"] = {kind: str(out / name) for kind, name in report["paths"].items()}
    return report


def _plot_curve(curve: pd.DataFrame, report: dict, path, *, over_one_to_one: bool = False) -> None:
    """Precision against recall of the pairs above each probability: over every one-to-one pair when the
    run gave them (the curve then goes on below the chosen threshold), else over the links. The axes cover
    the thresholds 0.05 to 0.99, so the part where a threshold could be chosen fills the frame instead of a
    corner of it (the full curve, over every threshold, is the linkage report's threshold tool)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    label = "one-to-one pairs above each probability" if over_one_to_one else "links above each probability"
    ax.plot(curve.recall, curve.precision, color="#4477aa", label=label, drawstyle="steps-post")
    ax.scatter([report["recall"]], [report["precision"]], color="#cc3311", zorder=3, label="chosen threshold")
    if report.get("estimated"):
        e = report["estimated"]
        ax.scatter([e["recall"]], [e["precision"]], marker="x", color="black", zorder=3, label="model's own estimate")
    window = (curve.threshold >= 0.05) & (curve.threshold <= 0.99)
    shown = curve[window] if window.any() else curve
    points = [report["precision"]] + ([report["estimated"]["precision"]] if report.get("estimated") else [])
    low_p = min([*points, float(shown.precision.min()) if len(shown) else 1.0])
    recalls = [report["recall"]] + ([report["estimated"]["recall"]] if report.get("estimated") else [])
    low_r = min([*recalls, float(shown.recall.min()) if len(shown) else 0.0])
    high_r = max([*recalls, float(shown.recall.max()) if len(shown) else 1.0])
    pad_p, pad_r = max((1 - low_p) * 0.1, 0.002), max((high_r - low_r) * 0.1, 0.002)
    ax.set_ylim(max(low_p - pad_p, 0), min(1 + pad_p / 4, 1.01))
    ax.set_xlim(max(low_r - pad_r, 0), min(high_r + pad_r, 1.01))
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision-recall (F1 {report['f1']:.4f}; thresholds 0.05-0.99)")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
