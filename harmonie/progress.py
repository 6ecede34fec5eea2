"""Progress reporting for long work: one status line per stage, on stderr.

Library code calls :func:`stage` around each step; the command line decides whether the
user sees it (``quiet=True`` in tests and notebooks keeps it silent).
"""

from __future__ import annotations

import resource
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console

_console = Console(stderr=True, highlight=False)
_enabled = True


def set_enabled(enabled: bool) -> None:
    """Switch stage reporting on or off for this process."""
    global _enabled
    _enabled = enabled


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


@contextmanager
def stage(label: str) -> Iterator[None]:
    """Show a spinner while ``label`` runs, then one line with its elapsed time."""
    if not _enabled:
        yield
        return
    start = time.perf_counter()
    if _console.is_terminal:
        with _console.status(f"{label}..."):
            yield
    else:
        yield
    elapsed = time.perf_counter() - start
    _console.print(f"[green]done[/green] {label} [dim]({elapsed:.1f} s, peak RSS {peak_rss_gb():.2f} GB)[/dim]",
                   soft_wrap=True)  # one line per stage, whatever the terminal width (benchmarks parse it)
    sys.stderr.flush()
