"""Extra clinical columns of a wide patient table, real vs synthetic: summarised in a few numbers, not 500 panels.

A warehouse's patient table holds hundreds of variables beyond the fixed ones (:func:`synth.schema.extra_columns`).
Each is compared on what a study uses it for, and every comparison allows for the noise between
two samples of the real data's size, for all columns checked together (Bonferroni, as the other
clinical checks):

- **presence**: every real extra column is in the replica;
- **missing shares**: how often each column is empty (a sparse biomarker stays sparse);
- **marginals**: Kolmogorov–Smirnov distance of numbers, largest share difference of the levels
  of yes/no and category columns (recorded values);
- **associations with the core**: Spearman's correlation of each column with stage, age, sex,
  death within two years, each cancer type and each subtype (0/1), on the patients for whom
  both are known: a prognostic marker must keep its link with survival, a receptor status with
  its subtype; and, checked apart, with each treatment (comorbidities and performance status
  go with treatment choices; a replica whose baseline model weakens the age-treatment links of
  confounding by indication weakens these too, and this check says so);
- **correlations between extra columns** (Spearman, on patients recorded on both).

Costs are bounded: at most ``max_rows`` real patients and as many synthetic ones, ranks and
matrix products (columns x targets and columns x columns), no per-pair loop; the SDV quality
score stays on the fixed columns (SDMetrics' pair trends over 500 columns would take hours).
What is written obeys the small-cell rule: correlations and distances are aggregates, real
missing shares are rounded (:meth:`privacy.disclosure.DisclosureRule.share`), counts below the
threshold are null; no real value or category share of an extra column is written.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privacy.disclosure import DisclosureRule
from synth.report.inputs import subsample
from synth.report.prediction import two_year_death
from synth.report.treatments import family_z
from synth.schema import TREATMENTS, extra_sdtypes

PAIR_MAX_ROWS = 10_000
"""Patients per side for the column x column correlations (a 500 x 500 matrix: about 1 s at this size)."""
WORST_SHOWN = 15


def _codes(values: pd.Series, sdtype: str, levels: list) -> np.ndarray:
    """Numbers as floats; yes/no as 0/1; categories as their rank among ``levels`` (sorted, both sides'); NaN
    where empty."""
    if sdtype == "numerical":
        return pd.to_numeric(values, errors="coerce").to_numpy("float64")
    if sdtype == "boolean":
        return values.astype("object").map({True: 1.0, False: 0.0}).astype("float64").to_numpy()
    return values.map({v: float(i) for i, v in enumerate(levels)}).astype("float64").to_numpy()


def _matrix(patients: pd.DataFrame, kinds: dict[str, str], levels: dict[str, list]) -> np.ndarray:
    return np.column_stack([_codes(patients[c], kinds[c], levels[c]) for c in kinds]) if kinds else \
        np.zeros((len(patients), 0))


def _targets(patients: pd.DataFrame, cancers: list[str], subtypes: list[str]) -> dict[str, np.ndarray]:
    """The core variables each extra column is correlated with (NaN where unknown)."""
    died = np.full(len(patients), np.nan)
    known, label = two_year_death(patients.assign(_row=np.arange(len(patients))))
    died[known["_row"].to_numpy()] = label
    out = {"stage": patients["stage"].to_numpy(float), "age": patients["age_at_diagnosis"].to_numpy(float),
           "male": (patients["sex"] == "M").to_numpy(float), "death within 2 years": died}
    for flag in TREATMENTS:
        out[flag] = patients[flag].to_numpy(float)
    for cancer in cancers:
        out[f"cancer={cancer}"] = (patients["cancer_type"] == cancer).to_numpy(float)
    for subtype in subtypes:
        out[f"subtype={subtype}"] = (patients["subtype"] == subtype).to_numpy(float)
    return out


def _ranks(x: np.ndarray) -> np.ndarray:
    """Column ranks scaled to [-0.5, 0.5] (ties averaged, NaN kept): Spearman's correlation is Pearson's on them."""
    if x.shape[1] == 0:
        return x
    ranks = pd.DataFrame(x).rank(method="average").to_numpy()
    return ranks / np.maximum(np.sum(~np.isnan(x), axis=0), 1) - 0.5


def pairwise_correlation(a: np.ndarray, b: np.ndarray, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlations of every column of ``a`` with every column of ``b`` over the rows where both are
    present (NaN elsewhere), and those rows' counts: matrix products on masked sums, no loop over pairs."""
    ma, mb = (~np.isnan(a)).astype(dtype), (~np.isnan(b)).astype(dtype)
    a0, b0 = np.nan_to_num(a).astype(dtype), np.nan_to_num(b).astype(dtype)
    n = ma.T @ mb
    sa, sb = a0.T @ mb, ma.T @ b0
    saa, sbb, sab = (a0 ** 2).T @ mb, ma.T @ (b0 ** 2), a0.T @ b0
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.maximum(n, 1)
        cov = sab / m - (sa / m) * (sb / m)
        var = (saa / m - (sa / m) ** 2) * (sbb / m - (sb / m) ** 2)
        r = np.where((n >= 3) & (var > 1e-12), cov / np.sqrt(np.maximum(var, 1e-24)), np.nan)
    return np.clip(r.astype(np.float64), -1, 1), n.astype(np.int64)


def _informative(x: np.ndarray, minimum: int) -> np.ndarray:
    """Columns with at least ``minimum`` recorded values besides their commonest one: a correlation of a yes/no
    held by a handful of patients is too noisy for Fisher's standard error (and rare levels are top-coded away)."""
    out = np.zeros(x.shape[1], bool)
    for j in range(x.shape[1]):
        values = x[~np.isnan(x[:, j]), j]
        if len(values):
            _, counts = np.unique(values, return_counts=True)
            out[j] = len(values) - counts.max() >= minimum
    return out


def _correlation_ratio(real: np.ndarray, synthetic: np.ndarray, n_real: np.ndarray, n_synthetic: np.ndarray,
                       floor: float, z: float) -> np.ndarray:
    """|real - synthetic| / max(floor, z SE); SE of a difference of two Spearman correlations (Fisher: Var r =
    1.06 (1 - rho^2)^2 / (n - 3), rho taken as the real one)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        se = (1 - real ** 2) * np.sqrt(1.06 / np.maximum(n_real - 3, 1) + 1.06 / np.maximum(n_synthetic - 3, 1))
        return np.abs(real - synthetic) / np.maximum(floor, z * se)


def _share_allowance(p_real, n_real, p_synthetic, n_synthetic, floor: float, z: float):
    p = (np.asarray(p_real) * n_real + np.asarray(p_synthetic) * n_synthetic) / np.maximum(n_real + n_synthetic, 1)
    return np.maximum(floor, z * np.sqrt(p * (1 - p) * (1 / np.maximum(n_real, 1) + 1 / np.maximum(n_synthetic, 1))))


def _marginal(r: np.ndarray, s: np.ndarray, sdtype: str, thresholds: dict, z: float, ks_c: float) -> dict:
    """The distance of one column's recorded values and its ratio to the allowance."""
    from scipy.stats import ks_2samp

    r, s = r[~np.isnan(r)], s[~np.isnan(s)]
    if len(r) == 0 or len(s) == 0:
        return {"measure": None, "distance": None, "ratio": None if len(r) else 0.0}
    if sdtype == "numerical" and len(np.unique(r)) > 10:
        distance = float(ks_2samp(r, s).statistic)
        limit = max(thresholds["extra_ks"], ks_c * np.sqrt((len(r) + len(s)) / (len(r) * len(s))))
        return {"measure": "ks", "distance": distance, "ratio": distance / limit}
    values = np.union1d(np.unique(r), np.unique(s))
    pr = np.array([(r == v).mean() for v in values])
    ps = np.array([(s == v).mean() for v in values])
    ratio = np.abs(pr - ps) / _share_allowance(pr, len(r), ps, len(s), thresholds["extra_share_abs"], z)
    return {"measure": "largest share difference", "distance": float(np.abs(pr - ps).max()),
            "ratio": float(ratio.max())}


def extra_columns_section(real: pd.DataFrame, synthetic: pd.DataFrame, *, seed: int, max_rows: int,
                          thresholds: dict) -> dict | None:
    """The measured section (full resolution, for :func:`synth.report.checks.build_checks`), or None when neither
    patients table has extra columns. ``real`` and ``synthetic`` are the normalised patients tables."""
    real_kinds, synthetic_kinds = extra_sdtypes(real), extra_sdtypes(synthetic)
    if not real_kinds and not synthetic_kinds:
        return None
    kinds = {c: t for c, t in real_kinds.items() if c in synthetic_kinds}
    r = subsample(real, max_rows, seed)
    s = subsample(synthetic, len(r), seed + 1)
    levels = {c: sorted(set(r[c].dropna().astype(str)) | set(s[c].dropna().astype(str)))
              if t == "categorical" else [] for c, t in kinds.items()}
    xr, xs = _matrix(r, kinds, levels), _matrix(s, kinds, levels)
    names = list(kinds)
    w = len(names)

    # missing shares
    miss_r, miss_s = np.isnan(xr).mean(0), np.isnan(xs).mean(0)
    z_missing = family_z(thresholds["share_sampling_z"], w, thresholds["family_tail"])
    missing_ratio = np.abs(miss_r - miss_s) / _share_allowance(miss_r, len(r), miss_s, len(s),
                                                               thresholds["extra_missing_abs"], z_missing)
    # marginals of the recorded values
    z_levels = family_z(thresholds["share_sampling_z"], sum(max(len(levels[c]), 2) for c in names),
                        thresholds["family_tail"])
    ks_c = max(thresholds["ks_sampling_allowance"], float(np.sqrt(-0.5 * np.log(thresholds["family_tail"] /
                                                                                 (2 * max(w, 1))))))
    marginals = [_marginal(xr[:, j], xs[:, j], kinds[c], thresholds, z_levels, ks_c) for j, c in enumerate(names)]

    # associations with the core variables
    cancers = sorted(r["cancer_type"].dropna().astype(str).unique())
    subtypes = sorted(r["subtype"].dropna().astype(str).unique())
    t_real, t_syn = _targets(r, cancers, subtypes), _targets(s, cancers, subtypes)
    targets = list(t_real)
    tr = np.column_stack(list(t_real.values()))
    rr, nr = pairwise_correlation(_ranks(xr), _ranks(tr))
    rs, ns = pairwise_correlation(_ranks(xs), _ranks(np.column_stack(list(t_syn.values()))))
    minimum = thresholds["extra_min_patients"]
    informative = _informative(xr, minimum)
    checked = (nr >= minimum) & np.isfinite(rr) & informative[:, None] & _informative(tr, minimum)[None, :]
    z_assoc = family_z(thresholds["share_sampling_z"], int(checked.sum()), thresholds["family_tail"])
    # a synthetic correlation that cannot be computed (a column constant in the replica) counts as none
    assoc_ratio = _correlation_ratio(rr, np.nan_to_num(rs), nr, ns, thresholds["extra_association_abs"], z_assoc)
    assoc_ratio = np.where(checked, assoc_ratio, np.nan)
    treatment = np.array([t in TREATMENTS for t in targets])  # checked apart: they follow the baseline model's
    #                                                           own age-treatment links (confounding by indication)

    # correlations between extra columns
    pr, ps = subsample(r, PAIR_MAX_ROWS, seed + 2), subsample(s, PAIR_MAX_ROWS, seed + 3)
    yr, ys = _ranks(_matrix(pr, kinds, levels)), _ranks(_matrix(ps, kinds, levels))
    cr, cnr = pairwise_correlation(yr, yr, np.float32)
    cs, cns = pairwise_correlation(ys, ys, np.float32)
    upper = np.triu(np.ones((w, w), bool), 1)
    pair_informative = _informative(_matrix(pr, kinds, levels), minimum)
    pair_checked = upper & (cnr >= minimum) & np.isfinite(cr) & np.outer(pair_informative, pair_informative)
    z_pairs = family_z(thresholds["share_sampling_z"], int(pair_checked.sum()), thresholds["family_tail"])
    pair_ratio = _correlation_ratio(cr, np.nan_to_num(cs), cnr, cns, thresholds["extra_correlation_abs"], z_pairs)
    pair_ratio = np.where(pair_checked, pair_ratio, np.nan)

    columns = []
    def worst(j: int, part: np.ndarray) -> dict | None:
        row = np.where(part, assoc_ratio[j], np.nan)
        if np.isnan(row).all():
            return None
        k = int(np.nanargmax(row))
        return {"target": targets[k], "real": float(rr[j, k]), "synthetic": _float(rs[j, k]), "ratio": _float(row[k])}

    for j, c in enumerate(names):
        columns.append({
            "name": c, "kind": kinds[c], "recorded_real": int((~np.isnan(xr[:, j])).sum()),
            "missing_real": float(miss_r[j]), "missing_synthetic": float(miss_s[j]),
            "missing_ratio": float(missing_ratio[j]), **{f"marginal_{key}": v for key, v in marginals[j].items()},
            "worst_association": worst(j, ~treatment), "worst_treatment_association": worst(j, treatment)})
    pairs = np.argwhere(pair_checked)
    order = np.argsort(-np.nan_to_num(pair_ratio[pair_checked], posinf=1e9), kind="stable")[:WORST_SHOWN]
    return {
        "rows_compared": {"real": len(r), "synthetic": len(s), "pairs": min(len(pr), len(ps))},
        "training_columns": len(real_kinds), "replica_columns": len(synthetic_kinds), "compared": w,
        "kinds": {kind: sum(t == kind for t in kinds.values()) for kind in ("numerical", "boolean", "categorical")},
        "missing_from_replica": [c for c in real_kinds if c not in synthetic_kinds],
        "not_in_training": [c for c in synthetic_kinds if c not in real_kinds],
        "targets": targets,
        "columns": columns,
        "associations": {"checked": int(checked[:, ~treatment].sum()),
                         "checked_treatments": int(checked[:, treatment].sum()), "z": z_assoc,
                         "real": _rounded(rr), "synthetic": _rounded(rs), "patients_real": nr.tolist(),
                         "worst_ratio": _worst(assoc_ratio[:, ~treatment]),
                         "worst_ratio_treatments": _worst(assoc_ratio[:, treatment])},
        "missing": {"worst_ratio": _worst(missing_ratio), "z": z_missing},
        "marginals": {"worst_ratio": _worst(np.array([m["ratio"] if m["ratio"] is not None else np.nan
                                                      for m in marginals], float))},
        "correlations": {"checked": int(pair_checked.sum()), "z": z_pairs, "worst_ratio": _worst(pair_ratio),
                         "max_abs_diff": _float(np.nanmax(np.where(pair_checked, np.abs(cr - cs), np.nan)))
                         if pair_checked.any() else None,
                         "mean_abs_diff": _float(np.nanmean(np.where(pair_checked, np.abs(cr - cs), np.nan)))
                         if pair_checked.any() else None,
                         "largest_differences": [
                             {"column_1": names[a], "column_2": names[b], "real": float(cr[a, b]),
                              "synthetic": _float(cs[a, b]), "ratio": _float(pair_ratio[a, b])}
                             for a, b in pairs[order]]},
    }


def _float(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def _rounded(matrix: np.ndarray) -> list:
    return [[None if np.isnan(v) else round(float(v), 4) for v in row] for row in matrix]


def _worst(ratios: np.ndarray) -> float | None:
    """The largest ratio (inf: a real relation the replica cannot measure at all), None when nothing is checked."""
    finite = ratios[~np.isnan(ratios)]
    return float(finite.max()) if len(finite) else None


def extra_columns_shown(section: dict, rule: DisclosureRule) -> dict:
    """The section as it may be written: real counts through the rule, real missing shares rounded, association
    entries resting on fewer than ``min_cell`` real patients dropped."""
    import copy

    out = copy.deepcopy(section)
    n = section["rows_compared"]["real"]
    out["rows_compared"]["real"] = rule.count(n)
    for column in out["columns"]:
        column["missing_real"] = rule.share(round(column["missing_real"] * n), n)
        column["recorded_real"] = rule.count(column["recorded_real"])
    a = out["associations"]
    small = [[rule.is_small(v) for v in row] for row in a["patients_real"]]
    a["real"] = [[None if s else v for v, s in zip(row, flags)] for row, flags in zip(a["real"], small)]
    a["patients_real"] = [[rule.count(v) for v in row] for row in a["patients_real"]]
    return out
