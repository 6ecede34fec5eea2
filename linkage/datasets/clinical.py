"""Cohort clinical variables: treatments received, by cancer, stage and subtype."""

from __future__ import annotations

import numpy as np

from linkage.datasets import reference as ref

BREAST, LUNG, OVARIAN = (ref.CANCERS.index(c) for c in ("breast", "lung", "ovarian"))


def draw_treatments(rng: np.random.Generator, cancer: np.ndarray, stage: np.ndarray,
                    subtype: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean treatment flags, coherent with the disease (no hormone therapy for lung...)."""
    n = len(cancer)
    s = stage - 1
    surgery_p = np.select([cancer == BREAST, cancer == LUNG],
                          [np.array([0.97, 0.95, 0.80, 0.20])[s], np.array([0.80, 0.65, 0.25, 0.03])[s]],
                          np.array([0.90, 0.90, 0.85, 0.55])[s])
    chemo_p = np.select([cancer == BREAST, cancer == LUNG],
                        [np.array([0.25, 0.55, 0.85, 0.75])[s], np.array([0.30, 0.70, 0.80, 0.75])[s]],
                        np.array([0.40, 0.85, 0.95, 0.90])[s])
    radio_p = np.select([cancer == BREAST, cancer == LUNG],
                        [np.array([0.85, 0.80, 0.80, 0.35])[s], np.array([0.15, 0.25, 0.60, 0.35])[s]],
                        np.full(n, 0.05))
    hormone_p = np.where((cancer == BREAST) & (subtype == "HR+/HER2-"), 0.92, 0.0)
    targeted_p = np.select(
        [(cancer == BREAST) & (subtype == "HER2+"), (cancer == LUNG) & (subtype == "adenocarcinoma"), cancer == OVARIAN],
        [0.90, 0.30, 0.35], 0.02)
    draws = rng.random((5, n))
    return {
        "surgery": draws[0] < surgery_p,
        "chemotherapy": draws[1] < chemo_p,
        "radiotherapy": draws[2] < radio_p,
        "hormone_therapy": draws[3] < hormone_p,
        "targeted_therapy": draws[4] < targeted_p,
    }
