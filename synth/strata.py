"""Nested strata of patients, coarsened until each holds enough real patients.

A hierarchy such as (cancer, stage, band) -> (cancer, band) -> (cancer,) -> () names each
patient's finest stratum with at least ``min_size`` training patients. Strata are named
``"depth:|value|value"`` so the finest available one can be found again for synthetic
patients. Shared by the outcome sampler and the claims models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FOLLOWUP_BANDS = (0, 365, 3 * 365, 5 * 365)
AGE_BANDS = (0, 45, 55, 65, 75, 85)


def band(values: pd.Series, edges: tuple[int, ...]) -> pd.Series:
    return pd.Series(np.searchsorted(edges, values.to_numpy(), side="right"), index=values.index)


def with_bands(patients: pd.DataFrame) -> pd.DataFrame:
    """The patients with ``age_band`` and, when follow-up is known, ``followup_band``."""
    out = patients.assign(age_band=band(patients["age_at_diagnosis"], AGE_BANDS))
    if "followup_days" in patients.columns:
        out["followup_band"] = band(patients["followup_days"], FOLLOWUP_BANDS)
    return out


def _names(patients: pd.DataFrame, depth: int, level: tuple[str, ...]) -> pd.Series:
    key = pd.Series(f"{depth}:", index=patients.index)
    for column in level:
        key = key + "|" + patients[column].astype(str)
    return key


def fit_strata(patients: pd.DataFrame, levels: tuple[tuple[str, ...], ...], min_size: int) -> pd.Series:
    """Each training patient's finest stratum holding at least ``min_size`` patients (the last level always)."""
    stratum = pd.Series(None, index=patients.index, dtype="object")
    for depth, level in enumerate(levels):
        names = _names(patients, depth, level)
        ok = (names.map(names.value_counts()) >= min_size) | (depth == len(levels) - 1)
        stratum = stratum.where(stratum.notna(), names.where(ok))
    return stratum


def assign_strata(patients: pd.DataFrame, levels: tuple[tuple[str, ...], ...], available: set[str]) -> pd.Series:
    """Each (synthetic) patient's finest stratum among ``available``."""
    stratum = pd.Series(None, index=patients.index, dtype="object")
    for depth, level in enumerate(levels):
        names = _names(patients, depth, level)
        stratum = stratum.where(stratum.notna(), names.where(names.isin(available)))
    return stratum


def draw_from_counts(counts: dict, u: np.ndarray) -> np.ndarray:
    """For each uniform draw in ``u``, a key of ``counts`` ({value: count or weight}) with probability
    proportional to its count (inverse CDF, keys in their stored order)."""
    labels = np.array(list(counts), dtype=object)
    weights = np.array(list(counts.values()), dtype=float)
    return labels[np.searchsorted(np.cumsum(weights) / weights.sum(), u, side="right").clip(0, len(labels) - 1)]
