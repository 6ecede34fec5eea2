"""The control-arm reports' figures, drawn from the written JSON alone (never from patients).

Like :mod:`synth.report.plots`: matplotlib's object API, no pyplot, PNG bytes without a
timestamp (:func:`harmonie.report_html.png`), so a report's figures hold nothing its JSON does
not and rerunning gives the same bytes. Trial arm in green, external controls in blue (before
balancing dashed, after solid).
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from harmonie.io import ensure_output_dir, write_bytes
from harmonie.report_html import png as _png

TRIAL, CONTROL, BEFORE = "#2f8f5b", "#3b6ea8", "#9aa7b4"


def love_plot(balance: list[dict], target: float) -> str:
    """|SMD| of each covariate level before (open) and after (filled) balancing, the target as a line."""
    rows = [r for r in balance if r["before"]["smd"] is not None or r["after"]["smd"] is not None]
    fig = Figure(figsize=(6.4, max(2.2, 0.28 * len(rows) + 1.2)))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(rows))[::-1]
    for moment, style in (("before", dict(facecolors="none", edgecolors=BEFORE)), ("after", dict(color=CONTROL))):
        values = [abs(r[moment]["smd"]) if r[moment]["smd"] is not None else np.nan for r in rows]
        ax.scatter(values, y, s=28, label=f"{moment} balancing", **style)
    ax.axvline(target, color="#b03a2e", linewidth=1, linestyle="--", label=f"|SMD| = {target:g}")
    ax.set_yticks(y)
    ax.set_yticklabels([r["term"] for r in rows], fontsize=7)
    ax.set_xlabel("absolute standardised mean difference (trial − control)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_xlim(left=0)
    if not rows:
        ax.text(0.5, 0.5, "no covariate may be shown", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def kaplan_meier(curves: dict[str, dict], min_cell: int) -> str:
    """The trial arm and the external control before and after balancing, at the months each may be shown."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    styles = {"trial": (TRIAL, "-", "trial arm"), "control_before": (BEFORE, "--", "external control, unbalanced"),
              "control_balanced": (CONTROL, "-", "external control, balanced")}
    drawn = 0
    for key, (colour, line, label) in styles.items():
        entry = curves.get(key) or {}
        curve = entry.get("curve") or {}
        if curve.get("survival_real"):
            months = np.array(curve["months"], dtype=float)
            ax.plot(months / 12, curve["survival_real"], color=colour, linestyle=line, linewidth=1.6,
                    label=label)
            drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, f"no curve may be shown:\nfewer than {min_cell} deaths per step", ha="center", va="center",
                transform=ax.transAxes, fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("years since the index date", fontsize=8)
    ax.set_ylabel("survival probability", fontsize=8)
    ax.tick_params(labelsize=7)
    if drawn:
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return _png(fig)


def propensity(histograms: dict[str, dict | None], min_cell: int) -> str:
    """The propensity score's distribution in each arm (share of the arm per merged bin): their overlap."""
    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.add_subplot(1, 1, 1)
    shown = 0
    for key, colour, fill in (("trial", TRIAL, True), ("control", CONTROL, False)):
        entry = histograms.get(key)
        if not entry:
            continue
        hist = entry["histogram"]
        edges = np.array(hist["edges"], dtype=float)
        shares = np.array(hist["real_share"], dtype=float) / np.diff(edges)
        ax.stairs(shares, edges, fill=fill, color=colour, alpha=0.45 if fill else 1.0, linewidth=1.5,
                  label="trial arm" if key == "trial" else "external control")
        shown += 1
    if not shown:
        ax.text(0.5, 0.5, f"fewer than {min_cell} patients: not shown", ha="center", va="center",
                transform=ax.transAxes, fontsize=8)
    ax.set_xlabel("propensity score (probability of being in the trial)", fontsize=8)
    ax.set_ylabel("density", fontsize=8)
    ax.tick_params(labelsize=7)
    if shown:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def calibration(summary: list[dict], bounds: tuple[float, float], min_coverage: float) -> str:
    """Type I error, power and coverage per source and analysis, with 95% Monte-Carlo intervals and the targets."""
    panels = (("type I error (HR 1)", lambda r: r["hazard_ratio"] == 1, "rejection", bounds),
              ("power", lambda r: r["hazard_ratio"] != 1, "rejection", (0.8, None)),
              ("95% CI coverage", lambda r: True, "coverage", (min_coverage, None)))
    fig = Figure(figsize=(12, 3.6))
    for i, (title, keep, key, target) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        rows = [r for r in summary if keep(r) and key in r]
        short = {"balanced": "bal.", "unadjusted": "unadj."}
        labels = [f"{r['source']}\n{short.get(r['analysis'], r['analysis'])}"
                  + ("" if key == "rejection" else f"\nθ {r['hazard_ratio']:g}") for r in rows]
        x = np.arange(len(rows))
        values = np.array([r[key] for r in rows], dtype=float)
        errors = 1.96 * np.array([r[f"{key}_mc_se"] for r in rows], dtype=float)
        colours = [CONTROL if r["analysis"] == "balanced" else BEFORE for r in rows]
        ax.bar(x, values, color=colours, yerr=errors, capsize=3)
        for bound in (t for t in target if t is not None):
            ax.axhline(bound, color="#b03a2e", linewidth=1, linestyle="--")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=6.5)
        ax.set_ylim(0, 1.02)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


def write_pngs(images: dict[str, str], folder: Path) -> None:
    """The figures (base64 PNGs by name) as ``folder/NAME.png`` files, for slides and other reports."""
    out = ensure_output_dir(folder)
    for name, png in images.items():
        write_bytes(base64.b64decode(png), out / f"{name}.png")
