"""Run a command as a child process and measure it: wall time, peak RSS, stage lines.

Shared by the benchmark scripts. ``harmonie`` reports each stage on stderr as
``done <label> (<seconds> s, peak RSS <GB> GB)``; those lines are parsed into a table.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from dataclasses import dataclass, field

_STAGE = re.compile(r"done (?P<label>.+) \((?P<seconds>[\d.]+) s, peak RSS (?P<rss>[\d.]+) GB\)")


@dataclass
class Measurement:
    command: list[str]
    wall_seconds: float
    peak_rss_gb: float
    exit_code: int
    stages: list[dict] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""


def measure(command: list[str], env: dict | None = None) -> Measurement:
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    # peak RSS of the largest child waited for so far: run one measured command per script
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB on Linux
    stages = [{"stage": m["label"], "seconds": float(m["seconds"]), "peak_rss_gb": float(m["rss"])}
              for m in _STAGE.finditer(stderr)]
    return Measurement(command, wall, rss_kb / 1024**2, proc.returncode, stages, stdout, stderr)


def stage_table(m: Measurement) -> str:
    rows = ["| stage | time (s) | peak RSS so far (GB) |", "|---|---:|---:|"]
    rows += [f"| {s['stage']} | {s['seconds']:.1f} | {s['peak_rss_gb']:.2f} |" for s in m.stages]
    rows.append(f"| **whole command (incl. start-up and writing)** | **{m.wall_seconds:.1f}** | **{m.peak_rss_gb:.2f}** |")
    return "\n".join(rows)
