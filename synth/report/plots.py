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
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return _png(fig)


def _legend_handles():
    from matplotlib.patches import Patch

    return [Patch(color=REAL, alpha=0.6, label="real"), Patch(color=SYNTHETIC, label="synthetic")]


def correlations(section: dict) -> str:
    """Real, synthetic and |difference| association matrices side by side."""
    columns = section["columns"]
    real, synthetic = np.array(section["real"]), np.array(section["synthetic"])
    panels = (("real", real, "coolwarm", -1), ("synthetic", synthetic, "coolwarm", -1),
              ("|real - synthetic|", np.abs(real - synthetic), "Reds", 0))
    size = max(4.0, 0.32 * len(columns) + 1.5)
    fig = Figure(figsize=(3 * size, size + 0.6))
    for i, (title, matrix, cmap, vmin) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=1)
        ax.set_xticks(range(len(columns)))
        ax.set_yticks(range(len(columns)))
        ax.set_xticklabels(columns, rotation=90, fontsize=7)
        ax.set_yticklabels(columns if i == 0 else [], fontsize=7)
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
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


def forest(terms: list[dict], reference: str) -> str:
    """Hazard ratios with 95% CIs, real above synthetic for each term, log scale."""
    fig = Figure(figsize=(7, 0.55 * max(len(terms), 1) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    labels, labelled = [], set()
    for i, term in enumerate(terms):
        y = len(terms) - 1 - i
        labels.append((y, term_label(term["term"], reference)))
        for side, colour, offset, marker in (("real", REAL, 0.15, "o"), ("synthetic", SYNTHETIC, -0.15, "s")):
            est = term[side]
            if est is None:
                continue
            ax.errorbar(est["hr"], y + offset, xerr=[[est["hr"] - est["lower"]], [est["upper"] - est["hr"]]],
                        fmt=marker, color=colour, capsize=3, markersize=5, label=None if side in labelled else side)
            labelled.add(side)
    ax.axvline(1.0, color="grey", linewidth=1, linestyle=":")
    ax.set_xscale("log")
    ax.set_yticks([y for y, _ in labels])
    ax.set_yticklabels([label for _, label in labels], fontsize=8)
    ax.set_xlabel("hazard ratio (log scale, 95% CI)", fontsize=8)
    ax.tick_params(labelsize=7)
    if terms:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _png(fig)
