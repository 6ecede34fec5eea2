"""anonlink's C++ Dice kernel on given filters (run by bench_kernel.py with .venv-peers).

    .venv-peers/bin/python benchmarks/peers/anonlink_kernel.py --filters F.npz --threshold 0.7 --out R.json

Times ``anonlink.similarities.dice_coefficient_accelerated`` over all pairs of the left
and right filters (one call, single-threaded as anonlink is), after a warm-up call, and
writes the comparisons per second and the Dice of a small check block.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from bitarray import bitarray

import anonlink


def to_bitarrays(words: np.ndarray) -> list:
    out = []
    for row in words:
        b = bitarray(endian="little")
        b.frombytes(row.tobytes())
        out.append(b)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--filters", required=True)
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data = np.load(args.filters)
    left, right = to_bitarrays(data["left"]), to_bitarrays(data["right"])
    dice = anonlink.similarities.dice_coefficient_accelerated
    dice([left[:100], right[:100]], args.threshold)  # warm-up
    best, found = None, 0
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = dice([left, right], args.threshold)
        seconds = time.perf_counter() - start
        best = seconds if best is None else min(best, seconds)
        found = len(result[0])
    sims, (rec0, rec1) = dice([left[:20], right[:20]], 0.0)
    check = {f"{a},{b}": float(s) for s, a, b in zip(sims, rec0, rec1)}
    comparisons = len(left) * len(right)
    json.dump({"method": "anonlink dice_coefficient_accelerated (C++)", "comparisons": comparisons,
               "seconds": best, "comparisons_per_second": comparisons / best, "pairs_above_threshold": found,
               "threshold": args.threshold, "check": check}, open(args.out, "w"), indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
