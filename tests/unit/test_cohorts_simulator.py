"""Several cohort programmes and yearly SNDS extractions (`harmonie simulate --cohorts ... --years ...`)."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from harmonie.errors import InvalidParameter
from linkage.datasets.cohorts import parse_cohorts, parse_years
from linkage.datasets.warehouse import make_warehouse

cli = app()
COHORTS = "canto:150,esme:700,odh:300"


def run(*args):
    return CliRunner().invoke(cli, ["--quiet", *args])


@pytest.fixture(scope="module")
def warehouse():
    return make_warehouse(parse_cohorts(COHORTS), 10_000, seed=3, years=(2025, 2027))


@pytest.fixture(scope="module")
def years(warehouse):
    return {year: {name: table.to_pandas() for name, table in warehouse.extraction(year).items()}
            for year in warehouse.years}


@pytest.mark.parametrize("text, message", [
    ("", "NAME:SIZE pairs"), ("canto", "lacks its size"), ("canto:12k", "whole number"),
    ("cantos:100", "unknown cohort programme 'cantos'"), ("canto:1,canto:2", "given twice"),
    ("canto:1,,esme:2", "NAME:SIZE pairs"),
])
def test_malformed_cohorts_are_one_line_errors_naming_the_fix(text, message):
    with pytest.raises(InvalidParameter, match=message):
        parse_cohorts(text)


@pytest.mark.parametrize("args, message", [
    (["--cohorts", "canto:1O0"], "whole number"),
    (["--cohorts", "canto:100", "--years", "2030-2025"], "must run forwards"),
    (["--cohorts", "canto:100", "--years", "20x5"], "FIRST-LAST"),
    (["--cohort", "100", "--years", "2025-2026"], "--years goes with --cohorts"),
    (["--cohort", "100", "--cohorts", "canto:100"], "not both"),
    (["--cohorts", "canto:50000", "--snds", "3000"], "raise --snds or lower its size"),
])
def test_the_command_refuses_bad_cohorts_and_years_in_one_line(tmp_path, args, message):
    result = run("simulate", "--out", str(tmp_path / "pop"), *args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1 or result.output.count("Error") == 1


def test_parse_years_reads_a_range_or_one_year():
    assert parse_years("2025-2030") == (2025, 2030) and parse_years("2027") == (2027, 2027)


def test_each_programme_recruits_whom_its_protocol_says(warehouse):
    clinical = warehouse.shared["clinical_truth"].to_pandas()
    canto = clinical[clinical.canto_id.notna()]
    assert len(canto) == 150
    assert (canto.cancer_type == "breast").all() and canto.stage.between(1, 3).all() and (canto.sex == 2).all()
    assert canto.diagnosis_date.map(lambda d: d.year).between(2012, 2017).all()
    esme = clinical[clinical.esme_id.notna()]
    cancer_death = {"breast": "C50", "lung": "C34", "ovarian": "C56"}
    metastatic = (esme.stage == 4) | (esme.death_cause == esme.cancer_type.map(cancer_death))
    assert len(esme) == 700 and metastatic.all()
    odh = clinical[clinical.odh_id.notna()]
    assert len(odh) == 300 and odh.stage.nunique() == 4 and odh.cancer_type.nunique() == 3


def test_patients_can_be_in_two_programmes_but_once_in_each(warehouse):
    truth = warehouse.tables["record_truth"].to_pandas()
    cohorts = truth[truth.source != "snds"]
    assert not cohorts.duplicated(["source", "person"]).any()  # duplicate-free sources
    per_person = cohorts.groupby("person").source.nunique()
    o = warehouse.overlaps
    assert o["in_two_or_more"] == int((per_person >= 2).sum()) > 0
    assert o["pairs"]["esme+odh"] > 0 and o["distinct_persons"] == len(per_person)
    # SNDS holds second ids of one person
    snds = truth[truth.source == "snds"]
    assert snds.person.duplicated().sum() == len(warehouse.tables["snds_duplicates"]) > 0


def test_a_patient_referred_elsewhere_has_the_later_record_from_another_centre(warehouse):
    assert warehouse.overlaps["records_from_two_centres"] > 0
    truth = warehouse.tables["record_truth"].to_pandas()
    centres = pd.concat([warehouse.tables[f"{name}_patients"].to_pandas()[["cohort_id", "centre_finess"]]
                         .assign(source=name) for name in ("canto", "esme", "odh")])
    merged = truth.merge(centres, left_on=["source", "local_id"], right_on=["source", "cohort_id"])
    several = merged.groupby("person").filter(lambda g: len(g) >= 2)
    assert (several.groupby("person").centre_finess.nunique() >= 2).sum() > 0


def test_truth_pairs_are_the_same_person_in_record_truth(warehouse):
    truth = warehouse.tables["record_truth"].to_pandas()
    person = dict(zip(zip(truth.source, truth.local_id), truth.person))
    for name in ("canto", "esme", "odh"):
        pairs = warehouse.tables[f"truth_{name}"].to_pandas()
        assert len(pairs) > 0
        assert all(person[(name, c)] == person[("snds", s)] for c, s in zip(pairs.cohort_id, pairs.snds_id))
        only = 1 - len(pairs) / warehouse.tables[f"{name}_patients"].num_rows
        assert 0.01 <= only <= 0.06  # cohort_only_rate 0.03 each, a little more for patients of two programmes


def test_extractions_grow_year_after_year_with_stable_ids(years):
    for source in ("canto_patients", "esme_patients", "odh_patients", "snds_beneficiaries"):
        id_column = "snds_id" if source.startswith("snds") else "cohort_id"
        before = None
        for year in sorted(years):
            ids = set(years[year][source][id_column])
            if before is not None:
                assert before <= ids, source
            before = ids
    assert len(years[2025]["snds_stays"]) < len(years[2026]["snds_stays"]) < len(years[2027]["snds_stays"])


def test_the_last_extraction_is_the_warehouse_itself(warehouse, years):
    for name in ("esme_patients", "snds_beneficiaries", "snds_stays", "record_truth"):
        assert years[2027][name].equals(warehouse.tables[name].to_pandas()), name


def test_nothing_after_31_december_is_in_an_extraction(years):
    end = pd.Timestamp("2025-12-31")
    y = years[2025]
    assert (pd.to_datetime(y["snds_stays"].discharge_date) <= end).all()
    assert (pd.to_datetime(y["snds_dispensings"].dispensing_date) <= end).all()
    assert (pd.to_datetime(y["snds_beneficiaries"].death_date.dropna()) <= end).all()
    assert (pd.to_datetime(y["esme_patients"].last_news_date) <= end).all()


def test_the_change_log_says_what_changed_and_records_it_does_not_name_are_unchanged(years):
    for year in (2026, 2027):
        before, now = years[year - 1]["snds_beneficiaries"], years[year]["snds_beneficiaries"]
        changes = years[year]["changes"]
        snds = changes[changes.source == "snds"].set_index("local_id")
        assert set(snds.index[snds.new]) == set(now.snds_id) - set(before.snds_id)
        assert snds.death_added.sum() > 0 and snds.moved.sum() > 0 and snds.identity_corrected.sum() > 0
        joined = now.merge(before, on="snds_id", suffixes=("", "_before"))
        flags = snds.loc[joined.snds_id]
        columns = [c for c in now.columns if c != "snds_id"]
        differs = np.zeros(len(joined), dtype=bool)
        for c in columns:
            a, b = joined[c], joined[f"{c}_before"]
            differs |= ~((a == b) | (a.isna() & b.isna())).to_numpy()
        unflagged = ~(flags.death_added | flags.moved | flags.identity_corrected).to_numpy()
        assert not (differs & unflagged).any()  # what the log does not name did not change
        corrected = flags.identity_corrected.to_numpy()
        assert (joined.birth_date != joined.birth_date_before)[corrected].sum() + \
            (joined.birth_name != joined.birth_name_before)[corrected].sum() == corrected.sum()
        died = flags.death_added.to_numpy()
        assert joined.death_date[died].notna().all() and joined.death_date_before[died].isna().all()


def _digests(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in [*sorted(folder.rglob("*.parquet")), folder / "population.json"]}


def test_same_seed_same_files_another_seed_others_and_sizes_are_documented(tmp_path):
    args = ["--cohorts", "canto:60,esme:200,odh:100", "--snds", "3000", "--years", "2026-2027"]
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        result = run("simulate", "--out", str(tmp_path / name), "--seed", seed, *args)
        assert result.exit_code == 0, result.output
    a, b, c = (_digests(tmp_path / n) for n in "abc")
    assert a == b and a != c
    assert {"2026/canto_patients.parquet", "2027/record_truth.parquet", "2027/changes.parquet",
            "clinical_truth.parquet"} <= set(a)
    meta = json.loads((tmp_path / "a" / "population.json").read_text())
    assert meta["years"] == [2026, 2027] and meta["rows"]["2027"]["esme_patients"] == 200
    assert set(meta["overlaps"]["pairs"]) == {"canto+esme", "canto+odh", "esme+odh"}
    assert "overlap (last year)" in run("simulate", "--out", str(tmp_path / "d"), *args).output
