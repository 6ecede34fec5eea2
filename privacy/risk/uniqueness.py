"""Uniqueness on quasi-identifiers: replicated uniques and the k-anonymity of the replica.

Quasi-identifiers are what someone may know about a patient from elsewhere (sex, age,
département, diagnosis date). A real patient unique on them is exposed if the replica holds
a record with the same combination: the replica then "confirms" that person. Chance alone
also produces such matches, so the same count is taken for the control patients (never
seen by the generator); the excess on the training patients is what the generator leaked.
"""

from __future__ import annotations

import pandas as pd

QUASI_IDENTIFIERS = ("sex", "age_at_diagnosis", "departement", "diagnosis_day")


def coarse_quasi_identifiers(frame: pd.DataFrame) -> pd.DataFrame:
    """The quasi-identifiers as a release would publish them: 5-year age band, diagnosis year."""
    return pd.DataFrame({
        "sex": frame["sex"], "age_band": (frame["age_at_diagnosis"] // 5) * 5, "departement": frame["departement"],
        "diagnosis_year": (pd.Timestamp("1970-01-01") + pd.to_timedelta(frame["diagnosis_day"], unit="D")).dt.year,
    })


def _combination(frame: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(frame, index=False)


def replicated_uniques(real: pd.DataFrame, synthetic: pd.DataFrame, columns=QUASI_IDENTIFIERS) -> dict:
    real_keys = _combination(real[list(columns)])
    counts = real_keys.map(real_keys.value_counts())
    uniques = real_keys[counts == 1]
    replicated = uniques.isin(set(_combination(synthetic[list(columns)])))
    return {"real_uniques": len(uniques), "replicated": int(replicated.sum()),
            "share": round(float(replicated.mean()) if len(uniques) else 0.0, 4)}


def uniqueness_metrics(train: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame) -> dict:
    n = min(len(train), len(control))
    on_train = replicated_uniques(train.iloc[:n], synthetic)
    on_control = replicated_uniques(control.iloc[:n], synthetic)
    coarse = coarse_quasi_identifiers(synthetic)
    k = _combination(coarse).map(_combination(coarse).value_counts())
    return {
        "quasi_identifiers": list(QUASI_IDENTIFIERS),
        "replicated_uniques": {"train": on_train, "control": on_control,
                               "excess_share": round(max(on_train["share"] - on_control["share"], 0.0), 4)},
        "k_anonymity": {"quasi_identifiers": list(coarse.columns), "min_k": int(k.min()) if len(k) else 0,
                        "share_of_records_with_k_below_5": round(float((k < 5).mean()) if len(k) else 0.0, 4)},
    }
