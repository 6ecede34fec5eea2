"""Survival of synthetic patients: a Cox model per cancer type, stratified by stage.

A replica is used to study how survival depends on treatments and subtypes, so death
times are drawn from a model that has them. Kaplan–Meier strata (the previous design) keep
only what the strata name: an independent audit planted hazard ratios into real training
data (triple-negative 1.82, hormone therapy 0.65, lung surgery 0.54) and every one came out
near 1 in the replica. So, per cancer type:

- a Cox proportional-hazards model (lifelines), stratified by stage (each stage keeps its
  own baseline hazard, whatever its shape), with covariates age (linear and quadratic),
  male sex, each subtype against the cancer's commonest one, and each treatment flag. A term
  enters only if both of its levels hold at least ``MIN_TERM_PATIENTS`` patients and
  ``MIN_TERM_EVENTS`` deaths; the fit uses every training patient of the cancer (a
  subsample would make the model's own error larger than the replica's sampling error);
- the baseline cumulative hazard of each stage (Breslow, at the fitted coefficients);
  a stage with fewer than ``MIN_PATIENTS`` patients shares the cancer's pooled baseline;
- a synthetic patient with covariates x dies at the t where H0(t)·exp(xβ) reaches an
  Exp(1) draw, H0 linearly interpolated between event times (so no real death time is
  copied exactly); beyond the last event time the patient does not die within follow-up.

Censoring is the real alive patients' follow-up as a share of their potential follow-up
(study end − diagnosis), by cancer, applied to the synthetic patient's own potential
follow-up; the patient dies if the death time comes first. The cause of death (CépiDC:
cancer / other / unknown) is drawn from the real deaths of the same cancer × stage.

The fitted model is JSON (coefficients, baseline curves, quantiles, frequencies) of groups
of at least ``MIN_PATIENTS`` real patients; it is saved in the model manifest, kept with
the real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.schema import TREATMENTS
from synth.strata import assign_strata, draw_from_counts, fit_strata

MIN_PATIENTS = 50
MIN_TERM_PATIENTS = 20
MIN_TERM_EVENTS = 5
MIN_COX_EVENTS = 20
PENALIZER = 0.001
CENSORING_STRATA = (("cancer_type",), ())
CAUSE_STRATA = (("cancer_type", "stage"), ("cancer_type",), ())
_QUANTILES = np.linspace(0, 1, 201)
POOLED = "all"


def _potential_days(patients: pd.DataFrame, study_end: pd.Timestamp) -> np.ndarray:
    return np.maximum((study_end - patients["diagnosis_date"]).dt.days.to_numpy(), 0)


# --- the design matrix ---------------------------------------------------------------------

def _terms(frame: pd.DataFrame) -> dict:
    """Which covariates a cancer's model uses: every term with enough patients and deaths on both sides."""
    died = frame["death"].to_numpy(bool)

    def enough(mask: np.ndarray) -> bool:
        return all(m.sum() >= MIN_TERM_PATIENTS and (m & died).sum() >= MIN_TERM_EVENTS for m in (mask, ~mask))

    subtypes = frame["subtype"].astype(str)
    reference = subtypes.value_counts().sort_index().idxmax() if len(frame) else None
    return {
        "age_mean": round(float(frame["age_at_diagnosis"].mean()), 4) if len(frame) else 0.0,
        "male": bool(enough((frame["sex"] == "M").to_numpy())),
        "reference_subtype": reference,
        "subtypes": [s for s in sorted(subtypes.unique()) if s != reference and enough((subtypes == s).to_numpy())],
        "flags": [f for f in TREATMENTS if enough(frame[f].fillna(False).to_numpy(bool))],
    }


def _design(frame: pd.DataFrame, terms: dict) -> pd.DataFrame:
    age = (frame["age_at_diagnosis"].to_numpy(float) - terms["age_mean"]) / 10.0
    columns = {"age_per_10y": age, "age_per_10y_squared": age ** 2}
    if terms["male"]:
        columns["male"] = (frame["sex"] == "M").to_numpy(float)
    subtypes = frame["subtype"].astype(str).to_numpy()
    for subtype in terms["subtypes"]:
        columns[f"subtype={subtype}"] = (subtypes == subtype).astype(float)
    for flag in terms["flags"]:
        columns[flag] = frame[flag].fillna(False).to_numpy(float)
    return pd.DataFrame(columns, index=frame.index)


def _risk(design: pd.DataFrame, coefficients: dict[str, float]) -> np.ndarray:
    """exp(xβ) of each row (1 without coefficients)."""
    if not coefficients:
        return np.ones(len(design))
    return np.exp(design[list(coefficients)].to_numpy() @ np.array(list(coefficients.values())))


def _baseline_groups(frame: pd.DataFrame) -> pd.Series:
    """The stage as the baseline group, or :data:`POOLED` for stages with too few patients."""
    stage = frame["stage"].astype(str)
    small = stage.map(stage.value_counts()) < MIN_PATIENTS
    return stage.where(~small, POOLED)


def _fit_cox(design: pd.DataFrame, days: np.ndarray, died: np.ndarray, groups: pd.Series) -> dict[str, float]:
    """Coefficients of a Cox model stratified by baseline group; {} when it cannot be fitted."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    if died.sum() < MIN_COX_EVENTS or design.shape[1] == 0:
        return {}
    frame = design.assign(_days=np.maximum(days, 0.5), _died=died.astype(int), _group=groups.to_numpy())
    strata = ["_group"] if frame["_group"].nunique() > 1 else None
    for penalizer in (PENALIZER, 0.1):
        try:
            cox = CoxPHFitter(penalizer=penalizer).fit(frame, "_days", "_died", strata=strata)
        except (ConvergenceError, ValueError, ZeroDivisionError, np.linalg.LinAlgError):
            continue
        params = cox.params_
        if np.all(np.isfinite(params.to_numpy())):
            return {term: round(float(params[term]), 6) for term in design.columns}
    return {}


def _breslow(days: np.ndarray, died: np.ndarray, risk: np.ndarray) -> dict:
    """Breslow's baseline cumulative hazard at the event times (risk = exp(xβ) of each patient)."""
    order = np.argsort(days, kind="stable")
    days, died, risk = days[order], died[order], risk[order]
    at_risk = np.cumsum(risk[::-1])[::-1]  # sum of risk over patients still followed at each position
    times = np.unique(days[died])
    if len(times) == 0:
        return {"times": [], "cumulative_hazard": []}
    first = np.searchsorted(days, times, side="left")
    deaths = np.bincount(np.searchsorted(times, days[died]), minlength=len(times))
    hazard = np.cumsum(deaths / at_risk[first])
    return {"times": times.astype(float).tolist(), "cumulative_hazard": hazard.round(8).tolist()}


def _fit_cancer(frame: pd.DataFrame) -> dict:
    terms = _terms(frame)
    design = _design(frame, terms)
    days, died = frame["followup_days"].to_numpy(float), frame["death"].to_numpy(bool)
    groups = _baseline_groups(frame)
    coefficients = _fit_cox(design, days, died, groups)
    risk = _risk(design, coefficients)
    baselines = {str(g): _breslow(days[(groups == g).to_numpy()], died[(groups == g).to_numpy()],
                                  risk[(groups == g).to_numpy()]) for g in sorted(groups.unique())}
    if POOLED not in baselines:
        baselines[POOLED] = _breslow(days, died, risk)
    return {"terms": terms, "coefficients": coefficients, "baselines": baselines, "patients": len(frame),
            "deaths": int(died.sum())}


def fit_outcomes(patients: pd.DataFrame, seed: int = 0) -> dict:
    """The survival, censoring and cause-of-death model (JSON-ready); ``seed`` is unused (the fit is exact)."""
    del seed
    study_end = patients["end_of_followup"].max()
    survival = {str(c): _fit_cancer(frame) for c, frame in patients.groupby("cancer_type", sort=True)}
    alive = patients[~patients["death"]]
    share = (alive["followup_days"] / np.maximum(_potential_days(alive, study_end), 1)).clip(0, 1)
    strata = fit_strata(alive, CENSORING_STRATA, MIN_PATIENTS)
    censoring = {name: np.quantile(share[strata == name], _QUANTILES).round(6).tolist()
                 for name in sorted(strata.unique())}
    dead = patients[patients["death"]]
    causes = {}
    if len(dead):
        strata = fit_strata(dead, CAUSE_STRATA, MIN_PATIENTS)
        causes = {name: dead.loc[strata == name, "death_cause"].fillna("unknown").astype(str)
                  .value_counts().sort_index().to_dict() for name in sorted(strata.unique())}
        causes = {k: {c: int(n) for c, n in v.items()} for k, v in causes.items()}
    return {"study_end": study_end.strftime("%Y-%m-%d"), "survival": survival, "censoring": censoring,
            "death_causes": causes, "min_patients": MIN_PATIENTS}


# --- sampling --------------------------------------------------------------------------------

def _death_days(curve: dict, target: np.ndarray) -> np.ndarray:
    """The day each patient's cumulative hazard reaches ``target`` (inf beyond the curve)."""
    times, hazard = np.asarray(curve["times"], float), np.asarray(curve["cumulative_hazard"], float)
    out = np.full(len(target), np.inf)
    if len(times) == 0:
        return out
    inside = target <= hazard[-1]
    out[inside] = np.interp(target[inside], np.r_[0.0, hazard], np.r_[0.0, times])
    return np.maximum(np.floor(out), 1)


def _draw_death_days(model: dict, p: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    death_days = np.full(len(p), np.inf)
    target = rng.exponential(size=len(p))
    for cancer, fitted in sorted(model["survival"].items()):
        rows = (p["cancer_type"] == cancer).to_numpy()
        if not rows.any():
            continue
        frame = p[rows]
        risk = _risk(_design(frame, fitted["terms"]), fitted["coefficients"])
        groups = frame["stage"].astype(str).where(frame["stage"].astype(str).isin(fitted["baselines"]), POOLED)
        days = np.full(len(frame), np.inf)
        for group in sorted(groups.unique()):
            members = (groups == group).to_numpy()
            days[members] = _death_days(fitted["baselines"][group], target[rows][members] / risk[members])
        death_days[rows] = days
    return death_days


def _draw_causes(model: dict, p: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
    cause = pd.Series(None, index=p.index, dtype="object")
    table = model.get("death_causes") or {}
    if not table:
        return cause.where(~p["death"], "unknown")
    strata = assign_strata(p, CAUSE_STRATA, set(table))
    u = rng.random(len(p))
    for name in sorted(table):
        rows = (strata == name).to_numpy() & p["death"].to_numpy(bool)
        cause[rows] = draw_from_counts(table[name], u[rows])
    return cause


def sample_outcomes(model: dict, patients: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Add death, death_cause, end_of_followup and followup_days to baseline patients."""
    rng = np.random.default_rng([seed, 11])
    study_end = pd.Timestamp(model["study_end"])
    death_days = _draw_death_days(model, patients, rng)
    share = np.zeros(len(patients))
    strata = assign_strata(patients, CENSORING_STRATA, set(model["censoring"]))
    for name in sorted(model["censoring"]):
        rows = (strata == name).to_numpy()
        share[rows] = np.interp(rng.random(rows.sum()), _QUANTILES, model["censoring"][name])
    censor_days = np.floor(share * _potential_days(patients, study_end))
    out = patients.copy()
    out["death"] = death_days <= censor_days
    out["followup_days"] = np.minimum(death_days, censor_days).astype(np.int64)
    out["end_of_followup"] = out["diagnosis_date"] + pd.to_timedelta(out["followup_days"], unit="D")
    out["death_cause"] = _draw_causes(model, out, rng)
    return out
