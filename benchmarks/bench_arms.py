"""Synthetic and external control arms (#20): calibrated error rates of real-warehouse and replica arms.

    .venv/bin/python benchmarks/bench_arms.py [--population DIR] [--cohort 40000] [--snds 64000] [--seed 0]
        [--trials 200] [--trial-size 100] [--control-size 400] [--methods weight,match] [--work W]

The world is simulated once (`harmonie simulate`, a lung-heavy cohort mix so that the emulated
trial, first-line chemotherapy of advanced NSCLC, has patients and deaths enough), the analytic
dataset built from the simulator's truth (a perfect linkage, as in bench_inference.py) and split in
halves: ``train`` is the warehouse, ``control`` the part of the world trials are drawn from (no
generator and no control arm ever sees it). `synth fit` and `synth sample` make one replica of the
warehouse. Then, per balancing method, `harmonie arm calibrate` draws ``--trials`` single-arm
trials (younger, earlier-stage patients enrol more: confounding), adds a drug of hazard ratio 1
(null) and 0.7, and builds the control arm of each from (a) the real warehouse and (b) the replica,
balanced and unadjusted: type I error, power, bias, coverage with Monte-Carlo SEs.

Prints Markdown and writes benchmarks/results/arms.json; exits 1 when a real-arm target is missed
(type I error within 3-7%, coverage >= 93% at every hazard ratio, balanced analysis).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]
from _measure import measure  # noqa: E402

COHORT_MIX = "0.35,0.6,0.05"  # breast, lung, ovarian: the emulated trial is in lung cancer


def _run(label: str, command: list, timings: list, *, echo: bool = False):
    m = measure([str(c) for c in command], echo_stderr=echo)
    if m.exit_code:
        print(m.stderr, file=sys.stderr)
        raise SystemExit(f"{label} failed (exit {m.exit_code})")
    timings.append({"step": label, "wall_seconds": round(m.wall_seconds, 1), "peak_rss_gb": round(m.peak_rss_gb, 2)})
    return m


def _eligibility(method: str, folder: Path) -> Path:
    from synth.arms.eligibility import example_eligibility_text

    text = re.sub(r'(?m)^method = "weight"', f'method = "{method}"', example_eligibility_text())
    path = folder / f"eligibility_{method}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _targets(summary: list[dict]) -> dict:
    """Whether the real warehouse's balanced arms meet the issue's targets."""
    rows = [r for r in summary if r["source"] == "real" and r["analysis"] == "balanced" and "rejection" in r]
    null = [r for r in rows if r["hazard_ratio"] == 1]
    type_one = bool(null) and all(0.03 <= r["rejection"] <= 0.07 for r in null)
    coverage = bool(rows) and all(r["coverage"] >= 0.93 for r in rows)
    return {"type_one_within_3_7": type_one, "coverage_at_least_93": coverage, "met": type_one and coverage}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=Path, help="a `harmonie simulate` folder (default: simulate one)")
    parser.add_argument("--cohort", type=int, default=40_000)
    parser.add_argument("--snds", type=int, default=64_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--trial-size", type=int, default=100)
    parser.add_argument("--control-size", type=int, default=400)
    parser.add_argument("--methods", default="weight,match", help="balancing methods, comma-separated")
    parser.add_argument("--work", type=Path, help="keep the population, analytic dataset, model, replica here")
    args = parser.parse_args()
    from bench_inference import _analytic  # the truth-link analytic dataset, as the inference benchmark builds it
    from synth.arms.calibration_report import markdown_table

    work = args.work or Path(tempfile.mkdtemp(prefix="harmonie-bench-arms-"))
    work.mkdir(parents=True, exist_ok=True)
    harmonie = str(Path(sys.executable).with_name("harmonie"))
    timings: list[dict] = []
    population = args.population or work / "population"
    if not (population / "population.json").exists():
        _run("simulate", [harmonie, "simulate", "--out", population, "--cohort", args.cohort, "--snds", args.snds,
                          "--seed", args.seed, "--param", f"cohort_cancer_mix={COHORT_MIX}"], timings)
    analytic = work / "analytic"
    if not (analytic / "train").exists():
        _analytic(population, 0.5, args.seed, analytic)
    if not (work / "model").exists():
        _run("synth fit", [harmonie, "synth", "fit", "--data", analytic / "train", "--out", work / "model",
                           "--seed", args.seed], timings)
    if not (work / "replica").exists():
        _run("synth sample", [harmonie, "synth", "sample", "--model", work / "model", "--out", work / "replica",
                              "--seed", args.seed + 1], timings)
    results = {"command": " ".join(sys.argv), "load_average_start": os.getloadavg(), "timings": timings,
               "settings": vars(args) | {"population": str(population), "work": str(work)}, "methods": {}}
    failed = False
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        out = work / f"calibration_{method}"
        _run(f"arm calibrate ({method})",
             [harmonie, "arm", "calibrate", "--warehouse", analytic / "train", "--trial-source", analytic / "control",
              "--replica", work / "replica", "--eligibility", _eligibility(method, work), "--out", out,
              "--trials", args.trials, "--trial-size", args.trial_size, "--control-size", args.control_size,
              "--seed", args.seed, "--overwrite"], timings, echo=True)
        doc = json.loads((out / "calibration.json").read_text())
        targets = _targets(doc["summary"])
        failed |= not targets["met"]
        results["methods"][method] = {"summary": doc["summary"], "truth": doc["truth"], "pools": {
            name: p["n_eligible"] for name, p in doc["pools"].items()}, "pool_differences": doc["pool_differences"],
            "warnings": doc["warnings"], "targets": targets}
        print(f"\n### balancing: {method} ({args.trials} trials per setting)\n\n{markdown_table(doc['summary'])}\n")
        print("pools (eligible): " + ", ".join(f"{k} {v:,}" for k, v in results["methods"][method]["pools"].items()
                                               if v is not None))
        print("pools' own difference (HR, trial source vs pool): " + ", ".join(
            f"{k} {d['hr']:.3f} ({d['lower_95']:.3f}-{d['upper_95']:.3f})" for k, d in doc["pool_differences"].items()))
        for warning in doc["warnings"]:
            print(f"warning: {warning}")
        print(f"real-arm targets: {'met' if targets['met'] else 'NOT met'} {targets}", flush=True)
    results["load_average_end"] = os.getloadavg()
    print("\n| step | wall (s) | peak RSS (GB) |\n|---|---:|---:|")
    for t in timings:
        print(f"| {t['step']} | {t['wall_seconds']} | {t['peak_rss_gb']} |")
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    (folder / "arms.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
