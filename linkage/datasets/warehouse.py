"""``make_warehouse``: several cohort programmes and SNDS, extracted year after year, with truth.

The single-cohort simulator (:func:`linkage.datasets.make_population`) draws one world and
one cohort. The warehouse draws one world through the last extraction year and lets each
programme of :mod:`linkage.datasets.cohorts` recruit in it, then writes what every holder
would deliver each year (:mod:`linkage.datasets.yearly`). It reuses the single simulator's
stages on a view of the world per programme, so a programme's records are made exactly as
a cohort's are (same corruption model, its own rates, streams and id prefix); the
single-cohort output for a seed is untouched.

Steps:

1. draw ``n_snds_people`` + the programmes' cohort-only patients, all alike;
2. each programme selects its patients (:func:`linkage.datasets.cohorts.select_members`); the
   cohort-only ones are moved to the end of the numbering (absent from SNDS), and as many
   non-members dropped, so that SNDS holds ``n_snds`` ids as asked;
3. identities and care for everyone (the union of the programmes is "the cohort" for the
   care model: patients of the centres), then second centres for patients referred elsewhere;
4. each programme's records, SNDS's records, and the truth: per programme (cohort_id, snds_id)
   and its hard cases, and ``record_truth`` (source, local id, person) for the clustering.

Sizes (``n_patients`` per programme, ``n_snds``) are those of the last extraction.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harmonie import __version__
from harmonie.errors import InvalidParameter
from harmonie.io import ensure_output_dir, write_parquet, write_text
from harmonie.progress import stage
from linkage.datasets import reference as ref
from linkage.datasets.clinical import DEATH_CAUSES
from linkage.datasets.cohorts import CohortProgramme, Membership, assign_second_centres, metastasis_days, \
    overlaps, select_members
from linkage.datasets.geography import Geography, finess_entities, france
from linkage.datasets.params import PopulationParams, preset_name
from linkage.datasets.persons import day_number
from linkage.datasets.population import (
    CohortSide, SndsSide, World, _clinical_truth, _cohort_side, _cohort_truth, _corruption_table, _draw_care,
    _draw_identities, _draw_people, _mask, _snds_side, named_streams, snds_duplicates_table,
)
from linkage.datasets.records import CorruptionLog

if TYPE_CHECKING:
    from linkage.datasets.yearly import Timeline

FORMAT_VERSION = "1"
WAREHOUSE_TAG = 19  # mixed into the seed of the warehouse's own streams (issue #19)
_OWN_STREAMS = ("selection", "second_centres", "moves", "corrections", "drop")
_PROGRAMME_STREAMS = ("cohort_records", "ids", "centres", "deaths", "stay_shifts")


@dataclass(frozen=True)
class WarehouseParams:
    """The programmes, the world and SNDS's knobs, and the extraction years."""

    programmes: tuple[CohortProgramme, ...]
    population: PopulationParams       # n_snds, world knobs, SNDS corruption, base cohort corruption
    years: tuple[int, int]             # first and last extraction; the world runs to the last
    identity_correction_rate: float = 0.01  # share of SNDS records whose identity is corrected in a later year

    def validate(self) -> "WarehouseParams":
        if not self.programmes:
            raise InvalidParameter("give at least one cohort programme (--cohorts NAME:SIZE,...)")
        names = [p.name for p in self.programmes]
        prefixes = [p.id_prefix for p in self.programmes]
        if len(set(names)) != len(names) or len(set(prefixes)) != len(prefixes):
            raise InvalidParameter("cohort programmes need distinct names and id prefixes")
        for programme in self.programmes:
            programme.validate()
        if not 0.0 <= self.identity_correction_rate <= 1.0:
            raise InvalidParameter("identity_correction_rate must be between 0 and 1")
        if self.years[0] < self.population.first_diagnosis_year:
            raise InvalidParameter("the first extraction year is before the first diagnosis year")
        self.population.validate()
        return self


@dataclass
class Truth:
    """Per programme, its members (person indices) in cohort row order and its side; SNDS's side."""

    members: list[np.ndarray]
    sides: list[CohortSide]
    snds: SndsSide


@dataclass
class Warehouse:
    """The simulated warehouse: the last year's tables, and what the yearly extractions are cut from."""

    params: WarehouseParams
    seed: int
    tables: dict[str, pa.Table]          # the last year's extraction, truth included
    shared: dict[str, pa.Table]          # clinical_truth, corruptions, finess_entities
    timeline: "Timeline"                 # what the yearly extractions are cut by
    overlaps: dict
    corruption_rates: pd.DataFrame
    written: dict | None = None          # population.json of the last write()

    @property
    def sources(self) -> list[str]:
        return [p.name for p in self.params.programmes] + ["snds"]

    @property
    def years(self) -> list[int]:
        return list(range(self.params.years[0], self.params.years[1] + 1))

    def extraction(self, year: int) -> dict[str, pa.Table]:
        """What every holder delivers for ``year`` (their records as of 31 December), with its truth."""
        from linkage.datasets.yearly import extract

        if year not in self.years:
            raise InvalidParameter(f"no extraction for {year} (years {self.years[0]}-{self.years[-1]})")
        return extract(self, year)

    def metadata(self, rows: dict) -> dict:
        p = self.params
        return {
            "format_version": FORMAT_VERSION,
            "generator": f"harmonie {__version__} linkage.datasets.make_warehouse",
            "seed": self.seed, "preset": preset_name(p.population),
            "programmes": [dataclasses.asdict(programme) for programme in p.programmes],
            "years": self.years, "identity_correction_rate": p.identity_correction_rate,
            "params": dataclasses.asdict(p.population),
            "overlaps": self.overlaps, "rows": rows,
            "corruption_rates": self.corruption_rates.to_dict(orient="records"),
        }

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """One extraction: its tables in ``OUT``; several: one folder per year (``OUT/2025/``...), each a
        whole population (records, truth, ``changes.parquet``, the FINESS map); then the shared tables
        and ``population.json`` (sizes and overlaps per year) in ``OUT``."""
        out = ensure_output_dir(out_dir)
        paths, rows = {}, {}
        for year in self.years:
            folder = out if len(self.years) == 1 else ensure_output_dir(out / str(year))
            tables = self.extraction(year)
            with stage(f"write {year}: {len(tables)} tables"):
                for name, table in tables.items():
                    paths[f"{year}/{name}"] = write_parquet(table, folder / f"{name}.parquet",
                                                            metadata={"harmonie.format_version": FORMAT_VERSION,
                                                                      "harmonie.seed": str(self.seed),
                                                                      "harmonie.year": str(year)})
            rows[str(year)] = {name: table.num_rows for name, table in tables.items()}
            del tables
        for name, table in self.shared.items():
            paths[name] = write_parquet(table, out / f"{name}.parquet")
        self.written = self.metadata(rows)
        paths["population"] = write_text(json.dumps(self.written, indent=2, ensure_ascii=False) + "\n",
                                         out / "population.json")
        return paths


# --- the world, recruited by several programmes -------------------------------------------------

def _reindex(w: World, order: np.ndarray) -> World:
    """The world restricted to the people ``order`` lists, renumbered in that order."""
    inverse = np.full(w.n, -1, dtype=np.int64)
    inverse[order] = np.arange(len(order))
    changes = {}
    for f in dataclasses.fields(w):
        value = getattr(w, f.name)
        if f.name not in ("cohort_people", "twins") and isinstance(value, np.ndarray) and value.ndim == 1 \
                and len(value) == w.n:
            changes[f.name] = value[order]
    changes["treatments"] = {name: flags[order] for name, flags in w.treatments.items()}
    changes["twins"] = inverse[w.twins]
    return dataclasses.replace(w, **changes)


def _renumber(membership: Membership, order: np.ndarray, n: int) -> Membership:
    inverse = np.full(n, -1, dtype=np.int64)
    inverse[order] = np.arange(len(order))
    members, entries = [], []
    for chosen, entry in zip(membership.members, membership.entry):
        new = inverse[chosen]
        sort = np.argsort(new, kind="stable")
        members.append(new[sort])
        entries.append(entry[sort])
    return Membership(members, entries, membership.cohort_only[order], membership.metastasis[order])


def _recruit(p: PopulationParams, programmes: tuple[CohortProgramme, ...], streams: dict, own: dict,
             geo: Geography) -> tuple[World, Membership]:
    """Steps 1-2 of the module docstring: the world, renumbered with cohort-only patients last."""
    n_snds_people = p.n_snds - int(round(p.n_snds * p.snds_duplicate_rate))
    n_only = sum(int(round(prog.n_patients * prog.cohort_only_rate)) for prog in programmes)
    world = _draw_people(p, streams, geo, n_snds_people + n_only, 0, 0)
    cancer_cause = np.array([DEATH_CAUSES.index(ref.CANCER_DEATH_ICD10[c]) for c in ref.CANCERS])
    died_of_cancer = (world.death >= 0) & (world.death_cause == cancer_cause[world.cancer])
    metastasis = metastasis_days(own["selection"], world.cancer, world.stage, world.diagnosis, world.death,
                                 died_of_cancer)
    end_day = day_number(f"{p.last_diagnosis_year}-12-31")
    twins = _mask(world.n, world.twins.ravel())
    membership = select_members(own["selection"], programmes, cancer=world.cancer, stage=world.stage, sex=world.sex,
                                diagnosis=world.diagnosis, metastasis=metastasis, end_day=end_day, in_snds=twins)
    # SNDS holds everyone but the cohort-only patients: drop as many non-members as were not needed
    surplus = n_only - int(membership.cohort_only.sum())
    member = _mask(world.n, membership.union())
    droppable = np.flatnonzero(~member & ~twins)
    dropped = _mask(world.n, own["drop"].choice(droppable, size=surplus, replace=False))
    order = np.concatenate([np.flatnonzero(~membership.cohort_only & ~dropped), np.flatnonzero(membership.cohort_only)])
    membership = _renumber(membership, order, world.n)
    world = _reindex(world, order)
    world.n_snds_people = n_snds_people
    world.cohort_people = membership.union()
    return world, membership


def _refer_to_second_centres(w: World, membership: Membership, geo: Geography) -> int:
    """Stays at a patient's first centre (or its sister sites) from their switch day on take place at
    their second centre instead; returns how many stays moved."""
    s = w.stays
    site_centre = np.full(len(geo.hospital_finess), -1, dtype=np.int64)
    site_centre[geo.centre_hospital] = np.arange(geo.n_centres)
    site_centre[geo.centre_sister_hospital] = np.repeat(np.arange(geo.n_centres), np.diff(geo.centre_site_start))
    switch = membership.switch_day[s.person]
    rows = np.flatnonzero((switch >= 0) & (s.admission >= switch) & (site_centre[s.hospital] == w.centre[s.person])
                          & (w.centre[s.person] >= 0))
    s.hospital[rows] = geo.centre_hospital[membership.second_centre[s.person[rows]]]
    return len(rows)


def _programme_view(w: World, membership: Membership, k: int) -> World:
    """The world as programme ``k`` sees it: its members as "the cohort", each at the centre whose
    records it holds."""
    members = membership.members[k]
    centre = w.centre.copy()
    centre[members] = membership.programme_centre[k]
    lender = None
    if w.nir_lender is not None:
        lender = w.nir_lender[np.searchsorted(w.cohort_people, members)]
    return dataclasses.replace(w, cohort_people=members, centre=centre, nir_lender=lender)


def _programme_params(p: PopulationParams, programme: CohortProgramme) -> PopulationParams:
    return dataclasses.replace(p, cohort=programme.corruption(p.cohort),
                               cohort_birth_name_recorded=programme.birth_name_recorded,
                               centres_without_death_dates=max(p.centres_without_death_dates,
                                                               programme.centres_without_death_dates))


def _record_truth(names: list[str], truth: Truth) -> pa.Table:
    """(source, local_id, person): every record of every holder, and the person it is."""
    parts = []
    for name, members, side in zip(names, truth.members, truth.sides):
        parts.append(pa.table({"source": pa.array([name] * len(members), pa.string()), "local_id": side.ids,
                               "person": pa.array(members, pa.int64())}))
    parts.append(pa.table({"source": pa.array(["snds"] * len(truth.snds.ids), pa.string()), "local_id": truth.snds.ids,
                           "person": pa.array(truth.snds.record_person, pa.int64())}))
    table = pa.concat_tables(parts)
    return table.take(pc.sort_indices(table, sort_keys=[("source", "ascending"), ("local_id", "ascending")]))


def make_warehouse(programmes: tuple[CohortProgramme, ...], n_snds: int | None = None, *, seed: int = 0,
                   params: PopulationParams | None = None, years: tuple[int, int] | None = None,
                   identity_correction_rate: float = 0.01) -> Warehouse:
    """Simulate several cohort programmes and SNDS, extracted every year of ``years`` (default: one
    extraction, at ``params.last_diagnosis_year``).

    ``programmes``: e.g. :func:`linkage.datasets.cohorts.parse_cohorts` ``("canto:12000,esme:150000")``;
    ``n_snds`` and the programmes' sizes are those of the last extraction; ``params`` holds the world's
    knobs, SNDS's corruption and the base cohort corruption each programme's habits change. Same seed,
    same arguments: identical tables.
    """
    p = params or PopulationParams()
    last = years[1] if years else p.last_diagnosis_year
    p = dataclasses.replace(p, n_snds=p.n_snds if n_snds is None else int(n_snds), last_diagnosis_year=last,
                            n_cohort=sum(prog.n_patients for prog in programmes))
    wp = WarehouseParams(tuple(programmes), p, years or (last, last), identity_correction_rate).validate()
    streams = named_streams(seed)
    own = named_streams([seed, WAREHOUSE_TAG], _OWN_STREAMS)
    geo = france()
    names = [prog.name for prog in programmes]

    with stage(f"people and {len(programmes)} programmes' recruitment"):
        world, membership = _recruit(p, wp.programmes, streams, own, geo)
    with stage("identities and NIRs"):
        _draw_identities(world, p, streams, geo)
    with stage("care pathways (stays, dispensings), second centres"):
        _draw_care(world, p, streams, geo)
        assign_second_centres(own["second_centres"], membership, wp.programmes, world.centre, geo.dept_centre_cum,
                              world.dept)
        _refer_to_second_centres(world, membership, geo)
    logs, sides, views = [], [], []
    for k, prog in enumerate(wp.programmes):
        with stage(f"{prog.name} records ({prog.n_patients:,} patients)"):
            log = CorruptionLog()
            view = _programme_view(world, membership, k)
            sides.append(_cohort_side(view, _programme_params(p, prog), named_streams([seed, WAREHOUSE_TAG, k],
                                      _PROGRAMME_STREAMS), geo, log, prog.id_prefix))
            logs.append(log)
            views.append(view)
    from linkage.datasets.yearly import timeline_of

    with stage(f"SNDS records ({p.n_snds:,} beneficiary ids)"):
        snds_log = CorruptionLog()
        wanted = np.unique(np.concatenate([side.stay_source for side in sides]))
        snds = _snds_side(world, p, streams, geo, snds_log, wanted, release_events=True)
    with stage("truth and hard cases"):
        tables = {}
        for prog, view, side, log in zip(wp.programmes, views, sides, logs):
            mine = snds.cohort_stay_offset[np.searchsorted(wanted, np.sort(side.stay_source))]
            n_in = int((view.cohort_people < world.n_snds_people).sum())
            truth = _cohort_truth(view, n_in, dataclasses.replace(snds, cohort_stay_offset=mine), side, log, geo)
            tables[f"{prog.name}_patients"] = side.tables["cohort_patients"]
            tables[f"{prog.name}_stays"] = side.tables["cohort_stays"]
            tables[f"truth_{prog.name}"] = truth["truth"]
            tables[f"hard_cases_{prog.name}"] = truth["hard_cases"]
        tables.update(snds.tables)
        truth = Truth(membership.members, sides, snds)
        tables["record_truth"] = _record_truth(names, truth)
        tables["snds_duplicates"] = snds_duplicates_table(snds)
        corruptions = [_corruption_table(snds_log, {"snds": snds.ids})]
        for prog, side, log in zip(wp.programmes, sides, logs):
            table = _corruption_table(log, {"cohort": side.ids})
            corruptions.append(table.set_column(0, "side", pa.array([prog.name] * table.num_rows, pa.string())))
        shared = {"clinical_truth": _clinical_truth(world, snds, {f"{n}_id": (m, s.ids) for n, m, s in
                                                                  zip(names, membership.members, sides)}),
                  "corruptions": pa.concat_tables(corruptions), "finess_entities": finess_entities(geo)}
        rates = [dict(r, side=prog.name if r["side"] == "cohort" else r["side"])
                 for prog, log in zip(wp.programmes, logs) for r in log.rates] + snds_log.rates
        timeline = timeline_of(wp, world, membership, truth, own, geo)
    return Warehouse(wp, seed, tables, shared, timeline, overlaps(membership, names), pd.DataFrame(rates))


def warehouse_summary(metadata: dict) -> str:
    """The sizes per year and the overlaps of a written warehouse (its population.json), as text."""
    o = metadata["overlaps"]
    names = [p["name"] for p in metadata["programmes"]]
    lines = [f"{'year':<6s}" + "".join(f"{n:>11s}" for n in names) + f"{'snds ids':>12s}{'2nd ids':>9s}"
             + f"{'snds stays':>13s}"]
    for year, rows in metadata["rows"].items():
        lines.append(f"{year:<6s}" + "".join(f"{rows[f'{n}_patients']:>11,}" for n in names)
                     + f"{rows['snds_beneficiaries']:>12,}{rows['snds_duplicates']:>9,}{rows['snds_stays']:>13,}")
    lines.append(f"overlap (last year): {o['distinct_persons']:,} distinct patients, {o['in_two_or_more']:,} in two "
                 f"programmes or more ({o['in_every_programme']:,} in all); "
                 + ", ".join(f"{pair} {count:,}" for pair, count in o["pairs"].items()))
    lines.append(f"records from two centres: {o['records_from_two_centres']:,}; cohort-only patients (not in "
                 f"SNDS): {o['cohort_only_persons']:,}")
    return "\n".join(lines)
