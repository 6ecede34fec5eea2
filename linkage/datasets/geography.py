"""Synthetic French geography: départements, INSEE-style commune codes, hospitals (FINESS).

Départements and their populations are real orders of magnitude; commune codes follow the
INSEE layout (2-character département + 3 digits, or 3-character overseas département + 2
digits, Paris by arrondissement 75101-75120) but are drawn, not copied. Hospitals carry
9-character FINESS-like numbers (département prefix, Luhn check digit). The geography is
fixed (its own seed) so codes are stable from one simulated population to the next.

FINESS numbers are those of sites (FINESS géographique, "ET"); each site belongs to a legal
entity (FINESS juridique, "EJ"): most hospitals are alone in theirs, some are grouped in
multi-site entities of their département, and each cancer centre has one or two sister
sites (used only when ``sister_site_rate`` sends stays there). :func:`finess_entities`
gives the site -> legal entity map as a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from linkage.datasets.reference import CANCER_CENTRE_DEPARTEMENTS, DEPARTEMENTS

GEOGRAPHY_SEED = 2008
REGIONS_SERVED_FROM_PARIS = ("CVL", "COR", "DOM")


@dataclass(frozen=True)
class Geography:
    dept_codes: np.ndarray          # (D,) département codes ("01", "2A", "971", ...)
    dept_weight: np.ndarray         # (D,) share of the population
    dept_region: np.ndarray         # (D,) region code
    commune_codes: np.ndarray       # (C,) 5-character INSEE-style codes, grouped by département
    commune_dept: np.ndarray        # (C,) département index
    commune_cum: np.ndarray         # (C,) cumulative population share within its département
    dept_commune_start: np.ndarray  # (D+1,) offsets into the commune arrays
    hospital_finess: np.ndarray     # (H,) FINESS-like numbers; the cancer centres come last
    hospital_dept: np.ndarray       # (H,) département index
    hospital_cum: np.ndarray        # (H,) cumulative activity share within its département (general hospitals)
    dept_hospital_start: np.ndarray  # (D+1,) offsets into the general hospitals
    centre_hospital: np.ndarray     # (K,) hospital index of each cancer centre
    dept_centre_cum: np.ndarray     # (D, K) cumulative probability of each centre for residents
    centre_site_start: np.ndarray   # (K+1,) offsets into centre_sister_hospital
    centre_sister_hospital: np.ndarray  # hospital indices of the centres' sister sites, centre after centre
    hospital_entity: np.ndarray     # (H,) index into entity_finess: the site's legal entity
    entity_finess: np.ndarray       # (E,) FINESS juridique of each legal entity

    @property
    def n_centres(self) -> int:
        return len(self.centre_hospital)


def _luhn_digit(body: str) -> str:
    digits = [int(ch) if ch.isdigit() else 0 for ch in body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def _finess(dept: str, serial: int) -> str:
    prefix = dept if len(dept) == 2 else dept[:2] + dept[2]
    body = (prefix + f"{serial:07d}")[:8]
    return body + _luhn_digit(body)


def _zipf_cum(n: int, rng: np.random.Generator, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    rng.shuffle(weights)
    cum = np.cumsum(weights)
    return cum / cum[-1]


@lru_cache(maxsize=1)
def france() -> Geography:
    """The fixed synthetic geography of France used by the simulator."""
    rng = np.random.default_rng(GEOGRAPHY_SEED)
    dept_codes = np.array(list(DEPARTEMENTS))
    pops = np.array([DEPARTEMENTS[d][0] for d in dept_codes], dtype=float)
    regions = np.array([DEPARTEMENTS[d][1] for d in dept_codes])

    communes, commune_dept, commune_cum, commune_start = [], [], [], [0]
    hospitals, hospital_dept, hospital_cum, hospital_start = [], [], [], [0]
    for i, dept in enumerate(dept_codes):
        if dept == "75":
            codes = [f"751{k:02d}" for k in range(1, 21)]
        elif len(dept) == 3:
            n = 25
            codes = [f"{dept}{k:02d}" for k in range(1, n + 1)]
        else:
            n = int(np.clip(pops[i] // 2, 40, 700))
            numbers = np.sort(rng.choice(np.arange(1, 990), size=n, replace=False))
            codes = [f"{dept}{k:03d}" for k in numbers]
        communes.extend(codes)
        commune_dept.extend([i] * len(codes))
        commune_cum.append(_zipf_cum(len(codes), rng, 1.05))
        commune_start.append(len(communes))

        n_hosp = max(2, int(round(pops[i] / 50)))
        serials = rng.choice(np.arange(100, 99999), size=n_hosp, replace=False)
        hospitals.extend(_finess(dept, 10_000 * (k % 90) + int(s)) for k, s in enumerate(serials))
        hospital_dept.extend([i] * n_hosp)
        hospital_cum.append(_zipf_cum(n_hosp, rng, 1.0))
        hospital_start.append(len(hospitals))

    dept_index = {d: i for i, d in enumerate(dept_codes)}
    centre_hospital = []
    for k, dept in enumerate(CANCER_CENTRE_DEPARTEMENTS):
        hospitals.append(_finess(dept, 9_000_000 + 37 * k))
        hospital_dept.append(dept_index[dept])
        centre_hospital.append(len(hospitals) - 1)
    n_general = hospital_start[-1]
    # Legal entities and the centres' sister sites come from their own generator, after
    # everything above, so the sites, communes and centres stay those of earlier versions.
    sites_rng = np.random.default_rng(GEOGRAPHY_SEED + 1)
    site_start, sisters = [0], []
    for k, dept in enumerate(CANCER_CENTRE_DEPARTEMENTS):
        for j in range(1 + int(sites_rng.random() < 0.5)):
            hospitals.append(_finess(dept, 9_500_000 + 370 * (2 * k + j)))
            hospital_dept.append(dept_index[dept])
            sisters.append(len(hospitals) - 1)
        site_start.append(len(sisters))
    entity_of = np.empty(len(hospitals), dtype=np.int64)
    entities: list[str] = []
    for i, dept in enumerate(dept_codes):
        first, end, serial = hospital_start[i], hospital_start[i + 1], 0
        while first < end:  # runs of 1-3 neighbouring hospitals form one entity (a CHU, a private group)
            size = min(end - first, 1 + int(sites_rng.choice(3, p=(0.7, 0.2, 0.1))))
            entity_of[first:first + size] = len(entities)
            entities.append(_finess(dept, 8_000_000 + 100 * serial))
            first, serial = first + size, serial + 1
    for k, dept in enumerate(CANCER_CENTRE_DEPARTEMENTS):
        entity_of[centre_hospital[k]] = len(entities)
        entity_of[sisters[site_start[k]:site_start[k + 1]]] = len(entities)
        entities.append(_finess(dept, 8_900_000 + 100 * k))
    assert n_general + len(CANCER_CENTRE_DEPARTEMENTS) + len(sisters) == len(hospitals)
    if len(set(hospitals) | set(entities)) != len(hospitals) + len(entities):  # pragma: no cover - fixed seed
        raise RuntimeError("duplicate FINESS numbers in the synthetic geography")

    # Residents go to the centre of their own département, else one of their region's
    # centres, else (regions without a centre) one of the Île-de-France centres.
    centre_depts = np.array(CANCER_CENTRE_DEPARTEMENTS)
    centre_regions = np.array([DEPARTEMENTS[d][1] for d in centre_depts])
    probs = np.zeros((len(dept_codes), len(centre_depts)))
    for i, dept in enumerate(dept_codes):
        same_dept = centre_depts == dept
        if same_dept.any():
            probs[i] = same_dept
        else:
            region = "IDF" if regions[i] in REGIONS_SERVED_FROM_PARIS else regions[i]
            probs[i] = centre_regions == region
        probs[i] /= probs[i].sum()

    return Geography(
        dept_codes=dept_codes,
        dept_weight=pops / pops.sum(),
        dept_region=regions,
        commune_codes=np.array(communes),
        commune_dept=np.array(commune_dept),
        commune_cum=np.concatenate(commune_cum),
        dept_commune_start=np.array(commune_start),
        hospital_finess=np.array(hospitals),
        hospital_dept=np.array(hospital_dept),
        hospital_cum=np.concatenate(hospital_cum),
        dept_hospital_start=np.array(hospital_start),
        centre_hospital=np.array(centre_hospital),
        dept_centre_cum=np.cumsum(probs, axis=1),
        centre_site_start=np.array(site_start),
        centre_sister_hospital=np.array(sisters, dtype=np.int64),
        hospital_entity=entity_of,
        entity_finess=np.array(entities),
    )


def finess_entities(geo: Geography | None = None) -> "pa.Table":
    """The FINESS -> legal entity map: one row per site, ``finess`` (géographique) and
    ``finess_juridique`` (its legal entity), sorted by site. Public register data in real
    life, so either holder (and the linkage unit) may hold it."""
    import pyarrow as pa

    geo = geo or france()
    order = np.argsort(geo.hospital_finess, kind="stable")
    return pa.table({"finess": pa.array(geo.hospital_finess[order], pa.string()),
                     "finess_juridique": pa.array(geo.entity_finess[geo.hospital_entity[order]], pa.string())})


def draw_within_groups(cum: np.ndarray, start: np.ndarray, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Draw one item per row from its group's cumulative distribution, vectorised.

    ``cum`` holds, group after group, each group's cumulative probabilities (ending at 1);
    ``start`` the groups' offsets. Returns global item indices.
    """
    lo = start[group]
    hi = start[group + 1]
    # shift each group's cumulative distribution by its group number to search them all at once
    keyed = cum + np.repeat(np.arange(len(start) - 1), np.diff(start))
    idx = np.searchsorted(keyed, group + u, side="right")
    return np.clip(idx, lo, hi - 1)
