"""Calibration: how often an external control arm built this way is wrong, measured on simulated trials.

Before a methodologist trusts a control arm, they need its error rates: type I error (a
drug with no effect declared effective), power, bias and confidence-interval coverage of the
hazard ratio, against the nominal 5% / 80% / 95%. Published synthetic control arms were found
miscalibrated unless checked. This module measures them for a given emulated trial:

1. the eligible patients of the **trial source** (a part of the world the warehouse does not
   hold), of the **warehouse** (real patients) and, optionally, of a **replica** fitted on the
   warehouse, each built once (:func:`synth.arms.cohort.build_cohort`);
2. per simulated trial: ``trial_size`` patients drawn from the trial source with the confounded
   enrolment of :mod:`synth.arms.trial` (common to every setting of that trial), the drug's
   effect added for each hazard ratio θ, and ``control_size`` controls subsampled without
   replacement from each source's eligible pool (much fewer than the pool, so that the pool's
   own chance deviation, shared by every trial, stays small against each trial's noise);
3. each trial analysed twice per source: **balanced** as the spec says, and **unadjusted**
   (no score, no covariates: the comparison a confounded arm would give);
4. the truth of the estimand for each θ (:func:`estimand_truth`), from the drug and no-drug
   outcomes of the whole trial source at its enrolment weights; then per source x analysis x θ:
   rejection rate at ``alpha`` (type I error at θ = 1, power otherwise), bias of the log-HR,
   empirical and mean model standard errors, coverage of the 95% CI, each with its Monte-Carlo
   standard error, and the power the trials' own standard errors promise (``expected_power``).

A source's balanced analysis whose type I error falls outside ``type_one_bounds`` (3-7%) or
whose coverage falls below ``min_coverage`` (93%) at any θ gets a warning: printed on stderr by
the command and written at the top of the report. So does a design whose trials take more than
a tenth of the trial source, or whose control samples more than a quarter of a pool
(:func:`design_warnings`): the simulated trials would then share most of their patients and the
rates would describe that overlap (conservative intervals, type I error below 5%) as much as the
method.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from harmonie.errors import HarmonieError, InvalidParameter
from harmonie.progress import stage, track
from synth.arms.balance import Balanced, balance_arms, covariate_terms, smd_table
from synth.arms.cohort import Cohort, build_cohort
from synth.arms.eligibility import ArmSpec
from synth.arms.outcome import Z95, HazardRatio, hazard_ratio
from synth.arms.trial import TrialDesign, draw_trial, enrolment_probabilities, with_effect

ANALYSES = ("balanced", "unadjusted")
MAX_TRIAL_SHARE = 0.1    # of the trial source's eligible patients per simulated trial
MAX_CONTROL_SHARE = 0.25  # of a source's eligible pool per trial's control sample


@dataclass(frozen=True)
class CalibrationSettings:
    """How many trials, of what size, with which effects and which enrolment; and the bounds warned about."""

    trials: int = 200
    hazard_ratios: tuple[float, ...] = (1.0, 0.7)
    trial_size: int = 100
    control_size: int = 400
    age_log_odds_per_10y: float = -0.5
    stage_log_odds: float = -0.7
    alpha: float = 0.05
    type_one_bounds: tuple[float, float] = (0.03, 0.07)
    min_coverage: float = 0.93
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.trials, bool) or not isinstance(self.trials, (int, np.integer)) or not 1 <= self.trials \
                <= 100_000:
            raise InvalidParameter(f"the number of trials must be between 1 and 100,000 (got {self.trials!r})")
        if not self.hazard_ratios or len(set(self.hazard_ratios)) != len(self.hazard_ratios):
            raise InvalidParameter("give one or more distinct hazard ratios to calibrate at")
        if isinstance(self.control_size, bool) or not isinstance(self.control_size, (int, np.integer)) \
                or self.control_size < 10:
            raise InvalidParameter(f"the control sample per trial must be at least 10 patients "
                                   f"(got {self.control_size!r})")
        if not 0 < self.alpha < 0.5:
            raise InvalidParameter(f"alpha must be in (0, 0.5) (got {self.alpha!r})")
        for theta in self.hazard_ratios:
            TrialDesign(self.trial_size, theta, self.age_log_odds_per_10y, self.stage_log_odds)  # checks each

    def design(self, hazard_ratio: float) -> TrialDesign:
        return TrialDesign(self.trial_size, hazard_ratio, self.age_log_odds_per_10y, self.stage_log_odds)


@dataclass
class Calibration:
    """Per-trial estimates (``trials``: one row per trial x source x analysis x θ), the summary rows, the truth
    per θ, the pools' cohorts and the warnings."""

    settings: CalibrationSettings
    spec: ArmSpec
    trials: pd.DataFrame
    summary: list[dict]
    truth: dict[float, float]
    cohorts: dict[str, Cohort]
    pool_differences: dict[str, HazardRatio]
    warnings: list[str] = field(default_factory=list)


def estimand_truth(pool: pd.DataFrame, probabilities: np.ndarray, spec: ArmSpec, theta: float) -> float:
    """The log-HR the analysis targets, computed without confounding or sampling error: every patient of the
    trial source twice, with and without the drug, at their enrolment probability, through the same Cox model
    as the balanced analysis (adjusted or not). Equal to log θ when the world's survival is exactly exponential
    from the index date; 0 at θ = 1."""
    if theta == 1:
        return 0.0
    treated = with_effect(pool, theta)
    terms = covariate_terms(pool, pool, spec.analysis.covariates)
    w = probabilities / probabilities.mean()
    weights = Balanced("weight", w, w, np.full(len(pool), np.nan), np.full(len(pool), np.nan))
    estimate = hazard_ratio(treated, pool, weights, terms, spec.analysis)
    if estimate.problem:
        raise HarmonieError(f"the truth at hazard ratio {theta} cannot be computed: {estimate.problem}")
    return estimate.log_hr


def pool_difference(trial_pool: pd.DataFrame, source_pool: pd.DataFrame, spec: ArmSpec) -> HazardRatio:
    """The log-HR of the whole trial source against a whole source pool, no drug, adjusted as the analysis is:
    the chance (and, for a replica, systematic) difference every simulated trial inherits, since all of them
    draw on these two pools. Near 0 for two random halves of one world, within its standard error."""
    terms = covariate_terms(trial_pool, source_pool, spec.analysis.covariates)
    ones = Balanced("none", np.ones(len(trial_pool)), np.ones(len(source_pool)), np.full(len(trial_pool), np.nan),
                    np.full(len(source_pool), np.nan))
    return hazard_ratio(trial_pool, source_pool, ones, terms, spec.analysis)


def _summary_row(rows: pd.DataFrame, truth: float, alpha: float) -> dict:
    ok = rows[np.isfinite(rows["log_hr"]) & np.isfinite(rows["se"])]
    n = len(ok)
    out = {"trials": len(rows), "failed": len(rows) - n, "truth_hr": math.exp(truth)}
    if n == 0:
        return out
    z = norm.ppf(1 - alpha / 2)
    reject = (2 * norm.sf(np.abs(ok["log_hr"] / ok["se"]))) < alpha
    covered = np.abs(ok["log_hr"] - truth) <= Z95 * ok["se"]
    sd = float(ok["log_hr"].std(ddof=1)) if n > 1 else float("nan")

    def share(mask) -> tuple[float, float]:
        p = float(np.mean(mask))
        return p, math.sqrt(p * (1 - p) / n)

    out["rejection"], out["rejection_mc_se"] = share(reject)
    out["coverage"], out["coverage_mc_se"] = share(covered)
    out["mean_hr"] = math.exp(float(ok["log_hr"].mean()))
    out["bias_log_hr"] = float(ok["log_hr"].mean()) - truth
    out["bias_mc_se"] = sd / math.sqrt(n) if n > 1 else float("nan")
    out["empirical_se"] = sd
    out["mean_model_se"] = float(ok["se"].mean())
    out["expected_power"] = float(np.mean(norm.cdf(abs(truth) / ok["se"] - z) + norm.cdf(-abs(truth) / ok["se"] - z)))
    out["mean_max_abs_smd"] = float(ok["max_abs_smd"].mean()) if ok["max_abs_smd"].notna().any() else None
    out["mean_control_ess"] = float(ok["control_ess"].mean())
    return out


def summarise(trials: pd.DataFrame, truth: dict[float, float], settings: CalibrationSettings) -> list[dict]:
    """One row per source x analysis x θ (see the module docstring)."""
    rows = []
    for (source, analysis, theta), group in trials.groupby(["source", "analysis", "hazard_ratio"], sort=False):
        rows.append({"source": source, "analysis": analysis, "hazard_ratio": float(theta),
                     **_summary_row(group, truth[float(theta)], settings.alpha)})
    return rows


def calibration_warnings(summary: list[dict], settings: CalibrationSettings) -> list[str]:
    """A line per source whose balanced analysis is outside the bounds (type I error, coverage)."""
    low, high = settings.type_one_bounds
    out = []
    for row in summary:
        if row["analysis"] != "balanced" or "rejection" not in row:
            continue
        label = f"{row['source']} control arms"
        if row["hazard_ratio"] == 1 and not low <= row["rejection"] <= high:
            out.append(f"{label}: type I error {row['rejection']:.1%} (MC SE {row['rejection_mc_se']:.1%}) is outside "
                       f"{low:.0%}-{high:.0%} over {row['trials'] - row['failed']} trials: do not trust a "
                       f"{row['source']}-based arm of this design without correcting it")
        if row["coverage"] < settings.min_coverage:
            out.append(f"{label}: 95% CI coverage {row['coverage']:.1%} (MC SE {row['coverage_mc_se']:.1%}) at HR "
                       f"{row['hazard_ratio']:g} is below {settings.min_coverage:.0%}")
        if row["failed"]:
            out.append(f"{label}: {row['failed']} of {row['trials']} analyses at HR {row['hazard_ratio']:g} gave no "
                       "estimate")
    return out


def _analyse(trial: pd.DataFrame, control: pd.DataFrame, spec: ArmSpec, thetas, seed: int) -> list[dict]:
    """Both analyses of one trial against one control sample, at each θ (the score is fitted once)."""
    terms = covariate_terms(trial, control, spec.analysis.covariates)
    balanced = balance_arms(trial, control, spec.analysis, terms, seed=seed)
    unadjusted = balance_arms(trial, control, type(spec.analysis)(method="none"), terms)
    smds = [r["after"]["smd"] for r in smd_table(trial, control, terms, balanced) if r["after"]["smd"] is not None]
    rows = []
    for theta in thetas:
        treated = with_effect(trial, theta)
        for name, weights, adjust in (("balanced", balanced, None), ("unadjusted", unadjusted, False)):
            estimate = hazard_ratio(treated, control, weights, terms, spec.analysis, adjust=adjust)
            rows.append({"analysis": name, "hazard_ratio": float(theta), "log_hr": estimate.log_hr,
                         "se": estimate.se, "problem": estimate.problem,
                         "max_abs_smd": float(np.max(np.abs(smds))) if name == "balanced" and smds else np.nan,
                         "control_ess": weights.control_ess, "trial_kept": weights.trial_kept})
    return rows


def calibrate_arms(warehouse: dict[str, pd.DataFrame], trial_source: dict[str, pd.DataFrame], spec: ArmSpec,
                   settings: CalibrationSettings = CalibrationSettings(), *,
                   replica: dict[str, pd.DataFrame] | None = None) -> Calibration:
    """Measure the error rates of ``spec``'s control arms from the warehouse (and the replica): module docstring."""
    with stage("eligible patients of the trial source, the warehouse and the replica"):
        cohorts = {"trial source": build_cohort(trial_source, spec, what="trial source"),
                   "real": build_cohort(warehouse, spec, what="warehouse")}
        if replica is not None:
            cohorts["replica"] = build_cohort(replica, spec, what="replica")
    pool = cohorts["trial source"].patients
    overlap = set(pool["patient_id"]) & set(cohorts["real"].patients["patient_id"])
    if overlap:
        raise HarmonieError(f"{len(overlap):,} patients are both in the trial source and in the warehouse: draw the "
                            "trials from patients the warehouse does not hold (e.g. ANALYTIC/control)")
    if len(pool) < settings.trial_size:
        raise HarmonieError(f"only {len(pool):,} patients of the trial source are eligible, fewer than the trial size "
                            f"{settings.trial_size:,}: lower --trial-size or widen the eligibility")
    sources = [name for name in cohorts if name != "trial source"]
    for name in sources:
        if len(cohorts[name].patients) < settings.control_size:
            raise HarmonieError(f"only {len(cohorts[name].patients):,} patients of the {name} source are eligible, "
                                f"fewer than the control sample {settings.control_size:,}: lower --control-size")
    probabilities = enrolment_probabilities(pool, settings.design(settings.hazard_ratios[0]))
    with stage("the estimand's truth at each hazard ratio, and the pools' own difference"):
        truth = {float(t): estimand_truth(pool, probabilities, spec, float(t)) for t in settings.hazard_ratios}
        differences = {name: pool_difference(pool, cohorts[name].patients, spec) for name in sources}
    rows = []
    for t in track(range(settings.trials), settings.trials, f"calibration: {settings.trials} simulated trials"):
        rng = np.random.default_rng([settings.seed, 71, t])
        trial = draw_trial(pool, probabilities, settings.trial_size, rng)
        for name in sources:
            controls = cohorts[name].patients
            picked = np.sort(rng.choice(len(controls), size=settings.control_size, replace=False))
            control = controls.iloc[picked].reset_index(drop=True)
            for row in _analyse(trial, control, spec, settings.hazard_ratios, settings.seed * 1_000_003 + t):
                rows.append({"trial": t, "source": name, **row})
    trials = pd.DataFrame(rows)
    summary = summarise(trials, truth, settings)
    return Calibration(settings, spec, trials, summary, truth, cohorts, differences,
                       calibration_warnings(summary, settings) + design_warnings(cohorts, settings))


def design_warnings(cohorts: dict[str, Cohort], settings: CalibrationSettings) -> list[str]:
    """Lines for a calibration whose trials or control samples take a large share of their pool: the simulated
    trials then share most of their patients, so the spread of their estimates understates the trials' own
    (the rates come out conservative) and the pools' chance difference weighs on every trial."""
    out = []
    pool = len(cohorts["trial source"].patients)
    if settings.trial_size > MAX_TRIAL_SHARE * pool:
        out.append(f"each trial takes {settings.trial_size / pool:.0%} of the {pool:,} eligible trial-source patients "
                   f"(keep it under {MAX_TRIAL_SHARE:.0%}): the trials overlap, and these error rates describe that "
                   "overlap as much as the method; use a larger source or smaller trials")
    for name, cohort in cohorts.items():
        if name != "trial source" and settings.control_size > MAX_CONTROL_SHARE * len(cohort.patients):
            out.append(f"each trial's controls take {settings.control_size / len(cohort.patients):.0%} of the "
                       f"{name} pool (keep it under {MAX_CONTROL_SHARE:.0%}): the control samples overlap; lower "
                       "--control-size")
    return out


def settings_dict(settings: CalibrationSettings) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}
