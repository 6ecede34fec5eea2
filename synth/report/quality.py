"""SDV's own measures of a replica: the quality report (shapes and pair trends) and the diagnostic.

Both run on the patients table with metadata stated from :mod:`synth.schema` (never
detected), without ``patient_id`` (an id is not a distribution). Each side is subsampled
to the same number of rows, seeded, so the score does not depend on the dataset's size
and stays fast; SDMetrics would otherwise subsample pairs of columns itself, unseeded,
above 50,000 rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.report.inputs import BOOLEAN_COLUMNS, subsample
from synth.schema import PATIENT_COLUMNS

SDV_MAX_ROWS = 50_000
"""SDMetrics subsamples (without a seed) above this size; staying at or below it keeps scores reproducible."""


def scored_columns() -> dict[str, str]:
    """Patient column -> sdtype, without the "id" columns."""
    return {c: sdtype for c, (sdtype, _) in PATIENT_COLUMNS.items() if sdtype != "id"}


def _for_sdv(patients: pd.DataFrame) -> pd.DataFrame:
    """The scored columns with the types SDV expects (booleans as True/False, stage as an integer)."""
    out = patients[list(scored_columns())].copy()
    for column in BOOLEAN_COLUMNS:
        values = out[column]
        out[column] = values.astype("object").where(values.isna(), values == 1)
    out["stage"] = out["stage"].round().astype("Int64").astype("object").where(out["stage"].notna(), None)
    return out


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def sdv_scores(real: pd.DataFrame, synthetic: pd.DataFrame, *, seed: int, max_rows: int) -> dict:
    """Quality score, its two properties with per-column and per-pair details, and the diagnostic."""
    from sdv.evaluation import evaluate_quality, run_diagnostic

    from synth.sdv_support import metadata, quiet

    rows = min(max_rows, SDV_MAX_ROWS, len(real), len(synthetic))
    real_rows = _for_sdv(subsample(real, rows, seed))
    synthetic_rows = _for_sdv(subsample(synthetic, rows, seed + 1))
    md = metadata({"patients": scored_columns()})
    with quiet():
        quality = evaluate_quality(real_rows, synthetic_rows, md, verbose=False)
        diagnostic = run_diagnostic(real_rows, synthetic_rows, md, verbose=False)

    properties = quality.get_properties().set_index("Property")["Score"]
    shapes = quality.get_details("Column Shapes")
    pairs = quality.get_details("Column Pair Trends")
    scored_pairs = pairs[pairs["Score"].notna()]
    diagnostic_properties = diagnostic.get_properties().set_index("Property")["Score"]
    validity = diagnostic.get_details("Data Validity")
    validity = validity[validity["Score"].notna()].groupby("Column", sort=False)["Score"].min()
    return {
        "rows_compared": rows,
        "subsampled": rows < max(len(real), len(synthetic)),
        "n_real": len(real),
        "n_synthetic": len(synthetic),
        "quality_score": _number(quality.get_score()),
        "column_shapes_score": _number(properties.get("Column Shapes")),
        "column_pair_trends_score": _number(properties.get("Column Pair Trends")),
        "column_shapes": [{"column": r["Column"], "metric": r["Metric"], "score": _number(r["Score"])}
                          for _, r in shapes.iterrows()],
        "column_pair_trends": [
            {"column_1": r["Column 1"], "column_2": r["Column 2"], "metric": r["Metric"], "score": _number(r["Score"]),
             "real_correlation": _number(r.get("Real Correlation")),
             "synthetic_correlation": _number(r.get("Synthetic Correlation")),
             "real_association": _number(r.get("Real Association"))}
            for _, r in scored_pairs.iterrows()],
        "pairs_total": len(pairs),
        "pairs_scored": len(scored_pairs),
        "diagnostic_score": _number(diagnostic.get_score()),
        "diagnostic_properties": {k: _number(v) for k, v in diagnostic_properties.items() if not np.isnan(v)},
        "data_validity": {column: _number(score) for column, score in validity.items()},
    }
