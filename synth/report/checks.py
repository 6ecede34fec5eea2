"""Pass/fail checks on a utility report and the verdict drawn from them.

Every threshold is in :data:`THRESHOLDS`, so that they can be tuned in one place. Each
check is ``{name, value, threshold, rule, passed, what}``; the verdict is "adequate" when all
checks pass, else "low utility" followed by the names of the failed checks.
"""

from __future__ import annotations

import math

from privacy.disclosure import DisclosureRule
from synth.report.survival import term_label

THRESHOLDS: dict[str, float] = {
    # SDV quality score (mean of column shapes and column pair trends), at least
    "sdv_quality": 0.75,
    # SDV diagnostic score (values within the real ranges and categories, table structure), at least
    "sdv_diagnostic": 0.90,
    # largest |real - synthetic| over all pairwise associations of patient columns, at most
    "correlation_max_abs_diff": 0.25,
    # largest vertical distance between the real and synthetic Kaplan-Meier curves of a cancer type, at most...
    "km_max_distance": 0.10,
    # ...for every cancer type with at least this many real patients (smaller groups are shown, not checked)...
    "km_min_real_patients": 50,
    # ...or, when larger, this many times sqrt((n_real + n_synthetic) / (n_real * n_synthetic)): the gap two
    # samples of those sizes from one population stay under 99% of the time (1.63 is the two-sample
    # Kolmogorov-Smirnov constant); it only matters for small groups (0 turns it off)
    "km_sampling_allowance": 1.63,
    # TSTR AUC / TRTR AUC, at least
    "tstr_auc_ratio": 0.90,
}
"""Thresholds of the checks; the comments say which direction each one goes."""


def km_limit(n_real: int, n_synthetic: int) -> float:
    """The Kaplan–Meier distance allowed between two groups of these sizes."""
    noise = THRESHOLDS["km_sampling_allowance"] * math.sqrt((n_real + n_synthetic) / (n_real * n_synthetic)) \
        if n_real and n_synthetic else 0.0
    return max(THRESHOLDS["km_max_distance"], noise)


def _check(name: str, value, threshold, rule: str, passed: bool, what: str) -> dict:
    return {"name": name, "value": value, "threshold": threshold, "rule": rule, "passed": bool(passed), "what": what}


def build_checks(report: dict, rule: DisclosureRule | None = None) -> tuple[list[dict], list[str]]:
    """The checks of a measured report (sections as built by :func:`synth.report.build_utility_report`, at
    full resolution), and notes on what could not be checked (real counts in them through ``rule``)."""
    rule = rule or DisclosureRule()
    checks, notes = [], []
    sdv = report["sdv"]
    q, d = sdv["quality_score"], sdv["diagnostic_score"]
    checks.append(_check("sdv_quality", q, THRESHOLDS["sdv_quality"], ">=",
                         q is not None and q >= THRESHOLDS["sdv_quality"],
                         "SDV quality score of the patients table"))
    checks.append(_check("sdv_diagnostic", d, THRESHOLDS["sdv_diagnostic"], ">=",
                         d is not None and d >= THRESHOLDS["sdv_diagnostic"],
                         "SDV diagnostic: synthetic values within real ranges and categories"))
    diff = report["correlations"]["max_abs_diff"]
    checks.append(_check("correlation_max_abs_diff", diff, THRESHOLDS["correlation_max_abs_diff"], "<=",
                         diff <= THRESHOLDS["correlation_max_abs_diff"],
                         "largest difference between real and synthetic pairwise associations"))

    for km in report["survival"]["kaplan_meier"]:
        cancer = km["cancer_type"]
        if km["n_real"] < THRESHOLDS["km_min_real_patients"]:
            notes.append(f"Kaplan–Meier for {cancer} not checked: {rule.describe(km['n_real'])} real patients "
                         f"(fewer than {THRESHOLDS['km_min_real_patients']:g}).")
            continue
        limit = km_limit(km["n_real"], km["n_synthetic"])
        distance = km["max_distance"]
        what = f"largest vertical distance between the Kaplan–Meier curves, {cancer}"
        if distance is None:
            what += " (no synthetic patients with this cancer type)"
        checks.append(_check(f"km_max_distance:{cancer}", distance, limit, "<=",
                             distance is not None and distance <= limit, what))

    cox = report["survival"]["cox"]
    if cox["problem_real"]:
        notes.append(f"Cox model not checked: on real data, {cox['problem_real']}.")
    for term in cox["terms"]:
        r, s = term["real"], term["synthetic"]
        what = f"hazard ratio of {term_label(term['term'], cox['reference_cancer'])}: synthetic 95% CI overlaps the real one"
        if s is None:
            what += " (not estimable on synthetic data)"
        checks.append(_check(f"cox_ci_overlap:{term['term']}", None if s is None else [s["lower"], s["upper"]],
                             [r["lower"], r["upper"]], "overlaps", term["ci_overlap"], what))

    prediction = report["prediction"]
    if prediction["problem"]:
        notes.append(f"TSTR not checked: {prediction['problem']}.")
    else:
        ratio = prediction["auc_ratio"]
        checks.append(_check("tstr_auc_ratio", ratio, THRESHOLDS["tstr_auc_ratio"], ">=",
                             ratio is not None and ratio >= THRESHOLDS["tstr_auc_ratio"],
                             "AUC trained on synthetic / AUC trained on real (2-year death, real test set)"))
    return checks, notes


def verdict(checks: list[dict]) -> str:
    failed = [c["name"] for c in checks if not c["passed"]]
    return "adequate" if not failed else "low utility: failed " + ", ".join(failed)
