"""Yearly extractions of the warehouse: what every holder delivers as of 31 December of each year.

The world is simulated once, through the last year; each year's extraction is cut from the
last year's records, so a record keeps its id and (but for what changed) its values from one
year to the next, as real extractions do:

- **new patients**: a programme's patient appears from the year they enter it (diagnosis, or
  metastatic diagnosis for ESME); an SNDS beneficiary from the year of their diagnosis;
- **new second ids**: a second SNDS id of one person appears from the day their events move to it;
- **new stays and dispensings**: those discharged (dispensed) by 31 December;
- **deaths**: a death date (and CépiDC cause) appears from the year of death;
- **moves**: SNDS's commune is the one at 31 December (movers move on a day drawn between
  diagnosis and their last day; cohorts keep the commune at diagnosis);
- **identities corrected**: a share ``identity_correction_rate`` of SNDS records carried a wrong
  birth date (year or month off) or a mistyped birth name in the extractions before the year it
  was corrected (drawn among the later years); the last year holds the corrected value.

Clinical variables (stage, treatments) and hard-case flags are those of the last year. Each
extraction's ``changes.parquet`` says, per record, what changed since the previous one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.datasets.corruption import typos
from linkage.datasets.persons import day_number

NEVER = np.iinfo(np.int32).max


@dataclass
class SourceTimeline:
    """Per record of one holder (rows of its patient table, in file order): when it appears, when its
    death becomes known; per event row: its record row and day."""

    entry: np.ndarray          # int32 day the record appears
    death: np.ndarray          # int32 day of death, NEVER when alive at the end
    event_row: list[np.ndarray]  # per events table: the record row of each event
    event_day: list[np.ndarray]  # per events table: the day it is recorded by (discharge, dispensing)


@dataclass
class Timeline:
    programmes: dict[str, SourceTimeline]
    snds: SourceTimeline
    move_day: np.ndarray           # per SNDS row: the day its commune changes, NEVER for none
    commune_before: pa.Array       # per SNDS row: the commune before that move
    correction_year: np.ndarray    # per SNDS row: the year its identity was corrected, 0 for none
    wrong_birth_date: pa.Array     # per SNDS row: the birth date before the correction (null: unchanged)
    wrong_birth_name: pa.Array     # per SNDS row: the birth name before the correction (null: unchanged)


def _days(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Day numbers (int32: tens of millions of events at the Harmonie scale)."""
    days = pc.cast(column, pa.int32()).to_numpy(zero_copy_only=False)
    return np.nan_to_num(days, nan=NEVER).astype(np.int32) if days.dtype.kind == "f" else days.astype(np.int32)


def _rows_of(ids: pa.ChunkedArray, keys: pa.ChunkedArray) -> np.ndarray:
    """Row of each id among ``keys`` (int32), -1 when absent."""
    rows = pc.fill_null(pc.index_in(ids, value_set=keys.combine_chunks()), -1)
    return rows.to_numpy(zero_copy_only=False).astype(np.int32)


def _keep(table: pa.Table, mask: np.ndarray) -> pa.Table:
    """``table`` restricted to ``mask`` (the table itself when it keeps every row: the last year's files)."""
    return table if mask.all() else table.filter(pa.array(mask))


def _wrong_identities(rng: np.random.Generator, beneficiaries: pa.Table, rows: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """For ``rows``: half a birth date a year or a month off, half (those with one) a mistyped birth name."""
    n = beneficiaries.num_rows
    on_name = (rng.random(len(rows)) < 0.5) & pc.is_valid(beneficiaries["birth_name"].take(pa.array(rows))) \
        .to_numpy(zero_copy_only=False)
    name_rows, date_rows = rows[on_name], rows[~on_name]
    names = [None] * n
    for row, value in zip(name_rows, typos(beneficiaries["birth_name"].take(pa.array(name_rows)).to_pylist(), rng)):
        names[row] = value
    dates = [None] * n
    for row, text in zip(date_rows, beneficiaries["birth_date"].take(pa.array(date_rows)).to_pylist()):
        year, month, day = int(text[:4]), int(text[5:7]), text[8:10]
        if rng.random() < 0.5:
            year += int(rng.choice([-1, 1]))
        else:
            month = (month - 1 + int(rng.choice([-1, 1]))) % 12 + 1
        dates[row] = f"{year:04d}-{month:02d}-{day}"
    return pa.array(dates, pa.string()), pa.array(names, pa.string())


def timeline_of(params, world, membership, truth, own: dict, geo) -> Timeline:
    """The per-record dates the yearly cuts need, from the last year's tables (see the module docstring)."""
    programmes = {}
    for k, prog in enumerate(params.programmes):
        side = truth.sides[k]
        member_of_row = np.argsort(side.number, kind="stable")  # files are sorted by id, ids by number
        person = truth.members[k][member_of_row]
        patients, stays = side.tables["cohort_patients"], side.tables["cohort_stays"]
        programmes[prog.name] = SourceTimeline(
            entry=membership.entry[k][member_of_row].astype(np.int64),
            death=np.where(world.death[person] >= 0, world.death[person], NEVER).astype(np.int64),
            event_row=[_rows_of(stays["cohort_id"], patients["cohort_id"])],
            event_day=[_days(stays["discharge_date"])])
    snds = truth.snds
    tables = snds.tables
    beneficiaries = tables["snds_beneficiaries"]
    record_of_row = pc.sort_indices(snds.ids).to_numpy()
    person = snds.record_person[record_of_row]
    n_first = world.n_snds_people
    split = np.full(len(snds.ids), -1, dtype=np.int64)
    split[snds.duplicate_records] = snds.split_day
    entry = np.where(record_of_row < n_first, world.diagnosis[person], split[record_of_row]).astype(np.int64)
    snds_timeline = SourceTimeline(
        entry=entry, death=np.where(world.death[person] >= 0, world.death[person], NEVER).astype(np.int64),
        event_row=[_rows_of(tables[name]["snds_id"], beneficiaries["snds_id"])
                   for name in ("snds_stays", "snds_dispensings")],
        event_day=[_days(tables["snds_stays"]["discharge_date"]), _days(tables["snds_dispensings"]["dispensing_date"])])

    # moves: a day between diagnosis and the last day, for the people whose commune changed
    rng = own["moves"]
    moved = world.commune_at_diagnosis != world.commune_now
    span = np.maximum(world.last_day - world.diagnosis, 0)
    day = world.diagnosis + (rng.random(world.n) * (span + 1)).astype(np.int64)
    person_move = np.where(moved, day, NEVER)
    first, last = params.years
    rng = own["corrections"]
    n = beneficiaries.num_rows
    year = np.zeros(n, dtype=np.int64)
    if last > first and params.identity_correction_rate > 0:
        rows = np.flatnonzero(rng.random(n) < params.identity_correction_rate)
        year[rows] = rng.integers(first + 1, last + 1, size=len(rows))
        wrong_dates, wrong_names = _wrong_identities(rng, beneficiaries, rows)
    else:
        wrong_dates = wrong_names = pa.nulls(n, pa.string())
    return Timeline(programmes, snds_timeline, person_move[person].astype(np.int64),
                    pa.array(geo.commune_codes[world.commune_at_diagnosis[person]], pa.string()), year,
                    wrong_dates, wrong_names)


def _valid(column) -> np.ndarray:
    return pc.is_valid(column).to_numpy(zero_copy_only=False)


def _null_after(column: pa.ChunkedArray, day: np.ndarray, end: int) -> pa.Array:
    return pc.if_else(pa.array(day <= end), column, pa.scalar(None, column.type))


def _changes(source: str, ids: pa.Array, t: SourceTimeline, present: np.ndarray, end: int, previous: int,
             death_known: np.ndarray, moved: np.ndarray | None = None, corrected: np.ndarray | None = None) -> pa.Table:
    """Per record of this extraction: what is new since ``previous`` (31 December of the year before);
    ``death_known``: the holder records the death (some never learn of it)."""
    added = np.zeros(len(t.entry), dtype=bool)
    for rows, days in zip(t.event_row, t.event_day):
        window = (days > previous) & (days <= end) & (rows >= 0)
        added[rows[window]] = True
    zeros = np.zeros(len(t.entry), dtype=bool)
    died = death_known & (t.death > previous) & (t.death <= end)
    columns = {"source": pa.array([source] * int(present.sum()), pa.string()), "local_id": ids,
               "new": t.entry > previous, "events_added": added, "death_added": died,
               "moved": zeros if moved is None else moved,
               "identity_corrected": zeros if corrected is None else corrected}
    return pa.table({name: value if isinstance(value, pa.Array) else pa.array(value[present])
                     for name, value in columns.items()})


def extract(warehouse, year: int) -> dict[str, pa.Table]:
    """The tables of ``year``'s extraction (see the module docstring)."""
    t: Timeline = warehouse.timeline
    last = warehouse.tables
    end = day_number(f"{year}-12-31")
    previous = day_number(f"{year - 1}-12-31") if year > warehouse.years[0] else np.iinfo(np.int64).min
    out, present_ids, changes = {}, {}, []
    for name, st in t.programmes.items():
        patients, stays = last[f"{name}_patients"], last[f"{name}_stays"]
        present = st.entry <= end
        kept = _keep(patients, present)
        kept = kept.set_column(kept.schema.get_field_index("death_date"), "death_date",
                               _null_after(kept["death_date"], st.death[present], end))
        news = pc.min_element_wise(kept["last_news_date"], pa.scalar(end, pa.int32()).cast(pa.date32()))
        kept = kept.set_column(kept.schema.get_field_index("last_news_date"), "last_news_date", news)
        out[f"{name}_patients"] = kept
        rows, days = st.event_row[0], st.event_day[0]
        out[f"{name}_stays"] = _keep(stays, (days <= end) & (rows >= 0) & present[np.maximum(rows, 0)])
        present_ids[name] = kept["cohort_id"]
        changes.append(_changes(name, kept["cohort_id"].combine_chunks(), st, present, end, previous,
                                _valid(patients["death_date"])))

    st = t.snds
    beneficiaries = last["snds_beneficiaries"]
    present = st.entry <= end
    columns = {}
    columns["death_date"] = _null_after(beneficiaries["death_date"], st.death, end)
    columns["death_cause"] = _null_after(beneficiaries["death_cause"], st.death, end)
    not_yet_moved = (t.move_day > end) & _valid(beneficiaries["commune_code"])
    columns["commune_code"] = pc.if_else(pa.array(not_yet_moved), t.commune_before, beneficiaries["commune_code"])
    wrong = t.correction_year > year
    for column, values in (("birth_date", t.wrong_birth_date), ("birth_name", t.wrong_birth_name)):
        replace = wrong & _valid(values)
        columns[column] = pc.if_else(pa.array(replace), values, beneficiaries[column])
    for column, values in columns.items():
        beneficiaries = beneficiaries.set_column(beneficiaries.schema.get_field_index(column), column, values)
    kept = _keep(beneficiaries, present)
    out["snds_beneficiaries"] = kept
    for name, rows, days in zip(("snds_stays", "snds_dispensings"), st.event_row, st.event_day):
        out[name] = _keep(last[name], (days <= end) & (rows >= 0) & present[np.maximum(rows, 0)])
    present_ids["snds"] = kept["snds_id"]
    moved = (t.move_day > previous) & (t.move_day <= end) & _valid(last["snds_beneficiaries"]["commune_code"])
    changes.append(_changes("snds", kept["snds_id"].combine_chunks(), st, present, end, previous,
                            _valid(last["snds_beneficiaries"]["death_date"]), moved=moved,
                            corrected=t.correction_year == year))

    def only_present(table: pa.Table, column: str, source: str) -> pa.Table:
        return _keep(table, pc.is_in(table[column], value_set=present_ids[source].combine_chunks())
                     .to_numpy(zero_copy_only=False))

    for name in t.programmes:
        out[f"truth_{name}"] = only_present(last[f"truth_{name}"], "cohort_id", name)
        out[f"hard_cases_{name}"] = only_present(last[f"hard_cases_{name}"], "cohort_id", name)
    truth = last["record_truth"]
    keep = np.zeros(truth.num_rows, dtype=bool)
    for source, ids in present_ids.items():
        keep |= pc.and_(pc.equal(truth["source"], source),
                        pc.is_in(truth["local_id"], value_set=ids.combine_chunks())).to_numpy(zero_copy_only=False)
    out["record_truth"] = _keep(truth, keep)
    out["snds_duplicates"] = only_present(last["snds_duplicates"], "snds_id", "snds")
    if len(warehouse.years) > 1:
        out["changes"] = pa.concat_tables(changes)
    out["finess_entities"] = warehouse.shared["finess_entities"]
    return out
