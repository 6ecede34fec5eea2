"""The utility report: a faithful replica is adequate, a broken one is flagged, output is reproducible."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harmonie.errors import HarmonieError
from synth.report import THRESHOLDS, build_utility_report

DEPARTEMENTS = ["75", "92", "93", "94", "13", "69", "59", "33", "31", "44", "67", "2A", "971", "06", "34"]
SUBTYPES = {"breast": (["HR+/HER2-", "HER2+", "triple negative"], [0.7, 0.15, 0.15]),
            "lung": (["adenocarcinoma", "squamous", "small cell"], [0.55, 0.3, 0.15]),
            "ovarian": (["high-grade serous", "other epithelial"], [0.7, 0.3])}
STAGES = {"breast": [0.4, 0.35, 0.18, 0.07], "lung": [0.15, 0.1, 0.25, 0.5], "ovarian": [0.2, 0.1, 0.45, 0.25]}
YEARLY_HAZARD = {"breast": 0.02, "lung": 0.25, "ovarian": 0.1}
STAGE_HR = np.array([1.0, 1.8, 3.5, 9.0])
CODES = {"breast": "C509", "lung": "C349", "ovarian": "C56"}


def make_dataset(n: int, seed: int) -> dict[str, pd.DataFrame]:
    """An oncology analytic dataset: stage- and age-dependent exponential survival, claims per patient."""
    rng = np.random.default_rng(seed)
    cancer = rng.choice(["breast", "lung", "ovarian"], size=n, p=[0.55, 0.3, 0.15])
    male_share = np.select([cancer == "breast", cancer == "lung"], [0.01, 0.6], 0.0)
    sex = np.where(rng.random(n) < male_share, "M", "F")
    mean_age = np.select([cancer == "breast", cancer == "lung"], [60, 66], 63)
    age = np.clip(rng.normal(mean_age, 11), 25, 95).astype(int)
    subtype = np.empty(n, dtype=object)
    stage = np.empty(n, dtype=int)
    for kind, (labels, weights) in SUBTYPES.items():
        rows = cancer == kind
        subtype[rows] = rng.choice(labels, size=rows.sum(), p=weights)
        stage[rows] = rng.choice([1, 2, 3, 4], size=rows.sum(), p=STAGES[kind])
    diagnosis = pd.Timestamp("2012-01-01") + pd.to_timedelta(rng.integers(0, 8 * 365, n), unit="D")
    surgery = rng.random(n) < np.array([0.9, 0.8, 0.6, 0.2])[stage - 1]
    chemo = rng.random(n) < np.array([0.3, 0.5, 0.8, 0.85])[stage - 1]
    radio = rng.random(n) < np.where(cancer == "breast", 0.7, 0.3)
    hormone = (subtype == "HR+/HER2-") & (rng.random(n) < 0.9)
    targeted = ((subtype == "HER2+") | (subtype == "adenocarcinoma")) & (rng.random(n) < 0.6)

    hazard = np.vectorize(YEARLY_HAZARD.get)(cancer) * STAGE_HR[stage - 1] * np.exp(0.03 * (age - 60)) / 365.25
    death_time = rng.exponential(1 / hazard)
    admin = (pd.Timestamp("2022-12-31") - diagnosis).days.to_numpy()
    lost = rng.exponential(365.25 / 0.02, n)
    censor = np.minimum(admin, lost)
    death = death_time <= censor
    followup = np.maximum(np.round(np.minimum(death_time, censor)), 1).astype(int)
    end = diagnosis + pd.to_timedelta(followup, unit="D")

    n_stays = rng.poisson(1 + 2 * chemo + 0.5 * stage)
    owner = np.repeat(np.arange(n), n_stays)
    window = np.minimum(followup[owner], 3 * 365) + 30
    admission = diagnosis[owner] + pd.to_timedelta(np.floor(rng.random(owner.size) * window) - 30, unit="D")
    los = rng.geometric(0.3, owner.size) - 1
    discharge = np.minimum(admission + pd.to_timedelta(los, unit="D"), end[owner])
    main = np.where(rng.random(owner.size) < 0.5, np.vectorize(CODES.get)(cancer[owner]),
                    np.where(chemo[owner], "Z511", "Z080"))
    ids = np.array([f"P{i:07d}" for i in rng.permutation(n) + 1])
    session = main == "Z511"
    discharge = discharge.where(~session, admission)  # a chemotherapy session lasts no night
    stays = pd.DataFrame({"patient_id": ids[owner], "admission_date": admission, "discharge_date": discharge,
                          "main_diagnosis": main})
    first = stays.assign(d=(admission - diagnosis[owner]).days).groupby("patient_id")["d"].min()

    n_disp = rng.poisson(2 + 8 * hormone + 2 * chemo)
    downer = np.repeat(np.arange(n), n_disp)
    dwindow = np.minimum(followup[downer], 3 * 365)
    dates = diagnosis[downer] + pd.to_timedelta(np.floor(rng.random(downer.size) * dwindow), unit="D")
    atc = np.where(hormone[downer] & (rng.random(downer.size) < 0.8),
                   rng.choice(["L02BA01", "L02BG04"], downer.size),
                   rng.choice(["N02BE01", "A04AA01", "B01AB05", "L01XC03"], downer.size))
    dispensings = pd.DataFrame({"patient_id": ids[downer], "dispensing_date": dates, "atc_code": atc,
                                "quantity": rng.integers(1, 4, downer.size)})
    nights = (stays["discharge_date"] - stays["admission_date"]).dt.days.to_numpy()
    surgical = (~session) & (rng.random(owner.size) < 0.3)
    stays["ghm"] = np.where(session, "28Z07", np.where(surgical, "09C05", "09M02"))
    stays["cost_eur"] = np.round(np.where(session, 420.0, 1_800.0 + 650.0 * nights * rng.uniform(0.8, 1.2, owner.size)), 2)
    dispensings["cost_eur"] = np.round(dispensings["quantity"] * np.where(np.char.startswith(
        atc.astype(str), "L0"), 95.0, 6.0), 2)
    death_cause = np.where(death, np.where(rng.random(n) < 0.8, "cancer", "other"), None)
    patients = pd.DataFrame({
        "patient_id": ids, "sex": sex, "age_at_diagnosis": age,
        "departement": rng.choice(DEPARTEMENTS, n), "cancer_type": cancer, "subtype": subtype, "stage": stage,
        "diagnosis_date": diagnosis, "surgery": surgery, "chemotherapy": chemo, "radiotherapy": radio,
        "hormone_therapy": hormone, "targeted_therapy": targeted, "n_stays": n_stays,
        "days_to_first_stay": pd.Series(ids).map(first).to_numpy(), "n_dispensings": n_disp, "death": death,
        "death_cause": death_cause, "end_of_followup": end, "followup_days": followup,
    })
    return {"patients": patients, "stays": stays, "dispensings": dispensings}


def shuffled(data: dict[str, pd.DataFrame], seed: int) -> dict[str, pd.DataFrame]:
    """Every column permuted on its own: right marginals, every relation between columns destroyed."""
    rng = np.random.default_rng(seed)
    return {name: pd.DataFrame({c: frame[c].to_numpy()[rng.permutation(len(frame))] for c in frame.columns})
            for name, frame in data.items()}


@pytest.fixture(scope="module")
def real():
    return make_dataset(1_500, seed=1)


@pytest.fixture(scope="module")
def good_report(real, tmp_path_factory):
    out = tmp_path_factory.mktemp("good")
    return out, build_utility_report(real, make_dataset(1_500, seed=2), out, seed=0)


def test_fresh_draw_of_the_same_process_is_adequate(good_report):
    _, report = good_report
    failed = [c["name"] for c in report["checks"] if not c["passed"]]
    assert report["verdict"] == "adequate", failed
    names = {c["name"] for c in report["checks"]}
    assert {"sdv_quality", "correlation_max_abs_diff", "tstr_auc_ratio"} <= names
    assert {"km_max_distance:breast", "km_max_distance:lung", "km_max_distance:ovarian"} <= names
    assert {"cox_coverage:global", "cox_direction:global", "cox_coverage:breast", "treatment_by_stage:lung",
            "day_case_share", "coherence:day_session_nights", "pathways:breast", "cost_per_patient:ovarian"} <= names
    assert 0.75 <= report["sdv"]["quality_score"] <= 1
    assert report["prediction"]["trtr_auc"] > 0.7


def test_shuffled_columns_are_low_utility(real, tmp_path):
    report = build_utility_report(real, shuffled(real, seed=3), tmp_path, seed=0, pages=False)
    assert report["verdict"].startswith("low utility")
    failed = {c["name"] for c in report["checks"] if not c["passed"]}
    assert {"correlation_max_abs_diff", "tstr_auc_ratio", "cox_coverage:global"} <= failed
    assert "km_max_distance:lung" in failed
    for name in failed:
        assert name in report["verdict"]


def test_json_html_and_figures_are_byte_identical_across_runs(real, good_report, tmp_path):
    first_dir, _ = good_report
    build_utility_report(real, make_dataset(1_500, seed=2), tmp_path, seed=0)
    assert (first_dir / "utility.json").read_bytes() == (tmp_path / "utility.json").read_bytes()
    assert (first_dir / "utility.html").read_bytes() == (tmp_path / "utility.html").read_bytes()
    for png in (first_dir / "figures").iterdir():
        assert (tmp_path / "figures" / png.name).read_bytes() == png.read_bytes(), png.name
    _, report = good_report
    assert json.loads((tmp_path / "utility.json").read_text()) == report  # what is returned is what is written


def test_html_is_self_contained_with_survival_section(good_report):
    out, _ = good_report
    page = (out / "utility.html").read_text()
    assert "Kaplan" in page and 'id="survival"' in page
    assert page.count("data:image/png;base64,") >= 5
    assert "<script" not in page and "http" not in page.split("</head>")[0]


def test_missing_column_is_a_clear_error(real, tmp_path):
    broken = dict(real, patients=real["patients"].drop(columns=["stage"]))
    with pytest.raises(HarmonieError, match="synthetic table patients lacks column.*stage"):
        build_utility_report(real, broken, tmp_path)
    with pytest.raises(HarmonieError, match="real dataset lacks table.*dispensings"):
        build_utility_report({k: v for k, v in real.items() if k != "dispensings"}, real, tmp_path)
    with pytest.raises(HarmonieError, match="empty"):
        build_utility_report(real, dict(real, stays=real["stays"].iloc[:0]), tmp_path)


def test_cancer_type_missing_from_replica_fails_its_checks(real, tmp_path):
    replica = make_dataset(1_500, seed=2)
    keep = replica["patients"]["cancer_type"] != "ovarian"
    replica["patients"] = replica["patients"][keep]
    report = build_utility_report(real, replica, tmp_path, seed=0, pages=False)
    failed = {c["name"] for c in report["checks"] if not c["passed"]}
    assert {"km_max_distance:ovarian", "cox_coverage:ovarian", "cost_per_patient:ovarian"} <= failed
    assert report["verdict"].startswith("low utility")


def test_control_patients_are_the_test_set(real, tmp_path):
    """(The verdicts here are read from utility.json alone: ``pages=False`` skips the figures.)"""
    control = make_dataset(600, seed=4)
    report = build_utility_report(real, make_dataset(1_500, seed=2), tmp_path, control=control, seed=0, pages=False)
    assert report["prediction"]["test_set"] == "control"
    assert report["prediction"]["n_train_real"] > 1_000  # the whole real side trains when control is given
    assert (tmp_path / "utility.json").exists() and not (tmp_path / "utility.html").exists()


def test_thresholds_are_one_tunable_dict():
    assert THRESHOLDS["sdv_quality"] == 0.75
    assert THRESHOLDS["tstr_auc_ratio"] == 0.9
