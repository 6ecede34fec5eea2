"""Run a command as a child process and measure it: wall time, peak RSS, stage lines.

Shared by the benchmark scripts. ``harmonie`` reports each stage on stderr as
``done <label> (<seconds> s, peak RSS <GB> GB)``; those lines are parsed into a table.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
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


def measure(command: list[str], env: dict | None = None, *, echo_stderr: bool = False) -> Measurement:
    """Run ``command``; its own peak RSS comes from wait4's resource usage of that child. ``echo_stderr``: also
    copy the child's stderr to ours as it comes (a long run's progress and ETA lines)."""
    import sys

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE if echo_stderr else err, text=True,
                                env={**os.environ, **(env or {})})
        if echo_stderr:
            for line in proc.stderr:
                err.write(line)
                sys.stderr.write(line)
                sys.stderr.flush()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    rss_kb = usage.ru_maxrss  # kB on Linux
    stages = [{"stage": m["label"], "seconds": float(m["seconds"]), "peak_rss_gb": float(m["rss"])}
              for m in _STAGE.finditer(stderr)]
    return Measurement(command, wall, rss_kb / 1024**2, proc.returncode, stages, stdout, stderr)


def stage_table(m: Measurement) -> str:
    rows = ["| stage | time (s) | peak RSS so far (GB) |", "|---|---:|---:|"]
    rows += [f"| {s['stage']} | {s['seconds']:.1f} | {s['peak_rss_gb']:.2f} |" for s in m.stages]
    rows.append(f"| **whole command (incl. start-up and writing)** | **{m.wall_seconds:.1f}** | **{m.peak_rss_gb:.2f}** |")
    return "\n".join(rows)
