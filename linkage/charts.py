"""Charts of a linkage run (PNG): match-weight histogram, m and u per comparison, and a
waterfall explaining a few pairs comparison by comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def weight_histogram(path: Path, weights: np.ndarray, threshold_p: float, counts: np.ndarray | None = None) -> Path:
    """Match weights of all candidate pairs (``counts``: how many pairs have each weight, if aggregated)."""
    plt = _pyplot()
    threshold_w = float(np.log2(threshold_p / (1 - threshold_p))) if 0 < threshold_p < 1 else 0.0
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(weights, bins=120, weights=counts, color="#4477aa")
    ax.set_yscale("log")
    ax.axvline(threshold_w, color="#cc3311", linestyle="--", label=f"threshold (p = {threshold_p:.2f})")
    ax.set_xlabel("match weight (log2 odds)")
    ax.set_ylabel("candidate pairs (log scale)")
    ax.set_title("Match weights of all candidate pairs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def link_charts(result, out: Path) -> dict[str, Path]:
    plt = _pyplot()
    model = result.model
    threshold_p = result.summary["threshold"]["probability"]
    weights, counts = result.weight_distribution()
    paths = {"weight_histogram": weight_histogram(out / "match_weight_histogram.png", weights, threshold_p, counts)}

    rows = len(model.comparisons)
    fig, axes = plt.subplots(rows, 1, figsize=(8, 1.6 * rows + 0.8), squeeze=False)
    for ax, c, m, u in zip(axes[:, 0], model.comparisons, model.m_, model.u_):
        y = np.arange(len(c.labels))
        ax.barh(y - 0.2, m, height=0.4, color="#228833", label="m (matches)")
        ax.barh(y + 0.2, u, height=0.4, color="#aa3377", label="u (non-matches)")
        ax.set_yticks(y, c.labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(c.name, fontsize=9, loc="left")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    fig.suptitle("m and u probabilities per comparison level")
    fig.tight_layout()
    paths["m_u"] = out / "m_u_per_comparison.png"
    fig.savefig(paths["m_u"], dpi=110)
    plt.close(fig)

    links = result.links
    if links.num_rows:
        picks = sorted({0, links.num_rows // 2, links.num_rows - 1})
        fig, axes = plt.subplots(1, len(picks), figsize=(5 * len(picks), 4.5), squeeze=False)
        level_weights = model.level_weights()
        for ax, row in zip(axes[0], picks):
            names, contributions = ["prior"], [model.prior_weight]
            for j, c in enumerate(model.comparisons):
                level = links[f"level_{c.name}"][row].as_py()
                names.append(f"{c.name}\n{c.labels[level] if level >= 0 else 'missing'}")
                contributions.append(float(level_weights[j][level]) if level >= 0 else 0.0)
            total = links["match_weight"][row].as_py()
            if abs(total - sum(contributions)) > 1e-6:
                names.append("term frequency")
                contributions.append(total - sum(contributions))
            starts = np.concatenate([[0], np.cumsum(contributions)[:-1]])
            colors = ["#228833" if v >= 0 else "#cc3311" for v in contributions]
            ax.bar(range(len(contributions)), contributions, bottom=starts, color=colors)
            ax.axhline(total, color="black", linewidth=0.8)
            ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
            ax.set_title(f"link #{row + 1}: weight {total:.1f}, p = {links['match_probability'][row].as_py():.3f}",
                         fontsize=9)
        fig.suptitle("How each comparison moves the match weight (waterfall)")
        fig.tight_layout()
        paths["waterfall"] = out / "waterfall.png"
        fig.savefig(paths["waterfall"], dpi=110)
        plt.close(fig)
    return paths
