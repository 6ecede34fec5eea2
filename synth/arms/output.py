"""The ``harmonie arm`` commands' output folders: checked before any work, then written as one unit.

The unit is :class:`harmonie.output_set.OutputFolder`, as for every other command: the folder
is locked, the files are written into a staging folder (each atomically, by :mod:`harmonie.io`)
and appear together, with a run manifest, only when the command succeeds; a failed run leaves
the folder as it was. Before that (and before reading any data) the folder is checked by the
output policy of every command (:func:`harmonie.output_set.check_output_folder`): a folder
holding files is refused unless ``overwrite`` (then it is replaced whole: nothing of the
previous output remains), and the output may never be, or hold, one of the inputs (``--out`` =
``--source`` would write a report into the warehouse).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harmonie.errors import HarmonieError, OutputNotWritable
from harmonie.io import check_distinct_paths
from harmonie.output_set import OutputFolder
from harmonie.output_set import check_output_folder as check_policy


def _resolved(path) -> Path:
    return Path(path).expanduser().resolve()


def check_output_folder(out: str | Path, *, overwrite: bool, inputs: dict[str, str | Path | None]) -> Path:
    """``out`` as a folder that may be written: not a file, holding no file unless ``overwrite``, not holding an
    input."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputNotWritable(f"output path {out} exists and is not a folder")
    check_distinct_paths({"--out": out}, inputs)  # --out is none of the inputs (the rule of every command)
    target = _resolved(out)
    for option, value in inputs.items():  # nor a folder holding one
        if value is not None and target in _resolved(value).parents:
            raise HarmonieError(f"--out {out} holds the input {option} ({value}): choose another output folder")
    return check_policy(out, overwrite=overwrite, inputs=inputs)


@contextmanager
def output_folder(out: str | Path, command: str, *, overwrite: bool,
                  inputs: dict[str, str | Path | None] | None = None) -> Iterator[Path]:
    """A staging folder to write into; its files appear in ``out`` together when the block ends without error."""
    out = check_output_folder(out, overwrite=overwrite, inputs=inputs or {})
    with OutputFolder(out, command, overwrite=overwrite, inputs=inputs or {}) as staging:
        yield staging
