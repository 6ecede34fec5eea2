"""Crash-safe output: every file is written under a temporary name, flushed and renamed.

A run that is interrupted leaves at most a ``.*.tmp`` file behind, never a file under its
final name that looks complete but is not.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from harmonie.errors import OutputNotWritable


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    return write_bytes(text.encode("utf-8"), path)


def write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write a file atomically."""
    final = Path(path)
    try:
        tmp = _temporary_sibling(final)
    except OSError as exc:
        raise OutputNotWritable(f"cannot write into {final.parent}: {exc.strerror}") from None
    try:
        tmp.write_bytes(data)
        _commit(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


# --- reading ----------------------------------------------------------------------------

def _sniff_header(path: Path, encoding: str, tab: bool) -> tuple[str, list[str]]:
    """(delimiter, column names) from the first line of a CSV file."""
    import csv

    with open(path, "r", encoding=encoding, newline="") as fh:
        header = fh.readline()
    counts = {sep: header.count(sep) for sep in (";", ",", "\t", "|")}
    delimiter = "\t" if tab else max(counts, key=counts.get) if max(counts.values()) else ","
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=delimiter), [])
    return delimiter, [n.lstrip("\ufeff") for n in names]


def read_table(path: str | os.PathLike, *, columns: list[str] | None = None, encoding: str = "utf-8",
               what: str = "input", dictionary_columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet or CSV file into an Arrow table.

    CSV: every column is read as text (codes keep their leading zeros), the delimiter is
    sniffed from the header (';' as French exports use, ',', tab or '|'), ``encoding`` may
    be 'cp1252' or 'latin-1' for files from Windows tools, and empty cells are missing.
    ``columns`` restricts what is read (all must exist); Parquet ``dictionary_columns`` are
    read dictionary-encoded (cheap for ids repeated over millions of rows). Errors are one line.
    """
    from harmonie.errors import HarmonieError

    path = Path(path)
    if not path.exists():
        raise HarmonieError(f"{what} file {path} not found")
    if path.is_dir():
        raise HarmonieError(f"{what} path {path} is a directory, not a file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            schema = pq.read_schema(path)
            _check_columns(schema.names, columns, path, what)
            return pq.read_table(path, columns=columns, read_dictionary=dictionary_columns)
        if suffix in (".csv", ".txt", ".tsv"):
            import pyarrow.csv as pcsv

            delimiter, names = _sniff_header(path, encoding, suffix == ".tsv")
            _check_columns(names, columns, path, what)
            if len(set(names)) != len(names):
                raise HarmonieError(f"{what} file {path} has duplicate column names")
            convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                                          null_values=[""], include_columns=columns)
            return pcsv.read_csv(path, read_options=pcsv.ReadOptions(encoding=encoding, column_names=names,
                                                                    skip_rows=1),
                                 parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                                 convert_options=convert)
    except HarmonieError:
        raise
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError, LookupError) as exc:
        raise HarmonieError(f"cannot read {what} file {path}: {_safe_reason(exc)}") from None
    raise HarmonieError(f"{what} file {path}: unsupported format {suffix or '(none)'}; use .parquet or .csv")


def _safe_reason(exc: Exception) -> str:
    """The reader's reason, without the offending row: Arrow's CSV errors quote the row,
    which may hold names or NIRs, and those must not reach a message or a log."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "CSV parse error" in text:
        detail = text.split(":")[1].strip() if text.count(":") >= 2 else "malformed row"
        return f"malformed CSV ({detail})"
    return re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)


def column_names(path: str | os.PathLike, encoding: str = "utf-8") -> list[str]:
    """Column names of a Parquet or CSV file without reading its rows ([] if unreadable)."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pq.read_schema(path).names
        return _sniff_header(path, encoding, path.suffix.lower() == ".tsv")[1]
    except (OSError, UnicodeDecodeError, LookupError, pa.ArrowInvalid):
        return []


def _check_columns(present: list[str], wanted: list[str] | None, path: Path, what: str) -> None:
    from harmonie.errors import HarmonieError

    missing = [c for c in (wanted or []) if c not in present]
    if missing:
        raise HarmonieError(f"{what} file {path} lacks column(s) {', '.join(missing)} "
                            f"(it has: {', '.join(present[:20])})")
