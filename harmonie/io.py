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
import pyarrow.compute as pc
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


_KEY_MARKERS = (b'"harmonie-linkage-key"', b'"harmonie-model-key"', b"-----BEGIN ENCRYPTED PRIVATE KEY-----",
                b"-----BEGIN PRIVATE KEY-----")


def is_key_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a linkage key or a release-signing key (read its first 4 KiB only)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return any(marker in head for marker in _KEY_MARKERS)


def _refuse_key_file(final: Path) -> None:
    """No output ever replaces a key file: the secret may exist nowhere else."""
    if final.is_file() and is_key_file(final):
        raise OutputNotWritable(f"refusing to overwrite {final}: it is a key file (choose another output path)")


def check_distinct_paths(outputs: dict[str, "str | os.PathLike | None"],
                         inputs: dict[str, "str | os.PathLike | None"] | None = None) -> None:
    """Refuse outputs that coincide with each other or with an input (``--crosswalk`` = ``--out`` would write
    local ids into the file meant for the linkage unit; ``--crosswalk`` = ``--key`` would destroy the secret),
    and outputs that are key files. Paths are compared after resolving links and ``..``."""
    from harmonie.errors import InvalidParameter

    def resolved(value):
        return Path(value).expanduser().resolve() if value is not None else None

    seen: dict[Path, str] = {}
    for option, value in (inputs or {}).items():
        if value is not None:
            seen.setdefault(resolved(value), option)
    taken: dict[Path, str] = {}
    for option, value in outputs.items():
        if value is None:
            continue
        path = resolved(value)
        if path in taken:
            raise InvalidParameter(f"{option} and {taken[path]} are the same file ({value}): give each output its "
                                   "own path")
        if path in seen:
            raise InvalidParameter(f"{option} is the same file as the input {seen[path]} ({value}): choose another "
                                   "output path")
        if path.is_file() and is_key_file(path):
            raise InvalidParameter(f"{option} ({value}) is a key file: choose another output path")
        taken[path] = option


def read_settings_text(path: str | os.PathLike, what: str, *, limit: int, error: type | None = None,
                       if_missing: str = "") -> str:
    """The UTF-8 text of a small settings file (spec, policy, eligibility): one line naming ``what`` and the path
    when it is missing, a folder, over ``limit`` bytes, unreadable or not UTF-8 (with the line of the bad byte)."""
    from harmonie.errors import HarmonieError

    error = error or HarmonieError
    path = Path(path)
    try:
        if path.is_dir():
            raise error(f"{what} {path} is a directory, not a file")
        if path.stat().st_size > limit:
            raise error(f"{what} {path} is over {max(limit >> 20, 1)} MiB: a settings file is a few kilobytes")
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} {path} not found{if_missing}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise error(f"{what} {path}, line {line}: not UTF-8 text; save it as UTF-8") from None


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
    _refuse_key_file(final)
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
    """Write a file atomically (never over a key file)."""
    final = Path(path)
    _refuse_key_file(final)
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


# --- reading: one validation layer for every table Harmonie reads ------------------------
#
# Before any work, a table read through :func:`read_table` is checked: the columns asked for
# exist, each holds the kind of value its reader expects (``kinds``, else a flat scalar: never a
# struct, list or map), text is valid UTF-8 (binary columns are decoded, or refused), dates are
# dates of a life: in a SUPPORTED_DATE column, a date outside 1880-2100 is read as missing (a reject,
# counted as such downstream; DATE columns go to a date parser, which rejects it), and anywhere one
# outside years 1-9999 (a corrupted date32 page would overflow
# Python's dates) is pinned to 0001-01-01 / 9999-12-31, which every date parser rejects as outside
# 1880-2100. Every problem is one :class:`HarmonieError` line naming the file, the
# column and the fix; a value is described by its row and kind, never quoted.

TEXT = "text"        # names, codes, ids: strings (or integers, read as their digits)
DATE = "date"        # a calendar date, or text a date parser reads (French files write dates as text)
SUPPORTED_DATE = "supported date"  # the same, a date-typed cell outside SUPPORTED_YEARS read as missing (for
                                   # readers that use Parquet dates as they are, without a date parser)
NUMBER = "number"    # integers or decimals
INTEGER = "integer"  # whole numbers
BOOLEAN = "boolean"  # true / false
ID = "id"            # an identifier: text or integer
SCALAR = "scalar"    # any flat value (not a struct, list or map)

_KIND_WORDS = {TEXT: "text", DATE: "dates", SUPPORTED_DATE: "dates", NUMBER: "numbers", INTEGER: "whole numbers",
               BOOLEAN: "true/false values", ID: "identifiers (text)", SCALAR: "plain values"}
_KIND_FIXES = {TEXT: "store it as text (UTF-8 strings)", DATE: "store it as dates or as text like 31/12/1956",
               SUPPORTED_DATE: "store it as dates or as text like 31/12/1956",
               NUMBER: "store it as numbers", INTEGER: "store it as whole numbers", BOOLEAN: "store it as true/false",
               ID: "store it as text (UTF-8 strings)", SCALAR: "store one plain value per cell"}
# columns every Harmonie table names the same way: their kind is known without the caller saying it
KNOWN_KINDS = {"local_id": ID, "linkage_id": ID, "left_id": ID, "right_id": ID}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_MIN_DAY, _MAX_DAY = -719_162, 2_932_896  # 0001-01-01 and 9999-12-31 as days since 1970-01-01


def looks_like_name(name) -> bool:
    """Whether a column name can be printed: one identifier-like word of at most 64 characters without a
    run of 4 digits; never something that may be a data value (a headerless file's first row: a date, a
    NIR, a name and given name, a long string)."""
    return isinstance(name, str) and bool(_NAME.match(name)) and not re.search(r"\d{4}", name)


def shown_column(name, position: int | None = None) -> str:
    """A column as an error message may show it: its name if it looks like one, else its position."""
    if looks_like_name(name):
        return repr(name)
    return f"#{position + 1} (its name does not look like a column name)" if position is not None \
        else "(a column whose name does not look like a column name)"


def _sniff_header(path: Path, encoding: str, tab: bool) -> tuple[str, list[str]]:
    """(delimiter, column names) from the first line of a CSV file."""
    import csv

    with open(path, "r", encoding=encoding, newline="") as fh:
        header = fh.readline(1 << 20)
    counts = {sep: header.count(sep) for sep in (";", ",", "\t", "|")}
    delimiter = "\t" if tab else max(counts, key=counts.get) if max(counts.values()) else ","
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=delimiter), [])
    return delimiter, [n.lstrip("\ufeff") for n in names]


def read_table(path: str | os.PathLike, *, columns: list[str] | None = None, encoding: str = "utf-8",
               what: str = "input", dictionary_columns: list[str] | None = None,
               kinds: dict[str, str] | None = None) -> pa.Table:
    """Read a Parquet or CSV file into an Arrow table, validated (see the comment above).

    CSV: every column is read as text (codes keep their leading zeros), the delimiter is
    sniffed from the header (';' as French exports use, ',', tab or '|'), ``encoding`` may
    be 'cp1252' or 'latin-1' for files from Windows tools, and empty cells are missing.
    ``columns`` restricts what is read (all must exist); ``kinds`` says what each column must
    hold (:data:`TEXT`, :data:`DATE`, :data:`NUMBER`...; ``"*"``: any other column; default: a
    flat scalar, and for the :data:`KNOWN_KINDS` columns their kind); Parquet ``dictionary_columns`` are read
    dictionary-encoded (cheap for ids repeated over millions of rows). Errors are one line.
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
            if len(set(schema.names)) != len(schema.names):
                raise HarmonieError(f"{what} file {path} has duplicate column names")
            chosen = columns if columns is not None else schema.names
            for name in chosen:  # types from the footer, before any data page is read
                _check_type(schema.field(name).type, _kind_of(name, kinds), path, what, name,
                            schema.names.index(name), parquet=True)
            dictionary = [c for c in (dictionary_columns or []) if c in chosen]
            table = pq.read_table(path, columns=columns, read_dictionary=dictionary or None)
            return _validated(table, path, what, kinds)
        if suffix in (".csv", ".txt", ".tsv"):
            import pyarrow.csv as pcsv

            delimiter, names = _sniff_header(path, encoding, suffix == ".tsv")
            _check_columns(names, columns, path, what)
            if len(set(names)) != len(names):
                raise HarmonieError(f"{what} file {path} has duplicate column names")
            convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                                          null_values=[""], include_columns=columns)
            table = pcsv.read_csv(path, read_options=pcsv.ReadOptions(encoding=encoding, column_names=names,
                                                                     skip_rows=1),
                                  parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                                  convert_options=convert)
            return _validated(_typed_csv(table, path, what, kinds), path, what, kinds)
    except HarmonieError:
        raise
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError, UnicodeDecodeError,
            LookupError, OverflowError, ValueError, KeyError) as exc:
        raise HarmonieError(f"cannot read {what} file {path}: {_safe_reason(exc)} (is it corrupted? export it "
                            "again)") from None
    raise HarmonieError(f"{what} file {path}: unsupported format {suffix or '(none)'}; use .parquet or .csv")


def _kind_of(name: str, kinds: dict[str, str] | None) -> str:
    """The kind a column must hold: as ``kinds`` says (its ``"*"`` entry for any other column), else
    as :data:`KNOWN_KINDS` says, else a flat scalar."""
    kinds = kinds or {}
    return kinds.get(name) or KNOWN_KINDS.get(name) or kinds.get("*") or SCALAR


def _type_word(kind: pa.DataType) -> str:
    """What an Arrow type holds, in words (a message shows this, never a value)."""
    for test, word in ((pa.types.is_struct, "records (struct)"), (pa.types.is_map, "maps"),
                       (lambda t: pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
                        or getattr(pa.types, "is_list_view", lambda _: False)(t), "lists"),
                       (pa.types.is_union, "unions"), (pa.types.is_boolean, "true/false values"),
                       (pa.types.is_integer, "whole numbers"), (pa.types.is_floating, "decimal numbers"),
                       (pa.types.is_decimal, "decimal numbers"), (pa.types.is_temporal, "dates or times"),
                       (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t)
                        or pa.types.is_fixed_size_binary(t), "raw bytes"),
                       (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "text")):
        if test(kind):
            return word
    return str(kind).split("<")[0]


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view",
                                                                            lambda _: False)(t)


def _is_bytes(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _accepts(kind: str, t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _accepts(kind, t.value_type)
    if pa.types.is_null(t):
        return True
    textual = _is_text(t) or _is_bytes(t)
    if kind in (TEXT, ID):
        return textual or pa.types.is_integer(t)
    if kind in (DATE, SUPPORTED_DATE):
        return textual or pa.types.is_integer(t) or pa.types.is_date(t) or pa.types.is_timestamp(t)
    if kind == NUMBER:
        return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    if kind == INTEGER:
        return pa.types.is_integer(t)
    if kind == BOOLEAN:
        return pa.types.is_boolean(t)
    return not (pa.types.is_nested(t) or pa.types.is_union(t) or pa.types.is_fixed_size_binary(t)
                or pa.types.is_time(t) or pa.types.is_duration(t) or pa.types.is_interval(t))


def _check_type(t: pa.DataType, kind: str, path: Path, what: str, name: str, position: int | None,
                parquet: bool) -> None:
    from harmonie.errors import HarmonieError

    if not _accepts(kind, t):
        raise HarmonieError(f"{what} file {path}: column {shown_column(name, position)} holds "
                            f"{_type_word(t.value_type if pa.types.is_dictionary(t) else t)}, not "
                            f"{_KIND_WORDS[kind]}; {_KIND_FIXES[kind]}")


def _typed_csv(table: pa.Table, path: Path, what: str, kinds: dict[str, str] | None) -> pa.Table:
    """CSV cells are text: cast the columns that must hold numbers or true/false, naming the first bad row."""
    from harmonie.errors import HarmonieError

    for position, name in enumerate(table.column_names):
        kind = _kind_of(name, kinds)
        target = {NUMBER: pa.float64(), INTEGER: pa.int64(), BOOLEAN: pa.bool_()}.get(kind)
        if target is None:
            continue
        column = pc.utf8_trim_whitespace(table[name])
        try:
            cast = pc.cast(column, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            row = _first_failing(column, target)
            raise HarmonieError(f"{what} file {path}: column {shown_column(name, position)}, data row {row}: not "
                                f"{_KIND_WORDS[kind]}; {_KIND_FIXES[kind]}") from None
        table = table.set_column(position, name, cast)
    return table


def _first_failing(column: pa.ChunkedArray, target: pa.DataType) -> int:
    """1-based row of the first value that does not cast (error path only: a Python loop is fine)."""
    row = 0
    for chunk in column.chunks:
        for value in chunk:
            row += 1
            try:
                pc.cast(pa.array([value.as_py()], pa.string()), target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return row
    return row


def _validated(table: pa.Table, path: Path, what: str, kinds: dict[str, str] | None) -> pa.Table:
    """Full validation of what was read: UTF-8 text (bytes decoded), dates a year 1-9999, sound buffers."""
    from harmonie.errors import HarmonieError

    for position, name in enumerate(table.column_names):
        column = table[name]
        t = column.type
        value_type = t.value_type if pa.types.is_dictionary(t) else t
        if _is_bytes(value_type):  # text some writers store as bytes: decoded, or refused
            column = _decoded(column, path, what, name, position)
        else:
            _check_utf8(column, path, what, name, position)
        if pa.types.is_date(value_type) or pa.types.is_timestamp(value_type):
            column = _pinned_dates(column, _kind_of(name, kinds))
        if column is not table[name]:
            table = table.set_column(position, name, column)
    return table


def _invalid_row(exc: Exception, offset: int) -> str:
    match = re.search(r"index (\d+)", str(exc))
    return f"data row {offset + int(match[1]) + 1}" if match else "a row"


def _check_utf8(column: pa.ChunkedArray, path: Path, what: str, name: str, position: int) -> None:
    from harmonie.errors import HarmonieError

    offset = 0
    for chunk in column.chunks:
        try:
            chunk.validate(full=True)
        except pa.ArrowInvalid as exc:
            where = _invalid_row(exc, offset) if "UTF8" in str(exc) else "its data"
            reason = "text that is not valid UTF-8" if "UTF8" in str(exc) else "corrupted data"
            raise HarmonieError(f"{what} file {path}: column {shown_column(name, position)}, {where}: {reason} "
                                "(a corrupted file, or text in another encoding: export it again as UTF-8)") from None
        offset += len(chunk)


def _decoded(column: pa.ChunkedArray, path: Path, what: str, name: str, position: int) -> pa.ChunkedArray:
    """A binary column read as UTF-8 text (some writers store text as bytes), or a one-line error."""
    from harmonie.errors import HarmonieError

    t = column.type
    target = pa.large_string() if pa.types.is_large_binary(t.value_type if pa.types.is_dictionary(t) else t) \
        else pa.string()
    chunks, offset = [], 0
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_decode()
        text = chunk.view(target)
        try:
            text.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise HarmonieError(f"{what} file {path}: column {shown_column(name, position)} holds raw bytes, and "
                                f"{_invalid_row(exc, offset)} is not UTF-8 text; store it as text (UTF-8 strings)"
                                ) from None
        chunks.append(text)
        offset += len(chunk)
    return pa.chunked_array(chunks, type=target)


def _days(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.DataType, int]:
    """(the column's raw integers, its type, units per day) for a date or timestamp column."""
    t = column.type
    if pa.types.is_date32(t):
        return pa.chunked_array([c.view(pa.int32()) for c in column.chunks], type=pa.int32()), t, 1
    per_day = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
    scale = 86_400_000 if pa.types.is_date64(t) else per_day[t.unit]
    return pa.chunked_array([c.view(pa.int64()) for c in column.chunks], type=pa.int64()), t, scale


def _first_year_day(year: int) -> int:
    import datetime as dt

    return (dt.date(year, 1, 1) - dt.date(1970, 1, 1)).days


SUPPORTED_YEARS = (1880, 2100)
"""Dates outside these years are not dates of anyone's life or care: every stage treats them as unusable."""


def _pinned_dates(column: pa.ChunkedArray, kind: str) -> pa.ChunkedArray:
    """A date column Python and pandas can hold. For a :data:`SUPPORTED_DATE` column, dates outside
    :data:`SUPPORTED_YEARS` are read as missing (unusable: they are rejects, never a pandas overflow);
    otherwise dates outside years 1-9999 (only a corrupted or crafted file has them) are pinned to
    0001-01-01 or 9999-12-31, which every date parser rejects as outside 1880-2100."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    values, t, scale = _days(column)
    if kind == SUPPORTED_DATE:
        low_day, high_day = _first_year_day(SUPPORTED_YEARS[0]), _first_year_day(SUPPORTED_YEARS[1] + 1) - 1
    else:
        low_day, high_day = _MIN_DAY, _MAX_DAY
    low, high = max(low_day * scale, -2**63), min((high_day + 1) * scale - 1, 2**63 - 1)
    bounds = pc.min_max(values)
    if bounds["min"].as_py() is None or (bounds["min"].as_py() >= low and bounds["max"].as_py() <= high):
        return column
    raw = values.type
    if kind == SUPPORTED_DATE:
        outside = pc.or_(pc.less(values, pa.scalar(low, raw)), pc.greater(values, pa.scalar(high, raw)))
        kept = pc.if_else(outside, pa.scalar(None, raw), values)
    else:
        kept = pc.max_element_wise(pc.min_element_wise(values, pa.scalar(high, raw), skip_nulls=False),
                                   pa.scalar(low, raw), skip_nulls=False)
    return pa.chunked_array([c.view(t) for c in kept.chunks], type=t)


def _safe_reason(exc: Exception) -> str:
    """The reader's reason, without the offending row: Arrow's CSV errors quote the row,
    which may hold names or NIRs, and those must not reach a message or a log."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "CSV parse error" in text:
        detail = text.split(":")[1].strip() if text.count(":") >= 2 else "malformed row"
        return f"malformed CSV ({detail})"
    if isinstance(exc, UnicodeDecodeError):
        return f"{exc.encoding} cannot decode byte {exc.start} of a block (wrong --encoding?)"
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    return text[:200]


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
    """The wanted columns exist. The names a file has are shown only when they look like column names and
    the file has at least one wanted column: a headerless file's first line is a data row, never echoed."""
    from harmonie.errors import HarmonieError

    missing = [c for c in (wanted or []) if c not in present]
    if not missing:
        return
    shown = [n for n in present if looks_like_name(n)]
    if len(missing) == len(wanted or []):  # nothing expected: maybe no header, so its "names" may be data
        hint = (f" (it has {len(present)} column(s), none of them expected: a file without a header line, or "
                "another file?)")
    else:
        hint = f" (it has: {', '.join(shown[:20])})" if shown else ""
    raise HarmonieError(f"{what} file {path} lacks column(s) {', '.join(missing)}{hint}")
