"""Yearly refresh (#19 item 3): six extractions 2025 -> 2030, refreshed each year, against a full relink.

    .venv/bin/python benchmarks/bench_refresh.py                      # canto:1200,esme:14000,odh:4800 x 300,000 (2030)
    .venv/bin/python benchmarks/bench_refresh.py --rotate 2028        # a key rotation before 2028's refresh

For each year: every holder encodes its files (in-process, `encode_simulated`: what each holder's
`harmonie encode --holder` writes), then the linkage unit runs, as child processes (time and peak
RSS their own), ``harmonie link-all`` (the full relink, EM included) and, from 2026 on,
``harmonie link-all --previous <last year's refresh>`` (``--rekey`` maps in the rotation year).
Both are measured against the truth (``evaluate_clusters``), and the refresh's ids against last
year's: the share of patients whose records did not change (no flag in the simulator's
``changes.parquet``) that keep their Harmonie id, and whether every record whose id changed,
and every new record, is in the change log. Writes benchmarks/results/refresh_<size>.json and
prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _measure import measure  # noqa: E402

FLAGS = ["new", "events_added", "death_added", "moved", "identity_corrected"]


def _run(command: list) -> object:
    m = measure([str(c) for c in command])
    if m.exit_code:
        sys.exit(f"failed: {' '.join(map(str, command))}\n{m.stderr[-3000:]}")
    return m


def _ids_by_person(clusters: pd.DataFrame, crosswalks: dict, truth: pd.DataFrame) -> pd.Series:
    walk = pd.concat([cw.assign(source=s) for s, tables in crosswalks.items() for cw in tables]).drop_duplicates()
    mapped = truth.merge(walk, on=["source", "local_id"]).merge(clusters, on=["source", "linkage_id"])
    return mapped.groupby("person").harmonie_id.agg(frozenset)


def _quality(run: Path, plan, crosswalks: dict, truth: pd.DataFrame) -> dict:
    from linkage.multisource import evaluate_clusters

    pairs = [(p.name, p.left, p.right, pd.read_parquet(run / "pairs" / p.name / "links.parquet")) for p in plan.pairs]
    report = evaluate_clusters(pd.read_parquet(run / "clusters.parquet"), truth, crosswalks,
                               {s.name: s.duplicate_free for s in plan.sources}, pair_links=pairs)
    return {"exact_f1": report["clusters"]["exact"]["f1"],
            "pairwise_f1": report["clusters"]["pairwise_with_a_cohort_record"]["f1"],
            "pair_f1": {q["pair"]: q["f1"] for q in report["pairs"]}}


def _stability(previous_run: Path, run: Path, before: tuple, after: tuple, flags: pd.DataFrame, truth: pd.DataFrame
               ) -> dict:
    """Unchanged patients keeping their id, and the change log against what really changed."""
    old = _ids_by_person(pd.read_parquet(previous_run / "clusters.parquet"), before[0], before[1])
    new = _ids_by_person(pd.read_parquet(run / "clusters.parquet"), *after)
    touched = set(truth.merge(flags[flags[FLAGS].any(axis=1)], on=["source", "local_id"]).person)
    steady = [p for p in old.index if p not in touched and p in new.index]
    kept = sum(old[p] == new[p] for p in steady)
    log = pd.read_parquet(run / "changes.parquet")
    clusters, previous = pd.read_parquet(run / "clusters.parquet"), pd.read_parquet(previous_run / "clusters.parquet")
    if "rekey" in before[2]:  # compare in this year's linkage ids
        previous = previous.merge(before[2]["rekey"], on=["source", "linkage_id"]).drop(columns="linkage_id") \
            .rename(columns={"new_linkage_id": "linkage_id"})
    joined = clusters.merge(previous, on=["source", "linkage_id"], how="left", suffixes=("", "_before"))
    moved = set(zip(*(joined[joined.harmonie_id_before.notna() & (joined.harmonie_id != joined.harmonie_id_before)][c]
                      for c in ("source", "linkage_id"))))
    logged = set(zip(*(log[log.kind == "record_moved"][c] for c in ("source", "linkage_id"))))
    added = set(zip(*(joined[joined.harmonie_id_before.isna()][c] for c in ("source", "linkage_id"))))
    logged_added = set(zip(*(log[log.kind == "record_added"][c] for c in ("source", "linkage_id"))))
    return {"unchanged_patients": len(steady), "kept_their_id": kept / max(len(steady), 1),
            "records_moved": len(moved), "moves_logged": moved == logged, "records_added": len(added),
            "additions_logged": added == logged_added, "log": log.kind.value_counts().to_dict()}


def main() -> int:
    from linkage.datasets.cohorts import parse_cohorts
    from linkage.datasets.warehouse import make_warehouse
    from linkage.multisource import example_plan, load_plan
    from linkage.multisource.examples import encode_simulated
    from privacy.keys import LinkageKey

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", default="canto:1200,esme:14000,odh:4800")
    parser.add_argument("--snds", type=int, default=300_000)
    parser.add_argument("--years", default="2025-2030")
    parser.add_argument("--rotate", type=int, help="a key rotation before this year's refresh")
    parser.add_argument("--work", type=Path, help="work folder (kept) [default: a temporary one, removed]")
    args = parser.parse_args()
    harmonie = str(Path(sys.executable).parent / "harmonie")
    root = args.work or Path(tempfile.mkdtemp(prefix="harmonie-bench-refresh-"))
    root.mkdir(parents=True, exist_ok=True)
    first, last = (int(y) for y in args.years.split("-"))
    load_before = os.popen("uptime").read().strip()
    rows = []
    try:
        warehouse = make_warehouse(parse_cohorts(args.cohorts), args.snds, seed=0, years=(first, last))
        warehouse.write(root / "wh")
        names = [p.name for p in warehouse.params.programmes]
        key = LinkageKey(bytes(range(32)))
        previous = None
        for year in warehouse.years:
            rotate = args.rotate == year
            if rotate:
                key = LinkageKey(bytes(range(1, 33)))
            plan_dir = root / f"plan{year}"
            for name, text in example_plan(names).items():
                plan_dir.mkdir(exist_ok=True)
                (plan_dir / name).write_text(text)
            plan = load_plan(plan_dir / "plan.toml")
            crosswalks = encode_simulated(plan, root / "wh" / str(year), key)
            truth = pd.read_parquet(root / "wh" / str(year) / "record_truth.parquet")
            full = _run([harmonie, "link-all", "--plan", plan_dir / "plan.toml", "--out", root / f"full{year}"])
            row = {"year": year, "full_seconds": round(full.wall_seconds, 1),
                   "full_peak_rss_gb": round(full.peak_rss_gb, 2),
                   "full": _quality(root / f"full{year}", plan, crosswalks, truth)}
            if previous is not None:
                prev_run, prev_crosswalks = previous
                extra, rekey = [], {}
                if rotate:
                    maps = []
                    for source in [*names, "snds"]:
                        pair = f"{source}-snds" if source != "snds" else f"{names[0]}-snds"
                        out = root / f"{source}.{year}.map.parquet"
                        _run([harmonie, "rekey-map", "--old-crosswalk",
                              root / f"plan{year - 1}" / "crosswalks" / f"{pair}.{source}.parquet",
                              "--new-crosswalk", plan_dir / "crosswalks" / f"{pair}.{source}.parquet", "--out", out])
                        extra += ["--rekey", f"{source}={out}"]
                        maps.append(pd.read_parquet(out).assign(source=source))
                    rekey = {"rekey": pd.concat(maps).rename(columns={"old_linkage_id": "linkage_id"})}
                refresh = _run([harmonie, "link-all", "--plan", plan_dir / "plan.toml", "--out",
                                root / f"refresh{year}", "--previous", prev_run, *extra])
                row.update({"refresh_seconds": round(refresh.wall_seconds, 1),
                            "refresh_peak_rss_gb": round(refresh.peak_rss_gb, 2), "rotated": rotate,
                            "refresh": _quality(root / f"refresh{year}", plan, crosswalks, truth),
                            "ids": _stability(prev_run, root / f"refresh{year}", (*prev_crosswalks, rekey),
                                              (crosswalks, truth),
                                              pd.read_parquet(root / "wh" / str(year) / "changes.parquet"), truth)})
                row["ratio"] = round(row["refresh_seconds"] / row["full_seconds"], 3)
                previous = (root / f"refresh{year}", (crosswalks, truth))
            else:
                previous = (root / f"full{year}", (crosswalks, truth))
            rows.append(row)
            print(json.dumps(row, default=str), file=sys.stderr)
        report = {"cohorts": args.cohorts, "snds": args.snds, "years": [first, last], "rotate": args.rotate,
                  "rows": rows, "load": {"before": load_before, "after": os.popen("uptime").read().strip()}}
        results = Path(__file__).parent / "results"
        results.mkdir(exist_ok=True)
        label = f"{sum(int(s.split(':')[1]) for s in args.cohorts.split(',')) // 1000}k_x_{args.snds // 1000}k"
        (results / f"refresh_{label}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(_markdown(report))
    finally:
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def _markdown(report: dict) -> str:
    lines = ["| year | full relink (s) | refresh (s) | refresh / relink | exact F1 relink / refresh | "
             "unchanged patients keeping their id | moves and additions all logged | change log |",
             "|---|---:|---:|---:|---|---:|---|---|"]
    for r in report["rows"]:
        if "refresh" not in r:
            lines.append(f"| {r['year']} | {r['full_seconds']:.1f} | - | - | {r['full']['exact_f1']:.4f} / - "
                         "| - | - | - |")
            continue
        ids = r["ids"]
        log = ", ".join(f"{k} {v:,}" for k, v in sorted(ids["log"].items()))
        lines.append(f"| {r['year']}{' (key rotated)' if r['rotated'] else ''} | {r['full_seconds']:.1f} | "
                     f"{r['refresh_seconds']:.1f} | {r['ratio']:.2f} | {r['full']['exact_f1']:.4f} / "
                     f"{r['refresh']['exact_f1']:.4f} | {ids['kept_their_id']:.4f} of {ids['unchanged_patients']:,} | "
                     f"{ids['moves_logged'] and ids['additions_logged']} | {log} |")
    final = report["rows"][-1]
    pairs = ", ".join(f"{p} {final['full']['pair_f1'][p]:.4f} / {final['refresh']['pair_f1'][p]:.4f}"
                      for p in final["full"]["pair_f1"]) if "refresh" in final else ""
    lines += ["", f"Final year {final['year']}, per-pair F1 relink / refresh: {pairs}",
              f"load: before `{report['load']['before']}`, after `{report['load']['after']}`"]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
