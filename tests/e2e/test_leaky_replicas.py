"""The release gate cannot be walked past: every leaky replica a red team presented is refused.

An independent red-team run presented twelve leaky replicas to `harmonie release`; six were
released and signed because every check looked at a fixed-seed sample of ~2,000 rows per set
and nothing checked that control and training were disjoint. Each is rebuilt here from its
description (plus one the red team could not try: rows of a third real set) and must be
refused by the full-set screen, with nothing written.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from harmonie.errors import HarmonieError
from privacy.release.gate import ReleaseRefused, release, secret_seed
from privacy.release.policy import load_policy
from privacy.release.signing import load_signing_key, new_signing_key
from privacy.risk.copies import CopyTolerance, prepare, screen_copies
from privacy.risk.features import subsample
from synth.dataset import write_dataset
from synth.replica import sample_model

PASSPHRASE = "release signing passphrase for leak tests"
CLAIMS = {"stays": ("admission_date", "discharge_date"), "dispensings": ("dispensing_date",)}


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    path = tmp_path_factory.mktemp("key") / "signer"
    new_signing_key(path, PASSPHRASE)
    return load_signing_key(path, PASSPHRASE)


def _take(data: dict, ids, prefix: str) -> dict:
    """The patients ``ids`` of ``data`` (in that order) with their claims, under new ids ``prefix0..``."""
    ids = list(ids)
    new = {old: f"{prefix}{i:07d}" for i, old in enumerate(ids)}
    p = data["patients"].set_index("patient_id").loc[ids].reset_index()
    out = {"patients": p.assign(patient_id=p["patient_id"].map(new))}
    for name in CLAIMS:
        child = data[name][data[name]["patient_id"].isin(new)]
        out[name] = child.assign(patient_id=child["patient_id"].map(new)).reset_index(drop=True)
    return out


def _concat(*parts: dict) -> dict:
    return {name: pd.concat([p[name] for p in parts], ignore_index=True) for name in parts[0]}


def _shift_dates(data: dict, days) -> dict:
    """Every date of every patient moved by ``days`` (one number, or one per patient row)."""
    shift = pd.Series(pd.to_timedelta(np.broadcast_to(days, len(data["patients"])), unit="D"),
                      index=data["patients"]["patient_id"].to_numpy())
    p = data["patients"].copy()
    for column in ("diagnosis_date", "end_of_followup"):
        p[column] = p[column] + shift.to_numpy()
    out = {"patients": p}
    for name, columns in CLAIMS.items():
        child = data[name].copy()
        for column in columns:
            child[column] = child[column] + child["patient_id"].map(shift).to_numpy()
        out[name] = child
    return out


def _ids(data: dict) -> pd.Series:
    return data["patients"]["patient_id"]


def _with_real_share(replica: dict, real: dict, share: float, seed: int, shift_days: int = 0) -> dict:
    """The replica with ``share`` of its patients replaced by real ones (dates optionally shifted)."""
    n = int(round(share * len(replica["patients"])))
    real_ids = _ids(real).sample(n, random_state=seed)
    leaked = _shift_dates(_take(real, real_ids, "L"), shift_days)
    kept = _take(replica, _ids(replica).iloc[n:], "S")
    return _concat(kept, leaked)


def _outside_old_sample(replica: dict, train: dict, control: dict) -> dict:
    """74% verbatim training rows, at the rows the wave-1 gate's fixed-seed subsample never looked at."""
    n = min(len(train["patients"]), len(control["patients"]))
    looked = set(subsample(replica["patients"].reset_index(), n, 1)["index"])  # seed 0 + 1, as the old gate drew
    unseen = [i for i in range(len(replica["patients"])) if i not in looked]
    leak = unseen[:int(0.74 * len(replica["patients"]))]
    real = _take(train, _ids(train).iloc[:len(leak)], "L")
    real["patients"].index = leak  # each real row takes the place of one the old sample skipped
    kept = replica["patients"].drop(index=replica["patients"].index[leak])
    dropped = set(replica["patients"]["patient_id"].iloc[leak])
    out = {"patients": pd.concat([kept, real["patients"]]).sort_index().reset_index(drop=True)}
    for name in CLAIMS:
        out[name] = pd.concat([replica[name][~replica[name]["patient_id"].isin(dropped)], real[name]],
                              ignore_index=True)
    return out


def _real_patients_synthetic_claims(replica: dict, train: dict) -> dict:
    """Real training patient rows (every column) given the replica's claims."""
    n = min(len(train["patients"]), len(replica["patients"]))
    real = _take(train, _ids(train).iloc[:n], "S")
    return {"patients": real["patients"], **{name: _take(replica, _ids(replica).iloc[:n], "S")[name] for name in CLAIMS}}


def _synthetic_patients_real_claims(replica: dict, train: dict) -> dict:
    """The replica's patients carrying real patients' care trajectories, re-dated to each synthetic diagnosis."""
    n = min(len(train["patients"]), len(replica["patients"]))
    synthetic = _take(replica, _ids(replica).iloc[:n], "S")
    real = _take(train, _ids(train).iloc[:n], "S")  # same new ids: synthetic S000k receives real patient k's care
    offset = (synthetic["patients"]["diagnosis_date"] - real["patients"]["diagnosis_date"]).dt.days.to_numpy()
    moved = _shift_dates(real, offset)
    return {"patients": synthetic["patients"], **{name: moved[name] for name in CLAIMS}}


@pytest.fixture(scope="module")
def leaky(release_data, tmp_path_factory):
    """Every leaky replica written to its own folder: {name: folder}."""
    root, train, control, replica = release_data
    big, _ = sample_model(root / "model", 60_000, seed=9)
    cases = {
        "control_patients_as_replica": _take(control, _ids(control), "S"),
        "74pct_training_rows_outside_the_old_sample": _outside_old_sample(replica, train, control),
        "40_real_rows_in_60000": _concat(_take(big, _ids(big).iloc[40:], "S"), _take(train, _ids(train)[:40], "L")),
        "5pct_real_rows_dates_shifted_1_day": _with_real_share(replica, train, 0.05, seed=1, shift_days=1),
        "20pct_real_rows_dates_shifted_1_day": _with_real_share(replica, train, 0.20, seed=2, shift_days=1),
        "training_set_as_replica": _take(train, _ids(train), "S"),
        "bootstrap_of_training_rows": _take(train, _ids(train).sample(frac=1.0, replace=True, random_state=3)
                                            .drop_duplicates(), "S"),
        "training_rows_dates_within_3_days": _shift_dates(
            _take(train, _ids(train), "S"), np.random.default_rng(4).integers(-3, 4, len(train["patients"]))),
        "half_training_half_control": _concat(_take(train, _ids(train)[:1000], "A"),
                                              _take(control, _ids(control)[:1000], "B")),
        "real_patient_rows_with_synthetic_claims": _real_patients_synthetic_claims(replica, train),
        "synthetic_patients_with_real_claims": _synthetic_patients_real_claims(replica, train),
    }
    folder = tmp_path_factory.mktemp("leaky")
    for name, data in cases.items():
        write_dataset(data, folder / name)
    return folder, list(cases)


LEAKS = ["control_patients_as_replica", "74pct_training_rows_outside_the_old_sample", "40_real_rows_in_60000",
         "5pct_real_rows_dates_shifted_1_day", "20pct_real_rows_dates_shifted_1_day", "training_set_as_replica",
         "bootstrap_of_training_rows", "training_rows_dates_within_3_days", "half_training_half_control",
         "real_patient_rows_with_synthetic_claims", "synthetic_patients_with_real_claims"]


@pytest.mark.parametrize("case", LEAKS)
def test_each_leaky_replica_is_refused_and_nothing_is_written(case, leaky, release_data, key, tmp_path):
    folder, names = leaky
    assert set(names) == set(LEAKS)
    root = release_data[0]
    with pytest.raises(ReleaseRefused, match="copies = [1-9]") as refused:
        release(folder / case, root / "train", root / "control", tmp_path / "bundle", signing_key=key)
    assert refused.value.risk["screen"]["replica_patients_copying_a_real_patient"] > 0
    assert refused.value.risk["measured"] is False
    assert not (tmp_path / "bundle").exists() and not list(tmp_path.iterdir())


def test_forty_copies_in_sixty_thousand_are_all_found(leaky, release_data, key, tmp_path):
    """Not a sample: each of the 40 real rows is found, none of the 59,960 synthetic ones is taken for a copy."""
    folder, _ = leaky
    root = release_data[0]
    with pytest.raises(ReleaseRefused) as refused:
        release(folder / "40_real_rows_in_60000", root / "train", root / "control", tmp_path / "b", signing_key=key)
    assert refused.value.risk["screen"]["copies"]["exact"] == 40
    assert refused.value.risk["screen"]["replica_patients_copying_a_real_patient"] == 40


def test_control_pointed_at_the_training_set_is_refused(release_data, key, tmp_path):
    root = release_data[0]
    with pytest.raises(HarmonieError, match="same folder"):
        release(root / "replica", root / "train", root / "train", tmp_path / "bundle", signing_key=key)
    shutil.copytree(root / "train", tmp_path / "train_copy")  # the same patients under another path
    with pytest.raises(ReleaseRefused, match=r"control_disjoint_from_training = [1-9]"):
        release(root / "replica", root / "train", tmp_path / "train_copy", tmp_path / "bundle", signing_key=key)
    assert not (tmp_path / "bundle").exists()


def test_rows_of_another_real_set_are_refused_when_it_is_given(release_data, key, tmp_path):
    """Real patients the gate would not otherwise see (here: control patients passed as a third real set while a
    disjoint slice of control serves as the control set) are refused once the set is named with also_real."""
    root, train, control, replica = release_data
    ids = _ids(control)
    write_dataset(_take(control, ids[:1200], "C"), tmp_path / "control_part")
    other = _take(control, ids[1200:], "O")
    write_dataset(other, tmp_path / "other_real")
    write_dataset(_concat(_take(replica, _ids(replica)[50:], "S"), _take(other, _ids(other)[:50], "L")),
                  tmp_path / "replica")
    with pytest.raises(ReleaseRefused, match="exact_copies = 50"):
        release(tmp_path / "replica", root / "train", tmp_path / "control_part", tmp_path / "bundle",
                signing_key=key, also_real=[tmp_path / "other_real"])
    assert not (tmp_path / "bundle").exists()


def test_the_genuine_replica_holds_no_copy_even_with_wide_tolerances(release_data):
    """The screen's false alarms: none on the copula replica, even at 10x the default tolerances."""
    _, train, control, replica = release_data
    wide = CopyTolerance(days=30, age_years=3, counts=3, min_trajectory_events=3)
    found = screen_copies(prepare("replica", replica, wide),
                          [prepare("training", train, wide), prepare("control", control, wide)], wide)
    assert found["replica_patients_copying_a_real_patient"] == 0, found["by_real_set"]


def test_measurement_seed_is_secret_but_reproducible(tmp_path):
    """Where the sampled measures look depends on the signing key and the inputs: the replica's maker cannot
    predict it, and the same inputs and key give the same seed (so a bundle can be reproduced)."""
    for name in ("a", "b"):
        new_signing_key(tmp_path / name, PASSPHRASE)
    a, b = (load_signing_key(tmp_path / n, PASSPHRASE) for n in ("a", "b"))
    inputs = {"synthetic": {"patients.parquet": "0" * 64}}
    assert secret_seed(a, inputs) == secret_seed(a, inputs)
    assert secret_seed(a, inputs) != secret_seed(b, inputs)
    assert secret_seed(a, inputs) != secret_seed(a, {"synthetic": {"patients.parquet": "1" * 64}})
    assert 0 <= secret_seed(a, inputs) < 2 ** 31


def test_policy_no_longer_takes_a_fixed_seed(tmp_path):
    fixed = tmp_path / "p.toml"
    fixed.write_text("[measurement]\nseed = 0\n")
    with pytest.raises(HarmonieError, match="unknown key measurement.seed"):
        load_policy(fixed)


def test_release_command_refuses_a_copy_of_control_with_exit_3(leaky, release_data, tmp_path, monkeypatch):
    folder, _ = leaky
    root = release_data[0]
    monkeypatch.setenv("HARMONIE_SIGNING_PASSPHRASE", PASSPHRASE)
    cli = app()
    assert CliRunner().invoke(cli, ["-q", "release", "keygen", "--out", str(tmp_path / "k")]).exit_code == 0
    result = CliRunner().invoke(cli, ["-q", "release", "--synthetic", str(folder / "control_patients_as_replica"),
                                      "--real", str(root / "train"), "--control", str(root / "control"),
                                      "--signing-key", str(tmp_path / "k"), "--out", str(tmp_path / "b")])
    assert result.exit_code == 3 and "exact_copies" in result.output
    # only the refusal's risk report: no bundle, no replica row, and no utility report (it would show the copied
    # patients' values)
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["refused"]
    written = {p.relative_to(tmp_path / "b" / "refused").as_posix() for p in (tmp_path / "b" / "refused").rglob("*")
               if p.is_file()}
    assert "risk/risk.json" in written and not any(n.endswith(".parquet") or n.startswith("utility") for n in written)
