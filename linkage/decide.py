"""Decisions: match probabilities per left record, one-to-one links, the threshold, the grey
zone, and the model's own estimates of precision and recall.

Probabilities: the Fellegi-Sunter weight is a likelihood ratio between one pair being a
match or not, with a prior over *pairs* (one in n_right). But a cohort record has at
most one match in the whole SNDS file, and most cohort records have one: the prior that
matters is over *records*. For left record a with candidates j, the posterior that j is
its match is

    P(j) = (pi / n_right) LR_j / ((1 - pi) + (pi / n_right) sum_k LR_k)

where pi, the share of left records with a match among their candidates, is estimated by
EM (its fixed point over all left records). A record whose only plausible candidate
agrees on name and birth date but not on residence is then linked when pi says nearly
every record has a match, and two equally plausible candidates share the probability.
The match weight stays the pair's log2 odds; only probabilities and decisions use P.

One-to-one: pairs are accepted most probable first (then highest weight) unless either
record is already linked (greedy assignment; ties broken by row order so results are
deterministic). The threshold maximises the model's expected F1 among the one-to-one
pairs: expected true links above t = sum of their probabilities, expected false links =
sum of (1 - p), and expected matches in all = pi x n_left, the records EM expects to have
a match (not only those the one-to-one pairs hold, which would hide matches lost to a
wrong link or to a probability that never reached the pair).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from linkage.kernels import greedy_one_to_one
from linkage.model import FellegiSunter
from linkage.spec import ModelSettings

ASSIGNMENT_FLOOR = 0.01  # pairs less likely than this are not even considered for a link


def one_to_one(left: np.ndarray, right: np.ndarray, weight: np.ndarray, n_left: int, n_right: int,
               probability: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the pairs kept by greedy one-to-one assignment, most probable first, then by weight."""
    keys = (right, left, -weight) if probability is None else (right, left, -weight, -probability)
    order = np.lexsort(keys)
    return greedy_one_to_one(order, left, right, n_left, n_right)


@dataclass
class RecordPrior:
    """The share of left records with a match among their candidates (EM over records), and each
    record's probability of having one (``rows``: the left rows that have considered pairs)."""

    share: float
    iterations: int
    converged: bool
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    has_match: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)


def record_posteriors(left_rows: np.ndarray, log2_likelihood_ratio: np.ndarray, n_left: int, n_right: int,
                      right_signatures: np.ndarray | None = None, *, max_iterations: int = 500,
                      tolerance: float = 1e-10) -> tuple[np.ndarray, RecordPrior]:
    """P(pair is its left record's match) for pairs grouped by left row (see the module docstring).

    ``right_signatures`` (per pair, :func:`linkage.scoring.identity_signatures` of its right
    record): candidates of one left record with equal signatures and equal weights count
    once in the sum — one person under two SNDS ids, where a link to either is right.
    """
    if len(left_rows) == 0:
        return np.zeros(0), RecordPrior(0.0, 0, True)
    starts = np.flatnonzero(np.r_[True, left_rows[1:] != left_rows[:-1]])
    sizes = np.diff(np.r_[starts, len(left_rows)])
    peak = np.maximum.reduceat(log2_likelihood_ratio, starts)
    repeat = np.zeros(len(left_rows), dtype=bool)
    if right_signatures is not None:  # identical right records (one person's two ids) count once
        rounded = np.round(log2_likelihood_ratio, 9)
        order = np.lexsort((right_signatures, rounded, left_rows))
        same = ((left_rows[order[1:]] == left_rows[order[:-1]]) & (rounded[order[1:]] == rounded[order[:-1]])
                & (right_signatures[order[1:]] == right_signatures[order[:-1]]))
        repeat[order[1:]] = same
    terms = np.where(repeat, 0.0, np.exp2(log2_likelihood_ratio - np.repeat(peak, sizes)))
    log2_sum = peak + np.log2(np.add.reduceat(terms, starts))
    share, iterations, converged = 0.5, 0, False
    for iterations in range(1, max_iterations + 1):
        evidence = np.log2(share / n_right) + log2_sum  # log2 of (pi / n_right) sum_k LR_k, per record
        has_match = 1.0 / (1.0 + np.exp2(np.log2(1.0 - share) - evidence))
        new = min(float(has_match.sum()) / n_left, 1.0 - 1e-12)
        if abs(new - share) < tolerance:
            share, converged = new, True
            break
        share = new
    evidence = np.log2(share / n_right) + log2_sum
    log2_denominator = np.logaddexp2(np.log2(1.0 - share), evidence)
    probability = np.exp2(np.log2(share / n_right) + log2_likelihood_ratio - np.repeat(log2_denominator, sizes))
    return probability, RecordPrior(share, iterations, converged, left_rows[starts],
                                    np.exp2(evidence - log2_denominator))


@dataclass
class Threshold:
    probability: float
    expected_precision: float
    expected_recall: float
    expected_f1: float


def expected_quality(probability: np.ndarray, threshold: float, expected_matches: float | None = None) -> Threshold:
    total = float(probability.sum()) if expected_matches is None else max(float(expected_matches),
                                                                           float(probability.sum()))
    above = probability[probability >= threshold]
    tp = float(above.sum())
    fp = float(len(above) - tp)
    precision = tp / (tp + fp) if len(above) else 1.0
    recall = tp / total if total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Threshold(threshold, precision, recall, f1)


def choose_threshold(probability: np.ndarray, expected_matches: float | None = None) -> Threshold:
    """The probability threshold maximising expected F1 (at least 0.5: a link is more likely than not)."""
    if len(probability) == 0:
        return Threshold(0.5, 1.0, 0.0, 0.0)
    p = np.sort(probability)[::-1]
    tp = np.cumsum(p)
    k = np.arange(1, len(p) + 1)
    total = tp[-1] if expected_matches is None else max(float(expected_matches), tp[-1])
    precision, recall = tp / k, tp / total
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    f1[p < 0.5] = -1
    best = int(np.argmax(f1))
    return expected_quality(probability, float(max(p[best], 0.5)), expected_matches)


@dataclass
class Decision:
    kept: np.ndarray    # positions (into the arrays given to :func:`decide`) of the one-to-one pairs
    linked: np.ndarray  # of those, the links
    grey: np.ndarray    # of those, the grey zone
    chosen: Threshold
    threshold_given: bool
    probability: np.ndarray  # per pair given to :func:`decide`: P(match) per left record (0 below the floor)
    record_prior: RecordPrior
    linked_left_rows: np.ndarray  # the left row of each link


def decide(left_rows: np.ndarray, right_rows: np.ndarray, weights: np.ndarray, prior_weight: float, n_left: int,
           n_right: int, threshold: float | None, settings: ModelSettings,
           right_signatures: np.ndarray | None = None) -> Decision:
    """Probabilities per left record, one-to-one assignment, threshold and grey zone over scored pairs in
    candidate order (ascending left row, then right row). Pairs whose pair-level probability is below
    ``ASSIGNMENT_FLOOR`` are never considered (and may be left out beforehand, as the Spark engine does)."""
    considered = np.flatnonzero(FellegiSunter.probability(weights) >= ASSIGNMENT_FLOOR)
    probability = np.zeros(len(weights))
    probability[considered], prior = record_posteriors(
        left_rows[considered], weights[considered] - prior_weight, n_left, n_right,
        None if right_signatures is None else right_signatures[considered])
    kept = considered[one_to_one(left_rows[considered], right_rows[considered], weights[considered],
                                 n_left, n_right, probability[considered])]
    expected = (settings.expected_match_share or prior.share) * n_left
    threshold = threshold if threshold is not None else settings.threshold
    chosen = choose_threshold(probability[kept], expected) if threshold is None else \
        expected_quality(probability[kept], float(threshold), expected)
    linked = kept[probability[kept] >= chosen.probability]
    low, high = settings.grey_zone
    grey = kept[(probability[kept] >= low) & (probability[kept] <= high)]
    return Decision(kept, linked, grey, chosen, threshold is not None, probability, prior, left_rows[linked])
