"""The attack self-audit: the published attacks on Bloom filters, run against our own encodings.

A synthetic holder of 12,000 people with realistic name frequencies (the simulator's
surnames, a 1950s-60s women's given-name list) is encoded under a names spec; the attacker
knows the public frequency lists and the spec, never the key.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from harmonie.cli import HarmonieGroup
from harmonie.errors import HarmonieError
from linkage.datasets.names import first_names, surnames
from linkage.encoding.encoded_file import write_encoded
from linkage.encoding.holder import encode_holder
from linkage.spec import parse_spec
from privacy.audit.attack import read_reference, run_attack
from privacy.audit.attack_cli import attack
from privacy.audit.reference import name_reference, write_name_reference
from privacy.keys import generate_key

N = 12_000

SPEC = """
format_version = 1
name = "attack-test"
[project]
id = "attack-test"
[holders.a]
id = "a_id"
[holders.b]
id = "b_id"
[bloom]
bits = 1024
qgram = 2
hashes = 90
balance = {balance}
xor_fold = {fold}
[[fields]]
name = "birth_date"
normalise = "date"
encoding = "date"
[[fields]]
name = "birth_name"
normalise = "surname"
encoding = "bloom"
key = "names"
{salt}
[[fields]]
name = "first_name"
normalise = "first_name"
encoding = "bloom"
key = "names"
{salt}
"""


def spec_text(hardened: bool) -> str:
    return SPEC.format(balance=str(hardened).lower(), fold=str(hardened).lower(),
                       salt='salt = "birth_date"' if hardened else "")


@pytest.fixture(scope="module")
def holder():
    rng = np.random.default_rng(5)
    sur, given = surnames(), first_names("F", "1950to1969")
    birth = [f"{y}-{m:02d}-{d:02d}" for y, m, d in zip(rng.integers(1940, 1980, N), rng.integers(1, 13, N),
                                                       rng.integers(1, 29, N))]
    return pa.table({
        "a_id": [f"A{i:06d}" for i in range(N)],
        "birth_date": birth,
        "birth_name": [sur.values[i] for i in sur.draw(rng, N)],
        "first_names": [given.values[i] for i in given.draw(rng, N)],
    })


def encode(tmp_path, holder, hardened: bool = False, text: str | None = None, name: str | None = None):
    """Encoded file, spec file and the holder's truth (linkage_id, true normalised values)."""
    text = text or spec_text(hardened)
    spec = parse_spec(text)
    result = encode_holder(spec, generate_key(), "a", holder)
    name = name or ("hardened" if hardened else "plain")
    spec_path = tmp_path / f"{name}.toml"
    spec_path.write_text(text)
    encoded = tmp_path / f"{name}.parquet"
    write_encoded(result.encoded, result.metadata, encoded)
    from linkage.normalise.apply import normalise_columns

    ids = result.crosswalk["local_id"].to_pylist()
    row = {local: i for i, local in enumerate(holder["a_id"].to_pylist())}
    take = pa.array([row[i] for i in ids])
    truth = pa.table({
        "linkage_id": result.crosswalk["linkage_id"],
        "birth_name": normalise_columns("surname", [holder["birth_name"].take(take)]).row_values(),
        "first_name": normalise_columns("first_name", [holder["first_names"].take(take)]).row_values(),
    })
    truth_path = tmp_path / f"{name}-truth.parquet"
    pq.write_table(truth, truth_path)
    return encoded, spec_path, truth_path


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    folder = tmp_path_factory.mktemp("references")
    surname_list = folder / "surnames.parquet"
    given_list = folder / "first_names.parquet"
    write_name_reference("surnames", surname_list)
    pq.write_table(pa.table({"value": [v for v in first_names("F", "1950to1969").values],
                             "count": np.diff(np.r_[0, first_names("F", "1950to1969").cum]) * 1e6}),
                   given_list)
    return surname_list, given_list


def figures(report, field):
    return report.fields[field]["frequency_and_pattern_attack"]


def test_reference_list_is_public_like_and_normalised():
    table = name_reference("surnames")
    assert table.column_names == ["value", "count"]
    values = table["value"].to_pylist()
    assert values[0] == "MARTIN" and all(v.isalpha() and v.isupper() for v in values)
    counts = table["count"].to_numpy()
    assert np.all(np.diff(counts) <= 0) and counts.min() >= 1
    given = name_reference("first_names")["value"].to_pylist()
    assert "JEANPIERRE" in given and "MARIE" in given  # compound names joined, accents removed


def test_attack_succeeds_on_unhardened_filters(tmp_path, holder, references):
    encoded, spec_path, truth = encode(tmp_path, holder, hardened=False)
    surname_list, given_list = references
    report = run_attack(encoded, [given_list, surname_list], ["first_name", "birth_name"], spec=spec_path,
                        truth=truth)
    given, sur = figures(report, "first_name"), figures(report, "birth_name")
    # most given names fall to frequency + patterns; the shared key then decodes surnames
    assert given["share_records_reidentified"] >= 0.5
    assert sur["share_records_reidentified"] >= 0.2
    for f in (given, sur):
        assert f["precision"] >= 0.95
    assert report.fields["birth_name"]["pooled_with"] == ["first_name"]
    # the frequency alignment alone already finds the commonest given names
    assert report.fields["first_name"]["frequency_attack"]["records_reidentified"] > 0


def test_hardened_filters_hold_surnames_below_one_percent(tmp_path, holder, references):
    encoded, spec_path, truth = encode(tmp_path, holder, hardened=True)
    surname_list, given_list = references
    report = run_attack(encoded, [given_list, surname_list], ["first_name", "birth_name"], spec=spec_path,
                        truth=truth)
    sur = figures(report, "birth_name")
    assert report.fields["birth_name"]["grouped_by"] == "birth_date__y"
    assert sur["share_records_reidentified"] <= 0.01
    assert sur["share_values_reidentified"] <= 0.01
    # given names are not asserted here: a list this skewed can leak its commonest values
    # through frequencies alone when salt groups are large (see benchmarks/RESULTS.md)


def test_balancing_alone_does_not_protect(tmp_path, holder, references):
    """Balanced filters stay deterministic: frequencies still give the commonest names away,
    and the audit says whether it could undo the balancing (it needs many distinct names)."""
    encoded, spec_path, truth = encode(tmp_path, holder, text=SPEC.format(balance="true", fold="false", salt=""),
                                       name="balanced")
    surname_list, given_list = references
    report = run_attack(encoded, [given_list, surname_list], ["first_name", "birth_name"], spec=spec_path,
                        truth=truth)
    balanced = report.fields["birth_name"]["balanced_filters"]
    assert balanced is not None and set(balanced) == {"recovered", "length_fit"}
    assert figures(report, "first_name")["share_records_reidentified"] > 0.01
    if not balanced["recovered"]:
        from privacy.audit.attack import summary_lines

        assert any("NOT un-balanced" in line for line in summary_lines(report))


def test_report_holds_figures_only(tmp_path, holder, references):
    encoded, spec_path, truth = encode(tmp_path, holder, hardened=False)
    surname_list, given_list = references
    group = HarmonieGroup("audit")
    group.add_command(attack)
    out = tmp_path / "out"
    result = CliRunner().invoke(group, ["attack", "--encoded", str(encoded), "--reference", str(given_list),
                                        "--field", "first_name", "--spec", str(spec_path),
                                        "--plaintext-truth", str(truth), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "records re-identified" in result.output
    document = json.loads((out / "attack.json").read_text())
    assert document["fields"]["first_name"]["frequency_and_pattern_attack"]["records_reidentified"] > 0
    text = (out / "attack.json").read_text() + (out / "attack.txt").read_text() + result.output
    for name in ("MARIE", "MARTINE", "NATHALIE"):
        assert name not in text
    # with a bar, exceeding it is a failing exit status
    failed = CliRunner().invoke(group, ["attack", "--encoded", str(encoded), "--reference", str(given_list),
                                        "--field", "first_name", "--plaintext-truth", str(truth),
                                        "--fail-above", "0.01", "--out", str(out), "--overwrite"])
    assert failed.exit_code == 3


def test_without_truth_it_reports_claims(tmp_path, holder, references):
    encoded, spec_path, _ = encode(tmp_path, holder, hardened=False)
    report = run_attack(encoded, [references[1]], ["first_name"])
    claims = report.fields["first_name"]["frequency_and_pattern_attack"]
    assert claims["records_claimed"] > 0 and "share_records_reidentified" not in claims


def _run(args):
    group = HarmonieGroup("audit")
    group.add_command(attack)
    return CliRunner().invoke(group, ["attack", *args])


@pytest.fixture(scope="module")
def small_files(tmp_path_factory, holder):
    folder = tmp_path_factory.mktemp("bad")
    encoded, spec_path, truth = encode(folder, holder.slice(0, 500), hardened=False)
    reference = folder / "ref.parquet"
    pq.write_table(pa.table({"value": ["MARIE", "ANNE"], "count": [10, 5]}), reference)
    return folder, encoded, spec_path, truth, reference


@pytest.mark.parametrize("case, expected", [
    ("missing_encoded", "not found"),
    ("not_encoded", "not a Harmonie encoded file"),
    ("reference_columns", "lacks column(s)"),
    ("reference_not_parquet", "cannot read reference list file"),
    ("reference_negative", "must not be negative"),
    ("unknown_field", "has no column 'nope'"),
    ("token_field", "is not a Bloom-filter column"),
    ("group_by_filter", "is not a token column"),
    ("truth_columns", "lacks column linkage_id"),
    ("wrong_spec", "is not the one the file was encoded with"),
    ("pairing", "reference lists for"),
    ("fail_without_truth", "--fail-above needs --plaintext-truth"),
])
def test_bad_input_is_one_line(small_files, case, expected):
    folder, encoded, spec_path, truth, reference = small_files
    out = str(folder / "out")
    base = ["--encoded", str(encoded), "--reference", str(reference), "--out", out]
    if case == "missing_encoded":
        args = ["--encoded", str(folder / "none.parquet"), "--reference", str(reference), "--out", out]
    elif case == "not_encoded":
        args = ["--encoded", str(reference), "--reference", str(reference), "--out", out]
    elif case == "reference_columns":
        bad = folder / "bad_columns.parquet"
        pq.write_table(pa.table({"name": ["A"], "n": [1]}), bad)
        args = ["--encoded", str(encoded), "--reference", str(bad), "--out", out]
    elif case == "reference_not_parquet":
        bad = folder / "bad.parquet"
        bad.write_bytes(b"value,count\nMARIE,3\n")
        args = ["--encoded", str(encoded), "--reference", str(bad), "--out", out]
    elif case == "reference_negative":
        bad = folder / "negative.parquet"
        pq.write_table(pa.table({"value": ["A", "B"], "count": [3, -1]}), bad)
        args = ["--encoded", str(encoded), "--reference", str(bad), "--out", out]
    elif case == "unknown_field":
        args = base + ["--field", "nope"]
    elif case == "token_field":
        args = base + ["--field", "birth_date"]
    elif case == "group_by_filter":
        args = base + ["--field", "first_name", "--group-by", "birth_name"]
    elif case == "truth_columns":
        bad = folder / "truth_bad.parquet"
        pq.write_table(pa.table({"id": ["x"], "value": ["MARIE"]}), bad)
        args = base + ["--field", "first_name", "--plaintext-truth", str(bad)]
    elif case == "wrong_spec":
        other = folder / "other.toml"
        other.write_text(spec_text(hardened=True))
        args = base + ["--field", "first_name", "--spec", str(other)]
    elif case == "pairing":
        args = base + ["--reference", str(reference), "--field", "first_name", "--field", "birth_name",
                       "--reference", str(reference)]
    else:
        args = base + ["--fail-above", "0.01"]
    result = _run(args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.output
    assert "Traceback" not in result.output


def test_reference_reader_merges_normalised_duplicates(tmp_path):
    path = tmp_path / "ref.parquet"
    pq.write_table(pa.table({"value": ["Le Goff", "LEGOFF", "Hélène", None, "", "x"],
                             "count": [2.0, 3.0, 4.0, 9.0, 1.0, 0.0]}), path)
    reference = read_reference(path)
    assert reference.values == ["LEGOFF", "HELENE"]
    assert reference.counts.tolist() == [5.0, 4.0]
    single = tmp_path / "single.parquet"
    pq.write_table(pa.table({"value": ["A"], "count": [1]}), single)
    with pytest.raises(HarmonieError, match="fewer than two"):
        read_reference(single)
