"""Reading and writing an analytic dataset (real, control or synthetic): one Parquet per table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from harmonie.errors import HarmonieError
from harmonie.io import ensure_output_dir, read_table, write_parquet
from synth.schema import DATE_COLUMNS, TABLES, column_order

Dataset = dict[str, pd.DataFrame]


def to_arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    """The table in schema order with dates as Parquet dates (no time of day)."""
    out = frame[column_order(table)].copy()
    for column in DATE_COLUMNS[table]:
        out[column] = pd.to_datetime(out[column]).dt.date
    return pa.Table.from_pandas(out, preserve_index=False)


def write_dataset(tables: Dataset, out_dir: str | Path, *, metadata: dict[str, str] | None = None) -> Path:
    out = ensure_output_dir(out_dir)
    for name, frame in tables.items():
        write_parquet(to_arrow(name, frame), out / f"{name}.parquet", metadata=metadata)
    return out


def read_dataset(directory: str | Path, tables: tuple[str, ...] = tuple(TABLES)) -> Dataset:
    """Read the tables of an analytic dataset; dates come back as ``datetime64``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise HarmonieError(f"{directory} is not a folder holding an analytic dataset")
    data = {}
    for name in tables:
        path = directory / f"{name}.parquet"
        if not path.exists():
            raise HarmonieError(f"{directory} has no {name}.parquet (expected: {', '.join(tables)})")
        frame = read_table(path, columns=column_order(name)).to_pandas()
        for column in DATE_COLUMNS[name]:
            frame[column] = pd.to_datetime(frame[column])
        data[name] = frame
    return data


def read_provenance(directory: str | Path) -> dict:
    """The ``harmonie.*`` entries of a dataset's patients.parquet metadata (lineage, replica), decoded."""
    import json

    import pyarrow.parquet as pq

    path = Path(directory) / "patients.parquet"
    if not path.exists():
        return {}
    metadata = pq.read_schema(path).metadata or {}
    out = {}
    for key, value in metadata.items():
        if key.startswith(b"harmonie."):
            try:
                out[key.decode()[len("harmonie."):]] = json.loads(value)
            except ValueError:
                out[key.decode()[len("harmonie."):]] = value.decode(errors="replace")
    return out
