"""Confidence intervals of proportions, for the figures the gate decides on that Anonymeter does not give one for.

Wilson's score interval for a share (it stays inside [0, 1] and behaves near 0 and 1, where
risk figures live), and Newcombe's hybrid score interval (method 10, 1998) for the
difference of two shares, built from the two Wilson intervals.
"""

from __future__ import annotations

from math import sqrt

from scipy.stats import norm

CONFIDENCE = 0.95


def _z(confidence: float) -> float:
    return float(norm.ppf(0.5 + confidence / 2))


def wilson(successes: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of ``successes / n`` (``successes`` may be fractional: ties counted one half)."""
    if n <= 0:
        return 0.0, 1.0
    z, p = _z(confidence), successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def difference(successes_a: float, n_a: int, successes_b: float, n_b: int,
               confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Newcombe's interval of ``successes_a / n_a - successes_b / n_b``."""
    p_a, p_b = (successes_a / n_a if n_a else 0.0), (successes_b / n_b if n_b else 0.0)
    low_a, high_a = wilson(successes_a, n_a, confidence)
    low_b, high_b = wilson(successes_b, n_b, confidence)
    d = p_a - p_b
    return d - sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2), d + sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
