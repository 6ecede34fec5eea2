"""The ``harmonie arm`` commands as functions of paths: read the inputs, run the library, write the folder.

The command line calls these and prints; a notebook may too. Each checks its output folder
before any work (refused if not empty without ``overwrite``, or if it is or holds an input)
and writes it as one unit (:mod:`synth.arms.output`, :class:`harmonie.output_set.OutputFolder`).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from harmonie.errors import HarmonieError
from harmonie.io import write_text
from harmonie.progress import stage
from synth.arms.build import build_arm, write_arm
from synth.arms.calibrate import Calibration, CalibrationSettings, calibrate_arms
from synth.arms.eligibility import read_arm_spec
from synth.arms.output import check_output_folder, output_folder
from synth.dataset import read_dataset, read_provenance, write_dataset

_ALL = ("patients", "stays", "dispensings")


def read_trial(path: str | Path, *, claims: bool) -> dict[str, pd.DataFrame]:
    """A trial arm in the analytic schema: a folder (patients.parquet, and stays/dispensings when ``claims``),
    or a single patients Parquet file (read through the same checks as a folder)."""
    path = Path(path)
    tables = _ALL if claims else ("patients",)
    if path.is_dir():
        return read_dataset(path, tables)
    if not path.is_file():
        raise HarmonieError(f"trial {path} not found: give a folder holding patients.parquet, or that file")
    if claims:
        raise HarmonieError(f"trial {path} is one file, but the spec's index date or care criteria read the claims: "
                            "give the trial's folder with patients, stays and dispensings")
    with tempfile.TemporaryDirectory(prefix="harmonie-trial-") as folder:
        (Path(folder) / "patients.parquet").symlink_to(path.resolve())
        return read_dataset(folder, ("patients",))


def source_kind(source_dir: str | Path) -> str:
    """"replica" for a folder written by ``harmonie synth sample`` (its provenance says so), else "real"."""
    return "replica" if "replica" in read_provenance(source_dir) else "real"


def _source(folder: str | Path, claims: bool) -> dict[str, pd.DataFrame]:
    return read_dataset(folder, _ALL if claims else ("patients",))


def build_arm_files(trial_path: str | Path, eligibility_path: str | Path, source_dir: str | Path,
                    out_dir: str | Path, *, overwrite: bool = False, seed: int = 0) -> dict:
    """``harmonie arm build``: read, build, write; return the written report (``report/arm.json``)."""
    spec = read_arm_spec(eligibility_path)
    inputs = {"--trial": trial_path, "--eligibility": eligibility_path, "--source": source_dir}
    check_output_folder(out_dir, overwrite=overwrite, inputs=inputs)  # before any work
    trial = read_trial(trial_path, claims=spec.reads_claims)
    result = build_arm(trial, _source(source_dir, spec.reads_claims), spec, seed=seed,
                       source_kind=source_kind(source_dir))
    return write_arm(result, out_dir, overwrite=overwrite, inputs=inputs)


def simulate_trial_files(source_dir: str | Path, eligibility_path: str | Path, out_dir: str | Path, *,
                         size: int = 100, hazard_ratio: float = 0.7, age_log_odds_per_10y: float = -0.5,
                         stage_log_odds: float = -0.7, seed: int = 0, overwrite: bool = False) -> dict:
    """``harmonie arm simulate-trial``: a trial folder in the analytic schema, and ``trial.json`` saying how."""
    from synth.arms.trial import TrialDesign, simulate_trial

    spec = read_arm_spec(eligibility_path)
    design = TrialDesign(size, hazard_ratio, age_log_odds_per_10y, stage_log_odds)
    inputs = {"--source": source_dir, "--eligibility": eligibility_path}
    check_output_folder(out_dir, overwrite=overwrite, inputs=inputs)
    if source_kind(source_dir) == "replica":
        raise HarmonieError(f"{source_dir} is a replica: draw simulated trials from real patients the warehouse does "
                            "not hold (e.g. ANALYTIC/control)")
    with stage(f"draw a trial of {size:,} patients (hazard ratio {hazard_ratio:g})"):
        tables, _ = simulate_trial(read_dataset(source_dir), spec, design, seed=seed)
    summary = {"format": "harmonie-simulated-trial/1", "size": design.size,
               "design": {"hazard_ratio": design.hazard_ratio, "age_log_odds_per_10y": design.age_log_odds_per_10y,
                          "stage_log_odds": design.stage_log_odds},
               "seed": seed, "eligibility": spec.name,
               "note": "simulated: eligible patients of the source, a new drug's effect added from the index date"}
    with output_folder(out_dir, "arm simulate-trial", overwrite=overwrite, inputs=inputs) as staging:
        write_dataset(tables, staging, metadata={"harmonie.simulated_trial": json.dumps(summary, sort_keys=True)})
        write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", staging / "trial.json")
    return summary


def calibrate_files(warehouse_dir: str | Path, trial_source_dir: str | Path, eligibility_path: str | Path,
                    out_dir: str | Path, *, replica_dir: str | Path | None = None,
                    settings: CalibrationSettings = CalibrationSettings(), overwrite: bool = False
                    ) -> tuple[dict, Calibration]:
    """``harmonie arm calibrate``: the calibration folder; return the written document and the calibration."""
    from synth.arms.calibration_report import write_calibration

    spec = read_arm_spec(eligibility_path)
    inputs = {"--warehouse": warehouse_dir, "--trial-source": trial_source_dir, "--replica": replica_dir,
              "--eligibility": eligibility_path}
    check_output_folder(out_dir, overwrite=overwrite, inputs=inputs)
    if source_kind(warehouse_dir) == "replica" or source_kind(trial_source_dir) == "replica":
        raise HarmonieError("--warehouse and --trial-source must be real analytic datasets (e.g. ANALYTIC/train and "
                            "ANALYTIC/control); give the replica as --replica")
    if replica_dir is not None and source_kind(replica_dir) != "replica":
        raise HarmonieError(f"--replica {replica_dir} is not a replica written by `harmonie synth sample`")
    claims = spec.reads_claims
    replica = _source(replica_dir, claims) if replica_dir is not None else None
    calibration = calibrate_arms(_source(warehouse_dir, claims), _source(trial_source_dir, claims), spec, settings,
                                 replica=replica)
    with output_folder(out_dir, "arm calibrate", overwrite=overwrite, inputs=inputs) as staging:
        document = write_calibration(calibration, staging)
    return document, calibration
