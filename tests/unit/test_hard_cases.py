"""Recall and false links broken down by hard case (`harmonie evaluate`), and the harsh preset
of `harmonie simulate` (issue #17)."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from harmonie.errors import HarmonieError
from linkage.evaluate import by_hard_case, evaluate_links, format_hard_cases, quality, truth_pairs

cli = app()


def run(*args):
    return CliRunner().invoke(cli, ["--quiet", *args])


def _crosswalk(ids: pd.Series, prefix: str) -> pd.DataFrame:
    return pd.DataFrame({"local_id": ids.to_numpy(),
                         "linkage_id": [hashlib.sha256(f"{prefix}{i}".encode()).hexdigest()[:20] for i in ids]})


def _setup(population):
    left = _crosswalk(population["cohort_patients"].cohort_id, "c")
    right = _crosswalk(population["snds_beneficiaries"].snds_id, "s")
    truth = population["truth"]
    to_left = left.set_index("local_id").linkage_id
    to_right = right.set_index("local_id").linkage_id
    links = pd.DataFrame({"cohort_id": truth.cohort_id, "left_id": truth.cohort_id.map(to_left),
                          "right_id": truth.snds_id.map(to_right), "match_probability": 0.99})
    return left, right, truth, links, to_left, to_right


def _rows(report):
    return {row["case"]: row for row in report}


def test_perfect_links_find_every_case_and_make_no_false_link(population):
    left, right, truth, links, *_ = _setup(population)
    pairs = truth_pairs(truth, left, right, population["snds_duplicates"])
    rows = _rows(by_hard_case(links, truth, left, pairs, population["hard_cases"]))
    assert rows["all"]["found"] == rows["all"]["true_pairs"] == len(truth)
    for row in rows.values():
        assert row["false_links"] == 0
        assert row["recall"] == (1.0 if row["true_pairs"] else None), row["case"]
    assert rows["not_in_snds"]["patients"] == len(population["cohort_patients"]) - len(truth)
    assert {"married_name", "moved", "moved_far", "twin", "account_holder_nir", "snds_duplicate", "nir_present",
            "stays_in_snds=0", "stays_in_snds=1", "stays_in_snds>=2", "shifted_stays", "sister_site_stays",
            "borrowed_nir", "cohort_death_missing"} <= set(rows)


def test_a_lost_case_shows_recall_zero_and_counts_reconcile_with_the_overall_figures(population):
    left, right, truth, links, to_left, to_right = _setup(population)
    hard = population["hard_cases"].set_index("cohort_id")
    rng = np.random.default_rng(0)
    # every mover is lost; ten married non-movers are linked to a wrong beneficiary; twenty
    # cohort-only patients are linked to beneficiaries nobody else is linked to
    moved = hard.moved.reindex(links.cohort_id).to_numpy()
    links = links[~moved].reset_index(drop=True)
    married = hard.married_name.reindex(links.cohort_id).to_numpy()
    wrong = rng.choice(np.flatnonzero(married), size=10, replace=False)
    free = np.setdiff1d(right.linkage_id, links.right_id)
    links.loc[wrong, "right_id"] = free[:10]
    only = hard.index[~hard.in_snds][:20]
    extra = pd.DataFrame({"cohort_id": only, "left_id": only.map(to_left), "right_id": free[10:30],
                          "match_probability": 0.6})
    links = pd.concat([links, extra], ignore_index=True)

    report = evaluate_links(links, truth, left, right, population["snds_duplicates"],
                            hard_cases=population["hard_cases"])
    rows = _rows(report["by_hard_case"])
    assert rows["moved"]["true_pairs"] > 50
    assert rows["moved"]["found"] == 0 and rows["moved"]["recall"] == 0.0
    assert rows["moved_far"]["recall"] == 0.0
    everyone = rows["all"]
    assert everyone["found"] == report["true_positives"]
    assert everyone["true_pairs"] == report["true_pairs"]
    assert everyone["recall"] == pytest.approx(report["recall"])
    assert everyone["false_links"] == report["false_positives"] == 30
    assert rows["married_name"]["false_links"] == 10 + hard.married_name[only].sum()
    assert rows["not_in_snds"]["false_links"] == 20 and rows["not_in_snds"]["recall"] is None
    # buckets partition the patients
    buckets = [rows[f"stays_in_snds{b}"] for b in ("=0", "=1", ">=2")]
    for key in ("patients", "true_pairs", "found", "false_links"):
        assert sum(b[key] for b in buckets) == everyone[key], key
    # a flag and its complement add up to the whole
    married_found = rows["married_name"]["found"]
    not_married = hard.index[~hard.married_name & hard.in_snds]
    found_ids = set(links.left_id[quality_mask(links, truth, left, right, population)])
    assert married_found + sum(to_left[c] in found_ids for c in not_married) == everyone["found"]


def quality_mask(links, truth, left, right, population):
    from linkage.evaluate import _correct

    pairs = truth_pairs(truth, left, right, population["snds_duplicates"])
    return _correct(links.left_id, links.right_id, pairs)


def test_a_link_to_the_second_id_of_the_right_person_counts_as_found(population):
    left, right, truth, links, to_left, to_right = _setup(population)
    duplicates = population["snds_duplicates"]
    second_of = duplicates.set_index("same_person_as").snds_id
    first_ids = right.set_index("linkage_id").local_id
    on_dup = links.right_id.map(first_ids).isin(second_of.index)
    assert on_dup.any()
    links.loc[on_dup, "right_id"] = links.right_id[on_dup].map(first_ids).map(second_of).map(to_right)
    pairs = truth_pairs(truth, left, right, duplicates)
    rows = _rows(by_hard_case(links, truth, left, pairs, population["hard_cases"]))
    assert rows["snds_duplicate"]["recall"] == 1.0 and rows["all"]["found"] == quality(links, pairs)["true_positives"]


def test_a_hard_cases_table_without_the_id_column_is_refused(population):
    left, right, truth, links, *_ = _setup(population)
    with pytest.raises(HarmonieError, match="lacks the truth's id column"):
        evaluate_links(links, truth, left, right, hard_cases=population["hard_cases"].drop(columns="cohort_id"))


def test_the_table_prints_counts_only():
    text = format_hard_cases([{"case": "all", "label": "x", "patients": 1200, "true_pairs": 1000, "found": 990,
                               "recall": 0.99, "false_links": 3},
                              {"case": "borrowed_nir", "label": "y", "patients": 5, "true_pairs": 0, "found": 0,
                               "recall": None, "false_links": 2}])
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["hard", "case"] and len(lines) == 3
    assert "990/1,000" in lines[1] and "0.9900" in lines[1] and lines[2].split()[-2:] == ["-", "2"]


def test_simulate_harsh_then_evaluate_by_hard_case_on_the_command_line(tmp_path):
    pop = tmp_path / "pop"
    result = run("simulate", "--out", str(pop), "--cohort", "600", "--snds", "8000", "--preset", "harsh", "--json")
    assert result.exit_code == 0, result.output
    meta = json.loads((pop / "population.json").read_text())
    assert meta["preset"] == "harsh" and meta["params"]["move_far_rate"] == 1.0
    assert (pop / "finess_entities.parquet").is_file()
    summary = json.loads(result.output)
    assert summary["hard_cases"]["moved_far"] > 0.1 and summary["hard_cases"]["cohort_death_missing"] > 0.1

    patients = pd.read_parquet(pop / "cohort_patients.parquet")
    beneficiaries = pd.read_parquet(pop / "snds_beneficiaries.parquet")
    left, right = _crosswalk(patients.cohort_id, "c"), _crosswalk(beneficiaries.snds_id, "s")
    truth = pd.read_parquet(pop / "truth.parquet")
    hard = pd.read_parquet(pop / "hard_cases.parquet").set_index("cohort_id")
    kept = truth[~hard.moved_far.reindex(truth.cohort_id).to_numpy()]
    links = pd.DataFrame({"left_id": kept.cohort_id.map(left.set_index("local_id").linkage_id),
                          "right_id": kept.snds_id.map(right.set_index("local_id").linkage_id),
                          "match_probability": 0.9})
    for name, frame in (("left", left), ("right", right), ("links", links)):
        frame.to_parquet(tmp_path / f"{name}.parquet")
    result = run("evaluate", "--links", str(tmp_path / "links.parquet"), "--truth", str(pop / "truth.parquet"),
                 "--left-crosswalk", str(tmp_path / "left.parquet"), "--right-crosswalk",
                 str(tmp_path / "right.parquet"), "--duplicates", str(pop / "snds_duplicates.parquet"))
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if l.startswith("moved_far "))
    assert line.split()[-2:] == ["0.0000", "0"]
    assert "hard case" in result.output and "borrowed_nir" in result.output
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    rows = _rows(evaluation["by_hard_case"])
    assert rows["moved_far"]["recall"] == 0.0 and rows["all"]["found"] == len(kept)
    assert set(rows["all"]) == {"case", "label", "patients", "true_pairs", "found", "recall", "false_links"}
    # no identifier in what the evaluator prints or writes
    written = result.output + (tmp_path / "evaluation.json").read_text()
    for values in (patients.cohort_id, beneficiaries.snds_id, beneficiaries.nir.dropna(),
                   patients.use_name.str.upper(), left.linkage_id, right.linkage_id):
        assert not any(v in written for v in values.head(200) if len(v) > 3)


def test_list_params_shows_the_preset_values_and_params_apply_on_top(tmp_path):
    result = run("simulate", "--list-params", "--preset", "harsh")
    assert result.exit_code == 0
    line = next(l for l in result.output.splitlines() if l.startswith("move_far_rate "))
    assert line.split()[1] == "1.0"
    result = run("simulate", "--out", str(tmp_path), "--cohort", "200", "--snds", "3000", "--preset", "harsh",
                 "--param", "move_far_rate=0.5")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "population.json").read_text())
    assert meta["preset"] == "custom" and meta["params"]["move_far_rate"] == 0.5
    assert meta["params"]["name_concentration"] == 1.0
    result = run("simulate", "--out", str(tmp_path / "x"), "--preset", "gentle")
    assert result.exit_code == 2 and "gentle" in result.output and result.output.count("\n") == 1
