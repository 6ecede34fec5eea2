"""The report's figures, as base64 PNG strings ready to embed in HTML.

Figures are built with matplotlib's object API (``Figure`` + Agg canvas): no pyplot, no
global backend switch, nothing left open. Real data is blue, synthetic orange, everywhere.
Every figure is drawn from the report as written (its JSON), never from the data itself:
what a figure shows of real patients has passed the small-cell rule like the rest.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from harmonie.report_html import fixed_margins
from harmonie.report_html import png as _png
from synth.report.survival import term_label

REAL, SYNTHETIC = "#3b6ea8", "#e07b28"


def _suppressed(ax, min_cell: int) -> None:
    ax.text(0.5, 0.5, f"fewer than {min_cell} real patients:\nnot shown", ha="center", va="center",
            transform=ax.transAxes, fontsize=8)


def _histogram(ax, hist: dict) -> None:
    """Both sides on the same (merged) bins; a merged bin is drawn at the average height of the bins it
    holds, so that merging does not distort the shape."""
    edges = np.array(hist["edges"])
    per_bin = np.diff(edges) / hist["bin_width"]
    for side, colour, fill in (("real", REAL, True), ("synthetic", SYNTHETIC, False)):
        heights = np.array(hist[f"{side}_share"], dtype="float64") / per_bin
        ax.stairs(heights, edges, fill=fill, color=colour, alpha=0.45 if fill else 1.0, linewidth=1.5)
    ax.set_ylabel("share per bin", fontsize=8)


def _bars(ax, rows: list[dict]) -> None:
    labels = [r["value"] for r in rows]
    x = np.arange(len(labels))
    ax.bar(x - 0.2, [r["real_share"] for r in rows], width=0.4, color=REAL)
    ax.bar(x + 0.2, [r["synthetic_share"] for r in rows], width=0.4, color=SYNTHETIC)
    ax.set_xticks(x)
    long = max((len(label) for label in labels), default=0) > 4 or len(labels) > 6
    ax.set_xticklabels([label[:18] for label in labels], rotation=45 if long else 0, ha="right" if long else "center",
                       fontsize=7)
    ax.set_ylabel("share", fontsize=8)


def distributions(summaries: list[dict], min_cell: int, columns: int = 4) -> str:
    """Small multiples: one panel per variable summary, real vs synthetic."""
    rows = max(math.ceil(len(summaries) / columns), 1)
    fig = Figure(figsize=(3.6 * columns, 2.9 * rows))
    for i, summary in enumerate(summaries):
        ax = fig.add_subplot(rows, columns, i + 1)
        if summary["kind"] == "categorical":
            if summary["categories"] is None:
                _suppressed(ax, min_cell)
            else:
                _bars(ax, summary["categories"])
            score = f"TVD {summary['total_variation']:.2f}"
        else:
            if summary["histogram"] is None:
                _suppressed(ax, min_cell)
            else:
                _histogram(ax, summary["histogram"])
            ks = summary.get("ks_statistic")
            score = "" if ks is None else f"KS {ks:.2f}"
        ax.set_title(f"{summary['name']}  ({score})" if score else summary["name"], fontsize=9)
        ax.tick_params(labelsize=7)
    fig.legend(handles=_legend_handles(), loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 1.0))
    # room for 18-character labels at 45 degrees under each row, a title over each, the legend on top
    fixed_margins(fig, left=0.55, right=0.15, bottom=0.85, top=0.65, wspace=0.6, hspace=1.2)
    return _png(fig)


def _legend_handles():
    from matplotlib.patches import Patch

    return [Patch(color=REAL, alpha=0.6, label="real"), Patch(color=SYNTHETIC, label="synthetic")]


MAX_HEATMAP_COLUMNS = 30  # more than this and the labels cannot be read: the figure shows those that differ most


def heatmap_columns(section: dict, at_most: int = MAX_HEATMAP_COLUMNS) -> list[int]:
    """Indices of the columns a heatmap shows: all up to ``at_most``, else the ``at_most`` with the largest
    absolute real-synthetic difference with any other column (ties by position), in their order."""
    columns = section["columns"]
    if len(columns) <= at_most:
        return list(range(len(columns)))
    diff = np.abs(np.array(section["real"], dtype="float64") - np.array(section["synthetic"], dtype="float64"))
    worst = np.nan_to_num(diff, nan=0.0).max(axis=1)
    keep = sorted(sorted(range(len(columns)), key=lambda k: (-worst[k], k))[:at_most])
    return keep


def _label(name: str, width: int = 22) -> str:
    return name if len(name) <= width else name[:width - 1] + "…"


def correlations(section: dict) -> str:
    """Real, synthetic and |difference| association matrices side by side: a diverging colour map centred at 0
    (-1 to 1) for the associations, a sequential one for the difference, one colour bar each; at most
    :data:`MAX_HEATMAP_COLUMNS` columns (the figure's title says which when there are more)."""
    from matplotlib.colors import TwoSlopeNorm

    keep = heatmap_columns(section)
    columns = [_label(section["columns"][k]) for k in keep]
    real = np.array(section["real"], dtype="float64")[np.ix_(keep, keep)]
    synthetic = np.array(section["synthetic"], dtype="float64")[np.ix_(keep, keep)]
    centred = TwoSlopeNorm(vmin=-1.0, vcenter=0.0, vmax=1.0)
    panels = (("real", real, "RdBu_r", centred, "association"),
              ("synthetic", synthetic, "RdBu_r", centred, "association"),
              ("|real − synthetic|", np.abs(real - synthetic), "Reds", None, "|difference|"))
    n = len(columns)
    label_size = 9 if n <= 20 else 8 if n <= 26 else 7
    size = max(4.0, 0.2 * n + 2.2)
    fig = Figure(figsize=(3 * size + 1.2, size + 1.0))
    for i, (title, matrix, cmap, norm, what) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        shown = np.ma.masked_invalid(matrix)
        image = (ax.imshow(shown, cmap=cmap, norm=norm) if norm is not None
                 else ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=0.5))
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set_xticklabels(columns, rotation=60, ha="right", rotation_mode="anchor", fontsize=label_size)
        ax.set_yticklabels(columns if i == 0 else [], fontsize=label_size)
        ax.set_xticks(np.arange(n + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=0.4)
        ax.tick_params(which="minor", length=0)
        ax.set_title(title, fontsize=11)
        bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03, extend="max" if norm is None else "neither")
        bar.ax.tick_params(labelsize=8)
        bar.set_label(what, fontsize=8)
    total = len(section["columns"])
    if n < total:
        fig.suptitle(f"{n} of {total} variables shown: those with the largest real − synthetic difference",
                     fontsize=9)
    fig.tight_layout()
    return _png(fig)


def kaplan_meier(results: list[dict], min_cell: int) -> str:
    """One panel per cancer type: both curves at the months the real one may be shown at (straight lines
    between them), and the step where they are farthest apart (shaded)."""
    fig = Figure(figsize=(4.2 * max(len(results), 1), 3.6))
    for i, km in enumerate(results):
        ax = fig.add_subplot(1, max(len(results), 1), i + 1)
        cancer, curve = km["cancer_type"], km["curve"]
        years = np.array(curve["months"], dtype="float64") / 12
        for side, colour, style in (("real", REAL, "-"), ("synthetic", SYNTHETIC, "--")):
            values = curve[f"survival_{side}"]
            if values:
                n = km[f"n_{side}"]
                ax.plot(years, values, color=colour, linestyle=style, linewidth=1.6,
                        label=f"{side} (n={'<' + str(min_cell) if n is None else n})")
        at = km["at_interval_months"]
        if at is not None:
            end = at[1] if at[1] is not None else curve["months"][-1] + 12
            ax.axvspan(at[0] / 12, end / 12, color="grey", alpha=0.15, linewidth=0)
        if km["max_distance"] is not None:
            ax.set_title(f"{cancer}: max distance {km['max_distance']:.3f}", fontsize=10)
        elif km["n_real"] == 0 or km["n_synthetic"] == 0:
            ax.set_title(f"{cancer}: no {'synthetic' if km['n_synthetic'] == 0 else 'real'} patients", fontsize=10)
        else:
            ax.set_title(cancer, fontsize=10)
        if not curve["survival_real"] and km["n_real"] != 0:
            ax.text(0.5, 0.5, f"real curve not shown:\nfewer than {min_cell} real deaths", ha="center",
                    va="center", transform=ax.transAxes, fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("years since diagnosis", fontsize=8)
        ax.set_ylabel("survival probability", fontsize=8)
        ax.tick_params(labelsize=7)
        if curve["survival_real"] or curve["survival_synthetic"]:
            ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return _png(fig)


# the hazard ratios a clinician reads off a forest plot; the axis keeps those within the range shown
CLINICIAN_TICKS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0, 16.0, 32.0)
HR_AXIS_LIMITS = (0.05, 32.0)  # a CI wider than this is cut at the edge (its end drawn as an arrow)


def hr_axis_range(terms: list[dict]) -> tuple[float, float]:
    """The hazard-ratio range of a forest plot: every estimate and CI end (within :data:`HR_AXIS_LIMITS`),
    always 1, padded by 8% of the range on the log scale, and at least 0.7-1.6 (ticks at 0.75, 1, 1.5)."""
    values = [1.0]
    for term in terms:
        for side in ("real", "synthetic"):
            est = term.get(side)
            if est is not None:
                values += [v for v in (est["hr"], est["lower"], est["upper"]) if v is not None and np.isfinite(v)
                           and v > 0]
    lo, hi = (float(np.clip(v, *HR_AXIS_LIMITS)) for v in (min(values), max(values)))
    pad = max(math.log(hi / lo), math.log(2.0)) * 0.08
    return (min(max(lo * math.exp(-pad), HR_AXIS_LIMITS[0]), 0.7),
            max(min(hi * math.exp(pad), HR_AXIS_LIMITS[1]), 1.6))


def clinician_ticks(lo: float, hi: float) -> list[float]:
    """The ticks of :data:`CLINICIAN_TICKS` within [lo, hi]; 0.75 and 1.5 only on a narrow axis (below a
    16-fold range), where they do not crowd their neighbours."""
    narrow = hi / lo < 16
    return [t for t in CLINICIAN_TICKS if lo <= t <= hi and (narrow or t not in (0.75, 1.5))]


def _forest(ax, terms: list[dict], reference: str) -> None:
    """Real (blue circle, above) and synthetic (orange square, below) hazard ratios side by side for each term,
    95% CIs as bars, on a log axis with the ticks a clinician reads (0.25, 0.5, 1, 2, 4...) and a reference line
    at 1; an end cut at the axis' edge ends in an arrow; a red cross marks a term whose synthetic CI misses the
    real hazard ratio."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo, hi = hr_axis_range(terms)
    labels, labelled = [], set()
    for i, term in enumerate(terms):
        y = len(terms) - 1 - i
        labels.append((y, term_label(term["term"], reference)))
        if i % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="#f3f5f7", linewidth=0, zorder=0)
        for side, colour, offset, marker in (("real", REAL, 0.17, "o"), ("synthetic", SYNTHETIC, -0.17, "s")):
            est = term[side]
            if est is None:
                continue
            hr = float(np.clip(est["hr"], lo, hi))
            lower, upper = (float(np.clip(v, lo, hi)) if v is not None and np.isfinite(v) else (lo if k == 0 else hi)
                            for k, v in enumerate((est["lower"], est["upper"])))
            ax.errorbar(hr, y + offset, xerr=[[hr - lower], [upper - hr]], fmt=marker, color=colour, capsize=3,
                        markersize=6, elinewidth=1.8, zorder=3, label=None if side in labelled else side)
            for end, cut, tip in ((lower, est["lower"] is None or not est["lower"] > lo, "<"),
                                  (upper, est["upper"] is None or not est["upper"] < hi, ">")):
                if cut:
                    ax.plot([end], [y + offset], marker=tip, color=colour, markersize=5, zorder=3)
            labelled.add(side)
        if term.get("covered") is False:
            ax.text(1.0, y, "× ", transform=ax.get_yaxis_transform(), ha="right", va="center", color="#b03a2e",
                    fontsize=10, fontweight="bold")
    if any(term.get("covered") is False for term in terms):
        ax.plot([], [], "x", color="#b03a2e", markersize=6, label="synthetic CI\nmisses real HR")
    ax.axvline(1.0, color="#57606a", linewidth=1.1, zorder=2)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ticks = clinician_ticks(lo, hi)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.grid(axis="x", color="#d0d7de", linewidth=0.6, zorder=1)
    ax.set_axisbelow(True)
    ax.set_ylim(-0.6, max(len(terms), 1) - 0.4)
    ax.set_yticks([y for y, _ in labels])
    ax.set_yticklabels([label for _, label in labels], fontsize=10)
    ax.set_xlabel("hazard ratio (log scale, 95% CI); < 1: lower risk of death, > 1: higher", fontsize=9)
    ax.tick_params(axis="x", labelsize=9)
    ax.tick_params(axis="y", length=0)
    if terms:
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, borderaxespad=0.3)


def forest(terms: list[dict], reference: str) -> str:
    """Hazard ratios with 95% CIs, real above synthetic for each term, log scale."""
    fig = Figure(figsize=(8, 0.6 * max(len(terms), 1) + 1.3))
    _forest(fig.add_subplot(1, 1, 1), terms, reference)
    fig.tight_layout()
    return _png(fig)


def forest_by_cancer(models: list[dict]) -> str:
    """One forest plot per cancer type's model (treatments and subtypes); a cross marks a term whose synthetic
    95% CI misses the real hazard ratio."""
    models = [m for m in models if m["terms"]] or models[:1]
    rows = max(len(models), 1)
    heights = [0.5 * max(len(m["terms"]), 1) + 1.1 for m in models] or [1.5]
    fig = Figure(figsize=(9, sum(heights)))
    grid = fig.add_gridspec(rows, 1, height_ratios=heights)
    for i, model in enumerate(models):
        ax = fig.add_subplot(grid[i, 0])
        _forest(ax, model["terms"], model.get("reference_subtype") or "the reference subtype")
        ax.set_title(f"{model['cancer']} (stratified by stage)" if model["terms"] else
                     f"{model['cancer']}: no model", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def treatment_shares(cells: list[dict], treatments: list[str]) -> str:
    """Share of patients receiving each treatment by stage: one row of panels per cancer type, one column per
    treatment; real solid, synthetic dashed."""
    cancers = sorted({c["cancer"] for c in cells})
    rows, columns = max(len(cancers), 1), max(len(treatments), 1)
    fig = Figure(figsize=(2.6 * columns, 2.1 * rows + 0.4))
    for i, cancer in enumerate(cancers):
        for j, flag in enumerate(treatments):
            ax = fig.add_subplot(rows, columns, i * columns + j + 1)
            own = sorted((c for c in cells if c["cancer"] == cancer and c["treatment"] == flag),
                         key=lambda c: c["stage"])
            for side, colour, style in (("real", REAL, "-"), ("synthetic", SYNTHETIC, "--")):
                points = [(c["stage"], c[f"share_{side}"]) for c in own if c[f"share_{side}"] is not None]
                if points:
                    ax.plot(*zip(*points), color=colour, linestyle=style, marker="o", markersize=3, linewidth=1.4)
            for c in own:
                if c["checked"] and not c["within"]:
                    ax.axvspan(c["stage"] - 0.3, c["stage"] + 0.3, color="#b03a2e", alpha=0.15, linewidth=0)
            ax.set_ylim(-0.03, 1.03)
            ax.set_xticks([1, 2, 3, 4])
            ax.tick_params(labelsize=7)
            if i == 0:
                ax.set_title(flag.replace("_", " "), fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{cancer}\nshare treated", fontsize=8)
            if i == rows - 1:
                ax.set_xlabel("stage", fontsize=8)
    fig.legend(handles=_legend_handles(), loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fixed_margins(fig, left=0.75, right=0.1, bottom=0.5, top=0.6, wspace=0.35, hspace=0.3)
    return _png(fig)


def claims(section: dict) -> str:
    """Kinds of stays, ATC classes of dispensings, day cases, and the quartiles of length of stay and of the time
    to the first chemotherapy session, real vs synthetic."""
    fig = Figure(figsize=(14, 3.4))
    for i, (key, title) in enumerate((("stay_kinds", "kinds of stay (share of stays)"),
                                      ("atc_classes", "ATC classes (share of dispensings)"))):
        ax = fig.add_subplot(1, 4, i + 1)
        rows = section[key]
        if rows is None:
            ax.text(0.5, 0.5, "not shown", ha="center", va="center", transform=ax.transAxes, fontsize=8)
        else:
            _bars(ax, [{"value": r["category"], "real_share": r["share_real"] or 0.0,
                        "synthetic_share": r["share_synthetic"] or 0.0} for r in rows])
        ax.set_title(title, fontsize=9)
    ax = fig.add_subplot(1, 4, 3)
    day = section["day_cases"]
    ax.bar([0], [day["share_real"] or 0.0], color=REAL, width=0.6)
    ax.bar([1], [day["share_synthetic"] or 0.0], color=SYNTHETIC, width=0.6)
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["real", "synthetic"], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("day cases (share of stays)", fontsize=9)
    ax = fig.add_subplot(1, 4, 4)
    for y, (key, label) in enumerate((("length_of_stay", "nights per stay"),
                                      ("chemotherapy_delay", "days to 1st chemo session"))):
        for side, colour, offset in (("real", REAL, 0.12), ("synthetic", SYNTHETIC, -0.12)):
            q = section[key][f"quantiles_{side}"]
            lo, mid, hi = q.get("p25"), q.get("p50"), q.get("p75")
            if mid is not None:
                ax.plot([mid], [y + offset], "o", color=colour, markersize=5)
            if lo is not None and hi is not None:
                ax.plot([lo, hi], [y + offset, y + offset], color=colour, linewidth=2)
    ax.set_yticks([0, 1])
    ax.set_yticklabels(["nights per stay", "days to 1st\nchemo session"], fontsize=8)
    ax.set_xscale("symlog")
    ax.set_title("median and quartiles", fontsize=9)
    ax.tick_params(labelsize=7)
    fig.legend(handles=_legend_handles(), loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return _png(fig)


STEP_COLOURS = {"surgery": "#4c72b0", "chemotherapy": "#dd8452", "radiotherapy": "#55a868",
                "hormone therapy": "#c44e52", "no treatment claim": "#bbbbbb", "(other)": "#8c8c8c"}
ARROW = " → "


def _alluvial(ax, rows: list[dict], side: str, gap: float = 0.02) -> None:
    """Each pathway a band from its first step (left) to its last; a column per step, nodes stacked in the
    order of :data:`STEP_COLOURS`, band widths the shares of patients."""
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path

    order = list(STEP_COLOURS)
    paths = []
    for r in rows:
        share = r[f"share_{side}"] or 0.0
        steps = r["pathway"].split(ARROW) if r["pathway"] not in ("(other)", "no treatment claim") else [r["pathway"]]
        if share > 0:
            paths.append((tuple(steps), share))
    paths.sort(key=lambda p: [order.index(s) if s in order else len(order) for s in p[0]])
    columns = max((len(p) for p, _ in paths), default=1)
    slots = {}  # (path index, column) -> (bottom, top)
    for k in range(columns):
        y = 1.0
        for node in order:
            members = [i for i, (p, _) in enumerate(paths) if len(p) > k and p[k] == node]
            if not members:
                continue
            top = y
            for i in members:
                slots[(i, k)] = (y - paths[i][1], y)
                y -= paths[i][1]
            ax.add_patch(Rectangle((k - 0.04, y), 0.08, top - y, color=STEP_COLOURS.get(node, "#8c8c8c")))
            if top - y >= 0.04:
                ax.text(k + 0.06 if k < columns - 1 else k - 0.06, (top + y) / 2, node, fontsize=7, va="center",
                        ha="left" if k < columns - 1 else "right")
            y -= gap
    for i, (p, _) in enumerate(paths):
        for k in range(len(p) - 1):
            (b0, t0), (b1, t1) = slots[(i, k)], slots[(i, k + 1)]
            x0, x1 = k + 0.04, k + 0.96
            mid = (x0 + x1) / 2
            vertices = [(x0, t0), (mid, t0), (mid, t1), (x1, t1), (x1, b1), (mid, b1), (mid, b0), (x0, b0), (x0, t0)]
            codes = [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.LINETO, Path.CURVE4, Path.CURVE4,
                     Path.CURVE4, Path.CLOSEPOLY]
            ax.add_patch(PathPatch(Path(vertices, codes), facecolor=STEP_COLOURS.get(p[0], "#8c8c8c"), alpha=0.35,
                                   edgecolor="none"))
    ax.set_xlim(-0.3, max(columns - 1, 1) + 0.3)
    ax.set_ylim(min([b for b, _ in slots.values()] + [0.0]) - 0.02, 1.02)
    ax.set_xticks(range(columns))
    ax.set_xticklabels([f"{k + 1}{'st' if k == 0 else 'nd' if k == 1 else 'rd' if k == 2 else 'th'} step"
                        for k in range(columns)], fontsize=7)
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def pathways(entries: list[dict], min_cell: int) -> str:
    """Sankey-style figure of the care pathways by cancer type: real (left) and synthetic (right) on the same
    pathways (those at least ``min_cell`` real patients follow; the rest as "(other)")."""
    rows = max(len(entries), 1)
    fig = Figure(figsize=(12, 3.2 * rows))
    for i, entry in enumerate(entries):
        for j, side in enumerate(("real", "synthetic")):
            ax = fig.add_subplot(rows, 2, 2 * i + j + 1)
            if entry["pathways"] is None:
                _suppressed(ax, min_cell)
                ax.set_axis_off()
            else:
                _alluvial(ax, entry["pathways"], side)
            ax.set_title(f"{entry['cancer']}: {side}", fontsize=10, color=REAL if side == "real" else SYNTHETIC)
    fig.tight_layout()
    return _png(fig)


def costs(groups: list[dict]) -> str:
    """Mean cost per patient with its 95% bootstrap CI, all stages then by stage, one panel per cancer type."""
    cancers = sorted({g["cancer"] for g in groups})
    fig = Figure(figsize=(4.2 * max(len(cancers), 1), 3.4))
    for i, cancer in enumerate(cancers):
        ax = fig.add_subplot(1, max(len(cancers), 1), i + 1)
        own = [g for g in groups if g["cancer"] == cancer]
        own.sort(key=lambda g: -1 if g["stage"] is None else g["stage"])
        labels = ["all" if g["stage"] is None else f"stage {g['stage']}" for g in own]
        for side, colour, offset, marker in (("real", REAL, -0.12, "o"), ("synthetic", SYNTHETIC, 0.12, "s")):
            for x, g in enumerate(own):
                est = g[side]
                if est["mean"] is None:
                    continue
                ci = est["ci"] or [est["mean"], est["mean"]]
                ax.errorbar(x + offset, est["mean"], yerr=[[est["mean"] - ci[0]], [ci[1] - est["mean"]]],
                            fmt=marker, color=colour, capsize=3, markersize=5)
        ax.set_xticks(range(len(own)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel("mean cost per patient (EUR)", fontsize=8)
        ax.set_title(cancer, fontsize=10)
        ax.tick_params(labelsize=7)
    fig.legend(handles=_legend_handles(), loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return _png(fig)


def extra_columns(section: dict) -> str:
    """A wide table's extra columns in two panels: every correlation of an extra column with a core variable, real
    (x) vs synthetic (y), survival ones apart; and each column's share of empty values, real vs synthetic."""
    fig = Figure(figsize=(10, 4.4))
    ax = fig.add_subplot(1, 2, 1)
    a = section["associations"]
    targets = section["targets"]
    points = [(r, s, targets[k] == "death within 2 years") for row_r, row_s in zip(a["real"], a["synthetic"])
              for k, (r, s) in enumerate(zip(row_r, row_s)) if r is not None and s is not None]
    for survival, colour, label in ((False, "#999999", "stage, age, sex, treatments, cancer, subtype"),
                                    (True, SYNTHETIC, "death within 2 years")):
        xy = np.array([(r, s) for r, s, t in points if t == survival]).reshape(-1, 2)
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.5, color=colour, label=label)
    ax.plot([-1, 1], [-1, 1], color="black", linewidth=0.8)
    ax.set(xlim=(-1, 1), ylim=(-1, 1), xlabel="real Spearman correlation", ylabel="synthetic")
    ax.set_title("extra columns ~ core variables", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax = fig.add_subplot(1, 2, 2)
    xy = np.array([(c["missing_real"], c["missing_synthetic"]) for c in section["columns"]
                   if c["missing_real"] is not None]).reshape(-1, 2)
    ax.scatter(xy[:, 0], xy[:, 1], s=8, alpha=0.6, color=REAL)
    ax.plot([0, 1], [0, 1], color="black", linewidth=0.8)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="real share of empty values", ylabel="synthetic")
    ax.set_title("sparsity of each extra column", fontsize=10)
    fig.tight_layout()
    return _png(fig)
