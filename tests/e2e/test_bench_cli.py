"""`harmonie bench`: the match-quality study on a user's own encoded files."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from linkage.bench import bench_linkage
from linkage.cli import bench
from linkage.datasets import make_population
from linkage.encoding import encode_holder, write_encoded
from linkage.spec import example_spec, example_spec_text
from privacy.keys import LinkageKey

KEY = LinkageKey(bytes(range(32)))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny population encoded by both holders with the indirect spec, plus truth and crosswalks."""
    population = make_population(300, 3_000, seed=5)
    out = tmp_path_factory.mktemp("bench")
    (out / "spec.toml").write_text(example_spec_text("indirect"))
    for role, table, stays in (("cohort", "cohort_patients", "cohort_stays"),
                               ("snds", "snds_beneficiaries", "snds_stays")):
        result = encode_holder(example_spec("indirect"), KEY, role, population.tables[table], population.tables[stays])
        write_encoded(result.encoded, result.metadata, out / f"{role}.encoded.parquet")
        result.crosswalk.to_pandas().to_parquet(out / f"{role}.crosswalk.parquet")
    population["truth"].to_parquet(out / "truth.parquet")
    population["snds_duplicates"].to_parquet(out / "duplicates.parquet")
    return out


@pytest.fixture(scope="module")
def cli():
    group = app()
    group.add_command(bench)
    return group


def run(cli, files, *extra, out="out"):
    return CliRunner().invoke(cli, ["--quiet", "bench", "--left", str(files / "cohort.encoded.parquet"),
                                    "--right", str(files / "snds.encoded.parquet"), "--spec", str(files / "spec.toml"),
                                    "--out", str(files / out), *extra])


def test_bench_reports_quality_time_and_memory(cli, files):
    result = run(cli, files, "--truth", str(files / "truth.parquet"),
                 "--left-crosswalk", str(files / "cohort.crosswalk.parquet"),
                 "--right-crosswalk", str(files / "snds.crosswalk.parquet"),
                 "--duplicates", str(files / "duplicates.parquet"))
    assert result.exit_code == 0, result.output
    assert "precision" in result.output and "pairs completeness" in result.output
    report = json.loads((files / "out" / "bench.json").read_text())
    assert report["f1"] > 0.9 and report["precision"] > 0.95
    assert report["recall"] <= report["pairs_completeness"] <= 1
    assert report["seconds"]["link"] > 0 and report["peak_rss_gb"]["whole"] > 0
    assert report["estimated"]["precision"] > 0.9
    markdown = (files / "out" / "bench.md").read_text()
    assert "| F1 |" in markdown and "pairs completeness" in markdown
    assert (files / "out" / "links.parquet").exists() and (files / "out" / "model.json").exists()


def test_truth_in_linkage_ids_needs_no_crosswalk(cli, files):
    truth = pd.read_parquet(files / "truth.parquet")
    left = pd.read_parquet(files / "cohort.crosswalk.parquet").set_index("local_id").linkage_id
    right = pd.read_parquet(files / "snds.crosswalk.parquet").set_index("local_id").linkage_id
    mapped = pd.DataFrame({"left": left.reindex(truth.iloc[:, 0]).to_numpy(),
                           "right": right.reindex(truth.iloc[:, 1]).to_numpy()}).dropna()
    mapped.to_parquet(files / "truth_linkage_ids.parquet")
    result = run(cli, files, "--truth", str(files / "truth_linkage_ids.parquet"), out="out2")
    assert result.exit_code == 0, result.output
    assert json.loads((files / "out2" / "bench.json").read_text())["f1"] > 0.9


def test_bench_is_a_library_function_too(files):
    report, result = bench_linkage(files / "spec.toml", files / "cohort.encoded.parquet",
                                   files / "snds.encoded.parquet", pd.read_parquet(files / "truth.parquet"),
                                   left_crosswalk=pd.read_parquet(files / "cohort.crosswalk.parquet"),
                                   right_crosswalk=pd.read_parquet(files / "snds.crosswalk.parquet"))
    assert report["links"] == result.links.num_rows and 0 < report["f1"] <= 1


@pytest.mark.parametrize("extra, message", [
    (["--truth", "TRUTH", "--left-crosswalk", "CW"], "give both --left-crosswalk and --right-crosswalk"),
    (["--truth", "TRUTH"], "none of the truth pairs"),
    (["--truth", "MISSING"], "not found"),
    (["--truth", "ONE_COLUMN", "--left-crosswalk", "CW", "--right-crosswalk", "CW2"], "two id columns"),
])
def test_bad_input_is_one_line_error(cli, files, extra, message):
    pd.DataFrame({"only": ["x"]}).to_parquet(files / "one_column.parquet")
    paths = {"TRUTH": files / "truth.parquet", "MISSING": files / "nope.parquet",
             "CW": files / "cohort.crosswalk.parquet", "CW2": files / "snds.crosswalk.parquet",
             "ONE_COLUMN": files / "one_column.parquet"}
    result = run(cli, files, *[str(paths.get(x, x)) for x in extra], out="bad")
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_files_from_different_specs_are_refused(cli, files, tmp_path):
    (tmp_path / "names.toml").write_text(example_spec_text("names"))
    result = CliRunner().invoke(cli, ["--quiet", "bench", "--left", str(files / "cohort.encoded.parquet"),
                                      "--right", str(files / "snds.encoded.parquet"),
                                      "--spec", str(tmp_path / "names.toml"), "--truth", str(files / "truth.parquet"),
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "another spec" in result.output and result.output.count("\n") == 1


def test_an_unreadable_encoded_file_is_one_line_before_the_truth_is_read(cli, files, tmp_path):
    """Truth in linkage ids is checked against the encoded files' ids before linking: a file that is not an
    encoded file is still the linkage's own one-line error, not a Parquet traceback."""
    (tmp_path / "left.parquet").write_text("not parquet")
    result = CliRunner().invoke(cli, ["--quiet", "bench", "--left", str(tmp_path / "left.parquet"),
                                      "--right", str(files / "snds.encoded.parquet"), "--spec", str(files / "spec.toml"),
                                      "--truth", str(files / "truth.parquet"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "not a readable Parquet file" in result.output, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
