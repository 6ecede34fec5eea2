"""Care events: hospital stays (PMSI) and drug dispensings (DCIR) as patient-level care
pathways coherent with each person's treatments, vectorised.

Every person's pathway follows their treatments (:mod:`linkage.datasets.clinical`):

- a **work-up stay** (coded with the cancer, one night or more) in the month before diagnosis;
- **surgery**: one surgical stay (GHM type ``C``) 2-8 weeks after diagnosis, of one night or
  more (a few for breast, about a week for lung and ovarian);
- **chemotherapy**: day sessions (main diagnosis Z51.1, GHM 28Z07, admission = discharge)
  in cycles of 21 days (4-8 cycles; some regimens every 14 or 7 days), delayed a few days
  now and then, on working days, after surgery when there is one;
- **trastuzumab** (HER2+ breast targeted therapy): Z51.1 sessions every 21 days for up to a
  year, the first ones with the chemotherapy; the oral targeted therapies (lung L01EB04,
  ovarian L01XK01) are town-pharmacy dispensings every ~28 days;
- **radiotherapy**: Z51.0 day sessions (GHM 28Z11) on consecutive working days after
  surgery and chemotherapy. Most fractions are billed outside PMSI (private radiotherapy
  centres, ``radiotherapy_in_pmsi`` of the courses are filed there) and PMSI holds 5-15
  sessions of a course;
- **hormone therapy** (HR+ breast): one of tamoxifen (mostly before 50), anastrozole or
  letrozole, dispensed every ~84 days (3 boxes) or ~28 days (1 box) for up to 5 years,
  until death or an earlier stop; calcium/vitamin D with the aromatase inhibitors;
- **chemotherapy support**: an antiemetic (A04AA01) just before, and G-CSF (L03AA13) just
  after, some chemotherapy sessions; oral capecitabine (L01BC06) after intravenous
  chemotherapy for some breast patients;
- **other medical stays** (the cancer or a complication as main diagnosis, one night or
  more) spread over follow-up, more often in advanced stages and the first months; their
  number makes the mean number of stays per person ``stays_per_beneficiary``;
- **end of life**: a palliative stay (Z51.5, GHM 23Z02) ending at or shortly before death
  for a share of those who die, morphine (N02AA01) dispensings in their last weeks;
- **other dispensings** (corticosteroids, anticoagulants, codeine) over follow-up, as many
  as make the mean number of dispensings per SNDS beneficiary ``dispensings_per_beneficiary``.

Nothing happens before the work-up window (30 days before diagnosis) nor after death or
the end of follow-up; no dispensing precedes diagnosis; day sessions last no night and
every other stay one night or more. Each stay takes place in a hospital of the person's
département, or in their cancer centre (cohort patients mostly). Each stay has a GHM-like
root and a cost (GHS-like tariff of the GHM, a supplement per night above its high bound,
a small lognormal noise); each dispensing a cost (price per box x boxes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from linkage.datasets import reference as ref
from linkage.datasets.geography import Geography, draw_within_groups
from linkage.datasets.params import ClinicalEffects

BREAST, LUNG, OVARIAN = (ref.CANCERS.index(c) for c in ("breast", "lung", "ovarian"))
WORKUP_WINDOW_DAYS = 30        # nothing is recorded earlier than this before diagnosis
DAYS_PER_YEAR = 365.25

# chemotherapy regimens by cancer: (days between sessions, fewest and most sessions, share)
CHEMO_REGIMENS: dict[int, tuple[tuple[int, int, int, float], ...]] = {
    BREAST: ((21, 4, 8, 0.55), (14, 4, 8, 0.15), (7, 9, 12, 0.30)),
    LUNG: ((21, 4, 6, 0.85), (7, 6, 12, 0.15)),
    OVARIAN: ((21, 6, 6, 0.75), (7, 9, 12, 0.25)),
}
CYCLE_DELAY_RATE = 0.2         # a session put off by 1-7 days (toxicity, holidays)
TRASTUZUMAB_SESSIONS = 17      # a year of 3-weekly sessions
# nights of a surgical stay: fewest + a geometric number, by cancer
SURGERY_NIGHTS = {BREAST: (1, 0.5), LUNG: (4, 0.3), OVARIAN: (3, 0.25)}
RADIOTHERAPY_PMSI_SESSIONS = (5, 15)
# weight of other medical stays by stage I..IV and by cancer (lung patients are admitted most)
OTHER_STAY_STAGE_WEIGHT = np.array([0.5, 0.8, 1.3, 2.2])
OTHER_STAY_CANCER_WEIGHT = np.array([0.8, 1.3, 1.2])
OTHER_STAY_EARLY_SHARE = 0.5   # share of other stays in the first 9 months after diagnosis
OTHER_STAY_CANCER_CODED = 0.5  # share of other stays coded with the cancer itself
ANTIEMETIC_RATE = 0.25         # chemotherapy sessions with an antiemetic dispensed just before
GCSF_RATE = (0.1, 0.9)         # and with G-CSF just after: other regimens, 14-day (dose-dense) ones
CALCIUM_WITH_INHIBITOR_RATE = 0.15 # aromatase inhibitor dispensings with calcium + vitamin D
CAPECITABINE_RATE = 0.15       # breast chemotherapy patients given oral capecitabine afterwards
COST_NOISE_SD = 0.08           # lognormal noise on stay costs
PRICE_NOISE_SD = 0.03          # and on dispensing costs (price changes over the years)


@dataclass
class Stays:
    person: np.ndarray     # int32 index of the person
    hospital: np.ndarray   # int32 index into the geography's hospitals
    admission: np.ndarray  # int32 days since 1970
    discharge: np.ndarray  # int32 days
    diagnosis: np.ndarray  # int16 index into DIAGNOSIS_CODES
    ghm: np.ndarray | None = None   # int16 index into GHM_CODES
    cost: np.ndarray | None = None  # int32 euro cents

    def __len__(self) -> int:
        return len(self.person)

    def subset(self, rows: np.ndarray) -> "Stays":
        return Stays(*(None if a is None else a[rows] for a in (getattr(self, f.name) for f in dataclasses.fields(self))))

    def moved(self, admission: np.ndarray, discharge: np.ndarray) -> "Stays":
        """The same stays at other dates."""
        return dataclasses.replace(self, admission=admission, discharge=discharge)


DIAGNOSIS_CODES: tuple[str, ...] = tuple(dict.fromkeys(
    [code for c in ref.CANCERS for code in ref.CANCER_ICD10[c]]
    + list(ref.SESSION_ICD10.values()) + list(ref.OTHER_STAY_ICD10) + [ref.PALLIATIVE_ICD10]
))
_DIAG_INDEX = {code: i for i, code in enumerate(DIAGNOSIS_CODES)}
GHM_CODES: tuple[str, ...] = tuple(ref.GHS_TARIFF_EUR)
_GHM_INDEX = {code: i for i, code in enumerate(GHM_CODES)}
_TARIFF_CENTS = np.array([round(ref.GHS_TARIFF_EUR[g] * 100) for g in GHM_CODES], dtype=np.float64)
_HIGH_BOUND = np.array([ref.GHS_HIGH_BOUND_NIGHTS[g] for g in GHM_CODES], dtype=np.int32)
ATC_CODES: tuple[str, ...] = tuple(ref.ATC_PRICE_EUR)
_ATC_INDEX = {code: i for i, code in enumerate(ATC_CODES)}
_PRICE_CENTS = np.array([round(ref.ATC_PRICE_EUR[a] * 100) for a in ATC_CODES], dtype=np.float64)


@dataclass
class CarePeople:
    """What the pathways depend on, one entry per person."""

    cancer: np.ndarray       # int8
    stage: np.ndarray        # int8 1..4
    subtype: np.ndarray      # object
    age: np.ndarray          # float years at diagnosis
    diagnosis: np.ndarray    # int32 days
    last_day: np.ndarray     # int32 days: death or end of follow-up
    dead: np.ndarray         # bool
    treatments: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.cancer)

    def take(self, rows: np.ndarray | slice) -> "CarePeople":
        return CarePeople(self.cancer[rows], self.stage[rows], self.subtype[rows], self.age[rows],
                          self.diagnosis[rows], self.last_day[rows], self.dead[rows],
                          {k: v[rows] for k, v in self.treatments.items()})


# --- small vectorised helpers ------------------------------------------------------------

def _working_day(day: np.ndarray) -> np.ndarray:
    """The day itself, or the Monday after when it falls on a weekend (1970-01-01 was a Thursday)."""
    weekday = (day + 3) % 7  # 0 = Monday
    return (day + np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0))).astype(np.int32)


def _positions(count: np.ndarray) -> np.ndarray:
    """0, 1, ..., count[i]-1 for each i, concatenated."""
    count = count.astype(np.int64)
    starts = np.cumsum(count) - count
    return (np.arange(int(count.sum()), dtype=np.int64) - np.repeat(starts, count)).astype(np.int32)


def _series(rng: np.random.Generator, owner: np.ndarray, start: np.ndarray, count: np.ndarray,
            interval: np.ndarray, delay_rate: float, max_delay: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events every ``interval`` days from ``start``, ``count`` of them per owner, each gap
    lengthened by 1..``max_delay`` days with probability ``delay_rate``: (owner, day, position)."""
    keep = count > 0
    owner, start, count, interval = owner[keep], start[keep], count[keep], interval[keep]
    position = _positions(count)
    gap = np.repeat(interval.astype(np.int32), count)
    if delay_rate > 0 and len(gap):
        delayed = rng.random(len(gap), dtype=np.float32) < delay_rate
        gap = gap + np.where(delayed, rng.integers(1, max_delay + 1, size=len(gap), dtype=np.int32), 0)
    gap[position == 0] = 0
    offset = np.cumsum(gap, dtype=np.int64)
    offset -= np.repeat(offset[np.cumsum(count) - count], count)
    day = (np.repeat(start.astype(np.int64), count) + offset).astype(np.int32)
    return np.repeat(owner, count).astype(np.int32), day, position


def _last_per_owner(owner: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """Per owner (0..n-1), the value of its last event; -1 for none. Events come grouped by
    owner, in ascending owner order, each owner's in time order (as :func:`_series` gives them)."""
    out = np.full(n, -1, dtype=np.int32)
    if len(owner):
        last = np.r_[np.flatnonzero(np.diff(owner)), len(owner) - 1]
        out[owner[last]] = value[last]
    return out


def _death_cap(people: "CarePeople") -> np.ndarray:
    """Per person, the day a treatment's first event is moved back to: their death, or none."""
    return np.where(people.dead, people.last_day, np.iinfo(np.int32).max).astype(np.int64)


def _squeeze(day: np.ndarray, people: "CarePeople", rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """A first event's day, no later than death (a weekend death: the day of death itself),
    no earlier than diagnosis."""
    last, dead = people.last_day[rows], people.dead[rows]
    day = np.where(dead & (day > last), last, day)
    return np.maximum(day, people.diagnosis[rows]).astype(np.int32)


def _uniform_days(rng: np.random.Generator, lo, hi, size: int) -> np.ndarray:
    """Integers uniform in [lo, hi] (inclusive), lo and hi scalars or arrays."""
    return (np.asarray(lo) + np.floor(rng.random(size) * (np.asarray(hi) - np.asarray(lo) + 1))).astype(np.int32)


# --- the treatment timeline --------------------------------------------------------------

@dataclass
class Timeline:
    """Per person: when each treatment takes place (days; -1 when not given)."""

    surgery_admission: np.ndarray
    surgery_nights: np.ndarray
    treatment_end: np.ndarray          # end of surgery, chemotherapy and trastuzumab sessions (as planned)
    chemo_end: np.ndarray              # last chemotherapy session (as planned)
    radiotherapy_end: np.ndarray       # last fraction of the radiotherapy course
    session_person: np.ndarray         # Z51.1 sessions (chemotherapy, trastuzumab)
    session_day: np.ndarray
    session_chemo: np.ndarray          # bool: a chemotherapy session (else trastuzumab alone)
    session_dose_dense: np.ndarray     # bool: of a 14-day regimen (G-CSF given every cycle)
    radio_person: np.ndarray           # Z51.0 sessions filed in PMSI
    radio_day: np.ndarray


def plan_treatments(rng: np.random.Generator, people: CarePeople, effects: ClinicalEffects) -> Timeline:
    """Dates of surgery, chemotherapy and trastuzumab sessions, radiotherapy, for every person.

    Treatments are drawn whatever the survival (so that their hazard ratios are those
    planted), hence for those who die before a treatment's planned start, its first event is
    moved to their last days: every treatment flag of someone who died shows in the claims.
    Events after death or the end of follow-up are not recorded."""
    n = len(people)
    dx, last = people.diagnosis.astype(np.int32), people.last_day.astype(np.int32)
    cancer, t = people.cancer, people.treatments
    lo = dx - WORKUP_WINDOW_DAYS
    cap = _death_cap(people)

    # surgery 2-8 weeks after diagnosis, on a working day
    surgery_admission = np.full(n, -1, dtype=np.int32)
    surgery_nights = np.zeros(n, dtype=np.int32)
    operated = np.flatnonzero(t["surgery"])
    nights = np.empty(len(operated), dtype=np.int32)
    for k, (fewest, p) in SURGERY_NIGHTS.items():
        rows = cancer[operated] == k
        nights[rows] = fewest + rng.geometric(p, size=int(rows.sum())) - 1
    nights = np.minimum(np.maximum(nights, 1), last[operated] - lo[operated])
    admission = _working_day(dx[operated] + _uniform_days(rng, 14, 56, len(operated)))
    admission = np.clip(admission, lo[operated], cap[operated] - nights)
    after_surgery = dx.copy()  # the rest of the plan follows surgery, recorded or not
    after_surgery[operated] = admission + nights
    seen = admission + nights <= last[operated]  # not after the end of follow-up
    surgery_admission[operated[seen]] = admission[seen]
    surgery_nights[operated[seen]] = nights[seen]

    # chemotherapy (and trastuzumab) sessions
    her2_targeted = t["targeted_therapy"] & (cancer == BREAST) & (people.subtype == "HER2+")
    sessions = t["chemotherapy"] | her2_targeted
    start = np.where(t["surgery"], after_surgery + _uniform_days(rng, 21, 42, n),
                     dx + _uniform_days(rng, 7, 28, n))
    start = _squeeze(_working_day(np.minimum(start, cap)), people)
    interval = np.zeros(n, dtype=np.int32)
    cycles = np.zeros(n, dtype=np.int32)
    u = rng.random(n)
    for k, regimens in CHEMO_REGIMENS.items():
        rows = np.flatnonzero((cancer == k) & t["chemotherapy"])
        shares = np.cumsum([r[3] for r in regimens])
        choice = np.minimum(np.searchsorted(shares / shares[-1], u[rows], side="right"), len(regimens) - 1)
        for j, (days, fewest, most, _) in enumerate(regimens):
            chosen = rows[choice == j]
            interval[chosen] = days
            cycles[chosen] = rng.integers(fewest, most + 1, size=len(chosen))
    # HER2+ on trastuzumab: 3-weekly chemotherapy with it, then trastuzumab alone, a year in all
    her2_chemo = her2_targeted & t["chemotherapy"]
    interval[her2_targeted] = 21
    cycles[her2_chemo] = rng.integers(4, 9, size=int(her2_chemo.sum()))
    count = np.where(her2_targeted, TRASTUZUMAB_SESSIONS, cycles)
    owners = np.flatnonzero(sessions)
    s_person, s_day, s_pos = _series(rng, owners.astype(np.int32), start[owners], count[owners], interval[owners],
                                     CYCLE_DELAY_RATE, 7)
    s_day = np.where(s_pos == 0, s_day, _working_day(s_day))  # the first is on a working day, or squeezed
    s_chemo = s_pos < cycles[s_person]
    # the plan's ends (what follows is timed from them, recorded or not), then what is recorded
    chemo_end = _last_per_owner(s_person[s_chemo], s_day[s_chemo], n)
    treatment_end = np.maximum(_last_per_owner(s_person, s_day, n), after_surgery).astype(np.int32)
    keep = s_day <= last[s_person]
    s_person, s_day, s_chemo = s_person[keep], s_day[keep], s_chemo[keep]
    dose_dense = interval[s_person] == 14

    # radiotherapy: after chemotherapy (and surgery), on consecutive working days
    radiotherapy_end = np.full(n, -1, dtype=np.int32)
    radiated = np.flatnonzero(t["radiotherapy"])
    r_start = np.where(chemo_end[radiated] >= 0, chemo_end[radiated] + _uniform_days(rng, 21, 35, len(radiated)),
                       np.where(t["surgery"][radiated],
                                after_surgery[radiated] + _uniform_days(rng, 28, 56, len(radiated)),
                                dx[radiated] + _uniform_days(rng, 14, 42, len(radiated))))
    r_start = _squeeze(_working_day(np.minimum(r_start, cap[radiated])), people, radiated)
    fractions = np.where(cancer[radiated] == BREAST, rng.integers(15, 26, size=len(radiated)), 30)
    weekday = (r_start + 3) % 7
    course_end = r_start + (fractions - 1) + 2 * ((weekday + fractions - 1) // 5)
    radiotherapy_end[radiated] = course_end
    in_pmsi = radiated[rng.random(len(radiated)) < effects.radiotherapy_in_pmsi]
    recorded = rng.integers(RADIOTHERAPY_PMSI_SESSIONS[0], RADIOTHERAPY_PMSI_SESSIONS[1] + 1, size=len(in_pmsi))
    first = r_start[np.searchsorted(radiated, in_pmsi)]
    r_person = np.repeat(in_pmsi.astype(np.int32), recorded)
    j = _positions(recorded)
    first_rep = np.repeat(first, recorded)
    r_day = (first_rep + j + 2 * (((first_rep + 3) % 7 + j) // 5)).astype(np.int32)
    keep = r_day <= last[r_person]
    r_person, r_day = r_person[keep], r_day[keep]
    return Timeline(surgery_admission, surgery_nights, treatment_end, chemo_end, radiotherapy_end,
                    s_person, s_day, s_chemo, dose_dense, r_person, r_day)


# --- stays -----------------------------------------------------------------------------------

def draw_stays(rng: np.random.Generator, geo: Geography, people: CarePeople, timeline: Timeline, *,
               residence_dept: np.ndarray, centre: np.ndarray, centre_share: np.ndarray, mean_stays: float,
               effects: ClinicalEffects) -> Stays:
    """Every person's true hospital stays (see the module docstring), grouped by kind, not by date."""
    n = len(people)
    if n == 0 or mean_stays == 0:
        empty = np.zeros(0, dtype=np.int32)
        return Stays(empty, empty, empty, empty, empty.astype(np.int16), empty.astype(np.int16), empty)
    cancer, stage = people.cancer, people.stage
    dx, last = people.diagnosis.astype(np.int32), people.last_day.astype(np.int32)
    lo = dx - WORKUP_WINDOW_DAYS
    parts = []  # (person, admission, discharge, diagnosis, ghm) per kind

    def cancer_codes(rows_cancer: np.ndarray) -> np.ndarray:
        out = np.empty(len(rows_cancer), dtype=np.int16)
        for k, name in enumerate(ref.CANCERS):
            rows = np.flatnonzero(rows_cancer == k)
            codes = np.array([_DIAG_INDEX[c] for c in ref.CANCER_ICD10[name]], dtype=np.int16)
            out[rows] = codes[rng.integers(len(codes), size=len(rows))]
        return out

    medical = np.array([[_GHM_INDEX[g] for g in ref.GHM_MEDICAL[c]] for c in ref.CANCERS], dtype=np.int16)

    # work-up: admitted 1-28 days before diagnosis, one night or more
    everyone = np.arange(n, dtype=np.int32)
    nights = np.minimum(rng.geometric(0.5, size=n), 14).astype(np.int32)
    admission = dx - _uniform_days(rng, 1, WORKUP_WINDOW_DAYS - 2, n)
    admission = np.minimum(admission, last - nights)
    parts.append((everyone, admission, admission + nights, cancer_codes(cancer), medical[cancer, 0]))

    # surgery
    operated = np.flatnonzero(timeline.surgery_admission >= 0).astype(np.int32)
    ghm = np.empty(len(operated), dtype=np.int16)
    for k, name in enumerate(ref.CANCERS):
        rows = np.flatnonzero(cancer[operated] == k)
        codes = np.array([_GHM_INDEX[g] for g in ref.GHM_SURGERY[name]], dtype=np.int16)
        if name == "breast":  # total mastectomy more often in later stages
            total = rng.random(len(rows)) < np.array([0.25, 0.35, 0.6, 0.6])[stage[operated[rows]] - 1]
            ghm[rows] = codes[total.astype(np.int64)]
        else:
            ghm[rows] = codes[rng.integers(len(codes), size=len(rows))]
    a = timeline.surgery_admission[operated]
    parts.append((operated, a, a + timeline.surgery_nights[operated], cancer_codes(cancer[operated]), ghm))

    # day sessions: chemotherapy / trastuzumab (Z51.1), radiotherapy (Z51.0)
    for person, day, code, g in (
            (timeline.session_person, timeline.session_day, ref.SESSION_ICD10["chemotherapy"],
             ref.GHM_CHEMOTHERAPY_SESSION),
            (timeline.radio_person, timeline.radio_day, ref.SESSION_ICD10["radiotherapy"],
             ref.GHM_RADIOTHERAPY_SESSION)):
        parts.append((person, day, day, np.full(len(person), _DIAG_INDEX[code], dtype=np.int16),
                      np.full(len(person), _GHM_INDEX[g], dtype=np.int16)))

    # end of life: a palliative stay ending on the day of death or a few days before
    dying = np.flatnonzero(people.dead & (rng.random(n) < effects.palliative_stay_rate)).astype(np.int32)
    discharge = last[dying] - np.where(rng.random(len(dying)) < 0.7, 0, _uniform_days(rng, 1, 5, len(dying)))
    nights = np.minimum(1 + rng.geometric(0.08, size=len(dying)), 90).astype(np.int32)
    admission = np.minimum(np.maximum(discharge - nights, dx[dying]), last[dying] - 1)  # from diagnosis on
    discharge = np.maximum(discharge, admission + 1)
    parts.append((dying, admission, discharge, np.full(len(dying), _DIAG_INDEX[ref.PALLIATIVE_ICD10], np.int16),
                  np.full(len(dying), _GHM_INDEX[ref.GHM_PALLIATIVE], np.int16)))

    # other medical stays, as many as make the mean number of stays per person mean_stays
    structured = sum(len(part[0]) for part in parts)
    wanted = max(mean_stays * n - structured, 0.0)
    follow_up = np.maximum(last - dx, 0) / DAYS_PER_YEAR
    weight = OTHER_STAY_STAGE_WEIGHT[stage - 1] * OTHER_STAY_CANCER_WEIGHT[cancer] * (1.0 + 0.35 * np.minimum(follow_up, 10))
    weight *= rng.gamma(2.0, 0.5, size=n)  # some people are admitted far more than others
    count = rng.poisson(wanted * weight / weight.sum())
    person = np.repeat(everyone, count)
    m = len(person)
    span = np.maximum(last[person] - dx[person], 0)
    early = rng.random(m, dtype=np.float32) < OTHER_STAY_EARLY_SHARE
    limit = np.where(early, np.minimum(span, 270), span)
    admission = dx[person] + (rng.random(m, dtype=np.float32) * limit).astype(np.int32)
    nights = np.minimum(rng.geometric(0.15, size=m), 60).astype(np.int32)
    diag = np.empty(m, dtype=np.int16)
    coded = rng.random(m, dtype=np.float32) < OTHER_STAY_CANCER_CODED
    diag[coded] = cancer_codes(cancer[person[coded]])
    other = np.array([_DIAG_INDEX[c] for c in ref.OTHER_STAY_ICD10], dtype=np.int16)
    diag[~coded] = other[rng.integers(len(other), size=int((~coded).sum()))]
    metastasis = np.isin(diag, [_DIAG_INDEX[c] for c in ref.OTHER_STAY_ICD10 if c.startswith("C")])
    ghm = medical[cancer[person], np.where(coded, 0, np.where(metastasis, 2, 1))]
    parts.append((person, admission, admission + nights, diag, ghm))
    del span, early, limit, coded, metastasis

    # together, every full stay fitted in [work-up window, last day]
    person = np.concatenate([p[0] for p in parts]).astype(np.int32)
    admission = np.concatenate([p[1] for p in parts]).astype(np.int32)
    discharge = np.concatenate([p[2] for p in parts]).astype(np.int32)
    diag = np.concatenate([p[3] for p in parts]).astype(np.int16)
    ghm = np.concatenate([p[4] for p in parts]).astype(np.int16)
    del parts
    session = discharge == admission
    admission = np.maximum(admission, lo[person])
    keep = np.where(session, admission <= last[person], admission < last[person])
    person, admission, discharge, diag, ghm, session = (a[keep] for a in (person, admission, discharge, diag, ghm,
                                                                          session))
    discharge = np.where(session, admission, np.clip(discharge, admission + 1, last[person])).astype(np.int32)
    del keep

    nights = discharge - admission
    extra = np.maximum(nights - _HIGH_BOUND[ghm], 0)
    noise = np.exp(rng.normal(-COST_NOISE_SD ** 2 / 2, COST_NOISE_SD, size=len(person)).astype(np.float32))
    cost = np.round(_TARIFF_CENTS[ghm] * noise + extra * ref.GHS_EXTRA_NIGHT_EUR * 100).astype(np.int32)
    del nights, extra, noise

    m = len(person)
    person_centre = centre[person]
    at_centre = (person_centre >= 0) & (rng.random(m, dtype=np.float32) < centre_share[person])
    hospital = draw_within_groups(geo.hospital_cum, geo.dept_hospital_start, residence_dept[person],
                                  rng.random(m, dtype=np.float32)).astype(np.int32)
    hospital[at_centre] = geo.centre_hospital[person_centre[at_centre]]
    return Stays(person, hospital, admission, discharge, diag, ghm, cost)


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
    return stays.moved(admission, discharge), rows


def shift_days(rng: np.random.Generator, stays: Stays, rate: float) -> tuple[Stays, np.ndarray]:
    """A copy where a share of stays is recorded a day early or late (both dates move)."""
    rows = np.flatnonzero(rng.random(len(stays), dtype=np.float32) < rate)
    delta = rng.choice(np.array([-1, 1], dtype=np.int32), size=len(rows))
    admission, discharge = stays.admission.copy(), stays.discharge.copy()
    admission[rows] += delta
    discharge[rows] += delta
    return stays.moved(admission, discharge), rows


# --- dispensings --------------------------------------------------------------------------------

@dataclass
class Dispensings:
    person: np.ndarray     # int32 index of the person (grouped by kind, not sorted by date)
    date: np.ndarray       # int32 days
    atc: np.ndarray        # int16 index into ATC_CODES
    quantity: np.ndarray   # int8 boxes
    cost: np.ndarray | None = None  # int32 euro cents

    def __len__(self) -> int:
        return len(self.person)


def draw_dispensings(rng: np.random.Generator, people: CarePeople, timeline: Timeline, *, mean_count: float,
                     effects: ClinicalEffects) -> Dispensings:
    """Drug dispensings in town pharmacies between diagnosis and death or the end of follow-up,
    for the people given (the first ones of the timeline: SNDS's)."""
    n = len(people)
    if n == 0 or mean_count == 0:
        empty = np.zeros(0, dtype=np.int32)
        return Dispensings(empty, empty, empty.astype(np.int16), empty.astype(np.int8), empty)
    cancer, t = people.cancer, people.treatments
    dx, last = people.diagnosis.astype(np.int32), people.last_day.astype(np.int32)
    cap = _death_cap(people)
    parts = []  # (person, date, atc, quantity)

    def add(person, date, code, quantity):
        atc = code if isinstance(code, np.ndarray) else np.full(len(person), _ATC_INDEX[code], dtype=np.int16)
        quantity = np.broadcast_to(np.asarray(quantity, dtype=np.int8), (len(person),))
        parts.append((person.astype(np.int32), date.astype(np.int32), atc, quantity))

    def regular(owner, start, end, interval, jitter):
        """Dispensings every ``interval`` + 1..``jitter`` days from ``start`` until ``end``, death or
        the end of follow-up: (person, date), for distinct owners."""
        end = np.minimum(end, last[owner])
        count = np.maximum((end - start) // interval + 1, 0).astype(np.int64)
        person, day, _ = _series(rng, owner, start, count, np.full(len(owner), interval), 1.0, jitter)
        limit = np.full(n, -1, dtype=np.int64)
        limit[owner] = end
        inside = day <= limit[person]
        return person[inside], day[inside]

    # hormone therapy (HR+ breast): one drug, every ~84 or ~28 days, up to 5 years
    treated = np.flatnonzero(t["hormone_therapy"]).astype(np.int32)
    young = people.age[treated] < 50
    drug = np.where(rng.random(len(treated)) < np.where(young, 0.85, 0.2), _ATC_INDEX["L02BA01"],
                    np.where(rng.random(len(treated)) < 0.45, _ATC_INDEX["L02BG03"], _ATC_INDEX["L02BG04"]))
    after = np.maximum(timeline.treatment_end[treated], timeline.radiotherapy_end[treated])
    start = _squeeze(np.minimum(after + _uniform_days(rng, 14, 42, len(treated)), cap[treated]), people, treated)
    years = np.minimum(rng.exponential(1.0 / max(effects.hormone_stop_rate_per_year, 1e-9), len(treated)), 5.0)
    end = start + np.round(years * DAYS_PER_YEAR).astype(np.int64)
    quarterly = rng.random(len(treated)) < effects.hormone_quarterly_share
    code = np.zeros(n, dtype=np.int16)
    code[treated] = drug
    for mask, interval, boxes in ((quarterly, 84, 3), (~quarterly, 28, 1)):
        person, day = regular(treated[mask], start[mask], end[mask], interval, 4)
        add(person, day, code[person], boxes)
        # calcium and vitamin D with an aromatase inhibitor, at some of its dispensings
        inhibitor = (code[person] != _ATC_INDEX["L02BA01"]) & (rng.random(len(person)) < CALCIUM_WITH_INHIBITOR_RATE)
        add(person[inhibitor], day[inhibitor], "A12AX", boxes)

    # oral targeted therapies: osimertinib (lung), olaparib (ovarian), every ~28 days
    for k, code, mean_years, cap_years in ((LUNG, "L01EB04", 1.5, 3.0), (OVARIAN, "L01XK01", 1.5, 2.0)):
        treated = np.flatnonzero(t["targeted_therapy"] & (cancer == k)).astype(np.int32)
        after = np.maximum(timeline.treatment_end[treated], dx[treated])
        start = _squeeze(np.minimum(after + _uniform_days(rng, 14, 42, len(treated)), cap[treated]), people, treated)
        years = np.minimum(0.25 + rng.exponential(mean_years, len(treated)), cap_years)
        person, day = regular(treated, start, start + np.round(years * DAYS_PER_YEAR).astype(np.int64), 28, 3)
        add(person, day, code, 1)

    # oral capecitabine after intravenous chemotherapy, for some breast patients: 6-8 cycles of 21 days
    treated = np.flatnonzero(t["chemotherapy"] & (cancer == BREAST) & (timeline.chemo_end[:n] >= 0)
                             & (rng.random(n) < CAPECITABINE_RATE)).astype(np.int32)
    start = timeline.chemo_end[treated] + _uniform_days(rng, 14, 35, len(treated))
    person, day, _ = _series(rng, treated, start, rng.integers(6, 9, size=len(treated)),
                             np.full(len(treated), 21), CYCLE_DELAY_RATE, 7)
    inside = day <= last[person]
    add(person[inside], day[inside], "L01BC06", rng.integers(1, 3, size=int(inside.sum())))

    # chemotherapy support: antiemetic before, G-CSF after, some chemotherapy sessions
    mine = (timeline.session_person < n) & timeline.session_chemo
    person, day, dense = timeline.session_person[mine], timeline.session_day[mine], timeline.session_dose_dense[mine]
    antiemetic = rng.random(len(person), dtype=np.float32) < ANTIEMETIC_RATE
    date = np.maximum(day[antiemetic] - _uniform_days(rng, 0, 2, int(antiemetic.sum())), dx[person[antiemetic]])
    add(person[antiemetic], date, "A04AA01", 1)
    gcsf = rng.random(len(person), dtype=np.float32) < np.where(dense, GCSF_RATE[1], GCSF_RATE[0])
    date = day[gcsf] + _uniform_days(rng, 1, 2, int(gcsf.sum()))
    inside = date <= last[person[gcsf]]
    add(person[gcsf][inside], date[inside], "L03AA13", 1)

    # end of life: morphine in the last weeks
    dying = np.flatnonzero(people.dead & (rng.random(n) < effects.end_of_life_morphine_rate)).astype(np.int32)
    count = rng.integers(1, 4, size=len(dying))
    person = np.repeat(dying, count)
    date = np.maximum(last[person] - _uniform_days(rng, 0, 75, len(person)), dx[person])
    add(person, date, "N02AA01", rng.integers(1, 3, size=len(person)))

    # other drugs over follow-up, as many as make the mean number mean_count
    structured = sum(len(part[0]) for part in parts)
    wanted = max(mean_count * n - structured, 0.0)
    weight = rng.gamma(2.0, 0.5, size=n) * (1.0 + np.minimum(np.maximum(last - dx, 0) / DAYS_PER_YEAR, 10))
    count = rng.poisson(wanted * weight / weight.sum())
    person = np.repeat(np.arange(n, dtype=np.int32), count)
    span = np.maximum(last[person] - dx[person], 0)
    date = dx[person] + (rng.random(len(person), dtype=np.float32) * (span + 1)).astype(np.int32)
    atc = np.empty(len(person), dtype=np.int16)
    for k, name in enumerate(ref.CANCERS):
        rows = np.flatnonzero(cancer[person] == k)
        codes = np.array([_ATC_INDEX[c] for c in ref.BACKGROUND_ATC[name]], dtype=np.int16)
        probs = np.array(list(ref.BACKGROUND_ATC[name].values()))
        atc[rows] = codes[rng.choice(len(codes), size=len(rows), p=probs / probs.sum())]
    add(person, date, atc, rng.choice(np.array([1, 1, 1, 2, 3], dtype=np.int8), size=len(person)))

    person = np.concatenate([p[0] for p in parts])
    date = np.concatenate([p[1] for p in parts])
    atc = np.concatenate([p[2] for p in parts]).astype(np.int16)
    quantity = np.concatenate([p[3] for p in parts]).astype(np.int8)
    keep = (date >= dx[person]) & (date <= last[person])
    person, date, atc, quantity = person[keep], date[keep], atc[keep], quantity[keep]
    noise = np.exp(rng.normal(0.0, PRICE_NOISE_SD, size=len(person)).astype(np.float32))
    cost = np.round(_PRICE_CENTS[atc] * quantity * noise).astype(np.int32)
    return Dispensings(person, date, atc, quantity, cost)
