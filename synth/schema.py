"""The analytic dataset's schema: its tables, their columns, and what each column means.

One row per linked patient in ``patients``; ``stays`` (hospital stays from the SNDS PMSI)
and ``dispensings`` (drug dispensings from the SNDS DCIR) are keyed by ``patient_id``, a
new id drawn for the analytic dataset that is neither a local id, a linkage id nor an
encoding. Dates are calendar dates (Parquet date32); the follow-up window of a patient runs
from ``WORKUP_DAYS`` before diagnosis (the diagnostic work-up) for stays, from diagnosis
for dispensings, to ``end_of_followup``.
"""

from __future__ import annotations

WORKUP_DAYS = 30
"""Stays this many days before the diagnosis date belong to the diagnostic work-up and are kept."""

WINDOW_START_DAYS = {"stays": WORKUP_DAYS, "dispensings": 0}
"""How many days before diagnosis each claims table's window opens: stays include the diagnostic
work-up; dispensings start at diagnosis (a drug bought before it is not a cancer treatment)."""

PATIENT_ID = "patient_id"

PATIENT_COLUMNS: dict[str, tuple[str, str]] = {
    # name: (sdtype for the generators, meaning)
    "patient_id": ("id", "new analytic id (P0000001...), in a random order"),
    "sex": ("categorical", "F or M (SNDS, from the NIR, when the two sides disagree)"),
    "age_at_diagnosis": ("numerical", "completed years at diagnosis"),
    "departement": ("categorical", "département of residence at diagnosis (2A/2B, 971...)"),
    "cancer_type": ("categorical", "breast, lung or ovarian"),
    "subtype": ("categorical", "receptor status (breast) or histology (lung, ovarian)"),
    "stage": ("categorical", "stage at diagnosis, 1 to 4"),
    "diagnosis_date": ("datetime", "date of diagnosis (cohort)"),
    "surgery": ("boolean", "treated by surgery (cohort)"),
    "chemotherapy": ("boolean", "treated by chemotherapy (cohort)"),
    "radiotherapy": ("boolean", "treated by radiotherapy (cohort)"),
    "hormone_therapy": ("boolean", "treated by hormone therapy (cohort)"),
    "targeted_therapy": ("boolean", "treated by a targeted therapy (cohort)"),
    "n_stays": ("numerical", "SNDS hospital stays in the follow-up window"),
    "days_to_first_stay": ("numerical", "days from diagnosis to the first such stay (empty if none)"),
    "n_dispensings": ("numerical", "SNDS drug dispensings in the follow-up window"),
    "death": ("boolean", "died during follow-up (cohort, else SNDS death date)"),
    "death_cause": ("categorical", "underlying cause of death (CépiDC, SNDS): 'cancer' (ICD-10 C00-D48), "
                                   "'other', or 'unknown'; empty for patients alive at the end of follow-up"),
    "end_of_followup": ("datetime", "date of death, else the latest of last news and last claim"),
    "followup_days": ("numerical", "days from diagnosis to end_of_followup"),
}

STAY_COLUMNS: dict[str, tuple[str, str]] = {
    "patient_id": ("id", "the patient's analytic id"),
    "admission_date": ("datetime", "admission date"),
    "discharge_date": ("datetime", "discharge date (never before admission nor after end_of_followup)"),
    "main_diagnosis": ("categorical", "ICD-10 main diagnosis (C50x, Z511 chemotherapy session...)"),
    "ghm": ("categorical", "GHM root of the stay (5 characters: CMD, type letter C/M/K/Z, number)"),
    "cost_eur": ("numerical", "cost of the stay to the insurer, euros (GHS tariff)"),
}

DISPENSING_COLUMNS: dict[str, tuple[str, str]] = {
    "patient_id": ("id", "the patient's analytic id"),
    "dispensing_date": ("datetime", "dispensing date"),
    "atc_code": ("categorical", "ATC code of the drug"),
    "quantity": ("numerical", "boxes dispensed"),
    "cost_eur": ("numerical", "cost of the dispensing to the insurer, euros"),
}

TABLES: dict[str, dict[str, tuple[str, str]]] = {
    "patients": PATIENT_COLUMNS, "stays": STAY_COLUMNS, "dispensings": DISPENSING_COLUMNS,
}
TREATMENTS = ("surgery", "chemotherapy", "radiotherapy", "hormone_therapy", "targeted_therapy")
DATE_COLUMNS = {table: [c for c, (sdtype, _) in columns.items() if sdtype == "datetime"]
                for table, columns in TABLES.items()}

QUASI_IDENTIFIERS = ("sex", "age_at_diagnosis", "departement", "diagnosis_date")
"""What an attacker may know about a patient from outside the data (used by the risk metrics)."""


def column_order(table: str) -> list[str]:
    return list(TABLES[table])
