"""Progress reporting for long work: one status line per stage, on stderr.

Library code calls :func:`stage` around each step, and :func:`track` over the items of a long
loop (or :func:`progress` where the work comes in uneven amounts, such as partitions of pairs),
giving counts, rate and the time left (ETA); the command line decides whether the user sees it
(``quiet=True`` in tests and notebooks keeps it silent).

On a terminal: a spinner per stage, a progress bar per loop. Elsewhere (a log file, a batch
job, a benchmark): a line at each tenth of a loop, and a heartbeat line at least every
:data:`HEARTBEAT_SECONDS` while any stage runs, naming the innermost stage and loop with their
counts, rate and ETA, so a run at 193,000 x 3,000,000 never goes quiet for minutes. One
background thread writes the heartbeats; it only reads what the stages and loops record.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Iterator, TypeVar

from rich.console import Console

_console = Console(stderr=True, highlight=False)
_enabled = True
HEARTBEAT_SECONDS = 30.0
T = TypeVar("T")


def set_enabled(enabled: bool) -> None:
    """Switch stage reporting on or off for this process."""
    global _enabled
    _enabled = enabled


def set_heartbeat(seconds: float) -> None:
    """Seconds of silence after which a running stage reports where it is (when stderr is not a terminal)."""
    global HEARTBEAT_SECONDS
    if not seconds > 0:
        raise ValueError("the heartbeat interval must be positive")
    HEARTBEAT_SECONDS = float(seconds)


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def _amount(value: float) -> str:
    """A count for a status line: 950, 12.3k, 4.56M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else f"{int(value)}"


@dataclass
class _Task:
    """One running stage or loop, as the heartbeat reads it."""

    label: str
    total: float | None = None
    unit: str = ""
    done: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def line(self) -> str:
        elapsed = time.perf_counter() - self.started
        if self.total is None:
            return f"{self.label}: running, elapsed {_duration(elapsed)}"
        unit = f" {self.unit}" if self.unit else ""
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = _duration((self.total - self.done) / rate) if rate > 0 else "unknown"
        return (f"{self.label}: {_amount(self.done)}/{_amount(self.total)}{unit} "
                f"({self.done / self.total:.0%}), {_amount(rate)}{unit}/s, elapsed {_duration(elapsed)}, ETA {eta}"
                if self.total else f"{self.label}: elapsed {_duration(elapsed)}")


class _Heartbeat:
    """The running stages and loops (innermost last), and the thread that reports them when it is quiet."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tasks: list[_Task] = []
        self.last_line = time.monotonic()
        self.thread: threading.Thread | None = None

    def said(self) -> None:
        with self.lock:
            self.last_line = time.monotonic()

    def push(self, task: _Task) -> None:
        with self.lock:
            self.tasks.append(task)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="harmonie-heartbeat", daemon=True)
                self.thread.start()

    def pop(self, task: _Task) -> None:
        with self.lock:
            if task in self.tasks:
                self.tasks.remove(task)

    def _run(self) -> None:
        while True:
            poll = min(1.0, HEARTBEAT_SECONDS / 4)
            time.sleep(poll)
            with self.lock:
                if not self.tasks:
                    self.thread = None
                    return
                # one poll early: the line then comes within HEARTBEAT_SECONDS of the last, not up to a poll after
                # (at 193k x 3M the gaps were 30.3-30.7 s)
                due = time.monotonic() - self.last_line >= HEARTBEAT_SECONDS - poll
                text = "; ".join(t.line() for t in self.tasks) if due else ""
            if text:
                _print(f"[dim]…[/dim] {text}")


_heartbeat = _Heartbeat()


def _print(text: str) -> None:
    _console.print(text, soft_wrap=True)  # one line whatever the terminal width (benchmarks parse it)
    sys.stderr.flush()
    _heartbeat.said()


@contextmanager
def stage(label: str) -> Iterator[None]:
    """Show a spinner while ``label`` runs, then one line with its elapsed time."""
    if not _enabled:
        yield
        return
    task = _Task(label)
    if _console.is_terminal:
        with _console.status(f"{label}..."):
            yield
    else:
        _heartbeat.push(task)
        try:
            yield
        finally:
            _heartbeat.pop(task)
    elapsed = time.perf_counter() - task.started
    _print(f"[green]done[/green] {label} [dim]({elapsed:.1f} s, peak RSS {peak_rss_gb():.2f} GB)[/dim]")


class Progress:
    """Work done so far in a loop: ``advance(amount)`` after each piece (see :func:`progress`)."""

    def __init__(self, task: _Task, bar=None, bar_task=None, lines: int = 10):
        self.task, self._bar, self._bar_task = task, bar, bar_task
        self._marks = [task.total * k / lines for k in range(1, lines + 1)] if task.total else []

    def advance(self, amount: float = 1) -> None:
        self.task.done += amount
        if self._bar is not None:
            self._bar.advance(self._bar_task, amount)
            return
        if self._marks and self.task.done >= self._marks[0]:
            while self._marks and self.task.done >= self._marks[0]:
                self._marks.pop(0)
            _print(self.task.line())


class _Rate:
    """A rich progress column: the loop's rate in its unit per second."""

    def __init__(self, unit: str):
        from rich.progress import ProgressColumn

        class Column(ProgressColumn):
            def render(self, task):
                from rich.text import Text

                return Text(f"{_amount(task.speed)} {unit}/s" if task.speed else "", style="dim")

        self.column = Column()


@contextmanager
def progress(label: str, total: float, *, unit: str = "", lines: int = 10) -> Iterator[Progress]:
    """Progress over ``total`` units of work (``unit``: 'pairs', 'passes'...), advanced by the caller.

    On a terminal: a rich progress bar with counts, rate and ETA. Elsewhere: one line at each tenth
    (``lines``) of the work, ``label: done/total unit (k%), rate unit/s, elapsed ..., ETA ...``, and the
    heartbeat in between. Ends with a ``done`` line.
    """
    task = _Task(label, float(total), unit)
    if not _enabled:
        yield Progress(task, lines=0)
        return
    if _console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(unit).column,
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
        with Bar(*columns, console=_console, transient=True) as bar:
            yield Progress(task, bar, bar.add_task(label, total=total))
    else:
        _heartbeat.push(task)
        try:
            yield Progress(task, lines=lines)
        finally:
            _heartbeat.pop(task)
    _print(f"[green]done[/green] {label} [dim]({time.perf_counter() - task.started:.1f} s, peak RSS "
           f"{peak_rss_gb():.2f} GB)[/dim]")


def track(items: Iterable[T], total: int, label: str, *, unit: str = "", lines: int = 10) -> Iterator[T]:
    """Yield ``items`` while showing how many of ``total`` are done, the rate and the time left (ETA)
    (:func:`progress` with one unit per item)."""
    with progress(label, total, unit=unit, lines=lines) as bar:
        for item in items:
            yield item
            bar.advance()
