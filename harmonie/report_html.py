"""Building blocks of Harmonie's self-contained HTML reports (utility, risk, demo).

Every report is one file: figures are embedded PNGs, there is no script and no link out,
so a report can be mailed, archived in a release bundle, or opened offline.
"""

from __future__ import annotations

import base64
import io
from html import escape

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
"""
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


def png(fig) -> str:
    """A matplotlib Figure (object API, no pyplot) as a base64 PNG without a timestamp (reproducible bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def page(title: str, subtitle: str, body: str) -> str:
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
            f"<p class='note'>{subtitle}</p>" + body + "</body></html>\n")
