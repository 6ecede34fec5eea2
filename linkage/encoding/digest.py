"""The SHA-256 of an encoded file's data, independent of how Parquet split it into pages.

An encoded file travels from a holder to the linkage unit; a flipped byte in a data page
that still decodes (a token, a filter bit, a linkage id) would otherwise change links
silently. The holder writes this digest into the file's metadata and every reader
recomputes it from the data it actually read: a mismatch is refused.

The digest covers, for each column in order, its name, its kind, every row's length or
null, and every value's bytes. Each column feeds two SHA-256 streams (lengths, values), so
the digest does not depend on chunk or row-group boundaries and can be computed batch by
batch without holding the file (the Spark engine does). It is an integrity check against
accidents and careless edits, not a signature: whoever can rewrite the file can recompute it
(the linkage unit holds no key to verify anything stronger; see SECURITY.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NULL = -1


def _kind(t: pa.DataType) -> str:
    """What a column holds, the same however it was stored (dictionary-encoded text is text)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return "int64"
    if pa.types.is_fixed_size_binary(t):
        return f"binary{t.byte_width}"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "list"
    return "text"


def _lengths_and_values(array: pa.Array) -> tuple[np.ndarray, bytes]:
    """Per row a length (-1 for null), and the values' bytes."""
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    valid = ~pc.fill_null(pc.is_null(array), True).to_numpy(zero_copy_only=False)
    t = array.type
    if pa.types.is_integer(t):
        values = pc.fill_null(array.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        return np.where(valid, 8, _NULL).astype(np.int64), values.astype("<i8").tobytes()
    if pa.types.is_fixed_size_binary(t):
        width = t.byte_width
        data = array.buffers()[1]
        raw = np.frombuffer(data, dtype=np.uint8)[array.offset * width:(array.offset + len(array)) * width]
        raw = raw.reshape(len(array), width).copy() if len(array) else raw.reshape(0, width)
        raw[~valid] = 0  # a null slot's bytes are undefined
        return np.where(valid, width, _NULL).astype(np.int64), raw.tobytes()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        lengths = pc.fill_null(pc.list_value_length(array), _NULL).to_numpy(zero_copy_only=False).astype(np.int64)
        values = pc.fill_null(array.flatten().cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        return lengths, values.astype("<i8").tobytes()
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        large = array.cast(pa.large_binary())
        offsets = np.frombuffer(large.buffers()[1], dtype=np.int64)[large.offset:large.offset + len(large) + 1]
        data = large.buffers()[2]
        body = b"" if data is None or not len(large) else data.to_pybytes()[offsets[0]:offsets[-1]]
        lengths = np.where(valid, np.diff(offsets), _NULL).astype(np.int64)
        if (~valid).any():  # drop what null slots might cover
            keep = np.repeat(valid, np.diff(offsets))
            body = np.frombuffer(body, dtype=np.uint8)[keep].tobytes()
        return lengths, body
    raise TypeError(f"no digest for Arrow type {t}")


def data_digest(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> str:
    """Hex SHA-256 of the data of ``batches`` (all with ``schema``), whatever their boundaries."""
    streams = [(hashlib.sha256(), hashlib.sha256()) for _ in schema.names]
    kinds = [_kind(field.type) for field in schema]
    rows = 0
    for batch in batches:
        rows += batch.num_rows
        for j, column in enumerate(batch.columns):
            lengths, values = _lengths_and_values(column)
            streams[j][0].update(lengths.astype("<i8").tobytes())
            streams[j][1].update(values)
    total = hashlib.sha256(b"harmonie-encoded-data/1\0" + str(rows).encode() + b"\0")
    for name, kind, (lengths, values) in zip(schema.names, kinds, streams):
        total.update(name.encode("utf-8") + b"\0" + kind.encode() + b"\0" + lengths.digest() + values.digest())
    return total.hexdigest()


def table_digest(table: pa.Table) -> str:
    return data_digest(table.schema, table.to_batches())
