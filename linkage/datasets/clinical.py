"""The clinical world: treatments, survival and causes of death of every simulated person.

Drawn at the world level (SNDS people and cohort patients alike, from their own random
stream), right after the demographics and before anything that depends on the date of
death (residence, care pathways):

- **Treatments** depend on the cancer, stage, subtype *and* age: surgery for early stages,
  chemotherapy for triple-negative, HER2+, small-cell and advanced disease, hormone therapy
  for HR+/HER2- breast, targeted therapy for HER2+ breast (trastuzumab), lung
  adenocarcinoma (EGFR inhibitor) and ovarian cancer (PARP inhibitor). Older patients get
  less surgery and chemotherapy (odds ratios per decade in :class:`ClinicalEffects`): the
  treated and the untreated differ before treatment, as in real data (confounding by
  indication).
- **Survival** is exponential; the hazard is the cell's ``reference.CANCER_HAZARD[cancer][stage]``
  times ``hr_age_per_year ** (age - 65)`` times the product ``r`` of the subtype, treatment
  and sex hazard ratios, times a constant per cancer x stage cell that keeps the cell's mean
  hazard what the age factor alone gives (the mortality of before treatments had effects).
  Each hazard ratio is therefore the true conditional one of a Cox model stratified by
  cancer and stage.
- **Causes of death** (CépiDC underlying cause): the death hazard is split into the cancer's
  and another cause's, the latter a Gompertz background mortality at the age of death
  (capped at ``max_other_cause_share`` of the hazard). Older patients and early stages, whose
  cancer hazard is low, die more often of something else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.datasets import reference as ref
from linkage.datasets.params import ClinicalEffects

BREAST, LUNG, OVARIAN = (ref.CANCERS.index(c) for c in ("breast", "lung", "ovarian"))
TREATMENTS = ("surgery", "chemotherapy", "radiotherapy", "hormone_therapy", "targeted_therapy")
DAYS_PER_YEAR = 365.25
REFERENCE_AGE = 65.0

# Probability of each treatment for a 65-year-old, by stage I..IV (rows: subtype or "*").
_SURGERY = {
    BREAST: {"*": (0.97, 0.95, 0.85, 0.20)},
    LUNG: {"*": (0.80, 0.65, 0.25, 0.03), "small-cell": (0.05, 0.05, 0.02, 0.0)},
    OVARIAN: {"*": (0.95, 0.92, 0.85, 0.55)},
}
_CHEMOTHERAPY = {
    BREAST: {"HR+/HER2-": (0.15, 0.45, 0.75, 0.60), "HER2+": (0.70, 0.90, 0.95, 0.85),
             "triple-negative": (0.85, 0.95, 0.95, 0.90)},
    LUNG: {"*": (0.25, 0.65, 0.80, 0.70), "small-cell": (0.90, 0.92, 0.92, 0.90)},
    OVARIAN: {"*": (0.40, 0.85, 0.95, 0.90)},
}
_RADIOTHERAPY = {
    BREAST: {"*": (0.85, 0.80, 0.80, 0.35)},
    LUNG: {"*": (0.15, 0.25, 0.60, 0.35), "small-cell": (0.50, 0.60, 0.70, 0.40)},
    OVARIAN: {"*": (0.02, 0.02, 0.02, 0.02)},
}
_HORMONE_THERAPY = {
    BREAST: {"*": (0.0, 0.0, 0.0, 0.0), "HR+/HER2-": (0.92, 0.92, 0.92, 0.85)},
    LUNG: {"*": (0.0, 0.0, 0.0, 0.0)},
    OVARIAN: {"*": (0.0, 0.0, 0.0, 0.0)},
}
_TARGETED_THERAPY = {
    BREAST: {"*": (0.0, 0.0, 0.0, 0.0), "HER2+": (0.90, 0.92, 0.92, 0.85)},           # trastuzumab
    LUNG: {"*": (0.0, 0.0, 0.0, 0.0), "adenocarcinoma": (0.08, 0.12, 0.18, 0.25)},    # EGFR inhibitor
    OVARIAN: {"*": (0.02, 0.05, 0.10, 0.10), "high-grade-serous": (0.05, 0.15, 0.45, 0.45)},  # PARP inhibitor
}


@dataclass
class ClinicalWorld:
    """Per person: treatment flags, date of death, total hazard and cause of death."""

    treatments: dict[str, np.ndarray]  # bool, one array per name of TREATMENTS
    death: np.ndarray                  # int32 days, -1 when alive at the end of follow-up
    hazard: np.ndarray                 # float64 yearly hazard of death
    death_cause: np.ndarray            # int16 index into DEATH_CAUSES, -1 when alive


DEATH_CAUSES: tuple[str, ...] = tuple(dict.fromkeys(
    [ref.CANCER_DEATH_ICD10[c] for c in ref.CANCERS] + [code for c in ref.CANCERS for code in ref.OTHER_DEATH_CAUSES[c]]))
_CAUSE_INDEX = {code: i for i, code in enumerate(DEATH_CAUSES)}


def _table_probability(table: dict, cancer: np.ndarray, stage: np.ndarray, subtype: np.ndarray) -> np.ndarray:
    p = np.zeros(len(cancer))
    s = np.clip(stage.astype(np.int64) - 1, 0, 3)
    for k, rows_by_subtype in table.items():
        in_cancer = cancer == k
        default = np.asarray(rows_by_subtype["*"]) if "*" in rows_by_subtype else np.zeros(4)
        p[in_cancer] = default[s[in_cancer]]
        for label, values in rows_by_subtype.items():
            if label != "*":
                rows = in_cancer & (subtype == label)
                p[rows] = np.asarray(values)[s[rows]]
    return p


def _with_age(p: np.ndarray, age: np.ndarray, odds_ratio_per_decade: float) -> np.ndarray:
    """``p`` at 65, moved on the logit scale by the odds ratio per decade of age (0 and 1 stay)."""
    inside = (p > 0) & (p < 1)
    q = np.clip(p[inside], 1e-9, 1 - 1e-9)
    logit = np.log(q / (1 - q)) + np.log(odds_ratio_per_decade) * (age[inside] - REFERENCE_AGE) / 10.0
    out = p.copy()
    out[inside] = 1.0 / (1.0 + np.exp(-logit))
    return out


def treatment_probabilities(cancer: np.ndarray, stage: np.ndarray, subtype: np.ndarray, age: np.ndarray,
                            effects: ClinicalEffects) -> dict[str, np.ndarray]:
    """Each person's probability of each treatment (see the module docstring)."""
    return {
        "surgery": _with_age(_table_probability(_SURGERY, cancer, stage, subtype), age, effects.surgery_or_per_decade),
        "chemotherapy": _with_age(_table_probability(_CHEMOTHERAPY, cancer, stage, subtype), age,
                                  effects.chemotherapy_or_per_decade),
        "radiotherapy": _with_age(_table_probability(_RADIOTHERAPY, cancer, stage, subtype), age,
                                  effects.radiotherapy_or_per_decade),
        "hormone_therapy": _table_probability(_HORMONE_THERAPY, cancer, stage, subtype),
        "targeted_therapy": _table_probability(_TARGETED_THERAPY, cancer, stage, subtype),
    }


def draw_treatments(rng: np.random.Generator, cancer: np.ndarray, stage: np.ndarray, subtype: np.ndarray,
                    age: np.ndarray, effects: ClinicalEffects | None = None) -> dict[str, np.ndarray]:
    """Boolean treatment flags, coherent with the disease (no hormone therapy for lung...) and the age."""
    probabilities = treatment_probabilities(cancer, stage, subtype, age, effects or ClinicalEffects())
    draws = rng.random((len(TREATMENTS), len(cancer)))
    return {name: draws[k] < probabilities[name] for k, name in enumerate(TREATMENTS)}


def planted_hazard_ratios(effects: ClinicalEffects) -> dict[str, float]:
    """The true hazard ratios of death, by what they compare (written into population.json)."""
    return {
        "breast HER2+ vs HR+/HER2-": effects.hr_breast_her2,
        "breast triple-negative vs HR+/HER2-": effects.hr_breast_triple_negative,
        "lung squamous vs adenocarcinoma": effects.hr_lung_squamous,
        "lung small-cell vs adenocarcinoma": effects.hr_lung_small_cell,
        "ovarian clear-cell vs high-grade serous": effects.hr_ovarian_clear_cell,
        "surgery": effects.hr_surgery,
        "chemotherapy": effects.hr_chemotherapy,
        "radiotherapy": effects.hr_radiotherapy,
        "hormone therapy": effects.hr_hormone_therapy,
        "targeted therapy": effects.hr_targeted_therapy,
        "male vs female": effects.hr_male,
        "per year of age at diagnosis": effects.hr_age_per_year,
    }


def relative_hazard(cancer: np.ndarray, stage: np.ndarray, subtype: np.ndarray, sex: np.ndarray, age: np.ndarray,
                    treatments: dict[str, np.ndarray], effects: ClinicalEffects) -> np.ndarray:
    """Per person, the hazard relative to the cell's ``CANCER_HAZARD``: the age factor times the
    product ``r`` of the subtype, treatment and sex hazard ratios, scaled in each cancer x stage
    cell so that the cell's mean hazard is the one of the age factor alone (treatments and
    subtypes move hazards between the cell's patients, not the cell's mortality)."""
    r = np.ones(len(cancer))
    for k, label, hr in ((BREAST, "HER2+", effects.hr_breast_her2),
                         (BREAST, "triple-negative", effects.hr_breast_triple_negative),
                         (LUNG, "squamous", effects.hr_lung_squamous), (LUNG, "small-cell", effects.hr_lung_small_cell),
                         (OVARIAN, "clear-cell", effects.hr_ovarian_clear_cell)):
        r[(cancer == k) & (subtype == label)] *= hr
    for name in TREATMENTS:
        r[treatments[name]] *= getattr(effects, f"hr_{name}")
    r[sex == 1] *= effects.hr_male
    age_factor = effects.hr_age_per_year ** (age - REFERENCE_AGE)
    cell = cancer.astype(np.int64) * 4 + np.clip(stage.astype(np.int64) - 1, 0, 3)
    with_r = np.bincount(cell, weights=age_factor * r, minlength=12)
    without = np.bincount(cell, weights=age_factor, minlength=12)
    scale = np.where(with_r > 0, without / np.where(with_r > 0, with_r, 1.0), 1.0)
    return age_factor * r * scale[cell]


def draw_clinical_world(rng: np.random.Generator, *, cancer: np.ndarray, stage: np.ndarray, subtype: np.ndarray,
                        sex: np.ndarray, age: np.ndarray, diagnosis: np.ndarray, exposure: np.ndarray, end_day: int,
                        effects: ClinicalEffects) -> ClinicalWorld:
    """Treatments, then the date and cause of death.

    ``exposure`` holds standard exponential draws (one per person): the survival time is
    ``exposure / hazard`` years, so the demographics' random stream is not touched here.
    """
    n = len(cancer)
    treatments = draw_treatments(rng, cancer, stage, subtype, age, effects)
    baseline = np.array([ref.CANCER_HAZARD[c] for c in ref.CANCERS])[cancer, np.clip(stage - 1, 0, 3)] \
        if n else np.zeros(0)
    hazard = baseline * relative_hazard(cancer, stage, subtype, sex, age, treatments, effects)
    survival_days = exposure / np.maximum(hazard, 1e-12) * DAYS_PER_YEAR
    death = diagnosis.astype(np.int64) + np.ceil(np.minimum(survival_days, 1e6)).astype(np.int64)
    death = np.where(death <= end_day, death, -1).astype(np.int32)

    # cause: another one with probability background(age at death) / hazard (capped)
    dead = death >= 0
    age_at_death = age + np.maximum(death - diagnosis, 0) / DAYS_PER_YEAR
    background = effects.background_mortality_at_65 * effects.background_mortality_growth ** (age_at_death - 65.0)
    other_share = np.minimum(background / np.maximum(hazard, 1e-12), effects.max_other_cause_share)
    other = dead & (rng.random(n) < other_share)
    cause = np.full(n, -1, dtype=np.int16)
    for k, name in enumerate(ref.CANCERS):
        own = dead & ~other & (cancer == k)
        cause[own] = _CAUSE_INDEX[ref.CANCER_DEATH_ICD10[name]]
        rows = np.flatnonzero(other & (cancer == k))
        codes = np.array([_CAUSE_INDEX[c] for c in ref.OTHER_DEATH_CAUSES[name]], dtype=np.int16)
        probs = np.array(list(ref.OTHER_DEATH_CAUSES[name].values()))
        cause[rows] = codes[rng.choice(len(codes), size=len(rows), p=probs / probs.sum())]
    return ClinicalWorld(treatments, death, hazard, cause)
