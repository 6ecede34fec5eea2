"""Charts of a linkage run (PNG): match-weight histogram, m and u per comparison (log axis), and a
waterfall explaining three pairs comparison by comparison: the weakest link, a grey-zone pair and
the strongest pair not linked. The interactive views are in the linkage report (:mod:`linkage.report`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def weight_histogram(path: Path, weights: np.ndarray, threshold_p: float, counts: np.ndarray | None = None) -> Path:
    """Match weights of all candidate pairs (``counts``: how many pairs have each weight, if aggregated).

    No threshold line: the threshold is on the match probability per left record (:mod:`linkage.decide`),
    which no single pair weight corresponds to (the old line at log2(p / (1 - p)) was nowhere near the
    links); the chosen probability is in the title, and the linkage report's threshold tool shows it."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(weights, bins=120, weights=counts, color="#4477aa")
    ax.set_yscale("log")
    ax.set_xlabel("match weight (log2 odds)")
    ax.set_ylabel("candidate pairs (log scale)")
    ax.set_title(f"Match weights of all candidate pairs (links: match probability per record >= {threshold_p:.3f})",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def _waterfall_picks(result) -> list[tuple[str, int]]:
    """Three pairs worth explaining, by position: the least probable link, the grey-zone pair nearest
    p = 0.5 that was not linked (else the least probable link in the zone), and the strongest pair that
    is not a link. Chosen by what they are, not by row number, and the same for the same run."""
    decision, weights = result.decision, result.weights
    if decision is None:
        return []
    probability, picks = decision.probability, []
    if len(decision.linked):
        picks.append(("weakest link", int(decision.linked[np.argmin(probability[decision.linked])])))
    grey = np.setdiff1d(decision.grey, decision.linked)
    if len(grey):
        picks.append(("grey zone, not linked", int(grey[np.argmin(np.abs(probability[grey] - 0.5))])))
    elif len(decision.grey):
        picks.append(("grey zone, linked", int(decision.grey[np.argmin(probability[decision.grey])])))
    others = np.ones(len(weights), dtype=bool)
    others[decision.linked] = False
    if others.any():
        picks.append(("strongest pair not linked", int(np.flatnonzero(others)[np.argmax(weights[others])])))
    return picks


def _waterfall(ax, model, levels: np.ndarray, total: float, title: str) -> None:
    names, contributions = ["prior"], [model.prior_weight]
    level_weights = model.level_weights()
    for j, c in enumerate(model.comparisons):
        level = int(levels[j])
        names.append(f"{c.name}\n{c.labels[level] if level >= 0 else 'missing'}")
        contributions.append(float(level_weights[j][level]) if level >= 0 else 0.0)
    if abs(total - sum(contributions)) > 1e-6:
        names.append("term frequency")
        contributions.append(total - sum(contributions))
    ends = np.cumsum(contributions)
    starts = np.concatenate([[0], ends[:-1]])
    colors = ["#228833" if v > 0 else "#cc3311" if v < 0 else "#bbbbbb" for v in contributions]
    ax.bar(range(len(contributions)), contributions, bottom=starts, color=colors)
    ax.axhline(total, color="black", linewidth=0.8)
    ax.axhline(0, color="#888888", linewidth=0.5)
    reach = np.concatenate([starts, ends, [0.0, total]])
    margin = max((reach.max() - reach.min()) * 0.06, 0.5)
    ax.set_ylim(reach.min() - margin, reach.max() + margin)  # every bar inside the frame
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_ylabel("match weight (log2 odds)")
    ax.set_title(title, fontsize=8)


def link_charts(result, out: Path) -> dict[str, Path]:
    plt = _pyplot()
    model = result.model
    threshold_p = result.summary["threshold"]["probability"]
    weights, counts = result.weight_distribution()
    paths = {"weight_histogram": weight_histogram(out / "match_weight_histogram.png", weights, threshold_p, counts)}

    sizes = [c.n_levels + 1 for c in model.comparisons]  # each panel as tall as its levels need
    fig, axes = plt.subplots(len(sizes), 1, figsize=(8, 0.32 * sum(sizes) + 0.5 * len(sizes) + 0.8), squeeze=False,
                             gridspec_kw={"height_ratios": sizes})
    smallest = min(float(min(m.min(), u.min())) for m, u in zip(model.m_, model.u_))
    for ax, c, m, u in zip(axes[:, 0], model.comparisons, model.m_, model.u_):
        y = np.arange(len(c.labels))
        ax.scatter(m, y, color="#228833", label="m (matches)", zorder=3)
        ax.scatter(u, y, color="#aa3377", marker="s", label="u (random pairs)", zorder=3)
        ax.set_yticks(y, c.labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")  # the informative u of agreements are 1e-6..1e-4: invisible on a linear axis
        ax.set_xlim(max(smallest / 3, 1e-12), 1.5)
        ax.grid(axis="x", color="#eeeeee")
        ax.set_title(c.name, fontsize=9, loc="left")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), fontsize=8, loc="upper right", ncols=2)
    fig.suptitle("m and u probabilities per comparison level (log scale)", x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    paths["m_u"] = out / "m_u_per_comparison.png"
    fig.savefig(paths["m_u"], dpi=110, metadata={"Software": None})
    plt.close(fig)

    picks = _waterfall_picks(result)
    if picks:
        left_ids, right_ids = result.pair_ids(np.array([i for _, i in picks]))
        fig, axes = plt.subplots(1, len(picks), figsize=(5 * len(picks), 4.8), squeeze=False)
        for ax, (what, i), a, b in zip(axes[0], picks, left_ids.to_pylist(), right_ids.to_pylist()):
            pair = f"{a[:10]}… × {b[:10]}…" if a and b else "pair"
            _waterfall(ax, model, result.levels[i], float(result.weights[i]),
                       f"{what}: {pair}\nweight {result.weights[i]:.1f}, p = {result.decision.probability[i]:.3f}")
        fig.suptitle("How each comparison moves the match weight (waterfall; linkage ids)")
        fig.tight_layout()
        paths["waterfall"] = out / "waterfall.png"
        fig.savefig(paths["waterfall"], dpi=110, metadata={"Software": None})
        plt.close(fig)
    return paths
