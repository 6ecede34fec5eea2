"""Balancing the control arm on the trial's declared covariates: propensity score, matching or weights, SMDs.

The trial and the warehouse enrol different patients (a trial takes the younger, the fitter,
the earlier stages): compared as they are, the arms differ before any treatment does.
The propensity score is the probability of being in the trial given the declared covariates,
fitted by logistic regression (scikit-learn, standardised covariates, a negligible ridge so that
a covariate that separates the arms gives extreme scores rather than no fit). Then either:

- **weights** (``method = "weight"``): ATT weights (trial 1, control e/(1-e)), which make the
  controls look like the trial population, the usual target of an external comparator; or
  overlap weights (trial 1-e, control e), which target the patients both arms could hold and
  never explode, at the price of a population defined by the overlap;
- **matching** (``method = "match"``): 1:k nearest neighbours on the logit of the score,
  greedy without replacement in a seeded random order of trial patients, within a caliper of
  ``caliper_sd`` standard deviations of that logit (0.2: Austin 2011); a control matched to a
  trial patient with fewer than k matches weighs 1/(its set's controls), and a trial patient
  with no control inside the caliper leaves the analysis (counted: the population changes);
- **none**: every patient weighs 1 (the unadjusted comparison, the negative control).

Balance is the standardised mean difference of each covariate level (numbers as they are,
every category level, the reference included), before and after, both over the *before*
pooled standard deviation so that weighting cannot improve an SMD by inflating its
denominator. |SMD| <= ``target_smd`` (0.1) is called balanced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError
from synth.arms.eligibility import COVARIATES, Analysis

LOGISTIC_C = 1e4  # standardised covariates: a ridge this weak changes no realistic score, and keeps separation finite


@dataclass(frozen=True)
class Term:
    """One column of the covariate matrix: a number, a yes/no flag, or one level of a category."""

    name: str
    covariate: str
    level: str | None = None
    reference: bool = False  # the commonest level of a category: shown in the balance table, left out of models


def _label(value) -> str:
    return str(int(value)) if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()) \
        else str(value)


def covariate_terms(trial: pd.DataFrame, control: pd.DataFrame, covariates) -> list[Term]:
    """The terms of ``covariates`` on both arms together: categories as one indicator per level present (the
    commonest, ties by label, the reference); a term constant over both arms is left out."""
    both = pd.concat([trial, control], ignore_index=True)
    terms: list[Term] = []
    for covariate in covariates:
        kind = COVARIATES[covariate]
        values = both[covariate]
        if kind == "categorical":
            labels = values.map(_label)
            counts = labels.value_counts()
            if len(counts) < 2:
                continue
            levels = sorted(counts.index, key=lambda v: (-counts[v], v))
            terms += [Term(f"{covariate}={level}", covariate, level, reference=i == 0) for i, level in enumerate(levels)]
        elif pd.to_numeric(values, errors="coerce").astype(float).nunique() > 1:
            terms.append(Term(covariate, covariate))
    return terms


def term_matrix(frame: pd.DataFrame, terms: list[Term], *, references: bool = True) -> pd.DataFrame:
    """The value of each term for each row (floats); ``references=False`` leaves the reference levels out."""
    columns = {}
    for t in terms:
        if t.reference and not references:
            continue
        if t.level is not None:
            columns[t.name] = (frame[t.covariate].map(_label) == t.level).to_numpy(float)
        else:
            columns[t.name] = pd.to_numeric(frame[t.covariate], errors="coerce").astype(float).to_numpy()
    return pd.DataFrame(columns, index=frame.index)


def propensity_scores(trial_x: pd.DataFrame, control_x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """P(trial | covariates) of each trial and control row, by logistic regression on standardised covariates."""
    from sklearn.linear_model import LogisticRegression

    x = pd.concat([trial_x, control_x], ignore_index=True).to_numpy(float)
    if np.isnan(x).any():
        raise HarmonieError("a declared covariate is missing for some patients: the propensity score needs every "
                            "covariate of every patient (drop that covariate from analysis.covariates)")
    y = np.r_[np.ones(len(trial_x)), np.zeros(len(control_x))]
    if x.shape[1] == 0:
        score = np.full(len(y), y.mean())
        return score[: len(trial_x)], score[len(trial_x):]
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    model = LogisticRegression(C=LOGISTIC_C, max_iter=5000, tol=1e-8)
    score = model.fit(z, y).predict_proba(z)[:, 1]
    score = np.clip(score, 1e-6, 1 - 1e-6)
    return score[: len(trial_x)], score[len(trial_x):]


@dataclass(frozen=True)
class Balanced:
    """Each row's weight (0: out of the analysis), propensity score and, for matching, matched set (-1: none)."""

    method: str
    trial_weight: np.ndarray
    control_weight: np.ndarray
    trial_score: np.ndarray
    control_score: np.ndarray
    trial_set: np.ndarray | None = None
    control_set: np.ndarray | None = None

    @property
    def control_ess(self) -> float:
        """Effective number of control patients, (sum w)^2 / sum w^2 (Kish)."""
        w = self.control_weight
        return float(w.sum() ** 2 / (w ** 2).sum()) if (w > 0).any() else 0.0

    @property
    def trial_kept(self) -> int:
        return int((self.trial_weight > 0).sum())

    @property
    def controls_used(self) -> int:
        return int((self.control_weight > 0).sum())


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def match(trial_score: np.ndarray, control_score: np.ndarray, neighbours: int, caliper_sd: float,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Greedy 1:k nearest-neighbour matching on the logit of the score, without replacement, within the caliper:
    (trial weights, control weights, trial set ids, control set ids)."""
    lt, lc = _logit(trial_score), _logit(control_score)
    caliper = caliper_sd * float(np.std(np.r_[lt, lc]))
    available = np.ones(len(lc), dtype=bool)
    trial_set = np.full(len(lt), -1)
    control_set = np.full(len(lc), -1)
    control_weight = np.zeros(len(lc))
    for i in rng.permutation(len(lt)):
        free = np.flatnonzero(available)
        distance = np.abs(lc[free] - lt[i])
        inside = distance <= caliper
        if not inside.any():
            continue
        candidates, gaps = free[inside], distance[inside]
        chosen = candidates[np.lexsort((candidates, gaps))[:neighbours]]
        available[chosen] = False
        trial_set[i] = i
        control_set[chosen] = i
        control_weight[chosen] = 1.0 / len(chosen)
    return (trial_set >= 0).astype(float), control_weight, trial_set, control_set


def balance_arms(trial: pd.DataFrame, control: pd.DataFrame, analysis: Analysis, terms: list[Term], *,
            seed: int = 0) -> Balanced:
    """The propensity score and the weights of ``analysis.method`` (see the module docstring)."""
    if analysis.method == "none":
        ones_t, ones_c = np.ones(len(trial)), np.ones(len(control))
        return Balanced("none", ones_t, ones_c, np.full(len(trial), np.nan), np.full(len(control), np.nan))
    e_t, e_c = propensity_scores(term_matrix(trial, terms, references=False),
                                 term_matrix(control, terms, references=False))
    if analysis.method == "match":
        rng = np.random.default_rng([seed, 31])
        w_t, w_c, s_t, s_c = match(e_t, e_c, analysis.neighbours, analysis.caliper_sd, rng)
        return Balanced("match", w_t, w_c, e_t, e_c, s_t, s_c)
    if analysis.weights == "overlap":
        return Balanced("weight", 1 - e_t, e_c, e_t, e_c)
    return Balanced("weight", np.ones(len(trial)), e_c / (1 - e_c), e_t, e_c)


def _weighted(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    if w.sum() <= 0:
        return float("nan"), float("nan")
    mean = float(np.average(x, weights=w))
    return mean, float(np.average((x - mean) ** 2, weights=w))


def smd_table(trial: pd.DataFrame, control: pd.DataFrame, terms: list[Term], balanced: Balanced) -> list[dict]:
    """Per term: mean (share for a level) per arm before and after, and the standardised mean difference.

    Private keys (``_counts``) hold, per arm and moment, how many patients have the level (and not), for the
    small-cell rule when the table is written (:mod:`synth.arms.report`)."""
    xt, xc = term_matrix(trial, terms), term_matrix(control, terms)
    rows = []
    for t in terms:
        a, b = xt[t.name].to_numpy(float), xc[t.name].to_numpy(float)
        (mt, vt), (mc, vc) = _weighted(a, np.ones(len(a))), _weighted(b, np.ones(len(b)))
        sd = float(np.sqrt((vt + vc) / 2))
        (mt2, _), (mc2, _) = _weighted(a, balanced.trial_weight), _weighted(b, balanced.control_weight)
        row = {"term": t.name, "covariate": t.covariate, "level": t.level, "kind": COVARIATES[t.covariate],
               "reference": t.reference,
               "before": {"trial": mt, "control": mc, "smd": (mt - mc) / sd if sd > 0 else None},
               "after": {"trial": mt2, "control": mc2, "smd": (mt2 - mc2) / sd if sd > 0 else None}}
        if t.level is not None or COVARIATES[t.covariate] == "binary":
            kept_t, kept_c = balanced.trial_weight > 0, balanced.control_weight > 0
            row["_counts"] = [int(v) for v in (a.sum(), len(a) - a.sum(), b.sum(), len(b) - b.sum(),
                                               a[kept_t].sum(), kept_t.sum() - a[kept_t].sum(),
                                               b[kept_c].sum(), kept_c.sum() - b[kept_c].sum())]
        else:
            row["_patients"] = [len(a), len(b), int((balanced.trial_weight > 0).sum()),
                                int((balanced.control_weight > 0).sum())]
        rows.append(row)
    return rows
