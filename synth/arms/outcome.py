"""The outcome comparison of the trial arm and its (balanced) external control: HR, KM curves, RMST.

- **Hazard ratio**: a Cox model (lifelines) of death from the index date with the arm as the
  covariate of interest, each patient at their balancing weight, and a *robust* (sandwich)
  variance, clustered on the matched set when the arms were matched: the weights are not
  frequencies, and the model-based variance of a weighted Cox model is wrong. With
  ``adjust = true`` the model also holds the declared covariates (each category's levels
  against its reference), stratified by stage when stage is declared: balancing and regression
  together, so the estimate stays right if either the propensity model or the outcome model is.
  The estimand is then the hazard ratio conditional on the covariates in the trial population;
  without adjustment, the marginal hazard ratio in the weighted population (not the same number:
  hazard ratios are not collapsible; :mod:`synth.arms.calibrate` computes the true value of each).
- **Kaplan–Meier** curves per arm at the balancing weights, and the **restricted mean
  survival time** (lifelines' ``restricted_mean_survival_time``) of each up to the horizon and
  their difference, with a percentile bootstrap interval (patients resampled within each arm,
  weights kept: the score is not refitted, so the interval is somewhat narrow for weighted
  arms; the report says so).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from synth.arms.balance import Balanced, Term, term_matrix
from synth.arms.eligibility import Analysis

Z95 = float(norm.ppf(0.975))
NUISANCE_PENALTY = 0.01  # only if the unpenalised fit fails (a level with no death): the arm is never penalised
ARM = "_arm"


@dataclass(frozen=True)
class HazardRatio:
    """A log hazard ratio (trial vs control) and its robust standard error; ``problem`` says why there is none."""

    log_hr: float = float("nan")
    se: float = float("nan")
    problem: str | None = None

    @property
    def hr(self) -> float:
        return math.exp(self.log_hr) if math.isfinite(self.log_hr) else float("nan")

    @property
    def lower(self) -> float:
        return math.exp(self.log_hr - Z95 * self.se) if math.isfinite(self.se) else float("nan")

    @property
    def upper(self) -> float:
        return math.exp(self.log_hr + Z95 * self.se) if math.isfinite(self.se) else float("nan")

    @property
    def p_value(self) -> float:
        if not (math.isfinite(self.se) and self.se > 0):
            return float("nan")
        return float(2 * norm.sf(abs(self.log_hr) / self.se))

    def as_dict(self) -> dict:
        return {"hr": self.hr, "lower_95": self.lower, "upper_95": self.upper, "log_hr": self.log_hr,
                "se_log_hr": self.se, "p_value": self.p_value, "problem": self.problem}


def stacked(trial: pd.DataFrame, control: pd.DataFrame, balanced: Balanced) -> pd.DataFrame:
    """Both arms in one frame (rows of weight 0 left out): the cohort columns, ``_arm`` (1 trial), ``_w``, and
    ``_set`` (the matched set, or each row its own)."""
    frame = pd.concat([trial.assign(**{ARM: 1.0, "_w": balanced.trial_weight}),
                       control.assign(**{ARM: 0.0, "_w": balanced.control_weight})], ignore_index=True)
    if balanced.trial_set is not None:
        frame["_set"] = np.r_[balanced.trial_set, balanced.control_set]
    else:
        frame["_set"] = np.arange(len(frame))
    return frame[frame["_w"] > 0].reset_index(drop=True)


def hazard_ratio(trial: pd.DataFrame, control: pd.DataFrame, balanced: Balanced, terms: list[Term],
                 analysis: Analysis, *, adjust: bool | None = None) -> HazardRatio:
    """The trial-vs-control log hazard ratio of a weighted Cox model with a robust variance (module docstring)."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    adjust = analysis.adjust if adjust is None else adjust
    frame = stacked(trial, control, balanced)
    if frame[ARM].nunique() < 2:
        return HazardRatio(problem="one arm is empty after balancing")
    if frame["event"].sum() < 2:
        return HazardRatio(problem="fewer than 2 deaths")
    x = pd.DataFrame({ARM: frame[ARM]})
    strata = None
    if adjust:
        stratify = any(t.covariate == "stage" for t in terms)
        chosen = [t for t in terms if not (stratify and t.covariate == "stage")]
        x = pd.concat([x, term_matrix(frame, chosen, references=False)], axis=1)
        x = x.loc[:, (x.std() > 0) | (x.columns == ARM)]
        if stratify:
            x["_stage"], strata = frame["stage"].to_numpy(), ["_stage"]
    x = x.assign(_time=frame["time_days"].clip(lower=0.5).to_numpy(), _event=frame["event"].astype(int).to_numpy(),
                 _w=frame["_w"].to_numpy(), _set=frame["_set"].to_numpy())
    cluster = "_set" if balanced.trial_set is not None else None
    if cluster is None:
        x = x.drop(columns="_set")
    n_terms = len([c for c in x.columns if not c.startswith("_") or c == ARM])
    for penalizer in (0.0, np.r_[0.0, np.full(n_terms - 1, NUISANCE_PENALTY)]):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cox = CoxPHFitter(penalizer=penalizer, strata=strata).fit(
                    x, "_time", "_event", weights_col="_w", cluster_col=cluster, robust=True)
        except (ConvergenceError, np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            continue
        log_hr, se = float(cox.params_[ARM]), float(cox.standard_errors_[ARM])
        if math.isfinite(log_hr) and math.isfinite(se) and se > 0:
            return HazardRatio(log_hr, se)
    return HazardRatio(problem="the Cox model did not converge")


def kaplan_meier(time: np.ndarray, event: np.ndarray, weights: np.ndarray):
    """lifelines' Kaplan–Meier fit at the given weights."""
    from lifelines import KaplanMeierFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KaplanMeierFitter().fit(np.maximum(time, 0.5), event.astype(float), weights=weights)


def rmst(time: np.ndarray, event: np.ndarray, weights: np.ndarray, horizon: float) -> float:
    """Restricted mean survival time up to ``horizon`` days of the weighted Kaplan–Meier curve."""
    from lifelines.utils import restricted_mean_survival_time

    return float(restricted_mean_survival_time(kaplan_meier(time, event, weights), t=horizon))


@dataclass(frozen=True)
class RmstDifference:
    trial: float
    control: float
    difference: float
    lower_95: float
    upper_95: float
    horizon_days: int
    bootstrap: int


def rmst_difference(trial: pd.DataFrame, control: pd.DataFrame, balanced: Balanced, horizon: int, *,
                    bootstrap: int = 200, seed: int = 0) -> RmstDifference:
    """RMST of each arm at its weights, their difference (trial - control) and a percentile bootstrap 95% CI."""
    arms = []
    for frame, w in ((trial, balanced.trial_weight), (control, balanced.control_weight)):
        kept = w > 0
        arms.append((frame["time_days"].to_numpy(float)[kept], frame["event"].to_numpy(bool)[kept], w[kept]))
    point = [rmst(t, e, w, horizon) for t, e, w in arms]
    rng = np.random.default_rng([seed, 47])
    draws = np.empty(bootstrap)
    for b in range(bootstrap):
        values = []
        for t, e, w in arms:
            pick = rng.integers(0, len(t), len(t))
            values.append(rmst(t[pick], e[pick], w[pick], horizon))
        draws[b] = values[0] - values[1]
    low, high = np.quantile(draws, [0.025, 0.975]) if bootstrap else (float("nan"), float("nan"))
    return RmstDifference(point[0], point[1], point[0] - point[1], float(low), float(high), horizon, bootstrap)
