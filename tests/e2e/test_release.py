"""Risk measures and the release gate: leaky replicas are refused, a copula replica passes, bundles verify."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from harmonie.errors import HarmonieError
from privacy.release.bundle import verify_bundle
from privacy.release.gate import ReleaseRefused, assess, release
from privacy.release.policy import load_policy, measure_checks
from privacy.release.signing import new_signing_key
from synth.dataset import write_dataset

from conftest import open_gate

PASSPHRASE = "release signing passphrase for tests"
POLICY, _ = load_policy(None)
# The full-set copy screen refuses any replica holding real patients before the sampled measures run; to
# show that the sampled measures can fail by themselves, some tests lift its limits.
# Replicas made of real rows fail the sampled measures by far: a twelfth of the default attacks shows it.
NO_SCREEN = {**POLICY, "copies": {**POLICY["copies"], **{k: 10 ** 9 for k in POLICY["copies"] if k.startswith("max_")}},
             "measurement": {**POLICY["measurement"], "n_attacks": 400, "attack_targets": 600}}
ON_ESTIMATE = {**POLICY, "decisions": {"use_upper_ci": False}}
@pytest.fixture(scope="module")
def data(release_data):
    return release_data


def _resampled(train: dict, seed: int, noise: bool = False) -> dict:
    """A 'replica' made of real training patients (optionally with small noise), under new ids."""
    rng = np.random.default_rng(seed)
    p = train["patients"].sample(frac=1.0, replace=True, random_state=seed).reset_index(drop=True)
    new_ids = {old: f"S{i:07d}" for i, old in enumerate(p["patient_id"].unique())}
    p = p.drop_duplicates("patient_id").reset_index(drop=True)
    if noise:
        p["age_at_diagnosis"] += rng.integers(-1, 2, len(p))
        shift = pd.to_timedelta(rng.integers(-3, 4, len(p)), unit="D")
        p["diagnosis_date"] += shift
        p["end_of_followup"] += shift
    out = {"patients": p.assign(patient_id=p["patient_id"].map(new_ids))}
    for name in ("stays", "dispensings"):
        child = train[name][train[name]["patient_id"].isin(new_ids)]
        out[name] = child.assign(patient_id=child["patient_id"].map(new_ids))
    return out


def _failed(checks: list[dict]) -> set[str]:
    return {c["name"] for c in checks if not c["passed"]}


def test_copula_replica_holds_no_one_passes_the_cell_attack_and_is_refused_only_for_wide_intervals(data):
    """The genuine copula replica: no copy, the cell-frequency attack's whole CI under 0.55 (the generator draws
    départements from each cancer's mix, not from each stratum's copula, which echoed its training patients'),
    and, at ~2,500 control patients, only amber checks (intervals crossing their limits) keep the default
    policy from releasing it. On the estimates, nothing fails."""
    _, train, control, replica = data
    risk, checks = assess(train, replica, control, POLICY, seed=0)
    assert risk["screen"]["replica_patients_copying_a_real_patient"] == 0
    assert risk["sizes"]["used"]["train"] >= 1000
    cell = next(c for c in checks if c["name"] == "membership_cell_frequency")
    assert cell["passed"] and cell["ci"][1] <= 0.55, cell
    assert all(c["status"] == "amber" for c in checks if not c["passed"])
    assert not _failed(measure_checks(risk, ON_ESTIMATE))
    for r in risk["singling_out"].values():  # enough queries were found: Anonymeter does not warn of an underestimate
        assert not [w for w in r["warnings"] if "underestimate" in w or "maximum number of attempts" in w]


def test_resampled_real_rows_fail_on_singling_out_linkability_and_copies(data):
    _, train, control, _ = data
    assert {"exact_copies", "patient_row_copies", "near_copies"} <= _failed(
        assess(train, _resampled(train, 4), control, POLICY, seed=0)[1])
    _, checks = assess(train, _resampled(train, 4), control, NO_SCREEN, seed=0)
    failed = _failed(checks)
    assert {"linkability", "dcr_closer_to_train", "replicated_uniques"} <= failed
    assert failed & {"singling_out_univariate", "singling_out_multivariate"}


def test_real_rows_with_small_noise_fail(data):
    _, train, control, _ = data
    noisy = _resampled(train, 5, noise=True)
    assert "near_copies" in _failed(assess(train, noisy, control, POLICY, seed=0)[1])
    _, checks = assess(train, noisy, control, NO_SCREEN, seed=0)
    assert {"linkability", "dcr_closer_to_train"} <= _failed(checks)


def test_release_bundle_verifies_and_any_change_is_detected(remediated, tmp_path):
    """The bundle of a release (here the remediated one below: one release serves both tests) verifies under its
    pinned key, and any change to it is caught."""
    bundle, pub, fingerprint, manifest, _ = remediated
    assert manifest["verdict"] == "released"
    assert {"synthetic/patients.parquet", "utility/utility.html", "risk/risk.html", "risk/risk.json",
            "policy.toml"} <= set(verify_bundle(bundle, pub)["files"])
    assert verify_bundle(bundle)["signer_fingerprint"] == fingerprint

    def tampered(change) -> str:
        copy = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(bundle, copy)
        change(copy)
        with pytest.raises(HarmonieError) as err:
            verify_bundle(copy, pub)
        return str(err.value)

    def flip(path):
        data_ = bytearray(path.read_bytes())
        data_[len(data_) // 2] ^= 1
        path.write_bytes(bytes(data_))

    assert "does not match its SHA-256" in tampered(lambda b: flip(b / "synthetic" / "stays.parquet"))
    assert "signature is not valid" in tampered(
        lambda b: (b / "manifest.json").write_text((b / "manifest.json").read_text().replace("released", "approved")))
    assert "does not list" in tampered(lambda b: (b / "synthetic" / "extra.csv").write_text("x"))
    assert "missing from the bundle" in tampered(lambda b: (b / "risk" / "risk.html").unlink())
    other, _ = new_signing_key(tmp_path / "other", PASSPHRASE)
    with pytest.raises(HarmonieError, match="not by the pinned key"):
        verify_bundle(bundle, other)


def test_gate_refuses_a_leaky_replica_and_writes_no_bundle(data, tmp_path):
    root, train, _, _ = data
    write_dataset(_resampled(train, 6), tmp_path / "leaky")
    new_signing_key(tmp_path / "k", PASSPHRASE)
    from privacy.release.signing import load_signing_key

    with pytest.raises(ReleaseRefused, match=r"exact_copies = [0-9.]+ \(limit ≤ 0\)"):
        release(tmp_path / "leaky", root / "train", root / "control", tmp_path / "bundle",
                signing_key=load_signing_key(tmp_path / "k", PASSPHRASE))
    assert not (tmp_path / "bundle").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle")]


def test_release_command_line_refuses_with_exit_3_and_verifies(data, tmp_path, monkeypatch):
    root, train, _, _ = data
    monkeypatch.setenv("HARMONIE_SIGNING_PASSPHRASE", PASSPHRASE)
    cli = app()
    assert CliRunner().invoke(cli, ["-q", "release", "keygen", "--out", str(tmp_path / "k")]).exit_code == 0
    write_dataset(_resampled(train, 7), tmp_path / "leaky")
    refused = CliRunner().invoke(cli, ["-q", "release", "--synthetic", str(tmp_path / "leaky"), "--real",
                                       str(root / "train"), "--control", str(root / "control"), "--signing-key",
                                       str(tmp_path / "k"), "--out", str(tmp_path / "b")])
    assert refused.exit_code == 3 and "exact_copies" in refused.output
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["refused"]  # its reports only, no bundle (#21)
    missing = CliRunner().invoke(cli, ["-q", "release", "--synthetic", str(tmp_path / "leaky")])
    assert missing.exit_code == 2 and "missing option(s) --real" in missing.output


def test_policy_file_is_validated(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text("[anonymeter]\nsingling_outt = 0.1\n")
    with pytest.raises(HarmonieError, match="unknown key anonymeter.singling_outt"):
        load_policy(bad)
    bad.write_text("[copies]\nmax_exact_copies = 'none'\n")
    with pytest.raises(HarmonieError, match="must be an integer"):
        load_policy(bad)
    good = tmp_path / "g.toml"
    good.write_text("[anonymeter]\ninference = 0.2\n")
    policy, digest = load_policy(good)
    assert policy["anonymeter"]["inference"] == 0.2 and policy["anonymeter"]["linkability"] == 0.05
    assert len(digest) == 64


def test_risk_report_is_written_and_reproducible(data, tmp_path):
    from privacy.risk.report import write_risk_report

    _, train, control, replica = data
    small = {**POLICY, "measurement": {**POLICY["measurement"], "n_attacks": 100, "attack_targets": 200,
                                       "max_rows": 1500}}
    documents = []
    for run in ("a", "b"):
        risk, checks = assess(train, replica, control, small, seed=7)
        write_risk_report(risk, checks, small, tmp_path / run)
        documents.append((tmp_path / run / "risk.json").read_text())
    assert documents[0] == documents[1]
    assert json.loads(documents[0])["sizes"]["used"]["train"] == 1500
    html = (tmp_path / "a" / "risk.html").read_text()
    assert "Anonymeter" in html and "data:image/png;base64," in html


@pytest.fixture(scope="module")
def remediated(data, tmp_path_factory):
    """A copula replica with 5% real training patients slipped in, released with --remediate under the open gate:
    (bundle, public key, its fingerprint, manifest, the slipped-in patients' ids)."""
    root, train, _, replica = data
    tmp_path = tmp_path_factory.mktemp("remediated")
    leaked = _resampled(train, 8)
    ids = set(leaked["patients"]["patient_id"].head(len(replica["patients"]) // 20))
    mixed = {name: pd.concat([frame, leaked[name][leaked[name]["patient_id"].isin(ids)].assign(
        patient_id=lambda f: "L" + f["patient_id"])], ignore_index=True) for name, frame in replica.items()}
    write_dataset(mixed, tmp_path / "mixed")
    pub, fingerprint = new_signing_key(tmp_path / "k", PASSPHRASE)
    from privacy.release.signing import load_signing_key

    key = load_signing_key(tmp_path / "k", PASSPHRASE)
    # the checks before remediation are those a release without --remediate would refuse on (same seed, same
    # assessment), so this one release shows both the refusal and the remediation
    manifest = release(tmp_path / "mixed", root / "train", root / "control", tmp_path / "bundle", signing_key=key,
                       remediate=True, policy_path=open_gate(tmp_path))
    return tmp_path / "bundle", pub, fingerprint, manifest, ids


def test_remediation_drops_copied_and_unique_patients_and_reports_before_and_after(remediated):
    """A copula replica with 5% real training patients slipped in fails on copies; --remediate removes them
    (and coarsens quasi-identifiers), measures again, releases, and the risk report shows both verdicts."""
    bundle, _, _, manifest, ids = remediated
    counts = manifest["remediation"]
    assert counts["dropped_copies"] + counts["dropped_replicated_uniques"] >= len(ids)
    assert counts["patients_out"] == counts["patients_in"] - counts["dropped_copies"] - counts[
        "dropped_replicated_uniques"]
    risk = json.loads((bundle / "risk" / "risk.json").read_text())
    assert "exact_copies" in {c["name"] for c in risk["before_remediation"]["checks"] if not c["passed"]}
    assert all(c["passed"] for c in risk["checks"])
    released = pd.read_parquet(bundle / "synthetic" / "patients.parquet")
    assert not released["patient_id"].str.startswith("L").any()  # every slipped-in real patient is gone
    assert (released["age_at_diagnosis"] % 5 == 0).all()
    assert (pd.to_datetime(released["diagnosis_date"]).dt.day == 1).all()
