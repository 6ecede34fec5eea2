"""SDV's multi-table mode (HMASynthesizer) on patients + stays, for small datasets.

HMA learns, for every patient, the distribution of its stays and so grows with patients
x stays: measured here it needs minutes for a few thousand patients, hence the limit below
(the conditional mode of :mod:`synth.replica` is the one that scales). Stays that HMA puts
outside their patient's window are dropped after sampling (their number is reported).
"""

from __future__ import annotations

import pandas as pd

from harmonie.errors import HarmonieError
from harmonie.progress import stage
from synth.generators import MODEL_COLUMNS
from synth.schema import PATIENT_ID, WORKUP_DAYS
from synth.sdv_support import metadata, quiet

MAX_PATIENTS = 10_000
PATIENT_MODEL = {**MODEL_COLUMNS, "n_dispensings": "numerical", "death": "boolean", "end_of_followup": "datetime"}
STAY_MODEL = {PATIENT_ID: "id", "admission_date": "datetime", "discharge_date": "datetime",
              "main_diagnosis": "categorical"}


def fit_hma(train: dict[str, pd.DataFrame], *, seed: int):
    import numpy as np
    from sdv.cag import FixedCombinations, Inequality
    from sdv.multi_table import HMASynthesizer

    patients = train["patients"]
    if len(patients) > MAX_PATIENTS:
        raise HarmonieError(f"the hma mode handles at most {MAX_PATIENTS:,} patients ({len(patients):,} given); "
                            "use the default conditional mode")
    tables = {"patients": patients[[PATIENT_ID, *PATIENT_MODEL]], "stays": train["stays"][list(STAY_MODEL)]}
    md = metadata({"patients": {PATIENT_ID: "id", **PATIENT_MODEL}, "stays": STAY_MODEL},
                  relationships=[("patients", "stays", PATIENT_ID)])
    np.random.seed(seed % 2**32)
    with quiet():
        synthesizer = HMASynthesizer(md, verbose=False)
        synthesizer.add_constraints([
            FixedCombinations(column_names=["cancer_type", "subtype", "sex"], table_name="patients"),
            Inequality(low_column_name="diagnosis_date", high_column_name="end_of_followup", table_name="patients"),
            Inequality(low_column_name="admission_date", high_column_name="discharge_date", table_name="stays"),
        ])
        synthesizer.fit(tables)
    return synthesizer


def sample_hma(synthesizer, rows: int, *, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    with quiet():
        synthesizer.reset_sampling()
        synthesizer._numpy_seed = seed  # what SDV 2's reset_sampling() sets; it has no public seed
        sampled = synthesizer.sample(num_rows=rows, main_table_name="patients")
    patients, stays = sampled["patients"].head(rows).copy(), sampled["stays"]
    for column in ("diagnosis_date", "end_of_followup"):
        patients[column] = pd.to_datetime(patients[column]).dt.floor("D")
    patients["followup_days"] = (patients["end_of_followup"] - patients["diagnosis_date"]).dt.days.astype("int64")
    new_ids = {old: f"S{i + 1:07d}" for i, old in enumerate(patients[PATIENT_ID])}
    patients[PATIENT_ID] = patients[PATIENT_ID].map(new_ids)
    stays = stays[stays[PATIENT_ID].isin(new_ids)].copy()
    stays[PATIENT_ID] = stays[PATIENT_ID].map(new_ids)
    for column in ("admission_date", "discharge_date"):
        stays[column] = pd.to_datetime(stays[column]).dt.floor("D")
    people = patients.set_index(PATIENT_ID)
    start = stays[PATIENT_ID].map(people["diagnosis_date"]) - pd.Timedelta(days=WORKUP_DAYS)
    end = stays[PATIENT_ID].map(people["end_of_followup"])
    inside = (stays["admission_date"] >= start) & (stays["discharge_date"] <= end)
    with stage(f"HMA put {int((~inside).sum()):,} of {len(stays):,} stays outside their window; dropped"):
        stays = stays[inside]
    return patients.reset_index(drop=True), stays.sort_values([PATIENT_ID, "admission_date"]).reset_index(drop=True)
