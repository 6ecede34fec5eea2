"""Several cohorts, one patient id (#19): three programmes and SNDS linked pair by pair and clustered.

    .venv/bin/python benchmarks/bench_multisource.py                       # canto:1200,esme:14000,odh:4800 x 300,000
    .venv/bin/python benchmarks/bench_multisource.py --cohorts canto:12000,esme:141000,odh:40000 --snds 3000000

Every step is the real command, run as a child process (time per stage and peak RSS are its own):

1. ``harmonie simulate --cohorts ... --snds ...`` (one extraction);
2. ``harmonie keys new``, ``harmonie plan example`` (each cohort x SNDS with the indirect spec and the
   shared FINESS map, the cohorts with each other with the names spec);
3. every holder encodes each of its pair files (``harmonie encode --holder SOURCE``);
4. ``harmonie link-all --plan`` (the linkage unit: six pairs, then the clustering);
5. ``harmonie evaluate-clusters`` (the evaluator: cluster-level and per-pair quality);
6. the reference: today's single link, one cohort of the same total size x the same SNDS size
   (``simulate --cohort N``, encode, ``link``, indirect spec with the FINESS map), for the issue's
   "≤ 2x the time of today's single link" (``--no-reference`` skips it).

Writes benchmarks/results/multisource_<size>.json and prints Markdown for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure, stage_table  # noqa: E402

PASSPHRASE = {"HARMONIE_KEY_PASSPHRASE": "benchmark passphrase, not a secret"}


def _run(command: list[str], env: dict | None = None):
    m = measure([str(c) for c in command], env={**PASSPHRASE, **(env or {})})
    if m.exit_code:
        sys.exit(f"failed: {' '.join(map(str, command))}\n{m.stderr[-3000:]}")
    return m


def _load() -> str:
    return os.popen("uptime").read().strip()


def _tables(source: str) -> tuple[str, str]:
    return ("snds_beneficiaries", "snds_stays") if source == "snds" else (f"{source}_patients", f"{source}_stays")


def _encode_all(harmonie: str, key: Path, plan_dir: Path, population: Path) -> dict[str, float]:
    """Each holder encodes its file of each pair it is in; seconds per holder (all its encodings)."""
    sys.path.insert(0, str(Path(__file__).parent.parent))
    from linkage.multisource.plan import load_plan
    from linkage.spec import load_spec

    plan = load_plan(plan_dir / "plan.toml")
    seconds: dict[str, float] = {}
    for pair in plan.pairs:
        groups = any(f.establishment_groups for f in load_spec(pair.spec).fields)
        for source, out in ((pair.left, pair.left_file), (pair.right, pair.right_file)):
            records, stays = _tables(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            command = [harmonie, "-q", "encode", "--spec", pair.spec, "--key", key, "--holder", source,
                       "--in", population / f"{records}.parquet", "--stays", population / f"{stays}.parquet",
                       "--out", out, "--crosswalk", plan_dir / "crosswalks" / f"{pair.name}.{source}.parquet"]
            if groups:
                command += ["--finess-map", population / "finess_entities.parquet"]
            seconds[source] = seconds.get(source, 0.0) + _run(command).wall_seconds
    return {k: round(v, 1) for k, v in seconds.items()}


def _reference(harmonie: str, key: Path, n_cohort: int, n_snds: int, work: Path) -> dict:
    """Today's single link: one cohort of the same total size x SNDS, indirect spec."""
    pop, spec = work / "single", work / "single_indirect.toml"
    simulate = _run([harmonie, "simulate", "--out", pop, "--cohort", n_cohort, "--snds", n_snds, "--seed", 0, "--json"])
    _run([harmonie, "spec", "example", "indirect", "--out", spec])
    for role, (records, stays) in (("cohort", ("cohort_patients", "cohort_stays")),
                                   ("snds", ("snds_beneficiaries", "snds_stays"))):
        _run([harmonie, "-q", "encode", "--spec", spec, "--key", key, "--holder", role, "--in",
              pop / f"{records}.parquet", "--stays", pop / f"{stays}.parquet", "--finess-map",
              pop / "finess_entities.parquet", "--out", work / f"single.{role}.parquet",
              "--crosswalk", work / f"single.{role}.crosswalk.parquet"])
    link = _run([harmonie, "link", "--spec", spec, "--left", work / "single.cohort.parquet", "--right",
                 work / "single.snds.parquet", "--out", work / "single_run", "--no-charts"])
    return {"simulate_seconds": round(simulate.wall_seconds, 1), "link_seconds": round(link.wall_seconds, 1),
            "link_peak_rss_gb": round(link.peak_rss_gb, 2), "link_stages": link.stages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", default="canto:1200,esme:14000,odh:4800")
    parser.add_argument("--snds", type=int, default=300_000)
    parser.add_argument("--work", type=Path, help="work folder (kept) [default: a temporary one, removed]")
    parser.add_argument("--no-reference", action="store_true", help="skip today's single link for the time ratio")
    args = parser.parse_args()
    harmonie = str(Path(sys.executable).parent / "harmonie")
    root = args.work or Path(tempfile.mkdtemp(prefix="harmonie-bench-multisource-"))
    root.mkdir(parents=True, exist_ok=True)
    sizes = {name: int(size) for name, size in (item.split(":") for item in args.cohorts.split(","))}
    total = sum(sizes.values())
    label = f"{total // 1000}k_x_{args.snds // 1000}k"
    load_before = _load()
    try:
        pop, plan, run, key = root / "pop", root / "plan", root / "run", root / "linkage.key"
        simulate = _run([harmonie, "simulate", "--out", pop, "--cohorts", args.cohorts, "--snds", args.snds,
                         "--seed", 0, "--json"])
        _run([harmonie, "keys", "new", "--out", key])
        _run([harmonie, "plan", "example", "--cohorts", ",".join(sizes), "--out", plan])
        encode = _encode_all(harmonie, key, plan, pop)
        link_all = _run([harmonie, "link-all", "--plan", plan / "plan.toml", "--out", run])
        crosswalks = []
        for source in [*sizes, "snds"]:
            pair = f"{source}-snds" if source != "snds" else f"{next(iter(sizes))}-snds"
            crosswalks += ["--crosswalk", f"{source}={plan / 'crosswalks' / f'{pair}.{source}.parquet'}"]
        evaluate = _run([harmonie, "evaluate-clusters", "--run", run, "--truth", pop / "record_truth.parquet",
                         *crosswalks])
        evaluation = json.loads((run / "cluster_evaluation.json").read_text())
        summary = json.loads((run / "cluster_summary.json").read_text())
        reference = None if args.no_reference else _reference(harmonie, key, total, args.snds, root)
        load_after = _load()
        report = {"cohorts": sizes, "snds": args.snds, "population": json.loads(simulate.stdout),
                  "simulate_seconds": round(simulate.wall_seconds, 1),
                  "simulate_peak_rss_gb": round(simulate.peak_rss_gb, 2),
                  "encode_seconds": encode, "link_all_seconds": round(link_all.wall_seconds, 1),
                  "link_all_peak_rss_gb": round(link_all.peak_rss_gb, 2), "link_all_stages": link_all.stages,
                  "pairs": summary["pairs"], "clustering": summary["clustering"], "evaluation": evaluation,
                  "evaluate_seconds": round(evaluate.wall_seconds, 1), "reference": reference,
                  "load": {"before": load_before, "after": load_after}}
        results = Path(__file__).parent / "results"
        results.mkdir(exist_ok=True)
        (results / f"multisource_{label}.json").write_text(json.dumps(report, indent=2) + "\n")
        print(_markdown(report, link_all))
    finally:
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def _markdown(r: dict, link_all) -> str:
    e, c = r["evaluation"], r["evaluation"]["clusters"]
    o = r["population"]["overlaps"]
    sizes = ", ".join(f"{k} {v:,}" for k, v in r["cohorts"].items())
    lines = [f"### {sum(r['cohorts'].values()):,} cohort patients ({sizes}) x {r['snds']:,} SNDS", "",
             f"Overlap: {o['distinct_persons']:,} distinct patients, {o['in_two_or_more']:,} in two programmes or more "
             f"({', '.join(f'{k} {v:,}' for k, v in o['pairs'].items())}), {o['records_from_two_centres']:,} with "
             f"records from two centres, {o['cohort_only_persons']:,} absent from SNDS.", "",
             "| pair | links | precision | recall | F1 | time (s) |", "|---|---:|---:|---:|---:|---:|"]
    seconds = {p["name"]: p["seconds"] for p in r["pairs"]}
    for q in e["pairs"]:
        lines.append(f"| {q['pair']} | {q['links']:,} | {q['precision']:.4f} | {q['recall']:.4f} | {q['f1']:.4f} | "
                     f"{seconds.get(q['pair'], 0):.1f} |")
    w, k, x = c["pairwise"], c["pairwise_with_a_cohort_record"], c["exact"]
    lines += ["", "| clusters | precision | recall | F1 |", "|---|---:|---:|---:|",
              f"| pairwise, every record pair | {w['precision']:.4f} | {w['recall']:.4f} | {w['f1']:.4f} |",
              f"| pairwise, pairs with a cohort record | {k['precision']:.4f} | {k['recall']:.4f} | {k['f1']:.4f} |",
              f"| exact clusters (cohort patients) | {x['precision']:.4f} | {x['recall']:.4f} | {x['f1']:.4f} |", "",
              f"{c['clusters']:,} patients for {c['persons']:,} persons; {c['persons_split']:,} persons split, "
              f"{c['clusters_merging_persons']:,} clusters merging persons; cohort records in SNDS with their SNDS id "
              f"{e['patients']['with_their_snds_id']:.4f}; patients of two programmes or more in one cluster "
              f"{e['patients']['of_which_one_cluster']:.4f}; {e['conflicts']['refused_links']:,} links refused "
              f"({e['conflicts']['of_which_wrong']:,} of them wrong; {r['clustering']['resolved_components']:,} "
              f"clusters resolved, {r['clustering']['checked_pairs']:,} unlinked pairs scored).", "",
              f"`link-all` (six pairs + clustering): {r['link_all_seconds']:.1f} s, peak RSS "
              f"{r['link_all_peak_rss_gb']:.2f} GB", "", stage_table(link_all), "",
              f"simulate {r['simulate_seconds']:.1f} s ({r['simulate_peak_rss_gb']:.2f} GB); encode per holder "
              f"(all its files): {', '.join(f'{k} {v:.1f} s' for k, v in r['encode_seconds'].items())}; evaluate-clusters "
              f"{r['evaluate_seconds']:.1f} s"]
    if r["reference"]:
        ref = r["reference"]
        lines.append(f"today's single link ({sum(r['cohorts'].values()):,} x {r['snds']:,}, indirect): "
                     f"{ref['link_seconds']:.1f} s, {ref['link_peak_rss_gb']:.2f} GB -> link-all / single link = "
                     f"{r['link_all_seconds'] / ref['link_seconds']:.2f}")
    lines.append(f"load: before `{r['load']['before']}`, after `{r['load']['after']}`")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
