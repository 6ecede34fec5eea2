"""The patient-level generator: an SDV single-table synthesizer with Harmonie's constraints.

It learns the patient table without the columns that are derived after sampling
(``followup_days`` from the two dates, ``days_to_first_stay`` from the generated stays) and
without the id. Constraints, enforced by SDV on every sampled row:

- ``FixedCombinations(cancer_type, subtype, sex)``: only combinations seen in the real
  data (so no ovarian cancer in a man, no lung histology on a breast cancer);
- ``Inequality(diagnosis_date <= end_of_followup)``: nobody dies before diagnosis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError
from synth.schema import PATIENT_COLUMNS, PATIENT_ID
from synth.sdv_support import metadata, quiet

GENERATORS = ("gaussian_copula", "ctgan", "tvae")
DERIVED = (PATIENT_ID, "days_to_first_stay", "followup_days")
MODEL_COLUMNS = {c: sdtype for c, (sdtype, _) in PATIENT_COLUMNS.items() if c not in DERIVED}


def _synthesizer_class(generator: str):
    from sdv.single_table import (
        CTGANSynthesizer,
        GaussianCopulaSynthesizer,
        TVAESynthesizer,
    )

    classes = {"gaussian_copula": GaussianCopulaSynthesizer, "ctgan": CTGANSynthesizer, "tvae": TVAESynthesizer}
    if generator not in classes:
        raise HarmonieError(f"unknown generator {generator!r}: choose one of {', '.join(GENERATORS)}")
    return classes[generator]


def single_table_synthesizer(columns: dict[str, str], generator: str = "gaussian_copula", *, epochs: int = 300,
                             table: str = "patients"):
    """An unfitted SDV synthesizer for one table described by {column: sdtype}."""
    cls = _synthesizer_class(generator)
    options = {} if generator == "gaussian_copula" else {"epochs": epochs, "enable_gpu": False}
    with quiet():
        return cls(metadata({table: columns}), **options)


def fit_synthesizer(synthesizer, frame: pd.DataFrame, seed: int, table: str):
    """Fit with every random source seeded (numpy, and torch for the neural generators)."""
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    with quiet():
        synthesizer.fit({table: frame})
    return synthesizer


def draw(synthesizer, rows: int, seed: int, table: str) -> pd.DataFrame:
    """``rows`` rows from a fitted synthesizer; the same seed gives the same rows."""
    import torch

    if rows <= 0:
        return pd.DataFrame(columns=list(synthesizer.metadata.tables[table].columns))
    torch.manual_seed(seed)
    with quiet():
        synthesizer.reset_sampling()
        synthesizer._set_random_state(seed)  # SDV 2 has no public seed for sample(); this is what it uses
        return synthesizer.sample(num_rows=rows)[table].reset_index(drop=True)


def fit_patient_model(patients: pd.DataFrame, generator: str = "gaussian_copula", *, seed: int = 0,
                      epochs: int = 300):
    from sdv.cag import FixedCombinations, Inequality

    frame = patients[list(MODEL_COLUMNS)]
    synthesizer = single_table_synthesizer(MODEL_COLUMNS, generator, epochs=epochs)
    with quiet():
        synthesizer.add_constraints([
            FixedCombinations(column_names=["cancer_type", "subtype", "sex"]),
            Inequality(low_column_name="diagnosis_date", high_column_name="end_of_followup"),
        ])
    return fit_synthesizer(synthesizer, frame, seed, "patients")


def sample_patients(synthesizer, rows: int, seed: int) -> pd.DataFrame:
    """Synthetic patients with new ids (S0000001...) and the derived follow-up in days."""
    p = draw(synthesizer, rows, seed, "patients")
    for column in ("diagnosis_date", "end_of_followup"):
        p[column] = pd.to_datetime(p[column]).dt.floor("D")
    p["followup_days"] = (p["end_of_followup"] - p["diagnosis_date"]).dt.days.astype("int64")
    p.insert(0, PATIENT_ID, [f"S{i + 1:07d}" for i in range(len(p))])
    return p
