"""Dates outside 1880-2100 (9999-12-31 placeholders, 0001-01-01, corrupted date32 pages) are rejects or
quarantine rows in every stage, or a one-line error on a dataset Harmonie wrote itself; never a pandas
overflow."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmonie.errors import HarmonieError
from harmonie.io import DATE, SUPPORTED_DATE, read_table
from hostile.hostile_helpers import MARKER, one_line_error, replace_column, run
from linkage.normalise.dates import MAX_YEAR, MIN_YEAR, parse_date

OUTSIDE = st.dates(max_value=dt.date(MIN_YEAR - 1, 12, 31)) | st.dates(min_value=dt.date(MAX_YEAR + 1, 1, 1))
INSIDE = st.dates(min_value=dt.date(MIN_YEAR, 1, 1), max_value=dt.date(MAX_YEAR, 12, 31))


@settings(max_examples=200, deadline=None)
@given(day=OUTSIDE, form=st.sampled_from(["date", "datetime", "timestamp", "datetime64", "iso", "french", "digits"]))
def test_a_date_outside_1880_2100_never_parses_in_any_form(day, form):
    value = {"date": day, "datetime": dt.datetime(day.year, day.month, day.day),
             "timestamp": None, "datetime64": np.datetime64(day.isoformat()), "iso": day.isoformat(),
             "french": day.strftime("%d/%m/") + f"{day.year:04d}", "digits": f"{day.year:04d}{day:%m%d}"}[form]
    if form == "timestamp":
        try:
            value = pd.Timestamp(day)
        except (OverflowError, ValueError):  # pandas cannot even hold it: nothing to parse
            return
    assert parse_date(value) is None


@settings(max_examples=100, deadline=None)
@given(day=INSIDE)
def test_a_date_inside_the_range_parses_the_same_in_every_form(day):
    expected = (day.year, day.month, day.day)
    for value in (day, np.datetime64(day.isoformat()), day.isoformat(), day.strftime("%d/%m/%Y")):
        assert tuple(parse_date(value)) == expected


def test_date32_values_beyond_python_dates_are_pinned_or_read_as_missing(tmp_path):
    days = pa.array([0, 2_932_896 + 10**6, -10**7, None, 20_000], pa.int32()).view(pa.date32())
    stamps = pa.array([0, 10**18, -10**18, None, 5], pa.int64()).view(pa.timestamp("us"))
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"d": days, "t": stamps}), path)
    plain = read_table(path)
    assert plain["d"].to_pylist() == [dt.date(1970, 1, 1), dt.date(9999, 12, 31), dt.date(1, 1, 1), None,
                                      dt.date(2024, 10, 4)]
    plain.to_pandas()  # no OverflowError
    assert [parse_date(v) is None for v in plain["d"].to_pylist()] == [False, True, True, True, False]
    supported = read_table(path, kinds={"d": SUPPORTED_DATE, "t": SUPPORTED_DATE})
    assert supported["d"].null_count == 3 and supported["t"].null_count == 3
    assert read_table(path, kinds={"d": DATE})["d"].null_count == 1  # left to the parser, which rejects them


@pytest.mark.parametrize("placeholder", [dt.date(9999, 12, 31), dt.date(1, 1, 1)])
def test_encode_counts_out_of_range_dates_as_unusable(world, scratch, placeholder):
    patients_table = pq.read_table(world.patients)
    n = patients_table.num_rows
    patients = replace_column(world.patients, "death_date", pa.array([placeholder] * n, pa.date32()),
                              scratch / "patients.parquet")
    stays_table = pq.read_table(world.stays)
    stays = replace_column(world.stays, "admission_date",
                           pa.array([placeholder] * stays_table.num_rows, pa.date32()), scratch / "stays.parquet")
    result = run(*world.encode_args(patients, stays, tag="d"))
    assert result.exit_code == 0, result.output
    assert f"death_date: unusable {n:,}" in result.output
    assert f"events unusable {stays_table.num_rows:,}" in result.output


def test_analytic_dates_outside_the_range_are_quarantine_reasons():
    from synth.analytic import parse_dates

    values = pd.Series([dt.date(9999, 12, 31), dt.date(1, 1, 1), dt.date(2015, 3, 3), "31/12/9999", None],
                       dtype=object)
    parsed = parse_dates(values)
    assert parsed.isna().tolist() == [True, True, False, True, True]


def _dataset(tmp_path, world_dataset, column, values) -> object:
    folder = tmp_path / "dataset"
    folder.mkdir()
    for name, table in world_dataset.items():
        if name == "patients":
            table = table.set_column(table.column_names.index(column), column, values(table.num_rows))
        pq.write_table(table, folder / f"{name}.parquet")
    return folder


@pytest.fixture(scope="module")
def small_dataset():
    """A tiny analytic dataset written by Harmonie's own writer, as Arrow tables."""
    from synth.dataset import to_arrow
    from synth.schema import DATE_COLUMNS, TABLES

    rng = np.random.default_rng(0)
    tables = {}
    for name, columns in TABLES.items():
        frame = {}
        for column, (sdtype, _) in columns.items():
            frame[column] = {"id": [f"P{i:07d}" for i in range(20)], "categorical": ["a"] * 20,
                             "numerical": rng.integers(0, 9, 20).astype(float), "boolean": [True] * 20,
                             "datetime": pd.to_datetime(["2015-03-03"] * 20)}[sdtype]
        tables[name] = to_arrow(name, pd.DataFrame(frame))
        assert set(DATE_COLUMNS[name]) <= set(tables[name].column_names)
    return tables


@pytest.mark.parametrize("placeholder", [dt.date(9999, 12, 31), dt.date(1, 1, 1), dt.date(1700, 1, 1)])
def test_a_dataset_with_an_out_of_range_date_is_one_line_for_fit_and_risk(tmp_path, small_dataset, placeholder):
    folder = _dataset(tmp_path, small_dataset, "diagnosis_date",
                      lambda n: pa.array([dt.date(2015, 1, 1)] * (n - 1) + [placeholder], pa.date32()))
    from synth.dataset import read_dataset

    with pytest.raises(HarmonieError, match=r"'diagnosis_date', data row 20 .*1880-2100"):
        read_dataset(folder)
    one_line_error(run("synth", "fit", "--data", folder, "--out", tmp_path / "model"), "diagnosis_date", "1880")
    one_line_error(run("risk", "--real", folder, "--synthetic", folder, "--control", folder, "--out",
                       tmp_path / "risk", "--seed", "1"), "diagnosis_date", "1880")


@pytest.mark.parametrize("column, values", [
    ("age_at_diagnosis", lambda n: pa.array([MARKER] * n)),
    ("death", lambda n: pa.array([1.5] * n)),
    ("diagnosis_date", lambda n: pa.array(["2015-03-03"] * n)),
    ("patient_id", lambda n: pa.array([{"a": 1}] * n)),
])
def test_a_dataset_column_of_the_wrong_kind_is_one_line_without_its_values(tmp_path, small_dataset, column, values):
    folder = _dataset(tmp_path, small_dataset, column, values)
    one_line_error(run("risk", "--real", folder, "--synthetic", folder, "--control", folder, "--out",
                       tmp_path / "risk", "--seed", "1"), repr(column), str(folder))
