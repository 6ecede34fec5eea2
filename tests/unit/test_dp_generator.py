"""The differentially private patient generator (``synth fit --generator mst``, synth/dp_patients.py).

A DP fit takes ~30 s here whatever the data size (private-pgm's estimation: thousands of small JAX
steps), so the default run fits one whole replica model at a small budget (epsilon 0.5); the comparison
with a large budget (epsilon 200) needs a second fit and is marked slow:
``pytest -m slow tests/unit/test_dp_generator.py``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import linked_extracts
from harmonie.cli import app
from harmonie.errors import HarmonieError, InvalidParameter
from linkage.datasets.reference import CANCER_SUBTYPES
from synth import model_store
from synth.analytic import build_analytic
from synth.constraints import check_constraints, check_replica
from synth.dataset import differential_privacy_of, read_provenance, write_dataset
from synth.dp_patients import AGE_BOUNDS, DPSettings, PublicBins, fit_dp_patients
from synth.replica import fit_model, replica_provenance, sample_model
from synth.schema import TABLES

SMALL_EPSILON, LARGE_EPSILON = 0.5, 200.0
QUASI_IDENTIFIERS = ["sex", "age_at_diagnosis", "departement", "diagnosis_date", "cancer_type", "stage"]


@pytest.fixture(scope="module")
def analytic(population):
    cohort, snds, links = linked_extracts(population)
    return build_analytic(links, cohort, snds, seed=3, control_fraction=0.4)


@pytest.fixture(scope="module")
def dp_model(analytic, tmp_path_factory):
    """A whole replica model whose patient table is (0.5, 1e-9)-DP."""
    out = tmp_path_factory.mktemp("dp-model")
    fit_model(analytic.train, out, generator="mst", seed=5, privacy=DPSettings(epsilon=SMALL_EPSILON))
    return out


@pytest.fixture(scope="module")
def weak_model(analytic):
    """A patient model alone at a large budget; its fit leaves numpy's global generator as it found it (the
    mechanism's own draws come from fresh entropy, not from a seed anyone could know)."""
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    model = fit_dp_patients(analytic.train["patients"], "mst", DPSettings(epsilon=LARGE_EPSILON))
    assert (np.random.get_state()[1] == before).all()
    return model


def analytic_dir(tmp_path, analytic):
    write_dataset(analytic.train, tmp_path / "train")
    return tmp_path / "train"


def _patient_model(model_dir):
    manifest, synthesizers = model_store.load(model_dir)
    return synthesizers[manifest["differential_privacy"]["file"]]


def test_dp_replica_follows_the_schema_and_every_constraint(dp_model, analytic):
    tables, manifest = sample_model(dp_model, 600, seed=1)
    assert manifest["generator"] == "mst" and len(tables["patients"]) == 600
    for name, frame in tables.items():
        assert list(frame.columns) == list(TABLES[name]) == list(analytic.train[name].columns)
    assert not any(check_constraints(tables).values()), check_constraints(tables)
    assert not check_replica(tables, manifest["training_incoherence"])
    p, real = tables["patients"], analytic.train["patients"]
    assert p["age_at_diagnosis"].between(*AGE_BOUNDS).all()
    assert p["diagnosis_date"].between(pd.Timestamp("2008-01-01"), pd.Timestamp("2025-12-31")).all()
    assert (p["end_of_followup"] <= pd.Timestamp("2025-12-31")).all()
    assert set(p["cancer_type"]) <= {"breast", "lung", "ovarian"} and p["stage"].isin([1, 2, 3, 4]).all()
    for cancer, subtypes in CANCER_SUBTYPES.items():  # the public coding: no lung histology on a breast cancer
        assert set(p.loc[p["cancer_type"] == cancer, "subtype"]) <= set(subtypes), cancer
    assert not ((p["cancer_type"] == "ovarian") & (p["sex"] == "M")).any()
    assert p["death_cause"].isna().eq(~p["death"]).all()
    assert p["patient_id"].str.startswith("S").all() and not set(p["patient_id"]) & set(real["patient_id"])
    assert len(tables["stays"]) > 0 and len(tables["dispensings"]) > 0  # the claims model conditions on them


def test_epsilon_delta_and_what_they_cover_are_recorded(dp_model, analytic, tmp_path):
    manifest = model_store.read_manifest(dp_model)
    dp = manifest["differential_privacy"]
    assert (dp["mechanism"], dp["epsilon"], dp["delta"]) == ("MST", SMALL_EPSILON, 1e-9)
    assert dp["public_bounds"]["budget_spent_on_bounds"] == 0 and "e^epsilon = 1.6" in dp["meaning"]
    assert "stays and dispensings" in dp["not_covered"] and "not differentially private" in dp["not_covered"]
    assert "diagnosis_date" in dp["covers"] and "n_stays" not in dp["covers"]
    assert "outcomes" not in manifest or manifest["outcomes"] is None  # no survival model fitted without noise
    assert "age_at_diagnosis" not in manifest["top_coding"]["bounds"]  # no real-data age bound either
    tables, manifest = sample_model(dp_model, 200, seed=2)
    write_dataset(tables, tmp_path / "replica", metadata=replica_provenance(manifest, 2))
    replica = read_provenance(tmp_path / "replica")["replica"]
    assert replica["differential_privacy"]["epsilon"] == SMALL_EPSILON
    assert replica["differential_privacy"]["not_covered"] == dp["not_covered"]
    # what `synth report` and `release` pass to the utility report beside its verdict
    assert differential_privacy_of(read_provenance(tmp_path / "replica")) == replica["differential_privacy"]
    assert differential_privacy_of(read_provenance(analytic_dir(tmp_path, analytic))) is None
    from synth.report.html_page import _differential_privacy

    assert "epsilon 0.5" in _differential_privacy(replica["differential_privacy"])


def test_sampling_is_reproducible_from_a_seed(dp_model):
    model = _patient_model(dp_model)
    first, again, other = model.sample(300, 7), _patient_model(dp_model).sample(300, 7), model.sample(300, 8)
    pd.testing.assert_frame_equal(first, again)
    assert not first.drop(columns="patient_id").equals(other.drop(columns="patient_id"))


def _matched(synthetic: pd.DataFrame, real: pd.DataFrame) -> int:
    """Synthetic rows equal to some real row on every quasi-identifier (exact date, age, place...)."""
    keys = real[QUASI_IDENTIFIERS].astype(str).agg("|".join, axis=1)
    return int(synthetic[QUASI_IDENTIFIERS].astype(str).agg("|".join, axis=1).isin(set(keys)).sum())


def test_a_small_budget_model_is_not_a_copy_of_its_training_patients(dp_model, analytic):
    real = analytic.train["patients"]
    control = analytic.control["patients"]  # real patients the model never saw: the rate of chance matches
    train = real.sample(len(control), random_state=0) if len(real) > len(control) else real
    synthetic = _patient_model(dp_model).sample(len(real), 3)
    assert _matched(train, train) == len(train)  # the measure sees copies
    on_train, on_control = _matched(synthetic, train), _matched(synthetic, control)
    assert on_train <= 2 * on_control + 5, (on_train, on_control)


@pytest.mark.slow  # a second DP fit (~30 s)
def test_utility_grows_with_the_budget(dp_model, weak_model, analytic):
    real = analytic.train["patients"]

    def tvd(p: pd.DataFrame, column: str) -> float:
        r, s = (f[column].astype(str).value_counts(normalize=True) for f in (real, p))
        return 0.5 * float(r.sub(s, fill_value=0).abs().sum())

    def distance(p: pd.DataFrame) -> float:  # the margins every mechanism measures first
        return tvd(p, "cancer_type") + tvd(p, "stage") + tvd(p, "sex") + abs(p["death"].mean() - real["death"].mean())

    # 5,000 draws each: the models' own errors, not the sampling noise of a draw, decide
    weak, strong = weak_model.sample(5000, 4), _patient_model(dp_model).sample(5000, 4)
    assert tvd(weak, "cancer_type") < 0.03, tvd(weak, "cancer_type")
    # at epsilon 0.5 each margin's counts carry noise of sd ~20 patients (~2% of these ~900 per category)
    assert distance(weak) < 0.06 and distance(weak) < distance(strong), (distance(weak), distance(strong))


@pytest.mark.parametrize("epsilon", [0, -1.0, math.nan, math.inf, "3"])
def test_a_bad_epsilon_is_refused(epsilon):
    with pytest.raises(InvalidParameter, match="epsilon"):
        DPSettings(epsilon=epsilon)


@pytest.mark.parametrize("args, message", [
    (["--generator", "mst", "--epsilon", "0"], "epsilon must be greater than 0"),
    (["--generator", "mst", "--epsilon", "-2"], "epsilon must be greater than 0"),
    (["--generator", "aim", "--epsilon", "nan"], "epsilon must be a finite number"),
    (["--generator", "mst"], "needs a privacy budget"),
    (["--generator", "mst", "--epsilon", "3", "--delta", "1"], "delta must lie strictly between 0 and 1"),
    (["--epsilon", "3"], "applies to the differentially private generators"),
    (["--generator", "mst", "--epsilon", "3", "--study-start", "2030-01-01"], "must end after it starts"),
])
def test_bad_privacy_options_are_one_line_errors(args, message, analytic, tmp_path):
    result = CliRunner().invoke(app(), ["--quiet", "synth", "fit", "--data", str(analytic_dir(tmp_path, analytic)),
                                              "--out", str(tmp_path / "model"), *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output, result.output
    assert not (tmp_path / "model").exists()


def test_data_outside_the_public_bounds_is_refused_without_its_value(analytic):
    patients = analytic.train["patients"].copy()
    bins = PublicBins.of(DPSettings(epsilon=1.0, study_start=pd.Timestamp("2012-01-01").date()))
    with pytest.raises(HarmonieError, match="outside the study window") as error:
        bins.encode(patients)
    assert str(patients["diagnosis_date"].min().date()) not in str(error.value)
    patients.loc[patients.index[0], "subtype"] = "made-up-subtype"
    with pytest.raises(HarmonieError, match="subtype or stage outside its public coding") as error:
        PublicBins.of(DPSettings(epsilon=1.0)).encode(patients)
    assert "made-up-subtype" not in str(error.value)


def test_the_public_bins_hold_every_real_patient_and_nothing_from_the_data(analytic):
    patients = analytic.train["patients"]
    settings = DPSettings(epsilon=1.0)
    bins = PublicBins.of(settings)
    assert bins.cardinalities == PublicBins.of(settings).cardinalities  # from the settings alone
    decoded = bins.decode(bins.encode(patients), np.random.default_rng(0))
    assert bins.possible(decoded).all()  # a real patient's bins always decode to a possible patient
    assert (decoded["cancer_type"].to_numpy() == patients["cancer_type"].to_numpy()).all()
    assert ((decoded["age_at_diagnosis"] - AGE_BOUNDS[0]) // 5
            == (patients["age_at_diagnosis"].clip(*AGE_BOUNDS) - AGE_BOUNDS[0]) // 5).all()
    assert (decoded["diagnosis_date"].dt.year == patients["diagnosis_date"].dt.year).all()
    assert json.dumps(bins.described())  # JSON-ready for the manifest


def test_follow_up_is_censored_at_the_end_of_the_study_window(analytic):
    patients = analytic.train["patients"]
    patients = patients[patients["diagnosis_date"] <= "2023-12-31"]
    bins = PublicBins.of(DPSettings(epsilon=1.0, study_end=pd.Timestamp("2023-12-31").date()))
    decoded = bins.decode(bins.encode(patients), np.random.default_rng(0))
    late = (patients["end_of_followup"] > "2023-12-31").to_numpy()
    assert late.any() and (decoded["end_of_followup"] <= "2023-12-31").all()
    assert not decoded.loc[late & (patients["end_of_followup"].to_numpy() > np.datetime64("2024-01-01")), "death"].any()
