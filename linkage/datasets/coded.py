"""Dictionary-coded string columns for simulating millions of records without Python loops.

A :class:`CodedStrings` column holds an integer code per row into a list of values
(``-1`` is missing). Columns made from one another share that list, which only ever
grows, so codes stay valid and can be moved between them (swapping given names, filing a
use name as a birth name). Transformations that act on every value the same way (upper
case, accent stripping) run once per distinct value; per-row random edits (typos) touch
only the rows they pick. ``to_arrow`` materialises the strings in Arrow's C++ ``take``.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class CodedStrings:
    """A string column stored as codes into a list of distinct values (``-1`` = missing)."""

    def __init__(self, codes: np.ndarray, values: list[str] | Iterable[str]):
        self.codes = np.asarray(codes, dtype=np.int64).copy()
        self.values: list[str] = values if isinstance(values, list) else list(values)

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, rows: np.ndarray) -> "CodedStrings":
        """A new column holding the given rows, sharing this column's value list."""
        return CodedStrings(self.codes[rows], self.values)

    def get(self, row: int) -> str | None:
        code = self.codes[row]
        return None if code < 0 else self.values[code]

    def set_missing(self, rows: np.ndarray) -> None:
        self.codes[rows] = -1

    def restyle(self, rows: np.ndarray, transform: Callable[[str], str]) -> None:
        """Apply ``transform`` to the given rows' values, computing it once per distinct value."""
        rows = rows[self.codes[rows] >= 0]
        if len(rows) == 0:
            return
        used = np.unique(self.codes[rows])
        offset = len(self.values)
        self.values.extend(transform(self.values[c]) for c in used)
        remap = np.full(offset, -1, dtype=np.int64)
        remap[used] = offset + np.arange(len(used))
        self.codes[rows] = remap[self.codes[rows]]

    def edit(self, rows: np.ndarray, edited: Iterable[str | None]) -> None:
        """Replace the given rows' values one by one (for per-row random edits)."""
        new_codes = np.empty(len(rows), dtype=np.int64)
        for i, value in enumerate(edited):
            if value is None:
                new_codes[i] = -1
            else:
                new_codes[i] = len(self.values)
                self.values.append(value)
        self.codes[rows] = new_codes

    def to_arrow(self) -> pa.Array:
        values = pa.array(self.values, type=pa.string())
        mask = self.codes < 0
        indices = pa.array(np.where(mask, 0, self.codes), mask=mask, type=pa.int64())
        if len(values) == 0:
            return pa.nulls(len(self.codes), type=pa.string())
        return values.take(indices)

    def to_list(self) -> list[str | None]:
        return self.to_arrow().to_pylist()


def zero_padded(values: np.ndarray, width: int) -> pa.Array:
    """Integers as text padded with zeros to ``width`` (7 -> '007'), built by Arrow."""
    return pc.utf8_lpad(pc.cast(pa.array(np.asarray(values).astype(np.int64)), pa.string()), width, "0")
