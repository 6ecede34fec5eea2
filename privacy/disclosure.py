"""Disclosure control of everything a report derives from real patients (the SNDS small-cell rule).

The rule: no count of 1 to ``min_cell - 1`` real patients (``min_cell`` is 11 under the SNDS
rule) and no value that belongs to a single patient leaves the secure area — in JSON,
HTML, figures or logs. Every table and figure of real data goes through this module:

- :func:`merge_histogram` and :func:`histogram`: adjacent bins merged until each holds at
  least ``min_cell`` patients or none (empty bins stay empty, so the shape stays readable);
- :func:`named_categories`: the categories that may be named, the others pooled as "(other)",
  which itself never holds 1 to ``min_cell - 1`` patients;
- :func:`grouped_kaplan_meier`: a real survival curve shown only at whole months, each step
  holding at least ``min_cell`` deaths (hence as many at risk), stopping before fewer than
  ``min_cell`` patients remain at risk; never at a real death time;
- :func:`safe_quantiles` and :func:`safe_range`: quantiles (and axis ranges) with at least
  ``min_cell`` patients on either side — never a minimum or a maximum;
- :meth:`DisclosureRule.count` and :meth:`DisclosureRule.share`: small counts suppressed
  (``None``), shares rounded so that a count cannot be recovered to within ``min_cell``;
- :func:`scan_report` and :func:`scan_folder`: an independent check of written reports
  against the real data they describe (used by the tests).

A *patient* is counted once per cell whatever the number of rows they hold there: claims
variables (one row per stay or dispensing) pass ``holders``, the patient of each row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harmonie.errors import InvalidParameter

SNDS_MIN_CELL = 11
MONTH_DAYS = 365.25 / 12
"""The grid a real survival curve is shown on: whole months since diagnosis, never a real event time."""
SURVIVAL_DECIMALS = 3
OTHER = "(other)"  # parenthesised like "(missing)": a label the report made up, never a real category
MISSING = "(missing)"
EXTREME_KEYS = frozenset({"min", "max", "minimum", "maximum"})


@dataclass(frozen=True)
class DisclosureRule:
    """What may be written about real patients: ``min_cell`` is the smallest count that may be shown."""

    min_cell: int = SNDS_MIN_CELL

    def __post_init__(self) -> None:
        if isinstance(self.min_cell, bool) or not isinstance(self.min_cell, (int, np.integer)) or self.min_cell < 1:
            raise InvalidParameter(f"min_cell must be a positive integer (got {self.min_cell!r})")

    def is_small(self, count: int) -> bool:
        """A count that must not be shown: some patients, but fewer than ``min_cell``."""
        return 0 < count < self.min_cell

    def count(self, count: int | None) -> int | None:
        """The count as it may be written: ``None`` (suppressed) when small."""
        if count is None:
            return None
        return None if self.is_small(int(count)) else int(count)

    def describe(self, count: int | None) -> str:
        """A count in words for pages and notes ("fewer than 11" when suppressed)."""
        if count is None:
            return "unknown"
        shown = self.count(count)
        return f"fewer than {self.min_cell}" if shown is None else f"{shown:,}"

    def share_step(self, total: int) -> float:
        """The rounding step of a share of ``total`` rows: the finest of 1, 2, 5 x 10^k covering at least
        ``min_cell`` rows, so a rounded share cannot tell apart fewer than ``min_cell`` counts."""
        if total <= 0:
            return 1.0
        target = self.min_cell / total
        exponent = math.floor(math.log10(target))
        for e in (exponent, exponent + 1):
            for m in (1, 2, 5):
                step = m * 10.0 ** e
                if step * total >= self.min_cell * (1 - 1e-12):
                    return min(round(step, 12), 1.0)
        return 1.0  # pragma: no cover - the loop always finds a step

    def round_share(self, share: float, total: int) -> float:
        """A share of ``total`` rows rounded to :meth:`share_step` (no suppression: see :meth:`share`)."""
        step = self.share_step(total)
        return round(round(share / step) * step, 12)

    def share(self, count: int, total: int) -> float | None:
        """``count / total`` as it may be written: ``None`` when the count or its complement is small,
        otherwise rounded to :meth:`share_step`."""
        if total <= 0 or self.is_small(count) or self.is_small(total - count):
            return None
        return self.round_share(count / total, total)


# --- counting patients ----------------------------------------------------------------------------

def _holder_codes(holders, n: int) -> np.ndarray:
    """Integer code of each row's patient (``None``: each row its own patient)."""
    if holders is None:
        return np.arange(n)
    return pd.factorize(pd.Series(holders).reset_index(drop=True), use_na_sentinel=False)[0]


def _finite(values, holders) -> tuple[np.ndarray, np.ndarray]:
    """The present values as floats and their patients' codes."""
    x = np.asarray(values, dtype="float64")
    codes = _holder_codes(holders, len(x))
    keep = np.isfinite(x)
    return x[keep], codes[keep]


def _distinct(codes: np.ndarray) -> int:
    return int(len(pd.unique(codes)))  # hashing: linear in the rows, where a sort is not (millions of claims rows)


# --- histograms -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Histogram:
    """Bins that may be shown: ``counts[i]`` patients between ``edges[i]`` and ``edges[i + 1]``, each 0 or at
    least ``min_cell``."""

    edges: np.ndarray
    counts: np.ndarray


def _merge_groups(n_bins: int, occupied: np.ndarray, patients_in: Callable[[int, int], int],
                  rule: DisclosureRule) -> list[tuple[int, int]] | None:
    """Runs of adjacent bins, left to right, each closed as soon as it holds ``min_cell`` patients; an empty
    bin met between runs stays on its own; a last run still too small joins the run before it. ``None``
    when even all bins together hold too few patients."""
    groups: list[tuple[int, int]] = []
    start = None
    for b in range(n_bins):
        if start is None:
            if not occupied[b]:
                groups.append((b, b + 1))
                continue
            start = b
        if patients_in(start, b + 1) >= rule.min_cell:
            groups.append((start, b + 1))
            start = None
    if start is not None:
        filled = [i for i, (a, z) in enumerate(groups) if occupied[a:z].any()]
        if not filled:
            return None
        i = filled[-1]
        groups = groups[:i] + [(groups[i][0], n_bins)]
    return groups


def merge_histogram(counts: Sequence[int], edges: Sequence[float], rule: DisclosureRule) -> Histogram | None:
    """Adjacent bins of a histogram of patients (one patient per count) merged until each holds at least
    ``min_cell`` or none; the total is kept. ``None`` when the total itself is small (nothing may be shown)."""
    counts = np.asarray(counts, dtype="int64")
    edges = np.asarray(edges, dtype="float64")
    if len(edges) != len(counts) + 1:
        raise InvalidParameter("a histogram needs one more edge than bins")
    if (counts < 0).any():
        raise InvalidParameter("histogram counts must not be negative")
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    groups = _merge_groups(len(counts), counts > 0, lambda a, z: int(cumulative[z] - cumulative[a]), rule)
    if groups is None:
        return None
    return Histogram(edges=np.array([edges[a] for a, _ in groups] + [edges[-1]]),
                     counts=np.array([int(cumulative[z] - cumulative[a]) for a, z in groups], dtype="int64"))


def bin_index(values, edges) -> np.ndarray:
    """The bin of each value; values beyond the outer edges fall in the outer bins (the rare extremes are
    never shown on their own)."""
    edges = np.asarray(edges, dtype="float64")
    index = np.searchsorted(edges, np.asarray(values, dtype="float64"), side="right") - 1
    return np.clip(index, 0, len(edges) - 2)


def histogram(values, edges, rule: DisclosureRule, *, holders=None) -> Histogram | None:
    """The histogram of ``values`` (missing left out) on ``edges``, bins merged so that each holds at least
    ``min_cell`` distinct patients or none; ``None`` when all the values belong to too few patients."""
    edges = np.asarray(edges, dtype="float64")
    x, codes = _finite(values, holders)
    n_bins = len(edges) - 1
    if n_bins < 1:
        raise InvalidParameter("a histogram needs at least two edges")
    n_codes = int(codes.max()) + 1 if len(codes) else 1
    pairs = np.unique(bin_index(x, edges).astype("int64") * n_codes + codes)  # (bin, patient) once each, by bin
    pair_bins, pair_patients = pairs // n_codes, pairs % n_codes
    starts = np.searchsorted(pair_bins, np.arange(n_bins + 1))

    def patients_in(a: int, z: int) -> int:
        return _distinct(pair_patients[starts[a]:starts[z]])

    occupied = np.diff(starts) > 0
    groups = _merge_groups(n_bins, occupied, patients_in, rule)
    if groups is None:
        return None
    return Histogram(edges=np.array([edges[a] for a, _ in groups] + [edges[-1]]),
                     counts=np.array([patients_in(a, z) for a, z in groups], dtype="int64"))


def bin_shares(values, edges) -> np.ndarray:
    """Share of the present values in each bin (outer bins holding the values beyond them)."""
    x = np.asarray(values, dtype="float64")
    x = x[np.isfinite(x)]
    if not len(x):
        return np.zeros(len(edges) - 1)
    return np.bincount(bin_index(x, edges), minlength=len(edges) - 1) / len(x)


# --- categories -------------------------------------------------------------------------------------

def named_categories(labels: pd.Series, rule: DisclosureRule, *, holders=None, top: int | None = None) -> list | None:
    """The categories that may be named, most frequent (in rows) first: each held by at least ``min_cell``
    patients, at most ``top`` of them, and dropped from the end until the rest ("other") holds none or at
    least ``min_cell`` patients. ``None`` when all the rows together belong to too few patients."""
    labels = pd.Series(labels).reset_index(drop=True)
    codes = pd.Series(_holder_codes(holders, len(labels)))
    if rule.is_small(_distinct(codes.to_numpy())):
        return None
    rows = labels.value_counts(dropna=False)
    holders_per = codes.groupby(labels, dropna=False).nunique()
    shown = sorted((v for v in rows.index if holders_per[v] >= rule.min_cell), key=lambda v: (-rows[v], str(v)))
    if top is not None:
        shown = shown[:top]
    while shown and rule.is_small(_distinct(codes[~labels.isin(shown)].to_numpy())):
        shown.pop()  # the least frequent named category joins "other", which then holds enough patients
    return shown


# --- quantiles and ranges ---------------------------------------------------------------------------

def _sides(x: np.ndarray, codes: np.ndarray, v: float) -> tuple[int, int]:
    return _distinct(codes[x <= v]), _distinct(codes[x >= v])


def safe_quantiles(values, probabilities: Sequence[float], rule: DisclosureRule, *,
                   holders=None) -> list[float | None]:
    """Quantiles (linear interpolation) of the present values; each ``None`` unless at least ``min_cell``
    patients lie at or below it and at least ``min_cell`` at or above it."""
    x, codes = _finite(values, holders)
    out: list[float | None] = []
    for p in probabilities:
        if not len(x):
            out.append(None)
            continue
        v = float(np.quantile(x, p))
        below, above = _sides(x, codes, v)
        out.append(v if min(below, above) >= rule.min_cell else None)
    return out


def _kth_patient_value(x: np.ndarray, codes: np.ndarray, k: int) -> float | None:
    """The smallest value with at least ``k`` distinct patients at or below it."""
    order = np.argsort(x, kind="stable")
    first = np.zeros(len(x), dtype=bool)
    _, first_at = np.unique(codes[order], return_index=True)
    first[first_at] = True
    reached = np.flatnonzero(np.cumsum(first) >= k)
    return float(x[order][reached[0]]) if len(reached) else None


def safe_range(values, rule: DisclosureRule, *, holders=None, trim: float = 0.005) -> tuple[float, float] | None:
    """An axis range for real values that is not their minimum or maximum: the ``trim`` and ``1 - trim``
    quantiles, moved inwards until at least ``min_cell`` patients lie beyond each end. ``None`` when too
    few patients for any."""
    x, codes = _finite(values, holders)
    if not len(x):
        return None
    low = _kth_patient_value(x, codes, rule.min_cell)
    high = _kth_patient_value(-x, codes, rule.min_cell)
    if low is None or high is None:
        return None
    lo, hi = max(float(np.quantile(x, trim)), low), min(float(np.quantile(x, 1 - trim)), -high)
    if lo > hi or min(_sides(x, codes, lo)) < rule.min_cell or min(_sides(x, codes, hi)) < rule.min_cell:
        return None
    return lo, hi


def safe_mean(values, rule: DisclosureRule, *, holders=None) -> float | None:
    """The mean of the present values, ``None`` when they belong to fewer than ``min_cell`` patients."""
    x, codes = _finite(values, holders)
    return float(x.mean()) if len(x) and _distinct(codes) >= rule.min_cell else None


# --- survival ---------------------------------------------------------------------------------------

def kaplan_meier_at(durations, events, times) -> np.ndarray:
    """The Kaplan–Meier estimate S(t) at each of ``times`` (product-limit, censoring at a death time
    counted at risk, as in lifelines)."""
    t = np.asarray(durations, dtype="float64")
    died = np.asarray(events, dtype="float64") > 0
    times = np.asarray(times, dtype="float64")
    if not len(t):
        return np.full(len(times), np.nan)
    death_times, deaths = np.unique(t[died], return_counts=True)
    if not len(death_times):
        return np.ones(len(times))
    at_risk = len(t) - np.searchsorted(np.sort(t), death_times, side="left")
    curve = np.cumprod(1.0 - deaths / at_risk)
    index = np.searchsorted(death_times, times, side="right") - 1
    return np.where(index >= 0, curve[np.maximum(index, 0)], 1.0)


@dataclass(frozen=True)
class SurvivalCurve:
    """A survival curve that may be shown: S at whole ``months`` since diagnosis (0 first); empty when
    nothing may be shown."""

    months: tuple[int, ...]
    survival: tuple[float, ...]


def step_counts(durations, events, months: Sequence[int]) -> list[tuple[int, int, int]]:
    """(deaths, patients at risk at its start, patients still at risk after its end) of each step between
    consecutive ``months``."""
    t = np.asarray(durations, dtype="float64")
    died = np.asarray(events, dtype="float64") > 0
    out = []
    for a, z in zip(months[:-1], months[1:]):
        lo, hi = a * MONTH_DAYS, z * MONTH_DAYS
        out.append((int((died & (t > lo) & (t <= hi)).sum()), int((t > lo).sum()), int((t > hi).sum())))
    return out


def grouped_kaplan_meier(durations, events, rule: DisclosureRule) -> SurvivalCurve:
    """The Kaplan–Meier curve of real patients as it may be shown: at month 0 and at the first whole month by
    which each step has gathered ``min_cell`` deaths (so at least ``min_cell`` patients were at risk at its
    start), provided ``min_cell`` patients are still at risk after it. The curve stops there: the last
    patients followed, and the fewer than ``min_cell`` deaths after the last step, are never drawn (a curve
    falling to 0 would say when the last patient died)."""
    t = np.asarray(durations, dtype="float64")
    died = np.asarray(events, dtype="float64") > 0
    if not len(t) or died.sum() < rule.min_cell:
        return SurvivalCurve((), ())
    last = math.ceil(float(t.max()) / MONTH_DAYS)
    ends = np.arange(last + 1) * MONTH_DAYS
    deaths_by = np.searchsorted(np.sort(t[died]), ends, side="right")
    at_risk_after = len(t) - np.searchsorted(np.sort(t), ends, side="right")
    months, previous = [0], 0
    for month in range(1, last + 1):
        if at_risk_after[month] < rule.min_cell:
            break
        if deaths_by[month] - deaths_by[previous] >= rule.min_cell:
            months.append(month)
            previous = month
    if len(months) == 1:
        return SurvivalCurve((), ())
    survival = kaplan_meier_at(t, died, np.array(months) * MONTH_DAYS)
    return SurvivalCurve(tuple(months), tuple(round(float(s), SURVIVAL_DECIMALS) for s in survival))


def survival_on(curve: SurvivalCurve, durations, events) -> tuple[float, ...]:
    """Another side's Kaplan–Meier estimate at the months of ``curve`` (to draw both on the same grid)."""
    if not curve.months or not len(np.asarray(durations)):
        return ()
    s = kaplan_meier_at(durations, events, np.array(curve.months) * MONTH_DAYS)
    return tuple(round(float(v), SURVIVAL_DECIMALS) for v in s)


def interpolated(months: Sequence[int], survival: Sequence[float], month: float) -> float | None:
    """S at ``month`` read off the shown curve (straight lines between its points); ``None`` beyond it."""
    if not len(months) or not len(survival) or month < months[0] or month > months[-1]:
        return None
    return round(float(np.interp(month, months, survival)), SURVIVAL_DECIMALS)


def median_interval(months: Sequence[int], survival: Sequence[float]) -> list[int] | None:
    """The step of the shown curve in which it falls to 0.5 or below, as [from, to] months; ``None`` when it
    stays above within the months shown."""
    for i, s in enumerate(survival):
        if s <= 0.5 and i > 0:
            return [int(months[i - 1]), int(months[i])]
    return None


def step_containing(months: Sequence[int], days: float | None) -> list[int | None] | None:
    """The step of the shown curve holding time ``days``, as [from, to] months (to is ``None`` past the
    last point): a real event time is never written, only the step around it."""
    if days is None or not len(months):
        return None
    for a, z in zip(months[:-1], months[1:]):
        if days <= z * MONTH_DAYS:
            return [int(a), int(z)]
    return [int(months[-1]), None]


# --- scanning written reports -----------------------------------------------------------------------

@dataclass(frozen=True)
class RealColumn:
    """The real values a written summary describes, for :func:`scan_report`: numbers, dates or labels
    (missing labels as ``"(missing)"``), and the patient of each row (``None``: one patient per row)."""

    values: pd.Series
    holders: pd.Series | None = None


@dataclass(frozen=True)
class RealSurvival:
    """The real follow-up (days) and death indicator a written survival entry describes."""

    durations: np.ndarray
    events: np.ndarray


def _as_days(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        return ((values - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86_400).to_numpy("float64")
    return pd.to_numeric(values, errors="coerce").to_numpy("float64")


def _nodes(node, path: str = ""):
    """Every node of a JSON document with its path ("/survival/kaplan_meier/0/n_real")."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nodes(value, f"{path}/{i}")


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_multiple(value: float, step: float) -> bool:
    return abs(value / step - round(value / step)) < 1e-6


def _scan_categories(where: str, entry: dict, column: RealColumn, rule: DisclosureRule) -> list[str]:
    findings = []
    labels = column.values.astype("object").where(column.values.notna(), MISSING).reset_index(drop=True)
    codes = pd.Series(_holder_codes(column.holders, len(labels)))
    named = [c["value"] for c in entry["categories"] if c["value"] != OTHER]
    text = labels.map(str)
    for c in entry["categories"]:
        rows = ~text.isin(named) if c["value"] == OTHER else text == c["value"]
        if rule.is_small(_distinct(codes[rows].to_numpy())):
            findings.append(f"{where}: category {c['value']!r} holds fewer than {rule.min_cell} real patients")
        share = c.get("real_share")
        if share is not None and not _is_multiple(share, rule.share_step(len(labels))):
            findings.append(f"{where}: the real share of category {c['value']!r} is not rounded")
    return findings


def _scan_histogram(where: str, entry: dict, column: RealColumn, rule: DisclosureRule) -> list[str]:
    hist = entry["histogram"]
    edges = np.asarray(hist["edges"], dtype="float64")
    values = _as_days(column.values)
    if hist.get("unit") == "year":
        values = 1970 + values / 365.25
    x, codes = _finite(values, column.holders)
    findings = []
    bins = bin_index(x, edges)
    for i in range(len(edges) - 1):
        if rule.is_small(_distinct(codes[bins == i])):
            findings.append(f"{where}: histogram bin {i} holds fewer than {rule.min_cell} real patients")
    step = rule.share_step(len(x))
    if any(s is not None and not _is_multiple(s, step) for s in hist.get("real_share") or []):
        findings.append(f"{where}: histogram real shares are not rounded")
    return findings


def _scan_numbers(where: str, summary: dict, column: RealColumn, rule: DisclosureRule) -> list[str]:
    findings = []
    values = column.values.reset_index(drop=True)
    days = _as_days(values)
    x, codes = _finite(days, column.holders)
    for name, q in (summary.get("quantiles") or {}).items():
        if q is None:
            continue
        if isinstance(q, str):  # a date, truncated to the day: the patients of that day count on both sides
            v = (pd.Timestamp(q) - pd.Timestamp("1970-01-01")).days
            below, above = _distinct(codes[x < v + 1]), _distinct(codes[x >= v])
        else:
            below, above = _sides(x, codes, float(q))
        if min(below, above) < rule.min_cell:
            findings.append(f"{where}: quantile {name} has fewer than {rule.min_cell} real patients on one side")
    if summary.get("mean") is not None and _distinct(codes) < rule.min_cell:
        findings.append(f"{where}: the mean rests on fewer than {rule.min_cell} real patients")
    if summary.get("missing_share") is not None:
        missing = int(values.isna().sum())
        if rule.is_small(missing) or rule.is_small(len(values) - missing):
            findings.append(f"{where}: the missing share reveals fewer than {rule.min_cell} real rows")
    return findings


def _scan_extremes(where: str, entry: dict, column: RealColumn, rule: DisclosureRule) -> list[str]:
    """A real minimum or maximum held by fewer than ``min_cell`` patients, written anywhere in the summary."""
    values = column.values.reset_index(drop=True)
    if not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_datetime64_any_dtype(values):
        return []
    x, codes = _finite(_as_days(values), column.holders)
    if not len(x):
        return []
    extremes = set()
    for v in (x.min(), x.max()):
        if _distinct(codes[x == v]) < rule.min_cell:
            extremes.add(float(v))
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = {(pd.Timestamp("1970-01-01") + pd.Timedelta(days=v)).strftime("%Y-%m-%d") for v in extremes}
        years = {round(1970 + v / 365.25, 6) for v in extremes}
    else:
        dates, years = set(), set()
    findings = []
    written = {"quantiles": (entry.get("real") or {}).get("quantiles"),
               "edges": (entry.get("histogram") or {}).get("edges")}
    for path, value in _nodes(written):
        if isinstance(value, str) and value in dates or (
                isinstance(value, (int, float)) and not isinstance(value, bool)
                and (float(value) in extremes or round(float(value), 6) in years)):
            findings.append(f"{where}{path}: a real minimum or maximum")
    return findings


def _scan_survival(where: str, entry: dict, real: RealSurvival, rule: DisclosureRule) -> list[str]:
    findings = []
    t = np.asarray(real.durations, dtype="float64")
    died = np.asarray(real.events, dtype="float64") > 0
    times, deaths = np.unique(t[died], return_counts=True)
    # a time shared by min_cell deaths is a cell of the table, not a person
    death_times = set(times[deaths < rule.min_cell].tolist())
    for path, value in _nodes(entry):
        numbers = value if isinstance(value, list) else [value]
        if "days" in path.rsplit("/", 1)[-1] and any(
                isinstance(v, (int, float)) and not isinstance(v, bool) and float(v) in death_times for v in numbers):
            findings.append(f"{where}{path}: an exact real death time")
    curve = entry.get("curve") or {}
    months = curve.get("months") or []
    if curve.get("survival_real"):
        if any(not _is_count(m) for m in months):
            findings.append(f"{where}: the curve is not on whole months")
        for i, counts in enumerate(step_counts(t, died, months)):
            if min(counts) < rule.min_cell:
                findings.append(f"{where}: curve step {i + 1} holds fewer than {rule.min_cell} real deaths "
                                f"or patients at risk")
    return findings


def scan_report(report: Mapping, rule: DisclosureRule, *, columns: Mapping[str, RealColumn] | None = None,
                survival: Mapping[str, RealSurvival] | None = None) -> list[str]:
    """Where a written report breaks the rule, as a list of places (never the values found there).

    Anywhere: a key named min/max, or a count of 1 to ``min_cell - 1`` under a key naming real data
    (``n_real``, ``sizes/real/...``). A summary ``{"name": ..., ...}`` whose name is in ``columns``:
    named categories, "other" and histogram bins recounted on the real values (each 0 or at least
    ``min_cell`` patients), real shares rounded, quantiles with ``min_cell`` patients on each side, no
    mean or missing share resting on small counts. A survival entry ``{"cancer_type": ...}`` in
    ``survival``: no value under a "days" key that is a real death time, every step of its curve
    holding ``min_cell`` real deaths. The pages and figures of a report are drawn from its JSON alone,
    so scanning the JSON covers them too.
    """
    columns, survival = columns or {}, survival or {}
    findings = []
    for path, value in _nodes(dict(report)):
        if path.startswith(("/thresholds", "/disclosure")):
            continue
        parts = path.split("/")
        key, parent = parts[-1], parts[-2] if len(parts) > 1 else ""
        if key.lower() in EXTREME_KEYS:
            findings.append(f"{path}: a minimum or maximum")
        if _is_count(value) and rule.is_small(value) and ("real" in key or key == "control"
                                                           or parent in ("real", "control")):
            findings.append(f"{path}: a count of fewer than {rule.min_cell} real patients")
        if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"] in columns:
            where, column = f"{path}[{value['name']}]", columns[value["name"]]
            if value.get("categories"):
                findings += _scan_categories(where, value, column, rule)
            if value.get("histogram"):
                findings += _scan_histogram(where, value, column, rule)
            if isinstance(value.get("real"), dict):
                findings += _scan_numbers(where, value["real"], column, rule)
            findings += _scan_extremes(where, value, column, rule)
        if isinstance(value, dict) and value.get("cancer_type") in survival:
            findings += _scan_survival(f"{path}[{value['cancer_type']}]", value, survival[value["cancer_type"]], rule)
    return findings


def scan_folder(folder: str | Path, rule: DisclosureRule, *, columns: Mapping[str, RealColumn] | None = None,
                survival: Mapping[str, RealSurvival] | None = None) -> list[str]:
    """:func:`scan_report` on every JSON file under ``folder`` (a report folder or a release bundle)."""
    findings = []
    for path in sorted(Path(folder).rglob("*.json")):
        report = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(report, dict):
            findings += [f"{path.name}: {f}" for f in scan_report(report, rule, columns=columns, survival=survival)]
    return findings
