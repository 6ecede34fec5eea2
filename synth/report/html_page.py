"""The utility report as one self-contained HTML page (figures embedded, no script, nothing fetched).

Written for a clinician-statistician: a verdict box first, then one section per question
(does each variable look right, do variables relate as they should, is survival kept, do
risk factors, subtypes and treatments keep their effect, are treatments given as in real
care, do the claims look like real claims and agree with the treatments, are care pathways
and costs kept, can a model learnt on the replica predict for real patients), each opening
with what it shows and how to read it. (Named ``html_page`` so the
package never shadows the standard library's ``html``.) Only links: its contents, and the
sibling risk report of the same release when there is one (:func:`harmonie.report_html.family`).
"""

from __future__ import annotations

from html import escape

from harmonie.report_html import fmt as _f
from harmonie.report_html import img as _img
from harmonie.report_html import family, page
from harmonie.report_html import passed as _passed
from harmonie.report_html import table as _table
from synth.report.checks import THRESHOLDS
from synth.report.survival import CLEAR_Z, term_label
from synth.schema import TREATMENTS

WEAKEST_PAIRS = 10
WORST_EXTRA_COLUMNS = 15


def _n(value, report: dict) -> str:
    """A count of real rows or patients: null in the JSON means suppressed (fewer than ``min_cell``)."""
    return f"&lt;{report['disclosure']['min_cell']}" if value is None else _f(value)


def _verdict(report: dict) -> str:
    checks = report["checks"]
    ok = report["verdict"] == "adequate"
    failed = [c for c in checks if not c["passed"]]
    headline = (f"Adequate utility: all {len(checks)} checks pass" if ok else
                f"Low utility: {len(failed)} of {len(checks)} checks fail")
    rows = [[escape(c["what"]), f"<code>{escape(c['name'])}</code>", _f(c["value"]),
             f"{escape(c['rule'])} {_f(c['threshold'])}", _passed(c["passed"])] for c in checks]
    notes = "".join(f"<p class='note'>{escape(n)}</p>" for n in report["notes"])
    return (f'<div class="verdict {"ok" if ok else "bad"}"><h2>{headline}</h2>'
            f"<p>The synthetic replica is compared with the real data on what oncology studies look at: each "
            f"variable, the relations between variables, survival by cancer type, the effect of risk factors, "
            f"subtypes and treatments on survival, who receives which treatment, what the hospital stays and drug "
            f"dispensings say and whether they agree with the treatments, care pathways, cost per patient, and a "
            f"prediction task. Each check below has a threshold (allowing for the noise that separates two samples "
            f"of the real data's size, where there is noise); the replica is called adequate only if every check "
            f"passes.</p>"
            + _table(["check", "name", "value", "threshold", "result"], rows) + notes + "</div>")


def _about(report: dict) -> str:
    sizes = report["sizes"]
    rows = [[t, _n(sizes["real"][t], report), _f(sizes["synthetic"][t]),
             _n(report["orphan_rows"]["real"].get(t, 0), report) if t != "patients" else "–",
             _f(report["orphan_rows"]["synthetic"].get(t, 0)) if t != "patients" else "–"]
            for t in ("patients", "stays", "dispensings")]
    k = report["disclosure"]["min_cell"]
    return ("<h2 id=\"data\">Data compared</h2>"
            + _table(["table", "real rows", "synthetic rows", "real rows of unknown patients",
                      "synthetic rows of unknown patients"], rows)
            + (f"<p>Control patients (never seen by the generator): {_n(sizes['control'], report)}.</p>"
               if report["prediction"]["test_set"] == "control" else "")
            + _differential_privacy(report.get("differential_privacy"))
            + f"<p class='note'>Seed {report['seed']}. To keep the report fast and comparable whatever the data size, "
              f"SDV scores, correlations, survival, treatments, claims, pathways, costs and prediction each use a "
              f"seeded random subsample of at most {report['max_rows']:,} real patients, and at most as many "
              f"synthetic ones as real ones, so that a replica sampled larger gets no narrower interval (SDV: "
              f"{_n(report['sdv']['rows_compared'], report)} rows per "
              f"side{', subsampled' if report['sdv']['subsampled'] else ''}). Coherence of claims is counted on "
              f"all rows. The distribution figures show all rows.</p>"
            + f"<p class='note'>Small-cell rule: nothing below shows fewer than {k} real patients. Counts that "
              f"would are written &lt;{k}, categories and histogram bins hold at least {k} real patients (thinner "
              f"ones are pooled or merged), real shares are rounded, quantiles have at least {k} real patients "
              f"on either side, and real survival curves are shown at whole months only, each step holding at "
              f"least {k} real deaths; a care pathway, subtype, kind of stay or ATC class is named only when at "
              f"least {k} real patients hold it, a real mean cost rests on at least {k} patients, and no real "
              f"minimum or maximum is shown. The checks are computed at full resolution.</p>")


def _differential_privacy(dp: dict | None) -> str:
    """One paragraph when the replica's patient table is differentially private (synth/dp_patients.py)."""
    if not dp:
        return ""
    epsilon, delta = (f"{dp[k]:g}" if isinstance(dp.get(k), (int, float)) else str(dp.get(k)) for k in ("epsilon",
                                                                                                         "delta"))
    return (f"<p class='note'><b>Differentially private patient table</b>: {escape(str(dp['mechanism']))} "
            f"({escape(str(dp['library']))}), epsilon {escape(epsilon)}, delta {escape(delta)}: "
            f"{escape(str(dp['meaning']))}. Covers {escape(str(dp['covers']))}. <b>Not covered</b>: "
            f"{escape(str(dp['not_covered']))}. Bounds and bins are public, no budget spent on them.</p>")


def _quality(sdv: dict) -> str:
    shapes = [[escape(c["column"]), escape(c["metric"]), _f(c["score"])] for c in sdv["column_shapes"]]
    weakest = sorted(sdv["column_pair_trends"], key=lambda p: (p["score"], p["column_1"], p["column_2"]))[:WEAKEST_PAIRS]
    pairs = [[escape(p["column_1"]), escape(p["column_2"]), escape(p["metric"]), _f(p["score"])] for p in weakest]
    validity = [[escape(c), _f(v)] for c, v in sdv["data_validity"].items() if v is not None and v < 1]
    return (
        "<h2 id=\"quality\">1. Overall fidelity (SDV quality report)</h2>"
        "<div class='explain'>SDV's quality score summarises, between 0 and 1, how closely the synthetic patients "
        "table matches the real one: <b>column shapes</b> compares each variable's distribution (1 = identical), "
        "<b>column pair trends</b> compares the relation between two variables. SDV only scores pairs that are "
        "clearly related in the real data (|correlation| &gt; 0.5 or association &gt; 0.3), so this score says "
        "little about weaker relations; section 3 covers all pairs. The <b>diagnostic</b> checks that synthetic "
        "values stay within real ranges and categories (it should be close to 1).</div>"
        + _table(["measure", "score"], [["quality score", _f(sdv["quality_score"])],
                                        ["column shapes", _f(sdv["column_shapes_score"])],
                                        ["column pair trends", _f(sdv["column_pair_trends_score"])],
                                        ["diagnostic score", _f(sdv["diagnostic_score"])]])
        + "<h3>Column shapes</h3>" + _table(["column", "metric", "score"], shapes)
        + f"<h3>Column pair trends: the {len(weakest)} lowest of {sdv['pairs_scored']} pairs scored "
          f"({sdv['pairs_total']} pairs in all)</h3>"
        + (_table(["column", "column", "metric", "score"], pairs) if pairs else "<p>No pair is strong enough.</p>")
        + ("<h3>Validity below 1</h3>" + _table(["column", "share of synthetic values within real range"], validity)
           if validity else ""))


def _distributions(report: dict, images: dict) -> str:
    def rows(table: str) -> list[list[str]]:
        out = []
        for s in report["distributions"]:
            if (table == "patients") != (s["table"] == "patients"):
                continue
            if s["kind"] == "categorical":
                out.append([escape(s["name"]), "categories", "total variation", _f(s["total_variation"])])
            else:
                out.append([escape(s["name"]), escape(s["kind"]), "Kolmogorov–Smirnov", _f(s["ks_statistic"])])
        return out

    return (
        "<h2 id=\"distributions\">2. Each variable, real vs synthetic</h2>"
        "<div class='explain'>Blue: real, orange: synthetic. Numbers and dates: share of rows per bin (the outermost "
        "bins also hold the rare values beyond them; a bin holding fewer than "
        f"{report['disclosure']['min_cell']} real patients is merged with its neighbours and drawn at their "
        "average height). Categories: share of rows per category, the most frequent ones (a category is named "
        f"only if at least {report['disclosure']['min_cell']} real patients hold it; shares are rounded). The "
        "distance in each title is 0 when "
        "both sides match: the <b>Kolmogorov–Smirnov</b> distance is the largest gap between the two cumulative "
        "distributions; the <b>total variation</b> distance is the share of rows that would need another category. "
        "Below about 0.1 the difference is usually of no practical importance.</div>"
        "<h3>Patients</h3>" + _img(images["distributions_patients"], "patient variables")
        + _table(["variable", "kind", "distance", "value"], rows("patients"))
        + "<h3>Hospital stays and drug dispensings</h3>"
          "<p>Per patient: number of stays and dispensings. Per stay: length of stay, days from the patient's "
          "diagnosis to admission (negative during the diagnostic work-up), main diagnosis. Per dispensing: days "
          "from diagnosis, ATC code and boxes.</p>"
        + _img(images["distributions_claims"], "claims variables")
        + _table(["variable", "kind", "distance", "value"], rows("claims")))


def _correlations(section: dict, image: str, report: dict) -> str:
    from synth.report.plots import heatmap_columns

    shown = len(heatmap_columns(section))
    rows = [[escape(p["column_1"]), escape(p["column_2"]), _f(p["real"]), _f(p["synthetic"]), _f(p["abs_diff"])]
            for p in section["largest_differences"]]
    return (
        "<h2 id=\"correlations\">3. Relations between variables</h2>"
        "<div class='explain'>Each cell measures how strongly two patient variables go together: Spearman's rank "
        "correlation (−1 to 1) between ordered variables (numbers, dates, stage, yes/no, sex), Cramér's V "
        "(0 to 1, corrected for small samples) when one of them is a category with more than two values (cancer "
        "type, subtype, département). A useful replica has the same picture on both sides: the third panel should "
        f"be pale everywhere. Threshold: no difference above {THRESHOLDS['correlation_max_abs_diff']}. "
        f"Computed on {_n(section['rows_compared'], report)} patients per side.</div>"
        + _img(image, "association matrices")
        + "<p class='note'>Colours: red for a positive association, blue for a negative one, white for none "
          "(−1 to 1); the difference from white (none) to dark red (0.5 or more)."
        + (f" The figure shows the {shown} of {len(section['columns'])} variables with the largest differences; "
           "the table below lists the largest ones of all." if shown < len(section["columns"]) else "") + "</p>"
        + f"<p>Largest absolute difference: <b>{_f(section['max_abs_diff'])}</b>.</p>"
        + _table(["variable", "variable", "real", "synthetic", "|difference|"], rows))


def _months(interval) -> str:
    """A [from, to] step of months in years ("2.1–2.3 y")."""
    return f"{interval[0] / 12:.1f}–{interval[1] / 12:.1f} y"


def _step(interval) -> str:
    """Where the curves are farthest apart: a step of the drawn curve, or past its last point."""
    if interval is None:
        return "–"
    return f"after {interval[0] / 12:.1f} y" if interval[1] is None else _months(interval)


def _survival(section: dict, images: dict, report: dict) -> str:
    k = report["disclosure"]["min_cell"]
    km_rows = []
    for km in section["kaplan_meier"]:
        sr, ss = km.get("survival_real") or {}, km.get("survival_synthetic") or {}
        curve = km["curve"]

        def median(side: str) -> str:
            if not curve[f"survival_{side}"]:
                return "–"
            interval = km[f"median_interval_months_{side}"]
            return "not reached" if interval is None else _months(interval)

        km_rows.append([escape(km["cancer_type"]), _n(km["n_real"], report), _f(km["n_synthetic"]),
                        _n(km["deaths_real"], report), _f(km["deaths_synthetic"]),
                        median("real"), median("synthetic"),
                        f"{_f(sr.get('2y'), 2)} / {_f(ss.get('2y'), 2)}",
                        f"{_f(sr.get('5y'), 2)} / {_f(ss.get('5y'), 2)}",
                        _f(km["max_distance"]), _step(km["at_interval_months"])])
    cox = section["cox"]
    ref = cox["reference_cancer"]

    cox_rows = [[escape(term_label(t["term"], ref)), _hr(t["real"]), _hr(t["synthetic"]), _passed(t["covered"]),
                 _f(t["ci_overlap"]), _direction(t)] for t in cox["terms"]]
    dropped = section["dropped_rows"]
    return (
        "<h2 id=\"survival\">4. Survival by cancer type (Kaplan–Meier)</h2>"
        "<div class='explain'>Kaplan–Meier curves estimate the share of patients alive over time since diagnosis, "
        "allowing for patients whose follow-up ends alive (censored). For each cancer type the replica should give "
        "the same curve as the real data. The <b>maximum distance</b> is the largest vertical gap between the two "
        "curves (e.g. 0.05 = 5 percentage points of survival at some time), looked for at every death time of "
        "either side within the follow-up both share, on the full data; the shaded band marks the step where it "
        f"occurs. Real curves are drawn at whole months only, each step holding at least {k} real deaths (the "
        "curve stops where fewer remain), with the synthetic curve at the same months; medians are the step in "
        "which a curve falls to one half, and 2- and 5-year survival are read off the drawn curves. Threshold: "
        f"{THRESHOLDS['km_max_distance']} for each cancer type with at least "
        f"{THRESHOLDS['km_min_real_patients']:g} real patients (more for small groups, where chance alone "
        "separates two samples).</div>"
        + _img(images["kaplan_meier"], "Kaplan-Meier curves")
        + _table(["cancer type", "real patients", "synthetic patients", "real deaths", "synthetic deaths",
                  "median survival, real", "median survival, synthetic", "2-year survival real / synthetic",
                  "5-year survival real / synthetic", "max distance", "where"], km_rows)
        + (f"<p class='note'>Left out for a missing or negative follow-up: {_n(dropped['real'], report)} real, "
           f"{dropped['synthetic']} synthetic patients.</p>" if dropped["real"] != 0 or dropped["synthetic"] else "")
        + "<h2 id=\"cox\">5. Risk factors (Cox proportional-hazards model)</h2>"
          "<div class='explain'>The same Cox model is fitted on both sides: the hazard of death by age (per 10 years), "
          f"stage (vs stage 1), cancer type (vs {escape(ref)}) and sex. A hazard ratio of 2 means twice the risk of "
          "death at any time, other factors being equal. A replica keeps an effect when the synthetic 95% "
          "confidence interval <b>covers the real hazard ratio</b> (overlapping intervals are not enough: two "
          "intervals can overlap while the synthetic one excludes the real estimate). Even an independent sample of "
          "the real population, of the same size, misses about one term in six by chance, so the check allows "
          "as many misses as such a sample would make 99.8% of the time; the differences of all terms taken "
          "together (a Wald test, both sides' covariances) must stay within what such a sample shows 99.8% of the "
          "time; a real effect clearly on one side of 1 must never come out on the other side.</div>"
        + _img(images["forest"], "hazard ratios")
        + _table(["term", "real HR (95% CI)", "synthetic HR (95% CI)", "synthetic CI covers the real HR",
                  "intervals overlap", "direction"], cox_rows) + _joint(cox)
        + (f"<p class='note'>Not estimable on real data (too few deaths): "
           f"{escape(', '.join(cox['not_estimable_on_real']))}.</p>" if cox["not_estimable_on_real"] else "")
        + "".join(f"<p class='note'>{escape(side)}: {escape(cox[f'problem_{side}'])}.</p>"
                  for side in ("real", "synthetic") if cox[f"problem_{side}"]))


def _hr(est) -> str:
    return "not estimable" if est is None else f"{est['hr']:.2f} ({est['lower']:.2f}–{est['upper']:.2f})"


def _direction(term: dict) -> str:
    if not term.get("real_clearly_away_from_1"):
        return "–"
    return '<span class="fail">reversed</span>' if term["direction_reversed"] else "kept"


def _joint(model: dict) -> str:
    joint = model.get("joint")
    if not joint:
        return ""
    return (f"<p>All terms together (Wald test of the differences): χ² = {joint['statistic']:.1f} on {joint['df']} "
            f"degrees of freedom, p = {joint['p_value']:.3g}.</p>")


def _share(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def _treatments(section: dict, images: dict, report: dict) -> str:
    k = report["disclosure"]["min_cell"]
    parts = []
    for model in section["cox_by_cancer"]:
        ref = model["reference_subtype"] or "the most common subtype"
        head = (f"<h3>{escape(model['cancer'])}: {_n(model['n_real'], report)} real patients "
                f"({_n(model['deaths_real'], report)} deaths), {_f(model['n_synthetic'])} synthetic "
                f"({_f(model['deaths_synthetic'])} deaths); reference subtype {escape(ref)}</h3>")
        if not model["terms"]:
            parts.append(head + f"<p class='note'>No model: {escape(model['problem_real'] or 'no term')}.</p>")
            continue
        rows = [[escape(term_label(t["term"], ref)), _hr(t["real"]), _hr(t["synthetic"]), _passed(t["covered"]),
                 _direction(t)] for t in model["terms"]]
        notes = []
        if model["not_estimable_on_real"]:
            notes.append("Not estimable on real data (fewer than the minimum of deaths on one level): "
                         + escape(", ".join(term_label(x, ref) for x in model["not_estimable_on_real"])) + ".")
        if model["left_out_subtypes"] or model.get("left_out_subtypes_unnamed"):
            named = ", ".join(model["left_out_subtypes"])
            unnamed = model.get("left_out_subtypes_unnamed") or 0
            notes.append("Subtypes left out with their patients (too few deaths to estimate): "
                         + escape(named + (", " if named and unnamed else "")
                                  + (f"{unnamed} held by fewer than {k} real patients" if unnamed else "")) + ".")
        if model["problem_synthetic"]:
            notes.append("Synthetic side: " + escape(model["problem_synthetic"]) + ".")
        parts.append(head + _table(["term", "real HR (95% CI)", "synthetic HR (95% CI)",
                                    "synthetic CI covers the real HR", "direction"], rows) + _joint(model)
                     + "".join(f"<p class='note'>{n}</p>" for n in notes))
    return (
        "<h2 id=\"treatments\">6. Subtypes and treatments: their effect on survival, by cancer type</h2>"
        "<div class='explain'>Within each cancer type, a Cox model <b>stratified by stage</b> (each stage has its "
        "own baseline risk, since treatments are given by stage) estimates the hazard ratio of age (per 10 years), "
        "sex where both sexes die often enough, each subtype against the most common one, and each treatment "
        "(treated vs not). These are observational effects, confounded by indication like any in real data: the "
        "point is that the replica gives the <b>same</b> ones. A term is missed (×) when the synthetic 95% CI does "
        "not cover the real hazard ratio; a model passes when it misses no more terms than an independent sample "
        "of the same size would 99.8% of the time, and when the differences of all terms together (Wald test) stay "
        "within that sample's noise too (with eight terms of wide intervals, erasing several effects can leave each "
        "interval covering while the joint test sees it). 'Reversed' marks a real effect clearly away from 1 (at least "
        f"{CLEAR_Z:g} standard errors) that comes out on the other side of 1. Both sides use at most as many "
        "patients as the real data, so a larger replica does not get narrower intervals.</div>"
        + _img(images["forest_by_cancer"], "hazard ratios by cancer type") + "".join(parts))


def _treatment_shares(cells: list[dict], image: str, report: dict) -> str:
    rows = []
    for cancer in sorted({c["cancer"] for c in cells}):
        for stage in sorted({c["stage"] for c in cells if c["cancer"] == cancer}):
            own = {c["treatment"]: c for c in cells if c["cancer"] == cancer and c["stage"] == stage}
            first = next(iter(own.values()))
            row = [escape(cancer), str(stage), _n(first["n_real"], report), _f(first["n_synthetic"])]
            for flag in TREATMENTS:
                c = own.get(flag)
                if c is None:
                    row.append("–")
                    continue
                text = f"{_share(c['share_real'])} / {_share(c['share_synthetic'])}"
                row.append(f'<span class="fail">{text}</span>' if c["checked"] and not c["within"] else text)
            rows.append(row)
    return (
        "<h2 id=\"treatment-shares\">7. Who receives which treatment, by cancer type and stage</h2>"
        "<div class='explain'>The share of patients receiving each treatment in each cancer type and stage, real / "
        "synthetic (surgery for early stages, chemotherapy for advanced ones, hormone therapy for hormone-receptor "
        "positive breast cancer...). A share passes within "
        f"{THRESHOLDS['treatment_share_abs']:g} or the noise two samples of these sizes show (at least "
        f"{THRESHOLDS['share_sampling_z']:g} standard errors, more when many cells are checked together); stages "
        f"with fewer than {THRESHOLDS['share_min_real_patients']:g} real patients are shown, not checked. Red: "
        "outside. Real shares are rounded by the small-cell rule.</div>"
        + _img(image, "treatment shares by stage")
        + _table(["cancer", "stage", "real patients", "synthetic patients"]
                 + [f"{f.replace('_', ' ')} real / synthetic" for f in TREATMENTS], rows))


def _quartiles(q: dict) -> str:
    if not q or q.get("p50") is None:
        return "–"
    lo, hi = q.get("p25"), q.get("p75")
    return f"{q['p50']:g} ({'–' if lo is None else f'{lo:g}'} to {'–' if hi is None else f'{hi:g}'})"


def _claims(section: dict, image: str, report: dict) -> str:
    day, los, chemo = section["day_cases"], section["length_of_stay"], section["chemotherapy_delay"]
    summary = [["day cases (share of stays)", _share(day["share_real"]), _share(day["share_synthetic"]), "–"],
               ["nights per stay, median (quartiles)", _quartiles(los["quantiles_real"]),
                _quartiles(los["quantiles_synthetic"]), _f(los["ks"])],
               ["days from diagnosis to the first chemotherapy session, median (quartiles)",
                _quartiles(chemo["quantiles_real"]), _quartiles(chemo["quantiles_synthetic"]), _f(chemo["ks"])],
               ["patients with a chemotherapy session", _n(chemo["patients_real"], report),
                _f(chemo["patients_synthetic"]), "–"]]

    def kinds(rows):
        if rows is None:
            return "<p class='note'>Not shown: too few real patients.</p>"
        return _table(["category", "real share", "synthetic share"],
                      [[escape(r["category"]), _share(r["share_real"]), _f(r["share_synthetic"])] for r in rows])

    coherence = [[escape(e["what"]), _n(e["real"]["count"], report) if e["real"]["count"] is not None
                  else f"&lt;{report['disclosure']['min_cell']}",
                  _f(e["real"]["rate"], 4), _f(e["synthetic"]["count"]), _f(e["synthetic"]["rate"], 4),
                  "none" if e["absolute"] or e["allowed_rate"] == 0 else _f(e["allowed_rate"], 4), _passed(e["passed"])]
                 for e in section["coherence"]]
    return (
        "<h2 id=\"claims\">8. Claims: hospital stays and drug dispensings</h2>"
        "<div class='explain'>What each claim is, is read from its codes as in the real SNDS: a GHM with 'C' in third "
        "position is surgery, main diagnosis Z51.1 a chemotherapy session, Z51.0 a radiotherapy session, Z51.5 "
        "palliative care; ATC L02B is hormone therapy, L01E/L01F/L01XK targeted therapy. Day cases (discharge the day "
        "of admission), length of stay, time from diagnosis to the first chemotherapy session, and the mix of stays "
        "and ATC classes are compared within the noise of two samples of the real data's size (stays of one patient "
        "counted together). <b>Coherence</b>: a claim that contradicts the patient's treatments (a chemotherapy "
        "session for a patient without chemotherapy or targeted therapy, hormone therapy for a patient without it) "
        "or that should not exist (a day session lasting a night, a dispensing before diagnosis, a claim outside "
        "the follow-up) may be no more frequent than in the real data (none where the real data have none; a day "
        "session lasting a night never).</div>"
        + _img(image, "claims")
        + _table(["measure", "real", "synthetic", "Kolmogorov–Smirnov"], summary)
        + "<h3>Kinds of stay (share of stays)</h3>" + kinds(section["stay_kinds"])
        + "<h3>ATC classes (share of dispensings)</h3>" + kinds(section["atc_classes"])
        + "<h3>Coherence with treatments and plausibility</h3>"
        + _table(["rule", "real claims", "real rate", "synthetic claims", "synthetic rate", "rate allowed",
                  "result"], coherence))


def _pathways(entries: list[dict], image: str, report: dict) -> str:
    k = report["disclosure"]["min_cell"]
    parts = []
    for e in entries:
        head = (f"<h3>{escape(e['cancer'])}: {_n(e['n_real'], report)} real, {_f(e['n_synthetic'])} synthetic "
                f"patients{'' if e['checked'] else ' (not checked: too few real patients)'}</h3>")
        if e["pathways"] is None:
            parts.append(head + f"<p class='note'>Not shown: fewer than {k} real patients.</p>")
            continue
        rows = [[escape(r["pathway"]), _share(r["share_real"]), _f(r["share_synthetic"])] for r in e["pathways"]]
        times = [[escape(s["step"]), f"{_share(s['share_real'])} / {_share(s['share_synthetic'])}",
                  _quartiles(dict(zip(("p25", "p50", "p75"), s["quartiles_real"]))),
                  _quartiles(dict(zip(("p25", "p50", "p75"), s["quartiles_synthetic"])))] for s in e["times"]]
        parts.append(head + _table(["pathway (order of first treatments)", "real share", "synthetic share"], rows)
                     + _table(["step", "share of patients reaching it, real / synthetic",
                               "days from diagnosis, real: median (quartiles)", "synthetic"], times))
    return (
        "<h2 id=\"pathways\">9. Care pathways</h2>"
        "<div class='explain'>Each patient's pathway is the order of their first surgical stay, first chemotherapy "
        "session, first radiotherapy session and first hormone-therapy dispensing, read from the claims (e.g. "
        "surgery → chemotherapy → radiotherapy → hormone therapy). The figure follows the pathways from the first "
        "step (left) to the last, band widths being the share of patients, real (left) and synthetic (right). A "
        f"pathway is named only when at least {k} real patients follow it; the others are merged into "
        "'(other)'. Each pathway's share passes within "
        f"{THRESHOLDS['pathway_share_abs']:g} or the sampling noise, for cancer types with at least "
        f"{THRESHOLDS['pathway_min_real_patients']:g} real patients.</div>"
        + _img(image, "care pathways") + "".join(parts))


def _money(value) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _costs(section: dict, image: str, report: dict) -> str:
    rows = []
    for g in section["groups"]:
        r, s = g["real"], g["synthetic"]

        def mean(est) -> str:
            if est["mean"] is None:
                return "–"
            ci = est["ci"]
            return _money(est["mean"]) + ("" if ci is None else f" ({_money(ci[0])}–{_money(ci[1])})")

        rows.append([escape(g["cancer"]), "all" if g["stage"] is None else str(g["stage"]), _n(r["n"], report),
                     mean(r), _money(r["median"]), _f(s["n"]), mean(s), _money(s["median"]),
                     "–" if g["relative_difference"] is None else f"{g['relative_difference']:+.1%}",
                     "yes" if g["checked"] else "no"])
    return (
        "<h2 id=\"costs\">10. Cost per patient</h2>"
        "<div class='explain'>A patient's cost to the insurer is the sum of the costs of their hospital stays (GHS "
        "tariff) and drug dispensings over the follow-up, 0 for a patient with none. Costs are skewed (a few long "
        "stays weigh as much as many day sessions), so each mean has a bootstrap 95% CI (resampling patients). The "
        f"synthetic mean passes within {THRESHOLDS['cost_mean_rel']:.0%} of the real one, or within the noise of "
        "two samples of these sizes when that is wider, per cancer type, and per stage for stages of at least "
        f"{THRESHOLDS['cost_min_real_patients']:g} real patients.</div>"
        + _img(image, "cost per patient")
        + _table(["cancer", "stage", "real patients", "real mean EUR (95% CI)", "real median", "synthetic patients",
                  "synthetic mean EUR (95% CI)", "synthetic median", "difference", "checked"], rows))


def _prediction(p: dict, report: dict) -> str:
    test = ("the control patients (held out before the generator was trained)" if p["test_set"] == "control" else
            "a random 30% of the real patients, kept out of the real training set (the generator has seen them, "
            "so a control set gives a fairer test)")
    rows = [["trained on real (TRTR)", _n(p["n_train_real"], report), _f(p["death_share_train_real"], 2),
             _f(p["trtr_auc"])],
            ["trained on synthetic (TSTR)", _f(p["n_train_synthetic"]), _f(p["death_share_train_synthetic"], 2),
             _f(p["tstr_auc"])]]
    return (
        "<h2 id=\"prediction\">11. Prediction: train on synthetic, test on real</h2>"
        "<div class='explain'>Can a model learnt on the replica predict for real patients? A gradient-boosting model "
        "predicts death within 2 years of diagnosis from sex, age, cancer type, subtype, stage, treatments and the "
        "number of stays and dispensings. It is trained once on real patients and once on synthetic ones, and both "
        f"are tested on {test}. The AUC is the chance that the model ranks a patient who died above one who "
        "survived (0.5 = no better than chance). Patients censored before 2 years are left out. Stay and "
        "dispensing counts cover the whole follow-up, so they partly reflect survival: this tests the replica, it "
        f"is not a clinical prediction model. Threshold: TSTR AUC at least {THRESHOLDS['tstr_auc_ratio']} × TRTR "
        "AUC.</div>"
        + (f"<p class='fail'>{escape(p['problem'])}</p>" if p["problem"] else "")
        + _table(["model", "training patients", "share died within 2 years", "AUC on the real test set"], rows)
        + f"<p>Test set: {_n(p['n_test'], report)} patients, {_f(p['death_share_test'], 2)} died within 2 years. "
          f"AUC ratio (TSTR / TRTR): <b>{_f(p['auc_ratio'])}</b>.</p>")


def _extra_columns(section: dict, image: str, report: dict) -> str:
    """The extra clinical columns of a wide patient table: counts, the worst columns, one figure (not 500 panels)."""
    kinds = section["kinds"]

    def association(c: dict) -> dict:
        entries = [e for e in (c["worst_association"], c["worst_treatment_association"]) if e]
        return max(entries, key=lambda e: e["ratio"] or 0) if entries else {}

    def ratio(c: dict) -> float:
        return max(c["missing_ratio"] or 0, c["marginal_ratio"] or 0, association(c).get("ratio") or 0)

    worst = sorted(section["columns"], key=lambda c: -ratio(c))
    rows = []
    for c in worst[:WORST_EXTRA_COLUMNS]:
        a = association(c)
        rows.append([f"<code>{escape(c['name'])}</code>", escape(c["kind"]), _f(c["missing_real"], 3),
                     _f(c["missing_synthetic"], 3),
                     f"{escape(c['marginal_measure'] or '–')} {_f(c['marginal_distance'])}",
                     escape(a.get("target", "–")), _f(a.get("real")), _f(a.get("synthetic")), _f(ratio(c))])
    pairs = [[f"<code>{escape(p['column_1'])}</code> ~ <code>{escape(p['column_2'])}</code>", _f(p["real"]),
              _f(p["synthetic"]), _f(p["ratio"])] for p in section["correlations"]["largest_differences"][:5]]
    missing = section["missing_from_replica"]
    return (
        "<h2 id=\"extra-columns\">12. Extra clinical columns (wide patient table)</h2>"
        f"<div class='explain'>Besides the fixed columns, the patients table holds {section['training_columns']} extra "
        f"clinical columns from the cohort ({kinds['numerical']} numbers, {kinds['boolean']} yes/no, "
        f"{kinds['categorical']} categories compared). They are summarised, not drawn one by one: how often each is "
        "empty, its recorded values (KS distance for numbers, largest share difference of a level otherwise), its "
        "Spearman correlation with stage, age, sex, death within 2 years, cancer type and subtype, and (checked "
        "apart) with each treatment, and the correlations between extra columns. Each passes within its floor or "
        "the noise of two samples of these sizes, all columns together (the ratio below is the distance over its "
        "allowance: above 1 fails). "
        f"Compared on {_n(section['rows_compared']['real'], report)} real patients and as many synthetic ones "
        f"({_f(section['rows_compared']['pairs'])} for the correlations between columns).</div>"
        + (f"<p class='fail'>Absent from the replica: {escape(', '.join(missing))}</p>" if missing else "")
        + _img(image, "extra clinical columns")
        + f"<h3>The {min(len(worst), WORST_EXTRA_COLUMNS)} columns furthest from the real data</h3>"
        + _table(["column", "kind", "empty, real", "synthetic", "recorded values", "worst association with",
                  "real", "synthetic", "ratio"], rows)
        + f"<h3>Correlations between extra columns ({_f(section['correlations']['checked'])} pairs checked; largest "
          f"difference {_f(section['correlations']['max_abs_diff'])}, mean "
          f"{_f(section['correlations']['mean_abs_diff'])})</h3>"
        + _table(["pair", "real", "synthetic", "ratio"], pairs))


def render(report: dict, images: dict[str, str], *, here=None) -> str:
    """The page for a report dict and its figures (base64 PNGs keyed by name); ``here``: the path it is
    written to, to link the sibling risk report of a release if it exists."""
    body = (_verdict(report) + _about(report) + _quality(report["sdv"]) + _distributions(report, images)
            + _correlations(report["correlations"], images["correlations"], report)
            + _survival(report["survival"], images, report)
            + _treatments(report["treatments"], images, report)
            + _treatment_shares(report["treatments"]["shares"], images["treatment_shares"], report)
            + _claims(report["claims"], images["claims"], report)
            + _pathways(report["pathways"], images["pathways"], report)
            + _costs(report["costs"], images["costs"], report)
            + _prediction(report["prediction"], report)
            + (_extra_columns(report["extra_columns"], images["extra_columns"], report)
               if "extra_columns" in report else ""))
    return page("Utility report: synthetic replica",
                "How useful is the synthetic dataset for oncology studies, compared with the real data it imitates? "
                "(Harmonie)", body, here=here, pages=family(here) if here is not None else ())
