"""Treatments and subtypes: their effect on survival by cancer type, and who receives which treatment.

**Cox by cancer type** (:func:`treatment_effects`): per cancer type, a Cox model stratified by
stage (each stage its own baseline hazard: treatments are given by stage, so a pooled baseline
would lend the stage effect to them) with age (per 10 years), male sex, the subtype (one dummy
per subtype, the reference being the cancer's most common subtype in the real data) and each
treatment flag of :data:`synth.schema.TREATMENTS`. A term enters when it varies and has at least
``MIN_TERM_EVENTS`` deaths on both of its levels in the real data; the synthetic model has the
same terms (those it can estimate in turn). A subtype with too few deaths to estimate is left out
with its patients, so that the reference stays one subtype. Both sides come from the survival
frames of :mod:`.survival` (at most as many synthetic patients as real), and each term is compared
by :func:`synth.report.survival.compare_terms`: does the synthetic 95% CI cover the real HR, does
a clear real effect keep its direction.

**Treatment × stage** (:func:`treatment_shares`): per cancer type and stage, the share of patients
receiving each treatment, real vs synthetic. Sampling noise is allowed for: a difference passes
when it is at most ``max(treatment_share_abs, z · SE)``, SE being the standard error of the
difference of two independent shares of these sizes (pooled share) and z ``share_sampling_z``, or
more when a cancer type has many cells (:func:`family_z`: a faithful replica fails any of them
with probability ``family_tail`` at most); cells with fewer than ``share_min_real_patients`` real
patients are shown, not checked.

What is written (:func:`effects_shown`, :func:`shares_shown`) passes the small-cell rule: counts
of real patients suppressed below ``min_cell``, real shares rounded or suppressed, a subtype named
only when at least ``min_cell`` real patients hold it.
"""

from __future__ import annotations

import math

import pandas as pd

from privacy.disclosure import DisclosureRule
from synth.report.survival import DURATION, EVENT, MIN_TERM_EVENTS, PENALIZER, compare_terms, fit_cox, joint_difference
from synth.schema import TREATMENTS

STAGES = (1, 2, 3, 4)
MISSING_SUBTYPE = "(missing)"
SUBTYPE_PREFIX = "subtype_"


def _subtypes(values: pd.Series) -> pd.Series:
    return values.astype("object").where(values.notna(), MISSING_SUBTYPE).map(str)


def _both_levels(design: pd.DataFrame, term: str, minimum: int = MIN_TERM_EVENTS) -> bool:
    """A term can be estimated: it varies, and (for a 0/1 term) both levels hold ``minimum`` deaths."""
    values = design[term]
    if values.nunique() < 2:
        return False
    if term == "age_per_10y":
        return design[EVENT].sum() >= minimum
    deaths = design.groupby(values)[EVENT].sum()
    return bool(deaths.get(1.0, 0) >= minimum and deaths.get(0.0, 0) >= minimum)


def _any_death(design: pd.DataFrame, term: str) -> bool:
    """On the synthetic side a term is fitted as soon as both levels hold a death: its interval is then wide (and
    covers the real estimate) rather than missing, which would count as a miss of an independent sample."""
    return _both_levels(design, term, 1)


def _spec(real: pd.DataFrame) -> dict:
    """The model of one cancer type as the real data allow it: reference subtype, subtypes kept, candidate terms."""
    labels = _subtypes(real["subtype"])
    counts = labels.value_counts()
    reference = sorted(counts.index, key=lambda v: (-counts[v], v))[0]
    deaths = real[EVENT].groupby(labels).sum()
    total_deaths = float(real[EVENT].sum())
    kept = [reference] + sorted(v for v in counts.index if v != reference
                                and deaths.get(v, 0) >= MIN_TERM_EVENTS
                                and total_deaths - deaths.get(v, 0) >= MIN_TERM_EVENTS)
    sex = real["sex"]
    terms = ["age_per_10y"]
    if sex.isin(["F", "M"]).all() and sex.nunique() == 2:
        terms.append("sex_male")
    terms += [SUBTYPE_PREFIX + v for v in kept[1:]] + list(TREATMENTS)
    return {"reference": reference, "subtypes": kept, "left_out": sorted(set(counts.index) - set(kept)),
            "terms": terms}


def _design(frame: pd.DataFrame, spec: dict) -> pd.DataFrame:
    labels = _subtypes(frame["subtype"])
    stage = frame["stage"].round()
    keep = labels.isin(spec["subtypes"]) & stage.isin(STAGES)
    out = pd.DataFrame({"age_per_10y": frame["age_at_diagnosis"] / 10.0}, index=frame.index)
    if "sex_male" in spec["terms"]:
        out["sex_male"] = (frame["sex"] == "M").astype(float).where(frame["sex"].isin(["F", "M"]))
    for value in spec["subtypes"][1:]:
        out[SUBTYPE_PREFIX + value] = (labels == value).astype(float)
    for flag in TREATMENTS:
        out[flag] = frame[flag]
    out["stage"] = stage
    out[DURATION], out[EVENT] = frame[DURATION], frame[EVENT]
    return out[keep.to_numpy()].dropna().reset_index(drop=True)


def _model(cancer: str, real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    out = {"cancer": cancer, "strata": "stage", "penalizer": PENALIZER, "reference_subtype": None,
           "n_real": len(real), "n_synthetic": len(synthetic), "deaths_real": int(real[EVENT].sum()),
           "deaths_synthetic": int(synthetic[EVENT].sum()), "terms": [], "not_estimable_on_real": [],
           "left_out_subtypes": [], "problem_real": None, "problem_synthetic": None, "joint": None}
    if real[EVENT].sum() < MIN_TERM_EVENTS:
        out["problem_real"] = "too few deaths for a model"
        return out
    spec = _spec(real)
    out["reference_subtype"], out["left_out_subtypes"] = spec["reference"], spec["left_out"]
    r_design, s_design = _design(real, spec), _design(synthetic, spec)
    real_fit, out["problem_real"] = fit_cox(r_design, spec["terms"], strata=["stage"], estimable=_both_levels)
    out["not_estimable_on_real"] = [t for t in spec["terms"] if t not in real_fit]
    if not real_fit:
        return out
    if s_design.empty:
        synthetic_fit, out["problem_synthetic"] = {}, f"no synthetic {cancer} patients to fit the model on"
    else:
        synthetic_fit, out["problem_synthetic"] = fit_cox(s_design, list(real_fit), strata=["stage"],
                                                          estimable=_any_death)
    out["n_real"], out["n_synthetic"] = len(r_design), len(s_design)
    out["deaths_real"], out["deaths_synthetic"] = int(r_design[EVENT].sum()), int(s_design[EVENT].sum())
    out["terms"] = compare_terms(real_fit, synthetic_fit, spec["terms"])
    out["joint"] = joint_difference(real_fit, synthetic_fit)
    return out


def treatment_effects(real: pd.DataFrame, synthetic: pd.DataFrame) -> list[dict]:
    """One stratified Cox model per cancer type of the real data (survival frames of :mod:`.survival`), at full
    resolution, for the checks."""
    return [_model(str(cancer), real[real["cancer_type"] == cancer], synthetic[synthetic["cancer_type"] == cancer])
            for cancer in sorted(real["cancer_type"].dropna().unique())]


def effects_shown(measured: list[dict], real: pd.DataFrame, rule: DisclosureRule) -> list[dict]:
    """What the report writes of :func:`treatment_effects`: real counts through ``rule``; a subtype is named only
    when at least ``min_cell`` real patients of that cancer type hold it."""
    shown = []
    for model in measured:
        labels = _subtypes(real.loc[real["cancer_type"] == model["cancer"], "subtype"])
        counts = labels.value_counts()

        def nameable(value: str | None) -> bool:
            return value is not None and counts.get(value, 0) >= rule.min_cell

        out = dict(model, n_real=rule.count(model["n_real"]), deaths_real=rule.count(model["deaths_real"]))
        out["reference_subtype"] = model["reference_subtype"] if nameable(model["reference_subtype"]) else None
        hidden = [v for v in model["left_out_subtypes"] if not nameable(v)]
        out["left_out_subtypes"] = [v for v in model["left_out_subtypes"] if nameable(v)]
        out["left_out_subtypes_unnamed"] = len(hidden) if hidden else 0
        terms = []
        for term in model["terms"]:
            name = term["term"]
            if name.startswith(SUBTYPE_PREFIX) and not nameable(name[len(SUBTYPE_PREFIX):]):
                term = dict(term, term=SUBTYPE_PREFIX + "(a rare subtype)")
            terms.append(term)
        out["terms"] = terms
        out["not_estimable_on_real"] = [t for t in model["not_estimable_on_real"]
                                        if not t.startswith(SUBTYPE_PREFIX) or nameable(t[len(SUBTYPE_PREFIX):])]
        shown.append(out)
    return shown


# --- treatment x stage --------------------------------------------------------------------------------

def family_z(z: float, comparisons: int, tail: float) -> float:
    """Standard errors a difference may reach when ``comparisons`` of them are checked together: ``z`` at least,
    more when needed so that a faithful replica fails any of them with probability at most ``tail``
    (Bonferroni: with twenty cells, a 3-SE rule alone would fail one replica in twenty)."""
    from scipy.stats import norm

    return max(z, float(norm.isf(tail / (2 * max(comparisons, 1)))))


def share_allowance(p_real: float, n_real: int, p_synthetic: float, n_synthetic: int, floor: float,
                    z: float) -> float:
    """The largest |real - synthetic| share two independent samples of these sizes from one population stay
    under (z standard errors of the difference, pooled share), and never below ``floor``."""
    if not n_real or not n_synthetic:
        return floor
    pooled = (p_real * n_real + p_synthetic * n_synthetic) / (n_real + n_synthetic)
    se = math.sqrt(max(pooled * (1 - pooled), 0.0) * (1 / n_real + 1 / n_synthetic))
    return max(floor, z * se)


def treatment_shares(real: pd.DataFrame, synthetic: pd.DataFrame, *, floor: float, z: float, tail: float,
                     min_real: int) -> list[dict]:
    """Per cancer type (of the real data) x stage x treatment: patients and treated patients on both sides, the
    shares, the allowance (``z`` standard errors at least, more for many cells: :func:`family_z`) and whether
    the cell is checked (enough real patients) and within it."""
    cells = []
    for cancer in sorted(real["cancer_type"].dropna().unique()):
        r_c = real[real["cancer_type"] == cancer]
        s_c = synthetic[synthetic["cancer_type"] == cancer]
        r_stage, s_stage = r_c["stage"].round(), s_c["stage"].round()
        group = []
        for stage in STAGES:
            r, s = r_c[(r_stage == stage).to_numpy()], s_c[(s_stage == stage).to_numpy()]
            if r.empty:
                continue
            for flag in TREATMENTS:
                rv, sv = r[flag].dropna(), s[flag].dropna()
                n_r, n_s, k_r, k_s = len(rv), len(sv), int(rv.sum()), int(sv.sum())
                group.append({"cancer": str(cancer), "stage": stage, "treatment": flag, "n_real": n_r,
                              "treated_real": k_r, "n_synthetic": n_s, "treated_synthetic": k_s,
                              "share_real": k_r / n_r if n_r else None, "share_synthetic": k_s / n_s if n_s else None,
                              "checked": n_r >= min_real})
        cell_z = family_z(z, sum(c["checked"] for c in group), tail)
        for c in group:
            p_r, p_s = c["share_real"], c["share_synthetic"]
            c["allowance"] = share_allowance(p_r or 0.0, c["n_real"], p_s or 0.0, c["n_synthetic"], floor, cell_z)
            c["within"] = p_r is not None and p_s is not None and abs(p_r - p_s) <= c["allowance"]
        cells += group
    return cells


def shares_shown(cells: list[dict], rule: DisclosureRule) -> list[dict]:
    """What the report writes of :func:`treatment_shares`: real counts suppressed below ``min_cell``, real shares
    rounded (none where the treated or untreated real patients are too few), no allowance (with the synthetic
    share it would give the real one away)."""
    return [{"cancer": c["cancer"], "stage": c["stage"], "treatment": c["treatment"],
             "n_real": rule.count(c["n_real"]), "n_synthetic": c["n_synthetic"],
             "share_real": rule.share(c["treated_real"], c["n_real"]) if c["n_real"] else None,
             "share_synthetic": c["share_synthetic"], "checked": c["checked"], "within": c["within"]}
            for c in cells]

