"""Hostile audit lines: a JSON array, a number, invalid UTF-8 are one-line errors (before the command does
any work); a last line cut mid-write is recorded by the next entry, and later commands still append."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmonie.errors import HarmonieError
from hostile.hostile_helpers import one_line_error, run
from privacy.audit.trail import append, verify


@pytest.fixture()
def log(tmp_path):
    path = tmp_path / "audit.jsonl"
    for i in range(3):
        append({"command": f"step {i}", "parameters": {"out": f"/data/{i}"}}, path)
    return path


@pytest.mark.parametrize("line", [b"[1, 2, 3]\n", b"42\n", b'{"seq": "\xff\xfe"}\n', b'"x"\n', b"null\n",
                                  b'{"a": 1}\n', b"[" * 100_000 + b"\n"])
def test_a_last_line_that_is_not_an_entry_is_one_line_before_any_work(world, tmp_path, log, line):
    with open(log, "ab") as fh:
        fh.write(line)
    out = tmp_path / "spec.toml"
    one_line_error(run("spec", "example", "names", "--out", out, log=log), str(log), "line 4", "not an entry")
    assert not out.exists()  # refused before it wrote anything its entry could not record
    one_line_error(run("audit", "verify", str(log), log=tmp_path / "other.jsonl"), "line 4")


def test_a_cut_last_line_is_recorded_and_later_commands_still_append(world, tmp_path, log):
    lines = log.read_bytes().splitlines(keepends=True)
    cut = lines[-1][: len(lines[-1]) // 2]
    log.write_bytes(b"".join(lines[:-1]) + cut)  # the third entry cut mid-write, no newline
    for name in ("a.toml", "b.toml"):
        result = run("spec", "example", "names", "--out", tmp_path / name, log=log)
        assert result.exit_code == 0, result.output
    entries = log.read_bytes().splitlines()
    assert entries[2] == cut  # kept as it is
    recovering = json.loads(entries[3])
    assert recovering["seq"] == 3 and recovering["recovered"]["line"] == 3
    assert json.loads(entries[4])["seq"] == 4 and "recovered" not in json.loads(entries[4])
    report = verify(log)
    assert report["entries"] == 4 and report["cut_entries"] == [{"line": 3, "bytes": len(cut), "recorded_by": 3}]
    result = run("audit", "verify", str(log), log=tmp_path / "other.jsonl")
    assert result.exit_code == 0 and "line 3 holds an entry cut mid-write" in result.output


def test_a_recorded_cut_line_that_is_later_edited_is_caught(tmp_path, log):
    data = log.read_bytes()
    log.write_bytes(data[: len(data) - 40])
    append({"command": "after the cut"}, log)
    lines = log.read_bytes().split(b"\n")
    lines[2] = lines[2][:-1] + b"X"
    log.write_bytes(b"\n".join(lines))
    with pytest.raises(HarmonieError, match="line 3 is not a complete JSON entry"):
        verify(log)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.binary(max_size=200) | st.builds(lambda k: json.dumps({"seq": 4, "x": "y" * 30})[:k].encode(),
                                                 st.integers(1, 40)))
def test_any_last_line_is_appended_after_or_refused_with_one_line(tmp_path_factory, tail):
    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    append({"command": "first"}, path)
    with open(path, "ab") as fh:
        fh.write(tail)
    try:
        append({"command": "next"}, path)
    except HarmonieError as exc:
        assert "\n" not in str(exc)
    else:
        report = verify(path)
        assert report["entries"] == 2
    try:
        verify(path)
    except HarmonieError as exc:
        assert "\n" not in str(exc)
