"""Checking and normalising the datasets a utility report compares.

Replicas come from different generators (and from Parquet files, where dates are
``date32``): types are made uniform here once, so every section can rely on them.
Problems are one-line :class:`HarmonieError` messages naming the side, table and column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError
from synth.schema import PATIENT_ID, TABLES, TREATMENTS, extra_columns, extra_sdtypes, with_extra_dtypes

BOOLEAN_COLUMNS = (*TREATMENTS, "death")
CATEGORICAL_COLUMNS = ("sex", "departement", "cancer_type", "subtype", "death_cause", "main_diagnosis", "ghm",
                       "atc_code")
NUMERICAL_COLUMNS = ("age_at_diagnosis", "stage", "n_stays", "days_to_first_stay", "n_dispensings", "followup_days",
                     "quantity", "cost_eur")
_TRUE = {"true", "t", "1", "yes", "y", "1.0"}
_FALSE = {"false", "f", "0", "no", "n", "0.0"}


def _as_bool(values: pd.Series) -> pd.Series:
    """0.0 / 1.0 / NaN from bools, numbers or 'true'/'false' strings (generators differ)."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64").where(values.isna(), (values != 0).astype("float64"))
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(np.nan, index=values.index, dtype="float64")
    out[text.isin(_TRUE).fillna(False).to_numpy(bool)] = 1.0
    out[text.isin(_FALSE).fillna(False).to_numpy(bool)] = 0.0
    return out


def _as_text(values: pd.Series) -> pd.Series:
    """Strings with missing values kept missing (object dtype: what SDV and pandas expect)."""
    out = values.astype("object")
    mask = out.notna()
    out[mask] = out[mask].map(str)
    return out.where(mask, None)


def _normalise_column(values: pd.Series, column: str, where: str) -> pd.Series:
    if column == PATIENT_ID:
        return _as_text(values)
    if column in BOOLEAN_COLUMNS:
        out = _as_bool(values)
    elif column in CATEGORICAL_COLUMNS:
        return _as_text(values)
    elif column in NUMERICAL_COLUMNS:
        out = pd.to_numeric(values, errors="coerce").astype("float64")
    else:  # dates
        try:
            out = pd.to_datetime(values, errors="coerce")
        except (TypeError, ValueError):
            raise HarmonieError(f"{where} column {column} does not hold dates") from None
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        out = out.astype("datetime64[ns]")
    if values.notna().any() and out.isna().all():
        kind = "dates" if column not in BOOLEAN_COLUMNS + NUMERICAL_COLUMNS else \
            "true/false values" if column in BOOLEAN_COLUMNS else "numbers"
        raise HarmonieError(f"{where} column {column} does not hold {kind}")
    return out


def normalise_table(frame: object, table: str, side: str) -> pd.DataFrame:
    """The schema columns of ``table`` with uniform types, and a patients table's extra clinical columns
    (:func:`synth.schema.extra_columns`); errors name ``side`` (real, synthetic...)."""
    where = f"{side} table {table}"
    if not isinstance(frame, pd.DataFrame):
        raise HarmonieError(f"{where} is not a data frame (got {type(frame).__name__})")
    columns = list(TABLES[table])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise HarmonieError(f"{where} lacks column(s) {', '.join(missing)}")
    if frame.empty:
        raise HarmonieError(f"{where} is empty: there is nothing to compare")
    out = pd.DataFrame({c: _normalise_column(frame[c], c, where) for c in columns})
    if table == "patients" and extra_columns(frame):  # a wide table's extra clinical columns, one dtype per kind
        extras = frame[extra_columns(frame)].reset_index(drop=True)
        out = pd.concat([out.reset_index(drop=True), with_extra_dtypes(extras, extra_sdtypes(extras))], axis=1)
    return out.reset_index(drop=True)


def normalise_dataset(data: object, side: str, tables: tuple[str, ...] = tuple(TABLES)) -> dict[str, pd.DataFrame]:
    """Every table of ``tables`` from ``data`` (a dict of data frames), normalised."""
    if not isinstance(data, dict):
        raise HarmonieError(f"the {side} dataset must be a dict of tables (got {type(data).__name__})")
    absent = [t for t in tables if t not in data]
    if absent:
        raise HarmonieError(f"the {side} dataset lacks table(s) {', '.join(absent)} "
                            f"(expected: {', '.join(tables)})")
    out = {t: normalise_table(data[t], t, side) for t in tables}
    patients = out["patients"]
    if patients[PATIENT_ID].isna().any():
        raise HarmonieError(f"{side} table patients has rows without {PATIENT_ID}")
    if patients[PATIENT_ID].duplicated().any():
        raise HarmonieError(f"{side} table patients has duplicate {PATIENT_ID} values")
    return out


def subsample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows drawn without replacement, same draw for the same seed."""
    if len(frame) <= max_rows:
        return frame
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[rows].reset_index(drop=True)


def paired_sample(real: dict[str, pd.DataFrame], synthetic: dict[str, pd.DataFrame], *, seed: int,
                  max_rows: int) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The patients (with their claims) that the noise-aware checks compare: at most ``max_rows`` real
    patients and at most as many synthetic ones, seeded as :func:`synth.report.survival.survival_frames`
    draws them. A check's allowance for sampling noise then depends on the real data's size only: a replica
    sampled with ten times more rows gets the same allowance, not a narrower one."""
    r = subsample(real["patients"], max_rows, seed)
    s = subsample(synthetic["patients"], len(r), seed + 1)
    return _with_claims(real, r), _with_claims(synthetic, s)


def _with_claims(side: dict[str, pd.DataFrame], patients: pd.DataFrame) -> dict[str, pd.DataFrame]:
    if len(patients) == len(side["patients"]):
        return dict(side)
    keep = set(patients[PATIENT_ID])
    out = {"patients": patients}
    for table, frame in side.items():
        if table != "patients":
            out[table] = frame[frame[PATIENT_ID].isin(keep).to_numpy()].reset_index(drop=True)
    return out
