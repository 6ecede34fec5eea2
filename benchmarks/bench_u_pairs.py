"""How many random pairs u needs: link the same encoded files with several ``u_sample_pairs``.

    .venv/bin/python benchmarks/bench_u_pairs.py --spec SPEC --left L.parquet --right R.parquet \
        --truth POP/truth.parquet --left-crosswalk LCW --right-crosswalk RCW \
        [--duplicates POP/snds_duplicates.parquet] [--u-pairs 200000,1000000,5000000]

Run it on the encoded files of two keys (e.g. a `harmonie demo --scale harmonie` folder and
another encoding of the same population): with too few random pairs, the rare agreement
levels (same birth date, shared stays) get a few dozen hits whose people change with the
key, because records are ordered by linkage id, and so do the weights and the links.

The spec's ``u_sample_pairs`` is replaced in memory only: the spec's content, and so its
hash, stays the one the files were encoded with. Prints precision, recall, F1 and the
link time per setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harmonie import progress  # noqa: E402
from linkage.evaluate import quality, truth_pairs  # noqa: E402
from linkage.link import link  # noqa: E402
from linkage.spec import load_spec  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("spec", "left", "right", "truth", "left-crosswalk", "right-crosswalk"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--duplicates", type=Path)
    parser.add_argument("--u-pairs", default="200000,1000000,5000000")
    args = parser.parse_args()
    progress.set_enabled(False)
    base = load_spec(args.spec)
    pairs = truth_pairs(pd.read_parquet(args.truth), pd.read_parquet(args.left_crosswalk),
                        pd.read_parquet(args.right_crosswalk),
                        pd.read_parquet(args.duplicates) if args.duplicates else None)
    print("| random pairs for u | precision | recall | F1 | link time (s) |\n|---:|---:|---:|---:|---:|")
    for count in (int(c) for c in args.u_pairs.split(",")):
        spec = dataclasses.replace(base, model=dataclasses.replace(base.model, u_sample_pairs=count))
        start = time.perf_counter()
        result = link(spec, args.left, args.right)
        seconds = time.perf_counter() - start
        q = quality(result.links.to_pandas() if hasattr(result.links, "to_pandas") else result.links, pairs)
        print(f"| {count:,} | {q['precision']:.4f} | {q['recall']:.4f} | {q['f1']:.4f} | {seconds:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
