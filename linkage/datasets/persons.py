"""The people behind the records: demographics, cancer, identity, NIR, residence.

One row per person, as numpy arrays (and :class:`CodedStrings` for names). Records on
either side are later drawn from these people and damaged by the corruption model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.datasets import reference as ref
from linkage.datasets.coded import CodedStrings, zero_padded
from linkage.datasets.geography import Geography, draw_within_groups
from linkage.datasets.names import ERAS, era_of, first_names, surnames
from linkage.nir import nir_keys

DAYS_PER_YEAR = 365.25
EPOCH = np.datetime64("1970-01-01", "D")


def day_number(iso: str) -> int:
    return int((np.datetime64(iso, "D") - EPOCH).astype(np.int64))


def calendar(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) int64 arrays of day numbers since 1970-01-01."""
    dates = np.asarray(days).astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


@dataclass
class People:
    """Columns of the simulated people (length N each)."""

    cancer: np.ndarray          # int8 index into reference.CANCERS
    sex: np.ndarray             # int8: 1 male, 2 female (NIR convention)
    birth: np.ndarray           # int32 days since 1970-01-01
    diagnosis: np.ndarray       # int32 days
    death: np.ndarray           # int32 days, -1 when alive at the end of follow-up
    stage: np.ndarray           # int8 1..4
    subtype: np.ndarray         # object: histology / receptor status
    birth_name: CodedStrings
    use_name: CodedStrings      # -1 when the person uses their birth name
    first_names: list[CodedStrings]  # up to three given names
    birth_place: np.ndarray     # int index into the place table (communes then countries)
    nir_order: np.ndarray       # int16 order number of the NIR
    commune_at_diagnosis: np.ndarray  # int index into geography communes
    commune_now: np.ndarray     # int index into geography communes
    account_holder: np.ndarray  # int index into holder NIRs, -1 when filed under their own NIR
    twin_of: np.ndarray         # int index of the twin, -1 otherwise

    def __len__(self) -> int:
        return len(self.cancer)


def place_table(geo: Geography) -> tuple[np.ndarray, np.ndarray]:
    """Birth places (codes, numbers used by the NIR key): communes, then '99'+country."""
    countries = np.array(["99" + c for c in ref.BIRTH_COUNTRIES])
    codes = np.concatenate([geo.commune_codes, countries])
    digits = np.char.replace(np.char.replace(codes.astype(str), "2A", "19"), "2B", "18")
    return codes, digits.astype(np.int64)


def draw_demographics(rng: np.random.Generator, cancer: np.ndarray, first_year: int, last_year: int):
    """Sex, dates of birth and diagnosis, stage, subtype, age at diagnosis (years) and a
    standard exponential draw per person, for people with a cancer.

    The date of death is not drawn here: it depends on the treatments, drawn afterwards
    (:func:`linkage.datasets.clinical.draw_clinical_world`), whose survival time is the
    exponential draw divided by the person's hazard."""
    n = len(cancer)
    start, end = day_number(f"{first_year}-01-01"), day_number(f"{last_year}-12-31")
    male_share = np.array([ref.CANCER_SEX_MALE[c] for c in ref.CANCERS])[cancer]
    sex = np.where(rng.random(n) < male_share, 1, 2).astype(np.int8)
    mean_age = np.array([ref.CANCER_AGE[c][0] for c in ref.CANCERS])[cancer]
    sd_age = np.array([ref.CANCER_AGE[c][1] for c in ref.CANCERS])[cancer]
    age_years = np.clip(rng.normal(mean_age, sd_age), 20.0, 99.0)
    diagnosis = rng.integers(start, end + 1, size=n).astype(np.int32)
    birth = (diagnosis - np.round(age_years * DAYS_PER_YEAR)).astype(np.int32)

    stage_cum = np.cumsum(np.array([ref.CANCER_STAGES[c] for c in ref.CANCERS]), axis=1)[cancer]
    stage = (1 + (rng.random((n, 1)) > stage_cum).sum(axis=1)).clip(1, 4).astype(np.int8)
    exposure = rng.standard_exponential(n)  # as many draws as the exponential survival times of before

    subtype = np.empty(n, dtype=object)
    for k, name in enumerate(ref.CANCERS):
        rows = np.flatnonzero(cancer == k)
        labels = list(ref.CANCER_SUBTYPES[name])
        probs = np.array(list(ref.CANCER_SUBTYPES[name].values()))
        subtype[rows] = np.array(labels, dtype=object)[rng.choice(len(labels), size=len(rows), p=probs / probs.sum())]
    return sex, birth, diagnosis, stage, subtype, age_years, exposure


def draw_identities(rng: np.random.Generator, sex: np.ndarray, birth: np.ndarray, diagnosis: np.ndarray,
                    married_name_rate: float, double_surname_rate: float, name_concentration: float = 0.0):
    """Birth name, use name and given names, with the frequencies of French registers
    (sharper with ``name_concentration``: see :mod:`linkage.datasets.names`)."""
    n = len(sex)
    vocab = surnames(concentration=name_concentration)
    birth_name = CodedStrings(vocab.draw(rng, n), vocab.values)
    doubles = np.flatnonzero(rng.random(n) < double_surname_rate)
    second = vocab.draw(rng, len(doubles))
    birth_name.edit(doubles, (f"{birth_name.get(i)}-{vocab.values[j]}" for i, j in zip(doubles, second)))

    age_at_diagnosis = (diagnosis - birth) / DAYS_PER_YEAR
    married = (sex == 2) & (age_at_diagnosis >= 25) & (rng.random(n) < married_name_rate)
    use_codes = np.where(married, vocab.draw(rng, n), -1)
    use_name = CodedStrings(use_codes, birth_name.values)  # same code space: codes can move between them

    # given names: a single vocabulary of all (sex, era) lists, drawn per group
    birth_year = (1970 + birth / DAYS_PER_YEAR).astype(int)
    era = era_of(birth_year)
    values: list[str] = []
    parts = [np.full(n, -1, dtype=np.int64) for _ in range(3)]
    count = 1 + (rng.random(n) > 0.35).astype(int) + (rng.random(n) > 0.75).astype(int)
    for sex_code, sex_label in ((1, "M"), (2, "F")):
        for e, era_label in enumerate(ERAS):
            rows = np.flatnonzero((sex == sex_code) & (era == e))
            group = first_names(sex_label, era_label, name_concentration)
            offset = len(values)
            values.extend(group.values)
            for k in range(3):
                drawn = offset + group.draw(rng, len(rows))
                parts[k][rows] = np.where(count[rows] > k, drawn, -1)
    # a second given name equal to the first is dropped (nobody is 'MARIE MARIE')
    same = (parts[1] == parts[0]) & (parts[1] >= 0)
    parts[1][same] = -1
    return birth_name, use_name, [CodedStrings(p, values) for p in parts]


def draw_birth_places(rng: np.random.Generator, geo: Geography, residence_dept: np.ndarray,
                      born_abroad_rate: float) -> np.ndarray:
    """Half are born in their département of residence, most others elsewhere in France."""
    n = len(residence_dept)
    n_communes = len(geo.commune_codes)
    same = rng.random(n) < 0.5
    dept = np.where(same, residence_dept, rng.choice(len(geo.dept_codes), size=n, p=geo.dept_weight))
    place = draw_within_groups(geo.commune_cum, geo.dept_commune_start, dept, rng.random(n))
    abroad = rng.random(n) < born_abroad_rate
    country_p = np.array(list(ref.BIRTH_COUNTRIES.values()))
    country = rng.choice(len(country_p), size=int(abroad.sum()), p=country_p / country_p.sum())
    place[abroad] = n_communes + country
    return place


def nir_strings(sex: np.ndarray, birth: np.ndarray, place: np.ndarray, order: np.ndarray,
                place_codes: np.ndarray, place_digits: np.ndarray) -> pa.Array:
    """15-character NIRs (with their mod-97 key) as an Arrow string array."""
    year, month, _ = calendar(birth)
    yy = year % 100
    body = (((sex.astype(np.int64) * 100 + yy) * 100 + month) * 100_000 + place_digits[place]) * 1000 + order
    key = nir_keys(body)

    return pc.binary_join_element_wise(
        pc.cast(pa.array(sex.astype(np.int64)), pa.string()), zero_padded(yy, 2), zero_padded(month, 2),
        pa.array(place_codes[place]), zero_padded(order, 3), zero_padded(key, 2), "",
    )


def draw_residence(rng: np.random.Generator, geo: Geography, diagnosis: np.ndarray, last_day: np.ndarray,
                   move_rate_per_year: float, move_far_rate: float = 0.4
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Commune at diagnosis and at the last known date (death or end of follow-up).

    Movers stay in their département, except a share ``move_far_rate`` (40% by default)
    who land anywhere in France, in a département drawn by population.
    """
    n = len(diagnosis)
    dept = rng.choice(len(geo.dept_codes), size=n, p=geo.dept_weight)
    at_diagnosis = draw_within_groups(geo.commune_cum, geo.dept_commune_start, dept, rng.random(n))
    years = np.maximum(last_day - diagnosis, 0) / DAYS_PER_YEAR
    moved = rng.random(n) < 1.0 - (1.0 - move_rate_per_year) ** years
    near = rng.random(n) < 1.0 - move_far_rate
    new_dept = np.where(near, dept, rng.choice(len(geo.dept_codes), size=n, p=geo.dept_weight))
    new_commune = draw_within_groups(geo.commune_cum, geo.dept_commune_start, new_dept, rng.random(n))
    now = np.where(moved, new_commune, at_diagnosis)
    return dept, at_diagnosis, now
