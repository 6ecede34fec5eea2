"""The control arm's report: ``arm.json``, ``arm.html``, ``protocol.md`` and ``figures/``, disclosure-controlled.

A statistician hands this to a reviewer, and it may leave the secure area, so everything in it
goes through :mod:`privacy.disclosure` (the SNDS small-cell rule, ``min_cell`` = 11 by default)
whether the controls are real or synthetic (the trial's patients are real either way):

- counts of patients: suppressed (null, "<11") when 1 to ``min_cell - 1``; the attrition of each
  arm is grouped (:func:`attrition_shown`) so that no step, and no difference of two shown
  counts, excludes 1 to ``min_cell - 1`` patients; the same for eligible vs analysed patients;
- the balance table: a level's shares and SMDs are suppressed where an arm holds 1 to
  ``min_cell - 1`` patients with (or without) it; shares rounded (:meth:`DisclosureRule.share`);
  means of numbers only over ``min_cell`` patients or more (:func:`privacy.disclosure.safe_mean`);
- survival curves at whole months, each step holding ``min_cell`` deaths and ending with
  ``min_cell`` still at risk (:func:`privacy.disclosure.grouped_kaplan_meier` on the arm's patients,
  the weighted Kaplan–Meier read on that grid), never a death time; the curve entries carry
  ``cancer_type`` and ``curve.survival_real`` so that :func:`privacy.disclosure.scan_report` can check
  them; the RMST only when ``min_cell`` patients of each arm are still at risk at the horizon, the
  hazard ratio only when each arm holds ``min_cell`` patients and deaths;
- the propensity score's histograms on a fixed grid of [0, 1], bins merged to ``min_cell``
  patients (:func:`privacy.disclosure.histogram`), never a minimum or maximum.

The page and figures are drawn from the written JSON alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from html import escape
from pathlib import Path

import numpy as np

from harmonie.io import write_text
from harmonie.report_html import fmt as _f
from harmonie.report_html import img as _img
from harmonie.report_html import page
from harmonie.report_html import table as _table
from privacy.disclosure import (
    MONTH_DAYS,
    SURVIVAL_DECIMALS,
    DisclosureRule,
    grouped_kaplan_meier,
    histogram,
    interpolated,
    median_interval,
    safe_mean,
)
from synth.arms import figures
from synth.arms.protocol import protocol_markdown, target_trial_protocol
from synth.report.build import _plain

FORMAT = "harmonie-arm/1"
PS_EDGES = np.linspace(0, 1, 21)
LANDMARKS = {"1y": 12, "2y": 24, "3y": 36}


# --- counts ----------------------------------------------------------------------------------------

def attrition_shown(attrition, rule: DisclosureRule) -> list[dict]:
    """The attrition as it may be written: consecutive criteria grouped until each group excludes 0 or at least
    ``min_cell`` patients (a last group too small merges backwards until it is not); the patients left after
    each group through the rule, and no exclusion shown once the patients left are too few to show (their
    difference would give them away)."""
    if not attrition:
        return []
    counts = [n for _, n in attrition]

    def enough(excluded: int) -> bool:
        return excluded == 0 or not rule.is_small(excluded)

    groups: list[list[int]] = []  # indices of the criteria in each group
    open_group: list[int] = []
    start = counts[0]
    for i in range(1, len(counts)):
        open_group.append(i)
        if enough(start - counts[i]):
            groups.append(open_group)
            open_group, start = [], counts[i]
    while open_group and groups:
        last = groups.pop()
        open_group = last + open_group
        if enough(counts[open_group[0] - 1] - counts[open_group[-1]]):
            break
    if open_group:
        groups.append(open_group)
    first_hidden = bool(groups) and not enough(counts[0] - counts[groups[0][-1]])
    out = [{"criteria": [attrition[0][0]], "patients": None if first_hidden else rule.count(counts[0])}]
    before = counts[0]
    for group in groups:
        after = counts[group[-1]]
        out.append({"criteria": [attrition[i][0] for i in group], "patients": rule.count(after),
                    "excluded": None if rule.is_small(after) or first_hidden else rule.count(before - after)})
        before = after
    return out


def split_count(total: int, part: int, rule: DisclosureRule) -> tuple[int | None, int | None, int | None]:
    """A total, a part of it and the rest, as they may be written: the part and the rest both suppressed when
    either is small (showing one with the total would give the other away)."""
    if rule.is_small(part) or rule.is_small(total - part):
        return rule.count(total), None, None
    return rule.count(total), part, total - part


def _sizes(result, rule: DisclosureRule) -> dict:
    b = result.balanced
    t_total, t_kept, t_rest = split_count(len(result.trial.patients), b.trial_kept, rule)
    c_total, c_kept, _ = split_count(len(result.control.patients), b.controls_used, rule)
    ess = b.control_ess
    trial = {"n_eligible": t_total, "n_analysed": t_kept}
    if b.method == "match":
        trial["n_without_match"] = t_rest
    return {"trial": trial,
            "control": {"n_eligible": c_total, "n_analysed": c_kept,
                        "n_effective": None if rule.is_small(round(ess)) else round(ess, 1)}}


# --- balance ---------------------------------------------------------------------------------------

SMD_DECIMALS = 3


def _smd(value: float | None) -> float | None:
    return None if value is None else round(float(value), SMD_DECIMALS)


def _balance_row(row: dict, sizes: tuple[int, int, int, int], rule: DisclosureRule) -> dict:
    """One covariate level as it may be written (module docstring); the "after" side is also suppressed for an arm
    that lost 1 to ``min_cell - 1`` patients to balancing (the difference would describe them)."""
    out = {k: row[k] for k in ("term", "covariate", "level", "kind", "reference")}
    n_t, n_c, k_t, k_c = sizes
    out.update(_balance_values(row, sizes, rule))
    for arm, lost in (("trial", n_t - k_t), ("control", n_c - k_c)):
        if rule.is_small(lost):
            out["after"] = {**out["after"], arm: None, "smd": None}
    return out


def _balance_values(row: dict, sizes: tuple[int, int, int, int], rule: DisclosureRule) -> dict:
    n_t, n_c, k_t, k_c = sizes
    out: dict = {}
    if "_counts" in row:
        yes_t, no_t, yes_c, no_c, yes_t2, no_t2, yes_c2, no_c2 = row["_counts"]
        small = {"before": any(rule.is_small(v) for v in (yes_t, no_t, yes_c, no_c)),
                 "after": any(rule.is_small(v) for v in (yes_t2, no_t2, yes_c2, no_c2))}
        for moment, (nt, nc, ct, cc) in (("before", (n_t, n_c, yes_t, yes_c)), ("after", (k_t, k_c, yes_t2, yes_c2))):
            m = row[moment]
            out[moment] = {
                "trial": None if rule.is_small(ct) or rule.is_small(nt - ct) else rule.round_share(m["trial"], nt),
                "control": None if rule.is_small(cc) or rule.is_small(nc - cc) else rule.round_share(m["control"], nc),
                "smd": None if small[moment] else _smd(m["smd"])}
    else:
        for moment, (nt, nc) in (("before", (n_t, n_c)), ("after", (k_t, k_c))):
            m = row[moment]
            enough = not (rule.is_small(nt) or rule.is_small(nc)) and min(nt, nc) >= rule.min_cell
            out[moment] = {"trial": round(m["trial"], 1) if nt >= rule.min_cell else None,
                           "control": round(m["control"], 1) if nc >= rule.min_cell else None,
                           "smd": _smd(m["smd"]) if enough else None}
    return out


def _balance(result, rule: DisclosureRule) -> tuple[list[dict], dict]:
    b = result.balanced
    sizes = (len(result.trial.patients), len(result.control.patients), b.trial_kept, b.controls_used)
    rows = [_balance_row(r, sizes, rule) for r in result.balance_table]
    target = result.spec.analysis.target_smd

    def largest(moment: str):
        values = [abs(r[moment]["smd"]) for r in rows if r[moment]["smd"] is not None]
        return max(values) if values else None

    unbalanced = [r["term"] for r in result.balance_table
                  if r["after"]["smd"] is not None and abs(r["after"]["smd"]) > target]
    hidden = [r["term"] for r in rows if r["after"]["smd"] is None]
    return rows, {"largest_abs_smd_before": largest("before"), "largest_abs_smd_after": largest("after"),
                  "target_smd": target, "unbalanced_terms": unbalanced, "balanced": not unbalanced,
                  "terms_not_shown": hidden}


# --- survival --------------------------------------------------------------------------------------

def _curve(cancer: str, arm: str, time: np.ndarray, event: np.ndarray, weight: np.ndarray, n: int | None,
           deaths: int | None, rule: DisclosureRule) -> dict:
    """A curve entry: the grid of the arm's own patients (weight > 0), the weighted Kaplan–Meier read on it."""
    from synth.arms.outcome import kaplan_meier

    kept = weight > 0
    t, e, w = time[kept], event[kept], weight[kept]
    grid = grouped_kaplan_meier(t, e, rule)
    survival: list[float] = []
    if grid.months:
        at = kaplan_meier(t, e, w).survival_function_at_times(np.array(grid.months) * MONTH_DAYS).to_numpy()
        survival = [round(float(s), SURVIVAL_DECIMALS) for s in at]
    return {"cancer_type": cancer, "arm": arm, "n": n, "deaths": deaths,
            "curve": {"months": list(grid.months), "survival_real": survival},
            "median_interval_months": median_interval(grid.months, survival) if survival else None,
            "landmarks": {k: interpolated(grid.months, survival, m) if survival else None
                          for k, m in LANDMARKS.items()}}


def _survival(result, sizes: dict, rule: DisclosureRule) -> dict:
    """The three curves; counts as :func:`_sizes` shows them, the balanced controls' deaths suppressed when the
    deaths of the controls left out are too few to show (the two curves' counts would give them away)."""
    b, cancer = result.balanced, result.spec.eligibility.cancer
    t, c = result.trial.patients, result.control.patients
    tt, te = t["time_days"].to_numpy(float), t["event"].to_numpy(bool)
    ct, ce = c["time_days"].to_numpy(float), c["event"].to_numpy(bool)
    all_deaths, kept_deaths = int(ce.sum()), int(ce[b.control_weight > 0].sum())
    _, balanced_deaths, _ = split_count(all_deaths, kept_deaths, rule)
    return {"trial": _curve(cancer, "trial", tt, te, b.trial_weight, sizes["trial"]["n_analysed"],
                            rule.count(int(te[b.trial_weight > 0].sum())), rule),
            "control_before": _curve(cancer, "control_before", ct, ce, np.ones(len(c)), sizes["control"]["n_eligible"],
                                     rule.count(all_deaths), rule),
            "control_balanced": _curve(cancer, "control_balanced", ct, ce, b.control_weight,
                                       sizes["control"]["n_analysed"], balanced_deaths, rule)}


def _enough_for_model(result, rule: DisclosureRule) -> str | None:
    b = result.balanced
    for arm, frame, w in (("trial", result.trial.patients, b.trial_weight),
                          ("control", result.control.patients, b.control_weight)):
        kept = w > 0
        if kept.sum() < rule.min_cell or frame["event"].to_numpy(bool)[kept].sum() < rule.min_cell:
            return f"the {arm} arm holds fewer than {rule.min_cell} analysed patients or deaths"
    return None


def _rmst(result, rule: DisclosureRule) -> dict:
    r, b, horizon = result.rmst, result.balanced, result.spec.analysis.horizon_days
    for arm, frame, w in (("trial", result.trial.patients, b.trial_weight),
                          ("control", result.control.patients, b.control_weight)):
        at_risk = int(((frame["time_days"].to_numpy(float) > horizon) & (w > 0)).sum())
        if r is None or at_risk < rule.min_cell:
            return {"horizon_months": round(horizon / MONTH_DAYS, 1), "shown": False,
                    "reason": f"fewer than {rule.min_cell} patients of the {arm} arm are still followed at the horizon"}
    interval = r.bootstrap > 0
    return {"horizon_months": round(horizon / MONTH_DAYS, 1), "shown": True, "trial_months": r.trial / MONTH_DAYS,
            "control_months": r.control / MONTH_DAYS, "difference_months": r.difference / MONTH_DAYS,
            "lower_95_months": r.lower_95 / MONTH_DAYS if interval else None,
            "upper_95_months": r.upper_95 / MONTH_DAYS if interval else None, "bootstrap": r.bootstrap}


def _propensity(result, rule: DisclosureRule) -> dict:
    b = result.balanced
    if b.method == "none":
        return {}
    out = {}
    for arm, score in (("trial", b.trial_score), ("control", b.control_score)):
        hist = histogram(score, PS_EDGES, rule)
        if hist is None:
            out[arm] = None
            continue
        total = int(hist.counts.sum())
        out[arm] = {"name": f"propensity_score_{arm}",
                    "histogram": {"edges": hist.edges.tolist(), "n": hist.counts.tolist(),
                                  "real_share": [rule.round_share(n / total, total) for n in hist.counts]}}
    return out


# --- the document ----------------------------------------------------------------------------------

def _warnings(result, balance_summary: dict, sizes: dict, rule: DisclosureRule) -> list[str]:
    out = []
    if result.source == "replica":
        out.append("the controls are synthetic (a replica): measure this design's error rates with `harmonie arm "
                   "calibrate` before trusting the comparison")
    if not balance_summary["balanced"]:
        out.append(f"not balanced: |SMD| above {balance_summary['target_smd']:g} after balancing for "
                   + ", ".join(balance_summary["unbalanced_terms"]))
    if result.balanced.trial_kept < len(result.trial.patients):  # counts in the tables, through the rule
        out.append("some trial patients had no control within the caliper and left the analysis: the comparison is "
                   "about the others (section 2)")
    if result.trial.attrition[0][1] > len(result.trial.patients):
        out.append("some trial patients do not meet the eligibility and left the analysis (attrition, section 2)")
    ess = result.balanced.control_ess
    if result.balanced.controls_used and ess < 0.3 * result.balanced.controls_used:
        out.append("the weights are uneven (effective number of controls below 30% of those used): extreme scores, "
                   "check the overlap figure")
    for what, hr in (("balanced", result.hazard_ratio), ("unadjusted", result.unadjusted)):
        if hr.problem:
            out.append(f"{what} hazard ratio: {hr.problem}")
    return out


def written_document(result) -> dict:
    """The report as it may be written (module docstring)."""
    spec = result.spec
    rule = DisclosureRule(spec.min_cell)
    balance_rows, balance_summary = _balance(result, rule)
    sizes = _sizes(result, rule)
    problem = _enough_for_model(result, rule)
    ratios = {name: {"problem": problem} if problem else hr.as_dict()
              for name, hr in (("balanced", result.hazard_ratio), ("unadjusted", result.unadjusted))}
    document = {
        "format": FORMAT, "name": spec.name, "source": result.source, "seed": result.seed,
        "protocol": target_trial_protocol(spec),
        "spec": {"eligibility": asdict(spec.eligibility), "index": asdict(spec.index),
                 "analysis": asdict(spec.analysis)},
        "attrition": {"trial": attrition_shown(result.trial.attrition, rule),
                      "control": attrition_shown(result.control.attrition, rule)},
        "sizes": sizes,
        "balance": balance_rows, "balance_summary": balance_summary,
        "propensity": _propensity(result, rule),
        "outcome": {"hazard_ratio": ratios, "rmst": _rmst(result, rule),
                    "kaplan_meier": _survival(result, sizes, rule)},
        "means": {arm: {c: safe_mean(frame[c], rule) for c in ("age_at_diagnosis", "days_to_index")}
                  for arm, frame in (("trial", result.trial.patients), ("control", result.control.patients))},
        "disclosure": {"min_cell": rule.min_cell,
                       "rule": (f"no count of 1 to {rule.min_cell - 1} patients (null where one would be, and no "
                                f"attrition step or difference of counts excluding that few), shares rounded, "
                                f"survival curves at whole months with at least {rule.min_cell} deaths per step, no "
                                "death time, no minimum or maximum")},
    }
    document["warnings"] = _warnings(result, balance_summary, sizes, rule)
    return _plain(document)


# --- the page --------------------------------------------------------------------------------------

def _n(value, k: int) -> str:
    return f"&lt;{k}" if value is None else _f(value)


def _hr_text(hr: dict) -> str:
    if hr.get("hr") is None:
        return escape(hr.get("problem") or "not estimated")
    return f"{hr['hr']:.2f} (95% CI {hr['lower_95']:.2f}–{hr['upper_95']:.2f}; p = {hr['p_value']:.3g})"


def _verdict(doc: dict) -> str:
    hr = doc["outcome"]["hazard_ratio"]
    balanced = doc["balance_summary"]["balanced"]
    warnings = "".join(f"<p class='fail'>⚠ {escape(w)}</p>" for w in doc["warnings"])
    return (f"<div class='verdict {'ok' if balanced and not doc['warnings'] else 'bad'}'>"
            f"<h2>Hazard ratio, trial vs external control: {_hr_text(hr['balanced'])}</h2>"
            f"<p>Balanced on the declared covariates ({escape(doc['spec']['analysis']['method'])}); the unadjusted "
            f"comparison gives {_hr_text(hr['unadjusted'])}. Controls: "
            f"{'a synthetic replica' if doc['source'] == 'replica' else 'real warehouse patients'}. "
            f"Largest |SMD| after balancing: {_f(doc['balance_summary']['largest_abs_smd_after'])} (target "
            f"{doc['balance_summary']['target_smd']:g}).</p>{warnings}</div>")


def _protocol_section(doc: dict) -> str:
    p = doc["protocol"]
    rows = [[escape(name), "<br>".join(escape(v) for v in value) if isinstance(value, list) else escape(value)]
            for name, value in (("Eligibility", p["eligibility"]), ("Treatment strategies", p["treatment_strategies"]),
                                ("Assignment", p["assignment"]), ("Time zero", p["time_zero"]),
                                ("Follow-up", p["follow_up"]), ("Outcome", p["outcome"]),
                                ("Causal contrast", p["causal_contrast"]), ("Analysis plan", p["analysis"]))]
    return ("<h2>1. The emulated target trial</h2><div class='explain'>Written from the eligibility spec before any "
            "outcome is compared (also in protocol.md).</div>" + _table(["component", "protocol"], rows))


def _patients_section(doc: dict, k: int) -> str:
    parts = []
    for arm in ("trial", "control"):
        rows = [[escape(" + ".join(g["criteria"])), _n(g["patients"], k),
                 "–" if "excluded" not in g else _n(g["excluded"], k)] for g in doc["attrition"][arm]]
        parts.append(f"<h3>{'Trial arm' if arm == 'trial' else 'External control source'}</h3>"
                     + _table(["criterion", "patients left", "excluded"], rows))
    s = doc["sizes"]
    sizes = [["trial", _n(s["trial"]["n_eligible"], k), _n(s["trial"]["n_analysed"], k), "–"],
             ["control", _n(s["control"]["n_eligible"], k), _n(s["control"]["n_analysed"], k),
              _f(s["control"]["n_effective"], 1)]]
    return ("<h2>2. Patients</h2><div class='explain'>The same criteria, in the same order, for both arms. Criteria "
            f"excluding fewer than {k} patients are shown together with the next one.</div>" + "".join(parts)
            + _table(["arm", "eligible", "analysed", "effective number (weights)"], sizes))


def _balance_section(doc: dict, images: dict) -> str:
    def share(v, kind):
        return "–" if v is None else (f"{v:.3f}" if kind != "numeric" else f"{v:.1f}")

    rows = [[escape(r["term"]) + (" (reference)" if r["reference"] else ""),
             share(r["before"]["trial"], r["kind"]), share(r["before"]["control"], r["kind"]),
             _f(r["before"]["smd"]), share(r["after"]["trial"], r["kind"]), share(r["after"]["control"], r["kind"]),
             _f(r["after"]["smd"])]
            for r in doc["balance"]]
    return ("<h2>3. Balance</h2><div class='explain'>Mean (numbers) or share (levels) of each covariate in the trial "
            "arm and the external control, before and after balancing, and the standardised mean difference (SMD: "
            "difference over the pooled standard deviation before balancing). |SMD| at or below "
            f"{doc['balance_summary']['target_smd']:g} is balanced. A dash: suppressed (too few patients) or not "
            "defined. Shares are rounded for disclosure, more coarsely for a small arm (to steps that hold at least "
            f"{doc['disclosure']['min_cell']} patients: 0.2 for 100 patients); SMDs are computed on the exact "
            "values, so a rounded share and its SMD may look apart.</div>" + _img(images["love_plot"], "love plot")
            + _table(["covariate", "trial before", "control before", "SMD before", "trial after", "control after",
                      "SMD after"], rows)
            + ("<h3>Overlap of the propensity score</h3>" + _img(images["propensity"], "propensity score")
               if doc["propensity"] else ""))


def _outcome_section(doc: dict, images: dict, k: int) -> str:
    o = doc["outcome"]
    hr_rows = [[name, _hr_text(o["hazard_ratio"][name])] for name in ("balanced", "unadjusted")]
    km_rows = []
    for key, label in (("trial", "trial arm"), ("control_before", "control, unbalanced"),
                       ("control_balanced", "control, balanced")):
        e = o["kaplan_meier"][key]
        km_rows.append([label, _n(e["n"], k), _n(e["deaths"], k), _f(e["median_interval_months"]),
                        *(_f(e["landmarks"][m]) for m in LANDMARKS)])
    r = o["rmst"]
    if not r["shown"]:
        rmst = f"<p class='note'>RMST not shown: {escape(r['reason'])}.</p>"
    else:
        interval = ("no interval: analysis.bootstrap = 0" if r["lower_95_months"] is None else
                    f"bootstrap 95% interval {r['lower_95_months']:+.1f} to {r['upper_95_months']:+.1f}, "
                    f"{r['bootstrap']} replicates; weights held fixed, so somewhat narrow for a weighted arm")
        rmst = (f"<p>Restricted mean survival time up to {r['horizon_months']:g} months: trial {r['trial_months']:.1f}, "
                f"control {r['control_months']:.1f}, difference <b>{r['difference_months']:+.1f} months</b> "
                f"({interval}).</p>")
    return ("<h2>4. Outcome: death from any cause from the index date</h2>"
            + _table(["analysis", "hazard ratio (95% CI, robust)"], hr_rows)
            + _img(images["kaplan_meier"], "Kaplan–Meier curves")
            + _table(["curve", "patients", "deaths", "median between months", *(f"survival {m}" for m in LANDMARKS)],
                     km_rows) + rmst)


def render(doc: dict, images: dict[str, str]) -> str:
    k = doc["disclosure"]["min_cell"]
    body = (_verdict(doc) + _protocol_section(doc) + _patients_section(doc, k) + _balance_section(doc, images)
            + _outcome_section(doc, images, k)
            + f"<p class='note'>Disclosure: {escape(doc['disclosure']['rule'])}. Seed {doc['seed']}.</p>")
    return page(f"External control arm: {doc['name']}",
                "A single-arm trial against patients of the warehouse (or a replica of it), balanced on the declared "
                "covariates (Harmonie)", body)


def images_of(doc: dict) -> dict[str, str]:
    k = doc["disclosure"]["min_cell"]
    return {"love_plot": figures.love_plot(doc["balance"], doc["balance_summary"]["target_smd"]),
            "kaplan_meier": figures.kaplan_meier(doc["outcome"]["kaplan_meier"], k),
            "propensity": figures.propensity(doc["propensity"], k)}


def write_pages(doc: dict, out: Path) -> None:
    """``arm.html``, ``protocol.md`` and ``figures/`` of a written document (``arm.json`` as loaded)."""
    images = images_of(doc)
    write_text(render(doc, images), out / "arm.html")
    write_text(protocol_markdown(doc["protocol"]), out / "protocol.md")
    figures.write_pngs(images, out / "figures")


def write_report(result, out: Path) -> dict:
    """Write the report of an :class:`synth.arms.build.ArmResult` into ``out``; return it as written."""
    text = json.dumps(written_document(result), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    write_text(text, out / "arm.json")
    document = json.loads(text)  # the pages are drawn from what was written, nothing else
    write_pages(document, out)
    return document
