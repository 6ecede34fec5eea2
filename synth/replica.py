"""Fitting a replica model on an analytic dataset and sampling synthetic datasets from it.

Two modes:

- ``conditional`` (default, scales to 193,000 patients): patient baselines from SDV
  synthesizers (:mod:`synth.generators`; GaussianCopula, CTGAN or TVAE), survival and care
  volume from stratified real distributions (:mod:`synth.outcomes`), and claims generated
  per synthetic patient from stratum models (:mod:`synth.children`);
- ``hma``: SDV's multi-table HMASynthesizer on patients + stays (:mod:`synth.multi_table`),
  for small datasets only; dispensings are generated as in the conditional mode.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pandas as pd

from harmonie.errors import HarmonieError
from harmonie.progress import stage
from synth import model_store
from synth.children import CHILD_TABLES, fit_child_models, sample_children
from synth.constraints import check_constraints
from synth.generators import GENERATORS, fit_departement_mix, fit_patient_model, sample_patients
from synth.outcomes import fit_outcomes, sample_outcomes
from synth.schema import PATIENT_ID, column_order
from synth.sdv_support import version as sdv_version

MODES = ("conditional", "hma")


def fit_model(train: dict[str, pd.DataFrame], out_dir: str | Path, *, generator: str = "gaussian_copula",
              mode: str = "conditional", seed: int = 0, epochs: int = 300, lineage: dict | None = None) -> dict:
    """Fit the replica model on ``train`` and save it to ``out_dir``; return its manifest."""
    if mode not in MODES:
        raise HarmonieError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    if generator not in GENERATORS:
        raise HarmonieError(f"unknown generator {generator!r}: choose one of {', '.join(GENERATORS)}")
    patients = train["patients"]
    if len(patients) < 100:
        raise HarmonieError(f"{len(patients)} patients is too few to learn a replica from (need at least 100)")
    synthesizers, strata, outcomes, departements = {}, {}, None, None
    if mode == "hma":
        from synth.multi_table import fit_hma

        with stage(f"fit HMA on {len(patients):,} patients and {len(train['stays']):,} stays"):
            synthesizers["patients_stays.pkl"] = fit_hma(train, seed=seed)
        child_tables = ("dispensings",)
    else:
        with stage(f"fit the patient models ({generator}, per cancer x subtype x stage) on {len(patients):,} patients"):
            patient_models = fit_patient_model(patients, generator, seed=seed, epochs=epochs)
        with stage("fit the outcome model (survival, care volume) by stratum"):
            outcomes = fit_outcomes(patients, seed)
        departements = fit_departement_mix(patients)
        for index, (group, (share, synthesizer)) in enumerate(sorted(patient_models.items())):
            synthesizers[f"patients/{index:03d}.pkl"] = synthesizer
            strata.setdefault("patients", {})[group] = {"file": f"patients/{index:03d}.pkl", "share": share}
        child_tables = tuple(CHILD_TABLES)
    for name in child_tables:
        with stage(f"fit the {name} models on {len(train[name]):,} rows"):
            models = fit_child_models(CHILD_TABLES[name], train[name], patients, seed=seed)
        strata[name] = {}
        for index, stratum in enumerate(sorted(models)):
            synthesizers[f"{name}/{index:03d}.pkl"] = models[stratum]
            strata[name][stratum] = {"file": f"{name}/{index:03d}.pkl"}
    manifest = {
        "mode": mode, "generator": generator, "seed": seed, "epochs": epochs if generator != "gaussian_copula" else None,
        "trained_on": {name: len(frame) for name, frame in train.items()},
        "columns": {name: column_order(name) for name in train},
        "strata": strata, "versions": {"harmonie": version("harmonie"), "sdv": sdv_version()},
        "lineage": lineage, "outcomes": outcomes, "departements": departements,
    }
    model_store.save(out_dir, synthesizers, manifest)
    return model_store.read_manifest(out_dir)


def sample_model(model_dir: str | Path, rows: int | None = None, *, seed: int = 0) -> tuple[dict, dict]:
    """A synthetic dataset of ``rows`` patients (default: as many as trained on) and the manifest."""
    manifest, synthesizers = model_store.load(model_dir)
    rows = manifest["trained_on"]["patients"] if rows is None else rows
    if rows < 1:
        raise HarmonieError(f"--rows must be at least 1, got {rows}")
    tables = {}
    if manifest["mode"] == "hma":
        from synth.multi_table import sample_hma

        with stage(f"sample {rows:,} patients and their stays (HMA)"):
            tables["patients"], tables["stays"] = sample_hma(synthesizers["patients_stays.pkl"], rows, seed=seed)
    else:
        models = {cancer: (entry["share"], synthesizers[entry["file"]])
                  for cancer, entry in manifest["strata"]["patients"].items()}
        with stage(f"sample {rows:,} patients"):
            tables["patients"] = sample_outcomes(
                manifest["outcomes"], sample_patients(models, rows, seed, manifest.get("departements")), seed)
    for name in CHILD_TABLES:
        if name not in manifest["strata"]:
            continue
        models = {stratum: synthesizers[entry["file"]] for stratum, entry in manifest["strata"][name].items()}
        with stage(f"sample {name}"):
            tables[name] = sample_children(CHILD_TABLES[name], models, tables["patients"], seed=seed + 1000)
    tables["patients"] = _claims_summary(tables["patients"], tables["stays"])
    tables = {name: tables[name][column_order(name)] for name in ("patients", "stays", "dispensings")}
    broken = {rule: n for rule, n in check_constraints(tables).items() if n}
    if broken:  # the generators guarantee these; a violation is a bug, never a silent release
        raise HarmonieError(f"the replica breaks its constraints: {broken}")
    return tables, manifest


def _claims_summary(patients: pd.DataFrame, stays: pd.DataFrame) -> pd.DataFrame:
    first = patients[PATIENT_ID].map(stays.groupby(PATIENT_ID)["admission_date"].min())
    patients["days_to_first_stay"] = (first - patients["diagnosis_date"]).dt.days.astype("Int64")
    patients["n_stays"] = patients[PATIENT_ID].map(stays.groupby(PATIENT_ID).size()).fillna(0).astype("int64")
    return patients


def replica_provenance(manifest: dict, sample_seed: int) -> dict[str, str]:
    """Parquet metadata for a sampled replica: how it was made and from which links."""
    import json

    replica = {"mode": manifest["mode"], "generator": manifest["generator"], "model_seed": manifest["seed"],
               "sample_seed": sample_seed, "versions": manifest["versions"],
               "model_manifest_sha256": manifest["sha256"]}
    return {"harmonie.replica": json.dumps(replica, sort_keys=True),
            "harmonie.lineage": json.dumps(manifest.get("lineage"), sort_keys=True)}
