"""The eligible patients of a dataset, one row each, followed from the emulated trial's index date.

The same function builds the trial arm and the control arm, from the trial's data, the real
warehouse (``ANALYTIC/train``) or a replica folder: whatever applies the eligibility to one
applies it to the others, which is the first thing a reviewer of an external control checks.
Each criterion is applied in the order of the spec and the patients left after it are counted
(the attrition table of the report, shown through the small-cell rule).

Time zero is the index date (:class:`synth.arms.eligibility.IndexRule`): the diagnosis, or the
first claim of a kind of care on or after the diagnosis (a patient without one within
``within_days``, or who died or left follow-up by then, is not eligible). Lines of treatment
are read from the claims with :func:`synth.care_rules.kinds_of`: a required kind must show on or
before the index date, an excluded one not in the ``washout_days`` before it (index day
included). The outcome is death from any cause: ``time_days`` from the index date to the end of
follow-up, ``event`` whether it is a death; ``potential_days`` is the follow-up the study's end
allows (used to censor a simulated drug's longer survival, :mod:`synth.arms.trial`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError
from synth.arms.eligibility import ArmSpec
from synth.care_rules import kinds_of
from synth.schema import PATIENT_ID, TREATMENTS

BASELINE = ("cancer_type", "subtype", "stage", "sex", "age_at_diagnosis", "diagnosis_date", *TREATMENTS)
COHORT_COLUMNS = (PATIENT_ID, *BASELINE, "diagnosis_year", "index_date", "days_to_index", "time_days", "event",
                  "potential_days")
_CLAIM_DATES = {"stays": "admission_date", "dispensings": "dispensing_date"}


@dataclass(frozen=True)
class Cohort:
    """The eligible patients (:data:`COHORT_COLUMNS`, sorted by patient id) and, per criterion in order,
    how many patients were left after it (the first entry: the dataset's patients)."""

    patients: pd.DataFrame
    attrition: tuple[tuple[str, int], ...]


def _care_claims(tables: dict[str, pd.DataFrame], ids: pd.Index, what: str) -> pd.DataFrame:
    """(patient_id, date, kind) of every claim of the patients ``ids``."""
    parts = []
    for table, column in _CLAIM_DATES.items():
        if table not in tables:
            raise HarmonieError(f"the {what} has no {table} table, which the index date or the care criteria of "
                                "the spec read; give a folder with patients, stays and dispensings, or use "
                                "index.date = \"diagnosis\" without care_required/care_excluded")
        claims = tables[table]
        claims = claims[claims[PATIENT_ID].isin(ids)]
        kinds = kinds_of(table, claims).to_numpy() if len(claims) else np.array([], dtype=object)
        parts.append(pd.DataFrame({PATIENT_ID: claims[PATIENT_ID].to_numpy(), "date": claims[column].to_numpy(),
                                   "kind": kinds}))
    return pd.concat(parts, ignore_index=True)


def _first(claims: pd.DataFrame, kinds, after: pd.Series | None = None) -> pd.Series:
    """Per patient, the date of the first claim of one of ``kinds`` (on or after ``after``, a date per patient)."""
    c = claims[claims["kind"].isin(list(kinds))]
    if after is not None:
        c = c[c["date"] >= c[PATIENT_ID].map(after)]
    return c.groupby(PATIENT_ID)["date"].min()


def build_cohort(tables: dict[str, pd.DataFrame], spec: ArmSpec, *, what: str = "dataset") -> Cohort:
    """Apply ``spec``'s eligibility and index rule to an analytic dataset (see the module docstring)."""
    p = tables["patients"]
    e, rule = spec.eligibility, spec.index
    keep = np.ones(len(p), dtype=bool)
    attrition: list[tuple[str, int]] = [(f"patients in the {what}", len(p))]

    def step(label: str, mask) -> None:
        nonlocal keep
        keep = keep & np.asarray(mask, dtype=bool)
        attrition.append((label, int(keep.sum())))

    step(f"cancer: {e.cancer}", p["cancer_type"].eq(e.cancer).to_numpy())
    if e.subtypes:
        step(f"subtype: {', '.join(e.subtypes)}", p["subtype"].astype(str).isin(e.subtypes).to_numpy())
    if tuple(e.stages) != (1, 2, 3, 4):
        step(f"stage: {', '.join(map(str, e.stages))}", p["stage"].isin(e.stages).to_numpy())
    age = pd.to_numeric(p["age_at_diagnosis"], errors="coerce")
    step(f"age at diagnosis {e.age_min}-{e.age_max}", age.between(e.age_min, e.age_max).to_numpy())
    if e.sexes:
        step(f"sex: {', '.join(e.sexes)}", p["sex"].isin(e.sexes).to_numpy())
    if e.diagnosis_years:
        years = p["diagnosis_date"].dt.year
        step(f"diagnosed {e.diagnosis_years[0]}-{e.diagnosis_years[1]}",
             years.between(*e.diagnosis_years).to_numpy())
    for flag in e.treatments_required:
        step(f"treated by {flag.replace('_', ' ')}", p[flag].fillna(False).to_numpy(bool))
    for flag in e.treatments_excluded:
        step(f"not treated by {flag.replace('_', ' ')}", ~p[flag].fillna(False).to_numpy(bool))

    ids = pd.Index(p[PATIENT_ID])
    diagnosis = pd.Series(p["diagnosis_date"].to_numpy(), index=ids)
    claims = _care_claims(tables, pd.Index(ids[keep]), what) if spec.reads_claims else None
    if rule.reads_claims:
        index = _first(claims, rule.care, after=diagnosis).reindex(ids).astype("datetime64[ns]")
        delay = (index - diagnosis).dt.days
        step(f"index: first {' or '.join(k.replace('_', ' ') for k in rule.care)} within {rule.within_days} days "
             "of diagnosis", (delay <= rule.within_days).fillna(False).to_numpy(bool))
    else:
        index = diagnosis.copy()
    end = pd.Series(p["end_of_followup"].to_numpy(), index=ids)
    step("alive and followed after the index date", (end > index).fillna(False).to_numpy(bool))
    if claims is not None:
        for kind in e.care_required:
            first = _first(claims, (kind,)).reindex(ids).astype("datetime64[ns]")
            step(f"{kind.replace('_', ' ')} on or before the index date", (first <= index).fillna(False).to_numpy(bool))
        for kind in e.care_excluded:
            c = claims[claims["kind"].eq(kind)]
            at = c[PATIENT_ID].map(index)
            inside = (c["date"] <= at) & (c["date"] >= at - pd.Timedelta(days=e.washout_days))
            exposed = ids.isin(c.loc[inside.to_numpy(), PATIENT_ID])
            step(f"no {kind.replace('_', ' ')} in the {e.washout_days} days before the index date", ~exposed)

    chosen = p[keep].copy()
    chosen["index_date"] = index[keep].to_numpy()
    chosen["diagnosis_year"] = chosen["diagnosis_date"].dt.year.astype("int64")
    chosen["days_to_index"] = (chosen["index_date"] - chosen["diagnosis_date"]).dt.days.astype("int64")
    chosen["time_days"] = (chosen["end_of_followup"] - chosen["index_date"]).dt.days.astype("float64")
    chosen["event"] = chosen["death"].fillna(False).astype(bool)
    study_end = p["end_of_followup"].max()
    chosen["potential_days"] = (study_end - chosen["index_date"]).dt.days.astype("float64")
    chosen["age_at_diagnosis"] = pd.to_numeric(chosen["age_at_diagnosis"]).astype("float64")
    chosen["stage"] = chosen["stage"].astype("int64")
    for flag in TREATMENTS:
        chosen[flag] = chosen[flag].fillna(False).astype(bool)
    out = chosen[list(COHORT_COLUMNS)].sort_values(PATIENT_ID, kind="stable").reset_index(drop=True)
    return Cohort(out, tuple(attrition))
