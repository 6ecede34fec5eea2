"""The coherence rules every analytic dataset and replica must satisfy, counted per rule.

The same rules hold on the real analytic dataset (by construction, :mod:`synth.analytic`)
and on every replica (the generators enforce them); tests check both. Treatment <-> claims
coherence (:func:`synth.care_rules.incoherent_claims`) is a property of the data, not a
construction: a replica may not hold more incoherent claims than its training data
(:func:`check_replica`).
"""

from __future__ import annotations

import pandas as pd

from synth.care_rules import incoherent_claims
from synth.schema import PATIENT_ID, WINDOW_START_DAYS


def _window(claims: pd.DataFrame, patients: pd.DataFrame, table: str, date_column: str
            ) -> tuple[pd.Series, pd.Series, pd.Series]:
    people = patients.set_index(PATIENT_ID)
    start = claims[PATIENT_ID].map(people["diagnosis_date"]) - pd.Timedelta(days=WINDOW_START_DAYS[table])
    end = claims[PATIENT_ID].map(people["end_of_followup"])
    return claims[date_column], start, end


def check_constraints(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Number of rows breaking each rule (all zero for a coherent dataset)."""
    p, stays, dispensings = tables["patients"], tables["stays"], tables["dispensings"]
    known = set(p[PATIENT_ID])
    admission, start, end = _window(stays, p, "stays", "admission_date")
    dispensed, d_start, d_end = _window(dispensings, p, "dispensings", "dispensing_date")
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
        "dispensing before diagnosis": int((dispensed < d_start).sum()),
        "dispensing after the end of follow-up (death)": int((dispensed > d_end).sum()),
        "n_stays differs from the stays table": int(
            (p[PATIENT_ID].map(stays.groupby(PATIENT_ID).size()).fillna(0) != p["n_stays"]).sum()),
        "n_dispensings differs from the dispensings table": int(
            (p[PATIENT_ID].map(dispensings.groupby(PATIENT_ID).size()).fillna(0) != p["n_dispensings"]).sum()),
        "cause of death given for a living patient": int((~p["death"] & p["death_cause"].notna()).sum()),
        "stay with a negative cost": int((stays["cost_eur"] < 0).sum()),
        "dispensing with a negative cost": int((dispensings["cost_eur"] < 0).sum()),
    }
    return counts


def check_replica(tables: dict[str, pd.DataFrame], training_incoherence: dict[str, int] | None) -> dict[str, int]:
    """Rules a replica breaks: :func:`check_constraints`, day sessions lasting nights, and any treatment <->
    claims rule broken where the training data never broke it."""
    broken = {rule: n for rule, n in check_constraints(tables).items() if n}
    for rule, n in incoherent_claims(tables).items():
        allowed = 0 if training_incoherence is None or rule.startswith("day session") else \
            training_incoherence.get(rule, 0)
        if n and allowed == 0:
            broken[rule] = n
    return broken
