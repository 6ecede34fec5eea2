"""``make_population``: a French cohort <-> SNDS test population with ground truth.

The generator draws people (cancer, the clinical world of treatments, survival and cause
of death, identity, NIR, residence, care pathways), picks the cohort's patients among them,
and writes what each holder would hold: the cohort's patients and stays, SNDS's
beneficiaries, stays and dispensings (see docs/simulator_clinical_world.md). Both holders' records
are damaged by the corruption model; the truth says which cohort patient is which
beneficiary. Everything is vectorised and deterministic under the seed.

People are numbered ``0 .. n_snds_people-1`` for those in SNDS, then the cohort-only
patients. Record ids are opaque and randomly ordered, so a record's position in a file
says nothing about its match.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harmonie import __version__
from harmonie.errors import InvalidParameter
from harmonie.io import ensure_output_dir, write_parquet, write_text
from harmonie.progress import stage
from linkage.datasets import reference as ref
from linkage.datasets.care import (
    ATC_CODES, DIAGNOSIS_CODES, GHM_CODES, CarePeople, Dispensings, Stays, draw_dispensings, draw_stays,
    plan_treatments, send_to_sister_sites, shift_days, shift_days_far,
)
from linkage.datasets.clinical import DEATH_CAUSES, TREATMENTS, draw_clinical_world, planted_hazard_ratios
from linkage.datasets.coded import CodedStrings, zero_padded
from linkage.datasets.corruption import pick
from linkage.datasets.geography import Geography, finess_entities, france
from linkage.datasets.params import PopulationParams, preset_name
from linkage.datasets.persons import (
    DAYS_PER_YEAR, day_number, draw_birth_places, draw_demographics, draw_identities, draw_residence, nir_strings,
    place_table,
)
from linkage.datasets.records import (
    SEX_CODING_SHARES, SEX_CODINGS, CorruptionLog, _replace_rows, apply_style, commune_column, corrupt_birth_dates,
    corrupt_first_names, corrupt_nirs, corrupt_surname, sex_column,
)

FORMAT_VERSION = "1"
# Streams are spawned by position: new ones go at the end, and the knobs of issue #17 draw
# from their own, only when switched on. "clinical" (the cohort's own treatment draws of
# before) is no longer drawn from; "treatments" draws the clinical world (issue #23).
_STREAMS = ("people", "identity", "nir", "cohort", "care", "snds_records", "cohort_records", "ids", "clinical",
            "centres", "sites", "stay_shifts", "deaths", "borrowed_nir", "treatments")


@dataclass
class Population:
    """The simulated files, as Arrow tables; ``population[name]`` gives a pandas DataFrame."""

    tables: dict[str, pa.Table]
    params: PopulationParams
    seed: int
    corruption_rates: pd.DataFrame
    world: "World | None" = dataclasses.field(default=None, repr=False)  # with make_population(keep_world=True)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name].to_pandas()

    def metadata(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "generator": f"harmonie {__version__} linkage.datasets.make_population",
            "seed": self.seed,
            "preset": preset_name(self.params),
            "params": dataclasses.asdict(self.params),
            "planted_hazard_ratios": planted_hazard_ratios(self.params.clinical),
            "rows": {name: table.num_rows for name, table in self.tables.items()},
            "corruption_rates": self.corruption_rates.to_dict(orient="records"),
        }

    def write(self, out_dir: str | Path, tables: tuple[str, ...] | None = None) -> dict[str, Path]:
        """Write the tables (all by default) as ``OUT/<name>.parquet``, and ``OUT/population.json``."""
        out = ensure_output_dir(out_dir)
        paths = {}
        chosen = {name: table for name, table in self.tables.items() if tables is None or name in tables}
        with stage(f"write {len(chosen)} Parquet files"):
            for name, table in chosen.items():
                paths[name] = write_parquet(table, out / f"{name}.parquet",
                                            metadata={"harmonie.format_version": FORMAT_VERSION,
                                                      "harmonie.seed": str(self.seed)})
        paths["population"] = write_text(json.dumps(self.metadata(), indent=2, ensure_ascii=False) + "\n",
                                         out / "population.json")
        return paths


@dataclass
class World:
    """Everyone simulated, one entry per person (see the module docstring for numbering)."""

    n_snds_people: int
    cancer: np.ndarray
    sex: np.ndarray
    birth: np.ndarray
    diagnosis: np.ndarray
    death: np.ndarray
    last_day: np.ndarray          # death, or the end of follow-up
    stage: np.ndarray
    subtype: np.ndarray
    dept: np.ndarray
    commune_at_diagnosis: np.ndarray
    commune_now: np.ndarray
    cohort_people: np.ndarray     # cohort members present in SNDS first, then cohort-only people
    twins: np.ndarray             # (k, 2) person pairs
    birth_name: CodedStrings | None = None
    use_name: CodedStrings | None = None
    given_names: list[CodedStrings] | None = None
    own_nir: pa.Array | None = None
    account_nir: pa.Array | None = None  # the NIR SNDS files them under (an account holder's for some)
    account_holder: np.ndarray | None = None  # bool: filed under someone else's NIR
    centre: np.ndarray | None = None       # cancer centre index, -1 for none
    nir_lender: np.ndarray | None = None   # per cohort member: the person whose NIR they carry, -1 for none
    stays: Stays | None = None
    dispensings: Dispensings | None = None
    age: np.ndarray | None = None          # years at diagnosis (the one survival and treatments depend on)
    treatments: dict[str, np.ndarray] | None = None  # bool per name of clinical.TREATMENTS
    death_cause: np.ndarray | None = None  # int16 index into clinical.DEATH_CAUSES, -1 when alive

    @property
    def n(self) -> int:
        return len(self.cancer)


# --- helpers -------------------------------------------------------------------------

def _id_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Opaque ids: a prefix and a zero-padded number (ids sort as their numbers do)."""
    return pc.binary_join_element_wise(prefix, zero_padded(numbers, width), "")


def _event_order(number: np.ndarray, record: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Row order that sorts events by their record's id, then by date."""
    key = (number[record].astype(np.int64) << 21) | (day.astype(np.int64) + (1 << 20))
    return np.argsort(key, kind="stable")


def _take(values: pa.Array | np.ndarray, rows: np.ndarray) -> pa.Array:
    """values[rows] materialised by Arrow (compact strings, not numpy fixed-width ones)."""
    if not isinstance(values, pa.Array):
        values = pa.array(values)
    return values.take(pa.array(np.asarray(rows, dtype=np.int64)))


def _coded(values: tuple[str, ...], index: np.ndarray, present: np.ndarray) -> pa.Array:
    """values[index] as strings, null where not ``present``."""
    strings = _take(pa.array(values, pa.string()), np.maximum(index, 0))
    return pc.if_else(pa.array(present, pa.bool_()), strings, pa.scalar(None, pa.string()))


def _date32(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=missing).cast(pa.date32())


def _split_counts(total: int, mix: tuple[float, ...]) -> np.ndarray:
    counts = np.floor(np.asarray(mix) * total).astype(int)
    counts[np.argmax(mix)] += total - counts.sum()
    return counts


def _mask(n: int, rows: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


# --- people ----------------------------------------------------------------------------

def _choose_cohort(rng: np.random.Generator, cancer: np.ndarray, n_snds_people: int, counts: np.ndarray) -> np.ndarray:
    chosen = []
    for k, name in enumerate(ref.CANCERS):
        pool = np.flatnonzero(cancer[:n_snds_people] == k)
        if counts[k] > len(pool):
            raise InvalidParameter(
                f"the cohort needs {counts[k]} {name}-cancer patients present in SNDS but the simulated "
                f"SNDS population holds {len(pool)}: raise --snds or lower the cohort size")
        chosen.append(rng.choice(pool, size=counts[k], replace=False))
    return np.sort(np.concatenate(chosen))


def _pair_twins(rng: np.random.Generator, sex: np.ndarray, birth: np.ndarray, n_pairs: int,
                candidates: np.ndarray) -> np.ndarray:
    """(n_pairs, 2) person indices of same-sex pairs, close in birth date, to be made twins."""
    pairs = []
    for s, share in ((2, 0.6), (1, 0.4)):
        k = int(round(n_pairs * share))
        pool = candidates[sex[candidates] == s]
        if k == 0 or len(pool) < 2 * k:
            continue
        picked = rng.choice(pool, size=2 * k, replace=False)
        picked = picked[np.argsort(birth[picked], kind="stable")]
        pairs.append(picked.reshape(-1, 2))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)


def _assign_nir_orders(rng: np.random.Generator, sex, birth, place, place_digits) -> np.ndarray:
    """Order numbers 1, 2, 3... within each (sex, birth month, birth place), as registered."""
    month = birth.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    group = (sex.astype(np.int64) * 10_000 + month) * 1_000_000 + place_digits[place]
    shuffled = rng.permutation(len(group))
    order = shuffled[np.argsort(group[shuffled], kind="stable")]
    sorted_group = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_group)) + 1]
    rank = np.arange(len(group)) - np.repeat(starts, np.diff(np.r_[starts, len(group)]))
    result = np.empty(len(group), dtype=np.int64)
    result[order] = 1 + rank % 999
    return result


def _draw_people(p: PopulationParams, streams: dict, geo: Geography, n_snds_people: int, n_in: int,
                 n_only: int) -> World:
    rng = streams["people"]
    snds_cancer = rng.choice(3, size=n_snds_people, p=np.asarray(p.snds_cancer_mix))
    only_cancer = np.repeat(np.arange(3), _split_counts(n_only, p.cohort_cancer_mix))
    cancer = np.concatenate([snds_cancer, only_cancer]).astype(np.int8)
    sex, birth, diagnosis, stage_, subtype, age, exposure = draw_demographics(
        rng, cancer, p.first_diagnosis_year, p.last_diagnosis_year)
    end_day = day_number(f"{p.last_diagnosis_year}-12-31")
    # the clinical world: treatments (by cancer, stage, subtype and age), then survival and cause of death
    clinical = draw_clinical_world(streams["treatments"], cancer=cancer, stage=stage_, subtype=subtype, sex=sex,
                                   age=age, diagnosis=diagnosis, exposure=exposure, end_day=end_day,
                                   effects=p.clinical)
    death = clinical.death
    last_day = np.where(death >= 0, death, end_day).astype(np.int32)
    dept, commune_dx, commune_now = draw_residence(rng, geo, diagnosis, last_day, p.move_rate_per_year,
                                                   p.move_far_rate)
    cohort_people = np.concatenate([
        _choose_cohort(streams["cohort"], cancer, n_snds_people, _split_counts(n_in, p.cohort_cancer_mix)),
        np.arange(n_snds_people, len(cancer))])
    # twins: same sex, birth date and birth place, NIRs differing by the order number
    twins = _pair_twins(rng, sex, birth, int(round(n_snds_people * p.twin_rate / 2)), np.arange(n_snds_people))
    birth[twins[:, 1]] = birth[twins[:, 0]]
    return World(n_snds_people, cancer, sex, birth, diagnosis, death, last_day, stage_, subtype, dept,
                 commune_dx, commune_now, cohort_people, twins, age=age.astype(np.float32),
                 treatments=clinical.treatments, death_cause=clinical.death_cause)


def _draw_identities(w: World, p: PopulationParams, streams: dict, geo: Geography) -> None:
    rng = streams["identity"]
    first, second = w.twins[:, 0], w.twins[:, 1]
    w.birth_name, w.use_name, w.given_names = draw_identities(rng, w.sex, w.birth, w.diagnosis, p.married_name_rate,
                                                              p.double_surname_rate, p.name_concentration)
    w.birth_name.codes[second] = w.birth_name.codes[first]
    place_codes, place_digits = place_table(geo)
    place = draw_birth_places(rng, geo, w.dept, p.born_abroad_rate)
    place[second] = place[first]
    rng = streams["nir"]
    order = _assign_nir_orders(rng, w.sex, w.birth, place, place_digits)
    w.own_nir = nir_strings(w.sex, w.birth, place, order, place_codes, place_digits)

    # account holders ("ouvreur de droit"): a spouse of the other sex, or for twins a parent
    holder = rng.random(w.n_snds_people) < p.account_holder_rate
    holder[w.twins.ravel()] = True
    rows = np.flatnonzero(holder)
    h_sex = np.where(w.sex[rows] == 2, 1, 2).astype(np.int8)
    h_birth = w.birth[rows] + np.round(rng.normal(0, 3, len(rows)) * DAYS_PER_YEAR).astype(np.int32)
    h_place = draw_birth_places(rng, geo, w.dept[rows], p.born_abroad_rate)
    h_order = rng.integers(1, 1000, size=len(rows))
    pos = np.searchsorted(rows, w.twins)  # twins share one parent, about 28 years older
    h_birth[pos[:, 0]] = w.birth[first] - int(28 * DAYS_PER_YEAR)
    for column in (h_sex, h_birth, h_place, h_order):
        column[pos[:, 1]] = column[pos[:, 0]]
    holder_nir = nir_strings(h_sex, h_birth, h_place, h_order, place_codes, place_digits)
    w.account_holder = _mask(w.n, rows)
    w.account_nir = pc.replace_with_mask(w.own_nir, pa.array(w.account_holder), holder_nir)
    _lend_nirs(w, p, streams["borrowed_nir"])


def _draw_care(w: World, p: PopulationParams, streams: dict, geo: Geography) -> None:
    rng = streams["care"]
    in_cohort = _mask(w.n, w.cohort_people)
    w.centre = np.full(w.n, -1, dtype=np.int64)
    treated = in_cohort | (rng.random(w.n) < p.non_cohort_treated_at_centre)
    cum = geo.dept_centre_cum[w.dept[treated]]
    w.centre[treated] = np.minimum((rng.random((int(treated.sum()), 1)) > cum).sum(axis=1), geo.n_centres - 1)
    centre_share = np.where(in_cohort, p.cohort_stays_at_centre, 0.5)
    people = CarePeople(w.cancer, w.stage, w.subtype, w.age, w.diagnosis, w.last_day, w.death >= 0, w.treatments)
    timeline = plan_treatments(rng, people, p.clinical)
    w.stays = draw_stays(rng, geo, people, timeline, residence_dept=w.dept, centre=w.centre,
                         centre_share=centre_share, mean_stays=p.stays_per_beneficiary, effects=p.clinical)
    # stays at another site of the centre's legal entity (PMSI files them under that site)
    send_to_sister_sites(streams["sites"], geo, w.stays, p.sister_site_rate)
    k = w.n_snds_people
    w.dispensings = draw_dispensings(rng, people.take(slice(0, k)), timeline,
                                     mean_count=p.dispensings_per_beneficiary, effects=p.clinical)


# --- what each holder records -------------------------------------------------------------

def _record_stays(stays: Stays, rows: np.ndarray, side: str, rates, rng: np.random.Generator, log: CorruptionLog,
                  far_rng: np.random.Generator, max_days: int) -> tuple[Stays, np.ndarray]:
    """A holder's copy of the care events ``stays[rows]``: a share lost, a share a day off, a
    share (``stay_shifted_far``) 2 or more days off. Returns the copy and the positions in
    ``rows`` kept (one copy of the events is made, not two: 30 million at the Harmonie scale)."""
    kept = np.flatnonzero(rng.random(len(rows), dtype=np.float32) >= rates.stay_missing)
    log.add(side, "stays", "missing", np.setdiff1d(np.arange(len(rows)), kept), len(rows), rates.stay_missing)
    recorded, shifted = shift_days(rng, stays.subset(rows[kept]), rates.stay_shifted)
    log.add(side, "stays", "shifted", shifted, len(recorded), rates.stay_shifted)
    far = np.zeros(0, dtype=np.int64)
    if rates.stay_shifted_far > 0:
        recorded, far = shift_days_far(far_rng, recorded, rates.stay_shifted_far, max_days, shifted)
    log.add(side, "stays", "shifted_far", far, len(recorded) - len(shifted), rates.stay_shifted_far)
    return recorded, kept


def _stays_table(id_column: str, ids: pa.Array, number: np.ndarray, record: np.ndarray, stays: Stays,
                 finess: np.ndarray, claims: bool = False) -> pa.Table:
    """The stays as a holder's table; ``claims`` adds PMSI's GHM and cost (SNDS only)."""
    order = _event_order(number, record, stays.admission)
    columns = {
        id_column: _take(ids, record[order]),
        "finess": _take(finess, stays.hospital[order]),
        "admission_date": _date32(stays.admission[order]),
        "discharge_date": _date32(stays.discharge[order]),
        "main_diagnosis": _take(np.asarray(DIAGNOSIS_CODES), stays.diagnosis[order]),
    }
    if claims:
        columns["ghm"] = _take(np.asarray(GHM_CODES), stays.ghm[order])
        columns["cost_eur"] = pa.array(stays.cost[order] / 100.0, type=pa.float64())
    return pa.table(columns)


@dataclass
class SndsSide:
    ids: pa.Array                 # per SNDS record
    record_person: np.ndarray
    duplicate_people: np.ndarray  # people with a second id
    duplicate_records: np.ndarray
    tables: dict[str, pa.Table]
    cohort_stay_offset: np.ndarray  # per cohort stay (sorted by source): SNDS's admission minus the true one,
    #                                 MISSING_DAYS when SNDS lacks the stay
    split_day: np.ndarray | None = None  # per second id: the day its person's events move to it


MISSING_DAYS = np.iinfo(np.int32).min


def _snds_copy_of(stays: Stays, source: np.ndarray, kept: np.ndarray, true_admission: np.ndarray,
                  wanted: np.ndarray) -> np.ndarray:
    """For each true stay in ``wanted`` (sorted), SNDS's admission minus the true one, or MISSING_DAYS.

    ``source`` holds the true stays SNDS could record (sorted), ``kept`` the positions in it
    SNDS did record, in the order of ``stays``."""
    offset = np.full(len(wanted), MISSING_DAYS, dtype=np.int32)
    if len(wanted) == 0 or len(kept) == 0:
        return offset
    pos = np.minimum(np.searchsorted(source, wanted), len(source) - 1)
    in_source = source[pos] == wanted
    at = np.minimum(np.searchsorted(kept, pos), len(kept) - 1)
    recorded = in_source & (kept[at] == pos)
    offset[recorded] = stays.admission[at[recorded]] - true_admission[wanted[recorded]]
    return offset


def _snds_side(w: World, p: PopulationParams, streams: dict, geo: Geography, log: CorruptionLog,
               cohort_stays: np.ndarray, release_events: bool = False) -> SndsSide:
    """SNDS's records; ``release_events`` drops the world's true stays and dispensings once
    copied (the last to need them), to keep the peak memory down at scale."""
    rng, rates = streams["snds_records"], p.snds
    snds_people = np.arange(w.n_snds_people)
    n_dup = p.n_snds - w.n_snds_people
    non_twins = np.setdiff1d(snds_people, w.twins.ravel())
    dup_people = np.sort(rng.choice(non_twins, size=min(n_dup, len(non_twins)), replace=False))
    person = np.concatenate([snds_people, dup_people])
    n = len(person)
    number = streams["ids"].permutation(n)
    ids = _id_strings("SN", number, 9)

    birth_names = w.birth_name.take(person)
    use_names = w.use_name.take(person)
    recorded = (use_names.codes >= 0) & (rng.random(n) < p.snds_use_name_recorded)
    use_names.set_missing(np.flatnonzero(~recorded))
    changed = np.flatnonzero(recorded & (rng.random(n) < p.use_name_changed))
    divorced = rng.random(len(changed)) < 0.5
    use_names.codes[changed[divorced]] = birth_names.codes[changed[divorced]]
    use_names.codes[changed[~divorced]] = rng.integers(0, len(use_names.values), size=int((~divorced).sum()))
    corrupt_surname(birth_names, "birth_name", "snds", rates, rng, log)
    corrupt_surname(use_names, "use_name", "snds", rates, rng, log)
    parts = [g.take(person) for g in w.given_names]
    apply_style([birth_names, use_names, *parts], "snds", rates, rng, log, insurer=True)
    first_names = corrupt_first_names(parts, "snds", rates, rng, log)
    sex = sex_column(w.sex[person], np.tile(np.array(["1", "2"]), (n, 1)), "snds", rates, rng, log)
    birth = corrupt_birth_dates(w.birth[person], "snds", rates, rng, log, "ymd")
    nir = corrupt_nirs(w.account_nir.take(pa.array(person)), "snds", rates, rng, log)
    commune = commune_column(geo.commune_codes, w.commune_now[person], "snds", rates, rng, log)
    dead = w.death[person] >= 0
    death_missing = dead & (rng.random(n) < rates.death_missing)
    log.add("snds", "death_date", "missing", np.flatnonzero(death_missing), int(dead.sum()), rates.death_missing)
    beneficiaries = pa.table({
        "snds_id": ids, "sex": sex, "birth_date": birth, "birth_name": birth_names.to_arrow(),
        "use_name": use_names.to_arrow(), "first_names": first_names, "nir": nir, "commune_code": commune,
        "death_date": _date32(w.death[person], ~dead | death_missing),
        # CépiDC's underlying cause, for the deaths SNDS knows of
        "death_cause": _coded(DEATH_CAUSES, w.death_cause[person], dead & ~death_missing),
    }).take(pa.array(np.argsort(number)))

    # events move to a person's second id after a split date
    dup_records = w.n_snds_people + np.arange(len(dup_people))
    dup_index = np.full(w.n, -1, dtype=np.int64)
    dup_index[dup_people] = np.arange(len(dup_people))
    split_day = w.diagnosis[dup_people] + (
        rng.random(len(dup_people)) * (w.last_day[dup_people] - w.diagnosis[dup_people])).astype(np.int32)

    def record_of(event_person: np.ndarray, day: np.ndarray) -> np.ndarray:
        k = dup_index[event_person]
        later = (k >= 0) & (day >= split_day[np.maximum(k, 0)])
        return np.where(later, dup_records[np.maximum(k, 0)], event_person)

    source = np.flatnonzero(w.stays.person < w.n_snds_people)
    stays, kept = _record_stays(w.stays, source, "snds", rates, rng, log, streams["stay_shifts"],
                                p.stay_shift_max_days)
    cohort_stay_offset = _snds_copy_of(stays, source, kept, w.stays.admission, cohort_stays)
    del source, kept
    if release_events:
        w.stays = None
    stays_table = _stays_table("snds_id", ids, number, record_of(stays.person, stays.admission), stays,
                               geo.hospital_finess, claims=True)
    del stays
    d = w.dispensings
    record = record_of(d.person, d.date)
    order = _event_order(number, record, d.date)
    dispensings = pa.table({
        "snds_id": _take(ids, record[order]), "dispensing_date": _date32(d.date[order]),
        "atc_code": _take(np.asarray(ATC_CODES), d.atc[order]), "quantity": d.quantity[order],
        "cost_eur": pa.array(d.cost[order] / 100.0, type=pa.float64()),
    })
    del d, record, order
    if release_events:
        w.dispensings = None
    return SndsSide(ids, person, dup_people, dup_records,
                    {"snds_beneficiaries": beneficiaries, "snds_stays": stays_table, "snds_dispensings": dispensings},
                    cohort_stay_offset, split_day)


@dataclass
class CohortSide:
    ids: pa.Array
    number: np.ndarray
    married: np.ndarray
    n_centre_stays: np.ndarray
    tables: dict[str, pa.Table]
    death_missing: np.ndarray     # per cohort row: died, but the record holds no death date
    borrowed_nir: np.ndarray      # per cohort row: carries another (real) person's NIR
    stay_source: np.ndarray       # per cohort stay (in ``stay_row`` order): index of the true stay
    stay_row: np.ndarray          # per cohort stay: the cohort row
    stay_offset: np.ndarray       # per cohort stay: the cohort's admission minus the true one
    stay_sister_site: np.ndarray  # per cohort stay: took place at a sister site of the centre


def _annotate(uses: list[str], births: list[str], style: np.ndarray) -> list[str]:
    """'MARTIN NÉE DUPONT', 'DUPONT ÉPOUSE MARTIN', 'DUPONT EP. MARTIN' (birth name, then spouse's)."""
    forms = ("{u} NÉE {b}", "{b} ÉPOUSE {u}", "{b} EP. {u}")
    return [forms[s].format(u=u, b=b) for u, b, s in zip(uses, births, style)]


def _cohort_side(w: World, p: PopulationParams, streams: dict, geo: Geography, log: CorruptionLog,
                 id_prefix: str = "CO") -> CohortSide:
    """The cohort holder's records of ``w.cohort_people`` (ids ``id_prefix`` + 7 digits); the
    multi-cohort simulator calls it once per programme, on a view of the world."""
    rng, rates = streams["cohort_records"], p.cohort
    person = w.cohort_people
    m = len(person)
    number = streams["ids"].permutation(m)
    ids = _id_strings(id_prefix, number, 7)
    centre = w.centre[person]

    married = w.use_name.codes[person] >= 0
    use_names = w.use_name.take(person)
    use_names.codes[~married] = w.birth_name.codes[person][~married]  # "nom d'usage" is always filled
    birth_names = w.birth_name.take(person)
    birth_names.set_missing(np.flatnonzero(rng.random(m) >= p.cohort_birth_name_recorded))
    misfiled = np.flatnonzero(married & (rng.random(m) < p.cohort_birth_name_holds_use_name))
    birth_names.codes[misfiled] = use_names.codes[misfiled]
    annotated = np.flatnonzero(married & (rng.random(m) < p.name_annotation_rate))
    use_names.edit(annotated, _annotate([use_names.get(i) for i in annotated],
                                        [w.birth_name.get(person[i]) for i in annotated],
                                        rng.integers(3, size=len(annotated))))
    log.add("cohort", "use_name", "annotated", annotated, int(married.sum()), p.name_annotation_rate)
    corrupt_surname(birth_names, "birth_name", "cohort", rates, rng, log)
    corrupt_surname(use_names, "use_name", "cohort", rates, rng, log)
    parts = [g.take(person) for g in w.given_names]
    apply_style([birth_names, use_names, *parts], "cohort", rates, rng, log, insurer=False)
    first_names = corrupt_first_names(parts, "cohort", rates, rng, log)

    # each centre has its own sex codes and date format
    centre_rng = streams["centres"]
    coding = centre_rng.choice(len(SEX_CODINGS), size=geo.n_centres, p=SEX_CODING_SHARES)
    date_order = np.where(centre_rng.random(geo.n_centres) < 0.8, "dmy", "ymd")
    sex = sex_column(w.sex[person], np.array(SEX_CODINGS)[coding[centre]], "cohort", rates, rng, log)
    birth = corrupt_birth_dates(w.birth[person], "cohort", rates, rng, log, date_order[centre])
    nir = corrupt_nirs(w.own_nir.take(pa.array(person)), "cohort", rates, rng, log, spaced_rate=p.cohort_nir_spaced)
    nir, borrowed = _borrowed_nirs(w, p, nir, log)
    commune = commune_column(geo.commune_codes, w.commune_at_diagnosis[person], "cohort", rates, rng, log)

    dead = w.death[person] >= 0
    known = dead & (rng.random(m) >= rates.death_missing)
    log.add("cohort", "death_date", "missing", np.flatnonzero(dead & ~known), int(dead.sum()), rates.death_missing)
    silent = np.zeros(m, dtype=bool)  # patients of centres that record no death date
    if p.centres_without_death_dates > 0:
        n_silent = int(round(p.centres_without_death_dates * geo.n_centres))
        silent = np.isin(centre, streams["deaths"].permutation(geo.n_centres)[:n_silent])
    log.add("cohort", "death_date", "centre_records_none", np.flatnonzero(known & silent), int(dead.sum()),
            p.centres_without_death_dates)
    known &= ~silent
    lag = rng.integers(0, 366, size=m)
    last_news = np.where(known, w.death[person], np.maximum(w.diagnosis[person], w.last_day[person] - lag))
    treatments = {name: w.treatments[name][person] for name in TREATMENTS}  # the world's: SNDS claims follow them
    patients = pa.table({
        "cohort_id": ids,
        "centre_finess": _take(geo.hospital_finess, geo.centre_hospital[centre]),
        "sex": sex, "birth_date": birth, "birth_name": birth_names.to_arrow(), "use_name": use_names.to_arrow(),
        "first_names": first_names, "nir": nir, "commune_code": commune,
        "cancer_type": _take(np.asarray(ref.CANCERS), w.cancer[person]),
        "subtype": pa.array(w.subtype[person], type=pa.string()),
        "stage": w.stage[person],
        "diagnosis_date": _date32(w.diagnosis[person]),
        **treatments,
        "death_date": _date32(w.death[person], ~known),
        "last_news_date": _date32(last_news),
    }).take(pa.array(np.argsort(number)))

    # the centre's own stays, as its information system recorded them: those at its sister
    # sites too, but under the centre's own FINESS
    row_of = np.full(w.n, -1, dtype=np.int64)
    row_of[person] = np.arange(m)
    site_centre = np.full(len(geo.hospital_finess), -1, dtype=np.int64)
    site_centre[geo.centre_hospital] = np.arange(geo.n_centres)
    sister_centre = np.repeat(np.arange(geo.n_centres), np.diff(geo.centre_site_start))
    site_centre[geo.centre_sister_hospital] = sister_centre
    recorded_finess = geo.hospital_finess.copy()
    recorded_finess[geo.centre_sister_hospital] = geo.hospital_finess[geo.centre_hospital[sister_centre]]
    s = w.stays
    own = np.flatnonzero((row_of[s.person] >= 0) & (site_centre[s.hospital] == w.centre[s.person]))
    stays, kept = _record_stays(s, own, "cohort", rates, rng, log, streams["stay_shifts"],
                                p.stay_shift_max_days)
    source = own[kept]
    record = row_of[stays.person]
    sister = np.isin(stays.hospital, geo.centre_sister_hospital)
    log.add("cohort", "stays", "sister_site", np.flatnonzero(sister), len(stays), p.sister_site_rate)
    table = _stays_table("cohort_id", ids, number, record, stays, recorded_finess)
    return CohortSide(ids, number, married, np.bincount(record, minlength=m),
                      {"cohort_patients": patients, "cohort_stays": table},
                      death_missing=dead & ~known, borrowed_nir=borrowed, stay_source=source, stay_row=record,
                      stay_offset=stays.admission - s.admission[source], stay_sister_site=sister)


def _lend_nirs(w: World, p: PopulationParams, rng: np.random.Generator) -> None:
    """A share ``borrowed_nir_rate`` of cohort-only patients are treated under the carte Vitale
    of someone in their household: a real SNDS beneficiary outside the cohort, filed under
    their own NIR, of another birth date or sex, living in the same commune, whose surname
    the patient uses (a wife her husband's, a son his mother's). Sets ``w.nir_lender``."""
    person = w.cohort_people
    w.nir_lender = np.full(len(person), -1, dtype=np.int64)
    only = person >= w.n_snds_people
    if p.borrowed_nir_rate <= 0 or not only.any():
        return
    rows = pick(rng, p.borrowed_nir_rate, only)
    k = w.n_snds_people
    pool = np.flatnonzero(~w.account_holder[:k] & ~_mask(w.n, person)[:k])
    pool = np.setdiff1d(pool, w.twins.ravel())
    # a lender from the patient's own département (the household lives there)
    pool = pool[np.argsort(w.dept[pool], kind="stable")]
    pool_dept = w.dept[pool]
    lo = np.searchsorted(pool_dept, w.dept[person[rows]], side="left")
    hi = np.searchsorted(pool_dept, w.dept[person[rows]], side="right")
    rows, lo, hi = rows[hi > lo], lo[hi > lo], hi[hi > lo]
    lender = pool[lo + (rng.random(len(rows)) * (hi - lo)).astype(np.int64)]
    borrower = person[rows]
    differs = (w.birth[lender] != w.birth[borrower]) | (w.sex[lender] != w.sex[borrower])
    rows, lender, borrower = rows[differs], lender[differs], borrower[differs]
    w.commune_at_diagnosis[borrower] = w.commune_now[lender]
    w.commune_now[borrower] = w.commune_now[lender]
    household = np.where(w.use_name.codes[lender] >= 0, w.use_name.codes[lender], w.birth_name.codes[lender])
    female = w.sex[borrower] == 2
    w.use_name.codes[borrower[female]] = household[female]
    w.birth_name.codes[borrower[~female]] = household[~female]
    w.nir_lender[rows] = lender


def _borrowed_nirs(w: World, p: PopulationParams, nir: pa.Array, log: CorruptionLog) -> tuple[pa.Array, np.ndarray]:
    """The cohort's NIR column with the lenders' NIRs written in (present, unspaced)."""
    rows = np.flatnonzero(w.nir_lender >= 0) if w.nir_lender is not None else np.zeros(0, dtype=np.int64)
    if len(rows):
        nir = _replace_rows(nir, rows, w.own_nir.take(pa.array(w.nir_lender[rows])).to_pylist())
    log.add("cohort", "nir", "borrowed", rows, int((w.cohort_people >= w.n_snds_people).sum()), p.borrowed_nir_rate)
    return nir, _mask(len(w.cohort_people), rows)


# --- truth -------------------------------------------------------------------------------

def _stay_cases(snds: SndsSide, cohort: CohortSide, m: int, by_id: np.ndarray) -> dict[str, np.ndarray]:
    """Per cohort patient, counts of their cohort stays: SNDS holds them under the same FINESS
    within a day (what (FINESS, date ±1) tokens can see), 2+ days apart, at a sister site."""
    order = np.argsort(cohort.stay_source)
    snds_offset = np.empty(len(order), dtype=np.int32)
    snds_offset[order] = snds.cohort_stay_offset  # computed for the sorted sources
    in_snds = snds_offset != MISSING_DAYS
    gap = np.abs(cohort.stay_offset.astype(np.int64) - snds_offset)
    visible = in_snds & ~cohort.stay_sister_site & (gap <= 1)
    shifted = in_snds & (gap >= 2)

    def per_patient(mask: np.ndarray) -> np.ndarray:
        return np.bincount(cohort.stay_row[mask], minlength=m)[by_id]

    return {"stays_in_snds": per_patient(visible), "shifted_stays": per_patient(shifted),
            "sister_site_stays": per_patient(cohort.stay_sister_site)}


def _truth_tables(w: World, n_in: int, snds: SndsSide, cohort: CohortSide, log: CorruptionLog,
                  geo: Geography) -> dict[str, pa.Table]:
    tables = _cohort_truth(w, n_in, snds, cohort, log, geo)
    clinical = _clinical_truth(w, snds, {"cohort_id": (w.cohort_people, cohort.ids)})
    duplicates = snds_duplicates_table(snds)
    return {**tables, "snds_duplicates": duplicates,
            "corruptions": _corruption_table(log, {"snds": snds.ids, "cohort": cohort.ids}),
            "clinical_truth": clinical}


def snds_duplicates_table(snds: SndsSide) -> pa.Table:
    """Second SNDS ids and the first id of the same person, sorted by second id."""
    duplicates = pa.table({"snds_id": _take(snds.ids, snds.duplicate_records),
                           "same_person_as": _take(snds.ids, snds.duplicate_people)})
    return duplicates.take(pc.sort_indices(duplicates, sort_keys=[("snds_id", "ascending")]))


def _cohort_truth(w: World, n_in: int, snds: SndsSide, cohort: CohortSide, log: CorruptionLog,
                  geo: Geography) -> dict[str, pa.Table]:
    """One cohort's truth (cohort_id, snds_id) and hard cases; ``w.cohort_people`` lists its
    members present in SNDS first (``n_in`` of them), then its cohort-only ones."""
    person = w.cohort_people
    m = len(person)
    by_id = np.argsort(cohort.number)  # cohort rows in id order
    present = by_id[by_id < n_in]
    truth = pa.table({"cohort_id": _take(cohort.ids, present), "snds_id": _take(snds.ids, person[present])})
    patients = cohort.tables["cohort_patients"]  # already in id order
    mistyped = np.zeros(m, dtype=bool)
    for side, field_name, kind, rows in zip(log.side, log.field_name, log.kind, log.row):
        if (side, field_name, kind) == ("cohort", "nir", "typo"):
            mistyped[rows] = True
    hard_cases = pa.table({
        "cohort_id": _take(cohort.ids, by_id),
        "in_snds": by_id < n_in,
        "married_name": cohort.married[by_id],
        "birth_name_missing": pc.is_null(patients["birth_name"]),
        "account_holder_nir": w.account_holder[person][by_id],
        "twin": _mask(w.n, w.twins.ravel())[person][by_id],
        "snds_duplicate": _mask(w.n, snds.duplicate_people)[person][by_id],
        "moved": (w.commune_at_diagnosis != w.commune_now)[person][by_id],
        "nir_present": pc.is_valid(patients["nir"]),
        "nir_mistyped": mistyped[by_id],
        "centre_stays": cohort.n_centre_stays[by_id],
        **_stay_cases(snds, cohort, m, by_id),
        "moved_far": (geo.commune_dept[w.commune_at_diagnosis] != geo.commune_dept[w.commune_now])[person][by_id],
        "cohort_death_missing": cohort.death_missing[by_id],
        "borrowed_nir": cohort.borrowed_nir[by_id],
    })
    return {"truth": truth, "hard_cases": hard_cases}


def _clinical_truth(w: World, snds: SndsSide, cohorts: dict[str, tuple[np.ndarray, pa.Array]]) -> pa.Table:
    """The clinical world, one row per simulated person: their first SNDS id (null for
    cohort-only patients), their id in each cohort (``cohorts``: id column -> (members, their
    ids); null outside it), disease, age, sex, the treatments their claims follow, true dates of
    death and end of follow-up, cause of death. Sorted by SNDS id, cohort-only patients last."""
    k = w.n_snds_people
    in_snds = np.arange(w.n) < k
    id_columns = {}
    for column, (members, ids) in cohorts.items():
        cohort_row = np.full(w.n, -1, dtype=np.int64)
        cohort_row[members] = np.arange(len(members))
        id_columns[column] = pc.if_else(pa.array(cohort_row >= 0), _take(ids, np.maximum(cohort_row, 0)),
                                        pa.scalar(None, pa.string()))
    dead = w.death >= 0
    table = pa.table({
        "snds_id": pc.if_else(pa.array(in_snds), _take(snds.ids, np.where(in_snds, np.arange(w.n), 0)),
                              pa.scalar(None, pa.string())),
        **id_columns,
        "cancer_type": _take(np.asarray(ref.CANCERS), w.cancer),
        "subtype": pa.array(w.subtype, type=pa.string()),
        "stage": w.stage,
        "sex": w.sex,
        "age_at_diagnosis": pa.array(w.age, type=pa.float32()),
        "diagnosis_date": _date32(w.diagnosis),
        **{name: w.treatments[name] for name in TREATMENTS},
        "death_date": _date32(w.death, ~dead),
        "end_of_follow_up": _date32(w.last_day),
        "death_cause": _coded(DEATH_CAUSES, w.death_cause, dead),
    })
    if table.num_rows == 0:
        return table
    keys = [("snds_id", "ascending")] + [(column, "ascending") for column in cohorts]
    return table.take(pc.sort_indices(table, sort_keys=keys, null_placement="at_end"))


def _corruption_table(log: CorruptionLog, ids: dict[str, pa.Array]) -> pa.Table:
    """One row per corrupted identity value: side, record id, field, kind (care events excluded)."""
    parts = []
    for side, field_name, kind, rows in zip(log.side, log.field_name, log.kind, log.row):
        if field_name != "stays" and len(rows):
            parts.append(pa.table({
                "side": pa.array([side] * len(rows)), "record_id": _take(ids[side], rows),
                "field": pa.array([field_name] * len(rows)), "kind": pa.array([kind] * len(rows)),
            }))
    if not parts:
        return pa.table({name: pa.array([], pa.string()) for name in ("side", "record_id", "field", "kind")})
    return pa.concat_tables(parts)


# --- entry point -------------------------------------------------------------------------

def named_streams(seed: int, names: tuple[str, ...] = _STREAMS) -> dict[str, np.random.Generator]:
    """One independent generator per name, spawned by position from the seed (see ``_STREAMS``)."""
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children)}


def make_population(n_cohort: int | None = None, n_snds: int | None = None, *, seed: int = 0,
                    params: PopulationParams | None = None, keep_world: bool = False) -> Population:
    """Simulate a cohort <-> SNDS population with ground truth.

    Parameters
    ----------
    n_cohort, n_snds:
        Rows of the cohort's patient table and of SNDS's beneficiary table (override
        ``params``). A share ``cohort_only_rate`` of cohort patients is absent from SNDS,
        and a share ``snds_duplicate_rate`` of SNDS ids are second ids of one person.
    seed:
        Same seed and parameters give identical tables.
    params:
        Every other knob (see :class:`PopulationParams`).
    keep_world:
        Also keep the simulated people and their true care events, before either holder's
        corruption, as ``population.world`` (a :class:`World`; for checks, not at scale).
    """
    p = params or PopulationParams()
    p = dataclasses.replace(p, n_cohort=p.n_cohort if n_cohort is None else int(n_cohort),
                            n_snds=p.n_snds if n_snds is None else int(n_snds)).validate()
    streams = named_streams(seed)
    geo = france()
    n_snds_people = p.n_snds - int(round(p.n_snds * p.snds_duplicate_rate))
    n_in = int(round(p.n_cohort * (1 - p.cohort_only_rate)))
    if n_in > n_snds_people:
        raise InvalidParameter(
            f"cohort larger than the population: {n_in:,} cohort patients should be in SNDS "
            f"but SNDS holds {n_snds_people:,} people; raise --snds or lower --cohort")
    n_only = p.n_cohort - n_in

    with stage(f"people ({n_snds_people + n_only:,})"):
        world = _draw_people(p, streams, geo, n_snds_people, n_in, n_only)
    with stage("identities and NIRs"):
        _draw_identities(world, p, streams, geo)
    with stage("care pathways (stays, dispensings)"):
        _draw_care(world, p, streams, geo)
    log = CorruptionLog()
    with stage(f"cohort records ({p.n_cohort:,} patients)"):
        cohort = _cohort_side(world, p, streams, geo, log)
    with stage(f"SNDS records ({p.n_snds:,} beneficiary ids)"):
        snds = _snds_side(world, p, streams, geo, log, np.sort(cohort.stay_source), release_events=not keep_world)
    with stage("truth and hard cases"):
        truth = _truth_tables(world, n_in, snds, cohort, log, geo)
    tables = {**cohort.tables, **snds.tables, **truth, "finess_entities": finess_entities(geo)}
    if p.clinical_variables.count:  # the cohort's case-report forms, from a stream of their own (off by default)
        from linkage.datasets.clinical_variables import cohort_variables_table

        with stage(f"clinical variables ({p.clinical_variables.count} per cohort patient)"):
            tables["cohort_variables"] = cohort_variables_table(world, cohort.ids, cohort.number, p, seed)
    return Population(tables=tables, params=p, seed=seed, corruption_rates=pd.DataFrame(log.rates),
                      world=world if keep_world else None)
