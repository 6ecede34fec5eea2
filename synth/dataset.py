"""Reading and writing an analytic dataset (real, control or synthetic): one Parquet per table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa

from harmonie.errors import HarmonieError
from harmonie.io import ensure_output_dir, read_table, write_parquet
from harmonie.output_set import check_output_set
from synth.schema import (
    DATE_COLUMNS,
    TABLES,
    check_extra_columns,
    column_order,
    patient_columns,
    with_extra_dtypes,
)

Dataset = dict[str, pd.DataFrame]


def to_arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    """The table in schema order with dates as Parquet dates (no time of day)."""
    out = frame[patient_columns(frame) if table == "patients" else column_order(table)].copy()
    for column in DATE_COLUMNS[table]:
        out[column] = pd.to_datetime(out[column]).dt.date
    return pa.Table.from_pandas(out, preserve_index=False)


def write_dataset(tables: Dataset, out_dir: str | Path, *, metadata: dict[str, str] | None = None) -> Path:
    out = ensure_output_dir(out_dir)
    for name, frame in tables.items():
        write_parquet(to_arrow(name, frame), out / f"{name}.parquet", metadata=metadata)
    return out


_KINDS = {"id": "id", "categorical": "scalar", "numerical": "number", "boolean": "boolean", "datetime": "scalar"}


def _column_kinds(name: str) -> dict[str, str]:
    """What each column of table ``name`` must hold, from its sdtype in :mod:`synth.schema`."""
    return {column: _KINDS.get(sdtype, "scalar") for column, (sdtype, _) in TABLES[name].items()}


def _check_dates(table: pa.Table, path: Path, columns: list[str]) -> None:
    """Date columns are Parquet dates within :data:`harmonie.io.SUPPORTED_YEARS`: pandas holds dates of
    1677-2262 only, and a 9999-12-31 placeholder is not anyone's date. One line naming the file, the
    column and the first bad row, never the value."""
    import pyarrow.compute as pc

    from harmonie.io import SUPPORTED_YEARS

    low, high = (pa.scalar(dt.date(SUPPORTED_YEARS[0], 1, 1)), pa.scalar(dt.date(SUPPORTED_YEARS[1], 12, 31)))
    for column in columns:
        values = table[column]
        if pa.types.is_null(values.type):
            continue
        if not (pa.types.is_date(values.type) or pa.types.is_timestamp(values.type)):
            raise HarmonieError(f"{path}: column {column!r} holds {values.type} values where dates are expected; "
                                "write the dataset with `harmonie synth` (dates as Parquet dates)")
        days = values.cast(pa.date32())
        outside = pc.or_(pc.less(days, low), pc.greater(days, high))
        if pc.any(outside).as_py():
            row = int(pc.index(pc.fill_null(outside, False), True).as_py()) + 1
            count = int(pc.sum(outside).as_py())
            raise HarmonieError(f"{path}: column {column!r}, data row {row} ({count:,} row(s) in all): a date "
                                f"outside {SUPPORTED_YEARS[0]}-{SUPPORTED_YEARS[1]}; rebuild the dataset with "
                                "`harmonie synth analytic`, which quarantines such patients")


def read_dataset(directory: str | Path, tables: tuple[str, ...] = tuple(TABLES)) -> Dataset:
    """Read the tables of an analytic dataset; dates come back as ``datetime64``.

    Checked before use: every column of the schema present and of its kind (numbers, true/false,
    ids, Parquet dates within 1880-2100); a problem is one line naming the file and column."""
    directory = Path(directory)
    if not directory.is_dir():
        raise HarmonieError(f"{directory} is not a folder holding an analytic dataset")
    data = {}
    for name in tables:
        path = directory / f"{name}.parquet"
        if not path.exists():
            raise HarmonieError(f"{directory} has no {name}.parquet (expected: {', '.join(tables)})")
        check_output_set(path)
        columns = column_order(name)
        if name == "patients":  # the extra clinical columns too, checked (synth.schema.check_extra_columns)
            import pyarrow.parquet as pq

            columns += [c for c in pq.read_schema(path).names if c not in TABLES[name]]
        table = read_table(path, columns=columns, what=f"{name} table", kinds={**_column_kinds(name), "*": "scalar"})
        _check_dates(table, path, DATE_COLUMNS[name])
        extras = check_extra_columns(table, str(path)) if name == "patients" else {}
        frame = table.to_pandas()
        for column in DATE_COLUMNS[name]:
            frame[column] = pd.to_datetime(frame[column])
        data[name] = with_extra_dtypes(frame, extras) if extras else frame
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


def differential_privacy_of(provenance: dict) -> dict | None:
    """The DP statement a replica's provenance carries (``synth fit --generator mst|aim``), else ``None``: what the
    utility report shows beside its verdict, wherever it is built (``synth report``, ``release``)."""
    replica = provenance.get("replica")
    dp = replica.get("differential_privacy") if isinstance(replica, dict) else None
    return dp if isinstance(dp, dict) else None
