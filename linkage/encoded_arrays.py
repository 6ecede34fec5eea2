"""The linkage unit's in-memory view of an encoded file: numpy arrays per encoded column.

Token columns become int64 arrays (0 = missing), Bloom-filter columns (n, words) uint64
arrays with their popcounts, token lists (offsets, values) pairs. Built once per file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.kernels import popcounts


@dataclass
class TokenLists:
    offsets: np.ndarray  # int64, n + 1
    values: np.ndarray   # int64

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass
class EncodedRecords:
    ids: pa.Array
    tokens: dict[str, np.ndarray] = field(default_factory=dict)
    filters: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    lists: dict[str, TokenLists] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_table(cls, table: pa.Table) -> "EncodedRecords":
        records = cls(ids=table["linkage_id"].combine_chunks())
        for name in table.column_names:
            if name == "linkage_id":
                continue
            column = table[name].combine_chunks()
            if pa.types.is_int64(column.type):
                records.tokens[name] = pc.fill_null(column, 0).to_numpy(zero_copy_only=False).astype(np.int64)
            elif pa.types.is_fixed_size_binary(column.type):
                width = column.type.byte_width
                data = np.frombuffer(column.buffers()[1], dtype=np.uint8)
                data = data[column.offset * width:(column.offset + len(column)) * width].reshape(len(column), width)
                present = column.is_valid().to_numpy(zero_copy_only=False)
                words = np.ascontiguousarray(np.where(present[:, None], data, 0)).view(np.uint64)
                records.filters[name] = (words, popcounts(words))
            elif pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
                offsets = column.offsets.to_numpy().astype(np.int64)
                values = column.values.to_numpy(zero_copy_only=False).astype(np.int64)
                offsets = offsets - offsets[0]
                records.lists[name] = TokenLists(offsets, values[: offsets[-1]])
        return records
