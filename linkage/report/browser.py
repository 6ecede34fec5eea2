"""Headless Chromium for the linkage report: did every chart draw, and pictures of each view.

A page that only a browser can draw is only known to work once a browser drew it; the test
suite does it here and the README's screenshots come from :func:`screenshot`. Chromium runs
with a fresh profile and no network (the report must need none), the page's script sets
``<body data-ready data-charts data-errors>`` when it is done, and the DOM after the script
ran is read back (``--dump-dom``).

    python -m linkage.report.browser run/report.html docs/img/report    # one PNG per section
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio", "--proxy-server=127.0.0.1:9",
         "--run-all-compositor-stages-before-draw")


def chromium() -> str | None:
    """The Chromium (or Chrome) on PATH, if any."""
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


@dataclass
class Rendered:
    """What the page's script left in the DOM, and what the page logged to the console."""

    dom: str            # the body, after the script ran
    ready: bool
    charts: int
    errors: str         # the page's own list of what it could not draw
    console_errors: list[str]  # uncaught exceptions and console.error lines

    def _region(self, element_id: str) -> str:
        start = self.dom.find(f'id="{element_id}"')
        if start < 0:
            return ""
        end = self.dom.find('id="chart-', start + 1)
        return self.dom[start:end if end > 0 else len(self.dom)]

    def svg_count(self, element_id: str) -> int:
        """SVG elements vega-embed drew inside the element with this id (up to the next chart)."""
        return self._region(element_id).count("<svg")

    def data_marks(self, element_id: str) -> int:
        """Data marks (bars, points, lines, rules, text; not axes or grid) drawn in that chart with a
        visible extent: a chart whose frame and axes drew but whose marks collapsed (a bar of width 0,
        a NaN position) counts none."""
        count = 0
        for group in re.findall(r'<g class="mark-[a-z]+ role-mark[^"]*"[^>]*>(.*?)</g>', self._region(element_id),
                                re.S):
            paths = re.findall(r'<path[^>]*\sd="([^"]*)"', group)
            count += sum(1 for d in paths if d and "NaN" not in d and not re.search(r"h0v|v0h|h-?0Z", d))
            count += group.count("<line") + group.count("<text")
        return count


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="harmonie-chromium-") as profile:
        return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout, check=False)


def render(page: str | Path, *, budget_ms: int = 20_000, timeout: float = 120) -> Rendered:
    """Open ``page`` in headless Chromium, let its script run, and read back the DOM."""
    url = Path(page).resolve().as_uri()
    done = _run([f"--virtual-time-budget={budget_ms}", "--enable-logging=stderr", "--v=0", "--dump-dom", url],
                timeout)
    # the page's body tag is the last one before its title: the inlined scripts of the head hold "<body" too
    dom = done.stdout[max(done.stdout.rfind("<body", 0, max(done.stdout.find("<h1>"), 0)), 0):]
    body = re.match(r"<body([^>]*)>", dom)
    attributes = body.group(1) if body else ""
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line and
               re.search(r"Uncaught|ERROR|\bError\b", line.split(":CONSOLE", 1)[1])]

    def attribute(name: str) -> str:
        found = re.search(rf'data-{name}="([^"]*)"', attributes)
        return found.group(1) if found else ""

    errors = re.search(r'<pre id="report-errors"[^>]*>(.*?)</pre>', dom, re.S)
    return Rendered(dom, attribute("ready") == "yes", int(attribute("charts") or 0),
                    errors.group(1).strip() if errors else "", console)


def screenshot(page: str | Path, png: str | Path, *, section: str | None = None, width: int = 1180,
               height: int = 1400, budget_ms: int = 20_000, timeout: float = 120, fragment: str | None = None) -> Path:
    """A PNG of the page (or of one section alone, ``#only=<section>``; or at ``#<fragment>``, e.g. the
    ``only-<section>`` of the static reports), ``width`` x ``height`` pixels."""
    url = Path(page).resolve().as_uri() + (f"#only={section}" if section else "") + (f"#{fragment}" if fragment else "")
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    done = _run([f"--virtual-time-budget={budget_ms}", f"--window-size={width},{height}",
                 f"--screenshot={png}", url], timeout)
    if not png.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot: {done.stderr.strip()[-300:]}")
    return png


def main(argv: list[str] | None = None) -> None:
    import sys

    from linkage.report.page import SECTIONS

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m linkage.report.browser REPORT.html OUT_PREFIX")
    page, prefix = Path(args[0]), args[1]
    rendered = render(page)
    print(f"ready {rendered.ready}, {rendered.charts} charts, errors: {rendered.errors or 'none'}")
    for section, _ in SECTIONS:
        if f'id="{section}"' in rendered.dom:
            print(screenshot(page, f"{prefix}_{section.replace('-', '_')}.png", section=section))


if __name__ == "__main__":  # pragma: no cover
    main()
