"""Scale benchmark of the synthetic-data path (issues: synthetic replicas, risk and release).

Target on the 2-core reference machine: fit and sample a replica of the analytic dataset
of a 193,000-patient cohort with its stays in at most 15 minutes; measure its risk within
10 minutes.

    .venv/bin/python benchmarks/bench_synth.py --population DIR --links LINKS \\
        --cohort-crosswalk CW --snds-crosswalk CW [--control-fraction 0.2] [--skip-risk]

DIR is a `harmonie simulate` output, LINKS a `harmonie link` output on it, the crosswalks
from `harmonie encode`. Each stage runs as its own `harmonie` command (wall time and peak
RSS measured per command). Prints Markdown and writes benchmarks/results/synth.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=Path, required=True)
    parser.add_argument("--links", type=Path, required=True)
    parser.add_argument("--cohort-crosswalk", type=Path, required=True)
    parser.add_argument("--snds-crosswalk", type=Path, required=True)
    parser.add_argument("--control-fraction", type=float, default=0.2)
    parser.add_argument("--skip-risk", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    args = parser.parse_args()

    harmonie = str(Path(sys.executable).with_name("harmonie"))
    work = args.keep or Path(tempfile.mkdtemp(prefix="harmonie-bench-synth-"))
    steps = [
        ("holder cohort: extract linked patients", ["synth", "extract", "--role", "cohort", "--data",
                                                    args.population, "--crosswalk", args.cohort_crosswalk,
                                                    "--links", args.links, "--out", work / "ext_cohort"]),
        ("holder SNDS: extract linked beneficiaries", ["synth", "extract", "--role", "snds", "--data", args.population,
                                                       "--crosswalk", args.snds_crosswalk, "--links", args.links,
                                                       "--out", work / "ext_snds"]),
        ("data team: analytic dataset", ["synth", "analytic", "--links", args.links, "--cohort", work / "ext_cohort",
                                         "--snds", work / "ext_snds", "--out", work / "analytic",
                                         "--control-fraction", str(args.control_fraction)]),
        ("fit (GaussianCopula + claims models)", ["synth", "fit", "--data", work / "analytic" / "train",
                                                  "--out", work / "model"]),
        ("sample (as many patients as trained on)", ["synth", "sample", "--model", work / "model",
                                                     "--out", work / "replica"]),
        ("utility report", ["synth", "report", "--real", work / "analytic" / "train", "--synthetic",
                            work / "replica", "--control", work / "analytic" / "control", "--out", work / "utility"]),
    ]
    if not args.skip_risk:
        steps.append(("risk (Anonymeter, distances, uniqueness)", [
            "risk", "--real", work / "analytic" / "train", "--synthetic", work / "replica", "--control",
            work / "analytic" / "control", "--out", work / "risk"]))
    results = []
    try:
        print("| step | wall (s) | peak RSS (GB) | output |\n|---|---:|---:|---|")
        for label, command in steps:
            m = measure([harmonie, *map(str, command)])
            if m.exit_code:
                print(m.stderr, file=sys.stderr)
                return 1
            last = m.stdout.strip().splitlines()[-1] if m.stdout.strip() else ""
            results.append({"step": label, "wall_seconds": round(m.wall_seconds, 1),
                            "peak_rss_gb": round(m.peak_rss_gb, 2), "stages": m.stages, "output": last})
            print(f"| {label} | {m.wall_seconds:.1f} | {m.peak_rss_gb:.2f} | {last} |", flush=True)
        fit_sample = sum(r["wall_seconds"] for r in results if r["step"].startswith(("fit", "sample")))
        print(f"\nfit + sample: {fit_sample:.0f} s (target 900 s)")
        out = Path(__file__).parent / "results"
        out.mkdir(exist_ok=True)
        (out / "synth.json").write_text(json.dumps({"steps": results, "fit_plus_sample_seconds": fit_sample},
                                                   indent=2) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
