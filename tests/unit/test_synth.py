"""The analytic dataset and the replica generators, on a simulated population linked by its truth."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from harmonie.errors import HarmonieError
from synth.analytic import build_analytic
from synth.constraints import check_constraints
from synth.dataset import read_dataset, write_dataset
from synth import model_store
from synth.replica import ReplicaModel, fit_model, replica_provenance, sample_model
from synth.schema import TABLES
from conftest import linked_extracts


@pytest.fixture(scope="module")
def analytic(population):
    cohort, snds, links = linked_extracts(population)
    return build_analytic(links, cohort, snds, seed=3, control_fraction=0.2), cohort, snds, links


@pytest.fixture(scope="module")
def fitted(analytic):
    """The replica model in memory, before it is saved."""
    return fit_model(analytic[0].train, seed=5)


@pytest.fixture(scope="module")
def model(fitted, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    fitted.save(out)
    return out


def test_analytic_dataset_holds_no_identifier_and_follows_the_schema(analytic, population):
    result = analytic[0]
    identifying = set()
    for name in ("cohort_patients", "snds_beneficiaries"):
        for column in ("cohort_id", "snds_id", "nir", "birth_name", "use_name", "first_names"):
            if column in population[name].columns:
                identifying |= set(population[name][column].dropna().astype(str))
    identifying |= set(analytic[3]["left_id"]) | set(analytic[3]["right_id"])
    for part in (result.train, result.control):
        for name, frame in part.items():
            assert list(frame.columns) == list(TABLES[name])
            for column in frame.columns:
                assert not identifying & set(frame[column].dropna().astype(str)), (name, column)


def test_analytic_counts_reconcile(analytic):
    s = analytic[0].summary
    p = s["patients"]
    assert p["cohort_records"] == p["kept"] + p["quarantined"] + p["not_linked"]
    assert p["kept"] == p["train"] + p["control"] and p["control"] > 0
    assert sum(p["quarantine_reasons"].values()) == p["quarantined"] == len(analytic[0].quarantine)
    for table in ("stays", "dispensings"):
        c = s[table]
        left_out = c["not_an_analysed_patient"] + c["date_unreadable"] + c["before_window"] + c["after_death"]
        assert c["rows_in"] == c["rows_kept"] + left_out
        kept = len(analytic[0].train[table]) + len(analytic[0].control[table])
        assert kept == c["rows_kept"]


def test_real_analytic_dataset_meets_the_constraints(analytic):
    for part in (analytic[0].train, analytic[0].control):
        assert not any(check_constraints(part).values()), check_constraints(part)


def test_contradictory_patients_are_quarantined_with_a_reason(analytic):
    _, cohort, snds, links = analytic
    cohort = {"cohort_patients": cohort["cohort_patients"].copy()}
    patients = cohort["cohort_patients"]
    ovarian = patients.index[patients["cancer_type"] == "ovarian"][0]
    linked = patients.loc[ovarian, "linkage_id"]
    snds_id = links.loc[links["left_id"] == linked, "right_id"].iloc[0]
    snds = dict(snds)
    snds["snds_beneficiaries"] = snds["snds_beneficiaries"].copy()
    snds["snds_beneficiaries"].loc[snds["snds_beneficiaries"]["linkage_id"] == snds_id, "sex"] = "1"
    patients.loc[patients.index[1], "diagnosis_date"] = "not a date"
    result = build_analytic(links, cohort, snds, seed=3)
    reasons = dict(zip(result.quarantine["linkage_id"], result.quarantine["reason"]))
    assert reasons[linked] == "ovarian cancer recorded for a male patient"
    assert reasons[patients.loc[patients.index[1], "linkage_id"]] == "diagnosis date missing or unreadable"


def test_links_must_be_one_to_one_and_from_the_same_key(analytic):
    _, cohort, snds, links = analytic
    doubled = pd.concat([links, links.head(1).assign(right_id=links["right_id"].iloc[1])])
    with pytest.raises(HarmonieError, match="one-to-one"):
        build_analytic(doubled, cohort, snds)
    with pytest.raises(HarmonieError, match="same key"):
        build_analytic(links.assign(left_id="x" + links["left_id"], right_id="y" + links["right_id"]), cohort, snds)
    with pytest.raises(HarmonieError, match="control fraction"):
        build_analytic(links, cohort, snds, control_fraction=1.0)


def test_replica_has_the_real_schema_the_rows_asked_for_and_meets_every_constraint(model, analytic):
    tables, manifest = sample_model(model, 700, seed=1)
    assert len(tables["patients"]) == 700 and manifest["generator"] == "gaussian_copula"
    for name, frame in tables.items():
        real = analytic[0].train[name]
        assert list(frame.columns) == list(real.columns)
        assert len(frame) > 0
    assert not any(check_constraints(tables).values()), check_constraints(tables)
    p = tables["patients"]
    assert set(p["cancer_type"]) <= set(analytic[0].train["patients"]["cancer_type"])
    assert not ((p["cancer_type"] == "ovarian") & (p["sex"] == "M")).any()
    # a replica is not a copy: new ids, and patients that are not real rows
    assert not set(p["patient_id"]) & set(analytic[0].train["patients"]["patient_id"])


def test_replica_is_reproducible_from_a_seed(model, tmp_path):
    def digest(seed: int, out: Path) -> dict:
        write_dataset(sample_model(model, 300, seed=seed)[0], out)
        return {name: hashlib.sha256((out / f"{name}.parquet").read_bytes()).hexdigest() for name in TABLES}

    first, again, other = digest(7, tmp_path / "a"), digest(7, tmp_path / "b"), digest(8, tmp_path / "c")
    assert first == again
    assert first["patients"] != other["patients"]
    assert read_dataset(tmp_path / "a")["patients"].shape[0] == 300


def test_a_model_samples_the_same_replica_before_and_after_it_is_saved(fitted, model):
    """No folder is needed between fit and sample, and the folder changes nothing (the notebook and the CLI give
    the same replica); only a saved model has a manifest hash for the replica's provenance."""
    in_memory, again = fitted.sample(300, seed=7), fitted.sample(300, seed=7)
    loaded, manifest = sample_model(model, 300, seed=7)
    for name in TABLES:
        pd.testing.assert_frame_equal(in_memory[name], loaded[name])
        pd.testing.assert_frame_equal(in_memory[name], again[name])
    assert ReplicaModel.load(model).manifest == manifest and manifest["sha256"]
    assert "sha256" not in fitted.manifest and json.loads(replica_provenance(fitted.manifest, 7)["harmonie.replica"])[
        "model_manifest_sha256"] is None
    assert model_store.unsaved(manifest) == fitted.manifest


def test_tampered_model_file_is_refused(model, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    path = copy / "patients" / "000.pkl"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(HarmonieError, match="does not match its manifest"):
        sample_model(copy, 10)


class _Planted:
    """A pickle that runs code when loaded: it leaves a file behind."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_replaced_pickle_with_a_rewritten_manifest_never_runs(model, tmp_path):
    """The attack of issue 18: swap a synthesizer for code and update model.json's hash; the MAC refuses it
    before anything is unpickled."""
    import json
    import pickle
    import shutil

    from harmonie.io import sha256_file

    copy, marker = tmp_path / "model", tmp_path / "ran"
    shutil.copytree(model, copy)
    path = copy / "patients" / "000.pkl"
    path.write_bytes(pickle.dumps(_Planted(marker)))
    manifest = json.loads((copy / "model.json").read_text())
    manifest["files"]["patients/000.pkl"] = sha256_file(path)
    (copy / "model.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    with pytest.raises(HarmonieError, match="does not match its MAC"):
        sample_model(copy, 10)
    assert not marker.exists()
    (copy / "model.json.mac").unlink()
    with pytest.raises(HarmonieError, match="not authenticated"):
        sample_model(copy, 10)
    assert not marker.exists()


def test_a_model_made_under_another_data_teams_key_is_refused(model, tmp_path, monkeypatch):
    from privacy.model_key import load_model_key

    monkeypatch.setenv("HARMONIE_MODEL_KEY", str(tmp_path / "theirs.key"))
    theirs = load_model_key(create=True)
    assert (tmp_path / "theirs.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(HarmonieError, match=f"not with yours \\({theirs.key_id}\\)"):
        sample_model(model, 10)


def test_bad_requests_are_one_line_errors(model, analytic, tmp_path):
    with pytest.raises(HarmonieError, match="at least 1"):
        sample_model(model, 0)
    with pytest.raises(HarmonieError, match="not a replica model folder"):
        sample_model(tmp_path, 10)
    with pytest.raises(HarmonieError, match="too few"):
        tiny = {name: frame.head(10) for name, frame in analytic[0].train.items()}
        fit_model(tiny, tmp_path / "m")
    with pytest.raises(HarmonieError, match="has no patients.parquet"):
        read_dataset(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("generator", ["ctgan", "tvae"])
def test_neural_generators_fit_sample_reproducibly_and_meet_the_constraints(analytic, tmp_path, generator):
    fit_model(analytic[0].train, tmp_path / generator, generator=generator, epochs=2, seed=1)
    first, manifest = sample_model(tmp_path / generator, 200, seed=2)
    again, _ = sample_model(tmp_path / generator, 200, seed=2)
    assert manifest["generator"] == generator and len(first["patients"]) == 200
    assert first["patients"].equals(again["patients"])
    assert not any(check_constraints(first).values())


def test_strata_fits_are_counted_in_patients(analytic, capsys):
    """#21 item 3: fitting the patient strata prints how many patients' strata are fitted, with rate and ETA."""
    from harmonie import progress
    from synth.generators import fit_patient_model

    patients = analytic[0].train["patients"]
    progress.set_enabled(True)
    try:
        models = fit_patient_model(patients, seed=1)
    finally:
        progress.set_enabled(False)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(f"fit {len(models)} strata: ")]
    assert lines and "(100%)" in lines[-1] and "patients/s" in lines[-1], err
    assert f"{len(patients):,}" in lines[-1] or f"{len(patients) / 1000:.3g}k" in lines[-1], lines[-1]
    assert f"done fit {len(models)} strata" in err
