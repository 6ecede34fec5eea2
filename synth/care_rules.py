"""What a claim says about the care a patient received, by the coding conventions of the SNDS.

Each hospital stay (PMSI) and drug dispensing (DCIR) falls in one *kind* of care, read from
its codes with rules that hold in the real SNDS, not in our simulator only:

- a stay whose GHM root has ``C`` in third position is surgical (GHM "C" = *chirurgical*);
- main diagnosis Z51.1 is a chemotherapy session (IV targeted therapies such as
  trastuzumab are coded there too), Z51.0 a radiotherapy session, Z51.5 palliative care;
- ATC L02B is hormone therapy; L01E (kinase inhibitors), L01F (monoclonal antibodies) and
  L01XK (PARP inhibitors) are targeted therapies; L01A-L01D are cytotoxic chemotherapy;
  A04AA (5-HT3 antiemetics) and L03AA (G-CSF) are given with chemotherapy.

A kind may *require* a treatment: a patient with a chemotherapy session and neither
chemotherapy nor a targeted therapy recorded is incoherent. :func:`incoherent_claims` counts
such claims per rule; the real data's count is the reference (0 where the world has 0), and
the generator keeps each kind within the patients who have the treatment it requires
(:mod:`synth.pathways`). Day sessions (Z51.0, Z51.1) last no night.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.schema import PATIENT_ID


@dataclass(frozen=True)
class CareKind:
    name: str
    table: str                      # "stays" or "dispensings"
    requires: tuple[str, ...] = ()  # treatment flags, any of which makes the kind coherent
    day_session: bool = False       # stays of this kind last 0 nights
    anchor: str = "start"           # "start": timed from the window start; "end": days before end of follow-up
    what: str = ""


STAY_KINDS: tuple[CareKind, ...] = (
    CareKind("surgery", "stays", ("surgery",), what="surgical stay (GHM type C)"),
    CareKind("chemotherapy_session", "stays", ("chemotherapy", "targeted_therapy"), day_session=True,
             what="chemotherapy / IV targeted therapy day session (Z51.1)"),
    CareKind("radiotherapy_session", "stays", ("radiotherapy",), day_session=True,
             what="radiotherapy day session (Z51.0)"),
    CareKind("palliative", "stays", anchor="end", what="palliative care stay (Z51.5)"),
    CareKind("other_stay", "stays", what="other medical stay"),
)
DISPENSING_KINDS: tuple[CareKind, ...] = (
    CareKind("hormone_therapy", "dispensings", ("hormone_therapy",), what="hormone therapy (ATC L02B)"),
    CareKind("targeted_oral", "dispensings", ("targeted_therapy",),
             what="oral targeted therapy (ATC L01E, L01F, L01XK)"),
    CareKind("oral_chemotherapy", "dispensings", ("chemotherapy",), what="oral cytotoxic chemotherapy (ATC L01A-L01D)"),
    CareKind("chemotherapy_support", "dispensings", ("chemotherapy", "targeted_therapy"),
             what="antiemetic or G-CSF given with chemotherapy (ATC A04AA, L03AA)"),
    CareKind("other_dispensing", "dispensings", what="other drug"),
)
KINDS: dict[str, CareKind] = {k.name: k for k in (*STAY_KINDS, *DISPENSING_KINDS)}
SESSION_DIAGNOSES = {"Z511": "chemotherapy_session", "Z510": "radiotherapy_session"}


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna("").str.upper().str.replace(".", "", regex=False)


def stay_kinds(stays: pd.DataFrame) -> pd.Series:
    """The kind of each stay (a name of :data:`STAY_KINDS`)."""
    diagnosis = _text(stays["main_diagnosis"])
    ghm = _text(stays["ghm"]) if "ghm" in stays.columns else pd.Series("", index=stays.index)
    kind = np.select(
        [diagnosis.eq("Z511").to_numpy(), diagnosis.eq("Z510").to_numpy(), diagnosis.eq("Z515").to_numpy(),
         ghm.str.slice(2, 3).eq("C").to_numpy()],
        ["chemotherapy_session", "radiotherapy_session", "palliative", "surgery"], "other_stay")
    return pd.Series(kind, index=stays.index, dtype="object")


def dispensing_kinds(dispensings: pd.DataFrame) -> pd.Series:
    """The kind of each dispensing (a name of :data:`DISPENSING_KINDS`)."""
    atc = _text(dispensings["atc_code"])
    kind = np.select(
        [atc.str.startswith("L02B").to_numpy(),
         (atc.str.startswith("L01E") | atc.str.startswith("L01F") | atc.str.startswith("L01XK")).to_numpy(),
         atc.str.match(r"^L01[A-D]").fillna(False).to_numpy(bool),
         (atc.str.startswith("A04AA") | atc.str.startswith("L03AA")).to_numpy()],
        ["hormone_therapy", "targeted_oral", "oral_chemotherapy", "chemotherapy_support"], "other_dispensing")
    return pd.Series(kind, index=dispensings.index, dtype="object")


def kinds_of(table: str, claims: pd.DataFrame) -> pd.Series:
    """Each claim's kind, read on the distinct codes only (a few hundred, not millions of rows)."""
    columns = [c for c in (("main_diagnosis", "ghm") if table == "stays" else ("atc_code",)) if c in claims.columns]
    frame = claims[columns].astype("object")
    codes, uniques = pd.MultiIndex.from_frame(frame.where(frame.notna(), "\x00")).factorize()
    distinct = uniques.to_frame(index=False, name=columns)
    distinct = distinct.astype("object").where(distinct != "\x00", None)
    read = stay_kinds if table == "stays" else dispensing_kinds
    kinds = read(distinct).to_numpy(dtype=object)
    return pd.Series(kinds[codes] if len(codes) else np.array([], dtype=object), index=claims.index, dtype="object")


def _has_required(kind: pd.Series, claims: pd.DataFrame, patients: pd.DataFrame) -> pd.Series:
    """True where the claim's patient has a treatment its kind requires (or the kind requires none)."""
    people = patients.set_index(PATIENT_ID)
    ok = pd.Series(True, index=claims.index)
    for name, care in KINDS.items():
        if not care.requires:
            continue
        rows = kind.eq(name)
        if not rows.any():
            continue
        treated = np.zeros(int(rows.sum()), dtype=bool)
        for flag in care.requires:
            treated |= claims.loc[rows, PATIENT_ID].map(people[flag]).fillna(False).to_numpy(bool)
        ok[rows] = treated
    return ok


def incoherent_claims(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Per rule, how many claims contradict the patient's treatments or the day-session rule."""
    p = tables["patients"]
    counts, kind_of = {}, {}
    for table, kinds in (("stays", STAY_KINDS), ("dispensings", DISPENSING_KINDS)):
        claims = tables[table]
        kind = kind_of[table] = kinds_of(table, claims)
        ok = _has_required(kind, claims, p)
        for care in kinds:
            if care.requires:
                counts[f"{care.what} for a patient without {' or '.join(care.requires)}"] = int(
                    (kind.eq(care.name) & ~ok).sum())
    stays = tables["stays"]
    session = kind_of["stays"].map(lambda k: KINDS[k].day_session).astype(bool)
    nights = (stays["discharge_date"] - stays["admission_date"]).dt.days
    counts["day session (Z51.0/Z51.1) lasting one night or more"] = int((session & (nights > 0)).sum())
    return counts
