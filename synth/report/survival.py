"""Survival real vs synthetic: Kaplan–Meier curves by cancer type and a Cox model's hazard ratios.

Time is ``followup_days`` (diagnosis to death or censoring), the event is ``death``. Rows
with a missing or negative time are left out and counted. Each side is a seeded subsample
of at most ``max_rows`` patients, so that confidence intervals have comparable widths
whatever the size of the two datasets.

Kaplan–Meier: the largest vertical distance between the real and synthetic curves is taken
over the union of both sides' event times, up to the shorter of the two follow-ups (beyond
it one curve is no longer estimated). That check needs the exact curves and is computed
inside the secure area (:func:`kaplan_meier`); what the report shows of them
(:func:`kaplan_meier_shown`) is the grouped curve of :mod:`privacy.disclosure`: whole months,
each step holding at least ``min_cell`` real deaths, with the synthetic curve read at the
same months; medians as the step where a curve falls to one half, landmark survival read off
the shown curve, and the step (not the day) where the two curves are farthest apart.

Cox: hazard ratios for age (per 10 years), stage 2, 3, 4 (vs 1), cancer type (vs breast)
and male sex, with 95% confidence intervals; a small ridge penalty keeps the fit stable.
A term is estimated on a side only if it varies there and has at least ``MIN_TERM_EVENTS``
deaths among the patients it marks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from privacy.disclosure import (
    DisclosureRule,
    grouped_kaplan_meier,
    interpolated,
    median_interval,
    step_containing,
    survival_on,
)
from synth.report.inputs import subsample

DURATION, EVENT = "followup_days", "death"
REFERENCE_CANCER = "breast"
PENALIZER = 0.001
MIN_TERM_EVENTS = 5
LANDMARK_MONTHS = {"1y": 12, "2y": 24, "5y": 60}
TERM_LABELS = {"age_per_10y": "age (per 10 years)", "stage_2": "stage 2 vs 1", "stage_3": "stage 3 vs 1",
               "stage_4": "stage 4 vs 1", "sex_male": "male vs female"}


def term_label(term: str, reference: str) -> str:
    """A Cox term in words ("stage 4 vs 1", "lung vs breast")."""
    if term.startswith("cancer_"):
        return f"{term[len('cancer_'):]} vs {reference}"
    return TERM_LABELS.get(term, term)


def _clean(patients: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    ok = patients[DURATION].notna() & (patients[DURATION] >= 0) & patients[EVENT].notna()
    return patients[ok].reset_index(drop=True), int((~ok).sum())


def survival_frames(real: pd.DataFrame, synthetic: pd.DataFrame, *, seed: int, max_rows: int):
    """The two subsampled frames usable for survival, and how many rows each side left out."""
    r, r_dropped = _clean(subsample(real, max_rows, seed))
    s, s_dropped = _clean(subsample(synthetic, max_rows, seed + 1))
    return r, s, {"real": r_dropped, "synthetic": s_dropped}


def _fit_km(frame: pd.DataFrame):
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter().fit(frame[DURATION].to_numpy(float), frame[EVENT].to_numpy(float))


def kaplan_meier(real: pd.DataFrame, synthetic: pd.DataFrame) -> list[dict]:
    """Per cancer type (every type on either side), at full resolution, for the checks: counts and the
    largest vertical distance between the curves with the time it occurs at (an exact event time: never
    written, see :func:`kaplan_meier_shown`)."""
    results = []
    cancers = sorted(set(real["cancer_type"].dropna()) | set(synthetic["cancer_type"].dropna()))
    for cancer in cancers:
        r = real[real["cancer_type"] == cancer]
        s = synthetic[synthetic["cancer_type"] == cancer]
        entry = {"cancer_type": cancer, "n_real": len(r), "n_synthetic": len(s),
                 "deaths_real": int(r[EVENT].sum()), "deaths_synthetic": int(s[EVENT].sum()),
                 "max_distance": None, "at_time_days": None}
        if len(r) and len(s):
            horizon = min(r[DURATION].max(), s[DURATION].max())
            times = np.union1d(r.loc[r[EVENT] == 1, DURATION], s.loc[s[EVENT] == 1, DURATION])
            times = np.concatenate([[0.0], times[times <= horizon]])
            gap = np.abs(_fit_km(r).survival_function_at_times(times).to_numpy()
                         - _fit_km(s).survival_function_at_times(times).to_numpy())
            at = int(np.argmax(gap))
            entry["max_distance"], entry["at_time_days"] = float(gap[at]), float(times[at])
        results.append(entry)
    return results


def kaplan_meier_shown(real: pd.DataFrame, synthetic: pd.DataFrame, measured: list[dict],
                       rule: DisclosureRule) -> list[dict]:
    """What the report writes of each :func:`kaplan_meier` entry: counts through ``rule``, both curves at the
    months of the grouped real curve (the synthetic curve's own grouping when the real one cannot be shown),
    medians as [from, to] months, landmark survival read off the curves, and the step where the curves are
    farthest apart. The distance itself is the checked one; it is not written for a real curve that may
    not be shown."""
    shown = []
    for entry in measured:
        cancer = entry["cancer_type"]
        r = real[real["cancer_type"] == cancer]
        s = synthetic[synthetic["cancer_type"] == cancer]
        curve = grouped_kaplan_meier(r[DURATION], r[EVENT], rule)
        real_shown = bool(curve.months)
        if not real_shown:
            curve = grouped_kaplan_meier(s[DURATION], s[EVENT], rule)
        sides = {"real": curve.survival if real_shown else (),
                 "synthetic": survival_on(curve, s[DURATION], s[EVENT])}
        out = {"cancer_type": cancer, "n_real": rule.count(entry["n_real"]), "n_synthetic": entry["n_synthetic"],
               "deaths_real": rule.count(entry["deaths_real"]), "deaths_synthetic": entry["deaths_synthetic"],
               "max_distance": entry["max_distance"] if real_shown else None,
               "at_interval_months": step_containing(curve.months, entry["at_time_days"]) if real_shown else None,
               "curve": {"months": list(curve.months), "survival_real": list(sides["real"]),
                         "survival_synthetic": list(sides["synthetic"])}}
        for side, values in sides.items():
            out[f"median_interval_months_{side}"] = median_interval(curve.months, values) if values else None
            out[f"survival_{side}"] = {k: interpolated(curve.months, values, m) if values else None
                                       for k, m in LANDMARK_MONTHS.items()}
        shown.append(out)
    return shown


def _design(frame: pd.DataFrame, cancers: list[str], reference: str) -> pd.DataFrame:
    stage = frame["stage"].round()
    out = pd.DataFrame({"age_per_10y": frame["age_at_diagnosis"] / 10.0}, index=frame.index)
    for level in (2, 3, 4):
        out[f"stage_{level}"] = (stage == level).astype(float).where(stage.isin([1, 2, 3, 4]))
    known = frame["cancer_type"].isin(cancers)  # a type absent from real data has no term: its rows are left out
    for cancer in cancers:
        if cancer != reference:
            out[f"cancer_{cancer}"] = (frame["cancer_type"] == cancer).astype(float).where(known)
    out["sex_male"] = (frame["sex"] == "M").astype(float).where(frame["sex"].isin(["F", "M"]))
    out[DURATION], out[EVENT] = frame[DURATION], frame[EVENT]
    return out.dropna().reset_index(drop=True)


def _estimable(design: pd.DataFrame, term: str) -> bool:
    values = design[term]
    if values.nunique() < 2:
        return False
    if term == "age_per_10y":
        return design[EVENT].sum() >= MIN_TERM_EVENTS
    return design.loc[values == 1, EVENT].sum() >= MIN_TERM_EVENTS and (values == 0).any()


def _fit_cox(design: pd.DataFrame, terms: list[str]) -> tuple[dict, str | None]:
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    usable = [t for t in terms if _estimable(design, t)]
    if not usable:
        return {}, "no term can be estimated (too few deaths)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph = CoxPHFitter(penalizer=PENALIZER).fit(design[usable + [DURATION, EVENT]], DURATION, EVENT)
    except (ConvergenceError, np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
        return {}, f"the model did not converge ({type(exc).__name__})"
    summary = cph.summary
    return {t: {"hr": float(summary.loc[t, "exp(coef)"]), "lower": float(summary.loc[t, "exp(coef) lower 95%"]),
                "upper": float(summary.loc[t, "exp(coef) upper 95%"]), "p": float(summary.loc[t, "p"])}
            for t in usable}, None


def cox(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """Hazard ratios on both sides and, per term estimable on real data, whether the synthetic CI overlaps."""
    counts = real["cancer_type"].value_counts()
    if counts.empty:
        reference = REFERENCE_CANCER
    else:
        reference = REFERENCE_CANCER if REFERENCE_CANCER in counts.index else str(counts.index[0])
    cancers = sorted(counts.index)
    r_design, s_design = _design(real, cancers, reference), _design(synthetic, cancers, reference)
    terms = [c for c in r_design.columns if c not in (DURATION, EVENT)]
    real_fit, real_problem = _fit_cox(r_design, terms)
    synthetic_fit, synthetic_problem = _fit_cox(s_design, list(real_fit))
    rows = []
    for term in terms:
        if term not in real_fit:
            continue
        r, s = real_fit[term], synthetic_fit.get(term)
        overlap = s is not None and s["lower"] <= r["upper"] and r["lower"] <= s["upper"]
        rows.append({"term": term, "real": r, "synthetic": s, "ci_overlap": bool(overlap)})
    return {"reference_cancer": reference, "penalizer": PENALIZER, "n_real": len(r_design),
            "n_synthetic": len(s_design), "terms": rows, "not_estimable_on_real": [t for t in terms if t not in real_fit],
            "problem_real": real_problem, "problem_synthetic": synthetic_problem}
