"""Scale benchmark of the holders' encoding (issue: encoding).

Targets on the 2-core reference machine:
- the SNDS side, 3,000,000 beneficiaries with ~10 stays each, indirect spec: <= 60 s;
- the cohort side, 193,000 patients with names, names spec: <= 30 s.

    .venv/bin/python benchmarks/bench_encode.py [--population DIR] [--cohort N] [--snds M]

Without --population it first simulates the population (not timed here; see
bench_simulate.py). Prints a Markdown table per run and writes benchmarks/results/encode.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure, stage_table  # noqa: E402

PASSPHRASE = {"HARMONIE_KEY_PASSPHRASE": "benchmark passphrase, not a secret"}
RUNS = (  # (label, spec, holder table, stays table or None, target seconds)
    ("SNDS side, indirect spec (stays)", "indirect", "snds_beneficiaries", "snds_stays", 60.0),
    ("cohort side, names spec", "names", "cohort_patients", None, 30.0),
    ("cohort side, indirect spec (stays)", "indirect", "cohort_patients", "cohort_stays", None),
    ("SNDS side, names spec", "names", "snds_beneficiaries", None, None),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=Path, help="an existing `harmonie simulate` output folder")
    parser.add_argument("--cohort", type=int, default=193_000)
    parser.add_argument("--snds", type=int, default=3_000_000)
    args = parser.parse_args()

    harmonie = str(Path(sys.executable).with_name("harmonie"))
    work = Path(tempfile.mkdtemp(prefix="harmonie-bench-enc-"))
    try:
        population = args.population
        if population is None:
            population = work / "population"
            sim = measure([harmonie, "-q", "simulate", "--out", str(population), "--cohort", str(args.cohort),
                           "--snds", str(args.snds), "--json"])
            if sim.exit_code:
                print(sim.stderr, file=sys.stderr)
                return 1
        key = measure([harmonie, "keys", "new", "--out", str(work / "bench.key")], env=PASSPHRASE)
        if key.exit_code:
            print(key.stderr, file=sys.stderr)
            return 1
        results, ok = [], True
        for label, spec, table, stays, target in RUNS:
            spec_path = work / f"{spec}.toml"
            measure([harmonie, "spec", "example", spec, "--out", str(spec_path)])
            command = [harmonie, "encode", "--spec", str(spec_path), "--key", str(work / "bench.key"),
                       "--in", str(population / f"{table}.parquet"), "--out", str(work / "encoded.parquet"),
                       "--crosswalk", str(work / "crosswalk.parquet")]
            if stays:
                command += ["--stays", str(population / f"{stays}.parquet")]
            m = measure(command, env=PASSPHRASE)
            if m.exit_code:
                print(m.stderr, file=sys.stderr)
                return 1
            met = target is None or m.wall_seconds <= target
            ok &= met
            results.append({"run": label, "wall_seconds": round(m.wall_seconds, 1),
                            "peak_rss_gb": round(m.peak_rss_gb, 2), "target_seconds": target, "met": met,
                            "stages": m.stages, "summary": m.stdout.strip().splitlines()[0],
                            "encoded_mb": round((work / "encoded.parquet").stat().st_size / 1e6, 1)})
            print(f"### {label}: {results[-1]['summary']}\n")
            print(stage_table(m))
            print(f"\ntarget: {'-' if target is None else f'<= {target:.0f} s'}; "
                  f"encoded file {results[-1]['encoded_mb']} MB\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "encode.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
