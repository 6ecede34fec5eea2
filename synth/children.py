"""Claims (stays, dispensings) generated conditionally on each synthetic patient.

SDV's multi-table HMA does not scale to 193,000 patients with millions of claims (it
models every child table per parent row), so claims are generated this way instead:

1. the outcome model draws each patient's number of stays and dispensings;
2. each claim is described by its day in the patient's window,
   ``day = date - (diagnosis - WORKUP_DAYS)``, plus its own columns;
3. one small SDV GaussianCopula per stratum of patients (cancer type x stage x follow-up
   band, coarsened when a stratum has fewer than ``MIN_PATIENTS`` patients) learns those
   claim rows; a synthetic patient's claims are drawn from the model of its stratum, and a
   claim whose day falls after the patient's end of follow-up is drawn again (up to
   ``REDRAWS`` candidates, then placed at the end: care clusters before death anyway).

Every generated claim therefore lies inside its patient's window: nothing before the
diagnostic work-up, nothing after death or the end of follow-up, no discharge before
admission.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.generators import draw, fit_synthesizer, single_table_synthesizer
from synth.schema import PATIENT_ID, WORKUP_DAYS, column_order
from synth.strata import assign_strata, fit_strata, with_bands

MIN_PATIENTS = 50
MAX_TRAINING_ROWS = 20_000
REDRAWS = 8
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


def _window(patients: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    start = patients["diagnosis_date"] - pd.Timedelta(days=WORKUP_DAYS)
    return start, (patients["followup_days"] + WORKUP_DAYS).clip(lower=1)


def fit_child_models(table: ChildTable, claims: pd.DataFrame, patients: pd.DataFrame, *, seed: int) -> dict:
    """{stratum: fitted synthesizer} for one claims table."""
    people = patients.set_index(PATIENT_ID)
    strata = fit_strata(with_bands(patients), STRATA, MIN_PATIENTS).set_axis(patients[PATIENT_ID])
    start, _ = _window(people)
    frame = table.model_frame(claims)
    frame["day"] = (claims[table.date_column] - claims[PATIENT_ID].map(start)).dt.days
    claim_strata = claims[PATIENT_ID].map(strata)
    models = {}
    columns = {"day": "numerical", **table.columns}
    for index, name in enumerate(sorted(claim_strata.unique())):
        rows = frame[(claim_strata == name).to_numpy()]
        if len(rows) > MAX_TRAINING_ROWS:
            rows = rows.sample(MAX_TRAINING_ROWS, random_state=seed + index)
        synthesizer = single_table_synthesizer(columns, table=table.name)
        models[name] = fit_synthesizer(synthesizer, rows[list(columns)].reset_index(drop=True), seed + index,
                                       table.name)
    return models


def _redraw_late(rows: pd.DataFrame, last_day: np.ndarray, synthesizer, seed: int, table: str) -> pd.DataFrame:
    """Replace each row whose day is past ``last_day`` by the first of REDRAWS fresh rows that fits."""
    rows["day"] = rows["day"].clip(lower=0)
    late = np.flatnonzero(rows["day"].to_numpy() > last_day)
    if len(late):
        candidates = draw(synthesizer, len(late) * REDRAWS, seed + 10_007, table)
        days = candidates["day"].clip(lower=0).to_numpy().reshape(len(late), REDRAWS)
        fits = days <= last_day[late, None]
        first = fits.argmax(axis=1)
        found = fits.any(axis=1)
        picked = candidates.iloc[np.arange(len(late))[found] * REDRAWS + first[found]]
        for column in rows.columns:  # column by column: each keeps its dtype
            rows.loc[rows.index[late[found]], column] = picked[column].to_numpy()
        rows.loc[rows.index[late[~found]], "day"] = last_day[late[~found]]
    rows["day"] = rows["day"].astype(np.int64)
    return rows


def sample_children(table: ChildTable, models: dict, patients: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """Draw each synthetic patient's claims from its stratum's model, inside its window."""
    counts = patients[table.count_column].clip(lower=0).astype("int64")
    strata = assign_strata(with_bands(patients), STRATA, set(models))
    pieces = []
    for index, name in enumerate(sorted(models)):
        members = patients[(strata == name).to_numpy() & (counts > 0).to_numpy()]
        n = int(counts[members.index].sum())
        if n == 0:
            continue
        rows = draw(models[name], n, seed + index, table.name)
        owners = members.loc[members.index.repeat(counts[members.index])].reset_index(drop=True)
        start, span = _window(owners)
        rows = _redraw_late(rows, span.to_numpy() - 1, models[name], seed + index, table.name)
        dates = start + pd.to_timedelta(rows.pop("day").to_numpy(), unit="D")
        rows = table.restore(rows, dates, owners["end_of_followup"])
        rows[PATIENT_ID] = owners[PATIENT_ID].to_numpy()
        pieces.append(rows)
    if not pieces:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in column_order(table.name)})
    out = pd.concat(pieces, ignore_index=True)[column_order(table.name)]
    return out.sort_values([PATIENT_ID, table.date_column], kind="stable").reset_index(drop=True)
