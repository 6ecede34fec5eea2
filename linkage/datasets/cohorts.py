"""Several cohort programmes at once: who each one recruits, how it records them, and who is in two.

Harmonie chains three Unicancer real-world programmes to SNDS. Each is a separate data
holder with its own selection and its own recording habits:

- **CANTO** (CANcer TOxicities): women with early breast cancer (stage I-III) diagnosed
  2012-2017, followed prospectively: a research eCRF, names and NIRs collected more often;
- **ESME** (Epidemio-Strategy and Medical Economics): metastatic breast, lung and ovarian
  cancer, from the centres' information systems, entering at the metastatic diagnosis
  (at diagnosis for stage IV, at relapse for the earlier stages who die of their cancer);
- **ODH** (the centres' data hub): every cancer patient of every centre, at diagnosis.

A patient can be in two programmes (a CANTO patient who relapses joins ESME; ODH holds
patients of both), and then the two records may come from two centres: a patient referred
to another centre for their metastatic care has the later programme's record (and stays)
there. Within one programme a patient has one record: programmes deduplicate their own
patients, which is what makes a cohort a *duplicate-free* source for the clustering
(:mod:`linkage.multisource.clustering`); SNDS is not (second ids).

Overlap comes from the selection itself: each programme draws its patients among those
eligible, and a patient already in an earlier programme (treated in a centre, known to its
teams) is ``affinity`` times as likely to be drawn. The realised overlaps are reported in
``population.json`` and by ``harmonie simulate --cohorts``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import numpy as np

from harmonie.errors import InvalidParameter
from linkage.datasets import reference as ref
from linkage.datasets.params import SideCorruption

ENTRIES = ("diagnosis", "metastasis")
OPEN_END = 9999  # entry_years upper bound meaning "until the last simulated year"
SWITCH_MIN_DAYS = 90  # a later programme's record comes from another centre only if it starts this much later
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


@dataclass(frozen=True)
class CohortProgramme:
    """One cohort holder: whom it recruits, when they enter, and how it records them."""

    name: str
    n_patients: int
    id_prefix: str
    description: str = ""
    cancers: tuple[str, ...] = ref.CANCERS
    stages: tuple[int, ...] = (1, 2, 3, 4)
    sexes: tuple[int, ...] = (1, 2)            # 1 male, 2 female
    entry: str = "diagnosis"                    # or "metastasis": stage IV at diagnosis, else a relapse
    entry_years: tuple[int, int] = (1990, OPEN_END)
    affinity: float = 1.0                       # weight of patients already in an earlier programme
    other_centre_rate: float = 0.0              # of those, share whose record here comes from another centre
    cohort_only_rate: float = 0.03              # share of its patients absent from SNDS
    birth_name_recorded: float = 0.6
    centres_without_death_dates: float = 0.0
    corruption_changes: tuple[tuple[str, float], ...] = ()  # its habits, over the base cohort corruption

    def corruption(self, base: SideCorruption) -> SideCorruption:
        """This programme's recording rates: the base cohort rates (after --preset/--param) with its own changes."""
        return dataclasses.replace(base, **dict(self.corruption_changes))

    def validate(self) -> "CohortProgramme":
        where = f"cohort programme {self.name!r}"
        if not _NAME.match(self.name) or self.name == "snds":
            raise InvalidParameter(f"{where}: a name is lower-case letters, digits and '_' (not 'snds')")
        if not re.fullmatch(r"[A-Z]{2}", self.id_prefix) or self.id_prefix in ("SN", "CO"):
            raise InvalidParameter(f"{where}: id_prefix is two capital letters other than SN and CO")
        if self.n_patients < 0:
            raise InvalidParameter(f"{where}: the number of patients must be zero or more")
        if not set(self.cancers) <= set(ref.CANCERS) or not self.cancers:
            raise InvalidParameter(f"{where}: cancers are among {', '.join(ref.CANCERS)}")
        if not set(self.stages) <= {1, 2, 3, 4} or not self.stages or not set(self.sexes) <= {1, 2}:
            raise InvalidParameter(f"{where}: stages are 1-4 and sexes 1 (male) or 2 (female)")
        if self.entry not in ENTRIES:
            raise InvalidParameter(f"{where}: entry is one of {', '.join(ENTRIES)}")
        if self.entry_years[0] > self.entry_years[1]:
            raise InvalidParameter(f"{where}: entry_years is (first, last) with first <= last")
        for name in ("other_centre_rate", "cohort_only_rate", "birth_name_recorded", "centres_without_death_dates"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidParameter(f"{where}: {name} must be between 0 and 1")
        if not 0.0 < self.affinity < 1e6:
            raise InvalidParameter(f"{where}: affinity must be a positive number")
        known = {f.name for f in dataclasses.fields(SideCorruption)}
        for knob, value in self.corruption_changes:
            if knob not in known or not 0.0 <= value <= 1.0:
                raise InvalidParameter(f"{where}: corruption change {knob}={value} is not a known rate in [0, 1]")
        return self


# The three Unicancer programmes, with sizes of the example (193,000 patients in all
# at the Harmonie scale is e.g. canto:12000,esme:141000,odh:40000).
PROGRAMMES: dict[str, CohortProgramme] = {
    "canto": CohortProgramme(
        "canto", 12_000, "CA", "early breast cancer (stage I-III), women diagnosed 2012-2017, research eCRF",
        cancers=("breast",), stages=(1, 2, 3), sexes=(2,), entry_years=(2012, 2017),
        birth_name_recorded=0.9,
        corruption_changes=(("nir_missing", 0.4), ("name_typo", 0.02), ("first_name_only", 0.3),
                            ("death_missing", 0.05), ("stay_missing", 0.03))),
    "esme": CohortProgramme(
        "esme", 150_000, "ES", "metastatic breast, lung and ovarian cancer, from the centres' information systems",
        entry="metastasis", entry_years=(2008, OPEN_END), affinity=4.0, other_centre_rate=0.25,
        birth_name_recorded=0.5, corruption_changes=(("nir_missing", 0.8),)),
    "odh": CohortProgramme(
        "odh", 40_000, "OD", "every cancer patient of every centre, from the centres' data hub",
        entry_years=(2008, OPEN_END), affinity=6.0, other_centre_rate=0.2, birth_name_recorded=0.6,
        corruption_changes=(("nir_missing", 0.6), ("drop_accents", 0.5))),
}
COHORTS_EXAMPLE = "canto:12000,esme:150000,odh:40000"


def parse_cohorts(text: str, known: dict[str, CohortProgramme] | None = None) -> tuple[CohortProgramme, ...]:
    """``"canto:12000,esme:150000,odh:40000"`` -> the programmes with those sizes, in that order."""
    known = PROGRAMMES if known is None else known
    items = [item.strip() for item in (text or "").split(",")]
    if not text or not text.strip() or any(not item for item in items):
        raise InvalidParameter(f"--cohorts expects NAME:SIZE pairs separated by commas, e.g. {COHORTS_EXAMPLE}")
    chosen: dict[str, CohortProgramme] = {}
    for item in items:
        name, sep, size = (part.strip() for part in item.partition(":"))
        if not sep:
            raise InvalidParameter(f"--cohorts: {item!r} lacks its size; write NAME:SIZE, e.g. {COHORTS_EXAMPLE}")
        if name.lower() not in known:
            raise InvalidParameter(f"unknown cohort programme {name!r} in --cohorts (known: {', '.join(known)})")
        if name.lower() in chosen:
            raise InvalidParameter(f"cohort {name!r} given twice in --cohorts")
        if not re.fullmatch(r"\d{1,9}", size.replace("_", "")):
            raise InvalidParameter(f"--cohorts: the size of {name!r} must be a whole number of patients, got {size!r}")
        chosen[name.lower()] = dataclasses.replace(known[name.lower()], n_patients=int(size.replace("_", "")))
    return tuple(p.validate() for p in chosen.values())


def parse_years(text: str) -> tuple[int, int]:
    """``"2025-2030"`` -> (2025, 2030); ``"2025"`` -> (2025, 2025)."""
    first, sep, last = (text or "").strip().partition("-")
    if not re.fullmatch(r"\d{4}", first) or (sep and not re.fullmatch(r"\d{4}", last)):
        raise InvalidParameter(f"--years expects FIRST-LAST (e.g. 2025-2030) or one year, got {text!r}")
    years = (int(first), int(last) if sep else int(first))
    if years[0] > years[1] or years[1] - years[0] > 20:
        raise InvalidParameter(f"--years: {text!r} must run forwards over at most 20 years (e.g. 2025-2030)")
    return years


# --- selection -------------------------------------------------------------------------------------

@dataclass
class Membership:
    """Who is in which programme: per programme (in order) its members (person indices, sorted) and
    the day each entered; per person whether they are absent from SNDS, and their second centre."""

    members: list[np.ndarray]
    entry: list[np.ndarray]
    cohort_only: np.ndarray                       # bool per person
    metastasis: np.ndarray                        # day of the metastatic diagnosis, -1 for none
    switch_day: np.ndarray | None = None          # per person: day their care moves to a second centre, -1 none
    second_centre: np.ndarray | None = None       # per person: that centre, -1 none
    programme_centre: list[np.ndarray] = field(default_factory=list)  # per programme, per member: its centre

    def union(self) -> np.ndarray:
        return np.unique(np.concatenate(self.members)) if self.members else np.zeros(0, dtype=np.int64)


def metastasis_days(rng: np.random.Generator, cancer: np.ndarray, stage: np.ndarray, diagnosis: np.ndarray,
                    death: np.ndarray, died_of_cancer: np.ndarray) -> np.ndarray:
    """The day each person's cancer is known to be metastatic: at diagnosis for stage IV, else a relapse
    3 months to 3 years before dying of it (no sooner than 6 months after diagnosis); -1 for none."""
    day = np.full(len(cancer), -1, dtype=np.int32)
    day[stage == 4] = diagnosis[stage == 4]
    relapsed = (stage < 4) & died_of_cancer & (death >= 0)
    before = (90 + rng.random(int(relapsed.sum())) * 3 * 365).astype(np.int32)
    day[relapsed] = np.maximum(death[relapsed] - before, np.minimum(diagnosis[relapsed] + 180, death[relapsed]))
    return day


def select_members(rng: np.random.Generator, programmes: tuple[CohortProgramme, ...], *, cancer: np.ndarray,
                   stage: np.ndarray, sex: np.ndarray, diagnosis: np.ndarray, metastasis: np.ndarray,
                   end_day: int, in_snds: np.ndarray) -> Membership:
    """Draw each programme's patients among those eligible (cancer, stage, sex, entry in its years),
    patients of earlier programmes ``affinity`` times as likely (weighted sampling without
    replacement, Efraimidis-Spirakis keys), then its cohort-only ones among them, never among those
    ``in_snds`` marks as certainly there (twins share an account holder in SNDS)."""
    from linkage.datasets.persons import day_number

    n = len(cancer)
    taken = np.zeros(n, dtype=bool)
    members, entries = [], []
    cohort_only = np.zeros(n, dtype=bool)
    for prog in programmes:
        entry = diagnosis if prog.entry == "diagnosis" else metastasis
        first = day_number(f"{prog.entry_years[0]}-01-01")
        last = min(day_number(f"{min(prog.entry_years[1], 2200)}-12-31"), end_day)
        eligible = (np.isin(cancer, [ref.CANCERS.index(c) for c in prog.cancers]) & np.isin(stage, prog.stages)
                    & np.isin(sex, prog.sexes) & (entry >= first) & (entry <= last))
        pool = np.flatnonzero(eligible)
        if len(pool) < prog.n_patients:
            raise InvalidParameter(
                f"cohort {prog.name!r} needs {prog.n_patients:,} patients but the simulated population holds "
                f"{len(pool):,} eligible ones ({prog.description}): raise --snds or lower its size in --cohorts")
        keys = rng.exponential(size=len(pool)) / np.where(taken[pool], prog.affinity, 1.0)
        chosen = np.sort(pool[np.argsort(keys, kind="stable")[:prog.n_patients]])
        candidates = chosen[~in_snds[chosen]]
        only = rng.permutation(candidates)[:int(round(prog.n_patients * prog.cohort_only_rate))]
        cohort_only[only] = True
        taken[chosen] = True
        members.append(chosen)
        entries.append(entry[chosen].astype(np.int32))
    return Membership(members, entries, cohort_only, metastasis)


def assign_second_centres(rng: np.random.Generator, membership: Membership, programmes: tuple[CohortProgramme, ...],
                          centre: np.ndarray, dept_centre_cum: np.ndarray, dept: np.ndarray) -> None:
    """For patients in two programmes whose later entry comes ``SWITCH_MIN_DAYS`` after their first, a
    share ``other_centre_rate`` (the later programme's) is cared for at another centre from that entry
    on: that programme's record comes from there. Sets ``switch_day``, ``second_centre`` and each
    programme's centre per member."""
    n = len(centre)
    first_entry = np.full(n, np.iinfo(np.int32).max, dtype=np.int64)
    for members, entry in zip(membership.members, membership.entry):
        np.minimum.at(first_entry, members, entry)
    switch = np.full(n, -1, dtype=np.int64)
    for prog, members, entry in zip(programmes, membership.members, membership.entry):
        later = (entry >= first_entry[members] + SWITCH_MIN_DAYS) & (switch[members] < 0)
        moving = members[later & (rng.random(len(members)) < prog.other_centre_rate)]
        switch[moving] = entry[np.searchsorted(members, moving)]
    movers = np.flatnonzero(switch >= 0)
    k = dept_centre_cum.shape[1]
    second = np.full(n, -1, dtype=np.int64)
    drawn = np.minimum((rng.random((len(movers), 1)) > dept_centre_cum[dept[movers]]).sum(axis=1), k - 1)
    same = drawn == centre[movers]  # their region's only centre: referred to any other one
    drawn[same] = (centre[movers][same] + 1 + rng.integers(0, k - 1, size=int(same.sum()))) % k
    second[movers] = drawn
    membership.switch_day, membership.second_centre = switch, second
    membership.programme_centre = [
        np.where((switch[members] >= 0) & (entry >= switch[members]), second[members], centre[members])
        for members, entry in zip(membership.members, membership.entry)]


def overlaps(membership: Membership, names: list[str]) -> dict:
    """Patients per programme, in each pair and in all of them, absent from SNDS, cared for in two centres."""
    n = len(membership.cohort_only)
    inside = np.zeros((len(names), n), dtype=bool)
    for k, members in enumerate(membership.members):
        inside[k, members] = True
    count = inside.sum(axis=0)
    pairs = {f"{a}+{b}": int((inside[i] & inside[j]).sum())
             for i, a in enumerate(names) for j, b in enumerate(names) if i < j}
    two_centres = int(((membership.switch_day if membership.switch_day is not None else np.full(n, -1)) >= 0).sum())
    return {"patients": {name: int(inside[k].sum()) for k, name in enumerate(names)},
            "distinct_persons": int((count > 0).sum()),
            "in_two_or_more": int((count >= 2).sum()), "in_every_programme": int((count == len(names)).sum())
            if len(names) > 1 else 0,
            "pairs": pairs, "cohort_only_persons": int((membership.cohort_only & (count > 0)).sum()),
            "records_from_two_centres": two_centres}
