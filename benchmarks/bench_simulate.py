"""Scale benchmark of the population simulator (issue: foundation).

Target: ``harmonie simulate --cohort 193000 --snds 3000000`` (about 10 stays per SNDS
beneficiary) in at most 3 minutes and 6 GB peak RSS on the 2-core reference machine.

    .venv/bin/python benchmarks/bench_simulate.py [--cohort N] [--snds M] [--seed S]

Prints a Markdown table (time and peak memory per stage) and writes
``benchmarks/results/simulate.json``. Files go to a temporary folder, removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure, stage_table  # noqa: E402

TARGET_SECONDS, TARGET_RSS_GB = 180.0, 6.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cohort", type=int, default=193_000)
    parser.add_argument("--snds", type=int, default=3_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    harmonie = str(Path(sys.executable).with_name("harmonie"))
    out = Path(tempfile.mkdtemp(prefix="harmonie-bench-sim-"))
    try:
        m = measure([harmonie, "simulate", "--out", str(out), "--cohort", str(args.cohort), "--snds", str(args.snds),
                     "--seed", str(args.seed), "--json"])
        if m.exit_code != 0:
            print(m.stderr, file=sys.stderr)
            return m.exit_code
        summary = json.loads(m.stdout)
        size_mb = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    finally:
        shutil.rmtree(out, ignore_errors=True)

    result = {
        "command": " ".join(["harmonie", *m.command[1:]]).replace(str(out), "OUT"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}",
        "wall_seconds": round(m.wall_seconds, 1), "peak_rss_gb": round(m.peak_rss_gb, 2),
        "stages": m.stages, "output_mb": round(size_mb, 1),
        "rows": {k: summary[k] for k in ("cohort_patients", "cohort_stays", "snds_beneficiaries", "snds_stays",
                                         "snds_dispensings", "true_links")},
        "snds_stays_per_beneficiary": round(summary["snds_stays_per_beneficiary"], 2),
        "targets": {"wall_seconds": TARGET_SECONDS, "peak_rss_gb": TARGET_RSS_GB},
        "meets_targets": m.wall_seconds <= TARGET_SECONDS and m.peak_rss_gb <= TARGET_RSS_GB,
    }
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "simulate.json").write_text(json.dumps(result, indent=2) + "\n")
    print(stage_table(m))
    print()
    print(f"rows: {result['rows']}; {result['snds_stays_per_beneficiary']} stays per beneficiary; "
          f"{result['output_mb']} MB of Parquet")
    print(f"targets: <= {TARGET_SECONDS:.0f} s and <= {TARGET_RSS_GB:.0f} GB -> "
          f"{'met' if result['meets_targets'] else 'NOT met'}")
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
