"""Progress reporting for long work: one status line per stage, on stderr.

Library code calls :func:`stage` around each step, and :func:`track` over the items of a long
loop (done/total and the time left); the command line decides whether the user sees it
(``quiet=True`` in tests and notebooks keeps it silent).
"""

from __future__ import annotations

import resource
import sys
import time
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

from rich.console import Console

_console = Console(stderr=True, highlight=False)
_enabled = True
T = TypeVar("T")


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


def _duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def track(items: Iterable[T], total: int, label: str, *, lines: int = 10) -> Iterator[T]:
    """Yield ``items`` while showing how many of ``total`` are done and the time left (ETA).

    On a terminal: a rich progress bar. Elsewhere (logs, benchmarks): one line at each tenth (``lines``)
    of the work, ``label: k/total, elapsed ..., ETA ...``, so a long run says how long it has left.
    """
    if not _enabled:
        yield from items
        return
    start = time.perf_counter()
    if _console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=_console, transient=True) as bar:
            task = bar.add_task(label, total=total)
            for item in items:
                yield item
                bar.advance(task)
    else:
        marks = {max(1, round(total * k / lines)) for k in range(1, lines + 1)}
        for done, item in enumerate(items, start=1):
            yield item
            if done in marks:
                elapsed = time.perf_counter() - start
                left = elapsed / done * (total - done)
                _console.print(f"{label}: {done}/{total}, elapsed {_duration(elapsed)}, ETA {_duration(left)}",
                               soft_wrap=True)
                sys.stderr.flush()
    _console.print(f"[green]done[/green] {label} [dim]({time.perf_counter() - start:.1f} s, peak RSS "
                   f"{peak_rss_gb():.2f} GB)[/dim]", soft_wrap=True)
