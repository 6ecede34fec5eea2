"""Top- and bottom-coding: no replica value in a tail that fewer than k real patients reach.

A generator that learns counts and categories reproduces the real extremes: the youngest and
the oldest patients' ages, the 76 stays of the two heaviest users, the one patient with 43
dispensings or a 95-night stay. Each such value points at a handful of real people. Before
any model is fitted, each variable below is coded at its *k-safe bounds* (k = the disclosure
threshold, 11 as the SNDS rule): the lowest and the highest value that at least k real
patients hold exactly. Values beyond are set to the bound, as statistical agencies publish
"90 or older". So no replica value lies in a tail of values fewer than k real patients hold,
and each bound is held by k real patients or more.

Coded here (where each variable is made):
- ``age_at_diagnosis``: both ends, in the replica (bounds from the training patients);
- per-kind counts of claims (stays of each kind, dispensings of each class): the top, in the
  count tables of :mod:`synth.pathways`, and the patients' total counts of stays and of
  dispensings, in the replica, by dropping the latest claims beyond the bound;
- ``length_of_stay`` and ``quantity``: the top, in the training claims before the claim models;
- claim costs: both ends of each cost group, before its quantiles are taken.

Not coded: dates and survival times (drawn from quantiles and hazards, continuous, never a
count), and values between the bounds that fewer than k patients hold (a patient's total of
stays is a sum over kinds and can land on any whole number in the range); what coding costs
and what it leaves is measured in benchmarks/RESULTS.md ("Top- and bottom-coding").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.schema import PATIENT_ID

DEFAULT_K = 11  # the SNDS small-cell threshold, as the release policy's [disclosure] min_cell


@dataclass(frozen=True)
class TopCoding:
    """``k`` real patients at least beyond every bound; ``k`` of 0 or 1 codes nothing."""

    k: int = DEFAULT_K

    def __post_init__(self):
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 0:
            from harmonie.errors import InvalidParameter

            raise InvalidParameter(f"top-coding k must be a whole number of patients, 0 or more (got {self.k!r})")

    @property
    def active(self) -> bool:
        return self.k > 1


def safe_bounds(values: pd.Series, owners: pd.Series | None, k: int) -> tuple[float, float]:
    """(low, high): the lowest and the highest value that at least ``k`` distinct owners (patients) hold exactly.
    ``owners`` None: each value is its own patient. Coding to them leaves no value in a tail that fewer than
    ``k`` patients hold (the bound itself then holds at least ``k``). Without any such value, the median twice."""
    frame = pd.DataFrame({"v": values.to_numpy(), "o": np.arange(len(values)) if owners is None
                          else owners.to_numpy()}).dropna()
    if frame.empty:
        return float("nan"), float("nan")
    holders = frame.drop_duplicates().groupby("v")["o"].size()
    common = holders.index[holders >= k]
    if len(common) == 0:
        middle = float(np.median(frame["v"].to_numpy(float)))
        return middle, middle
    return float(common.min()), float(common.max())


def code(values: pd.Series, bounds: tuple[float, float], *, low: bool = True) -> pd.Series:
    """``values`` clipped to ``bounds`` (the top only when ``low`` is False), keeping their dtype."""
    lo, hi = bounds
    if np.isnan(hi):
        return values
    clipped = values.clip(lower=lo if low else None, upper=hi)
    return clipped.astype(values.dtype) if pd.api.types.is_integer_dtype(values.dtype) else clipped


def code_training(train: dict[str, pd.DataFrame], coding: TopCoding) -> tuple[dict[str, pd.DataFrame], dict]:
    """The training tables with lengths of stay and quantities coded, and every bound (for the manifest and
    :func:`code_replica`)."""
    if not coding.active:
        return train, {}
    k, out, bounds = coding.k, dict(train), {}
    patients = train["patients"]
    # ages are coded in the replica, not before the copulas learn: a copula smooths the spikes coding makes at the
    # bounds and moved the replica's mean age by two years at 1,200 patients
    bounds["age_at_diagnosis"] = safe_bounds(patients["age_at_diagnosis"], None, k)
    stays = train["stays"].copy()
    if len(stays):
        nights = (stays["discharge_date"] - stays["admission_date"]).dt.days
        bounds["length_of_stay"] = safe_bounds(nights, stays[PATIENT_ID], k)
        capped = code(nights, bounds["length_of_stay"], low=False)
        stays["discharge_date"] = stays["admission_date"] + pd.to_timedelta(capped, unit="D")
        out["stays"] = stays
    dispensings = train["dispensings"].copy()
    if len(dispensings):
        quantity = pd.to_numeric(dispensings["quantity"])
        bounds["quantity"] = safe_bounds(quantity, dispensings[PATIENT_ID], k)
        dispensings["quantity"] = code(dispensings["quantity"], bounds["quantity"], low=False)
        out["dispensings"] = dispensings
    for name, table in (("n_stays", train["stays"]), ("n_dispensings", train["dispensings"])):
        totals = patients[PATIENT_ID].map(table.groupby(PATIENT_ID).size()).fillna(0)
        bounds[name] = safe_bounds(totals, None, k)
    return out, {name: [lo, hi] for name, (lo, hi) in bounds.items()}


def cap_count_column(counts: pd.Series, coding: TopCoding) -> pd.Series:
    """Per-patient counts of one kind of claim with the top coded (patients with none included)."""
    if not coding.active:
        return counts
    return code(counts, safe_bounds(counts, None, coding.k), low=False)


def code_costs(values: np.ndarray, coding: TopCoding) -> np.ndarray:
    """One cost group's values, both ends coded (each claim its own unit: costs are per claim)."""
    if not coding.active or len(values) == 0:
        return values
    return np.clip(values, *safe_bounds(pd.Series(values), None, coding.k))


def code_replica(tables: dict[str, pd.DataFrame], bounds: dict) -> dict[str, pd.DataFrame]:
    """The replica coded under the model's ``bounds``: ages at both ends, and each synthetic patient's totals of
    stays and of dispensings at the top by dropping the latest claims beyond it (a pathway's start, which the
    rules check, comes first)."""
    out = dict(tables)
    if "age_at_diagnosis" in bounds:
        patients = tables["patients"].copy()
        patients["age_at_diagnosis"] = code(patients["age_at_diagnosis"], tuple(bounds["age_at_diagnosis"]))
        out["patients"] = patients
    for name, date, bound in (("stays", "admission_date", "n_stays"), ("dispensings", "dispensing_date",
                                                                        "n_dispensings")):
        if bound not in bounds or np.isnan(bounds[bound][1]):
            continue
        claims = tables[name].sort_values([PATIENT_ID, date], kind="stable")
        keep = claims.groupby(PATIENT_ID).cumcount() < int(bounds[bound][1])
        out[name] = claims[keep.to_numpy()].reset_index(drop=True)
    return out
