"""Hostile holder tables (patients, stays) and the shared reader: wrong types, broken text, corrupted pages,
headerless files. Each ends in a one-line error naming the file and the column, or in rejects; no value of
the file is ever echoed."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile.hostile_helpers import MARKER, one_line_error, replace_column, run
from harmonie.errors import HarmonieError
from harmonie.io import DATE, NUMBER, TEXT, read_table

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _hostile(kind: str, n: int) -> pa.Array:
    if kind == "struct":
        return pa.array([{"name": MARKER}] * n, pa.struct([("name", pa.string())]))
    if kind == "list":
        return pa.array([[MARKER]] * n, pa.list_(pa.string()))
    if kind == "map":
        return pa.array([[("k", MARKER)]] * n, pa.map_(pa.string(), pa.string()))
    if kind == "bytes":  # raw bytes that are not UTF-8
        return pa.array([b"\xff\xfe" + MARKER.encode()] * n, pa.binary())
    if kind == "bad utf-8":  # a text column whose bytes are not UTF-8 (a corrupted page)
        return pa.array([b"\xff\xfe" + MARKER.encode()] * n, pa.binary()).view(pa.string())
    if kind == "float":
        return pa.array([1.5] * n, pa.float64())
    raise AssertionError(kind)


@pytest.mark.parametrize("column, kind", [
    ("birth_date", "struct"), ("sex", "list"), ("commune_code", "map"), ("cohort_id", "struct"),
    ("sex", "bytes"), ("commune_code", "bad utf-8"), ("birth_date", "float"),
])
def test_wrong_typed_patient_column_is_one_line_naming_file_and_column(world, scratch, column, kind):
    patients = replace_column(world.patients, column, _hostile(kind, pq.read_metadata(world.patients).num_rows),
                              scratch / "patients.parquet")
    message = one_line_error(run(*world.encode_args(patients, tag="t"), "--holder", "cohort"),
                             str(patients), repr(column))
    assert "store it as" in message or "UTF-8" in message  # the fix
    assert not (world.root / "t.encoded.parquet").exists()


@pytest.mark.parametrize("column, kind", [("finess", "struct"), ("admission_date", "list"), ("snds_id", "map")])
def test_wrong_typed_stays_column_is_one_line(world, scratch, column, kind):
    stays_file = world.pop / "snds_stays.parquet"
    stays = replace_column(stays_file, column, _hostile(kind, pq.read_metadata(stays_file).num_rows),
                           scratch / "stays.parquet")
    args = ["encode", "--spec", world.spec, "--key", world.key, "--in", world.pop / "snds_beneficiaries.parquet",
            "--stays", stays, "--out", scratch / "e.parquet", "--crosswalk", scratch / "cw.parquet"]
    one_line_error(run(*args), str(stays), repr(column))


def test_text_stored_as_utf8_bytes_is_read_as_text(world, scratch):
    table = pq.read_table(world.patients)
    sex = pa.array([None if v is None else v.encode() for v in table["sex"].to_pylist()], pa.binary())
    patients = replace_column(world.patients, "sex", sex, scratch / "patients.parquet")
    assert read_table(patients, columns=["sex"], kinds={"sex": TEXT})["sex"].to_pylist() == table["sex"].to_pylist()


def test_a_would_be_identifier_in_a_wrong_typed_column_is_never_echoed(world, scratch, tmp_path):
    """Item 2: the value is described by position and kind, in the message and in the audit trail."""
    log = tmp_path / "audit.jsonl"
    table = pq.read_table(world.patients)
    for column, array in (("commune_code", pa.array([MARKER.encode() + b"\xff"] * table.num_rows).view(pa.string())),
                          ("birth_date", pa.array([{"v": MARKER}] * table.num_rows)),
                          ("stage", pa.array([MARKER] * table.num_rows))):
        patients = replace_column(world.patients, column, array, scratch / f"{column}.parquet")
        result = run(*world.encode_args(patients, tag="leak"), "--holder", "cohort", log=log)
        if column == "stage":  # not a column the spec reads: ignored, and still never echoed
            assert result.exit_code == 0, result.output
        else:
            one_line_error(result, repr(column))
        assert MARKER not in result.output and "DUPONT" not in result.output
    audit = log.read_text(encoding="utf-8")
    assert MARKER not in audit and "DUPONT" not in audit and "1 56 03" not in audit


def test_headerless_csv_first_row_is_never_echoed_nor_logged(world, scratch, tmp_path):
    """A CSV exported without its header: the first data row is not printed as "column names"."""
    log = tmp_path / "audit.jsonl"
    rows = pq.read_table(world.patients).to_pandas().head(20)
    rows.iloc[0, rows.columns.get_loc("birth_name")] = "DUPONT"
    rows.iloc[0, rows.columns.get_loc("first_names")] = "JEAN"
    rows.iloc[0, rows.columns.get_loc("nir")] = "1560375123456"
    csv = scratch / "headerless.csv"
    rows.to_csv(csv, sep=";", index=False, header=False)
    for extra in ((), ("--holder", "cohort")):
        result = run(*world.encode_args(csv, tag="h"), *extra, log=log)
        message = one_line_error(result, forbidden=("DUPONT", "JEAN", "1560375123456"))
        if extra:
            assert "header" in message and str(csv) in message
    audit = log.read_text(encoding="utf-8")
    assert "DUPONT" not in audit and "1560375123456" not in audit


@FAST
@given(flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), min_size=1, max_size=4))
def test_corrupted_parquet_pages_read_cleanly_or_fail_with_one_line(world, flips):
    """Random byte flips anywhere in a real holder file (pages, dictionary, footer): a table that validates
    and converts to Python, or one HarmonieError line. (The red team's UnicodeDecodeError and
    OverflowError came from such pages.)"""
    data = bytearray(world.patients.read_bytes())
    for where, xor in flips:
        data[4 + int(where * (len(data) - 9))] ^= xor
    path = world.root / f"corrupt-{abs(hash(bytes(data))) % 10**9}.parquet"
    path.write_bytes(bytes(data))
    try:
        table = read_table(path, kinds={"birth_date": DATE, "death_date": DATE, "sex": TEXT})
    except HarmonieError as exc:
        assert "\n" not in str(exc) and MARKER not in str(exc)
    else:
        table.to_pylist()  # every value converts: no UnicodeDecodeError, no OverflowError
        table.to_pandas()
    finally:
        path.unlink()


def test_a_corrupted_patients_file_through_encode_is_one_line(world, scratch):
    good = world.patients.read_bytes()
    rng = np.random.default_rng(18)
    for attempt in range(6):
        data = bytearray(good)
        for position in rng.integers(4, len(good) - 200, size=3):
            data[int(position)] ^= int(rng.integers(1, 256))
        path = scratch / f"corrupt{attempt}.parquet"
        path.write_bytes(bytes(data))
        result = run(*world.encode_args(path, tag="c"), "--holder", "cohort")
        assert "Traceback" not in result.output and isinstance(result.exception, (SystemExit, type(None)))
        assert result.exit_code in (0, 2), result.output


ARROW_TYPES = st.sampled_from([
    pa.string(), pa.large_string(), pa.binary(), pa.int8(), pa.int64(), pa.float32(), pa.bool_(), pa.date32(),
    pa.timestamp("us"), pa.time32("s"), pa.duration("s"), pa.list_(pa.int64()), pa.struct([("a", pa.int32())]),
    pa.map_(pa.string(), pa.int8()), pa.decimal128(10, 2), pa.null(), pa.dictionary(pa.int32(), pa.string()),
])


@FAST
@given(arrow_type=ARROW_TYPES, kind=st.sampled_from([TEXT, DATE, NUMBER, "id", "boolean", "scalar"]),
       seed=st.integers(0, 2**16))
def test_any_column_type_under_any_kind_reads_or_fails_with_one_line(tmp_path, arrow_type, kind, seed):
    rng = np.random.default_rng(seed)
    raw = rng.integers(-2**31, 2**31, size=5)
    try:
        if pa.types.is_dictionary(arrow_type):
            column = pa.array([str(v) for v in raw]).dictionary_encode()
        elif pa.types.is_null(arrow_type):
            column = pa.nulls(5)
        elif pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_binary(arrow_type):
            column = pa.array([bytes(rng.integers(0, 256, size=6, dtype=np.uint8)) for _ in raw], pa.binary())
            column = column if pa.types.is_binary(arrow_type) else column.view(arrow_type)
        elif pa.types.is_date32(arrow_type):
            column = pa.array(raw.astype(np.int32)).view(pa.date32())
        elif pa.types.is_timestamp(arrow_type):
            column = pa.array(raw * 10**12).view(arrow_type)
        else:
            column = pa.array([None] * 5, arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return
    path = tmp_path / f"t{seed}.parquet"
    pq.write_table(pa.table({"c": column}), path)
    try:
        table = read_table(path, kinds={"c": kind})
    except HarmonieError as exc:
        assert "\n" not in str(exc) and "'c'" in str(exc)
    else:
        table.to_pylist()
        table.to_pandas()


def test_csv_numbers_are_checked_with_their_row(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text(f"id;quantity\n1;3\n2;{MARKER}\n")
    with pytest.raises(HarmonieError) as err:
        read_table(path, kinds={"quantity": NUMBER})
    assert "'quantity', data row 2" in str(err.value) and MARKER not in str(err.value)
    assert read_table(tmp_path / "n.csv", columns=["id"])["id"].to_pylist() == ["1", "2"]


def test_column_names_are_shown_only_when_they_look_like_names(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"cohort_id": ["a"], "12/03/1956": ["b"], MARKER: ["c"], "x" * 300: ["d"]}), path)
    with pytest.raises(HarmonieError) as err:
        read_table(path, columns=["cohort_id", "birth_date"])
    assert "birth_date" in str(err.value) and "cohort_id" in str(err.value)
    assert "1956" not in str(err.value) and MARKER not in str(err.value) and "x" * 100 not in str(err.value)
    weird = tmp_path / "w.parquet"
    pq.write_table(pa.table({"cohort_id": ["a"], MARKER: pa.array([{"a": 1}])}), weird)
    with pytest.raises(HarmonieError, match="#2") as err:
        read_table(weird)
    assert MARKER not in str(err.value) and json.dumps(MARKER) not in str(err.value)
