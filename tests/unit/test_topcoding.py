"""Top- and bottom-coding (#15 item 2): no replica value in a tail that fewer than k real patients reach."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmonie.errors import InvalidParameter
from synth.analytic import build_analytic
from synth.replica import fit_model, sample_model
from synth.schema import PATIENT_ID
from synth.topcoding import TopCoding, code_training, safe_bounds

from conftest import linked_extracts

K = 11


def test_safe_bounds_are_the_most_extreme_values_k_patients_hold():
    values = pd.Series(np.r_[np.arange(1, 6), np.full(11, 6), np.full(30, 50), np.full(11, 90), [95, 99]])
    assert safe_bounds(values, None, K) == (6.0, 90.0)  # 1..5, 95 and 99 are held by one patient each
    # per patient: one patient with many rows of a value is one holder
    owners = pd.Series([0] * 20 + list(range(1, 12)))
    assert safe_bounds(pd.Series(np.r_[np.full(20, 500), np.full(11, 7)]), owners, K) == (7.0, 7.0)
    assert safe_bounds(pd.Series([3.0, 4.0]), None, K) == (3.5, 3.5)  # too few: the median, nothing extreme


@pytest.mark.parametrize("bad", [-1, 2.5, True, "11"])
def test_k_must_be_a_whole_number(bad):
    with pytest.raises(InvalidParameter, match="top-coding k"):
        TopCoding(bad)


def _tails(real: dict, bounds: dict) -> dict[str, tuple[float, float]]:
    return {name: tuple(bounds[name]) for name in ("age_at_diagnosis", "n_stays", "n_dispensings",
                                                   "length_of_stay", "quantity")}


def _values(tables: dict) -> dict[str, pd.Series]:
    stays = tables["stays"]
    return {"age_at_diagnosis": tables["patients"]["age_at_diagnosis"],
            "n_stays": tables["patients"]["n_stays"], "n_dispensings": tables["patients"]["n_dispensings"],
            "length_of_stay": (stays["discharge_date"] - stays["admission_date"]).dt.days,
            "quantity": pd.to_numeric(tables["dispensings"]["quantity"])}


@pytest.fixture(scope="module")
def fitted(population, tmp_path_factory):
    cohort, snds, links = linked_extracts(population)
    train = build_analytic(links, cohort, snds, seed=3, control_fraction=0.2).train
    models = {}
    for k in (K, 0):
        models[k] = tmp_path_factory.mktemp(f"model{k}")
        fit_model(train, models[k], seed=5, top_coding=TopCoding(k))
    return train, models


def test_a_coded_replica_holds_no_value_in_a_tail_fewer_than_k_real_patients_reach(fitted):
    train, models = fitted
    _, bounds = code_training(train, TopCoding(K))
    tables, manifest = sample_model(models[K], 3 * len(train["patients"]), seed=2)
    assert manifest["top_coding"] == {"k": K, "bounds": bounds}
    real = _values(train)
    for name, (lo, hi) in _tails(train, bounds).items():
        synthetic = _values(tables)[name]
        assert synthetic.max() <= hi, name
        if name == "age_at_diagnosis":
            assert synthetic.min() >= lo
        # each bound is a value k real patients or more hold exactly
        owners = train["patients"][PATIENT_ID] if name in ("age_at_diagnosis", "n_stays", "n_dispensings") else \
            train["stays" if name == "length_of_stay" else "dispensings"][PATIENT_ID]
        frame = pd.DataFrame({"v": real[name].to_numpy(), "o": owners.to_numpy()})
        assert frame.loc[frame["v"] == hi, "o"].nunique() >= K, name


def test_without_coding_the_replica_reproduces_real_tails(fitted):
    """The negative control: the same model uncoded puts replica values beyond the bounds, where fewer than k real
    patients are (the test above could fail)."""
    train, models = fitted
    _, bounds = code_training(train, TopCoding(K))
    tables, manifest = sample_model(models[0], 3 * len(train["patients"]), seed=2)
    assert manifest["top_coding"] == {"k": 0, "bounds": {}}
    beyond = [name for name, (lo, hi) in _tails(train, bounds).items()
              if (_values(tables)[name] > hi).any() or (name == "age_at_diagnosis" and (_values(tables)[name] < lo).any())]
    assert len(beyond) >= 3, beyond


def test_coding_keeps_what_the_replica_must_keep(fitted):
    """Coding moves few patients: the replica's mean age and mean number of stays stay near the real ones."""
    train, models = fitted
    tables, _ = sample_model(models[K], len(train["patients"]), seed=3)
    real, synthetic = train["patients"], tables["patients"]
    assert abs(synthetic["age_at_diagnosis"].mean() - real["age_at_diagnosis"].mean()) < 1.5
    assert abs(synthetic["n_stays"].mean() / real["n_stays"].mean() - 1) < 0.15
