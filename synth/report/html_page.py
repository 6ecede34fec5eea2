"""The utility report as one self-contained HTML page (figures embedded, no script, no link out).

Written for a clinician-statistician: a verdict box first, then one section per question
(does each variable look right, do variables relate as they should, is survival kept, do
risk factors keep their effect, can a model learnt on the replica predict for real
patients), each opening with what it shows and how to read it. (Named ``html_page`` so the
package never shadows the standard library's ``html``.)
"""

from __future__ import annotations

from html import escape

from harmonie.report_html import fmt as _f
from harmonie.report_html import img as _img
from harmonie.report_html import page
from harmonie.report_html import passed as _passed
from harmonie.report_html import table as _table
from synth.report.checks import THRESHOLDS
from synth.report.survival import term_label

WEAKEST_PAIRS = 10


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
            f"variable, the relations between variables, survival by cancer type, the effect of risk factors on "
            f"survival and a prediction task. Each check below has a fixed threshold; the replica is called "
            f"adequate only if every check passes.</p>"
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
            + f"<p class='note'>Seed {report['seed']}. To keep the report fast and comparable whatever the data size, "
              f"SDV scores, correlations, survival and prediction each use a seeded random subsample of at most "
              f"{report['max_rows']:,} patients per side (SDV: {_n(report['sdv']['rows_compared'], report)} rows per "
              f"side{', subsampled' if report['sdv']['subsampled'] else ''}). The figures show the distributions "
              f"of all rows.</p>"
            + f"<p class='note'>Small-cell rule: nothing below shows fewer than {k} real patients. Counts that "
              f"would are written &lt;{k}, categories and histogram bins hold at least {k} real patients (thinner "
              f"ones are pooled or merged), real shares are rounded, quantiles have at least {k} real patients "
              f"on either side, and real survival curves are shown at whole months only, each step holding at "
              f"least {k} real deaths. The checks are computed on the full data.</p>")


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

    def hr(est) -> str:
        return "not estimable" if est is None else f"{est['hr']:.2f} ({est['lower']:.2f}–{est['upper']:.2f})"

    cox_rows = [[escape(term_label(t["term"], ref)), hr(t["real"]), hr(t["synthetic"]), _passed(t["ci_overlap"])]
                for t in cox["terms"]]
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
          "death at any time, other factors being equal. A replica keeps these effects when each synthetic 95% "
          "confidence interval overlaps the real one (orange vs blue in the plot).</div>"
        + _img(images["forest"], "hazard ratios")
        + _table(["term", "real HR (95% CI)", "synthetic HR (95% CI)", "intervals overlap"], cox_rows)
        + (f"<p class='note'>Not estimable on real data (too few deaths): "
           f"{escape(', '.join(cox['not_estimable_on_real']))}.</p>" if cox["not_estimable_on_real"] else "")
        + "".join(f"<p class='note'>{escape(side)}: {escape(cox[f'problem_{side}'])}.</p>"
                  for side in ("real", "synthetic") if cox[f"problem_{side}"]))


def _prediction(p: dict, report: dict) -> str:
    test = ("the control patients (held out before the generator was trained)" if p["test_set"] == "control" else
            "a random 30% of the real patients, kept out of the real training set (the generator has seen them, "
            "so a control set gives a fairer test)")
    rows = [["trained on real (TRTR)", _n(p["n_train_real"], report), _f(p["death_share_train_real"], 2),
             _f(p["trtr_auc"])],
            ["trained on synthetic (TSTR)", _f(p["n_train_synthetic"]), _f(p["death_share_train_synthetic"], 2),
             _f(p["tstr_auc"])]]
    return (
        "<h2 id=\"prediction\">6. Prediction: train on synthetic, test on real</h2>"
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


def render(report: dict, images: dict[str, str]) -> str:
    """The page for a report dict and its figures (base64 PNGs keyed by name)."""
    body = (_verdict(report) + _about(report) + _quality(report["sdv"]) + _distributions(report, images)
            + _correlations(report["correlations"], images["correlations"], report)
            + _survival(report["survival"], images, report) + _prediction(report["prediction"], report))
    return page("Utility report: synthetic replica",
                "How useful is the synthetic dataset for oncology studies, compared with the real data it imitates? "
                "(Harmonie)", body)
