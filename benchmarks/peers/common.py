"""Shared by the peer runners (run with .venv-peers/bin/python, which lacks our package).

A runner reads a folder written by ``prepare.py`` (left.parquet, right.parquet, meta.json),
links it, and writes into its output folder:

    links.parquet    left_id, right_id, score (the method's own links, at its own threshold)
    timings.json     seconds per stage, total, counts and the configuration used
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


class Run:
    """Times named stages and writes the runner's outputs."""

    def __init__(self, method: str, description: str):
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--data", type=Path, required=True, help="folder written by prepare.py")
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--threshold", type=float, default=None)
        parser.add_argument("--variant", default="", help="a named configuration of this peer")
        self.args = parser.parse_args()
        self.args.out.mkdir(parents=True, exist_ok=True)
        self.method = method
        self.meta = json.loads((self.args.data / "meta.json").read_text())
        self.scenario = self.meta["scenario"]
        self.stages: list[dict] = []
        self.config: dict = {}
        self.counts: dict = {}
        self.start = time.perf_counter()

    @contextmanager
    def stage(self, label: str):
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        self.stages.append({"stage": label, "seconds": round(seconds, 2), "peak_rss_gb": round(rss, 2)})
        print(f"done {label} ({seconds:.1f} s, peak RSS {rss:.2f} GB)", flush=True)

    def read(self, columns: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        left = pd.read_parquet(self.args.data / "left.parquet", columns=columns)
        right = pd.read_parquet(self.args.data / "right.parquet", columns=columns)
        return left, right

    def finish(self, links: pd.DataFrame) -> None:
        links = links[["left_id", "right_id", "score"]].reset_index(drop=True)
        links.to_parquet(self.args.out / "links.parquet", index=False)
        report = {"method": self.method, "variant": self.args.variant, "dataset": self.meta["dataset"],
                  "links": int(len(links)), "seconds": round(time.perf_counter() - self.start, 2),
                  "stages": self.stages, "config": self.config, "counts": self.counts}
        (self.args.out / "timings.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"{self.method}: {len(links):,} links in {report['seconds']:.1f} s", flush=True)
