"""A simulated single-arm trial: eligible patients of the simulator's world, a known new-drug effect added.

The calibration needs trials whose truth is known. The trial's patients are drawn from a part
of the world the warehouse does not hold (e.g. ``ANALYTIC/control``, patients no generator and
no control arm ever sees), among those eligible, with a selection that makes the trial differ
from the warehouse the way trials do: the log-odds of enrolment fall by
``age_log_odds_per_10y`` per decade of age and ``stage_log_odds`` per stage step (younger,
earlier-stage patients enrol more), so that an unadjusted comparison is confounded.

The new drug multiplies each patient's hazard of death by ``hazard_ratio`` from the index
date on. The simulator's survival is exponential given the covariates
(``linkage/datasets/clinical.py``: hazard = cell baseline x age factor x subtype, treatment and
sex hazard ratios), and an exponential time divided by θ is exponential with θ times the
hazard; so a patient who died ``t`` days after the index dies ``t / θ`` days after it with the
drug, censored at the follow-up the study's end allows (``potential_days``), and a patient
alive at the end of their follow-up stays alive (θ <= 1 only lengthens survival: a harmful drug
would need the hazard of those still alive, which the data do not hold, so θ > 1 is refused).
Patients whose first treatment was squeezed before an early death make the residual time not
exactly exponential; :func:`synth.arms.calibrate.estimand_truth` measures the estimand on the
drug and no-drug outcomes of the same patients rather than assuming θ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError, InvalidParameter
from synth.arms.cohort import Cohort, build_cohort
from synth.arms.eligibility import ArmSpec
from synth.schema import PATIENT_ID


@dataclass(frozen=True)
class TrialDesign:
    """How a simulated trial enrols and what its drug does."""

    size: int = 100
    hazard_ratio: float = 0.7
    age_log_odds_per_10y: float = -0.5
    stage_log_odds: float = -0.7

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer)) or self.size < 20:
            raise InvalidParameter(f"the trial size must be a whole number of at least 20 patients (got {self.size!r})")
        if not 0 < float(self.hazard_ratio) <= 1:
            raise InvalidParameter(f"the simulated drug's hazard ratio must be in (0, 1] (got {self.hazard_ratio!r}): "
                                   "a longer survival can be drawn from the data, a shorter one for patients alive at "
                                   "the end of follow-up cannot")
        for name in ("age_log_odds_per_10y", "stage_log_odds"):
            if not np.isfinite(getattr(self, name)) or abs(getattr(self, name)) > 5:
                raise InvalidParameter(f"{name} must be a log-odds between -5 and 5 (got {getattr(self, name)!r})")


def enrolment_probabilities(pool: pd.DataFrame, design: TrialDesign) -> np.ndarray:
    """Each eligible patient's share of the trial's enrolment (sums to 1): the selection of the module docstring."""
    age = pool["age_at_diagnosis"].to_numpy(float)
    stage = pool["stage"].to_numpy(float)
    eta = design.age_log_odds_per_10y * (age - age.mean()) / 10 + design.stage_log_odds * (stage - stage.mean())
    weight = np.exp(eta - eta.max())
    return weight / weight.sum()


def draw_trial(pool: pd.DataFrame, probabilities: np.ndarray, size: int, rng: np.random.Generator) -> pd.DataFrame:
    """``size`` distinct patients of ``pool``, each drawn with its enrolment probability."""
    if size > len(pool):
        raise HarmonieError(f"the trial needs {size:,} patients but only {len(pool):,} are eligible in the trial "
                            "source: lower the trial size or use a larger source")
    chosen = rng.choice(len(pool), size=size, replace=False, p=probabilities)
    return pool.iloc[np.sort(chosen)].reset_index(drop=True)


def with_effect(patients: pd.DataFrame, hazard_ratio: float) -> pd.DataFrame:
    """The cohort rows' outcomes had their hazard been multiplied by ``hazard_ratio`` (<= 1) from the index date."""
    if not 0 < hazard_ratio <= 1:
        raise InvalidParameter(f"the hazard ratio must be in (0, 1] (got {hazard_ratio!r})")
    if hazard_ratio == 1:
        return patients
    out = patients.copy()
    died = out["event"].to_numpy(bool)
    later = out["time_days"].to_numpy(float) / hazard_ratio
    censored = died & (later > out["potential_days"].to_numpy(float))
    out["time_days"] = np.where(died, np.where(censored, out["potential_days"], later), out["time_days"])
    out["event"] = died & ~censored
    return out


def simulate_trial(source: dict[str, pd.DataFrame], spec: ArmSpec, design: TrialDesign, *, seed: int = 0
                   ) -> tuple[dict[str, pd.DataFrame], Cohort]:
    """A trial arm in the analytic schema (patients, and their claims when the source has them) drawn from the
    eligible patients of ``source`` (module docstring), under new ids ``T0000001``...; and the source's cohort.

    Follow-up is rewritten from the index date on (``followup_days``, ``end_of_followup``, ``death``,
    ``death_cause`` emptied for a patient the drug keeps alive); claims are kept as they were (θ <= 1 only
    extends follow-up), so care near the death the drug postponed stays where it was."""
    cohort = build_cohort(source, spec, what="trial source")
    rng = np.random.default_rng([seed, 53])
    drawn = draw_trial(cohort.patients, enrolment_probabilities(cohort.patients, design), int(design.size), rng)
    treated = with_effect(drawn, float(design.hazard_ratio)).set_index(PATIENT_ID)
    patients = source["patients"]
    p = patients[patients[PATIENT_ID].isin(treated.index)].copy().sort_values(PATIENT_ID).reset_index(drop=True)
    rows = treated.loc[p[PATIENT_ID]]
    p["followup_days"] = (rows["days_to_index"].to_numpy() + rows["time_days"].to_numpy()).round().astype("int64")
    p["end_of_followup"] = p["diagnosis_date"] + pd.to_timedelta(p["followup_days"], unit="D")
    p["death"] = rows["event"].to_numpy(bool)
    p["death_cause"] = p["death_cause"].where(p["death"], None)
    new_ids = {old: f"T{i + 1:07d}" for i, old in enumerate(p[PATIENT_ID])}
    tables = {"patients": p.assign(**{PATIENT_ID: p[PATIENT_ID].map(new_ids)})}
    for name in ("stays", "dispensings"):
        if name in source:
            claims = source[name]
            kept = claims[claims[PATIENT_ID].isin(new_ids)].copy()
            kept[PATIENT_ID] = kept[PATIENT_ID].map(new_ids)
            tables[name] = kept.sort_values([PATIENT_ID], kind="stable").reset_index(drop=True)
    return tables, cohort
