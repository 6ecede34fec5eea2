"""Survival real vs synthetic: Kaplan–Meier curves by cancer type and a Cox model's hazard ratios.

Time is ``followup_days`` (diagnosis to death or censoring), the event is ``death``. Rows
with a missing or negative time are left out and counted. Each side is a seeded subsample
of at most ``max_rows`` patients, so that confidence intervals have comparable widths
whatever the size of the two datasets.

Kaplan–Meier: the largest vertical distance between the real and synthetic curves is taken
over the union of both sides' event times, up to the shorter of the two follow-ups (beyond
it one curve is no longer estimated).

Cox: hazard ratios for age (per 10 years), stage 2, 3, 4 (vs 1), cancer type (vs breast)
and male sex, with 95% confidence intervals; a small ridge penalty keeps the fit stable.
A term is estimated on a side only if it varies there and has at least ``MIN_TERM_EVENTS``
deaths among the patients it marks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from synth.report.inputs import subsample

DURATION, EVENT = "followup_days", "death"
REFERENCE_CANCER = "breast"
PENALIZER = 0.001
MIN_TERM_EVENTS = 5
LANDMARKS = {"1y": 365, "2y": 730, "5y": 1826}
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


def _median(km) -> float | None:
    median = float(km.median_survival_time_)
    return None if np.isinf(median) or np.isnan(median) else median


def _landmarks(km, frame: pd.DataFrame) -> dict:
    horizon = frame[DURATION].max()
    return {k: (float(km.predict(t)) if t <= horizon else None) for k, t in LANDMARKS.items()}


def kaplan_meier(real: pd.DataFrame, synthetic: pd.DataFrame) -> tuple[list[dict], dict]:
    """Per cancer type (every type on either side): counts, medians, landmark survival and the
    largest vertical distance; and the curves for plotting ({cancer: {"real": (t, S), ...}})."""
    results, curves = [], {}
    cancers = sorted(set(real["cancer_type"].dropna()) | set(synthetic["cancer_type"].dropna()))
    for cancer in cancers:
        r = real[real["cancer_type"] == cancer]
        s = synthetic[synthetic["cancer_type"] == cancer]
        entry = {"cancer_type": cancer, "n_real": len(r), "n_synthetic": len(s),
                 "deaths_real": int(r[EVENT].sum()), "deaths_synthetic": int(s[EVENT].sum()),
                 "max_distance": None, "at_time_days": None}
        curves[cancer] = {}
        for side, frame in (("real", r), ("synthetic", s)):
            if len(frame):
                km = _fit_km(frame)
                sf = km.survival_function_.iloc[:, 0]
                curves[cancer][side] = (sf.index.to_numpy(float), sf.to_numpy(float))
                entry[f"median_days_{side}"] = _median(km)
                entry[f"survival_{side}"] = _landmarks(km, frame)
                entry[f"_km_{side}"] = km
        if len(r) and len(s):
            horizon = min(r[DURATION].max(), s[DURATION].max())
            times = np.union1d(r.loc[r[EVENT] == 1, DURATION], s.loc[s[EVENT] == 1, DURATION])
            times = np.concatenate([[0.0], times[times <= horizon]])
            gap = np.abs(entry["_km_real"].survival_function_at_times(times).to_numpy()
                         - entry["_km_synthetic"].survival_function_at_times(times).to_numpy())
            at = int(np.argmax(gap))
            entry["max_distance"], entry["at_time_days"] = float(gap[at]), float(times[at])
        entry.pop("_km_real", None)
        entry.pop("_km_synthetic", None)
        results.append(entry)
    return results, curves


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
