"""Real people inside a replica: exact and near copies of every real record, on the full sets.

The sampled measures (Anonymeter, distances) estimate how much a generator *leaks*; they
cannot promise that the replica holds *no real person*, because a copy sits where the
sample does not look most of the time. This screen does promise it: every replica patient
is compared with every real patient the data team holds (training, control and any other
real set it is given), by hash joins, so its cost grows with the rows and not with their
product.

A patient is described by the attack table (:mod:`privacy.risk.features`: the patient
table plus features of the claims). Four comparisons, each answering one question:

- **exact copy**: the whole attack row equals a real patient's;
- **patient-row copy**: the patient-table columns alone equal a real patient's (real
  patients given synthetic claims);
- **near copy**: every categorical column equal and every number within a tolerance
  (dates shifted by a few days, an age or a count off by one);
- **care-trajectory copy**: the multiset of the patient's stays and dispensings, dated
  from the diagnosis, equals that of a real patient whose trajectory is unique and long
  enough that chance cannot reproduce it (real claims given to synthetic patients).

Where each real set comes from is kept, so a report says "12 copies of control patients"
rather than a bare count. The check that training and control are disjoint lives here too:
a control set that overlaps training makes every train-vs-control comparison meaningless.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError
from privacy.risk.features import BOOLEAN, CATEGORICAL, attack_table
from synth.schema import PATIENT_COLUMNS, PATIENT_ID

DAY_COLUMNS = ("diagnosis_day", "followup_days", "days_to_first_stay")
COUNT_COLUMNS = ("n_stays", "n_dispensings", "chemotherapy_sessions")
EXACT_COLUMNS = (*CATEGORICAL, *BOOLEAN, "stage")  # equal in a near copy; the rest within tolerance
PATIENT_ROW_COLUMNS = tuple(c for c in PATIENT_COLUMNS if c != PATIENT_ID)


@dataclass(frozen=True)
class CopyTolerance:
    """How far a number may move and the record still count as a near copy of a real one."""

    days: int = 3
    """diagnosis date, follow-up and days to the first stay (dates shifted by up to this many days)."""
    age_years: int = 1
    counts: int = 1
    """stays, dispensings and chemotherapy sessions."""
    min_trajectory_events: int = 5
    """A care trajectory shorter than this can recur by chance; it is not screened."""

    def __post_init__(self):
        for name in ("days", "age_years", "counts", "min_trajectory_events"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise HarmonieError(f"copy tolerance {name} must be a non-negative integer")


def _row_hash(frame: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False)


def _trajectory_hash(data: dict[str, pd.DataFrame]) -> tuple[pd.Series, pd.Series]:
    """Per patient with claims (index: patient id), a hash of the multiset of their claims dated from
    diagnosis, and how many claims it covers.

    Each claim is hashed on (table, days from diagnosis, length or quantity, code); a
    patient's hash is the sum of their claims' hashes modulo 2**64, which does not depend
    on row order, plus the count, so one pass of vectorised group sums does it.
    """
    diagnosis = data["patients"].set_index(PATIENT_ID)["diagnosis_date"]
    parts = []
    for table, date, extent, code in (("stays", "admission_date", "discharge_date", "main_diagnosis"),
                                      ("dispensings", "dispensing_date", "quantity", "atc_code")):
        rows = data[table]
        start = pd.to_datetime(rows[date])
        offset = (start - pd.to_datetime(rows[PATIENT_ID].map(diagnosis))).dt.days
        size = ((pd.to_datetime(rows[extent]) - start).dt.days if extent.endswith("_date")
                else pd.to_numeric(rows[extent]))
        events = pd.DataFrame({"table": table, "offset": offset.fillna(-1).astype(np.int64),
                               "size": size.fillna(-1).astype(np.int64), "code": rows[code].astype(str)})
        parts.append(pd.DataFrame({PATIENT_ID: rows[PATIENT_ID].to_numpy(), "hash": _row_hash(events).to_numpy()}))
    events = pd.concat(parts, ignore_index=True)
    grouped = events.groupby(PATIENT_ID)["hash"]
    sizes = grouped.size()
    return grouped.sum().astype(np.uint64) ^ (sizes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)), sizes


@dataclass
class ScreenedSet:
    """One set of patients prepared for screening: attack rows, their hashes, trajectory hashes."""

    name: str
    ids: pd.Series
    attack: pd.DataFrame
    full_hash: pd.Series
    patient_hash: pd.Series
    trajectory: pd.Series  # per row of ``attack``; 0 where the trajectory is too short to screen


def prepare(name: str, data: dict[str, pd.DataFrame], tolerance: CopyTolerance) -> ScreenedSet:
    attack = attack_table(data)
    patients = data["patients"].reset_index(drop=True)
    try:
        patient_rows = patients[list(PATIENT_ROW_COLUMNS)].copy()
    except KeyError as exc:
        raise HarmonieError(f"the {name} set lacks the patient column {exc.args[0]!r}") from None
    for column in patient_rows.columns:  # dates as days and missing values alike on every side
        if pd.api.types.is_datetime64_any_dtype(patient_rows[column]):
            patient_rows[column] = patient_rows[column].dt.strftime("%Y-%m-%d")
    patient_rows = patient_rows.astype(str)
    trajectory, n_events = _trajectory_hash(data)
    ids = patients[PATIENT_ID]
    events = ids.map(n_events).fillna(0).astype(np.int64)
    traj = ids.map(trajectory).fillna(0).astype(np.uint64)
    traj = traj.where(events >= tolerance.min_trajectory_events, np.uint64(0)).astype(np.uint64)
    return ScreenedSet(name, ids, attack, _row_hash(attack), _row_hash(patient_rows), traj)


def _exact_matches(replica: pd.Series, real: pd.Series) -> np.ndarray:
    """For each replica row, whether its hash is among the real rows' hashes."""
    return replica.isin(set(real.to_numpy().tolist())).to_numpy()


def _near_matches(replica: pd.DataFrame, real: pd.DataFrame, tolerance: CopyTolerance) -> np.ndarray:
    """Replica rows equal to a real row on :data:`EXACT_COLUMNS` and within tolerance on every number.

    A band join: rows are bucketed on the diagnosis day in buckets ``days + 1`` wide, so a
    pair within ``days`` of each other lies in the same or an adjacent bucket; the candidate
    pairs of (exact columns, bucket) are then tested on every tolerance.
    """
    width = tolerance.days + 1
    key_r, key_s = _row_hash(real[list(EXACT_COLUMNS)]), _row_hash(replica[list(EXACT_COLUMNS)])
    numbers = ["age_at_diagnosis", *DAY_COLUMNS, *COUNT_COLUMNS]
    left = pd.DataFrame({"key": key_s.to_numpy(), "bucket": replica["diagnosis_day"].to_numpy() // width,
                         "row": np.arange(len(replica))})
    right = pd.DataFrame({"key": key_r.to_numpy(), "bucket0": real["diagnosis_day"].to_numpy() // width,
                          "real_row": np.arange(len(real))})
    found = np.zeros(len(replica), dtype=bool)
    limits = {"age_at_diagnosis": tolerance.age_years, **{c: tolerance.days for c in DAY_COLUMNS},
              **{c: tolerance.counts for c in COUNT_COLUMNS}}
    s_values = {c: replica[c].to_numpy(np.int64) for c in numbers}
    r_values = {c: real[c].to_numpy(np.int64) for c in numbers}
    for shift in (-1, 0, 1):
        shifted = right.assign(bucket=right["bucket0"] + shift)
        pairs = left.merge(shifted[["key", "bucket", "real_row"]], on=["key", "bucket"], how="inner")
        if pairs.empty:
            continue
        s_row, r_row = pairs["row"].to_numpy(), pairs["real_row"].to_numpy()
        close = np.ones(len(pairs), dtype=bool)
        for column in numbers:
            close &= np.abs(s_values[column][s_row] - r_values[column][r_row]) <= limits[column]
        found[s_row[close]] = True
    return found


def _trajectory_matches(replica: ScreenedSet, real: ScreenedSet) -> np.ndarray:
    """Replica patients whose (long enough) care trajectory is that of a real patient unique on it."""
    real_values = real.trajectory[real.trajectory != 0]
    unique = real_values[~real_values.duplicated(keep=False)]
    return (replica.trajectory.isin(set(unique.to_numpy().tolist())) & (replica.trajectory != 0)).to_numpy()


def screen_copies(synthetic: ScreenedSet, real_sets: list[ScreenedSet], tolerance: CopyTolerance) -> dict:
    """Counts of replica patients copying a real patient, per kind and per real set (JSON-ready)."""
    by_set, any_kind = {}, {kind: np.zeros(len(synthetic.attack), dtype=bool)
                            for kind in ("exact", "patient_row", "near", "trajectory")}
    for real in real_sets:
        found = {
            "exact": _exact_matches(synthetic.full_hash, real.full_hash),
            "patient_row": _exact_matches(synthetic.patient_hash, real.patient_hash),
            "near": _near_matches(synthetic.attack, real.attack, tolerance),
            "trajectory": _trajectory_matches(synthetic, real),
        }
        by_set[real.name] = {kind: int(mask.sum()) for kind, mask in found.items()}
        for kind, mask in found.items():
            any_kind[kind] |= mask
    copied = np.logical_or.reduce(list(any_kind.values()))
    return {
        "replica_patients": len(synthetic.attack),
        "real_patients": {real.name: len(real.attack) for real in real_sets},
        "tolerance": {"days": tolerance.days, "age_years": tolerance.age_years, "counts": tolerance.counts,
                      "min_trajectory_events": tolerance.min_trajectory_events},
        "by_real_set": by_set,
        "copies": {kind: int(mask.sum()) for kind, mask in any_kind.items()},
        "replica_patients_copying_a_real_patient": int(copied.sum()),
        "_copied": copied,  # the mask, for remediation; not written to JSON
    }


def overlap(first: ScreenedSet, second: ScreenedSet) -> dict:
    """Patients two real sets share, by id and by content (the whole attack row)."""
    return {"by_id": int(first.ids.isin(set(second.ids)).sum()),
            "by_content": int(_exact_matches(first.full_hash, second.full_hash).sum())}
