"""Helpers of the hostile-input suite (issue 18): the small linkage world its fixtures build, and the
assertion every case makes: a one-line error, exit 2, no traceback, naming what it must name, quoting
no data value."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from harmonie.cli import app

PASSPHRASE = "hostile input suite passphrase"
ENV = {"HARMONIE_KEY_PASSPHRASE": PASSPHRASE}
MARKER = "DUPONT JEAN 1 56 03 75 123 456"  # a would-be identifier: must never reach an error or the audit trail
cli = app()


def run(*args, env: dict | None = None, log: Path | None = None):
    """The CLI in-process; ``log``: the audit log of this run (default: the session's throw-away one)."""
    prefix = ["-q"] + (["--audit-log", str(log)] if log else [])
    return CliRunner().invoke(cli, [*prefix, *map(str, args)], env={**ENV, **(env or {})})


def one_line_error(result, *mentions: str, forbidden: tuple[str, ...] = (MARKER,)) -> str:
    """Assert ``result`` is a one-line ``error:`` with exit 2 and no traceback, mentioning each of ``mentions``
    and none of ``forbidden``; return the message."""
    text = result.output
    assert result.exit_code == 2, f"exit {result.exit_code}: {text}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == text.strip().splitlines()[-1], text
    for mention in mentions:
        assert mention in errors[0], f"{mention!r} not in {errors[0]!r}"
    for value in forbidden:
        assert value not in text, f"{value!r} echoed: {text!r}"
    return errors[0]


def replace_column(path: Path, name: str, array: pa.Array, out: Path) -> Path:
    """A copy of the Parquet file ``path`` with column ``name`` replaced by ``array``."""
    table = pq.read_table(path)
    table = table.set_column(table.column_names.index(name), name, array)
    pq.write_table(table, out)
    return out


class World:
    """A small population, a key, the indirect spec, both encoded files and a link run."""

    def __init__(self, root: Path):
        self.root = root
        self.pop = root / "pop"
        self.key = root / "k.key"
        self.spec = root / "spec.toml"
        self.left, self.right = root / "cohort.encoded.parquet", root / "snds.encoded.parquet"
        self.left_cw, self.right_cw = root / "cohort.cw.parquet", root / "snds.cw.parquet"
        self.run_dir = root / "run"

    @property
    def patients(self) -> Path:
        return self.pop / "cohort_patients.parquet"

    @property
    def stays(self) -> Path:
        return self.pop / "cohort_stays.parquet"

    def encode_args(self, patients: Path | None = None, stays: Path | None = None, tag: str = "x") -> list:
        return ["encode", "--spec", self.spec, "--key", self.key, "--in", patients or self.patients,
                "--stays", stays or self.stays, "--out", self.root / f"{tag}.encoded.parquet",
                "--crosswalk", self.root / f"{tag}.cw.parquet", "--overwrite"]  # scratch outputs, reused (#21)

    def link_args(self, left: Path | None = None, right: Path | None = None, spec: Path | None = None,
                  *extra) -> list:
        return ["link", "--spec", spec or self.spec, "--left", left or self.left, "--right", right or self.right,
                "--out", self.root / "relink", "--no-charts", *extra]


