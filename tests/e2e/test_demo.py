"""`harmonie demo` end to end at tiny scale: every stage runs, parties stay apart, the bundle verifies."""

import json

from click.testing import CliRunner

from harmonie.cli import app
from privacy.release.bundle import verify_bundle

from conftest import open_gate

cli = app()

# At 1,500 patients the risks cannot be measured precisely enough for the default policy (it
# needs 1,000 training and 1,000 control patients), so this test opens the gate to exercise the
# release path; the default policy's refusal is checked below.


def run(*args):
    return CliRunner().invoke(cli, ["--quiet", *args])


def test_demo_runs_every_stage_by_party_and_its_bundle_verifies(tmp_path):
    policy = open_gate(tmp_path)
    out = tmp_path / "demo"
    result = run("demo", "--out", str(out), "--scale", "tiny", "--policy", str(policy))
    assert result.exit_code == 0, result.output
    for line in ("linkage unit:", "evaluator: precision", "data team: analytic dataset", "data team: replica",
                 "release gate: released"):
        assert line in result.output
    assert {p.name for p in out.iterdir()} == {"holder_cohort", "holder_snds", "linkage_unit", "evaluator",
                                               "data_team", "report.html"}
    # the linkage unit holds encoded files, the spec and its own outputs, nothing in plaintext
    assert {p.name for p in (out / "linkage_unit").iterdir()} == {"cohort.encoded.parquet", "snds.encoded.parquet",
                                                                  "spec.toml", "run"}
    assert not (out / "holder_cohort" / "truth.parquet").exists()
    # the data team never receives names, NIRs or the holders' ids
    for extract in ("extract_cohort", "extract_snds"):
        for table in (out / "data_team" / extract).iterdir():
            import pyarrow.parquet as pq

            columns = set(pq.read_schema(table).names)
            assert not columns & {"cohort_id", "snds_id", "nir", "birth_name", "use_name", "first_names",
                                  "commune_code"}, (table, columns)
    assert json.loads((out / "evaluator" / "evaluation.json").read_text())["f1"] > 0.95
    manifest = verify_bundle(out / "data_team" / "release_bundle", out / "data_team" / "release_signing.key.pub")
    assert manifest["verdict"] == "released" and manifest["lineage"]["spec"] == "indirect"
    html = (out / "report.html").read_text()
    assert "Linkage F1" in html and "Kaplan" in html and "data:image/png;base64," in html


def test_demo_refuses_a_non_empty_folder_and_the_default_gate_refuses_a_tiny_replica(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    again = run("demo", "--out", str(out), "--scale", "tiny")
    assert again.exit_code == 2 and "not empty" in again.output and (out / "keep.txt").exists()
    result = run("demo", "--out", str(out), "--scale", "tiny", "--overwrite", "--scenario", "names")
    assert result.exit_code == 0, result.output
    assert "release gate: REFUSED" in result.output and "enough_patients" in result.output
    assert not (out / "data_team" / "release_bundle").exists()
    assert (out / "data_team" / "refused" / "risk" / "risk.html").exists()
    assert "refused" in (out / "report.html").read_text()
