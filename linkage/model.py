"""The Fellegi-Sunter model and its EM: u from random pairs, m and the prior by EM on pattern counts.

Each comparison c has levels l with m_c(l) = P(level | match) and u_c(l) = P(level |
non-match). A pair's match weight is log2(lambda / (1 - lambda)) + sum_c log2(m_c/u_c) at
its levels, where lambda is the probability that two records drawn at random match; a
missing level contributes nothing.

- u is estimated on pairs drawn at random (almost all non-matches), never on blocked
  pairs: blocked non-matches share a key, so they agree far more often than random ones.
- m comes from EM with u held fixed. It first runs once per blocking pass (a *training
  session*, as in Splink) on the pairs that pass proposed, leaving out the comparisons of
  the fields the pass forced to agree (their levels say nothing there); the sessions'
  estimates, weighted by their expected matches, are then refined by one leave-one-out
  M-step over all candidates: each comparison's m is its level frequencies weighted by the
  match probability the *other* comparisons give, so no comparison reinforces itself and
  those every pass forced or biased are estimated where they vary (kept only when the
  others are decisive: 75% of their expected matches above p = 0.9). Every EM caps the
  number of matches at min(n_left, n_right), which keeps it from explaining a cluster of
  look-alike non-matches as matches. The EM works on the
  counts of distinct comparison patterns, as fastLink does, so an iteration costs the
  number of patterns (hundreds), not the number of pairs (millions).
- lambda is then the fixed point of EM on the prior alone over all candidate pairs:
  expected matches (sum of match probabilities) divided by all left x right pairs, the
  pairs left out by blocking counting as non-matches.
"""

from __future__ import annotations

import json
import math
import numpy as np

from linkage.compare import MISSING, Comparison


# share of the expected matches the other comparisons must place above p = 0.9 for a
# leave-one-out estimate to replace a session estimate
LOO_MIN_CONFIDENT = 0.75


def pattern_counts(levels: np.ndarray, comparisons: list[Comparison]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct patterns (P, C) int8, count of each): one pass over the pairs, no sort."""
    bases = [c.n_levels + 1 for c in comparisons]  # level -1 (missing) becomes 0
    if float(np.prod(bases, dtype=np.float64)) > 1 << 24:  # too many possible patterns to count densely
        return _pattern_counts_sparse(levels)
    key = np.zeros(len(levels), dtype=np.int64)
    for j, base in enumerate(bases):
        key = key * base + (levels[:, j].astype(np.int64) + 1)
    counts = np.bincount(key, minlength=1)
    keys = np.flatnonzero(counts)
    counts = counts[keys]
    patterns = np.empty((len(keys), len(bases)), dtype=np.int8)
    remainder = keys.copy()
    for j in range(len(bases) - 1, -1, -1):
        patterns[:, j] = remainder % bases[j] - 1
        remainder //= bases[j]
    return patterns, counts


def _pattern_counts_sparse(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    patterns, counts = np.unique(levels, axis=0, return_counts=True)
    return patterns.astype(np.int8), counts


# --- pattern tables: what an engine that never holds every pair's levels aggregates (the Spark
# --- engine: (pattern, proposing passes) -> count on the cluster, thousands of rows), fitted by
# --- FellegiSunter.fit_pattern_table with the same arithmetic in the same order as fit

def pattern_count_table(levels: np.ndarray, proposed_by: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(patterns (G, C) int8, pass bits (G,) uint32, counts (G,) int64): the distinct
    (levels, proposing passes) rows of a partition and how often each occurs. Partitions'
    tables are merged by adding counts of equal rows (:func:`merge_pattern_counts`)."""
    if len(levels) == 0:
        return (np.zeros((0, levels.shape[1]), dtype=np.int8), np.zeros(0, dtype=np.uint32),
                np.zeros(0, dtype=np.int64))
    width = levels.shape[1]
    # one int64 per row (levels in 4 bits each above the 32 pass bits) when it fits: a sort of
    # integers, ~50x faster than np.unique(axis=0) on millions of rows
    if width <= 7 and len(levels) and int(levels.max(initial=-1)) < 15 and int(levels.min(initial=-1)) >= -1:
        key = np.zeros(len(levels), dtype=np.int64)
        for j in range(width):
            key = (key << 4) | (levels[:, j].astype(np.int64) + 1)
        key = (key << 32) | proposed_by.astype(np.uint32).astype(np.int64)
        values, counts = np.unique(key, return_counts=True)
        patterns = np.empty((len(values), width), dtype=np.int8)
        rest = values >> 32
        for j in range(width - 1, -1, -1):
            patterns[:, j] = (rest & 15) - 1
            rest = rest >> 4
        return patterns, (values & 0xFFFFFFFF).astype(np.uint32), counts.astype(np.int64)
    rows = np.concatenate([levels.astype(np.int8), proposed_by.astype(np.uint32).view(np.int8).reshape(-1, 4)],
                          axis=1)
    distinct, counts = np.unique(rows, axis=0, return_counts=True)
    return (np.ascontiguousarray(distinct[:, :levels.shape[1]]),
            np.ascontiguousarray(distinct[:, levels.shape[1]:]).view(np.uint32).ravel(), counts.astype(np.int64))


def merge_pattern_counts(patterns: np.ndarray, bits: np.ndarray, counts: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add up the counts of equal (pattern, bits) rows."""
    if len(patterns) == 0:
        return patterns, bits, counts
    rows = np.concatenate([patterns.astype(np.int8), bits.astype(np.uint32).view(np.int8).reshape(-1, 4)], axis=1)
    distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
    total = np.zeros(len(distinct), dtype=np.int64)
    np.add.at(total, inverse.ravel(), counts.astype(np.int64))
    width = patterns.shape[1]
    return (np.ascontiguousarray(distinct[:, :width]),
            np.ascontiguousarray(distinct[:, width:]).view(np.uint32).ravel(), total)


def _ordered_counts(patterns: np.ndarray, counts: np.ndarray, columns: list[int],
                    comparisons: list[Comparison]) -> tuple[np.ndarray, np.ndarray]:
    """The (patterns, counts) ``pattern_counts`` would return for the pairs behind these rows,
    projected on ``columns``: same patterns, same order, same integer counts."""
    projected = np.ascontiguousarray(patterns[:, columns])
    distinct, inverse = np.unique(projected, axis=0, return_inverse=True)
    total = np.zeros(len(distinct), dtype=np.int64)
    np.add.at(total, inverse.ravel(), counts.astype(np.int64))
    canonical, _ = pattern_counts(distinct, comparisons)  # its order (lexicographic either way), by construction
    if not np.array_equal(canonical, distinct):
        position = {row.tobytes(): k for k, row in enumerate(distinct)}
        total = total[[position[row.tobytes()] for row in canonical]]
    return canonical, total


class FellegiSunter:
    """Estimator in the scikit-learn style: settings in ``__init__``; ``fit_u`` then ``fit`` (one row of
    levels per pair) or ``fit_pattern_table`` (counts of distinct patterns, what a cluster aggregates)
    set the learned state, whose names end in ``_``: ``u_``, ``m_``, ``lambda_``, ``expected_matches_``,
    ``sessions_``, ``n_iter_``, ``converged_``, ``u_pairs_``."""

    def __init__(self, comparisons: list[Comparison], max_iterations: int = 200, tolerance: float = 1e-6):
        self.comparisons = list(comparisons)
        self.max_iterations = max_iterations
        self.tolerance = tolerance

    def _check_u(self) -> None:
        if not getattr(self, "u_", None):
            raise ValueError("fit_u must be called before fit")

    def fit_u(self, random_levels: np.ndarray) -> "FellegiSunter":
        """u from the levels of random pairs (Laplace-smoothed so no level has u = 0)."""
        self.u_ = []
        for j, c in enumerate(self.comparisons):
            column = random_levels[:, j]
            counts = np.bincount(column[column != MISSING], minlength=c.n_levels).astype(float)
            self.u_.append((counts + 1.0) / (counts.sum() + c.n_levels))
        self.u_pairs_ = len(random_levels)
        return self

    def fit(self, levels: np.ndarray, total_pairs: int,
            sessions: list[tuple[str, np.ndarray, set[int]]] | None = None,
            max_matches: int | None = None) -> "FellegiSunter":
        """m and lambda from the candidate pairs' levels (u must be fitted first).

        ``sessions``: (name, boolean mask of the pairs, indices of the comparisons to leave
        out) per blocking pass; by default one session over all pairs. ``total_pairs`` is n_left x n_right; ``max_matches`` (at most
        min(n_left, n_right) in a one-to-one linkage) caps every EM's share of matches, which
        keeps it from explaining a cluster of look-alike non-matches as matches.
        """
        self._check_u()
        n = len(levels)
        max_matches = n if max_matches is None else max_matches
        estimates: list[list[tuple[np.ndarray, float]]] = [[] for _ in self.comparisons]
        self.sessions_ = []
        if sessions is None:
            sessions = [("all candidate pairs", np.ones(n, dtype=bool), set())]
        for name, mask, excluded in sessions:
            included = [j for j in range(len(self.comparisons)) if j not in excluded]
            pairs = int(mask.sum())
            if not included or pairs == 0:
                continue
            patterns, counts = pattern_counts(levels[mask][:, included], [self.comparisons[j] for j in included])
            self.fit_session(name, patterns, counts, included, excluded, max_matches, estimates)
        patterns, counts = pattern_counts(levels, self.comparisons)
        return self.finish_fit(estimates, patterns, counts, total_pairs)

    def fit_pattern_table(self, patterns: np.ndarray, bits: np.ndarray, counts: np.ndarray, total_pairs: int,
                          sessions: list[tuple[str, int, set[int]]], max_matches: int | None = None) -> FellegiSunter:
        """``fit(levels, total_pairs, sessions, max_matches)`` from a merged pattern table
        (:func:`pattern_count_table`: distinct (levels, proposing passes) rows and their counts).

        ``sessions``: (name, blocking pass index, comparisons left out), as
        :meth:`linkage.plan.LinkPlan.training_plan` returns them; a session's pairs are those
        whose pass bit is set. Every floating-point sum runs over the same values in the same
        order as in ``fit``, so the model is bit for bit the one ``fit`` gives on the pairs.
        """
        self._check_u()
        everything = list(range(len(self.comparisons)))
        n = int(counts.sum())
        max_matches = n if max_matches is None else max_matches
        estimates: list[list[tuple[np.ndarray, float]]] = [[] for _ in self.comparisons]
        self.sessions_ = []
        for name, index, excluded in sessions:
            included = [j for j in everything if j not in excluded]
            mask = (bits >> np.uint32(index)) & np.uint32(1) == 1
            pairs = int(counts[mask].sum())
            if not included or pairs == 0:
                continue
            session_patterns, session_counts = _ordered_counts(patterns[mask], counts[mask], included,
                                                               [self.comparisons[j] for j in included])
            self.fit_session(name, session_patterns, session_counts, included, excluded, max_matches, estimates)
        all_patterns, all_counts = _ordered_counts(patterns, counts, everything, self.comparisons)
        return self.finish_fit(estimates, all_patterns, all_counts, total_pairs)

    def finish_fit(self, estimates: list[list[tuple[np.ndarray, float]]], patterns: np.ndarray, counts: np.ndarray,
                   total_pairs: int) -> FellegiSunter:
        """After the sessions' EM: pool their m estimates, then a leave-one-out M-step over all candidate
        pairs (``patterns`` with their ``counts``) and the prior. Shared by the local and Spark engines."""
        n = int(counts.sum())
        estimated = [bool(e) and sum(w for _, w in e) > 0 for e in estimates]
        self.m_ = [sum(m * w for m, w in e) / sum(w for _, w in e) if ok else self._default_m(c)
                   for e, ok, c in zip(estimates, estimated, self.comparisons)]
        # leave-one-out M-step: each comparison's m from the posterior the *other* comparisons
        # give over all candidates, so no comparison's own estimate reinforces itself, and the
        # ones every pass forced or biased are estimated where they vary
        usable = [j for j, ok in enumerate(estimated) if ok]
        unestimated = [k for k, ok in enumerate(estimated) if not ok]
        if unestimated and usable:  # first the ones no session estimated, from those that were
            self._fit_prior(patterns, counts, total_pairs, usable)
            for j in unestimated:
                self.m_[j] = self._loo_m_step(patterns, counts, j, usable)[0]
        everything = list(range(len(self.comparisons)))
        self._fit_prior(patterns, counts, total_pairs, everything)
        refined = []
        for j in everything:
            m, confident = self._loo_m_step(patterns, counts, j, [k for k in everything if k != j])
            refined.append(m if confident >= LOO_MIN_CONFIDENT else self.m_[j])
        self.m_ = refined
        self.sessions_.append({"session": "leave-one-out M-step over all candidate pairs", "pairs": n,
                               "iterations": 1, "converged": True, "left_out": [],
                               "m": {c.name: [float(v) for v in m] for c, m in zip(self.comparisons, self.m_)}})
        self.n_iter_ = max((s["iterations"] for s in self.sessions_), default=0)
        self.converged_ = all(s["converged"] for s in self.sessions_)
        self._fit_prior(patterns, counts, total_pairs, everything)
        return self

    def _loo_m_step(self, patterns: np.ndarray, counts: np.ndarray, j: int, others: list[int]):
        """m of comparison j weighted by the posterior of the ``others``; and how decisive that
        posterior is (share of its expected matches above p = 0.9)."""
        if not others:
            return self.m_[j], 0.0
        g = self._posterior(patterns, others)
        confident = float((counts * g * (g > 0.9)).sum() / max((counts * g).sum(), 1e-12))
        return self._m_step(patterns[:, [j]], counts * g, [self.comparisons[j]])[0], confident

    def _posterior(self, patterns: np.ndarray, used: list[int] | None = None) -> np.ndarray:
        used = list(range(len(self.comparisons))) if used is None else used
        tables_m = [self.m_[j] for j in used]
        tables_u = [self.u_[j] for j in used]
        log_bayes = self._log_table(tables_m, patterns[:, used]) - self._log_table(tables_u, patterns[:, used])
        log_odds = math.log(self.lambda_) - math.log1p(-self.lambda_) + log_bayes
        return 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))

    @staticmethod
    def _default_m(c: Comparison) -> np.ndarray:
        start = np.geomspace(1.0, 0.02, c.n_levels)  # agreement levels likely among matches
        return start / start.sum()

    def fit_session(self, name: str, patterns: np.ndarray, counts: np.ndarray, included: list[int],
                    excluded: set[int], max_matches: int, estimates: list[list[tuple[np.ndarray, float]]]) -> None:
        """EM on one session's distinct patterns (over the comparisons ``included``); its m estimates,
        weighted by the matches it expects, go to ``estimates`` and its report to ``sessions_``.
        Shared by the local and Spark engines.

        A session in which fewer than two comparisons are ever observed (the others left out,
        or missing on every pair, as a death date is in a cohort that records none) is not
        fitted: with one indicator, a latent class model cannot tell matches from non-matches,
        and EM would drift to any m; the comparison is estimated by the other sessions and the
        leave-one-out step instead."""
        pairs = int(counts.sum())
        observed = [k for k in range(len(included)) if counts[patterns[:, k] != MISSING].sum() > 0]
        if len(observed) < 2:
            self.sessions_.append({"session": name, "pairs": pairs, "expected_matches": 0.0,
                                   "left_out": [self.comparisons[j].name for j in sorted(excluded)],
                                   "iterations": 0, "converged": True,
                                   "skipped": "fewer than two comparisons observed: not identifiable"})
            return
        start = [self._default_m(self.comparisons[j]) for j in included]
        m, lam, iterations, converged = self.em_from_counts(patterns, counts, included, start,
                                                            min(1.0, max_matches / pairs))
        for k, j in enumerate(included):
            estimates[j].append((m[k], lam * pairs))
        self.sessions_.append({"session": name, "pairs": pairs, "expected_matches": lam * pairs,
                               "left_out": [self.comparisons[j].name for j in sorted(excluded)],
                               "iterations": iterations, "converged": converged,
                               # each session's own m, so its estimates can be compared side by side
                               "m": {self.comparisons[j].name: [float(v) for v in m[k]]
                                     for k, j in enumerate(included)}})

    def em_from_counts(self, patterns: np.ndarray, counts: np.ndarray, included: list[int],
                       start: list[np.ndarray], max_lambda: float):
        """EM on distinct agreement patterns and their counts (what a cluster aggregates), u held fixed."""
        comparisons = [self.comparisons[j] for j in included]
        counts = counts.astype(float)
        m = [np.asarray(s, dtype=float) for s in start]
        log_u = self._log_table([self.u_[j] for j in included], patterns)
        lam = min(0.1, max_lambda)
        converged, iteration = False, 0
        for iteration in range(1, self.max_iterations + 1):
            log_odds = math.log(lam) - math.log1p(-lam) + self._log_table(m, patterns) - log_u
            g = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
            new_lam = min(float((counts * g).sum() / counts.sum()), max_lambda)
            new_m = self._m_step(patterns, counts * g, comparisons)
            change = max(abs(new_lam - lam), *(float(np.abs(a - b).max()) for a, b in zip(new_m, m)))
            m, lam = new_m, min(max(new_lam, 1e-12), 1 - 1e-12)
            if change < self.tolerance:
                converged = True
                break
        return m, lam, iteration, converged

    def _fit_prior(self, patterns: np.ndarray, counts: np.ndarray, total_pairs: int, used: list[int]) -> None:
        """lambda = expected matches among candidates / all pairs, iterated to its fixed point
        (over the comparisons ``used``)."""
        log_bayes = (self._log_table([self.m_[j] for j in used], patterns[:, used])
                     - self._log_table([self.u_[j] for j in used], patterns[:, used]))
        total_pairs = max(total_pairs, 1)
        lam = min(max(float(counts.sum()) * 1e-3 / total_pairs, 1e-15), 0.5)
        expected = 0.0
        for _ in range(200):
            g = 1.0 / (1.0 + np.exp(-np.clip(math.log(lam) - math.log1p(-lam) + log_bayes, -700, 700)))
            expected = float((counts * g).sum())
            new_lam = min(max(expected / total_pairs, 1e-15), 0.5)
            if abs(new_lam - lam) <= 1e-9 * lam:
                lam = new_lam
                break
            lam = new_lam
        self.lambda_, self.expected_matches_ = lam, expected

    @staticmethod
    def _m_step(patterns: np.ndarray, weights: np.ndarray, comparisons: list[Comparison]) -> list[np.ndarray]:
        out = []
        for j, c in enumerate(comparisons):
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
            "em": {"iterations": self.n_iter_, "converged": self.converged_, "tolerance": self.tolerance,
                   "sessions": self.sessions_},
            "u_random_pairs": self.u_pairs_,
            "comparisons": [
                {"name": c.name, "kind": c.kind, "columns": list(c.columns), "thresholds": list(c.thresholds),
                 "term_frequency": c.term_frequency, "fields": list(c.fields), "swapped_with": c.swapped_with,
                 **({"contradicted_by": list(c.contradicted_by)} if c.contradicted_by else {}),
                 "levels": [{"level": i, "label": label, "m": float(m[i]), "u": float(u[i]),
                             "weight": float(np.log2(m[i] / u[i]))} for i, label in enumerate(c.labels)]}
                for c, m, u in zip(self.comparisons, self.m_, self.u_)],
        }

    def save(self, path) -> None:
        from harmonie.io import write_text

        write_text(json.dumps(self.to_dict(), indent=2) + "\n", path)

    @classmethod
    def from_dict(cls, document: dict) -> "FellegiSunter":
        comparisons = [Comparison(c["name"], c["kind"], _labels(c),
                                  tuple(c["columns"]), tuple(c["thresholds"]), c["term_frequency"],
                                  tuple(c.get("fields", ())), c.get("swapped_with", ""),
                                  tuple(c.get("contradicted_by", ())))
                       for c in document["comparisons"]]
        model = cls(comparisons)
        model.m_ = [np.array([level["m"] for level in c["levels"]]) for c in document["comparisons"]]
        model.u_ = [np.array([level["u"] for level in c["levels"]]) for c in document["comparisons"]]
        model.lambda_ = document["prior_lambda"]
        model.n_iter_ = document["em"]["iterations"]
        model.converged_ = document["em"]["converged"]
        model.sessions_ = document["em"].get("sessions", [])
        model.expected_matches_ = document.get("expected_matches_among_candidates", float("nan"))
        model.u_pairs_ = document["u_random_pairs"]
        return model

    @classmethod
    def load(cls, path) -> "FellegiSunter":
        from pathlib import Path

        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _labels(comparison: dict) -> tuple[str, ...]:
    """A saved comparison's level labels, an events comparison's as :func:`linkage.compare.count_labels`
    names them now (a model.json from before said '5 shared' for 5-7 shared stays)."""
    from linkage.compare import upgrade_count_labels

    labels = tuple(level["label"] for level in comparison["levels"])
    return upgrade_count_labels(labels, tuple(comparison["thresholds"])) if comparison["kind"] == "events" else labels


MAX_MODEL_BYTES = 16 << 20
MAX_MODEL_LEVELS = 64


def _finite(value, low: float, high: float, *, low_open: bool = False) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and (low < value if low_open else low <= value) and value <= high)


def check_model_document(document) -> None:
    """Raise ValueError naming the first entry of a model.json that is missing or out of range: the
    prior a probability strictly between 0 and 1, every level's m and u probabilities (u above 0, so
    every weight is finite) summing to 1 per comparison, the labels and settings of their types."""
    from linkage.compare import _KINDS

    if not isinstance(document, dict):
        raise ValueError("it is not a JSON object")
    if not _finite(document.get("prior_lambda"), 0, 1, low_open=True) or document["prior_lambda"] >= 1:
        raise ValueError("prior_lambda must be a probability strictly between 0 and 1")
    em = document.get("em")
    if not (isinstance(em, dict) and isinstance(em.get("iterations"), int) and not isinstance(em["iterations"], bool)
            and em["iterations"] >= 0 and isinstance(em.get("converged"), bool)
            and isinstance(em.get("sessions", []), list)):
        raise ValueError("em must hold a number of iterations and whether it converged")
    pairs = document.get("u_random_pairs")
    if isinstance(pairs, bool) or not isinstance(pairs, int) or pairs < 0:
        raise ValueError("u_random_pairs must be a whole number of pairs")
    expected = document.get("expected_matches_among_candidates")
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, (int, float))):
        raise ValueError("expected_matches_among_candidates must be a number of pairs")
    comparisons = document.get("comparisons")
    if not isinstance(comparisons, list) or not comparisons or len(comparisons) > 256:
        raise ValueError("comparisons must be a non-empty list")
    for number, c in enumerate(comparisons, start=1):
        where = f"comparison #{number}"
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or c.get("kind") not in _KINDS:
            raise ValueError(f"{where} needs a name and a kind ({', '.join(sorted(_KINDS))})")
        where = f"comparison {c['name'][:64]!r}"
        for key, test in (("columns", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
                          ("thresholds", lambda v: isinstance(v, list) and all(_finite(x, 0, 1e6) for x in v)),
                          ("term_frequency", lambda v: isinstance(v, bool)),
                          ("fields", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
                          ("swapped_with", lambda v: isinstance(v, str)),
                          ("contradicted_by", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v))):
            if (key in c or key in ("columns", "thresholds", "term_frequency")) and not test(c.get(key)):
                raise ValueError(f"{where}: {key} is missing or of the wrong type")
        levels = c.get("levels")
        if not isinstance(levels, list) or not 1 <= len(levels) <= MAX_MODEL_LEVELS:
            raise ValueError(f"{where}: levels must be a list of 1 to {MAX_MODEL_LEVELS} levels")
        for level in levels:
            if not isinstance(level, dict) or not isinstance(level.get("label"), str):
                raise ValueError(f"{where}: each level needs a label")
            if not _finite(level.get("m"), 0, 1):
                raise ValueError(f"{where}: level {level['label'][:64]!r} has m outside [0, 1] (or not a number)")
            if not _finite(level.get("u"), 0, 1, low_open=True):
                raise ValueError(f"{where}: level {level['label'][:64]!r} has u outside (0, 1] (or not a number): "
                                 "its weight would be infinite")
        for name in ("m", "u"):
            total = math.fsum(level[name] for level in levels)
            if abs(total - 1) > 1e-3:
                raise ValueError(f"{where}: its levels' {name} sum to {total:.4g}, not 1")


def load_model(path) -> FellegiSunter:
    """A saved model.json, checked entry by entry (:func:`check_model_document`) before use; a missing,
    malformed or out-of-range file is a one-line error naming the entry."""
    from pathlib import Path

    from harmonie.errors import HarmonieError

    path = Path(path)
    try:
        if path.stat().st_size > MAX_MODEL_BYTES:
            raise HarmonieError(f"{path} is over {MAX_MODEL_BYTES >> 20} MiB: not a Harmonie model.json")
        document = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise HarmonieError(f"model file {path} not found") from None
    except IsADirectoryError:
        raise HarmonieError(f"model path {path} is a directory, not a model.json") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        raise HarmonieError(f"{path} is not a Harmonie model.json (not readable JSON)") from None
    try:
        check_model_document(document)
        return FellegiSunter.from_dict(document)
    except ValueError as exc:
        raise HarmonieError(f"{path} is not a usable Harmonie model.json: {exc}") from None
    except (KeyError, TypeError, IndexError):
        raise HarmonieError(f"{path} is not a Harmonie model.json") from None
