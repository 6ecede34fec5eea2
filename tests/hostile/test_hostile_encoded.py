"""Hostile encoded files at the linkage unit: tampered or non-object metadata, missing or retyped columns,
null or repeated linkage ids, corrupted pages. One line naming the file, before any linking."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmonie.errors import HarmonieError
from hostile.hostile_helpers import MARKER, one_line_error, run
from linkage.encoding.encoded_file import METADATA_KEY, read_encoded

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _with_metadata(world, path, change) -> None:
    table = pq.read_table(world.left)
    document = json.loads(table.schema.metadata[METADATA_KEY])
    document = change(document)
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: raw}), path)


def _drop(key):
    return lambda d: {k: v for k, v in d.items() if k != key}


TAMPERINGS = {
    "no spec_hash": (_drop("spec_hash"), "spec_hash"),
    "no key_fingerprint": (_drop("key_fingerprint"), "key_fingerprint"),
    "no holder": (_drop("holder"), "holder"),
    "no columns": (_drop("columns"), "columns"),
    "no rows_in": (_drop("rows_in"), "rows_in"),
    "spec_hash an integer": (lambda d: {**d, "spec_hash": 5}, "spec_hash"),
    "fingerprint a list": (lambda d: {**d, "key_fingerprint": [MARKER]}, "key_fingerprint"),
    "a JSON list": (lambda d: [d], "not a JSON object"),
    "a JSON number": (lambda d: 42, "not a JSON object"),
    "not JSON": (lambda d: b"\xff{" + MARKER.encode(), "corrupted Harmonie metadata"),
    "counts that do not reconcile": (lambda d: {**d, "rows_in": d["rows_in"] + 5}, "reconcile"),
    "a column it does not hold": (lambda d: {**d, "columns": [*d["columns"], "stays__group"]}, "lacks column"),
    "deeply nested": (lambda d: ("[" * 100_000 + "]" * 100_000).encode(), "corrupted Harmonie metadata"),
}


@pytest.mark.parametrize("case", list(TAMPERINGS))
def test_tampered_metadata_is_one_line_naming_the_file(world, tmp_path, case):
    change, mention = TAMPERINGS[case]
    path = tmp_path / "left.parquet"
    _with_metadata(world, path, change)
    one_line_error(run(*world.link_args(left=path)), str(path), mention)


def _with_table(world, path, change) -> None:
    table = pq.read_table(world.left)
    pq.write_table(change(table).replace_schema_metadata(table.schema.metadata), path)


def _set(name, array_of):
    return lambda t: t.set_column(t.column_names.index(name), name, array_of(t.num_rows))


COLUMN_CASES = {
    "missing stays": (lambda t: t.drop_columns(["stays"]), "stays"),
    "missing sex": (lambda t: t.drop_columns(["sex"]), "sex"),
    "missing linkage_id": (lambda t: t.drop_columns(["linkage_id"]), "linkage_id"),
    "text tokens": (_set("sex", lambda n: pa.array([MARKER] * n)), "'sex'"),
    "text token lists": (_set("stays", lambda n: pa.array([[MARKER]] * n, pa.list_(pa.string()))), "'stays'"),
    "an extra column": (lambda t: t.append_column("nir", pa.array([MARKER] * t.num_rows)), "does not list"),
    "50 null linkage ids": (_set("linkage_id", lambda n: pa.array([None] * 50 + ["x%d" % i for i in range(n - 50)])),
                            "no linkage_id"),
    "50 copies of one linkage id": (_set("linkage_id", lambda n: pa.array(["a"] * 50 + ["x%d" % i for i in
                                                                                       range(n - 50)])), "repeat"),
    "rows cut off": (lambda t: t.slice(0, t.num_rows - 10), "rows"),
}


@pytest.mark.parametrize("case", list(COLUMN_CASES))
def test_altered_columns_and_ids_are_one_line(world, tmp_path, case):
    change, mention = COLUMN_CASES[case]
    path = tmp_path / "left.parquet"
    _with_table(world, path, change)
    one_line_error(run(*world.link_args(left=path)), str(path), mention)


def test_the_spec_says_which_columns_and_types_a_holder_must_send(world, tmp_path):
    """A consistent file (columns and metadata agree) that lacks a column the spec encodes for its holder."""
    table = pq.read_table(world.left)
    document = json.loads(table.schema.metadata[METADATA_KEY])
    document["columns"] = [c for c in document["columns"] if c != "stays__near"]
    path = tmp_path / "left.parquet"
    pq.write_table(table.drop_columns(["stays__near"]).replace_schema_metadata(
        {METADATA_KEY: json.dumps(document).encode()}), path)
    one_line_error(run(*world.link_args(left=path)), str(path), "stays__near", "spec")


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=12)


@FAST
@given(key=st.sampled_from(["spec_hash", "key_fingerprint", "holder", "columns", "fields", "rows_in", "rows_encoded",
                            "finess_map_sha256", "spec_name", "format_version"]), value=JSON_VALUES)
def test_any_metadata_value_reads_or_fails_with_one_line(world, tmp_path_factory, key, value):
    path = tmp_path_factory.mktemp("meta") / "left.parquet"
    _with_metadata(world, path, lambda d: {**d, key: value})
    try:
        encoded = read_encoded(path)
    except HarmonieError as exc:
        assert "\n" not in str(exc)
    else:  # accepted: then every entry the linkage unit uses has its type
        assert isinstance(encoded.spec_hash, str) and isinstance(encoded.key_fingerprint, str)
        assert isinstance(encoded.metadata["columns"], list)


@FAST
@given(where=st.floats(0.0, 1.0), xor=st.integers(1, 255))
def test_flipped_bytes_in_an_encoded_file_are_refused_unless_the_data_read_are_unchanged(world, tmp_path_factory,
                                                                                       where, xor):
    """The data digest: a flip that still decodes (a token, a filter bit) is refused, never linked."""
    data = bytearray(world.left.read_bytes())
    data[4 + int(where * (len(data) - 9))] ^= xor
    path = tmp_path_factory.mktemp("flip") / "left.parquet"
    path.write_bytes(bytes(data))
    try:
        table = read_encoded(path).table
    except HarmonieError as exc:
        assert "\n" not in str(exc)
    else:
        assert table.equals(pq.read_table(world.left))
