"""The audit trail: every data command appends a chained entry; any edit, removal or reordering is found."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner

from harmonie.cli import app
from harmonie.errors import HarmonieError
from privacy.audit.trail import append, verify

cli = app()
PASSPHRASE = "audit trail test passphrase"


def run(log, *args, env=None):
    return CliRunner().invoke(cli, ["-q", "--audit-log", str(log), *args], env=env)


@pytest.fixture()
def logged(tmp_path):
    """A log written by real commands: simulate, keys new, spec example, encode (and a failing encode)."""
    log = tmp_path / "audit.jsonl"
    env = {"HARMONIE_KEY_PASSPHRASE": PASSPHRASE}
    assert run(log, "simulate", "--out", str(tmp_path / "pop"), "--cohort", "80", "--snds", "800").exit_code == 0
    assert run(log, "keys", "new", "--out", str(tmp_path / "k.key"), env=env).exit_code == 0
    assert run(log, "spec", "example", "names", "--out", str(tmp_path / "names.toml")).exit_code == 0
    encoded = run(log, "encode", "--spec", str(tmp_path / "names.toml"), "--key", str(tmp_path / "k.key"), "--in",
                  str(tmp_path / "pop" / "cohort_patients.parquet"), "--out", str(tmp_path / "c.parquet"),
                  "--crosswalk", str(tmp_path / "cw.parquet"), env=env)
    assert encoded.exit_code == 0, encoded.output
    failed = run(log, "encode", "--spec", str(tmp_path / "names.toml"), "--key", str(tmp_path / "k.key"), "--in",
                 str(tmp_path / "missing.parquet"), "--out", str(tmp_path / "x.parquet"), "--crosswalk",
                 str(tmp_path / "xcw.parquet"), env=env)
    assert failed.exit_code == 2
    return log, tmp_path


def _entries(log):
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_each_data_command_appends_a_chained_entry_with_hashes_and_provenance(logged):
    log, tmp = logged
    entries = _entries(log)
    assert [e["command"] for e in entries] == ["simulate", "keys new", "spec example", "encode", "encode"]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    encode = entries[3]
    assert encode["status"] == "ok" and encode["key_fingerprint"] and len(encode["spec_hash"]) == 64
    assert encode["rows"] == {"in": 80, "encoded": 80, "rejected": 0}
    assert {f["path"] for f in encode["inputs"]} >= {str(tmp / "pop" / "cohort_patients.parquet"), str(tmp / "k.key")}
    assert {f["path"] for f in encode["outputs"]} == {str(tmp / "c.parquet"), str(tmp / "cw.parquet")}
    assert all(len(f["sha256"]) == 64 for f in encode["inputs"] + encode["outputs"])
    assert entries[4]["status"] == "error" and "not found" in entries[4]["error"]
    assert PASSPHRASE not in log.read_text()
    assert verify(log)["entries"] == 5


def test_audit_verify_names_an_edited_entry(logged):
    log, _ = logged
    lines = log.read_text().splitlines()
    lines[2] = lines[2].replace('"spec example"', '"spec check"')
    log.write_text("\n".join(lines) + "\n")
    result = run(log.with_name("other.jsonl"), "audit", "verify", str(log))
    assert result.exit_code == 2 and "entry 3 (line 3) was edited" in result.output


def test_removed_reordered_truncated_and_cut_entries_are_detected(logged):
    log, _ = logged
    lines = log.read_text().splitlines()
    head = verify(log)["head"]
    cases = {
        "removed": lines[:1] + lines[2:],
        "reordered": [lines[0], lines[2], lines[1], *lines[3:]],
        "cut": [*lines[:-1], lines[-1][: len(lines[-1]) // 2]],
    }
    messages = {}
    for name, content in cases.items():
        log.write_text("\n".join(content) + "\n")
        with pytest.raises(HarmonieError) as err:
            verify(log)
        messages[name] = str(err.value)
    assert "entry 3 where entry 2 was expected: entries removed" in messages["removed"]
    assert "reordered" in messages["reordered"]
    assert "line 5 is not a complete JSON entry" in messages["cut"]
    log.write_text("\n".join(lines[:-1]) + "\n")  # the last entry dropped: only the recorded head shows it
    assert verify(log)["entries"] == 4
    with pytest.raises(HarmonieError, match="removed from its end or the log was rewritten"):
        verify(log, expect_head=head)


def test_concurrent_appends_keep_one_chain(tmp_path):
    log = tmp_path / "audit.jsonl"

    def writer(who: str):
        for i in range(40):
            append({"command": f"{who}-{i}"}, log)

    threads = [threading.Thread(target=writer, args=(name,)) for name in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert verify(log)["entries"] == 80
