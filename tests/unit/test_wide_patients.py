"""Wide patient tables (#23 item 4): the cohort's extra clinical variables, from the simulator to the replica.

The simulator adds a case-report form (biomarkers, comorbidities, performance status...) with planted relations to
cancer, stage, subtype and to survival beyond them; the analytic dataset carries it as extra patient columns; the
replica draws them after survival (synth/wide.py); the utility report checks them, and fails a replica that drops
the relations; nothing identifying passes, and the risk measures stay on their fixed columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import _crosswalk, linked_extracts
from harmonie.errors import HarmonieError, InvalidParameter
from linkage.datasets import PopulationParams, make_population
from linkage.datasets.clinical_variables import ClinicalVariable, clinical_variable_catalogue
from linkage.datasets.params import ClinicalVariablesParams, with_overrides
from synth.analytic import build_analytic
from synth.extract import make_extract, pseudonymise
from synth.report.checks import THRESHOLDS, clinical_checks
from synth.report.extra_columns import extra_columns_section
from synth.schema import check_extra_columns, extra_columns
from synth.wide import fit_wide

WIDTH = 40


def _wide(count: int, **settings) -> PopulationParams:
    return PopulationParams(clinical_variables=ClinicalVariablesParams(count=count, **settings))


@pytest.fixture(scope="module")
def wide_population():
    return make_population(2_500, 4_000, seed=7, params=_wide(WIDTH))


@pytest.fixture(scope="module")
def wide_analytic(wide_population):
    cohort, snds, links = linked_extracts(wide_population)
    crosswalk = _crosswalk(wide_population["cohort_patients"]["cohort_id"], "c")  # the one linked_extracts used
    cohort["cohort_variables"] = pseudonymise(wide_population["cohort_variables"], "cohort_id", crosswalk)[0]
    return build_analytic(links, cohort, snds, seed=1, control_fraction=0.4)


def _code(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    text = values.astype("object").where(values.notna(), None)
    levels = sorted({str(v) for v in text.dropna()})
    return text.map(lambda v: np.nan if v is None else float(levels.index(str(v))))


def _two_year_death(p: pd.DataFrame) -> pd.Series:
    died = p["death"].astype(bool) & (p["followup_days"] <= 730)
    return died.astype(float).where(died | (p["followup_days"] >= 730))


def _spearman(p: pd.DataFrame, column: str, target: pd.Series) -> float:
    return float(_code(p[column]).corr(target, method="spearman"))


# --- the simulator ----------------------------------------------------------------------------------

def test_the_default_population_has_no_clinical_variables(population):
    assert "cohort_variables" not in population.tables  # off by default: every other output is the pinned one


def test_the_case_report_form_is_one_row_per_cohort_patient_with_typed_sparse_columns(wide_population):
    table = wide_population["cohort_variables"]
    patients = wide_population["cohort_patients"]
    assert table["cohort_id"].tolist() == patients["cohort_id"].tolist()  # same ids, same order
    names = [v.name for v in clinical_variable_catalogue(WIDTH)]
    assert list(table.columns) == ["cohort_id", *names]
    kinds = check_extra_columns(wide_population.tables["cohort_variables"], "cohort_variables", ["cohort_id"])
    assert set(kinds.values()) == {"numerical", "boolean", "categorical"}
    cancer = patients["cancer_type"]
    assert table.loc[cancer != "lung", "egfr_mutation"].isna().all()  # a lung biomarker, only for lung cancer
    assert table.loc[cancer == "lung", "egfr_mutation"].notna().mean() > 0.5
    assert table.loc[cancer != "breast", "ki67_pct"].isna().all()
    diagnosed = pd.to_datetime(patients["diagnosis_date"]).dt.year
    assert table.loc[diagnosed < 2016, "pdl1_tps"].isna().all()  # tested from 2016 only
    sparse = table.iloc[:, 1:].isna().mean()
    assert (sparse > 0.5).sum() >= 5 and (sparse == 0).sum() >= 5  # some sparse, some always recorded


def test_variable_k_is_the_same_in_every_catalogue_and_population(wide_population):
    assert clinical_variable_catalogue(WIDTH) == clinical_variable_catalogue(200)[:WIDTH]
    narrow = make_population(2_500, 4_000, seed=7, params=_wide(10))
    pd.testing.assert_frame_equal(narrow["cohort_variables"], wide_population["cohort_variables"].iloc[:, :11])
    for name in set(narrow.tables) - {"cohort_variables"}:  # the variables draw from a stream of their own
        assert narrow.tables[name].equals(wide_population.tables[name]), name


def test_prognostic_variables_carry_survival_beyond_cancer_and_stage(wide_population):
    """LDH and albumin are linked to the frailty shared with survival: within each cancer x stage they still
    predict death within 2 years; with outcome_link 0 they no longer do (the world's survival is unchanged)."""
    def within_cells(pop, column):
        truth = pop["clinical_truth"].dropna(subset=["cohort_id"]).set_index("cohort_id")
        p = pop["cohort_variables"].set_index("cohort_id").join(truth)
        days = (pd.to_datetime(p["death_date"]) - pd.to_datetime(p["diagnosis_date"])).dt.days
        end = (pd.to_datetime(p["end_of_follow_up"]) - pd.to_datetime(p["diagnosis_date"])).dt.days
        died = (days <= 730).astype(float).where((days <= 730) | (end >= 730))
        values = [cell[column].corr(died[cell.index], method="spearman")
                  for _, cell in p.groupby(["cancer_type", "stage"]) if cell[column].notna().sum() > 80]
        return float(np.nanmean(values))

    unlinked = make_population(2_500, 4_000, seed=7, params=_wide(WIDTH, outcome_link=0.0))
    assert unlinked.tables["clinical_truth"].equals(wide_population.tables["clinical_truth"])
    assert within_cells(wide_population, "ldh_ui_l") > 0.2 and within_cells(unlinked, "ldh_ui_l") < 0.08
    assert within_cells(wide_population, "albumin_g_l") < -0.15 and within_cells(unlinked, "albumin_g_l") > -0.08


def test_bad_settings_are_one_line_errors():
    with pytest.raises(InvalidParameter, match="clinical_variables.count must be a whole number"):
        ClinicalVariablesParams(count=-1)
    with pytest.raises(InvalidParameter, match="expects a int"):
        with_overrides(PopulationParams(), ["clinical_variables.count=many"])
    assert with_overrides(PopulationParams(), ["clinical_variables.count=12"]).clinical_variables.count == 12
    with pytest.raises(InvalidParameter, match="outcome_link must be between 0 and 1"):
        _wide(5, outcome_link=2.0).validate()
    with pytest.raises(InvalidParameter, match="must stay below 1"):
        ClinicalVariable("x", "numeric", "x", frailty_loading=0.8, factor=0, factor_loading=0.8)
    with pytest.raises(InvalidParameter, match="unknown cancer type"):
        ClinicalVariable("x", "boolean", "x", cancers=("prostate",))


# --- holders and the analytic dataset -------------------------------------------------------------

def test_the_cohort_extract_carries_the_case_report_form_under_linkage_ids(wide_population, tmp_path):
    for name in ("cohort_patients", "cohort_variables"):
        import pyarrow.parquet as pq

        pq.write_table(wide_population.tables[name], tmp_path / f"{name}.parquet")
    crosswalk = _crosswalk(wide_population["cohort_patients"]["cohort_id"], "c")
    crosswalk.to_parquet(tmp_path / "crosswalk.parquet")
    tables, counts = make_extract("cohort", tmp_path, tmp_path / "crosswalk.parquet")
    extract = tables["cohort_variables"]
    assert "cohort_id" not in extract.columns and extract["linkage_id"].isin(crosswalk["linkage_id"]).all()
    assert counts["cohort_variables"]["rows_kept"] == len(wide_population["cohort_variables"])


@pytest.mark.parametrize("column, values, message", [
    ("birth_date", "1950-01-01", "names an identifier or a date"),
    ("patient_name", "DUPONT", "names an identifier or a date"),
    ("surgery_day", pd.Timestamp("2020-01-01"), "holds dates"),
    ("free_text", None, "more than 50 distinct values"),
    ("Bad Name", 1.0, "rename it"),
])
def test_identifying_or_unplain_extra_columns_are_refused_in_one_line(wide_analytic, wide_population, column,
                                                                      values, message):
    variables = wide_population["cohort_variables"].iloc[:, :3].copy()
    variables[column] = [f"note {i}" for i in range(len(variables))] if values is None else values
    cohort, snds, links = linked_extracts(wide_population)
    crosswalk = _crosswalk(wide_population["cohort_patients"]["cohort_id"], "c")
    cohort["cohort_variables"] = pseudonymise(variables, "cohort_id", crosswalk)[0]
    with pytest.raises(HarmonieError, match=message) as error:
        build_analytic(links, cohort, snds, seed=1)
    assert "\n" not in str(error.value) and column in str(error.value)


def test_the_analytic_dataset_keeps_the_extra_columns_after_the_fixed_ones(wide_analytic, tmp_path):
    from synth.dataset import read_dataset, write_dataset
    from synth.schema import column_order

    patients = wide_analytic.train["patients"]
    names = [v.name for v in clinical_variable_catalogue(WIDTH)]
    assert list(patients.columns) == [*column_order("patients"), *names]
    write_dataset(wide_analytic.train, tmp_path / "train")
    back = read_dataset(tmp_path / "train")["patients"]
    pd.testing.assert_frame_equal(back[names], patients[names])


# --- the generator and the utility checks -----------------------------------------------------------

def _extra_checks(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, dict]:
    section = extra_columns_section(real, synthetic, seed=0, max_rows=20_000, thresholds=THRESHOLDS)
    checks, _ = clinical_checks({"extra_columns": section})
    return {c["name"]: c for c in checks}


def test_the_wide_model_keeps_planted_relations_and_replicas_that_drop_them_fail(wide_analytic):
    """Fitted on the training patients, the extra columns are drawn for the control patients' own core and
    survival, and compared with their real ones: every extra-column check passes and the planted relations hold
    (prognostic markers ~ death within 2 years, EGFR ~ lung adenocarcinoma, BRCA ~ triple-negative). Negative
    controls: the extra columns of a patient given to another patient of the same cancer (values kept, relations
    with the core dropped) fail the association check; each column shuffled on its own fails the correlation
    check too; a model fitted with survival shuffled (the
    extra columns drawn blind to it, as a baseline copula before survival would) loses a third of LDH's link."""
    train, control = wide_analytic.train["patients"], wide_analytic.control["patients"]
    kinds = check_extra_columns(train[extra_columns(train)], "training patients")
    model = fit_wide(train, kinds, k=11)
    synthetic = pd.concat([control.drop(columns=list(kinds)), model.sample(control, seed=1)], axis=1)
    checks = _extra_checks(control, synthetic)
    assert all(c["passed"] for c in checks.values()), {n: c["value"] for n, c in checks.items()}
    died = _two_year_death(control)
    for column, target in (("ldh_ui_l", died), ("albumin_g_l", died), ("ecog_performance_status", died),
                           ("egfr_mutation", (control["subtype"] == "adenocarcinoma").astype(float)),
                           ("brca_mutation", (control["subtype"] == "triple-negative").astype(float))):
        real, synth = _spearman(control, column, target), _spearman(synthetic, column, target)
        assert abs(real) > 0.15 and abs(real - synth) < 0.1, (column, real, synth)

    rng = np.random.default_rng(0)
    rows_shuffled, columns_shuffled = synthetic.copy(), synthetic.copy()
    for _, rows in synthetic.groupby("cancer_type").groups.items():
        rows_shuffled.loc[rows, list(kinds)] = synthetic.loc[rng.permutation(rows), list(kinds)].to_numpy()
        for column in kinds:  # each column on its own: the relations between extra columns go too
            columns_shuffled.loc[rows, column] = synthetic.loc[rng.permutation(rows), column].to_numpy()
    failed = _extra_checks(control, rows_shuffled)
    assert failed["extra_columns_marginals"]["passed"] and failed["extra_columns_missing"]["passed"]
    assert not failed["extra_columns_associations"]["passed"] and failed["extra_columns_correlations"]["passed"]
    assert not _extra_checks(control, columns_shuffled)["extra_columns_correlations"]["passed"]

    blind = train.copy()
    blind[["death", "followup_days"]] = blind[["death", "followup_days"]].to_numpy()[rng.permutation(len(blind))]
    drawn = fit_wide(blind, kinds, k=11).sample(control, seed=1)
    negative = pd.concat([control.drop(columns=list(kinds)), drawn], axis=1)
    assert _spearman(negative, "ldh_ui_l", died) < _spearman(control, "ldh_ui_l", died) - 0.1


def test_what_the_report_writes_of_extra_columns_obeys_the_small_cell_rule(wide_analytic):
    from privacy.disclosure import DisclosureRule, scan_report
    from synth.report.extra_columns import extra_columns_shown

    control = wide_analytic.control["patients"]
    few = control.iloc[:150]  # sparse columns recorded for a handful of these patients
    section = extra_columns_section(few, control.iloc[150:300], seed=0, max_rows=20_000, thresholds=THRESHOLDS)
    rule = DisclosureRule()
    assert any(0 < c["recorded_real"] < rule.min_cell for c in section["columns"])  # the test has small cells
    shown = extra_columns_shown(section, rule)
    assert not scan_report({"extra_columns": shown}, rule)

    from synth.report import plots
    from synth.report.html_page import _extra_columns

    page = _extra_columns(shown, plots.extra_columns(shown), {"disclosure": {"min_cell": rule.min_cell}})
    assert "Extra clinical columns" in page and page.count("<tr>") <= 40  # a summary, not one row per column


def test_a_replica_without_the_extra_columns_fails_the_presence_check(wide_analytic):
    control = wide_analytic.control["patients"]
    kinds = check_extra_columns(control[extra_columns(control)], "control")
    checks = _extra_checks(control, control.drop(columns=list(kinds)[:3]))
    assert checks["extra_columns_present"]["value"] == 3 and not checks["extra_columns_present"]["passed"]


def test_top_coding_keeps_extra_values_within_the_real_k_safe_range(wide_analytic):
    train = wide_analytic.train["patients"]
    kinds = check_extra_columns(train[extra_columns(train)], "training patients")
    drawn = fit_wide(train, kinds, k=11).sample(train, seed=2)
    for column, sdtype in kinds.items():
        for cancer, rows in train.groupby("cancer_type").groups.items():
            real = train.loc[rows, column].dropna()
            synthetic = drawn.loc[rows, column].dropna()
            if sdtype == "numerical" and len(real) >= 22:
                ordered = np.sort(real.to_numpy(float))
                assert synthetic.between(ordered[10] - 1e-9, ordered[-11] + 1e-9).all(), (column, cancer)
            if sdtype != "numerical" and len(synthetic):  # a level fewer than 11 real patients hold never appears
                held = real.astype(str).value_counts()
                assert set(synthetic.astype(str)) <= set(held[held >= 11].index), (column, cancer)


# --- the replica model, end to end ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def wide_model(wide_analytic):
    """A replica model of 600 training patients (few strata: the core models take most of a fit's time)."""
    from synth.replica import fit_model

    train = wide_analytic.train
    keep = set(train["patients"]["patient_id"].iloc[:600])
    return fit_model({name: frame[frame["patient_id"].isin(keep)].reset_index(drop=True)
                      for name, frame in train.items()}, seed=3)


@pytest.fixture(scope="module")
def wide_replica(wide_model):
    return wide_model.sample(300, seed=4)


def test_a_wide_replica_has_every_column_in_order(wide_model, wide_replica, wide_analytic):
    patients = wide_replica["patients"]
    training = wide_analytic.train["patients"]
    assert list(patients.columns) == list(training.columns) == wide_model.manifest["columns"]["patients"]
    assert wide_model.manifest["wide"]["columns"] == check_extra_columns(training[extra_columns(training)], "train")
    assert patients.loc[patients["cancer_type"] != "lung", "egfr_mutation"].isna().all()
    assert patients["ldh_ui_l"].notna().mean() > 0.5 and patients["pdl1_tps"].isin(
        ["0-1%", "1-49%", "50-100%"]).any()


def test_a_wide_model_round_trips_through_its_folder_and_the_dp_generators_refuse_extra_columns(
        wide_model, wide_replica, wide_analytic, tmp_path):
    from synth.dp_patients import DPSettings
    from synth.replica import ReplicaModel, fit_model

    wide_model.save(tmp_path / "model")
    again = ReplicaModel.load(tmp_path / "model").sample(300, seed=4)  # same model and seed: the same replica
    for name, frame in wide_replica.items():
        pd.testing.assert_frame_equal(again[name], frame)
    with pytest.raises(HarmonieError, match="extra clinical column") as error:
        fit_model(wide_analytic.train, generator="mst", privacy=DPSettings(epsilon=3.0))
    assert "\n" not in str(error.value)


def test_the_risk_measures_stay_on_their_fixed_columns(wide_replica):
    from privacy.risk.copies import CopyTolerance, prepare
    from privacy.risk.features import COLUMNS, attack_table

    assert list(attack_table(wide_replica).columns) == list(COLUMNS)  # quasi-identifiers do not grow with width
    assert len(prepare("synthetic", wide_replica, CopyTolerance()).attack) == 300
