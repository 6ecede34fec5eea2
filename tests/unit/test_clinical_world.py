"""The clinical world of the simulator (issue #23): treatments for everyone, survival that
depends on them with known hazard ratios, claims that follow them, GHM, costs, causes of death."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from harmonie.errors import InvalidParameter
from linkage.datasets import PopulationParams, make_population
from linkage.datasets.care import ATC_CODES, DIAGNOSIS_CODES, GHM_CODES
from linkage.datasets.clinical import DEATH_CAUSES, TREATMENTS, planted_hazard_ratios
from linkage.datasets.params import ClinicalEffects, describe, with_overrides

DIAG = np.asarray(DIAGNOSIS_CODES)
GHM = np.asarray(GHM_CODES)
ATC = np.asarray(ATC_CODES)


@pytest.fixture(scope="module")
def world_population():
    return make_population(1_000, 20_000, seed=23, keep_world=True)


@pytest.fixture(scope="module")
def world(world_population):
    return world_population.world


def _stays(w) -> pd.DataFrame:
    s = w.stays
    return pd.DataFrame({"person": s.person, "admission": s.admission, "discharge": s.discharge,
                         "diagnosis": DIAG[s.diagnosis], "ghm": GHM[s.ghm], "cost": s.cost})


def _dispensings(w) -> pd.DataFrame:
    d = w.dispensings
    return pd.DataFrame({"person": d.person, "date": d.date, "atc": ATC[d.atc], "quantity": d.quantity,
                         "cost": d.cost})


def _followed(w, days: int) -> np.ndarray:
    """People who died, or were followed at least ``days`` after diagnosis."""
    return (w.death >= 0) | (w.last_day - w.diagnosis >= days)


def test_day_sessions_last_no_night_and_every_other_stay_one_or_more(world):
    stays = _stays(world)
    nights = stays.discharge - stays.admission
    session = stays.diagnosis.isin(["Z510", "Z511"])
    assert session.mean() > 0.4 and (nights[session] == 0).all()
    assert (nights[~session] >= 1).all()
    assert set(stays.ghm[session]) == {"28Z07", "28Z11"}
    assert (stays.ghm[stays.diagnosis == "Z511"] == "28Z07").all()


def test_nothing_before_the_work_up_window_nor_after_death(world):
    stays, dispensings = _stays(world), _dispensings(world)
    dx, last = world.diagnosis, world.last_day
    assert (stays.admission >= dx[stays.person] - 30).all()
    assert (stays.discharge <= last[stays.person]).all()
    # before diagnosis, only the work-up stay; but for those who die within weeks of it, whose
    # treatments (drawn whatever their survival) are squeezed into their last days
    before = (stays.admission < dx[stays.person]).groupby(stays.person).sum()
    squeezed = before.index[before > 1]
    assert len(squeezed) < 0.01 * world.n
    assert ((world.death[squeezed] >= 0) & (world.death[squeezed] - dx[squeezed] < 60)).all()
    assert (dispensings.date >= dx[dispensings.person]).all()
    assert (dispensings.date <= last[dispensings.person]).all()
    assert dispensings.person.max() < world.n_snds_people  # the cohort holds no dispensings
    dead = world.death >= 0
    after = stays.discharge > np.where(dead, world.death, np.iinfo(np.int32).max)[stays.person]
    assert not after.any()


def test_sessions_and_drugs_only_for_the_patients_given_the_treatment(world):
    t, stays, dispensings = world.treatments, _stays(world), _dispensings(world)
    her2 = (world.cancer == 0) & (world.subtype == "HER2+")
    chemo_session = stays.person[stays.diagnosis == "Z511"]
    assert (t["chemotherapy"] | (t["targeted_therapy"] & her2))[chemo_session].all()
    assert t["radiotherapy"][stays.person[stays.diagnosis == "Z510"]].all()
    atc = dispensings.atc
    person = dispensings.person
    assert t["hormone_therapy"][person[atc.str.startswith("L02B")]].all()
    assert t["targeted_therapy"][person[atc.isin(["L01EB04", "L01XK01"])]].all()
    assert t["chemotherapy"][person[atc == "L01BC06"]].all()
    assert (t["chemotherapy"] | t["targeted_therapy"])[person[atc.isin(["A04AA01", "L03AA13"])]].all()
    dead = world.death >= 0
    assert dead[person[atc == "N02AA01"]].all() and dead[stays.person[stays.diagnosis == "Z515"]].all()
    # and the treatments show: chemotherapy patients have sessions, hormone therapy patients
    # dispensings (unless planned after the end of follow-up)
    k = world.n_snds_people
    seen = _followed(world, 365)
    with_session = np.zeros(world.n, dtype=bool)
    with_session[chemo_session] = True
    assert with_session[t["chemotherapy"] & seen].all()
    hormone = np.zeros(world.n, dtype=bool)
    hormone[person[atc.str.startswith("L02B")]] = True
    assert hormone[:k][(t["hormone_therapy"] & seen)[:k]].all()
    # one hormone drug per patient, calcium only with an aromatase inhibitor
    drugs = dispensings[atc.str.startswith("L02B")].groupby("person").atc.nunique()
    assert (drugs == 1).all()
    inhibitor = set(person[atc.isin(["L02BG03", "L02BG04"])])
    assert set(person[atc == "A12AX"]) <= inhibitor


def test_a_surgical_ghm_if_and_only_if_surgery(world):
    stays = _stays(world)
    surgical = stays[stays.ghm.str[2] == "C"]
    counts = np.bincount(surgical.person, minlength=world.n)
    operated = world.treatments["surgery"]
    assert (counts[operated & _followed(world, 70)] == 1).all()  # 8 weeks after diagnosis at the latest
    assert (counts[operated] <= 1).all() and (counts[~operated] == 0).all()
    assert (surgical.discharge - surgical.admission >= 1).all()
    gap = surgical.admission - world.diagnosis[surgical.person]
    assert ((gap >= 14) & (gap <= 60)).mean() > 0.97  # 2-8 weeks (and the Monday after), bar early deaths
    expected = {0: ("09C04", "09C05"), 1: ("04C02",), 2: ("13C03",)}
    for cancer, codes in expected.items():
        assert set(surgical.ghm[world.cancer[surgical.person] == cancer]) <= set(codes)


def test_chemotherapy_comes_in_cycles_after_surgery(world):
    stays = _stays(world)
    sessions = stays[stays.diagnosis == "Z511"].sort_values(["person", "admission"])
    gaps = sessions.groupby("person").admission.diff().dropna()
    assert (gaps >= 5).all()  # weekly at the most often (a weekend session moves to Monday)
    assert gaps.between(21, 28).mean() > 0.5
    first = sessions.groupby("person").admission.min()
    operated = world.treatments["surgery"][first.index]
    surgery = stays[stays.ghm.str[2] == "C"].set_index("person")
    after = first[operated] > surgery.loc[first.index[operated], "discharge"]
    assert after.mean() > 0.97
    assert ((sessions.admission.to_numpy() + 3) % 7 < 5).mean() > 0.99  # working days
    radio = stays[stays.diagnosis == "Z510"].sort_values(["person", "admission"])
    per_patient = radio.groupby("person").size()
    assert per_patient.between(1, 15).all() and per_patient.median() >= 8
    step = radio.groupby("person").admission.diff().dropna()
    assert step.isin([1, 3]).all()  # consecutive working days


def test_the_cohort_carries_the_worlds_treatments(population):
    truth, clinical = population["truth"], population["clinical_truth"]
    patients = population["cohort_patients"].merge(truth, on="cohort_id")
    both = patients.merge(clinical, on="snds_id", suffixes=("", "_world"))
    assert len(both) == len(truth)
    for name in TREATMENTS:
        assert (both[name] == both[f"{name}_world"]).all(), name
    assert (both.cohort_id == both.cohort_id_world).all()
    assert clinical.snds_id.notna().sum() + clinical.cohort_id[clinical.snds_id.isna()].notna().sum() == len(clinical)


def test_snds_claims_follow_the_treatments_despite_the_corruption(population):
    """On the files: each beneficiary's claims against their (world) treatments, second ids included."""
    clinical = population["clinical_truth"].dropna(subset=["snds_id"]).set_index("snds_id")
    dup = population["snds_duplicates"].set_index("snds_id").same_person_as
    stays, dispensings = population["snds_stays"], population["snds_dispensings"]
    person = stays.snds_id.map(dup).fillna(stays.snds_id)
    flags = clinical.loc[person]
    session = stays.main_diagnosis.isin(["Z510", "Z511"]).to_numpy()
    assert ((stays.discharge_date == stays.admission_date).to_numpy() == session).all()
    z511 = (stays.main_diagnosis == "Z511").to_numpy()
    assert (flags.chemotherapy.to_numpy() | flags.targeted_therapy.to_numpy())[z511].all()
    surgical = (stays.ghm.str[2] == "C").to_numpy()
    assert flags.surgery.to_numpy()[surgical].all()
    operated = set(person[surgical])
    surgery_ids = set(clinical.index[clinical.surgery])
    assert len(operated) / len(surgery_ids) > 1 - 3 * population.params.snds.stay_missing  # a few stays lost
    d_person = dispensings.snds_id.map(dup).fillna(dispensings.snds_id)
    d_flags = clinical.loc[d_person]
    assert d_flags.hormone_therapy.to_numpy()[dispensings.atc_code.str.startswith("L02B").to_numpy()].all()
    assert (pd.to_datetime(dispensings.dispensing_date) >= pd.to_datetime(d_flags.diagnosis_date).to_numpy()).all()
    # the means stay those of the parameters
    n = len(population["snds_beneficiaries"])
    p = population.params
    assert len(stays) / n == pytest.approx(p.stays_per_beneficiary * (1 - p.snds.stay_missing), rel=0.05)
    assert len(dispensings) / n == pytest.approx(p.dispensings_per_beneficiary, rel=0.1)


def test_costs_are_positive_rounded_and_deterministic(world_population):
    stays, dispensings = world_population["snds_stays"], world_population["snds_dispensings"]
    for table in (stays, dispensings):
        assert table.cost_eur.dtype == np.float64 and (table.cost_eur > 0).all()
        assert np.allclose(table.cost_eur * 100, np.round(table.cost_eur * 100))
    by_ghm = stays.groupby("ghm").cost_eur.median()
    assert by_ghm["04C02"] > by_ghm["09C05"] > by_ghm["28Z07"] > by_ghm["28Z11"]
    assert 7_000 < by_ghm["04C02"] < 13_000 and 300 < by_ghm["28Z07"] < 550
    price = (dispensings.cost_eur / dispensings.quantity).groupby(dispensings.atc_code).median()
    assert price["L01EB04"] > 4_000 and price["L01XK01"] > 3_500 and price["L02BA01"] < 8
    assert stays.ghm.str.fullmatch(r"\d{2}[CMZ]\d{2}").all()
    again = make_population(1_000, 20_000, seed=23)
    assert again["snds_stays"].equals(stays) and again["snds_dispensings"].equals(dispensings)
    other = make_population(1_000, 20_000, seed=24)["snds_stays"]
    assert not other.cost_eur.head(1000).equals(stays.cost_eur.head(1000))


def test_causes_of_death_are_mostly_the_cancer_and_more_often_another_when_old_or_early(world_population):
    beneficiaries = world_population["snds_beneficiaries"]
    assert (beneficiaries.death_cause.notna() == beneficiaries.death_date.notna()).all()
    assert beneficiaries.death_cause.dropna().str.fullmatch(r"[A-Z]\d{2}").all()
    clinical = world_population["clinical_truth"]
    dead = clinical[clinical.death_date.notna()].copy()
    assert clinical.death_cause[clinical.death_date.isna()].isna().all()
    assert set(dead.death_cause) <= set(DEATH_CAUSES)
    own = {"breast": "C50", "lung": "C34", "ovarian": "C56"}
    dead["own"] = dead.death_cause == dead.cancer_type.map(own)
    assert dead.own.mean() > 0.7
    assert dead.own[dead.stage == 4].mean() > dead.own[dead.stage == 1].mean() + 0.1
    old = dead.age_at_diagnosis >= 75
    assert dead.own[old].mean() < dead.own[~old].mean() - 0.05
    assert not (dead.death_cause.isin(["C34", "C56"]) & (dead.cancer_type == "breast")).any()


def test_older_patients_get_less_surgery_and_chemotherapy(world_population):
    clinical = world_population["clinical_truth"]
    early_breast = clinical[(clinical.cancer_type == "breast") & (clinical.stage <= 2)]
    old = early_breast.age_at_diagnosis >= 75
    young = early_breast.age_at_diagnosis < 55
    assert early_breast.chemotherapy[old].mean() < early_breast.chemotherapy[young].mean() - 0.15
    assert early_breast.surgery[old].mean() < early_breast.surgery[young].mean()
    by_subtype = clinical[clinical.cancer_type == "breast"].groupby("subtype")
    assert by_subtype.hormone_therapy.mean()["HR+/HER2-"] > 0.8 and by_subtype.hormone_therapy.mean()["HER2+"] == 0
    assert by_subtype.targeted_therapy.mean()["HER2+"] > 0.8
    assert by_subtype.chemotherapy.mean()["triple-negative"] > by_subtype.chemotherapy.mean()["HR+/HER2-"] + 0.3
    lung = clinical[clinical.cancer_type == "lung"]
    assert lung.surgery[lung.stage == 1].mean() > 0.5 > lung.surgery[lung.stage == 4].mean()
    assert not lung.hormone_therapy.any()


def _cox_frame(clinical: pd.DataFrame) -> pd.DataFrame:
    def is_(cancer, subtype):
        return ((clinical.cancer_type == cancer) & (clinical.subtype == subtype)).astype(int)

    end = pd.to_datetime(clinical.death_date.fillna(clinical.end_of_follow_up))
    return pd.DataFrame({
        "years": (end - pd.to_datetime(clinical.diagnosis_date)).dt.days / 365.25 + 0.5 / 365.25,
        "died": clinical.death_date.notna().astype(int),
        "cell": clinical.cancer_type + clinical.stage.astype(str),
        "breast HER2+ vs HR+/HER2-": is_("breast", "HER2+"),
        "breast triple-negative vs HR+/HER2-": is_("breast", "triple-negative"),
        "lung squamous vs adenocarcinoma": is_("lung", "squamous"),
        "lung small-cell vs adenocarcinoma": is_("lung", "small-cell"),
        "lung other": is_("lung", "other-nsclc"),
        "ovarian clear-cell vs high-grade serous": is_("ovarian", "clear-cell"),
        "ovarian endometrioid": is_("ovarian", "endometrioid"),
        "ovarian other": is_("ovarian", "other"),
        **{name.replace("_", " "): clinical[name].astype(int) for name in TREATMENTS},
        "male vs female": (clinical.sex == 1).astype(int),
        "per year of age at diagnosis": clinical.age_at_diagnosis.astype(float) - 65,
    })


def test_a_cox_model_on_the_snds_truth_recovers_the_planted_hazard_ratios():
    from lifelines import CoxPHFitter

    pop = make_population(200, 30_000, seed=7)
    clinical = pop["clinical_truth"].dropna(subset=["snds_id"])
    fit = CoxPHFitter().fit(_cox_frame(clinical), "years", "died", strata=["cell"])
    planted = planted_hazard_ratios(pop.params.clinical)
    assert len(planted) >= 8 and pop.metadata()["planted_hazard_ratios"] == planted
    z = {}
    for name, hr in planted.items():
        row = fit.summary.loc[name]
        z[name] = (row["coef"] - np.log(hr)) / row["se(coef)"]
    assert max(abs(v) for v in z.values()) < 3.0, z  # every one within 3 standard errors
    inside = sum(abs(v) < 1.96 for v in z.values())
    assert inside >= len(planted) - 2, z              # and nearly all within their 95% CI
    for name in ("lung other", "ovarian endometrioid", "ovarian other"):  # no planted effect
        assert abs(fit.summary.loc[name, "coef"]) < 3 * fit.summary.loc[name, "se(coef)"], name


def test_effects_are_parameters_reachable_from_the_command_line_and_validated():
    params = with_overrides(PopulationParams(), ["clinical.hr_surgery=0.3", "clinical.palliative_stay_rate=0"])
    assert params.clinical.hr_surgery == 0.3 and params.clinical.palliative_stay_rate == 0.0
    assert ("clinical.hr_surgery", 0.55) in {(name, value) for name, value, _ in describe()}
    with pytest.raises(InvalidParameter, match="clinical.hr_surgery must be a positive number"):
        make_population(10, 100, params=with_overrides(PopulationParams(), ["clinical.hr_surgery=0"]))
    with pytest.raises(InvalidParameter, match="is a group"):
        with_overrides(PopulationParams(), ["clinical=1"])
    with pytest.raises(InvalidParameter, match="unknown parameter"):
        with_overrides(PopulationParams(), ["clinical.hr_nothing=1"])
    # no palliative stays when asked for none, and a stronger surgery effect shows in the deaths
    none = make_population(200, 5_000, seed=3, params=params)
    assert not (none["snds_stays"].main_diagnosis == "Z515").any()
    default = make_population(200, 5_000, seed=3)["clinical_truth"]
    strong = none["clinical_truth"]
    died = {name: table.groupby("surgery").death_date.apply(lambda s: s.notna().mean())
            for name, table in (("default", default), ("strong", strong))}
    assert died["strong"][True] < died["default"][True]
    meta = none.metadata()
    assert meta["params"]["clinical"]["hr_surgery"] == 0.3 and meta["planted_hazard_ratios"]["surgery"] == 0.3
    assert dataclasses.asdict(ClinicalEffects())["hr_male"] == 1.2
