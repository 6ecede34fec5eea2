"""Hostile input: malformed files, specs and encoded files give a clear error or a quarantined row,
never a traceback or a silently wrong result (property-based where the input space is large)."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmonie.cli import app
from harmonie.errors import HarmonieError
from harmonie.io import read_table
from linkage.encoding.encoded_file import METADATA_KEY, read_encoded, write_encoded
from linkage.spec import example_spec_text, parse_spec

cli = app()
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PASSPHRASE = "hostile input test passphrase"


@SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes_as_csv_read_or_fail_with_one_line(tmp_path, data):
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    try:
        table = read_table(path)
    except HarmonieError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(table, pa.Table)


@SETTINGS
@given(st.binary(max_size=3000), st.integers(min_value=0, max_value=4000))
def test_truncated_or_garbled_parquet_fails_with_one_line(tmp_path, noise, cut):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "x": [1, 2]}), good)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[:cut] + noise)
    for reader in (lambda: read_table(bad), lambda: read_encoded(bad)):
        try:
            reader()
        except HarmonieError as exc:
            assert "\n" not in str(exc)


def test_encoded_file_from_another_format_version_is_refused(tmp_path):
    path = tmp_path / "e.parquet"
    write_encoded(pa.table({"id": ["a"]}), {"holder": "cohort"}, path)
    schema = pq.read_schema(path)
    meta = json.loads(schema.metadata[METADATA_KEY])
    meta["format_version"] = 999
    table = pq.read_table(path).replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    pq.write_table(table, path)
    with pytest.raises(HarmonieError, match="version 999"):
        read_encoded(path)


TOML_ATOMS = st.sampled_from(["[model]", "[[fields]]", "name = 'x'", "encoding = 'bloom'", "threshold = 2.0",
                              "unknown_key = 1", "[blocking]", "keys = []", "= =", "[[comparisons]]", "\x00",
                              "seed = 'a'", "holders = {}", "q = -3"])


@SETTINGS
@given(st.lists(TOML_ATOMS, max_size=12), st.text(max_size=40))
def test_mangled_specs_fail_with_one_line(atoms, noise):
    text = "\n".join(atoms) + "\n" + noise
    try:
        parse_spec(text)
    except HarmonieError as exc:
        assert "\n" not in str(exc).strip()


def test_spec_with_an_unknown_field_is_refused():
    text = example_spec_text("names").replace("[model]", "[model]\nthresold = 0.9", 1)
    with pytest.raises(HarmonieError, match="thresold"):
        parse_spec(text)


def test_hostile_csv_rows_are_quarantined_and_counts_reconcile(tmp_path, population):
    """Duplicate ids, a missing id, NUL bytes, a 1 MB field and cp1252 text in one file: encode keeps the good rows,
    quarantines the rest with a reason, and in = encoded + rejected."""
    env = {"HARMONIE_KEY_PASSPHRASE": PASSPHRASE}
    runner = CliRunner()
    assert runner.invoke(cli, ["-q", "keys", "new", "--out", str(tmp_path / "k.key")], env=env).exit_code == 0
    (tmp_path / "names.toml").write_text(example_spec_text("names"))
    rows = population["cohort_patients"].head(50).copy()
    rows = pd.concat([rows, rows.head(3)])  # three duplicate ids
    rows.iloc[5, rows.columns.get_loc("cohort_id")] = None
    rows.iloc[6, rows.columns.get_loc("use_name")] = "DU\x00PONT"
    rows.iloc[7, rows.columns.get_loc("first_names")] = "A" * 1_000_000
    rows.iloc[8, rows.columns.get_loc("use_name")] = "LEFÈVRE"
    csv = tmp_path / "cohort.csv"
    rows.to_csv(csv, sep=";", index=False, encoding="cp1252", errors="replace")
    result = runner.invoke(cli, ["-q", "encode", "--spec", str(tmp_path / "names.toml"), "--key", str(tmp_path / "k.key"),
                                 "--in", str(csv), "--encoding", "cp1252", "--out", str(tmp_path / "e.parquet"),
                                 "--crosswalk", str(tmp_path / "cw.parquet")], env=env)
    assert result.exit_code == 0, result.output
    meta = read_encoded(tmp_path / "e.parquet").metadata
    rejects = pd.read_parquet(tmp_path / "cw.rejects.parquet")
    assert meta["rows_in"] == 53 == meta["rows_encoded"] + meta["rows_rejected"] == meta["rows_encoded"] + len(rejects)
    assert set(rejects["reason"]) >= {"missing id", "duplicate id (first occurrence kept)"}
    assert "\x00" not in result.output and "A" * 100 not in result.output


def test_csv_with_a_wrong_header_is_one_line(tmp_path):
    env = {"HARMONIE_KEY_PASSPHRASE": PASSPHRASE}
    runner = CliRunner()
    assert runner.invoke(cli, ["-q", "keys", "new", "--out", str(tmp_path / "k.key")], env=env).exit_code == 0
    (tmp_path / "names.toml").write_text(example_spec_text("names"))
    (tmp_path / "in.csv").write_text("cohort_id;surname\n1;DUPONT\n")
    result = runner.invoke(cli, ["-q", "encode", "--spec", str(tmp_path / "names.toml"), "--key", str(tmp_path / "k.key"),
                                 "--in", str(tmp_path / "in.csv"), "--holder", "cohort", "--out",
                                 str(tmp_path / "e.parquet"), "--crosswalk", str(tmp_path / "cw.parquet")], env=env)
    assert result.exit_code == 2 and result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "Traceback" not in result.output
