"""ROC AUC of a membership attack's scores, with DeLong's confidence interval, and its ROC curve.

A membership attack gives every target a score (higher = "more likely a training patient").
Its ROC AUC is the probability that a random member scores above a random non-member (ties
count one half): 0.5 means the attacker tells members from non-members no better than a
coin. DeLong's variance (DeLong, DeLong & Clarke-Pearson 1988, in the fast midrank form of
Sun & Xu 2014) needs no resampling, so the interval is exact to the digit on a rerun and
costs a sort: it handles the many ties of a discrete score (the cell attack's counts).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm, rankdata

CONFIDENCE = 0.95
ROC_GRID = np.linspace(0.0, 1.0, 51)  # false-positive rates at which the curve is kept (aggregates, never one target)


def delong_auc(members: np.ndarray, non_members: np.ndarray, confidence: float = CONFIDENCE) -> dict:
    """AUC of ``members`` vs ``non_members`` scores, its DeLong standard error and two-sided CI (clipped to [0, 1])."""
    x, y = np.asarray(members, dtype=np.float64), np.asarray(non_members, dtype=np.float64)
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"an AUC needs at least 2 members and 2 non-members (got {m} and {n})")
    pooled = rankdata(np.concatenate([x, y]))  # midranks: ties count one half
    rank_x, rank_y = pooled[:m], pooled[m:]
    auc = (rank_x.sum() - m * (m + 1) / 2) / (m * n)
    v10 = (rank_x - rankdata(x)) / n  # per member: share of non-members it beats
    v01 = 1.0 - (rank_y - rankdata(y)) / m  # per non-member: share of members that beat it
    se = float(np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n))
    z = float(norm.ppf(0.5 + confidence / 2))
    return {"auc": float(auc), "se": se, "ci": [max(0.0, auc - z * se), min(1.0, auc + z * se)],
            "members": m, "non_members": n}


def roc_curve(members: np.ndarray, non_members: np.ndarray) -> dict:
    """True-positive rate at each false-positive rate of :data:`ROC_GRID` (ties broken half-way), for a figure."""
    x, y = np.sort(np.asarray(members, dtype=np.float64)), np.sort(np.asarray(non_members, dtype=np.float64))
    thresholds = np.unique(np.concatenate([x, y]))[::-1]
    # at threshold t, flag score >= t; ties at t are what moves the curve along a diagonal segment
    fpr = np.concatenate([[0.0], (len(y) - np.searchsorted(y, thresholds, side="left")) / len(y)])
    tpr = np.concatenate([[0.0], (len(x) - np.searchsorted(x, thresholds, side="left")) / len(x)])
    return {"fpr": [round(float(v), 4) for v in ROC_GRID],
            "tpr": [round(float(v), 4) for v in np.interp(ROC_GRID, fpr, tpr)]}


def tpr_at_fpr(members: np.ndarray, non_members: np.ndarray, fpr: float) -> float:
    """Share of members flagged when the attacker flags at most ``fpr`` of the non-members (a strict threshold)."""
    y = np.sort(np.asarray(non_members, dtype=np.float64))[::-1]
    allowed = int(np.floor(fpr * len(y)))
    threshold = y[allowed] if allowed < len(y) else -np.inf  # scores above it: at most `allowed` non-members
    return float((np.asarray(members, dtype=np.float64) > threshold).mean())
