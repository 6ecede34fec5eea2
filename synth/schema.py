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


# --- extra clinical columns ------------------------------------------------------------------------

EXTRA_SDTYPES = ("numerical", "boolean", "categorical")
MAX_EXTRA_LEVELS = 50
"""A text column with more distinct values than this is an identifier or free text, not a category."""
IDENTIFYING_NAMES = frozenset({
    "nir", "birth_date", "birth_name", "use_name", "first_names", "first_name", "name", "surname", "commune_code",
    "postcode", "address", "phone", "email", "ipp", "cohort_id", "snds_id", "linkage_id", "snds_linkage_id",
    "local_id", "centre_finess", "finess", "death_date", "last_news_date", "birth"})
"""Columns that identify a person or date an event: never an extra column (the analytic dataset's own dates are
its fixed columns; a date of the case-report form goes in as days from diagnosis)."""


def extra_columns(frame) -> list[str]:
    """The patients table's columns beyond the fixed schema, in the frame's order: the extra clinical variables
    the cohort sent (its case-report form). They are optional; their kinds come from their types
    (:func:`check_extra_columns`)."""
    return [c for c in frame.columns if c not in PATIENT_COLUMNS]


def patient_columns(frame) -> list[str]:
    """The fixed patient columns in schema order, then the frame's extra clinical columns."""
    return [*column_order("patients"), *extra_columns(frame)]


def check_extra_columns(table, where: str, ignore: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """{column: sdtype} of the extra clinical columns of ``table`` (a pyarrow Table or Schema, or a pandas
    DataFrame), every column but ``ignore`` and the fixed patient columns; one-line error naming the column and
    the fix when one could identify someone or is not a plain variable: an identifier's or a date's name, a date,
    text with more than :data:`MAX_EXTRA_LEVELS` distinct values (an identifier or free text), no value at all.
    Yes/no columns are "boolean", numbers "numerical", text "categorical"."""
    import re

    import pyarrow as pa
    import pyarrow.compute as pc

    from harmonie.errors import HarmonieError

    if not isinstance(table, (pa.Table, pa.Schema)):
        table = pa.Table.from_pandas(table, preserve_index=False)
    schema = table if isinstance(table, pa.Schema) else table.schema
    out = {}
    for field in schema:
        name, kind = field.name, field.type
        if name in ignore or name in PATIENT_COLUMNS:
            continue
        head = f"{where}: extra column {name!r}"
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
            raise HarmonieError(f"{head}: rename it to a lower-case identifier (letters, digits, underscores, "
                                "64 at most)")
        if name in IDENTIFYING_NAMES or name.endswith(("_id", "_date")) or "name" in name or "nir" in name.split("_"):
            raise HarmonieError(f"{head} names an identifier or a date: drop it (a date goes in as days from "
                                "diagnosis, under another name)")
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_boolean(kind):
            out[name] = "boolean"
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
            out[name] = "numerical"
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            out[name] = "categorical"
        elif pa.types.is_temporal(kind):
            raise HarmonieError(f"{head} holds dates: drop it, or give days from diagnosis instead")
        elif pa.types.is_null(kind):
            raise HarmonieError(f"{head} holds no value: drop it")
        else:
            raise HarmonieError(f"{head} holds {kind} values: extra columns hold numbers, true/false or text "
                                "categories")
        if isinstance(table, pa.Table):
            values = table[name]
            if values.null_count == len(values):
                raise HarmonieError(f"{head} holds no value: drop it")
            if out[name] == "categorical" and pc.count_distinct(values).as_py() > MAX_EXTRA_LEVELS:
                raise HarmonieError(f"{head} has more than {MAX_EXTRA_LEVELS} distinct values, like an identifier "
                                    f"or free text: code it into at most {MAX_EXTRA_LEVELS} categories, or drop it")
    return out


def with_extra_dtypes(frame, kinds: dict[str, str]):
    """``frame`` with its extra columns ``kinds`` ({column: sdtype}) in one dtype per kind, whatever the file or the
    generator held: nullable booleans, float64 numbers, text categories as objects with None for missing."""
    import pandas as pd

    out = frame.copy()
    for column, sdtype in kinds.items():
        values = out[column]
        if sdtype == "boolean":
            out[column] = values.astype("boolean")
        elif sdtype == "numerical":
            out[column] = pd.to_numeric(values).astype("float64")
        else:
            out[column] = values.astype("object").where(values.notna(), None)
    return out


def extra_sdtypes(frame) -> dict[str, str]:
    """{column: sdtype} of a patients frame's extra columns, from their pandas dtypes as :func:`with_extra_dtypes`
    leaves them (yes/no, numbers, text), without re-checking them (:func:`check_extra_columns` did, on the way in)."""
    import pandas as pd

    out = {}
    for column in extra_columns(frame):
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or (values.dtype == object and values.dropna().map(type).eq(bool).all()
                                                  and values.notna().any()):
            out[column] = "boolean"
        elif pd.api.types.is_numeric_dtype(values):
            out[column] = "numerical"
        else:
            out[column] = "categorical"
    return out
