"""The command line: `harmonie simulate`, including bad input (the demo: test_demo.py)."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from harmonie.cli import app

cli = app()


def run(*args):
    return CliRunner().invoke(cli, ["--quiet", *args])


def test_simulate_writes_every_documented_file(tmp_path):
    result = run("simulate", "--out", str(tmp_path / "pop"), "--cohort", "200", "--snds", "2000", "--seed", "4",
                 "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["cohort_patients"] == 200 and summary["snds_beneficiaries"] == 2000
    written = {p.name for p in (tmp_path / "pop").iterdir()}
    assert {"cohort_patients.parquet", "cohort_stays.parquet", "snds_beneficiaries.parquet", "snds_stays.parquet",
            "snds_dispensings.parquet", "truth.parquet", "population.json"} <= written
    assert not any(name.endswith(".tmp") for name in written)
    patients = pd.read_parquet(tmp_path / "pop" / "cohort_patients.parquet")
    assert "cohort_id" in patients and "snds_id" in pd.read_parquet(tmp_path / "pop" / "snds_beneficiaries.parquet")
    meta = json.loads((tmp_path / "pop" / "population.json").read_text())
    assert meta["seed"] == 4 and meta["rows"]["truth"] == summary["true_links"]


def test_param_overrides_reach_the_simulation(tmp_path):
    result = run("simulate", "--out", str(tmp_path), "--cohort", "300", "--snds", "3000",
                 "--param", "cohort_only_rate=0.2", "--param", "cohort.nir_missing=1.0", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["true_links"] == 240
    assert pd.read_parquet(tmp_path / "cohort_patients.parquet").nir.isna().all()


def test_list_params_documents_every_parameter():
    result = run("simulate", "--list-params")
    assert result.exit_code == 0
    assert "cohort.name_typo" in result.output and "account_holder_rate" in result.output


@pytest.mark.parametrize("args, message", [
    (["--cohort", "-5"], "zero or more"),
    (["--snds", "-1"], "zero or more"),
    (["--cohort", "5000", "--snds", "100"], "cohort larger than the population"),
    (["--param", "nonsense=1"], "unknown parameter"),
    (["--param", "cohort.name_typo=abc"], "expects a float"),
    (["--param", "cohort=0.1"], "is a group"),
    (["--param", "twin_rate=2"], "between 0 and 1"),
])
def test_bad_arguments_give_one_line_and_a_non_zero_exit(tmp_path, args, message):
    result = run("simulate", "--out", str(tmp_path / "x"), *args)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output


def test_unwritable_output_directory_is_refused_before_simulating():
    # /sys refuses new directories even to root, which CI runs as
    result = run("simulate", "--out", "/sys/harmonie-test/pop", "--cohort", "10", "--snds", "100")
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot create output directory") and result.output.count("\n") == 1


def test_usage_errors_are_one_line_too():
    result = run("simulate", "--cohort", "many")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("error:") and "--help" in result.output


def test_output_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("not a directory")
    result = run("simulate", "--out", str(target), "--cohort", "10", "--snds", "100")
    assert result.exit_code == 2
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1


def test_output_under_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    result = run("simulate", "--out", str(target / "sub"), "--cohort", "10", "--snds", "100")
    assert result.exit_code == 2 and "cannot create output directory" in result.output
