"""Claims (stays, dispensings) generated conditionally on each synthetic patient.

SDV's multi-table HMA does not scale to 193,000 patients with millions of claims (it
models every child table per parent row), so claims are generated this way instead:

1. the patient model draws each patient's number of stays and dispensings;
2. each claim is described by where it falls in the patient's follow-up window,
   ``time_fraction = (date - diagnosis + WORKUP_DAYS) / (followup_days + WORKUP_DAYS)``
   (0 = start of the work-up window, 1 = end of follow-up), plus its own columns;
3. one small SDV GaussianCopula per stratum of patients (cancer type x stage x follow-up
   band, coarsened when a stratum has fewer than ``MIN_PATIENTS`` patients) learns those
   claim rows; a synthetic patient's claims are drawn from the model of its stratum.

Every generated claim therefore lies inside its patient's window by construction: nothing
before the diagnostic work-up, nothing after death or the end of follow-up, no discharge
before admission.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.generators import draw, fit_synthesizer, single_table_synthesizer
from synth.schema import PATIENT_ID, WORKUP_DAYS, column_order

MIN_PATIENTS = 50
MAX_TRAINING_ROWS = 20_000
FOLLOWUP_BANDS = (0, 365, 3 * 365, 5 * 365)
STRATA = (("cancer_type", "stage", "followup_band"), ("cancer_type", "followup_band"), ("cancer_type",), ())


@dataclass(frozen=True)
class ChildTable:
    name: str
    count_column: str
    date_column: str
    columns: dict  # the claim's own modelled columns: {name: sdtype}

    def model_frame(self, claims: pd.DataFrame) -> pd.DataFrame:
        frame = claims[[c for c in self.columns if c != "length_of_stay"]].copy()
        if "length_of_stay" in self.columns:
            frame["length_of_stay"] = (claims["discharge_date"] - claims["admission_date"]).dt.days
        return frame

    def restore(self, frame: pd.DataFrame, dates: pd.Series, ends: pd.Series) -> pd.DataFrame:
        frame[self.date_column] = dates
        if "length_of_stay" in frame.columns:
            discharge = dates + pd.to_timedelta(frame.pop("length_of_stay").clip(lower=0), unit="D")
            frame["discharge_date"] = discharge.where(discharge <= ends, ends)
        return frame


CHILD_TABLES = {
    "stays": ChildTable("stays", "n_stays", "admission_date",
                        {"length_of_stay": "numerical", "main_diagnosis": "categorical"}),
    "dispensings": ChildTable("dispensings", "n_dispensings", "dispensing_date",
                              {"atc_code": "categorical", "quantity": "numerical"}),
}


def followup_band(days: pd.Series) -> pd.Series:
    return pd.Series(np.searchsorted(FOLLOWUP_BANDS, days.to_numpy(), side="right"), index=days.index)


def _keys(patients: pd.DataFrame, level: tuple[str, ...]) -> pd.Series:
    parts = patients.assign(followup_band=followup_band(patients["followup_days"]))
    key = pd.Series("all", index=patients.index)
    for column in level:
        key = key + "|" + parts[column].astype(str)
    return key


def assign_strata(patients: pd.DataFrame, available: set[str]) -> pd.Series:
    """Each patient's finest stratum among ``available`` (strata named 'level:key')."""
    stratum = pd.Series(None, index=patients.index, dtype="object")
    for depth, level in enumerate(STRATA):
        names = f"{depth}:" + _keys(patients, level)
        stratum = stratum.where(stratum.notna(), names.where(names.isin(available)))
    return stratum


def _window(patients: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    start = patients["diagnosis_date"] - pd.Timedelta(days=WORKUP_DAYS)
    return start, (patients["followup_days"] + WORKUP_DAYS).clip(lower=1)


def _training_strata(patients: pd.DataFrame) -> pd.Series:
    """Strata with at least MIN_PATIENTS patients, finest first, for the training patients."""
    stratum = pd.Series(None, index=patients.index, dtype="object")
    for depth, level in enumerate(STRATA):
        names = f"{depth}:" + _keys(patients, level)
        sizes = names.map(names.value_counts())
        ok = (sizes >= MIN_PATIENTS) | (depth == len(STRATA) - 1)
        stratum = stratum.where(stratum.notna(), names.where(ok))
    return stratum


def fit_child_models(table: ChildTable, claims: pd.DataFrame, patients: pd.DataFrame, *, seed: int) -> dict:
    """{stratum: fitted synthesizer} for one claims table."""
    people = patients.set_index(PATIENT_ID)
    strata = _training_strata(patients).set_axis(patients[PATIENT_ID])
    start, span = _window(people)
    frame = table.model_frame(claims)
    frame["time_fraction"] = ((claims[table.date_column] - claims[PATIENT_ID].map(start)).dt.days
                              / claims[PATIENT_ID].map(span)).clip(0, 1)
    claim_strata = claims[PATIENT_ID].map(strata)
    models = {}
    columns = {"time_fraction": "numerical", **table.columns}
    for index, name in enumerate(sorted(claim_strata.unique())):
        rows = frame[(claim_strata == name).to_numpy()]
        if len(rows) > MAX_TRAINING_ROWS:
            rows = rows.sample(MAX_TRAINING_ROWS, random_state=seed + index)
        synthesizer = single_table_synthesizer(columns, table=table.name)
        models[name] = fit_synthesizer(synthesizer, rows[list(columns)].reset_index(drop=True), seed + index,
                                       table.name)
    return models


def sample_children(table: ChildTable, models: dict, patients: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """Draw each synthetic patient's claims from its stratum's model, inside its window."""
    counts = patients[table.count_column].clip(lower=0).astype("int64")
    strata = assign_strata(patients, set(models))
    pieces = []
    for index, name in enumerate(sorted(models)):
        members = patients[(strata == name).to_numpy() & (counts > 0).to_numpy()]
        n = int(counts[members.index].sum())
        if n == 0:
            continue
        rows = draw(models[name], n, seed + index, table.name)
        owners = members.loc[members.index.repeat(counts[members.index])].reset_index(drop=True)
        start, span = _window(owners)
        offset = np.floor(rows.pop("time_fraction").clip(0, 1).to_numpy() * span.to_numpy())
        dates = start + pd.to_timedelta(offset, unit="D")
        rows = table.restore(rows, dates, owners["end_of_followup"])
        rows[PATIENT_ID] = owners[PATIENT_ID].to_numpy()
        pieces.append(rows)
    if not pieces:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in column_order(table.name)})
    out = pd.concat(pieces, ignore_index=True)[column_order(table.name)]
    return out.sort_values([PATIENT_ID, table.date_column], kind="stable").reset_index(drop=True)
