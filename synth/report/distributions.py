"""One variable at a time, real vs synthetic: patient columns and what the claims tables say per patient.

Each variable is a :class:`Feature` (the real and synthetic values side by side) with a
summary: for numbers and dates, quantiles, a histogram and the Kolmogorov–Smirnov distance
(largest gap between the two cumulative distributions, 0 = identical, 1 = disjoint); for
categories, the shares of the most frequent ones and the total variation distance (the
share of patients that would have to change category, 0 = identical).

What a summary says about real data obeys the small-cell rule (:mod:`privacy.disclosure`):
a category is named, a histogram bin drawn, a quantile given only if at least ``min_cell``
real patients stand behind it (claims rows count their patients, not the rows); the other
categories are pooled as "(other)", thin bins merged with their neighbours, and real shares
rounded. The synthetic side is drawn on the same bins and categories, so both stay comparable.
The distances (KS, total variation) are computed on all values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from privacy.disclosure import (
    MISSING,
    OTHER,
    DisclosureRule,
    bin_shares,
    histogram,
    named_categories,
    safe_mean,
    safe_quantiles,
    safe_range,
)
from synth.report.inputs import BOOLEAN_COLUMNS
from synth.schema import PATIENT_COLUMNS, PATIENT_ID

TOP_CATEGORIES = 10
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
HIST_BINS = 30
HIST_TRIM = 0.005  # the histogram's range leaves out this share of rare values at each end (they go to the outer bins)


@dataclass(frozen=True)
class Feature:
    table: str
    name: str
    label: str
    kind: str  # "numerical", "datetime" or "categorical"
    real: pd.Series
    synthetic: pd.Series
    real_holders: pd.Series | None = None  # the patient of each real row when rows are stays or dispensings


def _kind(column: str) -> str:
    sdtype = PATIENT_COLUMNS[column][0]
    if column == "stage" or sdtype in ("categorical", "boolean"):
        return "categorical"
    return sdtype


def _as_category(values: pd.Series, column: str) -> pd.Series:
    if column in BOOLEAN_COLUMNS:
        return values.map({1.0: "yes", 0.0: "no"})
    if column == "stage":
        return values.round().astype("Int64").astype("string").astype("object").where(values.notna(), None)
    return values


def patient_features(real: pd.DataFrame, synthetic: pd.DataFrame) -> list[Feature]:
    features = []
    for column, (sdtype, meaning) in PATIENT_COLUMNS.items():
        if sdtype == "id":
            continue
        kind = _kind(column)
        r, s = real[column], synthetic[column]
        if kind == "categorical":
            r, s = _as_category(r, column), _as_category(s, column)
        features.append(Feature("patients", column, meaning, kind, r, s))
    return features


def _per_patient(children: pd.DataFrame, patients: pd.DataFrame) -> pd.Series:
    """Rows per patient of ``patients`` (zeros included); rows of unknown patients are not counted."""
    counts = children[PATIENT_ID].value_counts()
    return patients[PATIENT_ID].map(counts).fillna(0).astype("float64")


def _days_since_diagnosis(children: pd.DataFrame, patients: pd.DataFrame, column: str) -> pd.Series:
    diagnosis = children[PATIENT_ID].map(patients.set_index(PATIENT_ID)["diagnosis_date"])
    return (children[column] - diagnosis).dt.days.astype("float64")


def _child_features(side: dict[str, pd.DataFrame]) -> dict[str, tuple[str, str, str, pd.Series]]:
    patients, stays, dispensings = side["patients"], side["stays"], side["dispensings"]
    return {
        "stays_per_patient": ("stays", "hospital stays per patient", "numerical", _per_patient(stays, patients)),
        "length_of_stay": ("stays", "length of stay in days (discharge - admission)", "numerical",
                           (stays["discharge_date"] - stays["admission_date"]).dt.days.astype("float64")),
        "days_diagnosis_to_admission": ("stays", "days from the patient's diagnosis to admission", "numerical",
                                        _days_since_diagnosis(stays, patients, "admission_date")),
        "main_diagnosis": ("stays", "main diagnosis of the stay (ICD-10)", "categorical", stays["main_diagnosis"]),
        "dispensings_per_patient": ("dispensings", "drug dispensings per patient", "numerical",
                                    _per_patient(dispensings, patients)),
        "days_diagnosis_to_dispensing": ("dispensings", "days from the patient's diagnosis to dispensing",
                                         "numerical", _days_since_diagnosis(dispensings, patients, "dispensing_date")),
        "atc_code": ("dispensings", "ATC code of the dispensed drug", "categorical", dispensings["atc_code"]),
        "quantity": ("dispensings", "boxes dispensed", "numerical", dispensings["quantity"]),
    }


_PER_PATIENT = ("stays_per_patient", "dispensings_per_patient")


def child_features(real: dict[str, pd.DataFrame], synthetic: dict[str, pd.DataFrame]) -> list[Feature]:
    r, s = _child_features(real), _child_features(synthetic)
    return [Feature(table, name, label, kind, values, s[name][3],
                    None if name in _PER_PATIENT else real[table][PATIENT_ID].reset_index(drop=True))
            for name, (table, label, kind, values) in r.items()]


def orphan_rows(side: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Claims rows whose patient is not in the patients table (a broken link between tables)."""
    known = set(side["patients"][PATIENT_ID])
    return {table: int((~side[table][PATIENT_ID].isin(known)).sum()) for table in ("stays", "dispensings")}


def _numeric(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        days = (values - pd.Timestamp("1970-01-01")).dt.days
        return days.dropna().to_numpy("float64")
    return values.dropna().to_numpy("float64")


def as_days(values: pd.Series) -> np.ndarray:
    """Numbers as floats, dates as days since 1970; missing kept as NaN (rows stay aligned with their patients)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return ((values - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86_400).to_numpy("float64")
    return values.to_numpy("float64")


def _plot_scale(values: pd.Series) -> np.ndarray:
    """Numbers as floats; dates as decimal years (readable on an axis); missing as NaN."""
    days = as_days(values)
    return 1970 + days / 365.25 if pd.api.types.is_datetime64_any_dtype(values) else days


def _date(days: float) -> str:
    # a quantile between two days is the earlier day, as pandas' quantile of dates would print it
    return (pd.Timestamp("1970-01-01") + pd.Timedelta(days=math.floor(days + 1e-9))).strftime("%Y-%m-%d")


def _quantiles(values: pd.Series, kind: str) -> dict:
    present = values.dropna()
    if present.empty:
        return {}
    if kind == "datetime":
        q = present.quantile(list(QUANTILES))
        return {f"p{int(p * 100)}": v.strftime("%Y-%m-%d") for p, v in zip(QUANTILES, q)}
    q = np.quantile(present.to_numpy("float64"), QUANTILES)
    return {f"p{int(p * 100)}": float(v) for p, v in zip(QUANTILES, q)}


def _numeric_summary(values: pd.Series, kind: str) -> dict:
    """A synthetic variable's summary: every value counts, nothing to hide."""
    out = {"n": len(values), "missing_share": float(values.isna().mean()) if len(values) else 0.0,
           "quantiles": _quantiles(values, kind)}
    if kind == "numerical" and values.notna().any():
        out["mean"] = float(values.mean())
    return out


def _real_numeric_summary(values: pd.Series, kind: str, holders: pd.Series | None, rule: DisclosureRule) -> dict:
    """A real variable's summary as it may be written: quantiles with enough patients on both sides,
    a rounded missing share, no mean of too few patients (suppressed values are null)."""
    days = as_days(values)
    out = {"n": rule.count(len(values)), "missing_share": rule.share(int(values.isna().sum()), len(values)),
           "quantiles": {}}
    if values.notna().any():
        q = safe_quantiles(days, QUANTILES, rule, holders=holders)
        out["quantiles"] = {f"p{int(p * 100)}": (None if v is None else _date(v) if kind == "datetime" else v)
                            for p, v in zip(QUANTILES, q)}
        if kind == "numerical":
            out["mean"] = safe_mean(days, rule, holders=holders)
    return out


def _histogram(feature: Feature, rule: DisclosureRule) -> dict | None:
    """The bins both sides are drawn on: a real range that leaves out the rare real extremes, one bin per value
    for small integers (else ``HIST_BINS`` equal bins), adjacent bins merged until each holds at least
    ``min_cell`` real patients. Shares of each side per bin (values beyond the range in the outer bins),
    rounded; ``bin_width`` is the width before merging. ``None`` when too few real patients for any bin."""
    r, s = _plot_scale(feature.real), _plot_scale(feature.synthetic)
    real_range = safe_range(r, rule, holders=feature.real_holders, trim=HIST_TRIM)
    if real_range is None:
        return None
    # the real range only: a synthetic tail may end where the real one does (generators clamp to the real
    # range), so it must not set an edge either; synthetic values beyond fall in the outer bins like real ones
    lo, hi = real_range
    r_present, s_present = r[np.isfinite(r)], s[np.isfinite(s)]
    integers = all(np.all(x == np.round(x)) for x in (r_present, s_present))
    if integers and hi - lo <= 40:
        edges = np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 1.5)
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1, HIST_BINS + 1)
    edges = np.round(edges, 6)  # the edges as written, so that what is merged is what is drawn and checked
    merged = histogram(r, edges, rule, holders=feature.real_holders)
    if merged is None:
        return None
    n = len(r_present)
    return {"unit": "year" if feature.kind == "datetime" else None,
            "bin_width": float(edges[1] - edges[0]),
            "edges": [float(e) for e in merged.edges],
            "real_share": [rule.round_share(x, n) for x in bin_shares(r, merged.edges)],
            "synthetic_share": [rule.round_share(x, n) for x in bin_shares(s, merged.edges)]}


def category_shares(real: pd.Series, synthetic: pd.Series, rule: DisclosureRule, *,
                    holders: pd.Series | None = None) -> tuple[list[dict] | None, float, int]:
    """The real categories that may be named (at most ``TOP_CATEGORIES``) with both sides' rounded shares and
    the rest as "(other)"; the total variation distance over all categories; how many synthetic categories
    never occur in real data. The rows are ``None`` when the real rows belong to too few patients."""
    r_labels = real.astype("object").where(real.notna(), MISSING).reset_index(drop=True)
    s_labels = synthetic.astype("object").where(synthetic.notna(), MISSING).reset_index(drop=True)
    r, s = r_labels.value_counts(), s_labels.value_counts()
    r_share, s_share = r / max(r.sum(), 1), s / max(s.sum(), 1)
    union = r_share.index.union(s_share.index)
    tvd = 0.5 * float((r_share.reindex(union, fill_value=0) - s_share.reindex(union, fill_value=0)).abs().sum())
    new = int((~s.index.isin(r.index)).sum())
    shown = named_categories(r_labels, rule, holders=holders, top=TOP_CATEGORIES)
    if shown is None:
        return None, tvd, new
    if all(str(v).isdigit() for v in shown):  # stage: in its own order
        shown.sort(key=lambda v: int(v))
    elif set(shown) <= {"no", "yes"}:
        shown.sort()
    n = len(r_labels)
    rows = [{"value": str(v), "real_share": rule.round_share(float(r_share[v]), n),
             "synthetic_share": rule.round_share(float(s_share.get(v, 0.0)), n)} for v in shown]
    rest_r, rest_s = (~r_labels.isin(shown)).mean(), (~s_labels.isin(shown)).mean() if len(s_labels) else 0.0
    if rest_r > 0 or rest_s > 0:
        rows.append({"value": OTHER, "real_share": rule.round_share(float(rest_r), n),
                     "synthetic_share": rule.round_share(float(rest_s), n)})
    return rows, tvd, new


def summarise(feature: Feature, rule: DisclosureRule) -> dict:
    """The summary of one variable as it is written in the report (real side through ``rule``)."""
    out = {"table": feature.table, "name": feature.name, "label": feature.label, "kind": feature.kind}
    if feature.kind == "categorical":
        rows, tvd, new = category_shares(feature.real, feature.synthetic, rule, holders=feature.real_holders)
        out.update(categories=rows, total_variation=tvd, synthetic_only_categories=new,
                   n_real=rule.count(len(feature.real)), n_synthetic=len(feature.synthetic))
        return out
    r, s = _numeric(feature.real), _numeric(feature.synthetic)
    out.update(real=_real_numeric_summary(feature.real, feature.kind, feature.real_holders, rule),
               synthetic=_numeric_summary(feature.synthetic, feature.kind),
               histogram=_histogram(feature, rule),
               ks_statistic=float(ks_2samp(r, s).statistic) if len(r) and len(s) else None)
    return out
