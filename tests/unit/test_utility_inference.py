"""Negative controls of the utility report: replicas that lose what clinical studies use must fail the named check.

A hand-made "real" world with the structure oncology data have: treatments allocated by
indication (cancer, stage, subtype, age), survival with known hazard ratios for subtype, sex and
each treatment (on top of stage and age), claims generated from each patient's own treatments
(surgical stay, chemotherapy day sessions in cycles, radiotherapy series, hormone-therapy
dispensings for years, oral targeted therapy...), costs per stay and per dispensing. A fresh
independent draw of that world must pass every check; each replica below breaks one thing and
must fail the check that watches it:

- treatments shuffled within cancer x stage and survival drawn without subtype or treatment
  effects (what the audit of issue #23 found): the Cox models by cancer type (joint test and
  direction; each interval alone is too wide at 3,000 patients for the count of misses to fail);
- treatments shuffled within cancer type only: treatment x stage shares;
- chemotherapy sessions for patients without chemotherapy: coherence;
- day sessions lasting two nights: coherence (never allowed), day cases, length of stay;
- chemotherapy started two months later: time to first chemotherapy;
- hormone therapy dispensed from the day of diagnosis, before surgery: care pathways;
- every cost x 1.2: cost per patient.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from privacy.disclosure import DisclosureRule
from synth.report import build_utility_report
from synth.report.build import clinical_sections
from synth.report.checks import THRESHOLDS, clinical_checks
from synth.report.inputs import normalise_dataset

N_REAL = 3_000
RULE = DisclosureRule()

SUBTYPES = {"breast": (["HR+/HER2-", "HER2+", "triple negative"], [0.65, 0.15, 0.20]),
            "lung": (["adenocarcinoma", "squamous", "small cell"], [0.5, 0.3, 0.2]),
            "ovarian": (["high-grade serous", "other epithelial"], [0.7, 0.3])}
CANCER_SHARE = {"breast": 0.5, "lung": 0.3, "ovarian": 0.2}
STAGE_SHARE = {"breast": [0.35, 0.35, 0.2, 0.1], "lung": [0.2, 0.1, 0.3, 0.4], "ovarian": [0.2, 0.1, 0.45, 0.25]}
YEARLY_HAZARD = {"breast": 0.06, "lung": 0.22, "ovarian": 0.12}
STAGE_HR = np.array([1.0, 1.6, 2.8, 6.0])
AGE_HR_PER_10Y = 1.3
SUBTYPE_HR = {"triple negative": 1.8, "HER2+": 1.3, "squamous": 1.2, "small cell": 1.8, "other epithelial": 0.8}
MALE_HR = 1.3
TREATMENT_HR = {"surgery": 0.55, "chemotherapy": 0.7, "radiotherapy": 0.8, "hormone_therapy": 0.6,
                "targeted_therapy": 0.5}
SURGERY_BY_STAGE = {"breast": [0.97, 0.93, 0.8, 0.25], "lung": [0.8, 0.65, 0.3, 0.05], "ovarian": [0.9, 0.9, 0.8, 0.5]}
CHEMO_BY_STAGE = {"breast": [0.2, 0.45, 0.8, 0.7], "lung": [0.3, 0.6, 0.8, 0.75], "ovarian": [0.4, 0.8, 0.95, 0.9]}
CANCER_CODE = {"breast": "C509", "lung": "C349", "ovarian": "C56"}
SURGERY_GHM = {"breast": "09C05", "lung": "04C02", "ovarian": "13C04"}
MEDICAL_GHM = {"breast": "09M02", "lung": "04M09", "ovarian": "13M09"}
TREATMENTS = ("surgery", "chemotherapy", "radiotherapy", "hormone_therapy", "targeted_therapy")
END = pd.Timestamp("2023-12-31")


def _patients(n: int, rng: np.random.Generator) -> pd.DataFrame:
    cancer = rng.choice(list(CANCER_SHARE), size=n, p=list(CANCER_SHARE.values()))
    male = rng.random(n) < np.select([cancer == "breast", cancer == "lung"], [0.01, 0.6], 0.0)
    age = np.clip(rng.normal(np.select([cancer == "breast", cancer == "lung"], [60, 67], 63), 11), 25, 95).round()
    subtype = np.empty(n, dtype=object)
    stage = np.zeros(n, dtype=int)
    for kind, (labels, weights) in SUBTYPES.items():
        rows = cancer == kind
        subtype[rows] = rng.choice(labels, size=rows.sum(), p=weights)
        stage[rows] = rng.choice([1, 2, 3, 4], size=rows.sum(), p=STAGE_SHARE[kind])
    diagnosis = pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.integers(0, 7 * 365, n), unit="D")
    return pd.DataFrame({"sex": np.where(male, "M", "F"), "age_at_diagnosis": age, "cancer_type": cancer,
                         "subtype": subtype, "stage": stage, "diagnosis_date": diagnosis})


def _treatments(p: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Confounding by indication: surgery for early stages (less when old), chemotherapy for advanced stages and
    aggressive subtypes, radiotherapy after breast surgery, hormone therapy for HR+, targeted for HER2+, EGFR, PARP."""
    n = len(p)
    cancer, stage, subtype = p["cancer_type"].to_numpy(), p["stage"].to_numpy(), p["subtype"].to_numpy()
    pick = {k: np.array(v) for k, v in SURGERY_BY_STAGE.items()}
    p_surgery = np.select([cancer == k for k in pick], [pick[k][stage - 1] for k in pick])
    p_surgery = p_surgery * np.where(p["age_at_diagnosis"].to_numpy() > 75, 0.7, 1.0)
    chemo = {k: np.array(v) for k, v in CHEMO_BY_STAGE.items()}
    p_chemo = np.select([cancer == k for k in chemo], [chemo[k][stage - 1] for k in chemo])
    p_chemo = np.where(np.isin(subtype, ["triple negative", "small cell"]), 0.92, p_chemo)
    surgery = rng.random(n) < p_surgery
    p_radio = np.select([cancer == "breast", cancer == "lung"],
                        [np.where(surgery, 0.85, 0.3), np.array([0.15, 0.25, 0.6, 0.3])[stage - 1]], 0.12)
    p_hormone = np.where(subtype == "HR+/HER2-", 0.9, 0.0)
    p_targeted = np.select([subtype == "HER2+", subtype == "adenocarcinoma", subtype == "high-grade serous"],
                           [0.85, 0.35, 0.4], 0.0)
    out = p.copy()
    for flag, prob in (("surgery", None), ("chemotherapy", p_chemo), ("radiotherapy", p_radio),
                       ("hormone_therapy", p_hormone), ("targeted_therapy", p_targeted)):
        out[flag] = surgery if prob is None else rng.random(n) < prob
    return out


def _log_hazard_ratio(p: pd.DataFrame) -> np.ndarray:
    """The planted effects: subtype, male sex and each treatment (stage and age act in every world)."""
    log_hr = np.log(p["subtype"].map(SUBTYPE_HR).fillna(1.0).to_numpy(float))
    log_hr += np.log(MALE_HR) * ((p["sex"] == "M") & (p["cancer_type"] == "lung")).to_numpy()
    for flag, hr in TREATMENT_HR.items():
        log_hr += np.log(hr) * p[flag].to_numpy(bool)
    return log_hr


def _survival(p: pd.DataFrame, rng: np.random.Generator, *, planted: bool) -> pd.DataFrame:
    """Exponential survival; without ``planted`` the subtype, sex and treatments change nothing (each cancer's
    average hazard kept), which is what a generator conditioning on cancer x stage x age alone produces."""
    cancer = p["cancer_type"].to_numpy()
    effect = np.exp(_log_hazard_ratio(p))
    if not planted:
        effect = pd.Series(effect).groupby(cancer).transform("mean").to_numpy()
    hazard = (np.vectorize(YEARLY_HAZARD.get)(cancer) * STAGE_HR[p["stage"].to_numpy() - 1]
              * AGE_HR_PER_10Y ** ((p["age_at_diagnosis"].to_numpy() - 60) / 10) * effect / 365.25)
    death_time = rng.exponential(1 / hazard)
    admin = (END - p["diagnosis_date"]).dt.days.to_numpy()
    censor = np.minimum(admin, rng.exponential(365.25 / 0.03, len(p)))
    out = p.copy()
    out["death"] = death_time <= censor
    out["followup_days"] = np.maximum(np.round(np.minimum(death_time, censor)), 1).astype(int)
    out["end_of_followup"] = out["diagnosis_date"] + pd.to_timedelta(out["followup_days"], unit="D")
    cause = np.where(rng.random(len(p)) < 0.85, "cancer", "other")
    out["death_cause"] = np.where(out["death"], cause, None)
    return out


def _rows(owner: np.ndarray, start: np.ndarray, **columns) -> pd.DataFrame:
    return pd.DataFrame({"owner": owner, "day": start, **columns})


def _claims(p: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each patient's stays and dispensings from their own treatments: surgery, then 6 chemotherapy cycles every
    21 days (trastuzumab sessions after them for HER2+), a radiotherapy series, then hormone therapy every 90 days
    for five years; oral targeted therapy monthly; antiemetics with each chemotherapy session; other stays and
    drugs at random; a palliative stay before half of the deaths. Nothing after the end of follow-up."""
    n = len(p)
    idx = np.arange(n)
    cancer = p["cancer_type"].to_numpy()
    flags = {f: p[f].to_numpy(bool) for f in TREATMENTS}
    t_surgery = rng.integers(10, 40, n)
    chemo_start = np.where(flags["surgery"], t_surgery + rng.integers(25, 45, n), rng.integers(15, 35, n))
    chemo_end = chemo_start + 5 * 21
    her2_iv = flags["targeted_therapy"] & (p["subtype"].to_numpy() == "HER2+")
    radio_start = np.where(flags["chemotherapy"], chemo_end + rng.integers(21, 35, n),
                           np.where(flags["surgery"], t_surgery + rng.integers(30, 45, n), rng.integers(20, 40, n)))
    last = np.where(flags["radiotherapy"], radio_start + 20, np.where(flags["chemotherapy"], chemo_end, t_surgery))
    hormone_start = last + rng.integers(14, 40, n)

    stays, disp = [], []
    s = idx[flags["surgery"]]
    los = np.select([cancer[s] == "breast", cancer[s] == "lung"], [2, 5], 6) + rng.poisson(2.5, len(s))
    stays.append(_rows(s, t_surgery[s], nights=los, main_diagnosis=np.vectorize(CANCER_CODE.get)(cancer[s]),
                       ghm=np.vectorize(SURGERY_GHM.get)(cancer[s]), cost_eur=4_000 + 700.0 * los))
    c = np.repeat(idx[flags["chemotherapy"]], 6)
    c_day = chemo_start[c] + np.tile(np.arange(6) * 21, len(c) // 6) + rng.integers(-2, 3, len(c))
    h = np.repeat(idx[her2_iv], 8)
    h_day = chemo_end[h] + 21 + np.tile(np.arange(8) * 21, len(h) // 8)
    sessions = np.concatenate([c, h])
    session_day = np.concatenate([c_day, h_day])
    stays.append(_rows(sessions, session_day, nights=0, main_diagnosis="Z511", ghm="28Z07", cost_eur=450.0))
    disp.append(_rows(c, c_day, atc_code="A04AA01", quantity=1, cost_eur=22.0))
    r = np.repeat(idx[flags["radiotherapy"]], 15)
    r_day = radio_start[r] + np.tile(np.arange(15), len(r) // 15)
    stays.append(_rows(r, r_day, nights=0, main_diagnosis="Z510", ghm="28Z11", cost_eur=210.0))
    m = np.repeat(idx, rng.poisson(0.5 + 0.3 * p["stage"].to_numpy()))
    m_los = rng.geometric(0.3, len(m)) - 1
    stays.append(_rows(m, rng.integers(-25, 3 * 365, len(m)), nights=m_los,
                       main_diagnosis=np.vectorize(CANCER_CODE.get)(cancer[m]),
                       ghm=np.vectorize(MEDICAL_GHM.get)(cancer[m]), cost_eur=1_500 + 500.0 * m_los))
    dead = idx[p["death"].to_numpy(bool) & (rng.random(n) < 0.5)]
    pal_los = 1 + rng.poisson(8, len(dead))
    follow = p["followup_days"].to_numpy()
    stays.append(_rows(dead, follow[dead] - pal_los, nights=pal_los, main_diagnosis="Z515", ghm="23Z02",
                       cost_eur=6_000 + 300.0 * pal_los))

    hm = np.repeat(idx[flags["hormone_therapy"]], 20)
    disp.append(_rows(hm, hormone_start[hm] + np.tile(np.arange(20) * 90, len(hm) // 20), atc_code="L02BG04",
                      quantity=3, cost_eur=45.0))
    oral = flags["targeted_therapy"] & ~her2_iv
    t = np.repeat(idx[oral], 12)
    disp.append(_rows(t, 30 + np.tile(np.arange(12) * 30, len(t) // 12),
                      atc_code=np.where(cancer[t] == "lung", "L01EB04", "L01XK01"), quantity=1,
                      cost_eur=np.where(cancer[t] == "lung", 3_500.0, 4_000.0)))
    o = np.repeat(idx, rng.poisson(4, n))
    disp.append(_rows(o, rng.integers(-20, 3 * 365, len(o)), atc_code=rng.choice(["N02BE01", "B01AB05"], len(o)),
                      quantity=rng.integers(1, 4, len(o)), cost_eur=5.0))
    return pd.concat(stays, ignore_index=True), pd.concat(disp, ignore_index=True)


def app(p: pd.DataFrame, stays: pd.DataFrame, disp: pd.DataFrame, rng: np.random.Generator) -> dict:
    """The analytic dataset: claims as dates, cut at the end of follow-up, patients' claim summaries."""
    n = len(p)
    follow = p["followup_days"].to_numpy()
    stays = stays[stays["day"].to_numpy() <= follow[stays["owner"].to_numpy()]].copy()
    stays["nights"] = np.minimum(stays["nights"], follow[stays["owner"]] - stays["day"]).clip(lower=0)
    disp = disp[disp["day"].to_numpy() <= follow[disp["owner"].to_numpy()]].copy()
    ids = np.array([f"P{i:07d}" for i in rng.permutation(n) + 1])
    diagnosis = p["diagnosis_date"].to_numpy()
    admission = diagnosis[stays["owner"]] + pd.to_timedelta(stays["day"], unit="D").to_numpy()
    stays_out = pd.DataFrame({
        "patient_id": ids[stays["owner"]], "admission_date": admission,
        "discharge_date": admission + pd.to_timedelta(stays["nights"], unit="D").to_numpy(),
        "main_diagnosis": stays["main_diagnosis"].to_numpy(), "ghm": stays["ghm"].to_numpy(),
        "cost_eur": stays["cost_eur"].to_numpy(float)}).sort_values(["patient_id", "admission_date"], kind="stable")
    disp_out = pd.DataFrame({
        "patient_id": ids[disp["owner"]],
        "dispensing_date": diagnosis[disp["owner"]] + pd.to_timedelta(disp["day"], unit="D").to_numpy(),
        "atc_code": disp["atc_code"].to_numpy(), "quantity": disp["quantity"].to_numpy(),
        "cost_eur": disp["cost_eur"].to_numpy(float)}).sort_values(["patient_id", "dispensing_date"], kind="stable")
    patients = p.copy()
    patients.insert(0, "patient_id", ids)
    patients["departement"] = rng.choice(["75", "92", "93", "69", "13", "33", "59", "44"], n)
    first = (stays_out.groupby("patient_id")["admission_date"].min()
             - patients.set_index("patient_id")["diagnosis_date"]).dt.days
    patients["n_stays"] = patients["patient_id"].map(stays_out["patient_id"].value_counts()).fillna(0).astype(int)
    patients["days_to_first_stay"] = patients["patient_id"].map(first)
    patients["n_dispensings"] = patients["patient_id"].map(disp_out["patient_id"].value_counts()).fillna(0).astype(int)
    return {"patients": patients.reset_index(drop=True), "stays": stays_out.reset_index(drop=True),
            "dispensings": disp_out.reset_index(drop=True)}


def _shuffle_within(p: pd.DataFrame, by: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Treatments permuted jointly among the patients of each group: same shares per group, no link to the rest."""
    out = p.copy()
    for _, rows in p.groupby(by).indices.items():
        out.loc[out.index[rows], list(TREATMENTS)] = p.iloc[rng.permutation(rows)][list(TREATMENTS)].to_numpy()
    return out


def make_world(n: int, seed: int, *, planted: bool = True, shuffle_by: list[str] | None = None) -> dict:
    rng = np.random.default_rng(seed)
    p = _treatments(_patients(n, rng), rng)
    if shuffle_by:
        p = _shuffle_within(p, shuffle_by, rng)
    p = _survival(p, rng, planted=planted)
    stays, disp = _claims(p, rng)
    return app(p, stays, disp, rng)


# --- replicas that break one thing --------------------------------------------------------------------------

def _copy(data: dict) -> dict:
    return {k: v.copy() for k, v in data.items()}


def chemotherapy_for_the_untreated(data: dict, seed: int) -> dict:
    """Four chemotherapy sessions for 40% of the patients with neither chemotherapy nor a targeted therapy."""
    rng = np.random.default_rng(seed)
    out = _copy(data)
    p = out["patients"]
    untreated = p[~p["chemotherapy"] & ~p["targeted_therapy"] & (rng.random(len(p)) < 0.4)
                  & (p["followup_days"] > 120)]
    owner = np.repeat(untreated.index.to_numpy(), 4)
    day = p.loc[owner, "diagnosis_date"].to_numpy() + pd.to_timedelta(30 + np.tile(np.arange(4) * 21, len(untreated)),
                                                                      unit="D").to_numpy()
    extra = pd.DataFrame({"patient_id": p.loc[owner, "patient_id"].to_numpy(), "admission_date": day,
                          "discharge_date": day, "main_diagnosis": "Z511", "ghm": "28Z07", "cost_eur": 450.0})
    out["stays"] = pd.concat([out["stays"], extra], ignore_index=True)
    return out


def overnight_sessions(data: dict) -> dict:
    """Every chemotherapy and radiotherapy day session lasting two nights (within the follow-up)."""
    out = _copy(data)
    stays = out["stays"]
    end = stays["patient_id"].map(out["patients"].set_index("patient_id")["end_of_followup"])
    session = stays["main_diagnosis"].isin(["Z511", "Z510"])
    stays.loc[session, "discharge_date"] = np.minimum(stays.loc[session, "admission_date"] + pd.Timedelta(days=2),
                                                      end[session])
    return out


def later_chemotherapy(data: dict, days: int = 60) -> dict:
    """Chemotherapy sessions (and their antiemetics) all moved ``days`` later, dropped past the follow-up."""
    out = _copy(data)
    shift = pd.Timedelta(days=days)
    end = out["patients"].set_index("patient_id")["end_of_followup"]
    stays = out["stays"]
    chemo = stays["main_diagnosis"].eq("Z511")
    stays.loc[chemo, ["admission_date", "discharge_date"]] += shift
    out["stays"] = stays[stays["discharge_date"] <= stays["patient_id"].map(end)].reset_index(drop=True)
    disp = out["dispensings"]
    support = disp["atc_code"].eq("A04AA01")
    disp.loc[support, "dispensing_date"] += shift
    out["dispensings"] = disp[disp["dispensing_date"] <= disp["patient_id"].map(end)].reset_index(drop=True)
    return out


def hormone_therapy_first(data: dict) -> dict:
    """Hormone-therapy dispensings starting the day after diagnosis, before any surgery."""
    out = _copy(data)
    disp = out["dispensings"]
    hormone = disp["atc_code"].str.startswith("L02B")
    first = disp[hormone].groupby("patient_id")["dispensing_date"].transform("min")
    diagnosis = disp.loc[hormone, "patient_id"].map(out["patients"].set_index("patient_id")["diagnosis_date"])
    start = diagnosis + pd.Timedelta(days=1)
    disp.loc[hormone, "dispensing_date"] = disp.loc[hormone, "dispensing_date"] - first + start
    return out


def costlier(data: dict, factor: float = 1.2) -> dict:
    out = _copy(data)
    for table in ("stays", "dispensings"):
        out[table]["cost_eur"] = out[table]["cost_eur"] * factor
    return out


# --- fixtures and helpers -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real():
    return make_world(N_REAL, seed=2)


@pytest.fixture(scope="module")
def real_normalised(real):
    return normalise_dataset(real, "real")


def failed(checks: dict[str, dict]) -> set[str]:
    return {name for name, c in checks.items() if not c["passed"]}


def checks_of(real_normalised: dict, replica: dict, parts: tuple[str, ...], seed: int = 0) -> dict[str, dict]:
    measured, _ = clinical_sections(real_normalised, normalise_dataset(replica, "synthetic"), seed=seed,
                                    max_rows=20_000, rule=RULE, parts=parts)
    checks, _ = clinical_checks(measured, RULE)
    return {c["name"]: c for c in checks}


# --- a faithful replica passes ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fresh_report(real, tmp_path_factory):
    out = tmp_path_factory.mktemp("fresh")
    return out, build_utility_report(real, make_world(N_REAL, seed=1), out, seed=0)


def test_the_world_has_the_planted_effects(fresh_report):
    """The real side recovers the planted hazard ratios (else the negative controls below would prove nothing)."""
    _, report = fresh_report
    models = {m["cancer"]: {t["term"]: t["real"] for t in m["terms"]} for m in report["treatments"]["cox_by_cancer"]}
    planted = {("breast", "subtype_triple negative"): 1.8, ("breast", "hormone_therapy"): 0.6,
               ("breast", "surgery"): 0.55, ("lung", "surgery"): 0.55, ("lung", "subtype_small cell"): 1.8,
               ("lung", "sex_male"): 1.3, ("lung", "chemotherapy"): 0.7, ("ovarian", "targeted_therapy"): 0.5}
    for (cancer, term), hr in planted.items():
        est = models[cancer][term]
        assert abs(math.log(est["hr"] / hr)) <= 3.3 * est["se_log"], (cancer, term, est)  # within its 99.9% CI
        assert est["upper"] < 1 or est["lower"] > 1, (cancer, term, est)  # clearly away from 1


def test_a_fresh_draw_of_the_same_world_is_adequate(fresh_report):
    out, report = fresh_report
    failed_checks = [c["name"] for c in report["checks"] if not c["passed"]]
    assert report["verdict"] == "adequate", failed_checks
    names = {c["name"] for c in report["checks"]}
    for cancer in ("breast", "lung", "ovarian"):
        assert {f"cox_coverage:{cancer}", f"cox_direction:{cancer}", f"treatment_by_stage:{cancer}",
                f"pathways:{cancer}", f"cost_per_patient:{cancer}", f"cost_by_stage:{cancer}"} <= names
    assert {"cox_coverage:global", "day_case_share", "length_of_stay_ks", "chemotherapy_delay_ks",
            "chemotherapy_delay_median", "stay_kind_shares", "atc_class_shares", "coherence:day_session_nights",
            "coherence:chemotherapy_session_without_treatment", "coherence:hormone_therapy_without_treatment",
            "coherence:dispensing_before_diagnosis"} <= names
    assert all(c["what"] for c in report["checks"])
    assert all(name in THRESHOLDS for name in ("cox_coverage_tail", "share_sampling_z", "cost_mean_rel"))
    page = (out / "utility.html").read_text()
    for anchor in ("treatments", "treatment-shares", "claims", "pathways", "costs"):
        assert f'id="{anchor}"' in page
    assert "<script" not in page and page.count("data:image/png;base64,") >= 10
    for name in ("forest_by_cancer", "treatment_shares", "claims", "pathways", "costs"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 5_000


def test_what_is_written_of_the_clinical_sections_obeys_the_small_cell_rule(real, fresh_report):
    from privacy.disclosure import scan_report
    from synth.report.care_pathways import first_days, pathway_labels
    from synth.report.costs import patient_costs

    out, report = fresh_report
    assert scan_report(report, RULE) == []  # no small count under a real key, no min / max key
    r = normalise_dataset(real, "real")
    patients = r["patients"]
    labels = pathway_labels(first_days(r)).reset_index(drop=True)
    rare = 0
    for entry in report["pathways"]:
        own = labels[(patients["cancer_type"] == entry["cancer"]).to_numpy()]
        counts = own.value_counts()
        named = [row["pathway"] for row in entry["pathways"] if row["pathway"] != "(other)"]
        assert all(counts[name] >= RULE.min_cell for name in named)
        rest = (~own.isin(named)).sum()
        assert rest == 0 or rest >= RULE.min_cell
        rare += int((counts < RULE.min_cell).sum())
    assert rare  # the world has pathways followed by fewer than min_cell patients: none of them is named
    text = (out / "utility.json").read_text() + (out / "utility.html").read_text()
    costliest = float(patient_costs(r).max())
    for shown in (f"{costliest:.2f}", f"{costliest:,.0f}", json.dumps(round(costliest, 6))):
        assert shown not in text  # the costliest real patient's cost is nowhere
    for cell in report["treatments"]["shares"]:
        if cell["share_real"] is not None:
            assert cell["n_real"] is not None and cell["n_real"] >= RULE.min_cell


# --- each broken replica fails the check that watches what it broke ---------------------------------------

def test_erased_treatment_and_subtype_effects_fail_the_cox_models(real_normalised):
    """The audit's replica: treatments shuffled within cancer x stage, survival ignoring subtype and treatments."""
    replica = make_world(N_REAL, seed=3, planted=False, shuffle_by=["cancer_type", "stage"])
    checks = checks_of(real_normalised, replica, ("effects",))
    assert {"cox_joint:breast", "cox_joint:lung", "cox_direction:breast", "cox_direction:lung"} <= failed(checks)
    assert "surgery" in checks["cox_direction:breast"]["what"]
    for cancer in ("breast", "lung"):  # most terms are missed, though not more than chance allows for 8 terms
        assert checks[f"cox_coverage:{cancer}"]["value"] >= 5
    assert not failed(checks) & {"cox_coverage:global", "cox_joint:global"}  # the global model does not see it


def test_stage_blind_treatment_allocation_fails_treatment_by_stage(real_normalised):
    replica = make_world(N_REAL, seed=4, shuffle_by=["cancer_type"])
    checks = checks_of(real_normalised, replica, ("shares",))
    assert {"treatment_by_stage:breast", "treatment_by_stage:lung", "treatment_by_stage:ovarian"} <= failed(checks)


def test_chemotherapy_sessions_without_chemotherapy_fail_coherence(real_normalised):
    replica = chemotherapy_for_the_untreated(make_world(N_REAL, seed=5), seed=5)
    checks = checks_of(real_normalised, replica, ("claims",))
    check = checks["coherence:chemotherapy_session_without_treatment"]
    assert not check["passed"] and check["threshold"] == 0.0 and check["value"] > 0.05
    assert checks["coherence:hormone_therapy_without_treatment"]["passed"]


def test_day_sessions_lasting_nights_fail_coherence_day_cases_and_length_of_stay(real_normalised):
    replica = overnight_sessions(make_world(N_REAL, seed=6))
    checks = checks_of(real_normalised, replica, ("claims",))
    assert {"coherence:day_session_nights", "day_case_share", "length_of_stay_ks"} <= failed(checks)
    assert checks["coherence:day_session_nights"]["value"] > 1_000


def test_later_chemotherapy_fails_time_to_first_chemotherapy(real_normalised):
    replica = later_chemotherapy(make_world(N_REAL, seed=7), days=60)
    checks = checks_of(real_normalised, replica, ("claims",))
    assert {"chemotherapy_delay_ks", "chemotherapy_delay_median"} <= failed(checks)
    assert 45 <= checks["chemotherapy_delay_median"]["value"] <= 75
    assert not failed(checks) & {"coherence:day_session_nights", "day_case_share"}


def test_hormone_therapy_before_surgery_fails_care_pathways(real_normalised):
    replica = hormone_therapy_first(make_world(N_REAL, seed=8))
    checks = checks_of(real_normalised, replica, ("pathways",))
    assert failed(checks) == {"pathways:breast"}  # lung and ovarian patients get no hormone therapy


def test_costs_twenty_percent_higher_fail_cost_per_patient(real_normalised):
    replica = costlier(make_world(N_REAL, seed=9), factor=1.2)
    checks = checks_of(real_normalised, replica, ("costs",))
    assert {"cost_per_patient:breast", "cost_by_stage:breast"} <= failed(checks)
    assert 0.15 <= checks["cost_per_patient:breast"]["value"] <= 0.3  # synthetic / real - 1
    assert checks["cost_per_patient:breast"]["threshold"] < 0.06  # 5%, or the noise of 1,500 patients when wider
    assert not failed(checks_of(real_normalised, make_world(N_REAL, seed=9), ("costs",)))  # the same, unbroken


# --- size of the replica, empty kinds -------------------------------------------------------------------------

def test_an_oversampled_replica_is_noted_and_compared_at_the_real_size(real_normalised):
    replica = make_world(5 * N_REAL // 2, seed=10)
    measured, _ = clinical_sections(real_normalised, normalise_dataset(replica, "synthetic"), seed=0,
                                    max_rows=20_000, rule=RULE)
    checks, notes = clinical_checks(measured, RULE)
    assert not [c["name"] for c in checks if not c["passed"]]
    assert any("2.5 times the real data" in n for n in notes)
    for model in measured["treatments"]["cox_by_cancer"]:
        assert model["n_synthetic"] <= 1.1 * model["n_real"]
        widths = [math.log(t["synthetic"]["upper"] / t["synthetic"]["lower"])
                  / math.log(t["real"]["upper"] / t["real"]["lower"]) for t in model["terms"]]
        assert 0.8 < float(np.median(widths)) < 1.25  # not 1/sqrt(2.5) = 0.63: no narrower for more rows
    assert all(g["synthetic"]["n"] <= 1.2 * g["real"]["n"] + 5 for g in measured["costs"]["groups"])


def test_a_side_without_chemotherapy_sessions_is_a_note_or_a_failure_not_a_crash(real, real_normalised):
    def without_sessions(data: dict) -> dict:
        out = _copy(data)
        out["stays"] = out["stays"][out["stays"]["main_diagnosis"] != "Z511"].reset_index(drop=True)
        return out

    checks = checks_of(real_normalised, without_sessions(make_world(N_REAL, seed=11)), ("claims",))
    assert "chemotherapy_delay_ks" in failed(checks) and "no synthetic chemotherapy session" in \
        checks["chemotherapy_delay_ks"]["what"]
    measured, _ = clinical_sections(normalise_dataset(without_sessions(real), "real"),
                                    normalise_dataset(without_sessions(make_world(N_REAL, seed=11)), "synthetic"),
                                    seed=0, max_rows=20_000, rule=RULE, parts=("claims",))
    checks, notes = clinical_checks(measured, RULE)
    assert "chemotherapy_delay_ks" not in {c["name"] for c in checks}
    assert any("Time to the first chemotherapy session not checked" in n for n in notes)
