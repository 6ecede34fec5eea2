"""Local engine vs Spark engine on the same encoded files (issue 10).

    .venv/bin/python benchmarks/bench_spark.py --spec S.toml --left cohort.parquet --right snds.parquet \\
        [--label 20k] [--master 'local[2]'] [--driver-memory 6g] [--engines local,spark]
    .venv/bin/python benchmarks/bench_spark.py plan 1000000x60000000 benchmarks/results/spark_*.json

Each engine runs `harmonie link` as a child process (--no-charts) on the same files. For
each: wall time per stage (the `done <stage>` lines), and peak memory of the whole process
tree sampled from /proc every 0.2 s (for Spark: the Python driver, the JVM and its Python
workers together; wait4's peak RSS would only see the largest single process). The two
runs' links, grey zone, model and summary are compared (identical or not).

For Spark, the event log is parsed per plan stage (the engine names its jobs `harmonie:
<stage>`): tasks, task-seconds (executor run time), shuffle bytes, and the throughput per
task-second of each stage's main quantity (records loaded, blocking proposals, candidate
pairs compared and scored), the figures the capacity plan in RESULTS.md extrapolates from.
Writes benchmarks/results/spark_<label>.json and prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

_STAGE = re.compile(r"done (?P<label>.+) \((?P<seconds>[\d.]+) s, peak RSS (?P<rss>[\d.]+) GB\)")


def _tree(root: int) -> tuple[int, dict[int, float]]:
    """Resident memory of ``root`` and all its descendants (bytes, summed), and the CPU
    seconds (user + system) each of them has used so far."""
    children, rss, cpu = defaultdict(list), {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    total, seen, stack = 0, {}, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        seen[pid] = cpu.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total, seen


def run_measured(command: list[str], env: dict) -> dict:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, text=True, env={**os.environ, **env})
        peak, loads, cpu, done = [0], [], {}, threading.Event()

        def sample():
            while not done.is_set():
                rss, seconds = _tree(proc.pid)
                peak[0] = max(peak[0], rss)
                for pid, used in seconds.items():
                    cpu[pid] = max(cpu.get(pid, 0.0), used)
                loads.append(os.getloadavg()[0])
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(command)}\n{stderr[-3000:]}")
    stages = [{"stage": m["label"], "seconds": float(m["seconds"])} for m in _STAGE.finditer(stderr)]
    # the machine's 1-minute load average during the run: above the core count, other work
    # was competing for the CPU and the times are upper bounds
    return {"wall_seconds": round(wall, 1), "peak_tree_rss_gb": round(peak[0] / 1024**3, 2), "stages": stages,
            "mean_load_average": round(sum(loads) / max(len(loads), 1), 1),
            # CPU seconds of the whole tree (last sample of each process): the work done, which
            # other jobs on the machine do not inflate the way they inflate wall time
            "cpu_seconds": round(sum(cpu.values()), 1), "stdout": stdout}


def parse_event_log(directory: Path) -> dict[str, dict]:
    """Per `harmonie: <stage>` job description: tasks, task-seconds, records, shuffle bytes."""
    apps = sorted(directory.iterdir(), key=lambda p: p.stat().st_mtime)
    if not apps:
        return {}
    app = apps[-1]
    files = sorted(app.glob("events_*")) if app.is_dir() else [app]
    stage_desc, per = {}, defaultdict(lambda: defaultdict(float))
    for path in files:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                event = json.loads(line)
                kind = event["Event"]
                if kind == "SparkListenerJobStart":
                    description = (event.get("Properties") or {}).get("spark.job.description") or "other"
                    for stage_id in event["Stage IDs"]:
                        stage_desc.setdefault(stage_id, description.removeprefix("harmonie: "))
                elif kind == "SparkListenerTaskEnd":
                    metrics = event.get("Task Metrics") or {}
                    name = stage_desc.get(event["Stage ID"], "other")
                    row = per[name]
                    row["tasks"] += 1
                    row["task_seconds"] += metrics.get("Executor Run Time", 0) / 1000
                    row["input_records"] += (metrics.get("Input Metrics") or {}).get("Records Read", 0)
                    row["shuffle_write_bytes"] += (metrics.get("Shuffle Write Metrics") or {}).get(
                        "Shuffle Bytes Written", 0)
                    row["shuffle_read_bytes"] += sum((metrics.get("Shuffle Read Metrics") or {}).get(k, 0)
                                                     for k in ("Remote Bytes Read", "Local Bytes Read"))
                    row["peak_task_execution_memory_mb"] = max(row["peak_task_execution_memory_mb"],
                                                               metrics.get("Peak Execution Memory", 0) / 1e6)
    return {name: {k: round(v, 2) for k, v in row.items()} for name, row in per.items()}


def same_outputs(a: Path, b: Path) -> dict:
    import pyarrow.parquet as pq

    result = {name: pq.read_table(a / name).equals(pq.read_table(b / name))
              for name in ("links.parquet", "grey_zone.parquet")}
    result["model.json"] = (a / "model.json").read_text() == (b / "model.json").read_text()
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (a, b))
    sa.pop("engine", None), sb.pop("engine", None)
    result["summary.json"] = sa == sb
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--left", required=True, type=Path)
    parser.add_argument("--right", required=True, type=Path)
    parser.add_argument("--label", default="run")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--engines", default="local,spark")
    parser.add_argument("--keep", type=Path, help="keep the outputs here instead of a temporary folder")
    args = parser.parse_args()
    harmonie = str(Path(sys.executable).with_name("harmonie"))
    work = args.keep or Path(tempfile.mkdtemp(prefix="harmonie-bench-spark-"))
    work.mkdir(parents=True, exist_ok=True)
    events = work / "spark-events"
    shutil.rmtree(events, ignore_errors=True)
    events.mkdir()
    report = {"label": args.label, "spec": str(args.spec), "left": str(args.left), "right": str(args.right),
              "master": args.master, "driver_memory": args.driver_memory, "cores": os.cpu_count()}
    try:
        for engine in args.engines.split(","):
            command = [harmonie, "--audit-log", str(work / "audit.jsonl"), "link", "--spec", str(args.spec),
                       "--left", str(args.left), "--right", str(args.right), "--out", str(work / engine),
                       "--no-charts"]
            env = {}
            if engine == "spark":
                command += ["--engine", "spark", "--spark-master", args.master]
                env["PYSPARK_SUBMIT_ARGS"] = (
                    f"--driver-memory {args.driver_memory} --conf spark.eventLog.enabled=true "
                    f"--conf spark.eventLog.dir=file://{events} --conf spark.eventLog.compress=false pyspark-shell")
            print(f"running {engine} ...", file=sys.stderr, flush=True)
            report[engine] = run_measured(command, env)
            print(f"  {report[engine]['wall_seconds']} s, peak {report[engine]['peak_tree_rss_gb']} GB",
                  file=sys.stderr, flush=True)
        if "spark" in report:
            report["spark"]["event_log"] = parse_event_log(events)
        if "local" in report and "spark" in report:
            report["identical"] = same_outputs(work / "local", work / "spark")
        summary_path = work / ("spark" if "spark" in report else "local") / "summary.json"
        summary = json.loads(summary_path.read_text())
        report["records"] = {"left": summary["left"]["records"], "right": summary["right"]["records"]}
        report["candidate_pairs"] = summary["candidate_pairs"]
        report["proposals"] = sum(p["pairs"] for p in summary["blocking"])
        report["links"] = summary.get("links")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    for engine in ("local", "spark"):
        if engine in report:
            report[engine].pop("stdout", None)
    out = Path(__file__).parent / "results" / f"spark_{args.label}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    return 0


def _stage_key(label: str) -> str:
    for key in ("start", "attach", "load", "blocking", "compare", "EM", "score", "write"):
        if label.startswith(key):
            return key
    return label


def _seconds_by_key(stages: list[dict]) -> dict[str, float]:
    """Seconds per stage key, summed: the local engine's EM is two lines (u's random pairs, then m)."""
    seconds: dict[str, float] = {}
    for s in stages:
        key = _stage_key(s["stage"])
        seconds[key] = round(seconds.get(key, 0.0) + s["seconds"], 1)
    return seconds


def markdown(report: dict) -> str:
    rows = [f"### {report['label']}: {report['records']['left']:,} x {report['records']['right']:,}, "
            f"{report['candidate_pairs']:,} candidate pairs ({report['proposals']:,} proposals), "
            f"{report.get('links') or 0:,} links\n",
            "| stage | local (s) | Spark local[2] (s) | Spark task-s | per task-s |", "|---|---:|---:|---:|---:|"]
    local, spark = (_seconds_by_key(report.get(engine, {}).get("stages", [])) for engine in ("local", "spark"))
    log = {_stage_key(k): v for k, v in report.get("spark", {}).get("event_log", {}).items()}
    quantity = {"load": report["records"]["left"] + report["records"]["right"], "blocking": report["proposals"],
                "compare": report["candidate_pairs"], "score": report["candidate_pairs"]}
    for key in ("start", "load", "blocking", "compare", "EM", "score"):
        task_seconds = log.get(key, {}).get("task_seconds")
        rate = f"{quantity[key] / task_seconds:,.0f}" if key in quantity and task_seconds else ""
        rows.append(f"| {key} | {local.get(key, '')} | {spark.get(key, '')} | "
                    f"{task_seconds if task_seconds is not None else ''} | {rate} |")
    rows.append(f"| **whole command** | **{report.get('local', {}).get('wall_seconds', '')}** | "
                f"**{report.get('spark', {}).get('wall_seconds', '')}** | | |")
    rows.append(f"| CPU seconds, process tree | {report.get('local', {}).get('cpu_seconds', '')} | "
                f"{report.get('spark', {}).get('cpu_seconds', '')} | | |")
    rows.append(f"| mean load average (2 cores) | {report.get('local', {}).get('mean_load_average', '')} | "
                f"{report.get('spark', {}).get('mean_load_average', '')} | | |")
    rows.append(f"| peak memory, process tree (GB) | {report.get('local', {}).get('peak_tree_rss_gb', '')} | "
                f"{report.get('spark', {}).get('peak_tree_rss_gb', '')} | | |")
    if "identical" in report:
        rows.append(f"\nidentical outputs: {report['identical']}")
    return "\n".join(rows)


def capacity_plan(runs: list[dict], n_left: int, n_right: int, cores: list[int]) -> str:
    """Extrapolate the Spark engine's measured per-stage task-seconds to ``n_left x n_right``.

    Per stage, task-seconds = a x right records + b x candidate pairs, fitted on the runs
    given (one run: all of a stage's time on its main quantity). Two workloads: the spec
    tuned so that pairs per cohort record stay as measured (what the blocking guard and a
    finer event key are for), and the same spec unchanged (pairs grow with n_left x n_right).
    Wall time for C executor cores = task-seconds / C + the driver's stages (start, EM,
    one-to-one), scaled with the cohort size. Figures measured on a loaded machine are
    upper bounds: see each run's mean load average.
    """
    import numpy as np

    big = max(runs, key=lambda r: r["candidate_pairs"])
    stages = ("load", "blocking", "compare", "score")
    cost = {}
    for key in stages:
        xs = [(r["records"]["right"], r["candidate_pairs"],
               {_stage_key(k): v for k, v in r["spark"]["event_log"].items()}.get(key, {}).get("task_seconds", 0.0))
              for r in runs]
        if key in ("compare", "score") and len(xs) >= 2:
            a, b = np.linalg.lstsq(np.array([[x[0], x[1]] for x in xs], dtype=float),
                                   np.array([x[2] for x in xs]), rcond=None)[0]
            if a >= 0 and b >= 0:
                cost[key] = (a, b)
                continue
        right, pairs, seconds = max(xs, key=lambda x: x[1])
        cost[key] = (seconds / right, 0.0) if key in ("load", "blocking") else (0.0, seconds / pairs)
    driver = sum(s["seconds"] for s in big["spark"]["stages"] if _stage_key(s["stage"]) in ("start", "EM"))
    left_scale = n_left / big["records"]["left"]
    per_left = big["candidate_pairs"] / big["records"]["left"]
    workloads = {"spec tuned: pairs per cohort record as measured": n_left * per_left,
                 "same spec: pairs grow with cohort x SNDS": big["candidate_pairs"] * left_scale
                 * n_right / big["records"]["right"]}
    lines = [f"### Capacity plan: {n_left:,} x {n_right:,} (from {', '.join(r['label'] for r in runs)})\n",
             "| workload | candidate pairs | " + " | ".join(f"{k} task-h" for k in stages)
             + " | " + " | ".join(f"wall on {c} cores" for c in cores) + " |",
             "|---|---:|" + "---:|" * (len(stages) + len(cores))]
    for name, pairs in workloads.items():
        hours = [(cost[k][0] * n_right + cost[k][1] * pairs) / 3600 for k in stages]
        walls = [60 * (sum(hours) / c + driver * left_scale / 3600) for c in cores]
        lines.append(f"| {name} | {pairs:,.0f} | " + " | ".join(f"{h:,.1f}" for h in hours) + " | "
                     + " | ".join(f"{w:,.0f} min" for w in walls) + " |")
    lines.append(f"\ncost model (task-seconds): " + "; ".join(
        f"{k} = {cost[k][0] * 1e6:,.1f} µs x right records + {cost[k][1] * 1e6:,.2f} µs x pairs" for k in stages))
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "plan":  # bench_spark.py plan 1000000x60000000 results/spark_*.json
        left, right = (int(x) for x in sys.argv[2].split("x"))
        print(capacity_plan([json.loads(Path(f).read_text()) for f in sys.argv[3:]], left, right, [16, 64, 256]))
        sys.exit(0)
    sys.exit(main())
