"""Pairwise associations between patient columns, real vs synthetic.

One matrix per side, each cell in [-1, 1]:
- both columns ordered (numbers, dates, stage, yes/no and two-valued categories such as
  sex): Spearman's rank correlation (signed);
- either column a category with more than two values (cancer type, subtype, département):
  Cramér's V with Bergsma's bias correction (0 = independent, 1 = one determines the
  other), numbers being cut at the real deciles first.
A replica keeps the relations between variables when the two matrices agree; the report
gives the largest absolute difference and the pairs behind it. Both sides are compared on
the same number of rows (a seeded subsample) so that sampling noise is comparable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.report.inputs import CATEGORICAL_COLUMNS, subsample
from synth.report.quality import scored_columns

TOP_PAIRS = 5


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Bias-corrected Cramér's V of two integer-coded arrays (Bergsma 2013)."""
    n = len(a)
    if n < 3:
        return 0.0
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    r, k = a.max() + 1, b.max() + 1
    if r < 2 or k < 2:
        return 0.0
    table = np.bincount(a * k + b, minlength=r * k).reshape(r, k).astype("float64")
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_corr, k_corr = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    denominator = min(k_corr - 1, r_corr - 1)
    return float(np.sqrt(phi2 / denominator)) if denominator > 0 else 0.0


def _encode(real: pd.DataFrame, synthetic: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    """Numeric frames (same columns both sides) and the set of nominal (integer-coded) columns."""
    r_out, s_out, nominal = {}, {}, set()
    for column in scored_columns():
        r, s = real[column], synthetic[column]
        if column in CATEGORICAL_COLUMNS:
            levels = sorted(r.dropna().unique().tolist())
            extra = sorted(set(s.dropna().unique().tolist()) - set(levels))
            codes = {v: i for i, v in enumerate(levels + extra)}
            missing = len(codes)
            r, s = (x.map(codes).fillna(missing).astype("float64") for x in (r, s))
            if len(levels) > 2:
                nominal.add(column)
            else:  # a two-valued category is ordered: 0/1 (sorted real values), missing left out
                r, s = r.where(r < 2), s.where(s < 2)
        elif pd.api.types.is_datetime64_any_dtype(r):
            r, s = ((x - pd.Timestamp("1970-01-01")).dt.days.astype("float64") for x in (r, s))
        r_out[column], s_out[column] = r.astype("float64"), s.astype("float64")
    return pd.DataFrame(r_out), pd.DataFrame(s_out), nominal


def _binned(r: pd.Series, s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for a numeric column: real deciles as cut points, missing as its own code."""
    edges = np.unique(np.nanquantile(r.to_numpy(), np.linspace(0.1, 0.9, 9))) if r.notna().any() else np.array([])

    def cut(x: pd.Series) -> np.ndarray:
        codes = np.searchsorted(edges, x.to_numpy(), side="right")
        return np.where(x.isna().to_numpy(), len(edges) + 1, codes)

    return cut(r), cut(s)


def _matrix(frame: pd.DataFrame, nominal: set[str], coded: dict[str, np.ndarray]) -> pd.DataFrame:
    columns = list(frame.columns)
    ordered = [c for c in columns if c not in nominal]
    out = pd.DataFrame(0.0, index=columns, columns=columns)
    with np.errstate(divide="ignore", invalid="ignore"):
        spearman = frame[ordered].corr(method="spearman", min_periods=3).fillna(0.0)
    out.loc[ordered, ordered] = spearman.to_numpy()
    for i, a in enumerate(columns):
        for b in columns[i + 1:]:
            if a in nominal or b in nominal:
                out.loc[a, b] = out.loc[b, a] = _cramers_v(coded[a], coded[b])
    for c in columns:
        out.loc[c, c] = 1.0
    return out


def correlations(real: pd.DataFrame, synthetic: pd.DataFrame, *, seed: int, max_rows: int) -> dict:
    """Both association matrices, their absolute difference, its maximum and the pairs behind it."""
    rows = min(max_rows, len(real), len(synthetic))
    r, s, nominal = _encode(subsample(real, rows, seed), subsample(synthetic, rows, seed + 1))
    r_coded, s_coded = {}, {}
    for column in r.columns:
        if column in nominal:
            r_coded[column], s_coded[column] = r[column].to_numpy(int), s[column].to_numpy(int)
        else:
            r_coded[column], s_coded[column] = _binned(r[column], s[column])
    real_m, synthetic_m = _matrix(r, nominal, r_coded), _matrix(s, nominal, s_coded)
    diff = (real_m - synthetic_m).abs()
    columns = list(real_m.columns)
    pairs = [(float(diff.loc[a, b]), a, b) for i, a in enumerate(columns) for b in columns[i + 1:]]
    pairs.sort(key=lambda p: (-round(p[0], 9), p[1], p[2]))
    return {
        "rows_compared": rows,
        "columns": columns,
        "measure": {c: "cramers_v" if c in nominal else "spearman" for c in columns},
        "real": real_m.to_numpy().tolist(),
        "synthetic": synthetic_m.to_numpy().tolist(),
        "max_abs_diff": pairs[0][0] if pairs else 0.0,
        "largest_differences": [{"column_1": a, "column_2": b, "real": float(real_m.loc[a, b]),
                                 "synthetic": float(synthetic_m.loc[a, b]), "abs_diff": d}
                                for d, a, b in pairs[:TOP_PAIRS]],
    }
