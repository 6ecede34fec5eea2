"""The encoded file a holder sends to the linkage unit, and its metadata.

An encoded file is Parquet: ``linkage_id`` plus the spec's encoded columns, and under the
schema metadata key ``harmonie`` a JSON document: format and version, spec name and hash,
key fingerprint, holder role, row counts and what normalisation set aside, and, when
encoded with a FINESS map, the map's SHA-256 (``finess_map_sha256``). It holds no
plaintext identifier and no local id.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from harmonie.errors import HarmonieError
from harmonie.io import write_parquet
from linkage import encoded_columns as columns_of

ENCODED_FORMAT = "harmonie-encoded"
ENCODED_FORMAT_VERSION = 2  # 2: the data's SHA-256 (data_sha256) and the encoding's run_id
METADATA_KEY = b"harmonie"


@dataclass
class EncodedFile:
    table: pa.Table
    metadata: dict

    @property
    def spec_hash(self) -> str:
        return self.metadata["spec_hash"]

    @property
    def key_fingerprint(self) -> str:
        return self.metadata["key_fingerprint"]


def encoded_metadata(metadata: dict) -> dict:
    """The metadata document an encoded file carries: format and version, then the encoding's own."""
    return {"format": ENCODED_FORMAT, "format_version": ENCODED_FORMAT_VERSION, **metadata}


def write_encoded(table: pa.Table, metadata: dict, path: str | Path) -> Path:
    document = encoded_metadata(metadata)
    schema_metadata = dict(table.schema.metadata or {})
    schema_metadata[METADATA_KEY] = json.dumps(document, sort_keys=True).encode("utf-8")
    return write_parquet(table.replace_schema_metadata(schema_metadata), path)


_HEX = re.compile(r"^[0-9a-f]+$")
_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


def _bad(text: str, key: str, expected: str) -> HarmonieError:
    return HarmonieError(f"{text}: Harmonie metadata entry {key!r} is missing or not {expected}; the file was "
                         "altered or is not an encoded file: ask its holder to encode it again")


def _check_metadata(metadata: dict, text: str) -> None:
    """Every metadata entry the linkage unit relies on is there, with its type (never a KeyError later)."""
    def hex_string(key, length=None, optional=False):
        value = metadata.get(key)
        if value is None and optional and key not in metadata:
            return
        if not (isinstance(value, str) and _HEX.match(value) and (length is None or len(value) == length)):
            raise _bad(text, key, f"a hexadecimal string{f' of {length} digits' if length else ''}")

    hex_string("spec_hash", 64)
    hex_string("key_fingerprint")
    if len(metadata["key_fingerprint"]) > 128:
        raise _bad(text, "key_fingerprint", "a short hexadecimal string")
    hex_string("finess_map_sha256", 64, optional=True)
    hex_string("data_sha256", 64)
    hex_string("run_id", 32)
    if not (isinstance(metadata.get("holder"), str) and _ROLE.match(metadata["holder"])):
        raise _bad(text, "holder", "a holder name")
    if not isinstance(metadata.get("spec_name", ""), str):
        raise _bad(text, "spec_name", "a name")
    for key in ("rows_in", "rows_encoded", "rows_rejected"):
        value = metadata.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**48:
            raise _bad(text, key, "a count of rows")
    if metadata["rows_in"] != metadata["rows_encoded"] + metadata["rows_rejected"]:
        raise HarmonieError(f"{text}: its row counts do not reconcile (rows_in != rows_encoded + rows_rejected); "
                            "the file was altered: ask its holder to encode it again")
    columns = metadata.get("columns")
    if not (isinstance(columns, list) and len(columns) <= 10_000 and all(
            isinstance(c, str) and columns_of_name(c) for c in columns) and len(set(columns)) == len(columns)):
        raise _bad(text, "columns", "a list of distinct encoded column names")
    fields = metadata.get("fields", {})
    if not (isinstance(fields, dict) and all(isinstance(v, dict) and all(
            isinstance(n, int) and not isinstance(n, bool) for n in v.values()) for v in fields.values())):
        raise _bad(text, "fields", "counts per field")


def columns_of_name(name: str) -> bool:
    """Whether ``name`` can be an encoded column's name (a spec field name and a suffix)."""
    return bool(re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", name))


def read_footer(path: str | Path) -> tuple[pa.Schema, dict]:
    """The encoded file's Arrow schema and Harmonie metadata, from its footer only, checking it
    is an encoded file of a version we read, with every metadata entry of its type and the columns
    the metadata lists, each of an encoded type. Local paths, or any URI pyarrow's file systems
    read (s3://, hdfs://, gs://...): the one reader every engine and the attack audit use."""
    text = str(path)
    if "://" not in text and not Path(text).exists():
        raise HarmonieError(f"encoded file {text} not found")
    if "://" not in text and Path(text).is_dir():
        raise HarmonieError(f"encoded file {text} is a directory, not a file")
    try:
        with _parquet_file(text) as parquet:
            schema = parquet.schema_arrow
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise HarmonieError(f"{text} is not a readable Parquet file ({_reason(exc)[:160]})") from None
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise HarmonieError(f"{text} is not a Harmonie encoded file (no Harmonie metadata)")
    if len(raw) > 1 << 20:
        raise HarmonieError(f"{text} has corrupted Harmonie metadata (over 1 MiB)")
    try:
        metadata = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise HarmonieError(f"{text} has corrupted Harmonie metadata") from None
    if not isinstance(metadata, dict):
        raise HarmonieError(f"{text} has corrupted Harmonie metadata (not a JSON object)")
    if metadata.get("format") != ENCODED_FORMAT:
        raise HarmonieError(f"{text} is not a Harmonie encoded file (format is not {ENCODED_FORMAT!r})")
    version = metadata.get("format_version")
    if version != ENCODED_FORMAT_VERSION:
        shown = version if isinstance(version, int) and abs(version) < 10**6 else type(version).__name__
        raise HarmonieError(f"{text} is encoded-file version {shown!r}; this tool reads version "
                            f"{ENCODED_FORMAT_VERSION}")
    _check_metadata(metadata, text)
    _check_schema(schema, metadata, text)
    return schema, metadata


def _encoded_type(t: pa.DataType) -> str | None:
    """'token', 'filter' or 'list' for the Arrow types an encoded column may have, else None."""
    if pa.types.is_int64(t):
        return "token"
    if pa.types.is_fixed_size_binary(t) and t.byte_width % 8 == 0 and 8 <= t.byte_width <= 1024:
        return "filter"
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_int64(t.value_type):
        return "list"
    return None


def _check_schema(schema: pa.Schema, metadata: dict, text: str) -> None:
    """``linkage_id`` (text) and exactly the columns the metadata lists, each a token, filter or token list."""
    names = schema.names
    if len(set(names)) != len(names):
        raise HarmonieError(f"{text} has duplicate columns; ask its holder to encode it again")
    if "linkage_id" not in names or not (pa.types.is_string(schema.field("linkage_id").type)
                                         or pa.types.is_large_string(schema.field("linkage_id").type)):
        raise HarmonieError(f"{text} has no linkage_id column of text: not an encoded file, or altered; ask its "
                            "holder to encode it again")
    listed = metadata["columns"]
    missing = [c for c in listed if c not in names]
    extra = [c for c in names if c != "linkage_id" and c not in listed]
    if missing or extra:
        what = (f"lacks column(s) {', '.join(missing[:10])} its metadata lists" if missing else
                f"has {len(extra)} column(s) its metadata does not list")
        raise HarmonieError(f"{text} {what}: the file was altered; ask its holder to encode it again")
    for name in listed:
        if _encoded_type(schema.field(name).type) is None:
            raise HarmonieError(f"{text}: column {name!r} is not an encoded column (tokens, Bloom filters or token "
                                "lists); the file was altered: ask its holder to encode it again")


def check_spec_columns(schema: pa.Schema, metadata: dict, spec, text: str) -> None:
    """The file holds every column ``spec`` gives its holder, each of the type its encoding writes:
    checked before linking, so a missing or retyped column is one line, never a KeyError mid-run."""
    groups = "finess_map_sha256" in metadata
    try:
        expected = spec.encoded_columns(metadata["holder"], groups=groups)
    except HarmonieError:
        raise HarmonieError(f"{text} comes from holder {metadata['holder']!r}, which the spec does not name "
                            f"(it has: {', '.join(spec.holders)})") from None
    for name in expected:
        field = spec.field(columns_of.field_of(name))
        wanted = ("list" if field.encoding == "events" or columns_of.is_near(name) else
                  "filter" if field.encoding == "bloom" else "token")
        if name not in schema.names:
            raise HarmonieError(f"{text} lacks column {name!r} that the spec's field {field.name!r} encodes: "
                                "encoded with another spec, or altered; ask its holder to encode it again")
        found = _encoded_type(schema.field(name).type)
        if found != wanted or (wanted == "filter" and schema.field(name).type.byte_width != field.bloom.output_bytes):
            raise HarmonieError(f"{text}: column {name!r} holds {found or 'other values'} where the spec's field "
                                f"{field.name!r} writes {wanted}s; ask its holder to encode it again")


def read_metadata(path: str | Path) -> dict:
    """The encoded file's metadata (:func:`read_footer`)."""
    return read_footer(path)[1]


def read_encoded(path: str | Path) -> EncodedFile:
    """The encoded file, checked (:func:`read_footer`), its data fully validated and its linkage ids
    present and distinct (a file with 50 copies of one id, or null ids, is refused)."""
    import pyarrow.compute as pc

    metadata = read_metadata(path)
    text = str(path)
    try:
        table = pq.read_table(path)
        for name in table.column_names:
            for chunk in table[name].chunks:
                chunk.validate(full=True)
    except _READ_ERRORS as exc:
        raise _corrupted(text, exc) from None
    ids = table["linkage_id"]
    if ids.null_count:
        raise HarmonieError(f"{text}: {ids.null_count:,} row(s) have no linkage_id; the file was altered: ask "
                            "its holder to encode it again")
    if table.num_rows != metadata["rows_encoded"]:
        raise HarmonieError(f"{text} holds {table.num_rows:,} rows where its metadata says {metadata['rows_encoded']:,}"
                            " were encoded; the file was altered or cut: ask its holder to encode it again")
    distinct = pc.count_distinct(ids).as_py()
    if distinct != table.num_rows:
        raise HarmonieError(f"{text}: {table.num_rows - distinct:,} row(s) repeat another row's linkage_id; the "
                            "file was altered: ask its holder to encode it again")
    check_digest(metadata, table.schema, table.to_batches(), text)  # after the checks that say more
    return EncodedFile(table, metadata)


def check_digest(metadata: dict, schema: pa.Schema, batches, text: str) -> None:
    """The data read are the data the holder encoded (:mod:`linkage.encoding.digest`)."""
    from linkage.encoding.digest import data_digest

    if data_digest(schema, batches) != metadata["data_sha256"]:
        raise HarmonieError(f"{text}: its data do not match the digest its holder wrote (bytes changed since it "
                            "was encoded): ask its holder to send it again")


@contextmanager
def _parquet_file(text: str):
    """The Parquet file at a local path or at any URI pyarrow's file systems read (s3://, hdfs://...)."""
    if "://" in text:
        import pyarrow.fs as pafs

        filesystem, inner = pafs.FileSystem.from_uri(text)
        with filesystem.open_input_file(inner) as handle:
            yield pq.ParquetFile(handle)
    else:
        yield pq.ParquetFile(text)


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__


def _corrupted(text: str, exc: Exception) -> HarmonieError:
    return HarmonieError(f"{text} has corrupted data pages ({_reason(exc)[:120]}); ask its holder to send it again")


_READ_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError, UnicodeDecodeError)


def verify_file_data(path: str | Path, schema: pa.Schema, metadata: dict) -> None:
    """:func:`check_digest` batch by batch over the file at ``path`` (local or a URI), whose footer
    :func:`read_footer` gave ``schema`` and ``metadata``, without holding it: for engines that read the data
    themselves (Spark)."""
    try:
        with _parquet_file(str(path)) as parquet:
            check_digest(metadata, schema, parquet.iter_batches(), str(path))
    except _READ_ERRORS as exc:
        raise _corrupted(str(path), exc) from None


def read_columns(path: str | Path, columns: list[str]) -> pa.Table:
    """Only ``columns`` of the (checked) encoded file at ``path``."""
    try:
        with _parquet_file(str(path)) as parquet:
            return parquet.read(columns=columns)
    except _READ_ERRORS as exc:
        raise _corrupted(str(path), exc) from None


SAME_KEY_MIN_ROWS = 100        # rows with a value on each side before a column can testify
SAME_KEY_MAX_DISTINCT = 1_000  # sex, birth year, birth month: values every population shares


def token_columns_of(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if f.name != "linkage_id" and _encoded_type(f.type) == "token"]


def check_same_encoding(left: pa.Table, right: pa.Table) -> None:
    """Whether the two files were encoded under one key and project, from the data rather than their labels:
    in a token column of few distinct values (sex, birth year...), two populations encoded under one key share
    tokens; under two keys they share none (64-bit HMACs do not collide). When every such column, with at least
    SAME_KEY_MIN_ROWS values on each side, shares no token, the labels that agree were altered."""
    import pyarrow.compute as pc

    testified = 0
    for name in sorted(set(token_columns_of(left.schema)) & set(token_columns_of(right.schema))):
        a, b = (pc.unique(t[name].drop_null()) if t[name].length() - t[name].null_count >= SAME_KEY_MIN_ROWS
                else None for t in (left, right))
        if a is None or b is None or len(a) > SAME_KEY_MAX_DISTINCT or len(b) > SAME_KEY_MAX_DISTINCT:
            continue
        testified += 1
        if pc.any(pc.is_in(a, value_set=b)).as_py():
            return
    if testified:
        raise HarmonieError("the two files share no token in any field where every population shares values (sex, "
                            "birth year...): they were encoded under different keys or projects, though their "
                            "metadata says otherwise (altered): ask both holders to encode again with the same key")


def check_compatible(left: dict, right: dict) -> None:
    """Both files must come from the same spec, the same secret and the same FINESS map (or none),
    and from two holders."""
    if left["spec_hash"] != right["spec_hash"]:
        raise HarmonieError(f"the two files were encoded with different specs "
                            f"({left['spec_hash'][:12]}... vs {right['spec_hash'][:12]}...)")
    if left["key_fingerprint"] != right["key_fingerprint"]:
        raise HarmonieError(f"the two files were encoded with different keys "
                            f"(fingerprints {left['key_fingerprint']} vs {right['key_fingerprint']})")
    if left.get("holder") == right.get("holder"):
        raise HarmonieError(f"both files come from the same holder ({left.get('holder')!r})")
    left_map, right_map = left.get("finess_map_sha256"), right.get("finess_map_sha256")
    if left_map != right_map:  # establishment-group tokens only meet under one FINESS map
        shown = [f"{h[:12]}..." if isinstance(h, str) else "no map" for h in (left_map, right_map)]
        raise HarmonieError(f"the two files were encoded with different FINESS maps ({shown[0]} vs {shown[1]}); "
                            f"both holders must encode with the same --finess-map, or both without one")
