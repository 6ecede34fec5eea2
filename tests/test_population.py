"""The simulated cohort <-> SNDS population: truth, realism, corruption, determinism."""

import dataclasses
import hashlib

import numpy as np
import pandas as pd
import pytest

from harmonie.errors import InvalidParameter
from linkage.datasets import PopulationParams, SideCorruption, make_population, population_summary
from linkage.normalise.text import strip_accents
from linkage.nir import is_valid_nir

FILES = ("cohort_patients", "cohort_stays", "snds_beneficiaries", "snds_stays", "snds_dispensings", "truth",
         "hard_cases", "snds_duplicates", "corruptions")


def _digest(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    make_population(300, 3_000, seed=5).write(a)
    make_population(300, 3_000, seed=5).write(b)
    make_population(300, 3_000, seed=6).write(c)
    assert _digest(a) == _digest(b)
    assert _digest(a)["snds_beneficiaries.parquet"] != _digest(c)["snds_beneficiaries.parquet"]
    assert {f"{name}.parquet" for name in FILES} | {"population.json"} == set(_digest(a))


def test_truth_pairs_exist_on_both_sides_and_the_cohort_only_share_is_as_configured(population):
    truth, cohort, snds = population["truth"], population["cohort_patients"], population["snds_beneficiaries"]
    assert truth.cohort_id.is_unique and truth.snds_id.is_unique
    assert set(truth.cohort_id) <= set(cohort.cohort_id)
    assert set(truth.snds_id) <= set(snds.snds_id)
    assert len(cohort) == 1_500 and len(snds) == 20_000
    assert 1 - len(truth) / len(cohort) == pytest.approx(population.params.cohort_only_rate, abs=1 / 1_500)
    hard = population["hard_cases"]
    assert set(hard.cohort_id[hard.in_snds]) == set(truth.cohort_id)


def test_ids_are_opaque_and_files_sorted_by_id(population):
    cohort, truth = population["cohort_patients"], population["truth"]
    assert cohort.cohort_id.is_monotonic_increasing
    assert population["snds_stays"].snds_id.is_monotonic_increasing
    # the row of a cohort patient says nothing about the row of its beneficiary
    snds_rank = population["snds_beneficiaries"].reset_index().set_index("snds_id")["index"]
    cohort_rank = cohort.reset_index().set_index("cohort_id")["index"]
    r = np.corrcoef(cohort_rank[truth.cohort_id].to_numpy(), snds_rank[truth.snds_id].to_numpy())[0, 1]
    assert abs(r) < 0.1


def test_nir_keys_are_valid_on_records_not_marked_as_mistyped(population):
    corruptions = population["corruptions"]
    for side, table, id_column in (("snds", "snds_beneficiaries", "snds_id"), ("cohort", "cohort_patients", "cohort_id")):
        records = population[table]
        typo_ids = set(corruptions.record_id[(corruptions.side == side) & (corruptions.field == "nir")
                                             & (corruptions.kind == "typo")])
        nirs = records.loc[records.nir.notna() & ~records[id_column].isin(typo_ids), "nir"].str.replace(" ", "")
        assert len(nirs) > 100
        assert nirs.map(is_valid_nir).all()
        mistyped = records.loc[records[id_column].isin(typo_ids), "nir"].str.replace(" ", "")
        assert mistyped.map(is_valid_nir).mean() < 0.2  # a mistyped NIR almost never keeps a valid key


def test_nir_encodes_sex_and_birth_month_of_clean_records(population):
    snds = population["snds_beneficiaries"]
    clean = snds[~snds.snds_id.isin(population["corruptions"].record_id)]
    own = clean.nir.str[0] == clean.sex  # filed under their own NIR
    assert own.mean() > 0.9
    yymm = clean.birth_date.str[2:4] + clean.birth_date.str[5:7]
    assert (clean.nir.str[1:5] == yymm)[own].mean() > 0.9


def test_sex_and_cancer_are_consistent(population):
    cohort = population["cohort_patients"]
    ovarian = cohort[cohort.cancer_type == "ovarian"]
    assert ovarian.sex.dropna().isin(["F", "2"]).all()
    breast = cohort[cohort.cancer_type == "breast"]
    assert breast.sex.isin(["F", "2"]).mean() > 0.95
    lung = cohort[cohort.cancer_type == "lung"]
    assert 0.5 < lung.sex.isin(["M", "H", "1"]).mean() < 0.75


def test_lung_cancer_is_far_more_lethal_and_dates_are_coherent(population):
    cohort = population["cohort_patients"]
    dead = cohort.groupby("cancer_type").death_date.apply(lambda s: s.notna().mean())
    assert dead["lung"] > 2 * dead["breast"]
    with_death = cohort.dropna(subset=["death_date"])
    assert (with_death.death_date >= with_death.diagnosis_date).all()
    assert (cohort.last_news_date >= cohort.diagnosis_date).all()
    years = pd.to_datetime(cohort.diagnosis_date).dt.year
    assert years.min() >= 2008 and years.max() <= 2025


def test_cohort_stays_reappear_in_snds_with_the_same_finess_and_dates(population):
    truth = population["truth"]
    cohort_stays = population["cohort_stays"].merge(truth, on="cohort_id")
    snds_stays = population["snds_stays"]
    exact = cohort_stays.merge(snds_stays, on=["snds_id", "finess", "admission_date"], how="left", indicator=True)
    found = exact.drop_duplicates(["cohort_id", "finess", "admission_date"])._merge.eq("both").mean()
    rates = population.params
    # lost on the SNDS side or shifted on either side: a few percent, the rest matches exactly
    assert 0.85 < found < 1 - rates.snds.stay_missing / 2
    # cancer centres also treat patients who are not in the cohort
    centres = set(population["cohort_patients"].centre_finess)
    outside = snds_stays[~snds_stays.snds_id.isin(truth.snds_id) & snds_stays.finess.isin(centres)]
    assert outside.snds_id.nunique() > 0.03 * (20_000 - len(truth))


def test_snds_has_about_ten_stays_per_beneficiary_and_dispensings(population):
    summary = population_summary(population)
    assert 8 < summary["snds_stays_per_beneficiary"] < 12
    assert summary["snds_dispensings"] > 3 * summary["snds_beneficiaries"]
    assert summary["true_links"] == len(population["truth"])


def test_the_hard_cases_are_present(population):
    hard = population["hard_cases"]
    shares = hard.mean(numeric_only=True)
    assert 0.3 < shares.married_name < 0.7
    assert 0.02 < shares.account_holder_nir < 0.1
    assert 0.05 < shares.moved < 0.4
    assert 0.2 < shares.nir_present < 0.4
    snds = population["snds_beneficiaries"]
    assert snds.nir.duplicated().sum() > 0  # twins (and spouses) under one account holder's NIR
    duplicates = population["snds_duplicates"]
    assert len(duplicates) == round(20_000 * population.params.snds_duplicate_rate)
    assert set(duplicates.snds_id).isdisjoint(duplicates.same_person_as)
    names = pd.concat([population["cohort_patients"].use_name, snds.birth_name]).dropna()
    assert names.str.contains("-").any() and names.str.contains(" ").any()
    assert names.str.contains("ÉPOUSE|NÉE|EP\\.").any()
    assert population["cohort_patients"].nir.str.contains(" ").any()


def _clean_snds() -> SideCorruption:
    return SideCorruption(**{f.name: 0.0 for f in dataclasses.fields(SideCorruption)})


def test_realised_corruption_rates_match_the_configured_ones():
    """Measured on the data itself: a clean SNDS side against a damaged cohort side."""
    cohort_rates = dataclasses.replace(SideCorruption(), name_typo=0.2, birth_day_month_swap=0.3,
                                       birth_day_missing=0.1, birth_date_typo=0.0, nir_missing=0.5, nir_typo=0.0,
                                       commune_missing=0.15, drop_hyphens=0.0)
    params = PopulationParams(married_name_rate=0.0, cohort_birth_name_recorded=1.0, double_surname_rate=0.0,
                              move_rate_per_year=0.0, cohort=cohort_rates, snds=_clean_snds())
    pop = make_population(4_000, 20_000, seed=3, params=params)
    pairs = pop["truth"].merge(pop["cohort_patients"], on="cohort_id").merge(
        pop["snds_beneficiaries"], on="snds_id", suffixes=("_c", "_s"))
    n = len(pairs)

    def tolerance(rate):  # four binomial standard deviations
        return 4 * np.sqrt(rate * (1 - rate) / n) + 1e-9

    cohort_names = pairs.birth_name_c.map(lambda v: strip_accents(v).upper())
    typo_share = (cohort_names != pairs.birth_name_s).mean()
    assert typo_share == pytest.approx(0.2, abs=tolerance(0.2))

    french = pairs.birth_date_c.str.contains("/")
    day = np.where(french, pairs.birth_date_c.str[0:2], pairs.birth_date_c.str[8:10]).astype(int)
    month = np.where(french, pairs.birth_date_c.str[3:5], pairs.birth_date_c.str[5:7]).astype(int)
    true_day, true_month = pairs.birth_date_s.str[8:10].astype(int), pairs.birth_date_s.str[5:7].astype(int)
    assert (day == 0).mean() == pytest.approx(0.1, abs=tolerance(0.1))
    eligible = (true_day <= 12) & (true_day != true_month)
    swapped = (month == true_day) & (day == true_month) & eligible
    # an unknown day after the swap hides it, hence the 0.9
    assert swapped.sum() / eligible.sum() == pytest.approx(0.3 * 0.9, abs=tolerance(0.3) * 2)
    assert pairs.nir_c.isna().mean() == pytest.approx(0.5, abs=tolerance(0.5))
    assert pairs.commune_code_c.isna().mean() == pytest.approx(0.15, abs=tolerance(0.15))
    assert (pairs.commune_code_c.dropna() == pairs.commune_code_s[pairs.commune_code_c.notna()]).all()
    # and the log agrees with the configuration for every kind of corruption
    for row in pop.corruption_rates.itertuples():
        if row.eligible >= 200:
            p = row.configured_rate
            assert row.applied / row.eligible == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / row.eligible) + 1e-9), row


@pytest.mark.parametrize("kwargs, message", [
    ({"n_cohort": -1}, "zero or more"),
    ({"n_cohort": 5_000, "n_snds": 1_000}, "cohort larger than the population"),
    ({"params": PopulationParams(cohort_only_rate=1.5)}, "between 0 and 1"),
    ({"params": PopulationParams(snds_cancer_mix=(0.5, 0.5, 0.5))}, "summing to 1"),
    ({"n_cohort": 1_000, "n_snds": 2_000, "params": PopulationParams(cohort_cancer_mix=(0.0, 0.0, 1.0))},
     "ovarian-cancer patients"),
])
def test_impossible_parameters_are_refused(kwargs, message):
    with pytest.raises(InvalidParameter, match=message):
        make_population(**kwargs)


def test_empty_populations_are_valid(tmp_path):
    pop = make_population(0, 0, seed=1)
    pop.write(tmp_path)
    assert all(table.num_rows == 0 for table in pop.tables.values())
    assert pd.read_parquet(tmp_path / "truth.parquet").columns.tolist() == ["cohort_id", "snds_id"]
