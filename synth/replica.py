"""Fitting a replica model on an analytic dataset and sampling synthetic datasets from it.

A patient is generated in steps, each conditioned on the previous ones:

1. baseline variables (sex, age, subtype, stage, diagnosis date, treatments) from SDV
   synthesizers per cancer × subtype × stage (:mod:`synth.generators`; GaussianCopula,
   CTGAN or TVAE), the département apart;
2. survival and cause of death from a Cox model per cancer type stratified by stage, with
   the patient's age, sex, subtype and treatments as covariates (:mod:`synth.outcomes`);
3. the extra clinical columns of a wide patient table, when the training patients have any
   (the cohort's case-report form: biomarkers, comorbidities...), from a latent Gaussian
   regression on the baseline and survival with a Gaussian copula, per cancer type
   (:mod:`synth.wide`);
4. claims as care pathways, kind of care by kind, from the patient's own treatments, stage
   and survival (:mod:`synth.pathways`).

SDV's multi-table HMA mode was dropped: it learns stays independently of treatments, and
the replicas it made broke the treatment <-> claims rules every replica is now checked
against (:func:`synth.constraints.check_replica`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from harmonie.errors import HarmonieError
from harmonie.progress import stage
from synth import model_store
from synth.care_rules import incoherent_claims
from synth.constraints import check_replica
from synth.dp_patients import DP_GENERATORS, DPSettings, fit_dp_patients
from synth.generators import GENERATORS, fit_departement_mix, fit_patient_model, sample_patients
from synth.outcomes import fit_outcomes, sample_outcomes
from synth.pathways import fit_pathways, sample_pathways
from synth.schema import PATIENT_ID, check_extra_columns, column_order, extra_columns, patient_columns
from synth.sdv_support import version as sdv_version
from synth.topcoding import TopCoding, code_replica, code_training
from synth.wide import fit_wide

MODE = "pathways"
DP_PATIENT_FILE = "patients/dp.pkl"
WIDE_FILE = "patients/wide.pkl"


@dataclass(frozen=True)
class ReplicaModel:
    """A fitted replica model in memory: ``manifest`` (what ``model.json`` holds, JSON types; once saved or loaded
    also its ``files`` hashes and ``sha256``) and ``synthesizers`` ({file name in the folder: fitted synthesizer}).

    Sampling needs no folder (:meth:`sample`); :meth:`save` writes one that :meth:`load` authenticates under the
    data team's model key (:mod:`synth.model_store`) before unpickling anything. A model sampled before it is saved
    gives the same replica as after: the manifest is held as it is written."""

    manifest: dict
    synthesizers: dict[str, object]

    @classmethod
    def load(cls, model_dir: str | Path) -> ReplicaModel:
        manifest, synthesizers = model_store.load(model_dir)
        if manifest.get("mode") != MODE:
            raise HarmonieError(f"{model_dir} is a {manifest.get('mode')!r} replica model from an older Harmonie; "
                                "refit it with `harmonie synth fit`")
        return cls(manifest, synthesizers)

    def save(self, out_dir: str | Path) -> ReplicaModel:
        """Write the model folder; return the model as saved (its manifest now carries ``files`` and ``sha256``)."""
        model_store.save(out_dir, self.synthesizers, model_store.unsaved(self.manifest))
        return ReplicaModel(model_store.read_manifest(out_dir), self.synthesizers)

    @property
    def generator(self) -> str:
        return self.manifest["generator"]

    @property
    def trained_on(self) -> dict[str, int]:
        """Rows per training table (patients, stays, dispensings)."""
        return self.manifest["trained_on"]

    @property
    def differential_privacy(self) -> dict | None:
        """The DP statement of the patient table (``--generator mst|aim``), else ``None``."""
        return self.manifest.get("differential_privacy")

    def sample(self, rows: int | None = None, *, seed: int = 0) -> dict[str, pd.DataFrame]:
        """A synthetic dataset of ``rows`` patients (default: as many as trained on)."""
        return _sample(self.manifest, self.synthesizers, rows, seed)


def fit_model(train: dict[str, pd.DataFrame], out_dir: str | Path | None = None, *,
              generator: str = "gaussian_copula", seed: int = 0, epochs: int = 300, lineage: dict | None = None,
              top_coding: TopCoding = TopCoding(), privacy: DPSettings | None = None) -> ReplicaModel:
    """Fit the replica model on ``train``; save it to ``out_dir`` when given; return it. Counts, lengths of
    stay, quantities and costs are top/bottom-coded before the models learn, ages and totals in every replica
    sampled (:mod:`synth.topcoding`). ``generator`` "mst" or "aim" makes the patient table differentially private
    under ``privacy`` (:mod:`synth.dp_patients`; the claims are not)."""
    if generator not in (*GENERATORS, *DP_GENERATORS):
        raise HarmonieError(f"unknown generator {generator!r}: choose one of "
                            f"{', '.join((*GENERATORS, *DP_GENERATORS))}")
    if (generator in DP_GENERATORS) != (privacy is not None):
        raise HarmonieError(f"generator {generator} needs a privacy budget (epsilon)" if privacy is None else
                            f"a privacy budget applies to the DP generators ({', '.join(DP_GENERATORS)}), "
                            f"not to {generator}")
    patients = train["patients"]
    if len(patients) < 100:
        raise HarmonieError(f"{len(patients)} patients is too few to learn a replica from (need at least 100)")
    coded, bounds = code_training(train, top_coding)  # every model learns from the coded tables
    patients = coded["patients"]
    extras = check_extra_columns(patients[extra_columns(patients)], "the training patients") \
        if extra_columns(patients) else {}
    if extras and privacy is not None:
        raise HarmonieError(f"the DP generators model the fixed patient columns only, and the training patients have "
                            f"{len(extras)} extra clinical column(s): drop them from the analytic dataset, or fit "
                            "gaussian_copula")
    synthesizers, strata, outcomes, departements, dp, wide = {}, {}, None, None, None, None
    if privacy is not None:  # the whole patient row, survival included, from one DP model, with public bounds only
        with stage(f"fit the DP patient model ({generator}, epsilon {privacy.epsilon:g}) on {len(patients):,} "
                   "patients"):
            synthesizers[DP_PATIENT_FILE] = fit_dp_patients(train["patients"], generator, privacy)  # never coded
        dp = {**synthesizers[DP_PATIENT_FILE].statement_, "file": DP_PATIENT_FILE}
        bounds.pop("age_at_diagnosis", None)  # real-data age bounds would be a release outside the budget
    else:
        with stage(f"fit the patient models ({generator}, per cancer x subtype x stage) on {len(patients):,} "
                   "patients"):
            patient_models = fit_patient_model(patients, generator, seed=seed, epochs=epochs)
        with stage("fit the survival model (Cox per cancer type, stratified by stage)"):
            outcomes = fit_outcomes(patients, seed)
        departements = fit_departement_mix(patients)
        if extras:
            with stage(f"fit the {len(extras)} extra clinical columns (latent Gaussian regression and copula per "
                       "cancer type, after survival)"):
                synthesizers[WIDE_FILE] = fit_wide(patients, extras, k=top_coding.k if top_coding.active else 0)
            wide = {"file": WIDE_FILE, **synthesizers[WIDE_FILE].summary()}
        for index, (group, (share, synthesizer)) in enumerate(sorted(patient_models.items())):
            synthesizers[f"patients/{index:03d}.pkl"] = synthesizer
            strata.setdefault("patients", {})[group] = {"file": f"patients/{index:03d}.pkl", "share": share}
    with stage(f"fit the care pathways on {len(train['stays']):,} stays and {len(train['dispensings']):,} "
               "dispensings"):
        pathways, pathway_synthesizers = fit_pathways(coded, seed=seed, coding=top_coding)
    synthesizers.update(pathway_synthesizers)
    manifest = {
        "mode": MODE, "generator": generator, "seed": seed, "epochs": epochs if generator != "gaussian_copula" else None,
        "trained_on": {name: len(frame) for name, frame in train.items()},
        "columns": {name: column_order(name) + (list(extras) if name == "patients" else []) for name in train},
        "strata": strata, "versions": {"harmonie": version("harmonie"), "sdv": sdv_version()},
        "lineage": lineage, "outcomes": outcomes, "departements": departements, "pathways": pathways,
        "training_incoherence": incoherent_claims(train),
        "top_coding": {"k": top_coding.k, "bounds": bounds},
    }
    if dp is not None:
        manifest["differential_privacy"] = dp
    if wide is not None:
        manifest["wide"] = wide
    model = ReplicaModel(model_store.as_written(manifest), synthesizers)
    return model if out_dir is None else model.save(out_dir)


def sample_model(model: ReplicaModel | str | Path, rows: int | None = None, *, seed: int = 0) -> tuple[dict, dict]:
    """A synthetic dataset of ``rows`` patients (default: as many as trained on) and the model's manifest, from a
    :class:`ReplicaModel` or a model folder."""
    model = model if isinstance(model, ReplicaModel) else ReplicaModel.load(model)
    return model.sample(rows, seed=seed), model.manifest


def _sample(manifest: dict, synthesizers: dict[str, object], rows: int | None, seed: int) -> dict[str, pd.DataFrame]:
    rows = manifest["trained_on"]["patients"] if rows is None else rows
    if rows < 1:
        raise HarmonieError(f"--rows must be at least 1, got {rows}")
    dp = manifest.get("differential_privacy")
    if dp is not None:  # synth/dp_patients.py: the patient table, survival included, from the DP model
        with stage(f"sample {rows:,} patients and their survival (DP model, {dp['mechanism']})"):
            patients = synthesizers[dp["file"]].sample(rows, seed)
    else:
        models = {group: (entry["share"], synthesizers[entry["file"]])
                  for group, entry in manifest["strata"]["patients"].items()}
        with stage(f"sample {rows:,} patients and their survival"):
            patients = sample_outcomes(manifest["outcomes"], sample_patients(models, rows, seed,
                                                                             manifest.get("departements")), seed)
        if manifest.get("wide"):  # synth/wide.py: the extra clinical columns, given the patient and survival
            with stage(f"sample their {len(manifest['wide']['columns'])} extra clinical columns"):
                extras = synthesizers[manifest["wide"]["file"]].sample(patients, seed + 2000)
                patients = pd.concat([patients, extras], axis=1)
    # the pathways read the core only: copying a 500-column row per claim took 5 GB more at 150,000 patients
    core = patients.drop(columns=list(manifest["wide"]["columns"])) if manifest.get("wide") else patients
    with stage("sample their care pathways"):
        tables = {"patients": patients, **sample_pathways(manifest["pathways"], synthesizers, core,
                                                          seed=seed + 1000)}
        tables = code_replica(tables, manifest.get("top_coding", {}).get("bounds", {}))
    tables["patients"] = claims_summary(tables["patients"], tables["stays"], tables["dispensings"])
    tables = {name: tables[name][patient_columns(tables[name]) if name == "patients" else column_order(name)]
              for name in ("patients", "stays", "dispensings")}
    broken = check_replica(tables, manifest.get("training_incoherence"))
    if broken:  # the generators guarantee these; a violation is a bug, never a silent release
        raise HarmonieError(f"the replica breaks its constraints: {broken}")
    return tables


def claims_summary(patients: pd.DataFrame, stays: pd.DataFrame, dispensings: pd.DataFrame) -> pd.DataFrame:
    """The patients with ``days_to_first_stay``, ``n_stays`` and ``n_dispensings`` recomputed from the claims."""
    first = patients[PATIENT_ID].map(stays.groupby(PATIENT_ID)["admission_date"].min())
    patients["days_to_first_stay"] = (first - patients["diagnosis_date"]).dt.days.astype("Int64")
    for column, claims in (("n_stays", stays), ("n_dispensings", dispensings)):
        patients[column] = patients[PATIENT_ID].map(claims.groupby(PATIENT_ID).size()).fillna(0).astype("int64")
    return patients


def replica_provenance(manifest: dict, sample_seed: int) -> dict[str, str]:
    """Parquet metadata for a sampled replica: how it was made and from which links."""
    import json

    replica = {"mode": manifest["mode"], "generator": manifest["generator"], "model_seed": manifest["seed"],
               "sample_seed": sample_seed, "versions": manifest["versions"],
               "model_manifest_sha256": manifest.get("sha256")}  # None: sampled from a model never saved
    if manifest.get("differential_privacy"):  # what the guarantee covers travels with the replica (and its release)
        replica["differential_privacy"] = {k: v for k, v in manifest["differential_privacy"].items() if k != "file"}
    return {"harmonie.replica": json.dumps(replica, sort_keys=True),
            "harmonie.lineage": json.dumps(manifest.get("lineage"), sort_keys=True)}
