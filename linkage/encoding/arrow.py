"""numpy -> Arrow columns for encoded files (tokens, filters, token lists)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from privacy.keyed import MISSING


def token_array(tokens: np.ndarray) -> pa.Array:
    """int64 tokens, null where the token is the missing sentinel."""
    return pa.array(tokens, type=pa.int64(), mask=tokens == MISSING)


def filter_array(filters: np.ndarray, present: np.ndarray) -> pa.Array:
    """(n, nbytes) uint8 filters as fixed-size binary, null where absent."""
    n, width = filters.shape
    validity = pa.py_buffer(np.packbits(present, bitorder="little").tobytes())
    data = pa.py_buffer(np.ascontiguousarray(filters).tobytes())
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [validity, data],
                                                null_count=int(n - present.sum()))


def list_array(row: np.ndarray, tokens: np.ndarray, n_rows: int) -> pa.Array:
    """Group ``tokens`` by ``row`` (0..n_rows-1) into one list per row, in token order.

    Tokens are sorted within a row by value, so a list's order says nothing about the
    order of the events it encodes.
    """
    key = (row.astype(np.int64) << 32) | ((tokens >> 32) & 0xFFFFFFFF)
    order = np.argsort(key, kind="stable")
    counts = np.bincount(row, minlength=n_rows)
    offsets = np.zeros(n_rows + 1, dtype=np.int64)  # 64-bit: no wrap past 2^31 tokens
    np.cumsum(counts, out=offsets[1:])
    return pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(tokens[order], type=pa.int64()))
