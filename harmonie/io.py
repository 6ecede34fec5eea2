"""Crash-safe output: every file is written under a temporary name, flushed and renamed.

A run that is interrupted leaves at most a ``.*.tmp`` file behind, never a file under its
final name that looks complete but is not.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from harmonie.errors import OutputNotWritable


def ensure_output_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) and check we may write into it."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputNotWritable(f"cannot create output directory {out}: {exc.strerror}") from None
    if not out.is_dir():
        raise OutputNotWritable(f"output path {out} exists and is not a directory")
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputNotWritable(f"output directory {out} is not writable")
    return out


def _temporary_sibling(final: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    return Path(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _commit(tmp: Path, final: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual mode
    os.replace(tmp, final)


def write_parquet(table: pa.Table, path: str | os.PathLike, *, metadata: dict[str, str] | None = None) -> Path:
    """Write an Arrow table to Parquet atomically (zstd, dictionary-encoded strings)."""
    final = Path(path)
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    try:
        tmp = _temporary_sibling(final)
    except OSError as exc:
        raise OutputNotWritable(f"cannot write into {final.parent}: {exc.strerror}") from None
    try:
        pq.write_table(table, tmp, compression="zstd")
        _commit(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write a text file atomically (UTF-8)."""
    final = Path(path)
    try:
        tmp = _temporary_sibling(final)
    except OSError as exc:
        raise OutputNotWritable(f"cannot write into {final.parent}: {exc.strerror}") from None
    try:
        tmp.write_text(text, encoding="utf-8")
        _commit(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final
