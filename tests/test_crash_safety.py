"""A run killed mid-way leaves no file that looks complete; the rerun gives the clean run's bytes."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

HARMONIE = str(Path(sys.executable).with_name("harmonie"))
ARGS = ["simulate", "--cohort", "6000", "--snds", "120000", "--seed", "3"]


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if not p.name.startswith(".")}


def test_killed_simulation_leaves_only_complete_files_and_reruns_identically(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run([HARMONIE, "-q", *ARGS, "--out", str(clean)], check=True, capture_output=True)
    expected = _digests(clean)

    proc = subprocess.Popen([HARMONIE, "-q", *ARGS, "--out", str(killed)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:  # kill as soon as writing has begun
        if killed.exists() and any(killed.iterdir()):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"

    finished = [p for p in killed.iterdir() if not p.name.startswith(".")]
    assert len(finished) < len(expected), "the kill came too late to test anything"
    for path in finished:  # whatever carries a final name is complete and equal to the clean run's file
        if path.suffix == ".parquet":
            pq.read_table(path)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == expected[path.name]
    assert all(p.name.endswith(".tmp") for p in killed.iterdir() if p.name.startswith("."))

    subprocess.run([HARMONIE, "-q", *ARGS, "--out", str(killed)], check=True, capture_output=True)
    assert _digests(killed) == expected
