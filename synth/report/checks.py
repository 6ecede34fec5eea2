"""Pass/fail checks on a utility report and the verdict drawn from them.

Every threshold is in :data:`THRESHOLDS`, so that they can be tuned in one place. Each
check is ``{name, value, threshold, rule, passed, what}``; the verdict is "adequate" when all
checks pass, else "low utility" followed by the names of the failed checks.

Checks that compare estimates subject to sampling noise (intervals, shares, distances) allow
for that noise as it would separate the real data from an independent sample of the same
population and of the same size — the synthetic side is subsampled to at most as many
patients as the real one beforehand (:func:`synth.report.inputs.paired_sample`), so no
allowance depends on how many rows the replica was sampled with. Groups too small to say
anything are shown, not checked, and said so in the notes.
"""

from __future__ import annotations

import math

import numpy as np

from privacy.disclosure import DisclosureRule
from synth.report.survival import CLEAR_Z

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
    # Cox models (the global one, and one per cancer type with treatments and subtypes): a term is missed when the
    # synthetic 95% CI does not cover the real hazard ratio. An independent sample of the same population and size
    # misses a term about 17% of the time (the real estimate is noisy too), so a model passes when it misses no more
    # terms than such a sample exceeds with at most this probability (terms taken as independent). 1 would fail
    # every single miss. The clinical checks' tails are 0.2% each (z 3.3 for one share), so that a faithful replica
    # fails the report (some twenty noise-bound checks) about one time in twenty, not one in four
    "cox_coverage_tail": 0.002,
    # all terms of a model together: the Wald statistic of the real - synthetic log-HR differences (both covariances)
    # at most the chi-squared quantile an independent sample exceeds with this probability
    "cox_joint_tail": 0.002,
    # terms whose real HR is clearly below 1 (3 standard errors: survival.CLEAR_Z) and synthetic HR at or above 1, or
    # vice versa, at most
    "cox_direction_reversals": 0,
    # a share (treated patients in a cancer x stage, a care pathway, a kind of stay, an ATC class, day cases) passes
    # when |real - synthetic| <= max(its floor, z standard errors of the difference of two independent samples of
    # these sizes; clustered by patient for shares of claims), z being this...
    "share_sampling_z": 3.3,
    # ...or more where many shares are checked together, so that a faithful replica fails any of them with at most
    # this probability (Bonferroni)
    "family_tail": 0.002,
    # floor of the difference of the share of patients receiving a treatment, per cancer type x stage
    "treatment_share_abs": 0.05,
    # ...checked for cells of at least this many real patients
    "share_min_real_patients": 30,
    # floor of the difference of the share of stays that are day cases (discharged the day of admission)
    "day_case_share_abs": 0.02,
    # floor of the difference of the share of stays of a kind / dispensings of an ATC class (first 4 characters)...
    "class_share_abs": 0.02,
    # ...for each kind or class with at least this share of the real rows (the others pooled)
    "class_min_share": 0.01,
    # Kolmogorov-Smirnov distance of length of stay and of the time from diagnosis to the first chemotherapy session,
    # at most this or ks_sampling_allowance x sqrt((n + m) / (n m)), n and m patients (99.9% of two-sample KS noise)
    "claims_ks": 0.05,
    "ks_sampling_allowance": 1.95,
    # time to first chemotherapy checked when at least this many real patients have a session
    "claims_min_real_patients": 30,
    # |median real - synthetic| days from diagnosis to the first chemotherapy session, at most this or
    # share_sampling_z bootstrap standard errors of the difference
    "chemotherapy_median_days": 7,
    # incoherent claims (care_rules) and implausible rows: the synthetic rate at most the real rate plus this many
    # standard errors (0 where the real data have none; a day session lasting a night is never allowed)
    "coherence_sampling_z": 3.3,
    # floor of the difference of the share of patients following a care pathway (order of first treatments)...
    "pathway_share_abs": 0.05,
    # ...for each pathway with at least this share of the real patients (the others pooled)...
    "pathway_min_share": 0.02,
    # ...per cancer type with at least this many real patients
    "pathway_min_real_patients": 50,
    # mean cost per patient: |synthetic / real - 1| at most this, or share_sampling_z standard errors when larger...
    "cost_mean_rel": 0.05,
    # ...for each cancer type and cancer type x stage with at least this many real patients
    "cost_min_real_patients": 50,
    # a replica with more than this many times the real patients gets a note (its extra rows are not used)
    "oversampling_note_ratio": 2.0,
    # extra clinical columns (wide patient tables, synth/report/extra_columns.py), each allowance for all columns
    # together (family_tail): |real - synthetic| share of patients with the column empty, floor...
    "extra_missing_abs": 0.02,
    # ...share of each level of a yes/no or category column (recorded values), floor...
    "extra_share_abs": 0.02,
    # ...Kolmogorov-Smirnov distance of a number column (recorded values), floor (or the two-sample noise)...
    "extra_ks": 0.05,
    # ...Spearman correlation of a column with a core variable (stage, age, sex, 2-year death, treatments, cancer
    # types, subtypes), floor of |real - synthetic| (or z SE, Fisher)...
    "extra_association_abs": 0.05,
    # ...Spearman correlation between two extra columns, floor (the copula's shrinkage costs 2% of each)...
    "extra_correlation_abs": 0.10,
    # ...a correlation being checked when at least this many real patients have both values
    "extra_min_patients": 50,
}
"""Thresholds of the checks; the comments say which direction each one goes."""


def km_limit(n_real: int, n_synthetic: int) -> float:
    """The Kaplan–Meier distance allowed between two groups of these sizes."""
    noise = THRESHOLDS["km_sampling_allowance"] * math.sqrt((n_real + n_synthetic) / (n_real * n_synthetic)) \
        if n_real and n_synthetic else 0.0
    return max(THRESHOLDS["km_max_distance"], noise)


def _check(name: str, value, threshold, rule: str, passed: bool, what: str, **private) -> dict:
    """A check; ``private`` keys (prefixed ``_``) are for :func:`synth.report.disclosed.written_checks` and are
    not written."""
    out = {"name": name, "value": value, "threshold": threshold, "rule": rule, "passed": bool(passed), "what": what}
    out.update({f"_{k}": v for k, v in private.items()})
    return out


def allowed_misses(probabilities: list[float], tail: float) -> int:
    """The number of misses a sample with these per-term miss probabilities exceeds with probability at most
    ``tail`` (Poisson-binomial distribution, terms independent)."""
    distribution = np.array([1.0])
    for p in probabilities:
        distribution = np.convolve(distribution, [1 - p, p])
    above = 1 - np.cumsum(distribution)
    return int(np.flatnonzero(above <= tail + 1e-12)[0])


def _names(terms: list[str]) -> list[str]:
    """Terms as a check may name them: a subtype only as "a subtype" (a rare one may not be named, and whether it
    may depends on ``min_cell``, which a check must not)."""
    subtypes = sum(t.startswith("subtype_") for t in terms)
    named = [t for t in terms if not t.startswith("subtype_")]
    return named + ([f"{subtypes} subtype term{'s' if subtypes > 1 else ''}"] if subtypes else [])


def _cox_checks(label: str, model: dict, checks: list, notes: list, rule: DisclosureRule) -> None:
    """Coverage, joint (Wald) and direction checks of one Cox model (``terms`` as
    :func:`synth.report.survival.compare_terms`)."""
    terms = model["terms"]
    if not terms:
        if model.get("problem_real"):
            notes.append(f"Cox model ({label}) not checked: on real data, {model['problem_real']}.")
        return
    misses = _names([t["term"] for t in terms if not t["covered"]])
    allowed = allowed_misses([t["miss_probability"] for t in terms], THRESHOLDS["cox_coverage_tail"])
    failed_fit = model.get("problem_synthetic")
    what = (f"Cox model, {label}: terms (of {len(terms)}) whose synthetic 95% CI misses the real hazard ratio, at most "
            f"as many as an independent sample of the same size exceeds with probability "
            f"{THRESHOLDS['cox_coverage_tail']:g}")
    if misses:
        what += f" (missed: {', '.join(misses)})"
    if failed_fit:
        what += f"; the synthetic model failed: {failed_fit}"
    key = model.get("cancer", "global")
    n_missed = sum(not t["covered"] for t in terms)
    checks.append(_check(f"cox_coverage:{key}", n_missed, allowed, "<=", n_missed <= allowed and not failed_fit, what))
    joint = model.get("joint")
    if joint is not None:
        from scipy.stats import chi2

        limit = float(chi2.isf(THRESHOLDS["cox_joint_tail"], joint["df"]))
        checks.append(_check(f"cox_joint:{key}", joint["statistic"], limit, "<=",
                             joint["statistic"] <= limit and not failed_fit,
                             f"Cox model, {label}: Wald statistic of the differences between real and synthetic log "
                             f"hazard ratios, {joint['df']} terms together, at most what an independent sample "
                             f"exceeds with probability {THRESHOLDS['cox_joint_tail']:g}"))
    reversed_ = _names([t["term"] for t in terms if t["direction_reversed"]])
    what = (f"Cox model, {label}: terms with a real hazard ratio clearly below 1 (log-HR {CLEAR_Z:g} standard errors "
            f"or more from 0) and a synthetic one at or above 1, or the reverse")
    if reversed_:
        what += f" (reversed: {', '.join(reversed_)})"
    n_reversed = sum(t["direction_reversed"] for t in terms)
    checks.append(_check(f"cox_direction:{key}", n_reversed, THRESHOLDS["cox_direction_reversals"], "<=",
                         n_reversed <= THRESHOLDS["cox_direction_reversals"], what))


def _worst(name: str, worst, what: str, checks: list) -> None:
    checks.append(_check(name, worst, 1.0, "<=", worst is not None and worst <= 1.0, what))


def _treatment_checks(section: dict, checks: list, notes: list, rule: DisclosureRule) -> None:
    for model in section["cox_by_cancer"]:
        _cox_checks(f"{model['cancer']} (stratified by stage, with subtypes and treatments)", model, checks, notes,
                    rule)
    cancers = sorted({c["cancer"] for c in section["shares"]})
    for cancer in cancers:
        cells = [c for c in section["shares"] if c["cancer"] == cancer and c["checked"]]
        if not cells:
            notes.append(f"Treatment shares of {cancer} not checked: no stage has "
                         f"{THRESHOLDS['share_min_real_patients']:g} real patients.")
            continue
        ratios = [None if c["share_synthetic"] is None else abs(c["share_real"] - c["share_synthetic"]) / c["allowance"]
                  for c in cells]
        worst = None if any(r is None for r in ratios) else max(ratios)
        what = (f"share of {cancer} patients receiving each treatment, by stage: largest |real - synthetic| as a "
                f"fraction of its allowance max({THRESHOLDS['treatment_share_abs']:g}, z SE), z >= "
                f"{THRESHOLDS['share_sampling_z']:g} for {len(cells)} stage x treatment cells together")
        if worst is None:
            what += " (a stage has no synthetic patients)"
        _worst(f"treatment_by_stage:{cancer}", worst, what, checks)


def _claims_checks(section: dict, checks: list, notes: list, rule: DisclosureRule) -> None:
    day = section["day_cases"]
    if day["real"]["share"] is None:
        notes.append("Day cases not checked: the real data have no stays.")
    else:
        diff = day["difference"]
        checks.append(_check("day_case_share", diff, day["allowance"], "<=",
                             diff is not None and diff <= day["allowance"],
                             "share of stays discharged the day of admission: |real - synthetic| within "
                             f"max({THRESHOLDS['day_case_share_abs']:g}, {THRESHOLDS['share_sampling_z']:g} SE), "
                             "SE clustered by patient" + (" (no synthetic stays)" if diff is None else "")))
    los = section["length_of_stay"]
    if los["patients_real"]:
        checks.append(_check("length_of_stay_ks", los["ks"], los["limit"], "<=",
                             los["ks"] is not None and los["ks"] <= los["limit"],
                             "Kolmogorov–Smirnov distance of length of stay (nights), within two-sample noise "
                             "(patients as the sample size)"))
    chemo = section["chemotherapy_delay"]
    if not chemo["checked"]:
        notes.append(f"Time to the first chemotherapy session not checked: {rule.describe(chemo['patients_real'])} "
                     f"real patients have a session (fewer than {THRESHOLDS['claims_min_real_patients']:g}).")
    else:
        none = chemo["patients_synthetic"] == 0
        checks.append(_check("chemotherapy_delay_ks", chemo["ks"], chemo["limit"], "<=",
                             not none and chemo["ks"] <= chemo["limit"],
                             "Kolmogorov–Smirnov distance of the days from diagnosis to the first chemotherapy "
                             "session (Z51.1), within two-sample noise"
                             + (" (no synthetic chemotherapy session)" if none else "")))
        diff = chemo["median_difference"]
        checks.append(_check("chemotherapy_delay_median", diff, chemo["median_allowance"], "<=",
                             diff is not None and diff <= chemo["median_allowance"],
                             "|real - synthetic| median days from diagnosis to the first chemotherapy session, within "
                             f"max({THRESHOLDS['chemotherapy_median_days']:g} days, "
                             f"{THRESHOLDS['share_sampling_z']:g} bootstrap SE)"))
    for key, name, what in (("stay_kinds", "stay_kind_shares", "kind of stay (surgery, chemotherapy session, "
                                                               "radiotherapy session, palliative, other)"),
                            ("atc_classes", "atc_class_shares", "ATC class of dispensings (first 4 characters)")):
        part = section[key]
        if not part["rows_real"]:
            notes.append(f"Shares by {what} not checked: the real data have no such rows.")
            continue
        _worst(name, part["worst_ratio"],
               f"share of rows by {what}: largest |real - synthetic| as a fraction of its allowance "
               f"max({THRESHOLDS['class_share_abs']:g}, z SE clustered by patient), z >= "
               f"{THRESHOLDS['share_sampling_z']:g} for all kinds together"
               + (" (no synthetic rows)" if part["worst_ratio"] is None else ""), checks)
    for entry in section["coherence"]:
        r, s = entry["real"], entry["synthetic"]
        if entry["absolute"]:
            if r["count"]:
                notes.append(f"The real data hold {rule.describe(r['count'])} {entry['what']}: the check allows none "
                             "in the replica all the same.")
            checks.append(_check(f"coherence:{entry['rule']}", s["count"], 0, "<=", entry["passed"],
                                 f"{entry['what']}: none allowed"))
            continue
        zero = not r["count"]
        what = (f"rate of {entry['what']}: " + ("none in the real data, none allowed" if zero else
                f"the real rate plus {THRESHOLDS['coherence_sampling_z']:g} standard errors at most"))
        checks.append(_check(f"coherence:{entry['rule']}", s["rate"], entry["allowed_rate"], "<=", entry["passed"],
                             what, real_count=r["count"], real_patients=r["patients"]))


def _pathway_checks(section: list, checks: list, notes: list, rule: DisclosureRule) -> None:
    for entry in section:
        cancer = entry["cancer"]
        if not entry["checked"]:
            notes.append(f"Care pathways of {cancer} not checked: {rule.describe(entry['n_real'])} real patients "
                         f"(fewer than {THRESHOLDS['pathway_min_real_patients']:g}).")
            continue
        what = (f"care pathways of {cancer} (order of the first surgery, chemotherapy, radiotherapy, hormone therapy): "
                f"largest |real - synthetic| share of patients as a fraction of its allowance "
                f"max({THRESHOLDS['pathway_share_abs']:g}, z SE), z >= {THRESHOLDS['share_sampling_z']:g} for "
                f"{len(entry['pathways'])} pathways together")
        if entry["worst_ratio"] is None:
            what += f" (no synthetic {cancer} patients)"
        _worst(f"pathways:{cancer}", entry["worst_ratio"], what, checks)


def _cost_checks(section: dict, checks: list, notes: list, rule: DisclosureRule) -> None:
    groups = section["groups"]
    for g in (g for g in groups if g["stage"] is None):
        cancer = g["cancer"]
        if not g["checked"]:
            notes.append(f"Cost per patient of {cancer} not checked: {rule.describe(g['real']['n'])} real patients "
                         f"(fewer than {THRESHOLDS['cost_min_real_patients']:g}).")
            continue
        ratio = g["ratio"]
        checks.append(_check(f"cost_per_patient:{cancer}", g["relative_difference"], g["allowance"], "|value| <=",
                             ratio is not None and ratio <= 1.0,
                             f"mean cost per {cancer} patient (stays + dispensings): synthetic / real - 1, within "
                             f"{THRESHOLDS['cost_mean_rel']:.0%} or {THRESHOLDS['share_sampling_z']:g} SE when larger"
                             + (" (no synthetic patients)" if ratio is None else "")))
        stages = [s for s in groups if s["cancer"] == cancer and s["stage"] is not None and s["checked"]]
        if stages:
            ratios = [s["ratio"] for s in stages]
            worst = None if any(r is None for r in ratios) else max(ratios)
            _worst(f"cost_by_stage:{cancer}", worst,
                   f"mean cost per {cancer} patient by stage: largest |synthetic - real| as a fraction of its "
                   f"allowance, over the {len(stages)} stages with {THRESHOLDS['cost_min_real_patients']:g} real "
                   f"patients or more", checks)


def _oversampling(sizes: dict, notes: list, rule: DisclosureRule) -> None:
    n_real, n_synthetic = sizes["real"]["patients"], sizes["synthetic"]["patients"]
    if n_real and n_synthetic > THRESHOLDS["oversampling_note_ratio"] * n_real:
        notes.append(f"The replica has {n_synthetic:,} patients, {n_synthetic / n_real:.1f} times the real data's "
                     f"{rule.describe(n_real)}: every check compares at most as many synthetic patients as real ones "
                     "(a random subsample), so more synthetic rows make no interval narrower and no check easier "
                     "or harder; sampling more rows than were trained on adds no information.")


def build_checks(report: dict, rule: DisclosureRule | None = None) -> tuple[list[dict], list[str]]:
    """The checks of a measured report (sections as built by :func:`synth.report.build_utility_report`, at
    full resolution), and notes on what could not be checked (real counts in them through ``rule``)."""
    rule = rule or DisclosureRule()
    checks, notes = [], []
    _oversampling(report["sizes"], notes, rule)
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
    else:
        _cox_checks(f"all cancers (stage, age, cancer type vs {cox['reference_cancer']}, sex)", cox, checks, notes,
                    rule)

    _section_checks(report, checks, notes, rule)

    prediction = report["prediction"]
    if prediction["problem"]:
        notes.append(f"TSTR not checked: {prediction['problem']}.")
    else:
        ratio = prediction["auc_ratio"]
        checks.append(_check("tstr_auc_ratio", ratio, THRESHOLDS["tstr_auc_ratio"], ">=",
                             ratio is not None and ratio >= THRESHOLDS["tstr_auc_ratio"],
                             "AUC trained on synthetic / AUC trained on real (2-year death, real test set)"))
    return checks, notes


def _extra_column_checks(section: dict, checks: list, notes: list, rule: DisclosureRule) -> None:
    """The extra clinical columns (synth/report/extra_columns.py): present, as often empty, same values, same
    relations with the core variables and between them."""
    missing = section["missing_from_replica"]
    checks.append(_check("extra_columns_present", len(missing), 0, "<=", not missing,
                         f"real extra clinical columns absent from the replica (of {section['training_columns']})"
                         + (f": {', '.join(missing[:10])}{'...' if len(missing) > 10 else ''}" if missing else "")))
    if section["not_in_training"]:
        notes.append(f"The replica has {len(section['not_in_training'])} extra column(s) the real data do not have "
                     f"({', '.join(section['not_in_training'][:10])}); they are not compared.")
    if not section["compared"]:
        return

    def worst_columns(key: str) -> str:
        ranked = sorted((c for c in section["columns"] if c[key] is not None), key=lambda c: -c[key])[:3]
        return ", ".join(c["name"] for c in ranked if c[key] > 1)

    for name, part, key, what in (
            ("extra_columns_missing", "missing", "missing_ratio",
             f"share of patients with each extra column empty: largest |real - synthetic| as a fraction of its "
             f"allowance max({THRESHOLDS['extra_missing_abs']:g}, z SE), z for the {section['compared']} columns"),
            ("extra_columns_marginals", "marginals", "marginal_ratio",
             f"recorded values of each extra column (KS distance of numbers, within max({THRESHOLDS['extra_ks']:g}, "
             f"two-sample noise); share of each level, within max({THRESHOLDS['extra_share_abs']:g}, z SE)): "
             "largest distance as a fraction of its allowance")):
        worst = section[part]["worst_ratio"]
        names = worst_columns(key)
        _worst(name, worst, what + (f" (worst: {names})" if names else ""), checks)
    a = section["associations"]
    for name, key, checked, worst, targets in (
            ("extra_columns_associations", "worst_association", a["checked"], a["worst_ratio"],
             "stage, age, sex, death within 2 years, cancer types and subtypes"),
            ("extra_columns_treatments", "worst_treatment_association", a["checked_treatments"],
             a["worst_ratio_treatments"], "each treatment (these also follow the baseline model's age-treatment "
                                          "links)")):
        if not checked:
            notes.append(f"Associations of the extra columns with {targets.split(' (')[0]} not checked: no column has "
                         f"{THRESHOLDS['extra_min_patients']:g} real patients recorded and enough variation.")
            continue
        ranked = sorted((c for c in section["columns"] if c[key] and c[key]["ratio"] is not None),
                        key=lambda c: -c[key]["ratio"])
        names = ", ".join(f"{c['name']} ~ {c[key]['target']}" for c in ranked[:3] if c[key]["ratio"] > 1)
        _worst(name, worst, f"Spearman correlation of each extra column with {targets}: largest |real - synthetic| "
                            f"as a fraction of its allowance max({THRESHOLDS['extra_association_abs']:g}, z SE), z for "
                            f"all {a['checked'] + a['checked_treatments']} correlations with "
                            f"{THRESHOLDS['extra_min_patients']:g} real patients or more"
                            + (f" (worst: {names})" if names else ""), checks)
    c = section["correlations"]
    if c["checked"]:
        worst = c["largest_differences"][:1]
        failing = worst and (worst[0]["ratio"] is None or worst[0]["ratio"] > 1)
        names = f" (worst: {worst[0]['column_1']} ~ {worst[0]['column_2']})" if failing else ""
        _worst("extra_columns_correlations", c["worst_ratio"],
               f"Spearman correlation between two extra columns: largest |real - synthetic| as a fraction of its "
               f"allowance max({THRESHOLDS['extra_correlation_abs']:g}, z SE), z for the {c['checked']} pairs with "
               f"{THRESHOLDS['extra_min_patients']:g} real patients recorded on both" + names, checks)


def _section_checks(sections: dict, checks: list, notes: list, rule: DisclosureRule) -> None:
    """The checks of the clinical sections present: treatments by stage, claims, pathways, costs, and the extra
    clinical columns of a wide patient table."""
    for name, add in (("treatments", _treatment_checks), ("claims", _claims_checks), ("pathways", _pathway_checks),
                      ("costs", _cost_checks), ("extra_columns", _extra_column_checks)):
        if name in sections:
            add(sections[name], checks, notes, rule)


def clinical_checks(sections: dict, rule: DisclosureRule | None = None) -> tuple[list[dict], list[str]]:
    """The checks of the clinical sections alone (``treatments``, ``claims``, ``pathways``, ``costs`` and the global
    ``cox`` when given, as :func:`synth.report.build.clinical_sections` measures them), with the oversampling note
    when ``sizes`` is given: what a test or a notebook runs without the SDV scores and the prediction task."""
    rule = rule or DisclosureRule()
    checks, notes = [], []
    if "sizes" in sections:
        _oversampling(sections["sizes"], notes, rule)
    if sections.get("cox") and not sections["cox"]["problem_real"]:
        _cox_checks("all cancers", sections["cox"], checks, notes, rule)
    _section_checks(sections, checks, notes, rule)
    return checks, notes


def verdict(checks: list[dict]) -> str:
    failed = [c["name"] for c in checks if not c["passed"]]
    return "adequate" if not failed else "low utility: failed " + ", ".join(failed)
