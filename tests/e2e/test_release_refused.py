"""A refused release (issue #21 item 5): its risk and utility reports go to OUT/refused/ (no bundle, no replica,
no signature), under the same small-cell rule as a bundle's, and the refusal says what would change the verdict.
OUT then follows the output policy of every command: refused again without --overwrite, replaced whole with it,
and a signed bundle is never replaced."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harmonie.cli import app

PASSPHRASE = "release signing passphrase for tests"
# cheap measures, and two limits no small replica meets: refused after measuring (so with a utility report)
REFUSING = """\
[uniqueness]
min_k = 1000000
[membership]
max_targets = 500
max_replica_rows = 500
[measurement]
min_patients = 100000
n_attacks = 100
attack_targets = 100
max_rows = 500
"""


def _analytic(seed: int, control_fraction: float):
    from conftest import linked_extracts
    from linkage.datasets import make_population
    from synth.analytic import build_analytic

    cohort, snds, links = linked_extracts(make_population(1_000, 1_500, seed=seed))
    return build_analytic(links, cohort, snds, seed=1, control_fraction=control_fraction)


@pytest.fixture(scope="module")
def refusal(tmp_path_factory):
    """Real training and control sets of a small population, and as the 'replica' the patients of another one
    (no real patient of the first: the screen passes and the risks are measured), released under REFUSING."""
    from synth.dataset import write_dataset

    tmp = tmp_path_factory.mktemp("refusal")
    real = _analytic(31, 0.45)
    other = _analytic(32, 0.0).train
    other = {name: table.assign(patient_id="R" + table["patient_id"].astype(str)) for name, table in other.items()}
    for name, tables in (("train", real.train), ("control", real.control), ("replica", other)):
        write_dataset(tables, tmp / name)
    (tmp / "policy.toml").write_text(REFUSING)
    env = {"HARMONIE_SIGNING_PASSPHRASE": PASSPHRASE}
    cli = app()

    def release(out, *extra):
        return CliRunner().invoke(cli, ["-q", "release", "--synthetic", str(tmp / "replica"), "--real",
                                        str(tmp / "train"), "--control", str(tmp / "control"), "--signing-key",
                                        str(tmp / "k"), "--policy", str(tmp / "policy.toml"), "--out", str(out),
                                        *extra], env=env)

    assert CliRunner().invoke(cli, ["-q", "release", "keygen", "--out", str(tmp / "k")], env=env).exit_code == 0
    return tmp, release, release(tmp / "out")


def test_a_refused_release_writes_its_reports_to_refused_and_no_bundle(refusal):
    from privacy.disclosure import DisclosureRule, scan_folder
    from synth.report.disclosed import real_sources

    tmp, _, result = refusal
    assert result.exit_code == 3, result.output
    out = tmp / "out"
    assert sorted(p.name for p in out.iterdir()) == ["refused"]
    refused = out / "refused"
    for report in ("risk/risk.html", "risk/risk.json", "utility/utility.html", "utility/utility.json",
                   "refusal.json", "refusal.txt"):
        assert (refused / report).is_file(), report
    names = {p.name for p in out.rglob("*")}
    assert not names & {"manifest.json", "manifest.sig", "signer.pub", "synthetic", "patients.parquet"}
    assert not list(out.rglob("*.parquet"))  # no replica, nothing that looks like a release
    from synth.dataset import read_dataset

    columns, survival = real_sources(read_dataset(tmp / "train"), seed=0)
    assert scan_folder(refused, DisclosureRule(11), columns=columns, survival=survival) == []


def test_the_refusal_says_what_would_change_the_verdict(refusal):
    tmp, _, result = refusal
    text = result.output
    assert "refused: release refused by the policy" in text and "what would change the verdict:" in text
    assert "enough_patients" in text and "[measurement] min_patients" in text and "--control-fraction" in text
    assert "k_anonymity" in text and "lower the limit ([uniqueness] min_k" in text
    assert "--remediate" in text and "--generator mst --epsilon" in text
    assert f"reports (no bundle, nothing signed): {tmp / 'out' / 'refused'}" in text
    document = json.loads((tmp / "out" / "refused" / "refusal.json").read_text())
    failed = {c["name"]: c for c in document["failed_checks"]}
    assert {"enough_patients", "k_anonymity"} <= set(failed)
    assert "policy file" in failed["k_anonymity"]["what_would_change"]


def test_out_of_a_refusal_follows_the_output_policy(refusal):
    tmp, release, _ = refusal
    again = release(tmp / "out")
    assert again.exit_code == 2 and "not empty" in again.output and "a refused release" in again.output
    assert "--overwrite" in again.output
    bundle = tmp / "signed"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    (bundle / "manifest.sig").write_text("x")
    never = release(bundle, "--overwrite")
    assert never.exit_code == 2 and "never overwritten" in never.output
    assert sorted(p.name for p in bundle.iterdir()) == ["manifest.json", "manifest.sig"]
