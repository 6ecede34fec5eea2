"""Harmonie against its peers on the same data, on the same machine, in the same run.

    .venv/bin/python benchmarks/bench_peers.py --population POP --febrl 1,2,3,4 --out benchmarks/results/peers
    .venv/bin/python benchmarks/bench_peers.py --population BIG --scenarios indirect --febrl '' \\
        --methods harmonie,stepwise,splink,recordlinkage --out benchmarks/results/peers-big

(``POP`` = ``harmonie simulate --cohort 20000 --snds 300000 --seed 0``; peers need
``make bench-peers``.) For each dataset: the plaintext fields are normalised once with
Harmonie's own normalisers (``benchmarks/peers/prepare.py``), then every method runs as a
child process with a memory cap (a watchdog on the resident memory of its process tree)
and a wall-time limit, and its wall time and peak RSS are measured from outside:

- harmonie: both holders encode (``harmonie encode``, a fresh key; indirect: with the
  simulation's ``finess_entities.parquet`` as ``--finess-map`` when there), then ``harmonie link
  --no-charts``; its time is encode + link (the peers' times include their own reading and,
  for anonlink, encoding);
- stepwise (indirect only): the deterministic method used for SNDS today, on our tokens;
- splink, recordlinkage, anonlink: ``benchmarks/peers/*_runner.py`` under ``.venv-peers``
  (see benchmarks/README.md for how each is configured and why); ``splink-full`` (FEBRL
  only) is Splink with every FEBRL column, as in Splink's own FEBRL4 example.

Every method's links are scored by one scorer (``benchmarks/peers/scoring.py``) at the
method's own threshold; methods that do not make links one-to-one are also scored after a
greedy one-to-one pass (reported separately). Writes results.json, results.md and
f1_vs_time.png into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Only the standard library is imported at module level: every measured child inherits this
# process's peak RSS at fork (Linux keeps the pre-exec high-water mark), so the harness stays
# small and leaves reading data, scoring and plotting to child processes or to the very end.

PASSPHRASE = {"HARMONIE_KEY_PASSPHRASE": "benchmark passphrase, not a secret"}
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
RUNNERS = {"splink": "splink_runner.py", "splink-full": "splink_runner.py", "recordlinkage": "recordlinkage_runner.py",
           "recordlinkage-serial": "recordlinkage_runner.py", "anonlink": "anonlink_runner.py"}
VARIANTS = {"splink-full": "full", "recordlinkage-serial": "serial"}
ALL_METHODS = "harmonie,harmonie-given,stepwise,splink,splink-full,recordlinkage,recordlinkage-serial,anonlink"
DEFAULT_METHODS = "harmonie,harmonie-given,stepwise,splink,splink-full,recordlinkage,anonlink"
LABELS = {"harmonie": "Harmonie", "harmonie-given": "Harmonie, given names switched on (opt-in)",
          "stepwise": "SNDS stepwise (deterministic)", "splink": "Splink 5 (DuckDB)",
          "splink-full": "Splink 5, all FEBRL fields", "recordlinkage": "recordlinkage (ECM)",
          "recordlinkage-serial": "recordlinkage (ECM), one process",
          "anonlink": "anonlink + clkhash"}


@dataclass
class Limited:
    command: list[str]
    wall_seconds: float
    peak_rss_gb: float
    exit_code: int | None
    timed_out: bool
    stderr: str
    over_memory: bool = False
    cpu_seconds: float = 0.0


def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (from /proc; 0 once it is gone)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return total


def run_limited(command: list[str], timeout: float, memory_bytes: int, env: dict | None = None,
                cwd: Path | None = None) -> Limited:
    """Run with a wall-time limit and a memory cap; wall time and peak RSS measured from outside.

    The cap is a watchdog on the resident memory of the whole process tree (sampled every
    0.2 s), not an address-space limit: Arrow's and DuckDB's allocators reserve far more
    address space than they use, and fail under ``ulimit -v`` long before memory is short.
    Peak RSS is the larger of wait4's (the largest single process) and the sampled tree's;
    CPU time (user + system, the child and the descendants it waited for) is wait4's too, and
    unlike wall time it does not grow when other work shares the machine.
    """
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=err, stderr=err, text=True, env={**os.environ, **(env or {})},
                                cwd=cwd, start_new_session=True)
        timed_out = over_memory = False
        tree_peak, next_sample = 0, 0.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            elapsed = time.perf_counter() - start
            if elapsed >= next_sample:
                tree_peak = max(tree_peak, _tree_rss_bytes(proc.pid))
                next_sample = elapsed + 0.2
                over_memory = tree_peak > memory_bytes
            timed_out = elapsed > timeout
            if timed_out or over_memory:
                os.killpg(proc.pid, signal.SIGKILL)  # the child's own process group (start_new_session)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read()
    peak = max(usage.ru_maxrss * 1024, tree_peak) / 1024**3
    return Limited(command, wall, peak, None if timed_out or over_memory else proc.returncode, timed_out,
                   text[-4000:], over_memory, usage.ru_utime + usage.ru_stime)


def _checked(m: Limited) -> Limited:
    if m.timed_out or m.over_memory or m.exit_code:
        sys.exit(f"failed: {' '.join(m.command)}\n{m.stderr}")
    return m


@dataclass
class Dataset:
    name: str           # e.g. "FEBRL4", "names 20000x300000"
    key: str            # folder name
    spec: str           # Harmonie's example spec
    population: Path    # `harmonie simulate`-like folder for our holders
    plain: Path         # prepare.py output for the peers
    scenario: str


def prepare(args, work: Path) -> list[Dataset]:
    python = sys.executable
    datasets = []
    for k in [int(x) for x in args.febrl.split(",") if x.strip()]:
        plain = work / f"febrl{k}" / "plain"
        _checked(run_limited([python, str(HERE / "peers" / "prepare.py"), "--febrl", str(k), "--out", str(plain)],
                             args.timeout, args.memory_gb * 1024**3))
        datasets.append(Dataset(f"FEBRL{k}", f"febrl{k}", "names", plain / "population", plain, "febrl"))
    if args.scenarios:
        if args.population is None:
            sys.exit("--population DIR is needed for the simulated scenarios (harmonie simulate --out DIR ...)")
        size = args.size
        for scenario in args.scenarios.split(","):
            plain = work / scenario / "plain"
            _checked(run_limited([python, str(HERE / "peers" / "prepare.py"), "--population", str(args.population),
                                  "--scenario", scenario, "--out", str(plain)], args.timeout,
                                 args.memory_gb * 1024**3))
            if size is None:
                meta = json.loads((plain / "meta.json").read_text())
                size = f"{meta['left_records']:,} × {meta['right_records']:,}"
            datasets.append(Dataset(f"simulated {scenario}, {size}", scenario, scenario, args.population, plain,
                                    scenario))
    return datasets


def run_harmonie(d: Dataset, work: Path, key: Path, args, given_names: bool = False) -> dict:
    """Harmonie with the shipped example spec, or (``given_names``) with the names spec's opt-in
    given-name fields switched on, which the attack self-audit shows the linkage unit can read."""
    harmonie = str(Path(sys.executable).with_name("harmonie"))
    out = work / d.key / ("harmonie-given" if given_names else "harmonie")
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "spec.toml"
    _checked(run_limited([harmonie, "spec", "example", d.spec, "--out", str(spec)]
                         + (["--with-given-names"] if given_names else []), 60, args.memory_gb * 1024**3))
    times, rss, cpu = {}, 0.0, 0.0
    for role, table, stays in (("cohort", "cohort_patients", "cohort_stays"),
                               ("snds", "snds_beneficiaries", "snds_stays")):
        command = [harmonie, "-q", "encode", "--spec", str(spec), "--key", str(key), "--holder", role,
                   "--in", str(d.population / f"{table}.parquet"), "--out", str(out / f"{role}.encoded.parquet"),
                   "--crosswalk", str(out / f"{role}.crosswalk.parquet")]
        if d.scenario == "indirect":
            command += ["--stays", str(d.population / f"{stays}.parquet")]
            if (d.population / "finess_entities.parquet").exists():  # the shipped spec groups sites by legal entity
                command += ["--finess-map", str(d.population / "finess_entities.parquet")]
        m = run_limited(command, args.timeout, args.memory_gb * 1024**3, env=PASSPHRASE)
        if m.timed_out or m.over_memory or m.exit_code:
            return {"status": _failure(m, args), "error": m.stderr[-500:]}
        times[f"encode {role}"], rss, cpu = m.wall_seconds, max(rss, m.peak_rss_gb), cpu + m.cpu_seconds
    m = run_limited([harmonie, "link", "--spec", str(spec), "--left", str(out / "cohort.encoded.parquet"),
                     "--right", str(out / "snds.encoded.parquet"), "--out", str(out / "run"), "--no-charts"],
                    args.timeout, args.memory_gb * 1024**3)
    if m.timed_out or m.over_memory or m.exit_code:
        return {"status": _failure(m, args), "error": m.stderr[-500:]}
    times["link"] = m.wall_seconds
    summary = json.loads((out / "run" / "summary.json").read_text())
    return {"status": "ok", "seconds": sum(times.values()), "link_seconds": m.wall_seconds,
            "cpu_seconds": cpu + m.cpu_seconds, "link_cpu_seconds": m.cpu_seconds,
            "peak_rss_gb": max(rss, m.peak_rss_gb), "link_peak_rss_gb": m.peak_rss_gb,
            "stages": {k: round(v, 2) for k, v in times.items()}, "links_path": str(out / "run" / "links.parquet"),
            "crosswalks": str(out), "candidate_pairs": summary.get("candidate_pairs"),
            "threshold": summary.get("threshold"),
            "estimated": summary.get("estimated")}


def run_stepwise(d: Dataset, work: Path, args) -> dict:
    ours = work / d.key / "harmonie"
    out = work / d.key / "stepwise"
    if not (ours / "cohort.encoded.parquet").exists():
        return {"status": "skipped: needs Harmonie's encoded files (run harmonie first)"}
    m = run_limited([sys.executable, str(HERE / "peers" / "stepwise_runner.py"), "--left",
                     str(ours / "cohort.encoded.parquet"), "--right", str(ours / "snds.encoded.parquet"),
                     "--out", str(out)], args.timeout, args.memory_gb * 1024**3)
    if m.timed_out or m.over_memory or m.exit_code:
        return {"status": _failure(m, args), "error": m.stderr[-500:]}
    return {"status": "ok", "seconds": m.wall_seconds, "cpu_seconds": m.cpu_seconds, "peak_rss_gb": m.peak_rss_gb,
            "links_path": str(out / "links.parquet"), "crosswalks": str(ours),
            "note": "on Harmonie's encoded tokens; encoding time not included"}


def run_peer(method: str, d: Dataset, work: Path, args) -> dict:
    if method == "splink-full" and d.scenario != "febrl":
        return {"status": "not applicable (FEBRL only)"}
    if method == "anonlink" and d.scenario == "indirect":
        return {"status": "not applicable: clkhash has no field type for sets of care events"}
    if not PEERS_PYTHON.exists():
        return {"status": "skipped: run `make bench-peers` first"}
    out = work / d.key / method
    command = [str(PEERS_PYTHON), str(HERE / "peers" / RUNNERS[method]), "--data", str(d.plain), "--out", str(out)]
    if method in VARIANTS:
        command += ["--variant", VARIANTS[method]]
    m = run_limited(command, args.timeout, args.memory_gb * 1024**3, cwd=HERE / "peers")
    if m.timed_out or m.over_memory or m.exit_code:
        return {"status": _failure(m, args), "seconds": m.wall_seconds, "peak_rss_gb": m.peak_rss_gb,
                "error": m.stderr[-1500:]}
    timings = json.loads((out / "timings.json").read_text())
    return {"status": "ok", "seconds": m.wall_seconds, "cpu_seconds": m.cpu_seconds, "peak_rss_gb": m.peak_rss_gb,
            "links_path": str(out / "links.parquet"), "stages": timings["stages"], "config": timings["config"],
            "counts": timings["counts"]}


def _failure(m: Limited, args) -> str:
    if m.timed_out:
        return f"did not finish within {args.timeout / 60:.0f} min"
    if m.over_memory:
        return f"stopped: over the {args.memory_gb} GB memory cap after {m.wall_seconds:.0f} s"
    last = [line for line in m.stderr.strip().splitlines() if line.strip()][-1:] or ["?"]
    return f"failed: {last[0][:300]}"


def score(result: dict, d: Dataset, args) -> None:
    """One scorer for every method (benchmarks/peers/scoring.py), as a child process."""
    if result.get("status") != "ok":
        return
    links = Path(result.pop("links_path"))
    out = links.with_name("quality.json")
    command = [sys.executable, str(HERE / "peers" / "scoring.py"), "--data", str(d.plain), "--links", str(links),
               "--out", str(out)]
    if "crosswalks" in result:
        command += ["--crosswalks", result.pop("crosswalks")]
    m = run_limited(command, args.timeout, args.memory_gb * 1024**3)
    if m.exit_code or m.timed_out or m.over_memory:  # once more: a shared machine can make a child die
        m = _checked(run_limited(command, args.timeout, args.memory_gb * 1024**3))
    result.update(json.loads(out.read_text()))


def markdown(report: dict) -> str:
    lines = [f"# Harmonie and its peers ({report['date']})", "",
             f"Machine: {report['machine']}. Command: `{report['command']}`.", "",
             "Time and peak RSS are each method's whole child process(es), measured from outside "
             "(Harmonie: encode both sides + link; its link step alone in brackets). CPU = user + system "
             "seconds over all its processes. Ratios = Harmonie's ÷ the method's (below 1: Harmonie is faster "
             "or cheaper).", ""]
    for d in report["datasets"]:
        lines += [f"## {d['name']}", "",
                  f"{d['left_records']:,} × {d['right_records']:,} records, {d['true_pairs']:,} true pairs.", "",
                  "| method | precision | recall | F1 | links | one-to-one F1 | wall time (s) | CPU (s) "
                  "| peak RSS (GB) | Harmonie wall ÷ this | Harmonie CPU ÷ this |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        ours = d["methods"].get("harmonie", {})
        for method, r in d["methods"].items():
            label = LABELS[method]
            if r.get("status") != "ok":
                lines.append(f"| {label} | – | – | – | – | – | – | – | – | {r.get('status')} | |")
                continue
            q = r["quality"]
            one = r.get("quality_one_to_one", q)["f1"] if "quality_one_to_one" in r else None
            seconds = f"{r['seconds']:.1f}" + (f" ({r['link_seconds']:.1f})" if "link_seconds" in r else "")
            cpu = f"{r['cpu_seconds']:.1f}" + (f" ({r['link_cpu_seconds']:.1f})" if "link_cpu_seconds" in r else "")
            mine = method == "harmonie" or ours.get("status") != "ok"
            ratio = "–" if mine else f"{ours['seconds'] / r['seconds']:.2f}"
            cpu_ratio = "–" if mine else f"{ours['cpu_seconds'] / r['cpu_seconds']:.2f}"
            lines.append(f"| {label} | {q['precision']:.4f} | {q['recall']:.4f} | **{q['f1']:.4f}** | {q['links']:,} | "
                         f"{'(is 1:1)' if one is None else f'{one:.4f}'} | {seconds} | {cpu} | {r['peak_rss_gb']:.2f} "
                         f"| {ratio} | {cpu_ratio} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    datasets = report["datasets"]
    cols = min(4, len(datasets))
    rows = (len(datasets) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    markers = {"harmonie": ("*", "#cc3311", 220), "harmonie-given": ("*", "#ee99aa", 160),
               "stepwise": ("s", "#777777", 70), "splink": ("o", "#0077bb", 70),
               "splink-full": ("o", "#33bbee", 70), "recordlinkage": ("^", "#009988", 70),
               "recordlinkage-serial": ("v", "#009988", 70),
               "anonlink": ("D", "#ee7733", 60)}
    for ax, d in zip(axes.flat, datasets):
        for method, r in d["methods"].items():
            if r.get("status") != "ok":
                continue
            marker, color, size = markers[method]
            ax.scatter(r["seconds"], r["quality"]["f1"], marker=marker, color=color, s=size, label=LABELS[method],
                       zorder=3)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.margins(x=0.15, y=0.12)
        ax.set_title(d["name"], fontsize=10)
        ax.set_xlabel("wall time (s, log)")
        ax.set_ylabel("F1")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(datasets):]:
        ax.axis("off")
    handles = {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(6, len(handles)), fontsize=9)
    fig.suptitle("F1 against wall time, each method at its own threshold")
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=Path, help="a `harmonie simulate` folder")
    parser.add_argument("--scenarios", default="names,direct,indirect", help="simulated scenarios ('' for none)")
    parser.add_argument("--febrl", default="1,2,3,4", help="FEBRL sets, e.g. 1,2,3,4 ('' for none)")
    parser.add_argument("--methods", default=DEFAULT_METHODS, help=f"any of {ALL_METHODS}")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", help="label of the simulated size [default: from the files]")
    parser.add_argument("--timeout", type=float, default=1800, help="wall-time limit per child process (s)")
    parser.add_argument("--memory-gb", type=int, default=14, help="resident-memory cap of each child process tree (GB)")
    parser.add_argument("--work", type=Path, help="keep intermediate files here [default: a temporary folder]")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(ALL_METHODS.split(","))
    if unknown:
        parser.error(f"unknown method(s): {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="harmonie-bench-peers-"))
    work.mkdir(parents=True, exist_ok=True)
    report = {"date": time.strftime("%Y-%m-%d"), "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "machine": f"{os.cpu_count()} cores, "
                         f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GB",
              "timeout_seconds": args.timeout, "memory_cap_gb": args.memory_gb, "datasets": []}
    try:
        datasets = prepare(args, work)
        key = work / "bench.key"
        harmonie = str(Path(sys.executable).with_name("harmonie"))
        _checked(run_limited([harmonie, "keys", "new", "--out", str(key)], 60, args.memory_gb * 1024**3,
                             env=PASSPHRASE))
        for d in datasets:
            meta = json.loads((d.plain / "meta.json").read_text())
            entry = {"name": d.name, "scenario": d.scenario, "left_records": meta["left_records"],
                     "right_records": meta["right_records"], "true_pairs": meta["true_pairs"], "methods": {}}
            for method in methods:
                if method == "stepwise" and d.scenario != "indirect":
                    continue
                if method == "splink-full" and d.scenario != "febrl":
                    continue
                if method == "harmonie-given" and d.spec != "names":
                    continue
                print(f"{d.name}: {method} ...", file=sys.stderr, flush=True)
                if method in ("harmonie", "harmonie-given"):
                    result = run_harmonie(d, work, key, args, given_names=method == "harmonie-given")
                elif method == "stepwise":
                    result = run_stepwise(d, work, args)
                else:
                    result = run_peer(method, d, work, args)
                entry["methods"][method] = result
                print(f"  {result.get('status')} {result.get('seconds', 0):.1f} s", file=sys.stderr, flush=True)
            for result in entry["methods"].values():
                score(result, d, args)
            report["datasets"].append(entry)
            (args.out / "results.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / "results.md").write_text(markdown(report))
    plot(report, args.out / "f1_vs_time.png")
    print(markdown(report))
    print(f"wrote {args.out}/results.json, results.md and f1_vs_time.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
