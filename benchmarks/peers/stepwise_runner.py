"""The stepwise deterministic method used for SNDS today, as a timed child process.

    .venv/bin/python benchmarks/peers/stepwise_runner.py --left COHORT.encoded.parquet \
        --right SNDS.encoded.parquet --out DIR

Runs ``benchmarks/baselines/stepwise.py`` on the same encoded tokens Harmonie's linkage
unit receives (the indirect spec's sex, birth year-month, commune and stay tokens) and
writes links.parquet in linkage ids (left_id, right_id, score) and timings.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--left", type=Path, required=True)
    parser.add_argument("--right", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    from baselines.stepwise import stepwise_link
    from linkage.encoded_arrays import EncodedRecords
    from linkage.encoding import read_encoded

    left = EncodedRecords.from_table(read_encoded(args.left).table)
    right = EncodedRecords.from_table(read_encoded(args.right).table)
    loaded = time.perf_counter()
    li, ri, steps = stepwise_link(left, right)
    linked = time.perf_counter()
    links = pd.DataFrame({"left_id": left.ids.take(li).to_pylist(), "right_id": right.ids.take(ri).to_pylist(),
                          "score": 1.0})
    args.out.mkdir(parents=True, exist_ok=True)
    links.to_parquet(args.out / "links.parquet", index=False)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    report = {"method": "stepwise", "links": len(links), "seconds": round(time.perf_counter() - start, 2),
              "stages": [{"stage": "load encoded files", "seconds": round(loaded - start, 2)},
                         {"stage": "stepwise exact joins", "seconds": round(linked - loaded, 2),
                          "peak_rss_gb": round(rss, 2)}],
              "config": {"criteria": ["sex", "birth_date__ym", "commune", "stays"], "min_criteria": 3},
              "counts": {"steps": steps}}
    (args.out / "timings.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"stepwise: {len(links):,} links in {report['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
