"""Replicas keep clinical inference: hazard ratios planted into a training set are recovered from the replica.

The effects are planted with :func:`synth.planted.plant_effects`, which redraws survival from the
dataset's own Kaplan–Meier baseline: the generator is checked on effects it was not built around.
A generator that ignores the covariates (the previous design: survival from strata only) is the
negative control, and the same check must fail it.
"""

from __future__ import annotations

import copy

import pytest

from linkage.datasets import make_population
from synth.analytic import build_analytic
from synth.care_rules import incoherent_claims
from synth.outcomes import sample_outcomes
from synth.planted import PlantedEffect, plant_effects, recovery
from synth.replica import fit_model, sample_model
from conftest import linked_extracts

EFFECTS = [
    PlantedEffect("breast", "subtype=triple-negative", 1.8),
    PlantedEffect("breast", "radiotherapy", 0.85),
    PlantedEffect("breast", "hormone_therapy", 0.6),
    PlantedEffect("breast", "targeted_therapy", 0.5),
    PlantedEffect("breast", "surgery", 0.55),
    PlantedEffect("breast", "chemotherapy", 0.75),
    PlantedEffect("lung", "surgery", 0.5),
    PlantedEffect("lung", "subtype=small-cell", 1.7),
    PlantedEffect("lung", "male", 1.3),
    PlantedEffect("lung", "radiotherapy", 0.8),
]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    cohort, snds, links = linked_extracts(make_population(7000, 12000, seed=21))
    analytic = build_analytic(links, cohort, snds, seed=2, control_fraction=0.0)
    train = plant_effects(analytic.train, EFFECTS, seed=4)
    out = tmp_path_factory.mktemp("planted-model")
    model = fit_model(train, out, seed=1)
    tables, _ = sample_model(out, seed=2)
    return train, tables, model.manifest


def test_planted_hazard_ratios_are_real_in_the_training_set(planted):
    train, _, _ = planted
    table = recovery(train["patients"], train["patients"], EFFECTS)
    # the planting worked: a Cox model on the training set finds the planted log-HRs within its 95% CIs
    # (HER2+ is not planted: nearly every HER2+ patient has a targeted therapy, the two are not separable)
    inside = (table["synthetic_lower"] <= table["planted"]) & (table["planted"] <= table["synthetic_upper"])
    assert inside.sum() >= len(table) - 1, table


def test_replica_recovers_every_planted_hazard_ratio(planted):
    train, tables, _ = planted
    table = recovery(train["patients"], tables["patients"], EFFECTS)
    assert table["covered"].mean() >= 0.9, table
    assert table["same_direction"].all(), table


def test_a_generator_that_ignores_covariates_fails_the_same_check(planted):
    train, tables, manifest = planted
    flat = copy.deepcopy(manifest["outcomes"])
    for fitted in flat["survival"].values():
        fitted["coefficients"] = {}
    baseline = tables["patients"].drop(columns=["death", "death_cause", "end_of_followup", "followup_days"])
    ignored = sample_outcomes(flat, baseline, seed=2)
    table = recovery(train["patients"], ignored, EFFECTS)
    assert table["covered"].mean() < 0.5, table


def test_replica_claims_are_no_less_coherent_with_treatments_than_the_training_set(planted):
    train, tables, _ = planted
    real, synthetic = incoherent_claims(train), incoherent_claims(tables)
    for rule, count in synthetic.items():
        if real[rule] == 0:
            assert count == 0, rule
    nights = (tables["stays"]["discharge_date"] - tables["stays"]["admission_date"]).dt.days
    sessions = tables["stays"]["main_diagnosis"].isin(["Z511", "Z510"])
    assert sessions.any() and (nights[sessions] == 0).all()
