"""Top- and bottom-coding: no replica value in a tail that fewer than k real patients reach.

A generator that learns counts and categories reproduces the real extremes: the youngest and
the oldest patients' ages, the 76 stays of the two heaviest users, the one patient with 43
dispensings or a 95-night stay. Each such value points at a handful of real people. Before
any model is fitted, each variable below is coded at its *k-safe bounds* (k = the disclosure
threshold, 11 as the SNDS rule): the lowest value at least k patients are at or below, and
the highest value at least k patients are at or above. Values beyond are set to the bound, as
statistical agencies publish "90 or older". So every value a replica can hold in a tail is
reached by k real patients or more.

Coded here (where each variable is made):
- ``age_at_diagnosis``: both ends, in the training patients before the patient models;
- per-kind counts of claims (stays of each kind, dispensings of each class): the top, in the
  count tables of :mod:`synth.pathways`, and the patients' total counts of stays and of
  dispensings, after sampling, by dropping the latest claims beyond the bound;
- ``length_of_stay`` and ``quantity``: the top, in the training claims before the claim models;
- claim costs: both ends of each cost group, before its quantiles are taken.

Not coded: dates and survival times (drawn from quantiles and hazards, continuous, never a
count), and values in the interior of a distribution that few patients hold (a rare but not
extreme value); the utility report measures what coding costs (benchmarks/RESULTS.md).
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
    """(low, high): at least ``k`` distinct owners (patients) have a value <= low, and at least ``k`` one >= high.
    ``owners`` None: each value is its own patient. With fewer than ``k`` patients in all, the median twice."""
    if owners is None:
        lows = highs = values.dropna().to_numpy(float)
    else:
        frame = pd.DataFrame({"v": values.to_numpy(), "o": owners.to_numpy()}).dropna()
        grouped = frame.groupby("o")["v"]
        lows, highs = grouped.min().to_numpy(float), grouped.max().to_numpy(float)
    if len(highs) == 0:
        return float("nan"), float("nan")
    if len(highs) < k:
        middle = float(np.median(highs))
        return middle, middle
    return float(np.sort(lows)[k - 1]), float(np.sort(highs)[-k])


def code(values: pd.Series, bounds: tuple[float, float], *, low: bool = True) -> pd.Series:
    """``values`` clipped to ``bounds`` (the top only when ``low`` is False), keeping their dtype."""
    lo, hi = bounds
    if np.isnan(hi):
        return values
    clipped = values.clip(lower=lo if low else None, upper=hi)
    return clipped.astype(values.dtype) if pd.api.types.is_integer_dtype(values.dtype) else clipped


def code_training(train: dict[str, pd.DataFrame], coding: TopCoding) -> tuple[dict[str, pd.DataFrame], dict]:
    """The training tables with ages, lengths of stay and quantities coded, and the bounds used (for the manifest)."""
    if not coding.active:
        return train, {}
    k, out, bounds = coding.k, dict(train), {}
    patients = train["patients"].copy()
    bounds["age_at_diagnosis"] = safe_bounds(patients["age_at_diagnosis"], None, k)
    patients["age_at_diagnosis"] = code(patients["age_at_diagnosis"], bounds["age_at_diagnosis"])
    out["patients"] = patients
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


def cap_totals(tables: dict[str, pd.DataFrame], bounds: dict) -> dict[str, pd.DataFrame]:
    """Each synthetic patient keeps at most the coded top of stays and of dispensings: the latest claims beyond it
    are dropped (a pathway's start, which the rules check, comes first)."""
    out = dict(tables)
    for name, date, bound in (("stays", "admission_date", "n_stays"), ("dispensings", "dispensing_date",
                                                                        "n_dispensings")):
        if bound not in bounds or np.isnan(bounds[bound][1]):
            continue
        claims = tables[name].sort_values([PATIENT_ID, date], kind="stable")
        keep = claims.groupby(PATIENT_ID).cumcount() < int(bounds[bound][1])
        out[name] = claims[keep.to_numpy()].reset_index(drop=True)
    return out
