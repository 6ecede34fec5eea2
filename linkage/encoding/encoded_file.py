"""The encoded file a holder sends to the linkage unit, and its metadata.

An encoded file is Parquet: ``linkage_id`` plus the spec's encoded columns, and under the
schema metadata key ``harmonie`` a JSON document: format and version, spec name and hash,
key fingerprint, holder role, row counts and what normalisation set aside, and, when
encoded with a FINESS map, the map's SHA-256 (``finess_map_sha256``). It holds no
plaintext identifier and no local id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from harmonie.errors import HarmonieError
from harmonie.io import write_parquet

ENCODED_FORMAT = "harmonie-encoded"
ENCODED_FORMAT_VERSION = 1
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


def read_footer(path: str | Path) -> tuple[pa.Schema, dict]:
    """The encoded file's Arrow schema and Harmonie metadata, from its footer only, checking it
    is an encoded file of a version we read. Local paths, or any URI pyarrow's file systems
    read (s3://, hdfs://, gs://...): the one reader every engine and the attack audit use."""
    text = str(path)
    try:
        if "://" in text:
            import pyarrow.fs as pafs

            filesystem, inner = pafs.FileSystem.from_uri(text)
            with filesystem.open_input_file(inner) as handle:
                schema = pq.read_schema(handle)
        else:
            if not Path(text).exists():
                raise HarmonieError(f"encoded file {text} not found")
            schema = pq.read_schema(text)
    except (pa.ArrowInvalid, OSError) as exc:
        raise HarmonieError(f"{text} is not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise HarmonieError(f"{text} is not a Harmonie encoded file (no Harmonie metadata)")
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
    return schema, metadata


def read_metadata(path: str | Path) -> dict:
    """The encoded file's metadata (:func:`read_footer`)."""
    return read_footer(path)[1]


def read_encoded(path: str | Path) -> EncodedFile:
    metadata = read_metadata(path)
    return EncodedFile(pq.read_table(path), metadata)


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
