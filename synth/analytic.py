"""The analytic dataset: one row per linked patient with cohort and SNDS variables, and its claims.

Inputs are what the data team holds: the links (pairs of linkage ids, from the linkage
unit) and the two holders' extracts keyed by linkage id (:mod:`synth.extract`). Output is
the dataset of :mod:`synth.schema` under new patient ids, split into ``train`` (what a
generator learns from) and ``control`` (patients the generator never sees, used by the
risk and utility measures). Patients whose records contradict each other go to a
quarantine table with a reason; every count reconciles (in = kept + left out, per reason).

Conventions, stated once here:
- sex: the SNDS value (from the NIR) when present, else the cohort's;
- partial dates (unknown day or month) are taken at mid-month / mid-year;
- death: the cohort's death date, else the SNDS one; end of follow-up: the death date,
  else the later of the cohort's last news and the patient's last claim;
- stays are kept from ``WORKUP_DAYS`` before diagnosis, dispensings from diagnosis
  (:data:`synth.schema.WINDOW_START_DAYS`), to the end of follow-up; a stay running past a
  death date is cut at the death date;
- the cause of death is the SNDS (CépiDC) underlying cause, as 'cancer' (ICD-10 C00-D48),
  'other' or 'unknown'.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError
from linkage.normalise import map_distinct, normalise_sex, parse_date
from synth.extract import LINKAGE_ID
from synth.schema import (
    PATIENT_ID,
    TREATMENTS,
    WINDOW_START_DAYS,
    WORKUP_DAYS,
    check_extra_columns,
    column_order,
    with_extra_dtypes,
)

_SNDS = "snds_linkage_id"


@dataclass
class Analytic:
    train: dict[str, pd.DataFrame]
    control: dict[str, pd.DataFrame] | None
    quarantine: pd.DataFrame
    summary: dict = field(default_factory=dict)


def _to_timestamp(value) -> pd.Timestamp:
    parsed = parse_date(value)
    if parsed is None:
        return pd.NaT
    month, day = (parsed.month, parsed.day or 15) if parsed.month else (7, 1)
    return pd.Timestamp(parsed.year, month, day)


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates as French files write them (:func:`linkage.normalise.parse_date`), once per distinct value."""
    return pd.Series(pd.to_datetime(map_distinct(values, _to_timestamp)), index=values.index)


def sex_codes(values: pd.Series) -> pd.Series:
    """Sex as 'M' / 'F' (None when unreadable), whatever the holder's coding."""
    codes = map_distinct(values, lambda v: None if pd.isna(v) else normalise_sex(v))
    return pd.Series(codes, index=values.index, dtype="object").map({1: "M", 2: "F"})


def orient_links(links: pd.DataFrame, cohort_ids: pd.Series) -> pd.DataFrame:
    """(cohort linkage id, SNDS linkage id) pairs, whichever side of the link file the cohort was."""
    for column in ("left_id", "right_id"):
        if column not in links.columns:
            raise HarmonieError(f"the links file lacks column {column} (is it a `harmonie link` output?)")
    known = set(cohort_ids)
    on_left, on_right = links["left_id"].isin(known).sum(), links["right_id"].isin(known).sum()
    if on_left == 0 and on_right == 0:
        raise HarmonieError("no linked id belongs to the cohort extract: were the links made with the same key?")
    cohort_side, snds_side = ("left_id", "right_id") if on_left >= on_right else ("right_id", "left_id")
    pairs = links[[cohort_side, snds_side]].set_axis([LINKAGE_ID, _SNDS], axis=1)
    if pairs[LINKAGE_ID].duplicated().any() or pairs[_SNDS].duplicated().any():
        raise HarmonieError("the links are not one-to-one: a record appears in more than one link")
    return pairs


def _quarantine_reasons(p: pd.DataFrame) -> pd.Series:
    rules = [
        (p["diagnosis_date"].isna(), "diagnosis date missing or unreadable"),
        (~p["stage"].isin([1, 2, 3, 4]), "stage missing or not 1-4"),
        (p["sex"].isna(), "sex unknown on both sides"),
        ((p["cancer_type"] == "ovarian") & (p["sex"] == "M"), "ovarian cancer recorded for a male patient"),
        (p["birth"].isna(), "birth date unknown on both sides"),
        (~p["age_at_diagnosis"].between(0, 110), "age at diagnosis outside 0-110"),
        (p["death_date"] < p["diagnosis_date"], "death date before diagnosis"),
    ]
    reason = pd.Series(None, index=p.index, dtype="object")
    for mask, text in reversed(rules):  # the first rule that applies is the reason given
        reason[mask.fillna(False).to_numpy()] = text
    return reason


def _patients(cohort: pd.DataFrame, snds: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    p = cohort.merge(pairs, on=LINKAGE_ID, how="inner")
    p = p.merge(snds.rename(columns={LINKAGE_ID: _SNDS, "sex": "snds_sex", "birth_date": "snds_birth",
                                     "death_date": "snds_death"}), on=_SNDS, how="left")
    p["sex"] = sex_codes(p["snds_sex"]).fillna(sex_codes(p["sex"]))
    p["diagnosis_date"] = parse_dates(p["diagnosis_date"])
    p["birth"] = parse_dates(p["birth_date"]).fillna(parse_dates(p["snds_birth"]))
    p["death_date"] = parse_dates(p["death_date"]).fillna(parse_dates(p["snds_death"]))
    p["last_news_date"] = parse_dates(p["last_news_date"])
    years = (p["diagnosis_date"] - p["birth"]).dt.days / 365.25
    p["age_at_diagnosis"] = np.floor(years).astype("Int64")
    p["stage"] = pd.to_numeric(p["stage"], errors="coerce").astype("Int64")
    for column in TREATMENTS:
        p[column] = p[column].fillna(False).astype(bool)
    return p


def _claims(table: pd.DataFrame, patients: pd.DataFrame, date_column: str, window_start_days: int
            ) -> tuple[pd.DataFrame, dict]:
    """The claims of kept patients inside their window; counts of what was left out and why."""
    rows_in = len(table)
    c = table.merge(patients[[_SNDS, PATIENT_ID, "diagnosis_date", "death_date"]],
                    left_on=LINKAGE_ID, right_on=_SNDS, how="inner")
    counts = {"rows_in": rows_in, "not_an_analysed_patient": rows_in - len(c)}
    dates = [col for col in c.columns if col.endswith("_date") and col not in ("diagnosis_date", "death_date")]
    for column in dates:
        c[column] = parse_dates(c[column])
    unreadable = c[date_column].isna()
    too_early = c[date_column] < c["diagnosis_date"] - pd.Timedelta(days=window_start_days)
    after_death = c[date_column] > c["death_date"]
    counts["date_unreadable"] = int(unreadable.sum())
    counts["before_window"] = int((too_early & ~unreadable).sum())
    counts["after_death"] = int((after_death & ~too_early & ~unreadable).sum())
    c = c[~(unreadable | too_early | after_death)].copy()
    counts["rows_kept"] = len(c)
    return c, counts


def _finish_stays(stays: pd.DataFrame) -> pd.DataFrame:
    discharge = stays["discharge_date"].fillna(stays["admission_date"])
    discharge = discharge.where(discharge >= stays["admission_date"], stays["admission_date"])
    stays["discharge_date"] = discharge.where(~(discharge > stays["death_date"]), stays["death_date"])
    return stays


def cause_of_death(codes: pd.Series) -> pd.Series:
    """'cancer' for an ICD-10 underlying cause in C00-D48 (neoplasms), 'other' for any other code,
    'unknown' when there is none."""
    text = codes.astype("string").str.strip().str.upper()
    cause = np.where(text.str.match(r"^(C\d|D[0-4]\d)").fillna(False).to_numpy(bool), "cancer", "other")
    return pd.Series(cause, index=codes.index, dtype="object").where(text.fillna("").ne(""), "unknown")


def _claim_summaries(p: pd.DataFrame, stays: pd.DataFrame, dispensings: pd.DataFrame) -> pd.DataFrame:
    by_stay = stays.groupby(PATIENT_ID)["admission_date"]
    p["n_stays"] = p[PATIENT_ID].map(by_stay.size()).fillna(0).astype("int64")
    first = p[PATIENT_ID].map(by_stay.min())
    p["days_to_first_stay"] = (first - p["diagnosis_date"]).dt.days.astype("Int64")
    p["n_dispensings"] = p[PATIENT_ID].map(dispensings.groupby(PATIENT_ID).size()).fillna(0).astype("int64")
    last_claim = pd.concat([stays.groupby(PATIENT_ID)["discharge_date"].max(),
                            dispensings.groupby(PATIENT_ID)["dispensing_date"].max()], axis=1).max(axis=1)
    alive_end = pd.concat([p["last_news_date"], p[PATIENT_ID].map(last_claim), p["diagnosis_date"]],
                          axis=1).max(axis=1)
    p["death"] = p["death_date"].notna()
    p["death_cause"] = cause_of_death(p["death_cause"]).where(p["death"], None)
    p["end_of_followup"] = p["death_date"].where(p["death"], alive_end)
    p["followup_days"] = (p["end_of_followup"] - p["diagnosis_date"]).dt.days.astype("int64")
    return p


def _extra_columns(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """The cohort's extra clinical variables keyed by linkage id (checked: :func:`synth.schema.check_extra_columns`),
    or None when the cohort sent none."""
    if table is None:
        return None
    if LINKAGE_ID not in table.columns:
        raise HarmonieError(f"the cohort's cohort_variables extract lacks {LINKAGE_ID} (is it a `synth extract` "
                            "output?)")
    if table[LINKAGE_ID].duplicated().any():
        raise HarmonieError("the cohort's cohort_variables extract has several rows for one patient: send one row per "
                            "patient")
    kinds = check_extra_columns(table, "the cohort's cohort_variables extract", [LINKAGE_ID])
    if not kinds:
        return None
    return with_extra_dtypes(table[[LINKAGE_ID, *kinds]], kinds)


def split_control(tables: dict[str, pd.DataFrame], fraction: float, seed: int) -> tuple[dict, dict | None]:
    """Split by patient: ``fraction`` of the patients (and their claims) go to the control set."""
    if not 0 <= fraction < 1:
        raise HarmonieError(f"the control fraction must be in [0, 1), got {fraction}")
    if fraction == 0:
        return tables, None
    ids = tables["patients"][PATIENT_ID].to_numpy()
    rng = np.random.default_rng([seed, 1])
    control_ids = set(ids[rng.random(len(ids)) < fraction])
    train, control = {}, {}
    for name, frame in tables.items():
        in_control = frame[PATIENT_ID].isin(control_ids).to_numpy()
        train[name] = frame[~in_control].reset_index(drop=True)
        control[name] = frame[in_control].reset_index(drop=True)
    return train, control


def build_analytic(links: pd.DataFrame, cohort: dict[str, pd.DataFrame], snds: dict[str, pd.DataFrame], *,
                   seed: int = 0, control_fraction: float = 0.2) -> Analytic:
    """Join the extracts through the links; see the module docstring for the conventions."""
    cohort_patients = cohort["cohort_patients"]
    pairs = orient_links(links, cohort_patients[LINKAGE_ID])
    p = _patients(cohort_patients, snds["snds_beneficiaries"], pairs)
    extras = _extra_columns(cohort.get("cohort_variables"))
    if extras is not None:  # the cohort's case-report form: one row per patient at most, no row = nothing recorded
        p = p.merge(extras, on=LINKAGE_ID, how="left", validate="one_to_one")
    reasons = _quarantine_reasons(p)
    quarantine = pd.DataFrame({LINKAGE_ID: p.loc[reasons.notna(), LINKAGE_ID], "reason": reasons.dropna()})
    p = p[reasons.isna()].copy()
    order = np.random.default_rng([seed, 0]).permutation(len(p))
    p[PATIENT_ID] = pd.Series([f"P{i + 1:07d}" for i in np.argsort(order)], index=p.index)

    stays, stay_counts = _claims(snds["snds_stays"], p, "admission_date", WINDOW_START_DAYS["stays"])
    stays = _finish_stays(stays)
    dispensings, dispensing_counts = _claims(snds["snds_dispensings"], p, "dispensing_date",
                                                   WINDOW_START_DAYS["dispensings"])
    p = _claim_summaries(p, stays, dispensings)
    p["stage"] = p["stage"].astype("int64")
    p["age_at_diagnosis"] = p["age_at_diagnosis"].astype("int64")

    tables = {
        "patients": p[column_order("patients") + ([] if extras is None else list(extras.columns[1:]))]
        .sort_values(PATIENT_ID).reset_index(drop=True),
        "stays": stays[column_order("stays")].sort_values([PATIENT_ID, "admission_date"], kind="stable"),
        "dispensings": dispensings[column_order("dispensings")].sort_values([PATIENT_ID, "dispensing_date"],
                                                                           kind="stable"),
    }
    tables = {name: frame.reset_index(drop=True) for name, frame in tables.items()}
    train, control = split_control(tables, control_fraction, seed)
    summary = {
        "patients": {
            "cohort_records": len(cohort_patients), "linked": len(reasons),
            "not_linked": len(cohort_patients) - len(reasons), "quarantined": int(reasons.notna().sum()),
            "kept": len(p), "train": len(train["patients"]),
            "control": len(control["patients"]) if control else 0,
            "quarantine_reasons": {k: int(v) for k, v in reasons.value_counts().sort_index().items()},
        },
        "stays": stay_counts, "dispensings": dispensing_counts,
        "control_fraction": control_fraction, "seed": seed, "workup_days": WORKUP_DAYS,
    }
    if extras is not None:  # the cohort's case-report form: how many columns, and for how many patients
        summary["patients"]["extra_columns"] = extras.shape[1] - 1
        summary["patients"]["kept_without_extra_columns"] = int((~p[LINKAGE_ID].isin(extras[LINKAGE_ID])).sum())
    return Analytic(train, control, quarantine.reset_index(drop=True), summary)
