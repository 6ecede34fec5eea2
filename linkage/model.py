"""The Fellegi-Sunter model: u from random pairs, m and the prior by EM on pattern counts.

Each comparison c has levels l with m_c(l) = P(level | match) and u_c(l) = P(level |
non-match). A pair's match weight is log2(lambda / (1 - lambda)) + sum_c log2(m_c/u_c) at
its levels, where lambda is the probability that two records drawn at random match; a
missing level contributes nothing.

- u is estimated on pairs drawn at random (almost all non-matches), never on blocked
  pairs: blocked non-matches share a key, so they agree far more often than random ones.
- m and lambda come from EM on the counts of distinct comparison patterns of the
  candidate pairs, as fastLink does, so an iteration costs the number of patterns
  (hundreds), not the number of pairs (millions). The EM fits a two-class mixture on the
  candidates; its non-match class (``u_candidates_``) describes non-matches *among
  candidates* and is a nuisance parameter, reported but not used for scoring. lambda is
  the EM's expected number of matches divided by all left x right pairs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from linkage.compare import MISSING, Comparison


def pattern_counts(levels: np.ndarray, comparisons: list[Comparison]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct patterns (P, C), count of each, pattern index of each pair)."""
    key = np.zeros(len(levels), dtype=np.int64)
    for j, c in enumerate(comparisons):
        key = key * (c.n_levels + 1) + (levels[:, j].astype(np.int64) + 1)
    distinct, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    return levels[first], counts, inverse


@dataclass
class FellegiSunter:
    """Estimator in the scikit-learn style: settings in __init__, learned state in ``*_``."""

    comparisons: list[Comparison]
    max_iterations: int = 200
    tolerance: float = 1e-6
    m_: list[np.ndarray] = field(default_factory=list)
    u_: list[np.ndarray] = field(default_factory=list)
    lambda_: float = float("nan")
    u_candidates_: list[np.ndarray] = field(default_factory=list)
    lambda_candidates_: float = float("nan")
    expected_matches_: float = float("nan")
    n_iter_: int = 0
    converged_: bool = False
    u_pairs_: int = 0

    def fit_u(self, random_levels: np.ndarray) -> "FellegiSunter":
        """u from the levels of random pairs (Laplace-smoothed so no level has u = 0)."""
        self.u_ = []
        for j, c in enumerate(self.comparisons):
            column = random_levels[:, j]
            counts = np.bincount(column[column != MISSING], minlength=c.n_levels).astype(float)
            self.u_.append((counts + 1.0) / (counts.sum() + c.n_levels))
        self.u_pairs_ = len(random_levels)
        return self

    def fit(self, levels: np.ndarray, total_pairs: int, prior: float = 0.01) -> "FellegiSunter":
        """m and lambda by EM on the candidate pairs' levels (u must be fitted first).

        ``total_pairs`` is n_left x n_right; ``prior`` the starting share of matches among
        the candidates.
        """
        if not self.u_:
            raise ValueError("fit_u must be called before fit")
        patterns, counts, _ = pattern_counts(levels, self.comparisons)
        counts = counts.astype(float)
        m = []
        for c in self.comparisons:  # start: agreement levels likely among matches
            start = np.geomspace(1.0, 0.05, c.n_levels)
            m.append(start / start.sum())
        v = [u.copy() for u in self.u_]  # non-matches among candidates start like random pairs
        lam = min(max(prior, 1e-6), 0.5)
        self.converged_ = False
        for iteration in range(1, self.max_iterations + 1):
            log_odds = (math.log(lam) - math.log1p(-lam) + self._log_table(m, patterns)
                        - self._log_table(v, patterns))
            g = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
            new_lam = float((counts * g).sum() / counts.sum())
            new_m = self._m_step(patterns, counts * g)
            new_v = self._m_step(patterns, counts * (1 - g))
            change = max(abs(new_lam - lam), *(float(np.abs(a - b).max()) for a, b in zip(new_m + new_v, m + v)))
            m, v, lam = new_m, new_v, min(max(new_lam, 1e-12), 1 - 1e-12)
            self.n_iter_ = iteration
            if change < self.tolerance:
                self.converged_ = True
                break
        self.m_, self.u_candidates_, self.lambda_candidates_ = m, v, lam
        self.expected_matches_ = lam * counts.sum()
        self.lambda_ = min(max(self.expected_matches_ / max(total_pairs, 1), 1e-15), 0.5)
        return self

    def _m_step(self, patterns: np.ndarray, weights: np.ndarray) -> list[np.ndarray]:
        out = []
        for j, c in enumerate(self.comparisons):
            column = patterns[:, j]
            present = column != MISSING
            totals = np.bincount(column[present], weights=weights[present], minlength=c.n_levels)
            out.append((totals + 1e-6) / (totals.sum() + 1e-6 * c.n_levels))
        return out

    @staticmethod
    def _log_table(tables: list[np.ndarray], patterns: np.ndarray) -> np.ndarray:
        total = np.zeros(len(patterns))
        for j, table in enumerate(tables):
            column = patterns[:, j]
            present = column != MISSING
            total[present] += np.log(table[column[present]])
        return total

    def level_weights(self) -> list[np.ndarray]:
        """log2(m/u) per comparison and level."""
        return [np.log2(m / u) for m, u in zip(self.m_, self.u_)]

    @property
    def prior_weight(self) -> float:
        return math.log2(self.lambda_ / (1 - self.lambda_))

    def match_weight(self, levels: np.ndarray) -> np.ndarray:
        """Match weight (log2 odds) of each pair."""
        weight = np.full(len(levels), self.prior_weight)
        for j, table in enumerate(self.level_weights()):
            column = levels[:, j]
            present = column != MISSING
            weight[present] += table[column[present]]
        return weight

    @staticmethod
    def probability(weight: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000)))

    def to_dict(self) -> dict:
        return {
            "model": "Fellegi-Sunter",
            "prior_lambda": self.lambda_, "prior_weight": self.prior_weight,
            "expected_matches_among_candidates": self.expected_matches_,
            "em": {"iterations": self.n_iter_, "converged": self.converged_, "tolerance": self.tolerance},
            "u_random_pairs": self.u_pairs_,
            "comparisons": [
                {"name": c.name, "kind": c.kind, "columns": list(c.columns), "thresholds": list(c.thresholds),
                 "term_frequency": c.term_frequency,
                 "levels": [{"level": i, "label": label, "m": float(m[i]), "u": float(u[i]),
                             "weight": float(np.log2(m[i] / u[i]))} for i, label in enumerate(c.labels)]}
                for c, m, u in zip(self.comparisons, self.m_, self.u_)],
        }

    def save(self, path) -> None:
        from harmonie.io import write_text

        write_text(json.dumps(self.to_dict(), indent=2) + "\n", path)

    @classmethod
    def from_dict(cls, document: dict) -> "FellegiSunter":
        comparisons = [Comparison(c["name"], c["kind"], tuple(level["label"] for level in c["levels"]),
                                  tuple(c["columns"]), tuple(c["thresholds"]), c["term_frequency"])
                       for c in document["comparisons"]]
        model = cls(comparisons)
        model.m_ = [np.array([level["m"] for level in c["levels"]]) for c in document["comparisons"]]
        model.u_ = [np.array([level["u"] for level in c["levels"]]) for c in document["comparisons"]]
        model.lambda_ = document["prior_lambda"]
        model.n_iter_ = document["em"]["iterations"]
        model.converged_ = document["em"]["converged"]
        model.u_pairs_ = document["u_random_pairs"]
        return model

    @classmethod
    def load(cls, path) -> "FellegiSunter":
        from pathlib import Path

        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
