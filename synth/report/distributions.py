"""One variable at a time, real vs synthetic: patient columns and what the claims tables say per patient.

Each variable is a :class:`Feature` (the real and synthetic values side by side) with a
summary: for numbers and dates, quantiles and the Kolmogorov–Smirnov distance (largest gap
between the two cumulative distributions, 0 = identical, 1 = disjoint); for categories,
the shares of the most frequent ones and the total variation distance (the share of
patients that would have to change category, 0 = identical).

Real-data aggregates follow the SNDS small-cell rule: a category is named only if at least
``MIN_CELL`` real rows hold it; the others are pooled as "other".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from synth.report.inputs import BOOLEAN_COLUMNS
from synth.schema import PATIENT_COLUMNS, PATIENT_ID

MIN_CELL = 10
TOP_CATEGORIES = 10
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class Feature:
    table: str
    name: str
    label: str
    kind: str  # "numerical", "datetime" or "categorical"
    real: pd.Series
    synthetic: pd.Series


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


def child_features(real: dict[str, pd.DataFrame], synthetic: dict[str, pd.DataFrame]) -> list[Feature]:
    r, s = _child_features(real), _child_features(synthetic)
    return [Feature(table, name, label, kind, values, s[name][3]) for name, (table, label, kind, values) in r.items()]


def orphan_rows(side: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Claims rows whose patient is not in the patients table (a broken link between tables)."""
    known = set(side["patients"][PATIENT_ID])
    return {table: int((~side[table][PATIENT_ID].isin(known)).sum()) for table in ("stays", "dispensings")}


def _numeric(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        days = (values - pd.Timestamp("1970-01-01")).dt.days
        return days.dropna().to_numpy("float64")
    return values.dropna().to_numpy("float64")


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
    out = {"n": len(values), "missing_share": float(values.isna().mean()) if len(values) else 0.0,
           "quantiles": _quantiles(values, kind)}
    if kind == "numerical" and values.notna().any():
        out["mean"] = float(values.mean())
    return out


def category_shares(real: pd.Series, synthetic: pd.Series) -> tuple[list[dict], float, int]:
    """Top real categories (with at least MIN_CELL real rows) and their shares, the total
    variation distance over all categories, and how many synthetic categories never occur in real data."""
    r = real.fillna("(missing)").value_counts()
    s = synthetic.fillna("(missing)").value_counts()
    r_share, s_share = r / max(r.sum(), 1), s / max(s.sum(), 1)
    union = r_share.index.union(s_share.index)
    tvd = 0.5 * float((r_share.reindex(union, fill_value=0) - s_share.reindex(union, fill_value=0)).abs().sum())
    shown = sorted((v for v in r.index if r[v] >= MIN_CELL), key=lambda v: (-r[v], str(v)))[:TOP_CATEGORIES]
    if all(str(v).isdigit() for v in shown):  # stage: in its own order
        shown.sort(key=lambda v: int(v))
    elif set(shown) <= {"no", "yes"}:
        shown.sort()
    rows = [{"value": str(v), "real_share": float(r_share[v]), "synthetic_share": float(s_share.get(v, 0.0))}
            for v in shown]
    rest_r, rest_s = 1 - sum(x["real_share"] for x in rows), 1 - sum(x["synthetic_share"] for x in rows)
    if rest_r > 1e-12 or rest_s > 1e-12:
        rows.append({"value": "other", "real_share": max(rest_r, 0.0), "synthetic_share": max(rest_s, 0.0)})
    return rows, tvd, int((~s.index.isin(r.index)).sum())


def summarise(feature: Feature) -> dict:
    out = {"table": feature.table, "name": feature.name, "label": feature.label, "kind": feature.kind}
    if feature.kind == "categorical":
        rows, tvd, new = category_shares(feature.real, feature.synthetic)
        out.update(categories=rows, total_variation=tvd, synthetic_only_categories=new,
                   n_real=len(feature.real), n_synthetic=len(feature.synthetic))
        return out
    r, s = _numeric(feature.real), _numeric(feature.synthetic)
    out.update(real=_numeric_summary(feature.real, feature.kind),
               synthetic=_numeric_summary(feature.synthetic, feature.kind),
               ks_statistic=float(ks_2samp(r, s).statistic) if len(r) and len(s) else None)
    return out
