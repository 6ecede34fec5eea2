"""Dice kernel micro-benchmark: comparisons per second per core, ours against anonlink's C++.

    .venv/bin/python benchmarks/bench_kernel.py [--left 10000 --right 10000 --seed 0]

Both kernels get the same random 1024-bit filters (about half of the bits set, as
encodings of names are) and compute the Dice coefficient of all left x right pairs, each
in its own child process on one thread:

- ours: ``linkage.kernels.dice_pairs`` (numba, LLVM ctpop), the kernel the linkage unit
  runs on candidate pairs, fed the all-pairs index arrays chunk by chunk (building the
  index arrays is not timed); ``NUMBA_NUM_THREADS=1``; also once with every core;
- anonlink: ``anonlink.similarities.dice_coefficient_accelerated`` (C++, single-threaded)
  over the same pairs with a 0.7 threshold, which random filters never reach, so it
  computes every pair and returns almost nothing (needs ``make bench-peers``).

Best of 3 timed runs each, after a warm-up. Both kernels' Dice on a 20 x 20 block are
checked to agree. Writes benchmarks/results/kernel.json and prints a Markdown table.
Target: ours at least 2x anonlink per core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
CHUNK_ROWS = 256


def random_filters(n: int, rng: np.random.Generator, words: int = 16) -> np.ndarray:
    """Random filters with each bit set with probability 1/2 (about 512 of 1024 bits)."""
    return rng.integers(0, np.iinfo(np.uint64).max, size=(n, words), dtype=np.uint64, endpoint=True)


def ours_worker(filters: str, out: str, repeat: int) -> None:
    sys.path.insert(0, str(ROOT))
    import numba

    from linkage.kernels import dice_pairs, popcounts

    data = np.load(filters)
    left, right = np.ascontiguousarray(data["left"]), np.ascontiguousarray(data["right"])
    lo, ro = popcounts(left), popcounts(right)
    n_left, n_right = len(left), len(right)
    ri_chunk = np.tile(np.arange(n_right, dtype=np.int32), CHUNK_ROWS)
    chunks = []
    for start in range(0, n_left, CHUNK_ROWS):
        rows = min(CHUNK_ROWS, n_left - start)
        chunks.append((np.repeat(np.arange(start, start + rows, dtype=np.int32), n_right), ri_chunk[:rows * n_right]))
    dice_pairs(left, right, lo, ro, chunks[0][0][:1000], chunks[0][1][:1000])  # compile / load the cache
    best = None
    for _ in range(repeat):
        seconds = 0.0
        for li, ri in chunks:
            t0 = time.perf_counter()
            dice_pairs(left, right, lo, ro, li, ri)
            seconds += time.perf_counter() - t0
        best = seconds if best is None else min(best, seconds)
    li, ri = np.repeat(np.arange(20, dtype=np.int32), 20), np.tile(np.arange(20, dtype=np.int32), 20)
    check = {f"{a},{b}": float(s) for a, b, s in zip(li, ri, dice_pairs(left, right, lo, ro, li, ri))}
    comparisons = n_left * n_right
    json.dump({"method": "Harmonie linkage.kernels.dice_pairs (numba)", "threads": numba.get_num_threads(),
               "comparisons": comparisons, "seconds": best, "comparisons_per_second": comparisons / best,
               "check": check}, open(out, "w"), indent=2)


def _child(command: list[str], env: dict | None = None) -> None:
    done = subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--left", type=int, default=10_000)
    parser.add_argument("--right", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", choices=["ours"], help=argparse.SUPPRESS)
    parser.add_argument("--filters", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "ours":
        ours_worker(args.filters, args.out, args.repeat)
        return 0
    if not PEERS_PYTHON.exists():
        sys.exit("anonlink is not installed: run `make bench-peers` first")
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="harmonie-bench-kernel-") as tmp:
        filters = Path(tmp) / "filters.npz"
        np.savez(filters, left=random_filters(args.left, rng), right=random_filters(args.right, rng))
        results = {}
        for name, threads in (("ours_1_thread", 1), ("ours_all_threads", os.cpu_count())):
            out = Path(tmp) / f"{name}.json"
            _child([sys.executable, __file__, "--worker", "ours", "--filters", str(filters), "--out", str(out),
                    "--repeat", str(args.repeat)], env={"NUMBA_NUM_THREADS": str(threads)})
            results[name] = json.loads(out.read_text())
        out = Path(tmp) / "anonlink.json"
        _child([str(PEERS_PYTHON), str(HERE / "peers" / "anonlink_kernel.py"), "--filters", str(filters),
                "--out", str(out), "--repeat", str(args.repeat)], env={"OMP_NUM_THREADS": "1"})
        results["anonlink_1_thread"] = json.loads(out.read_text())
    ours_check, their_check = results["ours_1_thread"].pop("check"), results["anonlink_1_thread"].pop("check")
    results["ours_all_threads"].pop("check")
    agree = all(abs(ours_check[k] - v) < 1e-5 for k, v in their_check.items())
    ratio = results["ours_1_thread"]["comparisons_per_second"] / results["anonlink_1_thread"]["comparisons_per_second"]
    report = {"left": args.left, "right": args.right, "bits": 1024, "seed": args.seed, "results": results,
              "dice_values_agree": agree, "ratio_per_core": ratio, "target": "ours >= 2x anonlink per core",
              "target_met": ratio >= 2}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "kernel.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"Dice of all {args.left:,} x {args.right:,} pairs of random 1024-bit filters (best of {args.repeat}):\n")
    print("| kernel | threads | seconds | M comparisons/s |\n|---|---:|---:|---:|")
    for name, r in results.items():
        threads = r.get("threads", 1)
        print(f"| {r['method']} | {threads} | {r['seconds']:.2f} | {r['comparisons_per_second'] / 1e6:.0f} |")
    print(f"\nours ÷ anonlink per core: {ratio:.2f}x (target 2x: {'met' if ratio >= 2 else 'not met'}); "
          f"Dice values agree: {agree}")
    return 0 if ratio >= 2 and agree else 1


if __name__ == "__main__":
    sys.exit(main())
