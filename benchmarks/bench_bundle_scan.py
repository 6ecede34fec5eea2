"""The bundle scan (issue #15 "Done when"): real cells below the threshold and single-patient values in a release.

    .venv/bin/python benchmarks/bench_bundle_scan.py --bundle BUNDLE --real ANALYTIC/train [--min-cell 11]

Scans every JSON file of a release bundle (utility and risk reports, manifest) with
:func:`privacy.disclosure.scan_folder`, against the real training data the bundle was made
from (the values behind each written distribution and Kaplan–Meier curve, as the utility
report used them): any count of 1 to min_cell-1 real patients, histogram bin, category or KM
step below the threshold, quantile or extreme that is one patient's value. Also checks that
the bundle verifies. Prints the findings (none expected) and the number of values scanned.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--real", type=Path, required=True, help="the analytic training set the bundle was made from")
    parser.add_argument("--min-cell", type=int, default=11)
    args = parser.parse_args()
    from privacy.disclosure import DisclosureRule, scan_folder
    from privacy.release.bundle import verify_bundle
    from synth.dataset import read_dataset
    from synth.report.disclosed import real_sources

    manifest = verify_bundle(args.bundle)
    # the real values the utility report drew from: the same subsample (at 193k it takes at most 20,000 patients,
    # under the release's secret seed, which utility.json records)
    utility = args.bundle / "utility" / "utility.json"
    seed = json.loads(utility.read_text())["seed"] if utility.is_file() else 0
    columns, survival = real_sources(read_dataset(args.real), seed=seed)
    findings = scan_folder(args.bundle, DisclosureRule(min_cell=args.min_cell), columns=columns, survival=survival)
    files = sorted(p.relative_to(args.bundle).as_posix() for p in args.bundle.rglob("*.json"))
    result = {"bundle": str(args.bundle), "verdict": manifest.get("verdict"), "seed": seed, "json_files": files,
              "real_columns": len(columns), "survival_groups": len(survival), "findings": findings}
    print(json.dumps(result, indent=2))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
