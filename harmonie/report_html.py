"""Building blocks of Harmonie's self-contained HTML reports (utility, risk, demo).

Every report is one file: figures are embedded PNGs, there is no script and nothing is
fetched, so a report can be mailed, archived in a release bundle, or opened offline. Each
page opens with a table of contents (one entry per ``<h2 id=...>``) and a bar of links to
its sibling reports: relative paths, and only to pages that exist when it is written
(:func:`pages_nav`); a page written before its siblings is linked to them afterwards
(:func:`relink`, :func:`link_family`). ``page.html#only-<section>`` shows one section alone
(CSS ``:target``, no script).
"""

from __future__ import annotations

import base64
import io
import os
import re
from collections.abc import Iterable
from html import escape
from pathlib import Path

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1180px;margin:2em auto;
padding:0 1em;color:#1d2329;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
.verdict{border-radius:8px;padding:1em 1.3em;margin:1.2em 0;border:2px solid}
.ok{background:#eef8ee;border-color:#3a8a3a}.bad{background:#fdf0ee;border-color:#c0392b}
.verdict h2{margin:0;border:0;font-size:1.35em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:right}th{background:#f3f5f7}
td:first-child,th:first-child{text-align:left}
.pass{color:#2d7a2d;font-weight:600}.fail{color:#b03a2e;font-weight:600}
.explain{background:#f6f8fa;border-left:4px solid #8aa4c8;padding:.5em 1em;margin:.6em 0}
img{max-width:100%;height:auto;margin:.5em 0}.note{color:#57606a;font-size:.9em}
nav.toc,nav.pages{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.5em 1em;margin:.8em 0}
nav.toc a,nav.pages a{margin-right:1.1em;white-space:nowrap}nav.pages:empty{display:none}
body:has(section.part:target) section.part:not(:target){display:none}
"""
# the bar of links to sibling pages: its exact opening tag, so that :func:`relink` can find it again
PAGES_NAV_OPEN = "<nav class='pages' id='report-pages'>"
_H2 = re.compile(r"""<h2 id=["']([\w-]+)["'][^>]*>(.*?)</h2>""", re.S)
# reports of one release (a bundle, or the demo's refused/ folder): (folder/page, title), siblings of one another
FAMILY = (("utility/utility.html", "utility report"), ("risk/risk.html", "risk report"))
DPI = 80


def fmt(value, digits: int = 3) -> str:
    """A value for a table cell: fixed decimals for floats, thousands separators for counts, '–' if missing."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v, digits) for v in value) + "]"
    return escape(str(value))


def table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def img(png: str, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{png}">'


def passed(ok: bool) -> str:
    return '<span class="pass">pass</span>' if ok else '<span class="fail">FAIL</span>'


def fixed_margins(fig, *, left: float, right: float, bottom: float, top: float, wspace: float = 0.0,
                  hspace: float = 0.0) -> None:
    """Margins and gaps between panels in inches, for a grid of panels whose labels are known in advance:
    what ``tight_layout`` finds by measuring every label's extent, which takes about as long as drawing the
    figure (half of a 20-panel figure's time)."""
    width, height = fig.get_size_inches()
    grid = fig.axes[0].get_subplotspec().get_gridspec() if fig.axes else None
    rows, columns = grid.get_geometry() if grid is not None else (1, 1)
    panel_w = (width - left - right - wspace * (columns - 1)) / columns
    panel_h = (height - bottom - top - hspace * (rows - 1)) / rows
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                        wspace=wspace / panel_w, hspace=hspace / panel_h)


def png(fig) -> str:
    """A matplotlib Figure (object API, no pyplot) as a base64 PNG without a timestamp (reproducible bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def short_title(heading: str) -> str:
    """A heading's text for a table of contents: no markup, no "(...)" or ": ..." or " — ..." tail."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.split(r" \(| — |: ", text, maxsplit=1)[0].strip()
    return text


def headings(body: str) -> list[tuple[str, str]]:
    """(id, title) of every ``<h2 id=...>`` of ``body``, in order."""
    return [(anchor, short_title(text)) for anchor, text in _H2.findall(body)]


def contents(entries: Iterable[tuple[str, str]]) -> str:
    """The table of contents: a link to each (id, title)."""
    links = " ".join(f"<a href='#{escape(anchor)}'>{escape(title)}</a>" for anchor, title in entries)
    return f"<nav class='toc' id='contents'><b>Contents</b>: {links}</nav>" if links else ""


def pages_nav(here: str | Path | None, pages: Iterable[tuple[str, str | Path]]) -> str:
    """The bar of links to other reports: (title, path) of each, a path absolute or relative to the folder of
    ``here`` (this page); links are relative to it, and only to pages that exist now, never to itself. Empty
    (and hidden) when none exists, so that :func:`relink` can fill it later."""
    links = []
    if here is not None:
        here = Path(here).resolve()
        seen = set()
        for title, path in pages:
            target = (here.parent / path).resolve()
            if target == here or target in seen or not target.is_file():
                continue
            seen.add(target)
            href = Path(os.path.relpath(target, here.parent)).as_posix()
            links.append(f"<a href='{escape(href)}'>{escape(title)}</a>")
    return PAGES_NAV_OPEN + (f"<b>Other reports</b>: {' '.join(links)}" if links else "") + "</nav>"


def relink(path: str | Path, pages: Iterable[tuple[str, str | Path]]) -> bool:
    """Rewrite the bar of links of the page at ``path`` (written earlier by :func:`page` or the linkage
    report) to ``pages`` that exist now; False if the page has no such bar (or does not exist)."""
    path = Path(path)
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    body = text.find("<body")
    start = text.find(PAGES_NAV_OPEN, max(body, 0))
    if start < 0:
        return False
    end = text.index("</nav>", start) + len("</nav>")
    updated = text[:start] + pages_nav(path, pages) + text[end:]
    if updated != text:
        from harmonie.io import write_text

        write_text(updated, path)
    return True


def family(here: str | Path) -> list[tuple[str, Path]]:
    """The sibling reports of a release for a page among :data:`FAMILY` (``.../utility/utility.html`` and
    ``.../risk/risk.html``); none for a page elsewhere."""
    here = Path(here)
    relative = f"{here.parent.name}/{here.name}"
    if relative not in dict(FAMILY):
        return []
    root = here.parent.parent
    return [(title, root / name) for name, title in FAMILY]


def link_family(here: str | Path) -> None:
    """After writing ``here``: link its siblings already written (see :func:`family`) back to it."""
    for title, sibling in family(here):
        if sibling.resolve() != Path(here).resolve():
            relink(sibling, family(sibling))


def sections(body: str) -> str:
    """``body`` with each top-level ``<h2 id=X>`` and what follows it, up to the next one, wrapped in
    ``<section class='part' id='only-X'>`` (what ``#only-X`` shows alone). What precedes the first is kept."""
    marks = [m for m in _H2.finditer(body)]
    if not marks:
        return body
    parts = [body[:marks[0].start()]]
    for k, m in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(body)
        parts.append(f"<section class='part' id='only-{m.group(1)}'>{body[m.start():end]}</section>")
    return "".join(parts)


def page(title: str, subtitle: str, body: str, *, here: str | Path | None = None,
         pages: Iterable[tuple[str, str | Path]] = ()) -> str:
    """A whole report page: title, subtitle, table of contents (from the body's ``<h2 id=...>``), links to
    the ``pages`` that exist (relative to ``here``, the path the page is written to), then the body. Each
    section must be top-level in ``body`` (no ``<h2 id=...>`` inside another element)."""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
            f"<p class='note'>{subtitle}</p>" + contents(headings(body)) + pages_nav(here, pages)
            + sections(body) + "</body></html>\n")
