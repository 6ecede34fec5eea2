"""The linkage report's charts as Vega-Lite specs (built with Altair), and the rows each one draws.

Specs name their data (``{"name": "levels"}``) instead of holding it: the page embeds every
dataset once, beside the specs, and the page's script attaches it when it draws a chart
(:mod:`linkage.report.page`). Scales are chosen so the informative values are visible:
m and u on a log axis (u of an agreement is often 1e-6..1e-4), match weights in bits
(log2 of the Bayes factor m/u), counts of pairs on a log axis where passes or patterns differ
by orders of magnitude.
"""

from __future__ import annotations

import math

import altair as alt

from linkage.report.data import LinkReportData
from linkage.report.patterns import BELOW, GREY, GREY_LINK, LINK, NOT_KEPT, STATUSES

WIDTH = 560
STATUS_COLOURS = {"link": "#228833", "grey zone": "#ccbb44", "one-to-one, below the threshold": "#4477aa",
                  "not one-to-one": "#bbbbbb"}
# bits of weight shown as the Bayes factor they stand for: +3 is x8, -3 is /8
BAYES_FACTOR_LABEL = ("(datum.value >= 0 ? '+' : '') + format(datum.value, '~g') + '  (' + "
                      "(datum.value >= 0 ? '×' + format(pow(2, datum.value), '.3~s') : "
                      "'÷' + format(pow(2, -datum.value), '.3~s')) + ')'")


def _levels_rows(data: LinkReportData) -> list[dict]:
    rows = [{"comparison": "prior (λ)", "panel": -1, "level": "prior odds of a random pair", "order": 0,
             "weight": data.prior_weight, "m": None, "u": None}]
    for panel, c in enumerate(data.comparisons):
        for order, level in enumerate(c["levels"]):
            rows.append({"comparison": c["name"], "panel": panel, "level": level["label"], "order": order,
                         "weight": level["weight"], "m": level["m"], "u": level["u"]})
    return rows


def _m_u_rows(data: LinkReportData) -> list[dict]:
    return [{"comparison": c["name"], "panel": panel, "level": level["label"], "order": order,
             "probability": level[kind], "kind": "m (among matches)" if kind == "m" else "u (among random pairs)"}
            for panel, c in enumerate(data.comparisons) for order, level in enumerate(c["levels"])
            for kind in ("m", "u")]


def _session_rows(data: LinkReportData) -> list[dict]:
    rows = []
    for panel, c in enumerate(data.comparisons):
        for order, level in enumerate(c["levels"]):
            at = {"comparison": c["name"], "panel": panel, "level": level["label"], "order": order}
            rows.append({**at, "session": "u (random pairs)", "probability": level["u"]})
            for s in data.sessions:
                m = (s.get("m") or {}).get(c["name"])
                if m is not None:
                    rows.append({**at, "session": s["session"], "probability": m[order]})
    return rows


def _blocking_rows(data: LinkReportData) -> list[dict]:
    measures = (("pairs", "pairs it proposed (distinct)"), ("new", "new: no earlier pass proposed them"),
                ("only", "only this pass proposed them"), ("skipped_pairs", "skipped in oversized blocks"))
    return [{"pass": f"{i + 1}. {p['name']}", "measure": label, "pairs": p[key]}
            for i, p in enumerate(data.blocking) for key, label in measures if key != "skipped_pairs" or
            p["skipped_pairs"]]


def _histogram_rows(data: LinkReportData) -> list[dict]:
    width = data.weight_histogram["bin_width"]
    return [{"start": start, "end": start + width, "pairs": count}
            for start, count in zip(data.weight_histogram["start"], data.weight_histogram["count"])]


def _dominant_status(by_status: list[int]) -> str:
    links, grey = by_status[LINK] + by_status[GREY_LINK], by_status[GREY]
    if links >= max(grey, by_status[BELOW], by_status[NOT_KEPT]) and links:
        return "link"
    if grey and grey >= by_status[BELOW]:
        return "grey zone"
    return "one-to-one, below the threshold" if by_status[BELOW] else "not one-to-one"


def _pattern_rows(data: LinkReportData) -> list[dict]:
    p = data.patterns
    return [{"pattern": g, "pairs": count, "weight": weight, "status": _dominant_status(by_status)}
            for g, (count, weight, by_status) in enumerate(zip(p["count"], p["weight"], p["by_status"]))]


def _threshold_rows(data: LinkReportData) -> list[dict]:
    rows, curve = [], data.threshold
    sources = [("model's estimate", curve)] + ([("true (against the truth)", data.truth["threshold"])]
                                               if data.truth else [])
    for source, values in sources:
        for metric in ("precision", "recall", "f1"):
            rows.extend({"threshold": t, "metric": "F1" if metric == "f1" else metric, "source": source, "value": v}
                        for t, v in zip(curve["threshold"], values[metric]))
    return rows


def _links_rows(data: LinkReportData) -> list[dict]:
    return [{"threshold": t, "links": k} for t, k in zip(data.threshold["threshold"], data.threshold["links"])]


def _hard_case_rows(data: LinkReportData) -> list[dict]:
    return [{"case": r["label"], "recall": r["recall"], "found": r["found"], "true_pairs": r["true_pairs"],
             "false_links": r["false_links"], "patients": r["patients"]}
            for r in (data.truth or {}).get("by_hard_case", []) if r["true_pairs"] or r["false_links"]]


def datasets(data: LinkReportData) -> dict[str, list[dict]]:
    """Every dataset the charts draw, by name."""
    out = {"levels": _levels_rows(data), "m_u": _m_u_rows(data), "sessions": _session_rows(data),
           "blocking": _blocking_rows(data), "histogram": _histogram_rows(data), "patterns": _pattern_rows(data),
           "threshold": _threshold_rows(data), "links": _links_rows(data), "waterfall": [],
           "grey_zone": [{"low": data.run["grey_zone"][0], "high": data.run["grey_zone"][1]}],
           "chosen": [{"threshold": data.run["threshold"]["probability"]}]}
    if data.truth:
        out["hard_cases"] = _hard_case_rows(data)
    return out


def _by_comparison(chart: alt.Chart) -> alt.FacetChart:
    """One panel per comparison, each with its own levels (independent y), in the model's order."""
    row = alt.Row("comparison:N", sort=alt.EncodingSortField("panel", op="min"),
                  header=alt.Header(labelAngle=0, labelAlign="left", title=None, labelFontWeight="bold"))
    return chart.facet(row=row).resolve_scale(y="independent")


def _level_axis() -> alt.Y:
    return alt.Y("level:N", sort=alt.EncodingSortField("order", op="min"), title=None, axis=alt.Axis(labelLimit=260))


def weights_chart() -> alt.FacetChart:
    bars = alt.Chart(alt.Data(name="levels")).mark_bar(height={"band": 0.8}).encode(
        x=alt.X("weight:Q", title="match weight: log2(m/u) bits (Bayes factor)",
                axis=alt.Axis(labelExpr=BAYES_FACTOR_LABEL, labelAngle=-30)),
        y=_level_axis(),
        color=alt.condition("datum.weight >= 0", alt.value("#228833"), alt.value("#cc3311")),
        tooltip=[alt.Tooltip("comparison:N"), alt.Tooltip("level:N"), alt.Tooltip("weight:Q", format=".3f"),
                 alt.Tooltip("m:Q", format=".3e"), alt.Tooltip("u:Q", format=".3e")],
    ).properties(width=WIDTH)
    return _by_comparison(bars)


def m_u_chart() -> alt.FacetChart:
    points = alt.Chart(alt.Data(name="m_u")).mark_point(filled=True, size=70).encode(
        x=alt.X("probability:Q", scale=alt.Scale(type="log"), title="probability of the level (log scale)",
                axis=alt.Axis(format="~e")),
        y=_level_axis(),
        color=alt.Color("kind:N", scale=alt.Scale(range=["#228833", "#aa3377"]), title=None,
                        legend=alt.Legend(orient="top")),
        shape=alt.Shape("kind:N", title=None, legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("comparison:N"), alt.Tooltip("level:N"), alt.Tooltip("kind:N"),
                 alt.Tooltip("probability:Q", format=".3e")],
    ).properties(width=WIDTH)
    return _by_comparison(points)


def sessions_chart(sessions: list[str]) -> alt.FacetChart:
    palette = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#332288", "#117733"]
    names = [*sessions, "u (random pairs)"]
    colours = alt.Scale(domain=names, range=[palette[i % len(palette)] for i in range(len(sessions))] + ["#888888"])
    points = alt.Chart(alt.Data(name="sessions")).mark_point(filled=True, size=60, opacity=0.85).encode(
        x=alt.X("probability:Q", scale=alt.Scale(type="log"), title="m per EM session, and u (log scale)",
                axis=alt.Axis(format="~e")),
        y=_level_axis(),
        yOffset=alt.YOffset("session:N", sort=names),
        color=alt.Color("session:N", scale=colours, title=None,
                        legend=alt.Legend(orient="top", columns=2, labelLimit=400)),
        tooltip=[alt.Tooltip("comparison:N"), alt.Tooltip("level:N"), alt.Tooltip("session:N"),
                 alt.Tooltip("probability:Q", format=".3e")],
    ).properties(width=WIDTH, height=alt.Step(**{"step": 5, "for": "offset"}))
    return _by_comparison(points)


def blocking_chart() -> alt.Chart:
    return alt.Chart(alt.Data(name="blocking")).transform_filter("datum.pairs > 0").mark_bar().encode(
        x=alt.X("pairs:Q", scale=alt.Scale(type="log"),
                title="candidate pairs (log scale; a pass with none has no bar)",
                axis=alt.Axis(format="~s"), stack=None),  # stacked bars cannot start on a log axis: none is drawn
        y=alt.Y("pass:N", sort=None, title=None, axis=alt.Axis(labelLimit=320)),
        yOffset=alt.YOffset("measure:N", sort=None),
        color=alt.Color("measure:N", sort=None, title=None, legend=alt.Legend(orient="top", columns=2,
                                                                               labelLimit=400)),
        tooltip=[alt.Tooltip("pass:N"), alt.Tooltip("measure:N"), alt.Tooltip("pairs:Q", format=",")],
    ).properties(width=WIDTH, height=alt.Step(**{"step": 12, "for": "offset"}))


def histogram_chart() -> alt.Chart:
    return alt.Chart(alt.Data(name="histogram")).mark_bar(color="#4477aa").encode(
        x=alt.X("start:Q", title="match weight (log2 odds; term frequencies included)"), x2="end:Q",
        y=alt.Y("pairs:Q", scale=alt.Scale(type="log"), title="candidate pairs (log scale)"),
        tooltip=[alt.Tooltip("start:Q", title="from"), alt.Tooltip("end:Q", title="to"),
                 alt.Tooltip("pairs:Q", format=",")],
    ).properties(width=WIDTH, height=260)


def quality_floor(data: LinkReportData) -> float:
    """Lower end of the threshold tool's y axis: a little under the lowest precision, recall or F1 at
    thresholds up to 0.99 (above, recall falls to 0 as links run out and would flatten everything else
    against the top of the frame); the lines are clipped there, and the chart zooms with the mouse wheel."""
    curves = [data.threshold] + ([data.truth["threshold"]] if data.truth else [])
    grid = data.threshold["threshold"]
    values = [v for curve in curves for metric in ("precision", "recall", "f1")
              for t, v in zip(grid, curve[metric]) if t <= 0.99 and v is not None]
    low = min(values, default=0.0)
    return max(0.0, math.floor((low - max(0.1 * (1 - low), 0.002)) * 200) / 200)


def threshold_chart(chosen_threshold: float, floor: float) -> alt.VConcatChart:
    """Precision, recall and F1 against the threshold, the grey zone shaded, the chosen threshold and a
    slider (param ``t``, starting at the chosen threshold) the page reads the figures at."""
    t = alt.param(name="t", value=round(chosen_threshold, 3),
                  bind=alt.binding_range(min=0, max=1, step=0.001, name="threshold "))
    zone = alt.Chart(alt.Data(name="grey_zone")).mark_rect(color="#ccbb44", opacity=0.18).encode(
        x="low:Q", x2="high:Q")
    chosen = alt.Chart(alt.Data(name="chosen")).mark_rule(color="#cc3311", strokeDash=[6, 3]).encode(
        x="threshold:Q")
    picked = alt.Chart(alt.Data(name="chosen")).mark_rule(color="black").encode(x="at:Q").transform_calculate(
        at=t.name)
    x = alt.X("threshold:Q", scale=alt.Scale(domain=[0, 1]), title="match probability threshold")
    lines = alt.Chart(alt.Data(name="threshold")).mark_line(interpolate="step-after", clip=True).encode(
        x=x, y=alt.Y("value:Q", scale=alt.Scale(domain=[floor, 1.0]), title="precision, recall, F1"),
        color=alt.Color("metric:N", scale=alt.Scale(range=["#4477aa", "#228833", "#aa3377"]), title=None,
                        legend=alt.Legend(orient="top")),
        strokeDash=alt.StrokeDash("source:N", title=None, legend=alt.Legend(orient="top", labelLimit=300),
                                  sort=["true (against the truth)", "model's estimate"]),
        tooltip=[alt.Tooltip("threshold:Q", format=".3f"), "metric:N", "source:N",
                 alt.Tooltip("value:Q", format=".4f")])
    quality = alt.layer(zone, lines.add_params(alt.selection_interval(bind="scales", encodings=["y"])), chosen,
                        picked).properties(width=WIDTH, height=300)
    links = alt.Chart(alt.Data(name="links")).mark_line(interpolate="step-after", color="#444444").encode(
        x=x, y=alt.Y("links:Q", title="links"),
        tooltip=[alt.Tooltip("threshold:Q", format=".3f"), alt.Tooltip("links:Q", format=",")])
    count = alt.layer(zone, links, chosen, picked).properties(width=WIDTH, height=120)
    return alt.vconcat(quality, count).add_params(t)


def patterns_chart() -> alt.Chart:
    pick = alt.selection_point(name="pick", fields=["pattern"], on="click", clear="dblclick")
    colours = alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values()))
    return alt.Chart(alt.Data(name="patterns")).mark_point(filled=True, opacity=0.7).encode(
        x=alt.X("weight:Q", title="match weight of the pattern (log2 odds, before term frequencies)"),
        y=alt.Y("pairs:Q", scale=alt.Scale(type="log"), title="candidate pairs with the pattern (log scale)"),
        color=alt.Color("status:N", scale=colours, title="most of its pairs", legend=alt.Legend(orient="top")),
        size=alt.condition(pick, alt.value(140), alt.value(40)),
        tooltip=[alt.Tooltip("pattern:Q", title="pattern #"), alt.Tooltip("pairs:Q", format=","),
                 alt.Tooltip("weight:Q", format=".2f"), "status:N"],
    ).add_params(pick).properties(width=WIDTH, height=300)


def waterfall_chart() -> alt.LayerChart:
    """How each comparison moves one pair's (or pattern's) weight; the page inserts the steps."""
    base = alt.Chart(alt.Data(name="waterfall"))
    y = alt.Y("step:N", sort=alt.EncodingSortField("order", op="min"), title=None, axis=alt.Axis(labelLimit=360))
    bars = base.mark_bar(height={"band": 0.75}).encode(
        x=alt.X("start:Q", title="match weight (log2 odds)", axis=alt.Axis(labelExpr=BAYES_FACTOR_LABEL)),
        x2="end:Q", y=y,
        color=alt.Color("kind:N", scale=alt.Scale(domain=["raises", "lowers", "neutral", "total"],
                                                  range=["#228833", "#cc3311", "#bbbbbb", "#4477aa"]),
                        title=None, legend=alt.Legend(orient="top")),
        tooltip=["step:N", alt.Tooltip("contribution:Q", format="+.3f"), alt.Tooltip("end:Q", format=".3f",
                                                                                     title="weight after")])
    labels = base.mark_text(align="left", dx=4, fontSize=11).encode(
        x=alt.X("right:Q"), y=y, text=alt.Text("contribution:Q", format="+.2f"))
    zero = alt.Chart(alt.Data(name="chosen")).mark_rule(color="#666666").encode(x=alt.datum(0))
    return alt.layer(bars, labels, zero).properties(width=WIDTH)


def hard_cases_chart(cases: list[str], floor: float) -> alt.HConcatChart:
    """Recall (from ``floor``: the cases differ in the last percent) and false links per hard case, on one
    list of cases (a case without true pairs has no recall but may have false links)."""
    y = alt.Y("case:N", sort=cases, scale=alt.Scale(domain=cases), title=None, axis=alt.Axis(labelLimit=340))
    recall = alt.Chart(alt.Data(name="hard_cases")).transform_filter("isValid(datum.recall)").mark_point(
        filled=True, size=80, color="#4477aa", clip=True).encode(
        x=alt.X("recall:Q", scale=alt.Scale(domain=[floor, 1]), title=f"recall (true pairs found; from {floor:g})"),
        y=y, tooltip=["case:N", alt.Tooltip("recall:Q", format=".4f"), alt.Tooltip("found:Q", format=","),
                      alt.Tooltip("true_pairs:Q", format=",")]).properties(width=300)
    false_links = alt.Chart(alt.Data(name="hard_cases")).mark_bar(color="#cc3311").encode(
        x=alt.X("false_links:Q", title="false links"),
        y=alt.Y("case:N", sort=cases, scale=alt.Scale(domain=cases), axis=None),
        tooltip=["case:N", alt.Tooltip("false_links:Q", format=","), alt.Tooltip("patients:Q", format=",")]
    ).properties(width=200)
    return alt.hconcat(recall, false_links)


def specs(data: LinkReportData, *, validate: bool = False) -> dict[str, dict]:
    """Every chart's Vega-Lite spec by the id of the page element it draws into. ``validate``: check each
    against the Vega-Lite schema (a second per report; the tests do, the page need not: the specs are
    this module's code, not input)."""
    charts = {"chart-blocking": blocking_chart(), "chart-weights": weights_chart(), "chart-m-u": m_u_chart(),
              "chart-sessions": sessions_chart([s["session"] for s in data.sessions if s.get("m")]),
              "chart-histogram": histogram_chart(),
              "chart-threshold": threshold_chart(data.run["threshold"]["probability"], quality_floor(data)),
              "chart-patterns": patterns_chart(),
              "chart-waterfall": waterfall_chart()}
    if data.truth:
        rows = _hard_case_rows(data)
        recalls = [r["recall"] for r in rows if r["recall"] is not None]
        floor = max(0.0, math.floor((min(recalls, default=0.0) - 0.01) * 50) / 50)
        charts["chart-hard-cases"] = hard_cases_chart([r["case"] for r in rows], floor)
    return {key: chart.to_dict(validate=validate) for key, chart in charts.items()}


__all__ = ["datasets", "specs", "STATUSES"]
