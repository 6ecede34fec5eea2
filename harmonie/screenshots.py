"""Screenshots of a demo's report pages for the README, drawn by headless Chromium.

    .venv/bin/harmonie demo --out demo-out
    .venv/bin/python -m harmonie.screenshots demo-out docs/img

writes ``report_<view>.png`` (each view of the linkage report, the evaluator's copy: with the
truth), ``demo_<section>.png`` (the demo report's top and sections) and ``utility_<section>.png``
(the forest plots and heatmaps of the utility report). Simulated data only: the demo's. Each
picture is cut below its last non-white row and reduced to 256 colours (under 300 KB). The
views are those that show no count below the disclosure threshold (:mod:`privacy.disclosure`):
the linkage report's pattern table, pair explainer, hard-case table and weight histogram (log
counts, bins of a few pairs), and the demo report's linkage section (which embeds that
histogram), show small counts of pairs or patients, so they are left out here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from linkage.report.browser import render, screenshot

# linkage report views shown (the others list small counts of pairs or patients, see above)
LINKAGE_VIEWS = ("overview", "blocking", "weights", "m-u", "sessions", "threshold")
DEMO_VIEWS = (None, "utility", "risk")  # None: the top of the page (verdict, contents, links)
UTILITY_VIEWS = ("correlations", "cox", "treatments")
MAX_BYTES = 300_000


def shrink(png: Path, *, colours: int = 256) -> Path:
    """Cut the picture below its last non-white row (a short section leaves the window's rest blank) and reduce
    it to ``colours`` colours, keeping it under :data:`MAX_BYTES` where possible."""
    from PIL import Image, ImageOps

    with Image.open(png) as opened:
        image = opened.convert("RGB")
    box = ImageOps.invert(image).getbbox()
    if box is not None:
        image = image.crop((0, 0, image.width, min(image.height, box[3] + 16)))
    image.quantize(colours, dither=Image.Dither.NONE).save(png, optimize=True)
    if png.stat().st_size > MAX_BYTES and colours > 32:
        return shrink(png, colours=colours // 2)
    return png


def take(page: Path, png: Path, *, section: str | None = None, height: int = 1400, static: bool = True) -> Path:
    """A view of the linkage report (``static`` False: its ``#only=<section>``), or the top of a static report
    (``section`` None) or one of its sections alone: a copy of the page with a style hiding the others (scrolling to
    an anchor is not reliably drawn in a headless screenshot)."""
    import tempfile

    if static:
        with tempfile.TemporaryDirectory(prefix="harmonie-shot-") as folder:
            copy = Path(folder) / page.name
            hide = ("section.part{display:none}" if section is None else
                    f"body>*:not(#only-{section}){{display:none}}")
            copy.write_text(page.read_text(encoding="utf-8").replace("</head>", f"<style>{hide}</style></head>", 1),
                            encoding="utf-8")
            return shrink(screenshot(copy, png, height=height))
    return shrink(screenshot(page, png, section=section, height=height))


def main(argv: list[str] | None = None) -> list[Path]:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m harmonie.screenshots DEMO_OUT IMG_FOLDER")
    out, folder = Path(args[0]), Path(args[1])
    demo = out / "report.html"
    linkage = out / "evaluator" / "report.html"
    bundle = out / "data_team" / "release_bundle"
    reports = bundle if bundle.is_dir() else out / "data_team" / "refused"
    for needed in (demo, linkage, reports / "utility" / "utility.html"):
        if not needed.is_file():
            raise SystemExit(f"{needed} is missing: run `harmonie demo --out {out}` first")
    drawn = render(linkage)
    if not drawn.ready or drawn.errors:
        raise SystemExit(f"the linkage report did not draw: {drawn.errors or 'not ready'}")
    written = [take(linkage, folder / f"report_{view.replace('-', '_')}.png", section=view,
                    static=False) for view in LINKAGE_VIEWS]
    written += [take(demo, folder / f"demo_{view or 'top'}.png", section=view, height=900 if view is None else 1400)
                for view in DEMO_VIEWS]
    written += [take(reports / "utility" / "utility.html", folder / f"utility_{view}.png", section=view,
                     height=1600) for view in UTILITY_VIEWS]
    for png in written:
        print(f"{png} ({png.stat().st_size // 1000} KB)")
    return written


if __name__ == "__main__":  # pragma: no cover
    main()
