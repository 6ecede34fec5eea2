"""The report's figures, as base64 PNG strings ready to embed in HTML.

Figures are built with matplotlib's object API (``Figure`` + Agg canvas): no pyplot, no
global backend switch, nothing left open. Real data is blue, synthetic orange, everywhere.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harmonie.report_html import png as _png
from synth.report.distributions import Feature, category_shares
from synth.report.survival import term_label

REAL, SYNTHETIC = "#3b6ea8", "#e07b28"
HIST_BINS = 30


def _as_number(values: pd.Series) -> np.ndarray:
    """Numbers as floats; dates as decimal years (readable on an axis)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return 1970 + (values.dropna() - pd.Timestamp("1970-01-01")).dt.days.to_numpy("float64") / 365.25
    return values.dropna().to_numpy("float64")


def _histogram(ax, feature: Feature) -> None:
    r, s = _as_number(feature.real), _as_number(feature.synthetic)
    both = [x for x in (r, s) if len(x)]
    if not both:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        return
    lo = min(np.quantile(x, 0.005) for x in both)
    hi = max(np.quantile(x, 0.995) for x in both)
    integers = all(np.all(x == np.round(x)) for x in both)
    if integers and hi - lo <= 40:
        edges = np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 1.5)
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1, HIST_BINS + 1)
    for values, colour, kind in ((r, REAL, "stepfilled"), (s, SYNTHETIC, "step")):
        if len(values):  # values beyond the shown range are counted in the edge bins
            ax.hist(np.clip(values, edges[0], edges[-1]), bins=edges, weights=np.full(len(values), 1 / len(values)),
                    histtype=kind, color=colour, alpha=0.45 if kind == "stepfilled" else 1.0, linewidth=1.5)
    ax.set_ylabel("share", fontsize=8)


def _bars(ax, feature: Feature) -> None:
    rows, _, _ = category_shares(feature.real, feature.synthetic)
    labels = [r["value"] for r in rows]
    x = np.arange(len(labels))
    ax.bar(x - 0.2, [r["real_share"] for r in rows], width=0.4, color=REAL)
    ax.bar(x + 0.2, [r["synthetic_share"] for r in rows], width=0.4, color=SYNTHETIC)
    ax.set_xticks(x)
    long = max((len(label) for label in labels), default=0) > 4 or len(labels) > 6
    ax.set_xticklabels([label[:18] for label in labels], rotation=45 if long else 0, ha="right" if long else "center",
                       fontsize=7)
    ax.set_ylabel("share", fontsize=8)


def distributions(features: list[Feature], summaries: list[dict], columns: int = 4) -> str:
    """Small multiples: one panel per feature, real vs synthetic."""
    rows = math.ceil(len(features) / columns)
    fig = Figure(figsize=(3.6 * columns, 2.9 * rows))
    for i, (feature, summary) in enumerate(zip(features, summaries)):
        ax = fig.add_subplot(rows, columns, i + 1)
        if feature.kind == "categorical":
            _bars(ax, feature)
            score = f"TVD {summary['total_variation']:.2f}"
        else:
            _histogram(ax, feature)
            ks = summary.get("ks_statistic")
            score = "" if ks is None else f"KS {ks:.2f}"
        ax.set_title(f"{feature.name}  ({score})" if score else feature.name, fontsize=9)
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


def kaplan_meier(results: list[dict], curves: dict) -> str:
    """One panel per cancer type: both curves and where they are farthest apart."""
    fig = Figure(figsize=(4.2 * max(len(results), 1), 3.6))
    for i, km in enumerate(results):
        ax = fig.add_subplot(1, max(len(results), 1), i + 1)
        cancer = km["cancer_type"]
        for side, colour, style in (("real", REAL, "-"), ("synthetic", SYNTHETIC, "--")):
            if side in curves[cancer]:
                t, surv = curves[cancer][side]
                ax.step(t / 365.25, surv, where="post", color=colour, linestyle=style, linewidth=1.6,
                        label=f"{side} (n={km['n_' + side]})")
        if km["max_distance"] is not None:
            ax.axvline(km["at_time_days"] / 365.25, color="grey", linestyle=":", linewidth=1)
            ax.set_title(f"{cancer}: max distance {km['max_distance']:.3f}", fontsize=10)
        else:
            absent = "synthetic" if km["n_real"] else "real"
            ax.set_title(f"{cancer}: no {absent} patients", fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("years since diagnosis", fontsize=8)
        ax.set_ylabel("survival probability", fontsize=8)
        ax.tick_params(labelsize=7)
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
