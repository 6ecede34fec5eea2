"""Planting known hazard ratios into an analytic dataset, to check that a replica keeps them.

A generator is only trusted to keep treatment effects if it is shown to keep effects it
was not built around. :func:`plant_effects` takes any analytic dataset (ours, a partner's)
and redraws each patient's survival from a proportional-hazards model whose baseline is the
dataset's own Kaplan–Meier curve per cancer × stage and whose covariate effects are the
hazard ratios given: S(t | x) = S0(t) ** exp(Σ log(HR)·x). Each patient keeps their own
censoring time (the end of follow-up of those alive; the potential follow-up, study end
minus diagnosis, of those who died); claims after the new end of follow-up are dropped and
the claim summaries recomputed. The planted ratios are then the truth a Cox model on the
planted data estimates, and a replica fitted on it must recover.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError
from synth.replica import claims_summary
from synth.schema import PATIENT_ID, TREATMENTS


@dataclass(frozen=True)
class PlantedEffect:
    cancer: str
    term: str            # "male", "subtype=<label>" or a treatment flag
    hazard_ratio: float

    def indicator(self, patients: pd.DataFrame) -> np.ndarray:
        if self.term == "male":
            return (patients["sex"] == "M").to_numpy(float)
        if self.term.startswith("subtype="):
            return (patients["subtype"].astype(str) == self.term[len("subtype="):]).to_numpy(float)
        if self.term in TREATMENTS:
            return patients[self.term].fillna(False).to_numpy(float)
        raise HarmonieError(f"cannot plant an effect on {self.term!r}: use male, subtype=<label> or a treatment")


def _inverse_km(days: np.ndarray, died: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The time at which the Kaplan–Meier survival of (days, died) falls to ``u`` (inf if it never does)."""
    order = np.argsort(days, kind="stable")
    days, died = days[order], died[order]
    times = np.unique(days[died])
    if len(times) == 0:
        return np.full(len(u), np.inf)
    at_risk = len(days) - np.searchsorted(days, times, side="left")
    deaths = np.bincount(np.searchsorted(times, days[died]), minlength=len(times))
    survival = np.cumprod(1 - deaths / at_risk)
    index = np.searchsorted(-survival, -u, side="left")  # first time survival <= u
    out = np.full(len(u), np.inf)
    found = index < len(times)
    out[found] = times[index[found]]
    return out


def plant_effects(tables: dict[str, pd.DataFrame], effects: list[PlantedEffect], *, seed: int = 0
                  ) -> dict[str, pd.DataFrame]:
    """A copy of the dataset whose survival carries the given hazard ratios (see the module docstring)."""
    p = tables["patients"].copy()
    rng = np.random.default_rng([seed, 23])
    log_hr = np.zeros(len(p))
    for effect in effects:
        rows = (p["cancer_type"] == effect.cancer).to_numpy()
        log_hr[rows] += np.log(effect.hazard_ratio) * effect.indicator(p[rows])
    study_end = p["end_of_followup"].max()
    potential = (study_end - p["diagnosis_date"]).dt.days.to_numpy()
    censor = np.where(p["death"].to_numpy(bool), potential, p["followup_days"].to_numpy())
    new_days = np.full(len(p), np.inf)
    u = rng.random(len(p))
    for _, group in p.groupby(["cancer_type", "stage"], sort=True):
        rows = p.index.get_indexer(group.index)
        new_days[rows] = _inverse_km(group["followup_days"].to_numpy(float), group["death"].to_numpy(bool),
                                     u[rows] ** np.exp(-log_hr[rows]))
    died = new_days <= censor
    p["death"] = died
    p["followup_days"] = np.where(died, new_days, censor).astype(np.int64)
    p["end_of_followup"] = p["diagnosis_date"] + pd.to_timedelta(p["followup_days"], unit="D")
    p["death_cause"] = p["death_cause"].where(died, None).where(~died | p["death_cause"].notna(), "unknown")
    end = p.set_index(PATIENT_ID)["end_of_followup"]
    out = {"patients": p}
    for name, column in (("stays", "admission_date"), ("dispensings", "dispensing_date")):
        claims = tables[name]
        ends = claims[PATIENT_ID].map(end)
        kept = claims[claims[column] <= ends].copy()
        if "discharge_date" in kept.columns:
            kept["discharge_date"] = kept["discharge_date"].where(kept["discharge_date"] <= ends[kept.index],
                                                                  ends[kept.index])
        out[name] = kept.reset_index(drop=True)
    claims_summary(p, out["stays"], out["dispensings"])
    return out


def cox_terms(patients: pd.DataFrame, cancer: str, terms: list[str]) -> pd.DataFrame:
    """log-HR (``coef``) and 95% CI (``lower``, ``upper``) of ``terms`` in a Cox model of one cancer type,
    stratified by stage and adjusted for age."""
    from lifelines import CoxPHFitter

    f = patients[patients["cancer_type"] == cancer]
    x = pd.DataFrame({"age_per_10y": (f["age_at_diagnosis"] - 60) / 10.0}, index=f.index)
    for term in terms:
        x[term] = PlantedEffect(cancer, term, 1.0).indicator(f)
    x = x.assign(_days=f["followup_days"].clip(lower=0.5), _died=f["death"].astype(int), _stage=f["stage"])
    summary = CoxPHFitter(penalizer=0.001).fit(x, "_days", "_died", strata=["_stage"]).summary
    return summary.loc[terms, ["coef", "coef lower 95%", "coef upper 95%"]].set_axis(["coef", "lower", "upper"],
                                                                                     axis=1)


def recovery(real: pd.DataFrame, synthetic: pd.DataFrame, effects: list[PlantedEffect]) -> pd.DataFrame:
    """Per planted effect: the planted, real and synthetic log-HRs, whether the synthetic 95% CI covers the
    real estimate, and whether the synthetic estimate has the planted direction."""
    rows = []
    for cancer in sorted({e.cancer for e in effects}):
        chosen = [e for e in effects if e.cancer == cancer]
        terms = [e.term for e in chosen]
        r, s = cox_terms(real, cancer, terms), cox_terms(synthetic, cancer, terms)
        for effect in chosen:
            t, planted = effect.term, float(np.log(effect.hazard_ratio))
            rows.append({"cancer": cancer, "term": t, "planted": planted, "real": r.loc[t, "coef"],
                         "synthetic": s.loc[t, "coef"], "synthetic_lower": s.loc[t, "lower"],
                         "synthetic_upper": s.loc[t, "upper"],
                         "covered": bool(s.loc[t, "lower"] <= r.loc[t, "coef"] <= s.loc[t, "upper"]),
                         "same_direction": bool(np.sign(s.loc[t, "coef"]) == np.sign(planted))})
    return pd.DataFrame(rows)
