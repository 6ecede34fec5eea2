"""The coherence rules every analytic dataset and replica must satisfy, counted per rule.

The same rules hold on the real analytic dataset (by construction, :mod:`synth.analytic`)
and on every replica (the generators enforce them); tests check both.
"""

from __future__ import annotations

import pandas as pd

from synth.schema import PATIENT_ID, WORKUP_DAYS


def _window(claims: pd.DataFrame, patients: pd.DataFrame, date_column: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    people = patients.set_index(PATIENT_ID)
    start = claims[PATIENT_ID].map(people["diagnosis_date"]) - pd.Timedelta(days=WORKUP_DAYS)
    end = claims[PATIENT_ID].map(people["end_of_followup"])
    return claims[date_column], start, end


def check_constraints(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Number of rows breaking each rule (all zero for a coherent dataset)."""
    p, stays, dispensings = tables["patients"], tables["stays"], tables["dispensings"]
    known = set(p[PATIENT_ID])
    admission, start, end = _window(stays, p, "admission_date")
    dispensed, d_start, d_end = _window(dispensings, p, "dispensing_date")
    counts = {
        "patient ids not unique": int(p[PATIENT_ID].duplicated().sum()),
        "ovarian cancer in a male patient": int(((p["cancer_type"] == "ovarian") & (p["sex"] == "M")).sum()),
        "stage outside 1-4": int((~p["stage"].isin([1, 2, 3, 4])).sum()),
        "age outside 0-110": int((~p["age_at_diagnosis"].between(0, 110)).sum()),
        "end of follow-up before diagnosis": int((p["end_of_followup"] < p["diagnosis_date"]).sum()),
        "follow-up days inconsistent with dates": int(
            ((p["end_of_followup"] - p["diagnosis_date"]).dt.days != p["followup_days"]).sum()),
        "stay of an unknown patient": int((~stays[PATIENT_ID].isin(known)).sum()),
        "stay before the diagnostic work-up": int((admission < start).sum()),
        "stay after the end of follow-up (death)": int((stays["discharge_date"] > end).sum()),
        "discharge before admission": int((stays["discharge_date"] < admission).sum()),
        "dispensing of an unknown patient": int((~dispensings[PATIENT_ID].isin(known)).sum()),
        "dispensing before the diagnostic work-up": int((dispensed < d_start).sum()),
        "dispensing after the end of follow-up (death)": int((dispensed > d_end).sum()),
        "n_stays differs from the stays table": int(
            (p[PATIENT_ID].map(stays.groupby(PATIENT_ID).size()).fillna(0) != p["n_stays"]).sum()),
        "n_dispensings differs from the dispensings table": int(
            (p[PATIENT_ID].map(dispensings.groupby(PATIENT_ID).size()).fillna(0) != p["n_dispensings"]).sum()),
    }
    return counts
