"""Optional remediation before release: coarsen quasi-identifiers, drop replicated uniques and copies.

1. Coarsen: age to the lower bound of its 5-year band, diagnosis date to the first of its
   month (claims stay inside the window: the window only starts earlier). Follow-up days
   and days to the first stay are recomputed from the dates.
2. Drop every synthetic patient (with its claims) that the full-set screen found copying
   a real patient, whose coarsened sex / age band / département / diagnosis month is a
   combination held by exactly one real patient, or whose attack features equal a real
   patient's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privacy.risk.features import attack_table
from synth.schema import PATIENT_ID

DESCRIPTION = ("age coarsened to 5-year bands and diagnosis dates to the month; synthetic patients matching a "
               "unique real combination of sex, age band, departement and diagnosis month, or copying a real "
               "patient, dropped with their claims")
_KEY = ["sex", "age_at_diagnosis", "departement", "diagnosis_date"]


def _coarsen(patients: pd.DataFrame) -> pd.DataFrame:
    p = patients.copy()
    p["age_at_diagnosis"] = (p["age_at_diagnosis"] // 5) * 5
    p["diagnosis_date"] = pd.to_datetime(p["diagnosis_date"]).dt.to_period("M").dt.to_timestamp()
    p["followup_days"] = (p["end_of_followup"] - p["diagnosis_date"]).dt.days.astype("int64")
    return p


def _keys(frame: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(frame[_KEY].astype(str), index=False)


def remediate(synthetic: dict[str, pd.DataFrame], real: dict[str, pd.DataFrame], *,
              copied: np.ndarray | None = None) -> tuple[dict, dict]:
    """The remediated replica and what was done (counts).

    ``copied`` flags, per row of the replica's patients table, the patients the full-set
    screen found copying a real patient.
    """
    coarse_real = _keys(_coarsen(real["patients"]))
    real_uniques = set(coarse_real[coarse_real.map(coarse_real.value_counts()) == 1])
    copies = set(pd.util.hash_pandas_object(attack_table(real), index=False))

    p = _coarsen(synthetic["patients"])
    unique_match = _keys(p).isin(real_uniques).to_numpy()
    copy = pd.util.hash_pandas_object(attack_table(synthetic), index=False).isin(copies).to_numpy()
    if copied is not None:
        copy = copy | np.asarray(copied, dtype=bool)
    keep = ~(unique_match | copy)
    kept_ids = set(p.loc[keep, PATIENT_ID])
    tables = {"patients": p[keep].reset_index(drop=True)}
    for name in ("stays", "dispensings"):
        tables[name] = synthetic[name][synthetic[name][PATIENT_ID].isin(kept_ids)].reset_index(drop=True)
    first = tables["patients"][PATIENT_ID].map(tables["stays"].groupby(PATIENT_ID)["admission_date"].min())
    tables["patients"]["days_to_first_stay"] = (first - tables["patients"]["diagnosis_date"]).dt.days.astype("Int64")
    done = {"description": DESCRIPTION, "patients_in": len(p), "dropped_replicated_uniques": int(unique_match.sum()),
            "dropped_copies": int((copy & ~unique_match).sum()), "patients_out": int(keep.sum())}
    return tables, done
