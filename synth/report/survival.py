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
deaths among the patients it marks (10: with fewer, Wald intervals are too narrow and even an
independent sample misses them more often than it should). Each term estimated on real data is
compared with its synthetic estimate (:func:`compare_terms`): whether the synthetic 95% CI
**covers the real point estimate**, whether a real effect clearly on one side of 1
(:data:`CLEAR_Z` standard errors away) comes out on the other side, and how likely a miss would
be for a replica that were an independent sample of the same population and size (the checks
allow as many misses as such a sample would make, :mod:`.checks`); and all terms together by a
Wald test (:func:`joint_difference`), which sees effects erased where each interval alone is
too wide to. The models by cancer type with treatments and subtypes are in :mod:`.treatments`.

The synthetic side is subsampled to at most as many patients as the real side: a replica
sampled with more rows than the real data must not get narrower intervals (or a smaller
Kaplan–Meier allowance) for it.
"""

from __future__ import annotations

import math
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
MIN_TERM_EVENTS = 10
LANDMARK_MONTHS = {"1y": 12, "2y": 24, "5y": 60}
TERM_LABELS = {"age_per_10y": "age (per 10 years)", "stage_2": "stage 2 vs 1", "stage_3": "stage 3 vs 1",
               "stage_4": "stage 4 vs 1", "sex_male": "male vs female", "surgery": "surgery (yes vs no)",
               "chemotherapy": "chemotherapy (yes vs no)", "radiotherapy": "radiotherapy (yes vs no)",
               "hormone_therapy": "hormone therapy (yes vs no)", "targeted_therapy": "targeted therapy (yes vs no)"}


def term_label(term: str, reference: str) -> str:
    """A Cox term in words ("stage 4 vs 1", "lung vs breast", "triple negative vs HR+/HER2-"): ``reference``
    is the reference cancer type of the global model, the reference subtype of a model by cancer type."""
    for prefix in ("cancer_", "subtype_"):
        if term.startswith(prefix):
            return f"{term[len(prefix):]} vs {reference}"
    return TERM_LABELS.get(term, term)


def _clean(patients: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    ok = patients[DURATION].notna() & (patients[DURATION] >= 0) & patients[EVENT].notna()
    return patients[ok].reset_index(drop=True), int((~ok).sum())


def survival_frames(real: pd.DataFrame, synthetic: pd.DataFrame, *, seed: int, max_rows: int):
    """The two subsampled frames usable for survival (at most ``max_rows`` real patients, at most as many
    synthetic ones as real), and how many rows each side left out."""
    real_rows = subsample(real, max_rows, seed)
    r, r_dropped = _clean(real_rows)
    s, s_dropped = _clean(subsample(synthetic, len(real_rows), seed + 1))
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


class CoxFit(dict):
    """Term -> estimate, with the covariance matrix of the log hazard ratios in ``covariance``."""

    covariance: pd.DataFrame | None = None


def fit_cox(design: pd.DataFrame, terms: list[str], *, strata: list[str] | None = None,
            estimable=_estimable) -> tuple[CoxFit, str | None]:
    """Hazard ratios (with 95% CI, p and the log-HR standard error) of the ``terms`` that ``estimable`` allows,
    or why the model could not be fitted."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    usable = [t for t in terms if estimable(design, t)]
    if not usable:
        return CoxFit(), "no term can be estimated (too few deaths)"
    columns = usable + list(strata or []) + [DURATION, EVENT]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph = CoxPHFitter(penalizer=PENALIZER, strata=strata or None).fit(design[columns], DURATION, EVENT)
    except (ConvergenceError, np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
        return CoxFit(), f"the model did not converge ({type(exc).__name__})"
    summary = cph.summary
    out = CoxFit()
    out.covariance = cph.variance_matrix_
    for t in usable:
        row = summary.loc[t]
        values = [float(row[k]) for k in ("exp(coef)", "exp(coef) lower 95%", "exp(coef) upper 95%", "se(coef)")]
        if not all(np.isfinite(values)):
            continue
        out[t] = {"hr": values[0], "lower": values[1], "upper": values[2], "p": float(row["p"]), "se_log": values[3]}
    return out, None


def _fit_cox(design: pd.DataFrame, terms: list[str]) -> tuple[dict, str | None]:
    return fit_cox(design, terms)


def joint_difference(real_fit: CoxFit, synthetic_fit: CoxFit) -> dict | None:
    """Wald test that the real and synthetic log hazard ratios are equal, all terms estimated on both sides
    together: W = d' (V_real + V_synthetic)^-1 d, chi-squared with as many degrees of freedom as terms when
    the replica is an independent sample of the same population. One term far off or several a little off both
    raise it; ``None`` when no term is estimated on both sides."""
    from scipy.stats import chi2

    common = [t for t in real_fit if t in synthetic_fit]
    if not common or real_fit.covariance is None or synthetic_fit.covariance is None:
        return None
    d = np.array([math.log(synthetic_fit[t]["hr"]) - math.log(real_fit[t]["hr"]) for t in common])
    v = (real_fit.covariance.loc[common, common].to_numpy(float)
         + synthetic_fit.covariance.loc[common, common].to_numpy(float))
    try:
        statistic = float(d @ np.linalg.solve(v, d))
    except np.linalg.LinAlgError:
        statistic = float(d @ np.linalg.pinv(v) @ d)
    return {"statistic": statistic, "df": len(common), "p_value": float(chi2.sf(statistic, len(common)))}


Z95 = 1.959963984540054


def miss_probability(real: dict, synthetic: dict | None) -> float:
    """How often the 95% CI of an independent sample of the same population misses the real point estimate,
    for standard errors like these two: P(|log HR_real - log HR_synthetic| > 1.96 se_synthetic), the
    difference having variance se_real^2 + se_synthetic^2 (0.166 for equal sizes). A term the synthetic side
    cannot estimate counts as a miss of a same-size sample."""
    from scipy.stats import norm

    se_r = real["se_log"]
    se_s = se_r if synthetic is None else synthetic["se_log"]
    total = math.hypot(se_r, se_s)
    if not total:
        return 0.0
    return float(2 * norm.sf(Z95 * se_s / total))


CLEAR_Z = 3.29
"""A real effect is *clearly* away from 1 when its log-HR is at least this many standard errors from 0 (its 99.9%
CI excludes 1). With the 95% CI, a term with no effect at all would look clear in one model of twenty and an
independent sample would then put it on the other side of 1 half of the time: with a dozen such terms per report,
a faithful replica would fail on chance alone."""


def compare_terms(real_fit: dict, synthetic_fit: dict, order: list[str]) -> list[dict]:
    """One row per term estimated on real data: both estimates, whether the synthetic 95% CI covers the real
    HR (``covered``) or merely overlaps the real CI (``ci_overlap``), whether a real HR clearly below (above) 1
    (:data:`CLEAR_Z`) comes out at or above (below) 1 on the synthetic side (``direction_reversed``), and the
    chance of a miss for an independent sample (:func:`miss_probability`)."""
    rows = []
    for term in order:
        if term not in real_fit:
            continue
        r, s = real_fit[term], synthetic_fit.get(term)
        covered = s is not None and s["lower"] <= r["hr"] <= s["upper"]
        overlap = s is not None and s["lower"] <= r["upper"] and r["lower"] <= s["upper"]
        z = math.log(r["hr"]) / r["se_log"] if r["se_log"] > 0 and r["hr"] > 0 else 0.0
        clear = abs(z) >= CLEAR_Z
        reversed_ = clear and s is not None and ((z < 0 and s["hr"] >= 1) or (z > 0 and s["hr"] <= 1))
        rows.append({"term": term, "real": r, "synthetic": s, "covered": bool(covered), "ci_overlap": bool(overlap),
                     "real_clearly_away_from_1": bool(clear), "direction_reversed": bool(reversed_),
                     "miss_probability": miss_probability(r, s)})
    return rows


def cox(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """Hazard ratios on both sides and, per term estimable on real data, how the synthetic estimate compares
    (:func:`compare_terms`)."""
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
    rows = compare_terms(real_fit, synthetic_fit, terms)
    return {"joint": joint_difference(real_fit, synthetic_fit), "reference_cancer": reference, "penalizer": PENALIZER,
            "n_real": len(r_design), "n_synthetic": len(s_design), "terms": rows,
            "not_estimable_on_real": [t for t in terms if t not in real_fit],
            "problem_real": real_problem, "problem_synthetic": synthetic_problem}
