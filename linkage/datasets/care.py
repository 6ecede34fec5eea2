"""Care events: hospital stays (PMSI) and drug dispensings (DCIR), vectorised.

Stays cluster in the year after diagnosis (surgery, chemotherapy and radiotherapy
sessions) and thin out during follow-up; about half are day sessions coded Z51.1
(chemotherapy) or Z51.0 (radiotherapy) as in the PMSI. Each person is treated in the
hospitals of their département; cohort patients mostly in their cancer centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.datasets import reference as ref
from linkage.datasets.geography import Geography, draw_within_groups

# relative number of stays by cancer (lung patients are admitted most)
STAY_INTENSITY = np.array([0.8, 1.3, 1.2])
DAY_SESSION_SHARE = 0.55
ACTIVE_TREATMENT_SHARE = 0.65  # share of stays within the first months after diagnosis


@dataclass
class Stays:
    person: np.ndarray     # int32 index of the person
    hospital: np.ndarray   # int32 index into the geography's hospitals
    admission: np.ndarray  # int32 days since 1970
    discharge: np.ndarray  # int32 days
    diagnosis: np.ndarray  # int16 index into DIAGNOSIS_CODES

    def __len__(self) -> int:
        return len(self.person)

    def subset(self, rows: np.ndarray) -> "Stays":
        return Stays(self.person[rows], self.hospital[rows], self.admission[rows], self.discharge[rows],
                     self.diagnosis[rows])


DIAGNOSIS_CODES: tuple[str, ...] = tuple(dict.fromkeys(
    [code for c in ref.CANCERS for code in ref.CANCER_ICD10[c]]
    + list(ref.SESSION_ICD10.values()) + list(ref.OTHER_STAY_ICD10)
))
_DIAG_INDEX = {code: i for i, code in enumerate(DIAGNOSIS_CODES)}


def draw_stays(rng: np.random.Generator, geo: Geography, *, cancer: np.ndarray, diagnosis: np.ndarray,
               last_day: np.ndarray, residence_dept: np.ndarray, centre: np.ndarray, centre_share: np.ndarray,
               mean_stays: float) -> Stays:
    """Every person's true hospital stays, from a month before diagnosis to death or end of follow-up.

    Stays come grouped by person, not sorted by date (the writer sorts them once).

    ``centre`` is each person's cancer centre (-1 for none) and ``centre_share`` the share of
    their stays that take place there.
    """
    n = len(cancer)
    if n == 0 or mean_stays == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Stays(empty, empty, empty.astype(np.int32), empty.astype(np.int32), empty)
    intensity = STAY_INTENSITY[cancer] / STAY_INTENSITY[cancer].mean()
    # negative binomial (gamma-Poisson) counts; at least the diagnostic stay
    lam = mean_stays * intensity * rng.gamma(2.0, 0.5, size=n)
    count = np.maximum(rng.poisson(np.maximum(lam - 1, 0)) + 1, 1)
    person = np.repeat(np.arange(n, dtype=np.int32), count)
    m = len(person)

    # dates: 32-bit throughout, since 30 million stays are drawn at the Harmonie scale
    first = diagnosis[person].astype(np.int32) - 30
    span = np.maximum(last_day[person].astype(np.int32) - first, 0)
    active = rng.random(m, dtype=np.float32) < ACTIVE_TREATMENT_SHARE
    limit = np.where(active, np.minimum(span, 270), span)
    del active
    admission = first + (rng.random(m, dtype=np.float32) * limit).astype(np.int32)
    del limit
    session = rng.random(m, dtype=np.float32) < DAY_SESSION_SHARE
    length = np.where(session, 0, 1 + rng.geometric(0.2, size=m)).astype(np.int32)
    discharge = np.minimum(admission + length, np.maximum(first + span, admission))
    del length, first, span

    # diagnosis: sessions Z51.1 / Z51.0, else the cancer itself (75%) or a complication
    diag = np.empty(m, dtype=np.int16)
    radio = rng.random(m, dtype=np.float32) < 0.2
    diag[session & radio] = _DIAG_INDEX[ref.SESSION_ICD10["radiotherapy"]]
    diag[session & ~radio] = _DIAG_INDEX[ref.SESSION_ICD10["chemotherapy"]]
    del radio
    full = np.flatnonzero(~session)
    del session
    cancer_coded = rng.random(len(full), dtype=np.float32) < 0.75
    full_cancer = cancer[person[full]]
    for k, name in enumerate(ref.CANCERS):
        codes = np.array([_DIAG_INDEX[c] for c in ref.CANCER_ICD10[name]], dtype=np.int16)
        rows = full[cancer_coded & (full_cancer == k)]
        diag[rows] = codes[rng.integers(len(codes), size=len(rows))]
    other = np.array([_DIAG_INDEX[c] for c in ref.OTHER_STAY_ICD10], dtype=np.int16)
    rows = full[~cancer_coded]
    diag[rows] = other[rng.integers(len(other), size=len(rows))]
    del full, full_cancer, cancer_coded, rows

    person_centre = centre[person]
    at_centre = (person_centre >= 0) & (rng.random(m, dtype=np.float32) < centre_share[person])
    hospital = draw_within_groups(geo.hospital_cum, geo.dept_hospital_start, residence_dept[person],
                                  rng.random(m, dtype=np.float32)).astype(np.int32)
    hospital[at_centre] = geo.centre_hospital[person_centre[at_centre]]
    return Stays(person, hospital, admission, discharge, diag)


def send_to_sister_sites(rng: np.random.Generator, geo: Geography, stays: Stays, rate: float) -> np.ndarray:
    """Move a share ``rate`` of the stays at each cancer centre to one of its sister sites
    (same legal entity, another FINESS géographique), in place; returns the rows moved."""
    if rate <= 0 or len(stays) == 0:
        return np.zeros(0, dtype=np.int64)
    centre_of = np.full(len(geo.hospital_finess), -1, dtype=np.int64)
    centre_of[geo.centre_hospital] = np.arange(geo.n_centres)
    centre = centre_of[stays.hospital]
    rows = np.flatnonzero((centre >= 0) & (rng.random(len(stays), dtype=np.float32) < rate))
    start = geo.centre_site_start[centre[rows]]
    count = geo.centre_site_start[centre[rows] + 1] - start
    pick = start + (rng.random(len(rows)) * count).astype(np.int64)
    stays.hospital[rows] = geo.centre_sister_hospital[pick]
    return rows


def shift_days_far(rng: np.random.Generator, stays: Stays, rate: float, max_days: int,
                   exclude: np.ndarray) -> tuple[Stays, np.ndarray]:
    """A copy where a share of stays (not among ``exclude``) is recorded 2..``max_days``
    days early or late (both dates move)."""
    eligible = np.ones(len(stays), dtype=bool)
    eligible[exclude] = False
    rows = np.flatnonzero(eligible & (rng.random(len(stays), dtype=np.float32) < rate))
    delta = rng.integers(2, max_days + 1, size=len(rows)).astype(np.int32)
    delta *= rng.choice(np.array([-1, 1], dtype=np.int32), size=len(rows))
    admission, discharge = stays.admission.copy(), stays.discharge.copy()
    admission[rows] += delta
    discharge[rows] += delta
    return Stays(stays.person, stays.hospital, admission, discharge, stays.diagnosis), rows


def shift_days(rng: np.random.Generator, stays: Stays, rate: float) -> tuple[Stays, np.ndarray]:
    """A copy where a share of stays is recorded a day early or late (both dates move)."""
    rows = np.flatnonzero(rng.random(len(stays), dtype=np.float32) < rate)
    delta = rng.choice(np.array([-1, 1], dtype=np.int32), size=len(rows))
    admission, discharge = stays.admission.copy(), stays.discharge.copy()
    admission[rows] += delta
    discharge[rows] += delta
    return Stays(stays.person, stays.hospital, admission, discharge, stays.diagnosis), rows


@dataclass
class Dispensings:
    person: np.ndarray     # int32 index of the person (grouped, not sorted by date)
    date: np.ndarray       # int32 days
    atc: np.ndarray        # int16 index into ATC_CODES
    quantity: np.ndarray   # int8 boxes


ATC_CODES: tuple[str, ...] = tuple(dict.fromkeys(code for c in ref.CANCERS for code in ref.DISPENSING_ATC[c]))


def draw_dispensings(rng: np.random.Generator, *, cancer: np.ndarray, diagnosis: np.ndarray, last_day: np.ndarray,
                     mean_count: float) -> Dispensings:
    """Drug dispensings in town pharmacies between diagnosis and death or end of follow-up."""
    n = len(cancer)
    count = rng.poisson(mean_count * rng.gamma(2.0, 0.5, size=n)) if n else np.zeros(0, dtype=np.int64)
    person = np.repeat(np.arange(n, dtype=np.int32), count)
    m = len(person)
    first = diagnosis[person].astype(np.int32)
    span = np.maximum(last_day[person].astype(np.int32) - first, 0)
    date = first + (rng.random(m, dtype=np.float32) * (span + 1)).astype(np.int32)
    del first, span
    atc = np.empty(m, dtype=np.int16)
    index = {code: i for i, code in enumerate(ATC_CODES)}
    for k, name in enumerate(ref.CANCERS):
        rows = np.flatnonzero(cancer[person] == k)
        codes = np.array([index[c] for c in ref.DISPENSING_ATC[name]], dtype=np.int16)
        probs = np.array(list(ref.DISPENSING_ATC[name].values()))
        atc[rows] = codes[rng.choice(len(codes), size=len(rows), p=probs / probs.sum())]
    quantity = rng.choice(np.array([1, 1, 1, 2, 3], dtype=np.int8), size=m)
    return Dispensings(person, date, atc, quantity)
