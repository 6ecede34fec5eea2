"""Decisions: one-to-one links, the threshold, the grey zone, and the model's own
estimates of precision and recall.

One-to-one: pairs are accepted best weight first unless either record is already linked
(greedy assignment; ties broken by row order so results are deterministic). The
threshold maximises the model's expected F1 among the one-to-one pairs: expected true
links above t = sum of their probabilities, expected false links = sum of (1 - p), and
expected matches in all = sum of p over all one-to-one pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.kernels import greedy_one_to_one
from linkage.model import FellegiSunter
from linkage.spec import ModelSettings

ASSIGNMENT_FLOOR = 0.01  # pairs less likely than this are not even considered for a link


def one_to_one(left: np.ndarray, right: np.ndarray, weight: np.ndarray, n_left: int, n_right: int) -> np.ndarray:
    """Boolean mask of the pairs kept by greedy one-to-one assignment."""
    order = np.lexsort((right, left, -weight))
    return greedy_one_to_one(order, left, right, n_left, n_right)


@dataclass
class Threshold:
    probability: float
    expected_precision: float
    expected_recall: float
    expected_f1: float


def expected_quality(probability: np.ndarray, threshold: float) -> Threshold:
    total = float(probability.sum())
    above = probability[probability >= threshold]
    tp = float(above.sum())
    fp = float(len(above) - tp)
    precision = tp / (tp + fp) if len(above) else 1.0
    recall = tp / total if total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Threshold(threshold, precision, recall, f1)


def choose_threshold(probability: np.ndarray) -> Threshold:
    """The probability threshold maximising expected F1 (at least 0.5: a link is more likely than not)."""
    if len(probability) == 0:
        return Threshold(0.5, 1.0, 0.0, 0.0)
    p = np.sort(probability)[::-1]
    tp = np.cumsum(p)
    k = np.arange(1, len(p) + 1)
    precision, recall = tp / k, tp / tp[-1]
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    f1[p < 0.5] = -1
    best = int(np.argmax(f1))
    return expected_quality(probability, float(max(p[best], 0.5)))


@dataclass
class Decision:
    kept: np.ndarray    # positions (into the arrays given to :func:`decide`) of the one-to-one pairs
    linked: np.ndarray  # of those, the links
    grey: np.ndarray    # of those, the grey zone
    chosen: Threshold
    threshold_given: bool


def decide(left_rows: np.ndarray, right_rows: np.ndarray, weights: np.ndarray, n_left: int, n_right: int,
           threshold: float | None, settings: ModelSettings) -> Decision:
    """One-to-one assignment, threshold and grey zone over scored pairs in candidate order
    (ascending left row, then right row). Pairs below ``ASSIGNMENT_FLOOR`` may be left out
    beforehand: they are never considered."""
    probability = FellegiSunter.probability(weights)
    considered = np.flatnonzero(probability >= ASSIGNMENT_FLOOR)
    kept = considered[one_to_one(left_rows[considered], right_rows[considered], weights[considered],
                                 n_left, n_right)]
    threshold = threshold if threshold is not None else settings.threshold
    chosen = choose_threshold(probability[kept]) if threshold is None else \
        expected_quality(probability[kept], float(threshold))
    linked = kept[probability[kept] >= chosen.probability]
    low, high = settings.grey_zone
    grey = kept[(probability[kept] >= low) & (probability[kept] <= high)]
    return Decision(kept, linked, grey, chosen, threshold is not None)
