"""The patient-level table the attacks run on: patient columns plus features of the claims.

An attacker who knows a patient's care (how many stays, when the first one was, how many
chemotherapy sessions) can use it, so the risk measures see it too. Dates become day
numbers, missing values a sentinel, so every attack compares like with like.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError
from synth.schema import PATIENT_ID, TREATMENTS

CHEMOTHERAPY_SESSION = "Z511"
CATEGORICAL = ("sex", "departement", "cancer_type", "subtype", "first_stay_diagnosis")
NUMERICAL = ("age_at_diagnosis", "stage", "diagnosis_day", "followup_days", "n_stays", "days_to_first_stay",
             "n_dispensings", "chemotherapy_sessions")
BOOLEAN = (*TREATMENTS, "death")
COLUMNS = (*CATEGORICAL, *NUMERICAL, *BOOLEAN)
MISSING_NUMBER = -99_999
MISSING_CATEGORY = "(missing)"


def attack_table(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per patient with :data:`COLUMNS` (no id: attacks never see ids)."""
    try:
        p, stays = data["patients"], data["stays"]
        first = stays.sort_values([PATIENT_ID, "admission_date"], kind="stable").drop_duplicates(PATIENT_ID)
        out = pd.DataFrame({
            "sex": p["sex"], "departement": p["departement"], "cancer_type": p["cancer_type"],
            "subtype": p["subtype"],
            "first_stay_diagnosis": p[PATIENT_ID].map(first.set_index(PATIENT_ID)["main_diagnosis"]),
            "age_at_diagnosis": p["age_at_diagnosis"], "stage": p["stage"],
            "diagnosis_day": (pd.to_datetime(p["diagnosis_date"]) - pd.Timestamp("1970-01-01")).dt.days,
            "followup_days": p["followup_days"], "n_stays": p["n_stays"],
            "days_to_first_stay": p["days_to_first_stay"], "n_dispensings": p["n_dispensings"],
            "chemotherapy_sessions": p[PATIENT_ID].map(
                stays[stays["main_diagnosis"] == CHEMOTHERAPY_SESSION].groupby(PATIENT_ID).size()).fillna(0),
            **{column: p[column] for column in BOOLEAN},
        })
    except KeyError as exc:
        raise HarmonieError(f"the dataset lacks {exc.args[0]!r}; risk needs the analytic dataset's tables") from None
    for column in CATEGORICAL:
        out[column] = out[column].astype("object").where(out[column].notna(), MISSING_CATEGORY).astype(str)
    for column in NUMERICAL:
        out[column] = pd.to_numeric(out[column]).astype("float64").fillna(MISSING_NUMBER).astype(np.int64)
    for column in BOOLEAN:
        out[column] = out[column].astype(bool).astype(np.int64)  # 0/1: every attack handles numbers
    return out.reset_index(drop=True)


def subsample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most ``rows`` rows, drawn without replacement under ``seed``."""
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    return frame.sample(rows, random_state=seed).reset_index(drop=True)
