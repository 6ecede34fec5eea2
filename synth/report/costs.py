"""Cost per patient real vs synthetic, by cancer type and stage (medico-economic studies).

A patient's cost is the sum of ``cost_eur`` over their hospital stays and drug dispensings
(0 for a patient with none; a missing cost counts as 0 and the share of such rows is given).
Costs are very skewed (a few long stays weigh as much as many day sessions), so each mean comes
with a seeded percentile bootstrap 95% CI (``BOOTSTRAP`` resamples of the patients) besides its
standard error. On the paired sample (at most as many synthetic patients as real):

- per cancer type, the synthetic mean passes within ``max(cost_mean_rel · real mean,
  share_sampling_z · SE)`` of the real one (SE of the difference of two independent means): 5%
  on large data, wider where chance alone separates two samples;
- per cancer type × stage, the same rule, checked for groups of at least
  ``cost_min_real_patients`` real patients (smaller ones are shown, not checked).

What is written passes the small-cell rule: a real mean, CI or median only for at least
``min_cell`` real patients (the median with ``min_cell`` patients on each side), counts suppressed
below it, and never a real minimum or maximum.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from privacy.disclosure import DisclosureRule, safe_quantiles
from synth.report.treatments import STAGES
from synth.schema import PATIENT_ID

BOOTSTRAP = 1000
CHUNK = 2_000_000  # resampled values per batch, to bound memory on large groups


def patient_costs(side: dict[str, pd.DataFrame]) -> pd.Series:
    """Cost per patient (the patients table's order): stays plus dispensings, 0 for none."""
    ids = side["patients"][PATIENT_ID]
    total = pd.Series(0.0, index=ids.to_numpy())
    for table in ("stays", "dispensings"):
        frame = side[table]
        per = frame["cost_eur"].fillna(0.0).groupby(frame[PATIENT_ID].to_numpy()).sum()
        total = total.add(per.reindex(total.index, fill_value=0.0), fill_value=0.0)
    return pd.Series(total.to_numpy("float64"), index=side["patients"].index)


def _missing_share(side: dict[str, pd.DataFrame]) -> float:
    rows = sum(len(side[t]) for t in ("stays", "dispensings"))
    missing = sum(int(side[t]["cost_eur"].isna().sum()) for t in ("stays", "dispensings"))
    return missing / rows if rows else 0.0


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator, resamples: int = BOOTSTRAP) -> list[float] | None:
    """Percentile bootstrap 95% CI of the mean."""
    n = len(values)
    if n < 2:
        return None
    means = np.empty(resamples)
    per_batch = max(1, CHUNK // n)
    for start in range(0, resamples, per_batch):
        stop = min(resamples, start + per_batch)
        draws = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[draws].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return [float(low), float(high)]


def _summary(values: np.ndarray, rng: np.random.Generator) -> dict:
    n = len(values)
    return {"n": n, "mean": float(values.mean()) if n else None,
            "se": float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else None,
            "ci": bootstrap_ci(values, rng)}


def _group(cancer: str, stage, r: np.ndarray, s: np.ndarray, t: dict, min_real: int,
           rng: np.random.Generator) -> dict:
    real, synthetic = _summary(r, rng), _summary(s, rng)
    entry = {"cancer": cancer, "stage": stage, "real": real, "synthetic": synthetic,
             "relative_difference": None, "allowance": None, "ratio": None, "checked": real["n"] >= min_real}
    if real["mean"] and synthetic["mean"] is not None:
        se = math.hypot(real["se"] or 0.0, synthetic["se"] or 0.0)
        allowance = max(t["cost_mean_rel"] * real["mean"], t["share_sampling_z"] * se)
        entry["relative_difference"] = synthetic["mean"] / real["mean"] - 1
        entry["allowance"] = allowance / real["mean"]
        entry["ratio"] = abs(synthetic["mean"] - real["mean"]) / allowance if allowance else None
    return entry


def costs_section(real: dict[str, pd.DataFrame], synthetic: dict[str, pd.DataFrame], *, thresholds: dict,
                  rule: DisclosureRule, seed: int) -> tuple[dict, dict]:
    """(measured, shown): per cancer type and per cancer type x stage, from the paired sample."""
    rng = np.random.default_rng(seed)
    t = thresholds
    rp, sp = real["patients"], synthetic["patients"]
    r_cost, s_cost = patient_costs(real), patient_costs(synthetic)
    groups = []
    for cancer in sorted(rp["cancer_type"].dropna().unique()):
        r_in, s_in = (rp["cancer_type"] == cancer).to_numpy(), (sp["cancer_type"] == cancer).to_numpy()
        groups.append(_group(str(cancer), None, r_cost[r_in].to_numpy(), s_cost[s_in].to_numpy(), t,
                             t["cost_min_real_patients"], rng))
        r_stage, s_stage = rp["stage"].round().to_numpy(), sp["stage"].round().to_numpy()
        for stage in STAGES:
            r_g, s_g = r_in & (r_stage == stage), s_in & (s_stage == stage)
            if r_g.any():
                groups.append(_group(str(cancer), stage, r_cost[r_g].to_numpy(), s_cost[s_g].to_numpy(), t,
                                     t["cost_min_real_patients"], rng))
    measured = {"groups": groups, "missing_cost_share_real": _missing_share(real),
                "missing_cost_share_synthetic": _missing_share(synthetic)}

    shown_groups = []
    for g in groups:
        cancer_rows = (rp["cancer_type"] == g["cancer"]).to_numpy()
        if g["stage"] is not None:
            cancer_rows &= (rp["stage"].round() == g["stage"]).to_numpy()
        values = r_cost[cancer_rows].to_numpy()
        enough = not rule.is_small(len(values)) and len(values) > 0
        real_shown = {"n": rule.count(g["real"]["n"]), "mean": g["real"]["mean"] if enough else None,
                "ci": g["real"]["ci"] if enough else None,
                "median": safe_quantiles(values, [0.5], rule)[0] if len(values) else None}
        s_values = _synthetic_values(g, sp, s_cost)
        synthetic = {"n": g["synthetic"]["n"], "mean": g["synthetic"]["mean"], "ci": g["synthetic"]["ci"],
                     "median": float(np.median(s_values)) if len(s_values) else None}
        shown_groups.append({"cancer": g["cancer"], "stage": g["stage"], "real": real_shown, "synthetic": synthetic,
                             "relative_difference": g["relative_difference"] if enough else None,
                             "checked": g["checked"]})
    rows = sum(len(real[t_]) for t_ in ("stays", "dispensings"))
    shown = {"groups": shown_groups,
             "missing_cost_share_real": rule.round_share(measured["missing_cost_share_real"], rows) if rows else 0.0,
             "missing_cost_share_synthetic": measured["missing_cost_share_synthetic"]}
    return measured, shown


def _synthetic_values(group: dict, patients: pd.DataFrame, costs: pd.Series) -> np.ndarray:
    rows = (patients["cancer_type"] == group["cancer"]).to_numpy()
    if group["stage"] is not None:
        rows &= (patients["stage"].round() == group["stage"]).to_numpy()
    return costs[rows].to_numpy()
