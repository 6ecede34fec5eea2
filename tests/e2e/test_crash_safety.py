"""A run killed mid-way leaves no file that looks complete; the rerun gives the clean run's bytes."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path


HARMONIE = str(Path(sys.executable).with_name("harmonie"))
ARGS = ["simulate", "--cohort", "6000", "--snds", "120000", "--seed", "3"]


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if not p.name.startswith(".")}


def test_killed_simulation_leaves_no_output_at_all_and_reruns_identically(tmp_path):
    """The output set appears whole or not at all: a run killed while writing leaves only its hidden staging
    (never a file under a final name), and the rerun removes it and gives the clean run's bytes."""
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run([HARMONIE, "-q", *ARGS, "--out", str(clean)], check=True, capture_output=True)
    expected = _digests(clean)
    assert not [p for p in clean.iterdir() if p.name.startswith(".harmonie-staging-")]

    proc = subprocess.Popen([HARMONIE, "-q", *ARGS, "--out", str(killed)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:  # kill as soon as writing has begun
        if any(p.is_file() for staging in killed.glob(".harmonie-staging-*") for p in staging.iterdir()):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert [p for p in killed.iterdir() if p.name.startswith(".harmonie-staging-")], "killed before writing"
    assert _digests(killed) == {}  # nothing under a final name

    subprocess.run([HARMONIE, "-q", *ARGS, "--out", str(killed)], check=True, capture_output=True)
    assert _digests(killed) == expected
    assert not [p for p in killed.iterdir() if p.name.startswith(".harmonie-staging-")]
