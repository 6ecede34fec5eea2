"""``harmonie arm build``: the external control arm of a single-arm trial, balanced and compared.

One pipeline, in-memory first (:func:`build_arm`, what a notebook calls) then written
(:func:`write_arm`):

1. the same eligibility and index rule applied to the trial's patients and to the source's
   (:func:`synth.arms.cohort.build_cohort`); trial patients the eligibility refuses leave the
   analysis and are counted (a real trial's own criteria should make that zero);
2. the propensity score and the balancing of the spec (:mod:`synth.arms.balance`), and the
   balance table before and after;
3. the comparison (:mod:`synth.arms.outcome`): balanced hazard ratio, the unadjusted one beside
   it, Kaplan–Meier curves and the RMST difference;
4. the output folder, as one unit (:mod:`synth.arms.output`): ``analysis_set.parquet``
   (one row per analysed patient: arm, analytic id, index date, follow-up, death, weight,
   matched set, score: patient-level, it stays in the secure area) and ``report/`` (``arm.json``,
   ``arm.html``, ``protocol.md``, ``figures/``: disclosure-controlled, :mod:`synth.arms.report`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from harmonie.errors import HarmonieError
from harmonie.io import ensure_output_dir, write_parquet
from harmonie.progress import stage
from synth.arms.balance import Balanced, Term, balance_arms, covariate_terms, smd_table
from synth.arms.cohort import Cohort, build_cohort
from synth.arms.eligibility import Analysis, ArmSpec
from synth.arms.outcome import HazardRatio, RmstDifference, hazard_ratio, rmst_difference
from synth.arms.output import output_folder
from synth.schema import PATIENT_ID

@dataclass
class ArmResult:
    """Everything the report is written from (patient-level: stays in the secure area)."""

    spec: ArmSpec
    source: str                      # "real" (the warehouse) or "replica"
    trial: Cohort
    control: Cohort
    terms: list[Term]
    balanced: Balanced
    balance_table: list[dict]
    hazard_ratio: HazardRatio
    unadjusted: HazardRatio
    rmst: RmstDifference | None
    seed: int


def build_arm(trial: dict[str, pd.DataFrame], source: dict[str, pd.DataFrame], spec: ArmSpec, *, seed: int = 0,
              source_kind: str = "real") -> ArmResult:
    """The balanced external control arm of ``trial`` from ``source`` (module docstring, steps 1-3)."""
    with stage("eligible patients of the trial and of the source"):
        trial_cohort = build_cohort(trial, spec, what="trial")
        control_cohort = build_cohort(source, spec, what=f"{source_kind} source")
    t, c = trial_cohort.patients, control_cohort.patients
    shared = set(t[PATIENT_ID]) & set(c[PATIENT_ID])
    if shared:
        raise HarmonieError(f"{len(shared):,} patient ids are both in the trial and in the source: the trial's "
                            "patients must not be their own controls (draw trials from patients the source does not "
                            "hold, e.g. ANALYTIC/control)")
    for what, frame in (("trial", t), ("source", c)):
        if len(frame) < 2:
            raise HarmonieError(f"{len(frame)} patient(s) of the {what} meet the eligibility: nothing to compare "
                                "(check the spec against the data: the report's attrition shows each criterion)")
    with stage(f"propensity score and balancing ({spec.analysis.method})"):
        terms = covariate_terms(t, c, spec.analysis.covariates)
        balanced = balance_arms(t, c, spec.analysis, terms, seed=seed)
        table = smd_table(t, c, terms, balanced)
    with stage("outcome comparison (Cox, Kaplan–Meier, RMST)"):
        hr = hazard_ratio(t, c, balanced, terms, spec.analysis)
        unadjusted = hazard_ratio(t, c, balance_arms(t, c, Analysis(method="none"), terms), terms, spec.analysis,
                                  adjust=False)
        rmst = rmst_difference(t, c, balanced, spec.analysis.horizon_days, bootstrap=spec.analysis.bootstrap,
                               seed=seed) \
            if balanced.trial_kept and balanced.controls_used else None
    return ArmResult(spec, source_kind, trial_cohort, control_cohort, terms, balanced, table, hr, unadjusted, rmst,
                     seed)


def analysis_set(result: ArmResult) -> pd.DataFrame:
    """One row per analysed patient (weight > 0): the patient-level file of the arm."""
    b = result.balanced
    parts = []
    for arm, cohort, weight, score, matched in (
            ("trial", result.trial, b.trial_weight, b.trial_score, b.trial_set),
            ("control", result.control, b.control_weight, b.control_score, b.control_set)):
        p = cohort.patients
        frame = pd.DataFrame({"arm": arm, PATIENT_ID: p[PATIENT_ID], "index_date": p["index_date"].dt.date,
                              "time_days": p["time_days"], "death": p["event"], "weight": weight,
                              "matched_set": pd.array(matched if matched is not None else [None] * len(p),
                                                      dtype="Int64"),
                              "propensity_score": score})
        parts.append(frame[weight > 0])
    return pd.concat(parts, ignore_index=True)


def write_arm(result: ArmResult, out_dir: str | Path, *, overwrite: bool = False,
              inputs: dict[str, str | Path | None] | None = None) -> dict:
    """Write the arm's folder (module docstring, step 4) as one unit; return the written report."""
    from synth.arms.report import write_report

    with output_folder(out_dir, "arm build", overwrite=overwrite, inputs=inputs) as staging:
        write_parquet(pa.Table.from_pandas(analysis_set(result), preserve_index=False),
                      staging / "analysis_set.parquet")
        with stage("the arm's report (HTML, figures, protocol)"):
            document = write_report(result, ensure_output_dir(staging / "report"))
    return document

