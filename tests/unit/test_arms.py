"""External control arms (issue #20): eligibility, balance, the planted effect, calibration, disclosure, outputs.

One small lung-heavy world (6,000 cohort patients, truth links) split in halves: ``train`` is the
warehouse, ``control`` the part of the world simulated trials are drawn from. Real lifelines,
scikit-learn and SDV throughout; the negative controls are analyses that must fail the same checks
(no balancing: biased, type I error far outside the bounds, the warning fires).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import linked_extracts
from harmonie.cli import app
from harmonie.errors import HarmonieError
from linkage.datasets import make_population
from linkage.datasets.params import PopulationParams
from privacy.disclosure import DisclosureRule, RealColumn, RealSurvival, scan_folder, scan_report, step_counts
from synth.analytic import build_analytic
from synth.arms import (
    Analysis,
    CalibrationSettings,
    TrialDesign,
    balance_arms,
    build_arm,
    build_cohort,
    calibrate_arms,
    covariate_terms,
    example_eligibility_text,
    hazard_ratio,
    parse_arm_spec,
    simulate_trial,
    smd_table,
    write_arm,
)
from synth.arms.trial import draw_trial, enrolment_probabilities, with_effect
from synth.dataset import read_dataset, write_dataset

SPEC_TEXT = example_eligibility_text().replace("bootstrap = 200", "bootstrap = 20")  # RMST interval: fewer replicates
SPEC = parse_arm_spec(SPEC_TEXT)
RULE = DisclosureRule()
cli = app()


def run(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(root, train, control): the two halves of one world, also written as analytic folders."""
    params = dataclasses.replace(PopulationParams(), cohort_cancer_mix=(0.35, 0.6, 0.05))
    cohort, snds, links = linked_extracts(make_population(6000, 9600, seed=20, params=params))
    analytic = build_analytic(links, cohort, snds, seed=3, control_fraction=0.5)
    root = tmp_path_factory.mktemp("arms-world")
    write_dataset(analytic.train, root / "train")
    write_dataset(analytic.control, root / "control")
    (root / "elig.toml").write_text(SPEC_TEXT, encoding="utf-8")
    return root, analytic.train, analytic.control


@pytest.fixture(scope="module")
def trial_folder(world):
    """A simulated trial (θ = 0.7, 120 patients, confounded enrolment) drawn from the control half."""
    root = world[0]
    result = run("arm", "simulate-trial", "--source", root / "control", "--eligibility", root / "elig.toml",
                 "--out", root / "trial", "--size", 120, "--hazard-ratio", 0.7, "--seed", 1)
    assert result.exit_code == 0, result.output
    return root / "trial"


# --- eligibility --------------------------------------------------------------------------------------

def test_the_spec_is_typed_and_frozen():
    assert SPEC.eligibility.cancer == "lung" and SPEC.eligibility.stages == (3, 4)
    assert SPEC.index.date == "first_care" and SPEC.index.care == ("chemotherapy_session",)
    assert SPEC.analysis.method == "weight" and SPEC.min_cell == 11 and SPEC.reads_claims
    with pytest.raises(dataclasses.FrozenInstanceError):
        SPEC.eligibility.cancer = "breast"  # type: ignore[misc]


def _independent_eligibility(tables: dict) -> pd.Series:
    """The example spec re-implemented directly on the codes (Z51.1 sessions, ATC L01E/L01F/L01XK): index date of
    each eligible patient."""
    p = tables["patients"].set_index("patient_id")
    ok = ((p["cancer_type"] == "lung") & p["subtype"].isin(["adenocarcinoma", "squamous", "other-nsclc"])
          & p["stage"].isin([3, 4]) & p["age_at_diagnosis"].between(18, 85) & p["chemotherapy"]
          & ~p["targeted_therapy"])
    stays = tables["stays"]
    sessions = stays[stays["main_diagnosis"].astype(str).str.replace(".", "", regex=False) == "Z511"]
    sessions = sessions[sessions["admission_date"] >= sessions["patient_id"].map(p["diagnosis_date"])]
    index = sessions.groupby("patient_id")["admission_date"].min().reindex(p.index)
    ok &= (index - p["diagnosis_date"]).dt.days <= 180
    ok &= p["end_of_followup"] > index
    d = tables["dispensings"]
    targeted = d[d["atc_code"].astype(str).str.match(r"^(L01E|L01F|L01XK)")]
    at = targeted["patient_id"].map(index)
    exposed = targeted.loc[(targeted["dispensing_date"] <= at) & (targeted["dispensing_date"] >= at
                                                                     - pd.Timedelta(days=180)), "patient_id"]
    ok &= ~p.index.isin(exposed)
    return index[ok.fillna(False)]


def test_eligibility_selects_exactly_the_patients_the_criteria_describe(world):
    _, train, _ = world
    cohort = build_cohort(train, SPEC, what="warehouse")
    expected = _independent_eligibility(train)
    got = cohort.patients.set_index("patient_id")
    assert len(got) > 300 and set(got.index) == set(expected.index)
    assert (got["index_date"] == expected.reindex(got.index)).all()
    assert (got["time_days"] > 0).all() and (got["days_to_index"].between(0, 180)).all()
    counts = [n for _, n in cohort.attrition]
    assert counts[0] == len(train["patients"]) and counts[-1] == len(got) and counts == sorted(counts, reverse=True)


def test_an_index_at_diagnosis_needs_no_claims(world):
    _, train, _ = world
    spec = parse_arm_spec('[eligibility]\ncancer = "lung"\nstages = [1, 2]\n[index]\ndate = "diagnosis"\n')
    assert not spec.reads_claims
    cohort = build_cohort({"patients": train["patients"]}, spec)
    p = cohort.patients
    assert len(p) > 50 and (p["index_date"] == p["diagnosis_date"]).all() and (p["days_to_index"] == 0).all()
    assert set(p["stage"]) <= {1, 2} and (p["cancer_type"] == "lung").all()
    with pytest.raises(HarmonieError, match="no stays table"):
        build_cohort({"patients": train["patients"]}, SPEC)


# --- balance -------------------------------------------------------------------------------------------

def _confounded(world, strength: float = 1.0, size: int = 150):
    """Trial: patients of the control half drawn with a strong preference for the young and early stages;
    controls: the warehouse's eligible patients."""
    _, train, control = world
    pool = build_cohort(control, SPEC).patients
    design = TrialDesign(size=size, hazard_ratio=1.0, age_log_odds_per_10y=-strength, stage_log_odds=-strength)
    trial = draw_trial(pool, enrolment_probabilities(pool, design), size, np.random.default_rng(5))
    return trial, build_cohort(train, SPEC).patients


@pytest.mark.parametrize("method, weights", [("match", "att"), ("weight", "att"), ("weight", "overlap")])
def test_balancing_brings_every_smd_under_0_1_where_the_raw_arms_differ(world, method, weights):
    trial, control = _confounded(world)
    analysis = Analysis(covariates=SPEC.analysis.covariates, method=method, weights=weights, neighbours=2)
    terms = covariate_terms(trial, control, analysis.covariates)
    balanced = balance_arms(trial, control, analysis, terms, seed=0)
    table = {r["term"]: r for r in smd_table(trial, control, terms, balanced)}
    assert abs(table["age_at_diagnosis"]["before"]["smd"]) > 0.2 and abs(table["stage=4"]["before"]["smd"]) > 0.2
    after = [abs(r["after"]["smd"]) for r in table.values() if r["after"]["smd"] is not None]
    assert len(after) == len(table) and max(after) < 0.1, table
    if weights == "overlap":  # logistic regression's score equations: overlap weights balance every mean exactly
        assert max(after) < 0.01
    if method == "match":  # without replacement: each control in one matched set, at most 2 per trial patient
        sets = balanced.control_set[balanced.control_set >= 0]
        assert balanced.trial_kept >= 120 and np.bincount(sets).max() <= 2
        assert balanced.controls_used == len(sets) and set(sets) == set(np.flatnonzero(balanced.trial_set >= 0))


def test_no_balancing_leaves_the_arms_as_they_were(world):
    trial, control = _confounded(world)
    terms = covariate_terms(trial, control, SPEC.analysis.covariates)
    none = balance_arms(trial, control, Analysis(method="none"), terms)
    table = smd_table(trial, control, terms, none)
    assert all(r["after"]["smd"] == pytest.approx(r["before"]["smd"]) for r in table if r["before"]["smd"])


# --- the planted effect ---------------------------------------------------------------------------------

def test_the_drug_effect_is_a_time_scaling_censored_at_the_study_end():
    frame = pd.DataFrame({"time_days": [100.0, 400.0, 50.0], "event": [True, True, False],
                          "potential_days": [1000.0, 500.0, 900.0]})
    out = with_effect(frame, 0.5)
    assert out["time_days"].tolist() == [200.0, 500.0, 50.0] and out["event"].tolist() == [True, False, False]
    with pytest.raises(HarmonieError, match=r"\(0, 1\]"):
        with_effect(frame, 1.5)


def test_the_balanced_hazard_ratio_recovers_a_planted_effect_and_the_unadjusted_one_does_not(world):
    _, train, control = world
    design = TrialDesign(size=250, hazard_ratio=0.5, age_log_odds_per_10y=-1.2, stage_log_odds=-1.2)
    trial, _ = simulate_trial(control, SPEC, design, seed=2)
    result = build_arm(trial, train, SPEC, seed=0)
    hr = result.hazard_ratio
    assert hr.problem is None and hr.upper < 1  # the effect is found
    assert abs(hr.log_hr - math.log(0.5)) < 2.5 * hr.se, hr  # and its size, within the noise
    # the same trial against itself with no drug: the unadjusted comparison finds a "benefit" the drug never gave
    null, _ = simulate_trial(control, SPEC, dataclasses.replace(design, hazard_ratio=1.0), seed=2)
    null_result = build_arm(null, train, SPEC, seed=0)
    assert null_result.unadjusted.log_hr < null_result.hazard_ratio.log_hr - 0.15
    assert null_result.hazard_ratio.lower < 1 < null_result.hazard_ratio.upper


# --- calibration and its negative control -----------------------------------------------------------------

def test_calibration_flags_the_unbalanced_arm_builder_and_not_the_balanced_one(world):
    _, train, control = world
    settings = CalibrationSettings(trials=16, hazard_ratios=(1.0,), trial_size=60, control_size=150,
                                   age_log_odds_per_10y=-1.5, stage_log_odds=-1.5, seed=4)
    broken = dataclasses.replace(SPEC, analysis=Analysis(covariates=SPEC.analysis.covariates, method="none",
                                                         adjust=False))
    cal = calibrate_arms(train, control, broken, settings)
    rows = {r["analysis"]: r for r in cal.summary}
    # the broken builder's own ("balanced") analysis is the unadjusted one: biased, rejecting a null drug often
    assert rows["balanced"]["rejection"] > 0.3 and rows["balanced"]["bias_log_hr"] < -0.25
    assert any("type I error" in w and "real control arms" in w for w in cal.warnings), cal.warnings
    good = calibrate_arms(train, control, SPEC, settings)
    g = {r["analysis"]: r for r in good.summary}
    assert abs(g["balanced"]["bias_log_hr"]) < abs(g["unadjusted"]["bias_log_hr"]) / 2
    assert g["balanced"]["rejection"] < g["unadjusted"]["rejection"]
    assert g["unadjusted"]["rejection"] == rows["balanced"]["rejection"]  # same trials, same draws: same numbers
    assert good.truth == {1.0: 0.0} and set(good.trials["source"]) == {"real"}


def test_calibration_refuses_trials_drawn_from_the_warehouse_itself(world):
    _, train, _ = world
    with pytest.raises(HarmonieError, match="both in the trial source and in the warehouse"):
        calibrate_arms(train, train, SPEC, CalibrationSettings(trials=1))


@pytest.mark.slow
def test_replica_arms_are_calibrated_beside_real_ones(world, tmp_path):
    from synth.replica import fit_model, sample_model

    _, train, control = world
    fit_model(train, tmp_path / "model", seed=0)
    replica, _ = sample_model(tmp_path / "model", seed=1)
    cal = calibrate_arms(train, control, SPEC, CalibrationSettings(trials=40, trial_size=60, control_size=150),
                         replica=replica)
    assert {r["source"] for r in cal.summary} == {"real", "replica"}
    assert all("rejection" in r for r in cal.summary)


# --- the report: disclosure, determinism, outputs -------------------------------------------------------

@pytest.fixture(scope="module")
def small_arm(world, tmp_path_factory):
    """An arm of a 40-patient trial: small enough that several cells would hold 1 to 10 patients."""
    root, train, control = world
    trial, _ = simulate_trial(control, SPEC, TrialDesign(size=40, hazard_ratio=0.7), seed=3)
    result = build_arm(trial, train, dataclasses.replace(
        SPEC, analysis=dataclasses.replace(SPEC.analysis, method="match", neighbours=2)), seed=0)
    out = tmp_path_factory.mktemp("small-arm") / "arm"
    document = write_arm(result, out)
    return out, document, result


COUNT_KEYS = ("patients", "excluded", "deaths", "n")


def _counts(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _counts(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _counts(value, f"{path}/{i}")
    elif isinstance(node, int) and not isinstance(node, bool):
        yield path, node


def test_the_report_shows_no_small_count_and_passes_the_disclosure_scan(small_arm):
    out, document, result = small_arm
    report = out / "report"
    b = result.balanced
    columns = {"propensity_score_trial": RealColumn(pd.Series(b.trial_score)),
               "propensity_score_control": RealColumn(pd.Series(b.control_score))}
    assert scan_folder(report, RULE, columns=columns) == []
    arrays = {"trial": (result.trial.patients, b.trial_weight),
              "control_before": (result.control.patients, np.ones(len(result.control.patients))),
              "control_balanced": (result.control.patients, b.control_weight)}
    for key, entry in document["outcome"]["kaplan_meier"].items():
        frame, weight = arrays[key]
        kept = weight > 0
        real = RealSurvival(frame["time_days"].to_numpy()[kept], frame["event"].to_numpy()[kept])
        assert scan_report(entry, RULE, survival={entry["cancer_type"]: real}) == [], key
        months = entry["curve"]["months"]
        assert all(min(c) >= RULE.min_cell for c in step_counts(real.durations, real.events, months)), key
    small = [(p, v) for p, v in _counts(document) if p.rsplit("/", 1)[-1] in COUNT_KEYS or
             p.rsplit("/", 1)[-1].startswith("n_")]
    assert small and not [(p, v) for p, v in small if RULE.is_small(v)]
    for group in document["attrition"]["trial"] + document["attrition"]["control"]:
        assert group.get("excluded") is None or not RULE.is_small(group["excluded"])
    suppressed = [r for r in document["balance"] if None in (r["before"]["trial"], r["before"]["smd"])]
    assert suppressed, "a 40-patient trial has levels of 1 to 10 patients: the test must see some suppressed"

def test_the_page_and_figures_are_drawn_from_the_json_alone(small_arm, tmp_path):
    from synth.arms.report import write_pages

    out, _, _ = small_arm
    write_pages(json.loads((out / "report" / "arm.json").read_text()), tmp_path)
    for name in ("arm.html", "protocol.md", "figures/love_plot.png", "figures/kaplan_meier.png",
                 "figures/propensity.png"):
        assert (tmp_path / name).read_bytes() == (out / "report" / name).read_bytes(), name


def test_same_inputs_and_seed_give_byte_identical_outputs(world, trial_folder, tmp_path):
    root = world[0]
    for name in ("a", "b"):
        result = run("arm", "build", "--trial", trial_folder, "--eligibility", root / "elig.toml",
                     "--source", root / "train", "--out", tmp_path / name, "--seed", 7)
        assert result.exit_code == 0, result.output
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {"analysis_set.parquet", "report/arm.json", "report/arm.html", "report/protocol.md",
            "report/figures/love_plot.png", "report/figures/kaplan_meier.png"} <= {str(f) for f in files}
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    for name in ("c", "d"):
        result = run("arm", "calibrate", "--warehouse", root / "train", "--trial-source", root / "control",
                     "--eligibility", root / "elig.toml", "--out", tmp_path / name, "--trials", 3,
                     "--hazard-ratio", 1, "--trial-size", 40, "--control-size", 100)
        assert result.exit_code == 0, result.output
    for f in ("calibration.json", "calibration.html", "trials.parquet", "figures/error_rates.png"):
        assert (tmp_path / "c" / f).read_bytes() == (tmp_path / "d" / f).read_bytes(), f


def test_the_commands_end_to_end(world, trial_folder, tmp_path):
    root, _, control = world
    trial = read_dataset(trial_folder)
    assert len(trial["patients"]) == 120 and trial["patients"]["patient_id"].str.startswith("T").all()
    assert json.loads((trial_folder / "trial.json").read_text())["design"]["hazard_ratio"] == 0.7
    result = run("arm", "build", "--trial", trial_folder, "--eligibility", root / "elig.toml",
                 "--source", root / "train", "--out", tmp_path / "arm")
    assert result.exit_code == 0, result.output
    assert "real control arm: HR balanced" in result.output
    analysed = pd.read_parquet(tmp_path / "arm" / "analysis_set.parquet")
    assert set(analysed["arm"]) == {"trial", "control"} and (analysed["weight"] > 0).all()
    assert not set(analysed.loc[analysed["arm"] == "control", "patient_id"]) & set(trial["patients"]["patient_id"])
    page = (tmp_path / "arm" / "report" / "arm.html").read_text()
    assert "Hazard ratio, trial vs external control" in page and "emulated target trial" in page
    spec_file = tmp_path / "spec.toml"
    assert run("arm", "example-eligibility", "--out", spec_file).exit_code == 0
    assert parse_arm_spec(spec_file.read_text()) == dataclasses.replace(
        SPEC, analysis=dataclasses.replace(SPEC.analysis, bootstrap=200))
    assert run("arm", "example-eligibility", "--out", spec_file).exit_code == 2  # never overwritten silently


def test_outputs_are_one_unit_checked_before_any_work(world, trial_folder, tmp_path):
    from harmonie.output_set import is_control_file, manifest_path

    root = world[0]
    out = tmp_path / "arm"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["arm", "build", "--trial", trial_folder, "--eligibility", root / "elig.toml", "--source", root / "train"]
    refused = run(*args, "--out", out)
    assert refused.exit_code == 2 and "not empty" in refused.output and (out / "keep.txt").exists()
    into_source = run(*args, "--out", root / "train", "--overwrite")
    assert into_source.exit_code == 2 and "the same file as the input --source" in into_source.output
    around_source = run(*args, "--out", root, "--overwrite")
    assert around_source.exit_code == 2 and "holds the input --trial" in around_source.output
    assert sorted(p.name for p in (root / "train").iterdir() if not is_control_file(p.name)) == [
        "dispensings.parquet", "patients.parquet", "stays.parquet"]
    narrow = tmp_path / "narrow.toml"  # valid, but no trial patient meets it: the build fails after reading
    narrow.write_text(SPEC_TEXT.replace("stages = [3, 4]", "stages = [1]"), encoding="utf-8")
    failed = run("arm", "build", "--trial", trial_folder, "--eligibility", narrow, "--source", root / "train",
                 "--out", out, "--overwrite")
    assert failed.exit_code == 2 and "meet the eligibility" in failed.output
    assert [p.name for p in out.iterdir() if not is_control_file(p.name)] == ["keep.txt"]  # nothing half-written
    assert not list(out.glob(".harmonie-staging-*"))
    replaced = run(*args, "--out", out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    document = json.loads(manifest_path(out, "arm build").read_text())
    assert document["state"] == "complete" and "report/arm.json" in document["files"]
    assert "analysis_set.parquet" in document["files"] and not (out / "keep.txt").exists()  # replaced whole (#21)


def test_the_notebook_surface_names_every_step():
    import synth.arms

    for name in ("read_arm_spec", "build_cohort", "balance_arms", "hazard_ratio", "build_arm", "write_arm",
                 "simulate_trial", "calibrate_arms", "build_arm_files", "calibrate_files", "target_trial_protocol"):
        assert name in synth.arms.__all__ and callable(getattr(synth.arms, name)), name
    assert hazard_ratio is synth.arms.hazard_ratio


def test_a_trial_that_is_one_patients_file_is_read(world, trial_folder, tmp_path):
    root = world[0]
    spec = tmp_path / "diagnosis.toml"
    spec.write_text('[eligibility]\ncancer = "lung"\nstages = [3, 4]\ntreatments_required = ["chemotherapy"]\n'
                    '[index]\ndate = "diagnosis"\n[analysis]\nbootstrap = 0\n', encoding="utf-8")
    result = run("arm", "build", "--trial", trial_folder / "patients.parquet", "--eligibility", spec,
                 "--source", root / "train", "--out", tmp_path / "arm")
    assert result.exit_code == 0, result.output
    result = run("arm", "build", "--trial", trial_folder / "patients.parquet", "--eligibility", root / "elig.toml",
                 "--source", root / "train", "--out", tmp_path / "arm2")
    assert result.exit_code == 2 and "read the claims" in result.output
    assert Path(tmp_path / "arm" / "report" / "arm.json").exists()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=8), st.integers(0, 60))
def test_no_attrition_step_and_no_difference_of_shown_counts_is_a_small_cell(drops, start):
    from synth.arms.report import attrition_shown

    counts = [start + sum(drops)]
    for d in drops:
        counts.append(counts[-1] - d)
    shown = attrition_shown([(f"criterion {i}", n) for i, n in enumerate(counts)], RULE)
    assert [c for g in shown for c in g["criteria"]] == [f"criterion {i}" for i in range(len(counts))]
    values = [g["patients"] for g in shown]
    assert not [v for v in values if v is not None and RULE.is_small(v)]
    known = [v for v in values if v is not None]
    assert all(a - b == 0 or not RULE.is_small(a - b) for i, a in enumerate(known) for b in known[i + 1:])
    for g in shown[1:]:
        assert g["excluded"] is None or not RULE.is_small(g["excluded"])
        assert g["excluded"] is None or g["patients"] is not None, shown  # never gives a hidden count away


@given(st.integers(0, 80), st.integers(0, 80))
def test_a_part_and_its_rest_are_shown_together_or_not_at_all(total, part):
    from synth.arms.report import split_count

    part = min(part, total)
    shown_total, shown_part, shown_rest = split_count(total, part, RULE)
    assert (shown_part is None) == (shown_rest is None)
    assert not [v for v in (shown_total, shown_part, shown_rest) if v is not None and RULE.is_small(v)]


def test_a_long_loop_reports_its_progress_and_time_left(capsys):
    from harmonie import progress

    progress.set_enabled(True)
    try:
        assert list(progress.track(iter(range(20)), 20, "trials")) == list(range(20))
    finally:
        progress.set_enabled(False)
    err = capsys.readouterr().err
    assert "trials: 2/20" in err and "trials: 20/20" in err and "ETA" in err and "done trials" in err
