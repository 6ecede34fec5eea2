"""The linkage report as one self-contained HTML page (``report.html``).

It must open in an air-gapped secure environment: Vega, Vega-Lite and vega-embed are inlined
(the bundle vl-convert ships, the one Altair's ``save(inline=True)`` uses), as are the data,
the chart specs and the page's own script; nothing is fetched. The page's script draws each
chart as SVG, fills the pattern viewer, explains a chosen pair or pattern as a waterfall and
reads the threshold tool's figures at the slider; anything it could not draw is listed at the
top of the page (``#report-errors``) and ``<body data-ready>`` says when it is done (what the
browser test reads). ``#only=<section>`` in the address shows one section alone. Under the
contents, a bar links the run's other reports (``links_to``, relative paths) that exist where the
page is written; :func:`harmonie.report_html.relink` updates it once later ones are written.

Text from the spec (comparison, level and pass names) is escaped here and written with
``textContent`` by the script, never as markup.
"""

from __future__ import annotations

import json
from functools import lru_cache
from html import escape
from pathlib import Path

from harmonie.report_html import STYLE, contents, fmt, pages_nav, table
from linkage.report.charts import datasets, specs
from linkage.report.data import LinkReportData

EXTRA_STYLE = """
.chart{margin:.6em 0 1.2em 0;min-height:40px}
section{margin-bottom:2.2em}.alone{font-size:.75em;margin-left:.6em;font-weight:normal}
#report-errors{background:#fdf0ee;border:2px solid #c0392b;padding:.6em;white-space:pre-wrap}
.controls{margin:.5em 0}.controls input[type=text]{width:26em}.controls input,.controls select{margin-right:.6em}
#patterns-table{font-size:.8em;max-height:520px;overflow:auto;display:block}
#patterns-table tr{cursor:pointer}#patterns-table tr.picked td{background:#fff5cc}
#patterns-table th{cursor:pointer;position:sticky;top:0}#patterns-table td.text{text-align:left}
.pairs button{margin:.15em;font-family:monospace;font-size:.8em}.mono{font-family:monospace}
.readout td:first-child{min-width:14em}.vega-bind{margin:.3em 0}.vega-bind-name{font-weight:600}
"""

BUNDLE_END = "window.vegaLite=__default1;"  # how vl-convert's bundle ends: a cached copy is whole
SECTIONS = (("overview", "Run"), ("blocking", "Blocking passes"), ("weights", "Match weights per level"),
            ("m-u", "m and u"), ("sessions", "EM sessions"), ("histogram", "Weights of all pairs"),
            ("threshold", "Threshold tool"), ("patterns", "Comparison patterns"), ("waterfall", "Explain a pair"),
            ("truth", "Against the truth"))


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega, Vega-Lite (the version Altair writes specs for) and vega-embed as one script, offline.

    vl-convert assembles it in its embedded JavaScript runtime, which takes 2-4 s per process; the
    result depends on the installed versions only, so it is kept in a cache file named by them
    (``$HARMONIE_CACHE_DIR``, else ``~/.cache/harmonie``; ignored if it cannot be written)."""
    import os
    from importlib.metadata import version

    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    from harmonie.errors import HarmonieError
    from harmonie.io import write_text

    vl_version = vl_version_for_vl_convert()
    folder = Path(os.environ.get("HARMONIE_CACHE_DIR") or Path.home() / ".cache" / "harmonie")
    cached = folder / f"vega-bundle-{version('vl-convert-python')}-{vl_version}.js"
    try:
        bundle = cached.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        bundle = ""
    if not bundle.endswith(BUNDLE_END):  # absent, or not a whole bundle
        bundle = vl_convert.javascript_bundle(vl_version=vl_version)
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_text(bundle, cached)
        except (OSError, HarmonieError):  # a read-only home: the next process assembles it again
            pass
    if "</script" in bundle.lower():  # would end the inline script early
        raise RuntimeError("the Vega bundle contains '</script': it cannot be inlined")
    return bundle


def _json_script(element_id: str, value) -> str:
    # "<" only occurs inside JSON strings, where \u003c reads the same: no "</script" or "<!--" can end the block
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _heading(section: str, title: str) -> str:
    return (f'<h2 id="{section}">{escape(title)}<a class="alone" href="#only={section}" '
            f'title="show this section alone">open alone</a></h2>')


def _overview(data: LinkReportData) -> str:
    r = data.run
    est = r.get("estimated", {})
    rows = [["records", f"{r['left']['records']:,} {escape(str(r['left'].get('holder') or 'left'))} × "
                        f"{r['right']['records']:,} {escape(str(r['right'].get('holder') or 'right'))}"],
            ["candidate pairs (blocking)", f"{r['candidate_pairs']:,} (reduction ratio {r['reduction_ratio']:.6f})"],
            ["distinct comparison patterns", fmt(len(data.patterns["count"]))],
            ["one-to-one pairs (what a threshold can link)", fmt(r.get("one_to_one_pairs"))],
            ["links", f"{fmt(r.get('links'))} at match probability ≥ {r['threshold']['probability']:.3f} "
                      f"({escape(r['threshold']['chosen'])})"],
            ["grey zone (for review)", f"{fmt(r.get('grey_zone_pairs'))} pairs with probability in "
                                       f"[{r['grey_zone'][0]:g}, {r['grey_zone'][1]:g}]"],
            ["model's estimate at the threshold", f"precision {fmt(est.get('precision'), 4)}, recall "
                                                  f"{fmt(est.get('recall'), 4)}, F1 {fmt(est.get('f1'), 4)}"]]
    if data.truth:
        q = data.truth["quality"]
        rows.append(["true, against the truth", f"precision {fmt(q['precision'], 4)}, recall {fmt(q['recall'], 4)}, "
                                                f"F1 {fmt(q['f1'], 4)} ({q['true_positives']:,} of "
                                                f"{q['true_pairs']:,} true pairs found, {q['false_positives']:,} "
                                                "false links)"])
    warnings = "".join(f"<li>{escape(w)}</li>" for w in r.get("warnings", []))
    return (_heading("overview", "Run") + f"<p>Spec <b>{escape(r['spec'])}</b> "
            f"(hash <span class='mono'>{escape(r['spec_hash'][:16])}…</span>).</p>"
            + table(["", "this run"], rows) + (f"<p>Warnings:</p><ul>{warnings}</ul>" if warnings else ""))


def _blocking(data: LinkReportData) -> str:
    rows = [[escape(p["name"]), fmt(p["proposed"]), fmt(p["pairs"]), fmt(p["new"]), fmt(p["only"]), fmt(p["blocks"]),
             fmt(p["skipped_blocks"]), fmt(p["skipped_pairs"])] for p in data.blocking]
    return (_heading("blocking", "Blocking passes: what each pass proposes")
            + "<p>Each pass proposes the pairs that share its key. <i>New</i> pairs are those no earlier pass "
              "proposed (the pass's yield); <i>only</i> this pass: what would be lost without it. A block (one "
              "key value) over the pass's <code>max_block_size</code> pairs is skipped and counted.</p>"
            + '<div class="chart" id="chart-blocking"></div>'
            + table(["pass", "pairs proposed (a pair shared by several keys counts each time)", "distinct pairs",
                     "new", "only this pass", "blocks", "oversized blocks skipped", "pairs skipped"], rows))


def _weights() -> str:
    return (_heading("weights", "Match weights per comparison level (log2 scale)")
            + "<p>A level's weight is log2(m/u): how many bits of evidence it adds to a pair's match weight "
              "(+3 multiplies the odds by 8). A missing value adds nothing. The prior is the odds that two "
              "records drawn at random match.</p><div class='chart' id='chart-weights'></div>")


def _m_u() -> str:
    return (_heading("m-u", "m and u per level (log scale)")
            + "<p>m: how often a match shows the level; u: how often two random records do (estimated on random "
              "pairs, never on blocked ones). On a log axis the small u of agreements, which make the weights, "
              "are visible.</p><div class='chart' id='chart-m-u'></div>")


def _sessions(data: LinkReportData) -> str:
    rows = [[escape(s["session"]), fmt(s.get("pairs")), fmt(s.get("expected_matches"), 1),
             escape(", ".join(s.get("left_out", [])) or "–"), fmt(s.get("iterations")),
             fmt(s.get("converged")) + (f" ({escape(s['skipped'])})" if s.get("skipped") else "")]
            for s in data.sessions]
    return (_heading("sessions", "EM sessions side by side")
            + "<p>m is estimated once per blocking pass (a training session leaving out the comparisons that pass "
              "forces or biases), the sessions are pooled, then refined by one leave-one-out step over all "
              "candidates. Where sessions disagree, a level's m depends on which pairs it is learnt from.</p>"
              "<div class='chart' id='chart-sessions'></div>"
            + table(["session", "pairs", "expected matches", "comparisons left out", "iterations", "converged"], rows))


def _histogram() -> str:
    return (_heading("histogram", "Match weights of all candidate pairs")
            + "<p>The weight of a pair is its log2 odds of being a match among all left × right pairs. The "
              "threshold applies to the match probability per left record (a record has at most one match), "
              "not to this weight: see the threshold tool.</p><div class='chart' id='chart-histogram'></div>")


def _threshold(data: LinkReportData) -> str:
    truth = ("; solid lines are the true figures against the truth (measured by <code>harmonie evaluate</code>)"
             if data.truth else "; with the truth, <code>harmonie evaluate</code> adds the true figures")
    return (_heading("threshold", "Threshold tool: precision, recall and F1 against the threshold")
            + "<p>Over every one-to-one pair (at most one per record: the pairs a threshold can turn into links), "
              "the model's expected precision (mean probability of the links), recall (expected true links over "
              "the matches it expects in all) and F1, dashed" + truth + ". The grey zone is shaded, the chosen "
              "threshold is the red dashed rule; move the slider to read the figures at another threshold.</p>"
              "<div class='chart' id='chart-threshold'></div><table class='readout' id='threshold-readout'>"
              "</table><p class='note' id='threshold-command'></p>")


def _patterns(data: LinkReportData) -> str:
    return (_heading("patterns", "Comparison patterns")
            + f"<p>Every distinct combination of levels among the {data.run['candidate_pairs']:,} candidate pairs "
              f"({len(data.patterns['count']):,} patterns), with its weight (before term-frequency adjustments) "
              "and what the decision made of its pairs. Click a point or a row to explain the pattern and list its "
              "example pairs (by linkage id).</p><div class='chart' id='chart-patterns'></div>"
              "<div class='controls'>filter levels: <input type='text' id='patterns-filter' "
              "placeholder='e.g. same year and month'> status: <select id='patterns-status'><option value=''>any"
              "</option><option value='links'>with links</option><option value='grey'>with grey-zone pairs</option>"
              "<option value='none'>no link</option></select><span id='patterns-shown' class='note'></span></div>"
              "<table id='patterns-table'></table>")


def _waterfall(data: LinkReportData) -> str:
    embedded, kept = len(data.pairs["left_id"]), data.pairs["searchable_of"]
    return (_heading("waterfall", "Explain a pair or a pattern (waterfall)")
            + f"<p>Pick a pair by linkage id (left or right; {embedded:,} pairs are embedded: a few examples of "
              f"each pattern and status, and {'every one-to-one pair' if embedded >= kept else 'the grey zone'} of "
              f"the {kept:,} one-to-one pairs), or a pattern above. Each bar is what one comparison adds to the "
              "weight; for a pair, term-frequency adjustments (rare values weigh more) are a bar of their own.</p>"
              "<div class='controls'>linkage id: <input type='text' id='pair-id' placeholder='left or right "
              "linkage id'><button id='pair-find'>explain</button> <span id='pair-found' class='note'></span></div>"
              "<div id='pair-title'></div><div class='chart' id='chart-waterfall'></div>"
              "<div id='pattern-examples' class='pairs'></div>")


def _truth(data: LinkReportData) -> str:
    if not data.truth:
        return ""
    q = data.truth["quality"]
    rows = [["precision", fmt(data.run.get("estimated", {}).get("precision"), 4), fmt(q["precision"], 4)],
            ["recall", fmt(data.run.get("estimated", {}).get("recall"), 4), fmt(q["recall"], 4)],
            ["F1", fmt(data.run.get("estimated", {}).get("f1"), 4), fmt(q["f1"], 4)]]
    cases = [[escape(r["label"]), fmt(r["patients"]), f"{r['found']:,} / {r['true_pairs']:,}", fmt(r["recall"], 4),
              fmt(r["false_links"])] for r in data.truth.get("by_hard_case", [])]
    hard = ("<p>Errors by hard case (counts of patients; no identifier): recall among the patients who are in "
            "SNDS, and the links they were given to a wrong record.</p><div class='chart' id='chart-hard-cases'>"
            "</div>" + table(["hard case", "patients", "found / in SNDS", "recall", "false links"], cases)
            if cases else "<p>No hard-case table was given to <code>evaluate</code> (<code>--hard-cases</code>).</p>")
    return (_heading("truth", "Against the truth")
            + f"<p>Measured by <code>harmonie evaluate</code> on {q['true_pairs']:,} true pairs; the pattern viewer "
              "counts true and false pairs among each pattern's one-to-one pairs.</p>"
            + table(["at the chosen threshold", "model's estimate", "true"], rows) + hard)


def _nav(data: LinkReportData, here: str | Path | None) -> str:
    """The contents, and the bar of links to the other reports of the run (``data.links_to``, relative to the
    page's folder) that exist where the page is written (``here``); with no ``here``, none."""
    present = [(s, t) for s, t in SECTIONS if s != "truth" or data.truth]
    return contents(present) + pages_nav(here, data.links_to.items())


def _used_datasets(spec) -> set[str]:
    if isinstance(spec, dict):
        found = {spec["data"]["name"]} if isinstance(spec.get("data"), dict) and "name" in spec["data"] else set()
        return found.union(*(_used_datasets(v) for v in spec.values()))
    if isinstance(spec, list):
        return set().union(*(_used_datasets(v) for v in spec))
    return set()


def render_page(data: LinkReportData, here: str | Path | None = None) -> str:
    """The whole page as text (deterministic: the same data give the same bytes); ``here``: the path it is
    written to, which its links to other reports are relative to (only those that exist are kept)."""
    chart_specs = specs(data)
    chart_data = {"specs": chart_specs, "datasets": datasets(data),
                  "uses": {key: sorted(_used_datasets(spec)) for key, spec in chart_specs.items()}}
    title = f"Linkage report: {data.run['spec']}" + (" (with the truth)" if data.truth else "")
    sections = [_overview(data), _blocking(data), _weights(), _m_u(), _sessions(data), _histogram(),
                _threshold(data), _patterns(data), _waterfall(data), _truth(data)]
    body = "".join(f'<section data-section="{sid}">{html}</section>'
                   for (sid, _), html in zip(SECTIONS, sections) if html)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{escape(title)}</title><style>{STYLE}{EXTRA_STYLE}</style>"
            f"<script>{vega_bundle()}</script></head><body>"
            f"<h1>{escape(title)}</h1><p class='note'>"
            + ("Written by <code>harmonie evaluate</code>: the linkage unit's report, with what the truth says of it "
               "(figures and counts). " if data.truth else "Written by <code>harmonie link</code> at the linkage unit. ")
            + "Linkage ids (pseudonymous), levels, weights and counts only; no plaintext identifier, no secret. "
              "Self-contained: it works offline.</p>"
            "<pre id='report-errors' hidden></pre>" + _nav(data, here) + body
            + _json_script("report-data", data.to_dict()) + _json_script("report-charts", chart_data)
            + f"<script>{PAGE_SCRIPT}</script></body></html>\n")


PAGE_SCRIPT = r"""
(function () {
  "use strict";
  const errors = [];
  const box = document.getElementById("report-errors");
  function fail(e) {
    errors.push(String((e && (e.stack || e.message)) || e));
    box.textContent = "This page could not draw everything:\n" + errors.join("\n");
    box.hidden = false;
    document.body.dataset.errors = String(errors.length);
  }
  window.addEventListener("error", (ev) => fail(ev.error || ev.message));
  window.addEventListener("unhandledrejection", (ev) => fail(ev.reason));
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const C = JSON.parse(document.getElementById("report-charts").textContent);
  const views = {};
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  const num = (v, d) => (v === null || v === undefined) ? "–" : (d === undefined ? Number(v).toLocaleString("en") : Number(v).toFixed(d));

  // -- focus on one section (#only=<id>)
  function focus() {
    const m = location.hash.match(/^#only=([\w-]+)/);
    document.querySelectorAll("section").forEach((s) => {
      s.hidden = !!m && !s.querySelector("#" + m[1]);
    });
  }
  window.addEventListener("hashchange", focus);
  focus();

  function embed(id) {
    const spec = C.specs[id];
    spec.datasets = {};
    C.uses[id].forEach((name) => { spec.datasets[name] = C.datasets[name]; });
    return vegaEmbed("#" + id, spec, {renderer: "svg", actions: {export: true, source: false, compiled: false, editor: false}})
      .then((r) => { views[id] = r.view; return r; });
  }

  // -- comparison patterns
  const P = D.patterns, comparisons = D.comparisons, TRUTH = D.truth;
  const labelOf = (j, level) => level < 0 ? "missing" : comparisons[j].levels[level].label;
  const linksOf = (g) => P.by_status[g][0] + P.by_status[g][1];
  const greyOf = (g) => P.by_status[g][1] + P.by_status[g][2];
  const columns = comparisons.map((c, j) => ({title: c.name, value: (g) => labelOf(j, P.levels[g][j]), text: true}))
    .concat([
      {title: "pairs", value: (g) => P.count[g]},
      {title: "weight", value: (g) => P.weight[g], digits: 2},
      {title: "pair probability", value: (g) => P.probability[g], digits: 4},
      {title: "one-to-one", value: (g) => P.one_to_one[g]},
      {title: "links", value: linksOf},
      {title: "grey zone", value: greyOf},
      {title: "mean probability (one-to-one)", value: (g) => P.mean_probability[g], digits: 4}]);
  if (TRUTH) {
    columns.push({title: "true (one-to-one)", value: (g) => TRUTH.patterns.correct[g]});
    columns.push({title: "false (one-to-one)", value: (g) => TRUTH.patterns.wrong[g]});
  }
  let sortColumn = comparisons.length + 1, sortDescending = true, picked = null;
  const SHOWN = 300;
  function drawTable() {
    const table = document.getElementById("patterns-table");
    table.textContent = "";
    const head = el("tr");
    columns.forEach((c, k) => {
      const th = el("th", c.title + (k === sortColumn ? (sortDescending ? " ▼" : " ▲") : ""));
      th.addEventListener("click", () => { sortDescending = k === sortColumn ? !sortDescending : !c.text; sortColumn = k; drawTable(); });
      head.appendChild(th);
    });
    table.appendChild(el("thead")).appendChild(head);
    const words = document.getElementById("patterns-filter").value.toLowerCase().trim();
    const status = document.getElementById("patterns-status").value;
    let rows = P.count.map((_, g) => g).filter((g) => {
      if (status === "links" && !linksOf(g)) return false;
      if (status === "grey" && !greyOf(g)) return false;
      if (status === "none" && linksOf(g)) return false;
      return !words || comparisons.some((c, j) => labelOf(j, P.levels[g][j]).toLowerCase().includes(words)
                                         || c.name.toLowerCase().includes(words));
    });
    const col = columns[sortColumn];
    rows.sort((a, b) => {
      const x = col.value(a), y = col.value(b);
      const order = col.text ? String(x).localeCompare(String(y)) : ((x === null ? -Infinity : x) - (y === null ? -Infinity : y));
      return (sortDescending ? -order : order) || a - b;
    });
    document.getElementById("patterns-shown").textContent =
      rows.length > SHOWN ? `showing ${SHOWN} of ${rows.length.toLocaleString("en")} patterns: sort or filter to find others`
                          : `${rows.length.toLocaleString("en")} patterns`;
    const body = table.appendChild(el("tbody"));
    rows.slice(0, SHOWN).forEach((g) => {
      const tr = el("tr");
      if (g === picked) tr.className = "picked";
      columns.forEach((c) => tr.appendChild(c.text ? el("td", c.value(g), "text") : el("td", num(c.value(g), c.digits))));
      tr.addEventListener("click", () => explainPattern(g));
      body.appendChild(tr);
    });
  }
  document.getElementById("patterns-filter").addEventListener("input", drawTable);
  document.getElementById("patterns-status").addEventListener("change", drawTable);

  // -- waterfall of a pattern, or of one pair (its pattern's levels, plus term frequencies)
  const PAIRS = D.pairs, EXAMPLES = 6;
  function steps(g, total) {
    const rows = [];
    let at = 0, order = 0;
    const push = (step, contribution, kind) => {
      const start = at, end = kind === "total" ? contribution : at + contribution;
      rows.push({step: step, order: order++, start: kind === "total" ? 0 : start, end: end, contribution: contribution,
                 kind: kind, right: Math.max(kind === "total" ? 0 : start, end)});
      if (kind !== "total") at = end;
    };
    push("prior (λ)", D.prior_weight, D.prior_weight >= 0 ? "raises" : "lowers");
    comparisons.forEach((c, j) => {
      const level = P.levels[g][j];
      const w = level < 0 ? 0 : c.levels[level].weight;
      push(c.name + ": " + labelOf(j, level), w, level < 0 ? "neutral" : (w >= 0 ? "raises" : "lowers"));
    });
    if (total !== undefined && Math.abs(total - at) > 1e-4) push("term frequencies (rare values)", total - at, total - at >= 0 ? "raises" : "lowers");
    push("match weight", total === undefined ? at : total, "total");
    return rows;
  }
  function showSteps(rows, title) {
    const t = document.getElementById("pair-title");
    t.textContent = "";
    t.appendChild(el("p", title));
    const view = views["chart-waterfall"];
    if (view) view.data("waterfall", rows).runAsync().catch(fail);
  }
  function explainPattern(g) {
    picked = g;
    const byStatus = D.statuses.map((s, k) => P.by_status[g][k] ? `${num(P.by_status[g][k])} ${s}` : "").filter((s) => s).join(", ");
    showSteps(steps(g), `Pattern #${g}: ${num(P.count[g])} candidate pairs (${byStatus}); weight ${num(P.weight[g], 2)}, ` +
      `pair probability ${num(P.probability[g], 4)}.`);
    const box = document.getElementById("pattern-examples");
    box.textContent = "";
    const mine = PAIRS.pattern.map((p, i) => p === g ? i : -1).filter((i) => i >= 0);
    box.appendChild(el("p", mine.length ? `Pairs of this pattern embedded here (${mine.length}; up to ${EXAMPLES} per status shown), by linkage id:`
                                        : "No pair of this pattern is embedded."));
    D.statuses.forEach((s, k) => {
      const those = mine.filter((i) => PAIRS.status[i] === k);
      if (!those.length) return;
      const line = box.appendChild(el("div"));
      line.appendChild(el("b", s + ": "));
      those.slice(0, EXAMPLES).forEach((i) => {
        const b = el("button", `${PAIRS.left_id[i]} × ${PAIRS.right_id[i]} · p ${num(PAIRS.probability[i], 3)}`);
        b.addEventListener("click", () => explainPair(i));
        line.appendChild(b);
      });
    });
    drawTable();
  }
  function explainPair(i) {
    const g = PAIRS.pattern[i];
    showSteps(steps(g, PAIRS.weight[i]), `Pair ${PAIRS.left_id[i]} × ${PAIRS.right_id[i]}: ${D.statuses[PAIRS.status[i]]}; ` +
      `match weight ${num(PAIRS.weight[i], 3)}, match probability (per left record) ${num(PAIRS.probability[i], 4)}; pattern #${g}.`);
    picked = g;
  }
  function findPair() {
    const q = document.getElementById("pair-id").value.trim();
    const found = document.getElementById("pair-found");
    const hits = [];
    PAIRS.left_id.forEach((id, i) => { if (q && (id === q || PAIRS.right_id[i] === q)) hits.push(i); });
    found.textContent = hits.length ? `${hits.length} embedded pair(s) with this id` :
      (q ? `no embedded pair has this linkage id (${num(PAIRS.left_id.length)} of ${num(PAIRS.searchable_of)} one-to-one pairs and examples are embedded): pick its pattern instead` : "");
    if (hits.length) explainPair(hits[0]);
    const box = document.getElementById("pattern-examples");
    if (hits.length > 1) {
      box.textContent = "";
      hits.slice(0, 60).forEach((i) => { const b = el("button", `${PAIRS.left_id[i]} × ${PAIRS.right_id[i]}`); b.addEventListener("click", () => explainPair(i)); box.appendChild(b); });
    }
  }
  document.getElementById("pair-find").addEventListener("click", findPair);
  document.getElementById("pair-id").addEventListener("keydown", (ev) => { if (ev.key === "Enter") findPair(); });

  // -- threshold tool: the figures at the slider
  const T = D.threshold;
  function readout(t) {
    let i = 0;
    while (i + 1 < T.threshold.length && T.threshold[i + 1] <= t + 1e-12) i++;
    const table = document.getElementById("threshold-readout");
    table.textContent = "";
    const rows = [["threshold (match probability)", num(T.threshold[i], 3)], ["links", num(T.links[i])],
                  ["model's estimate: precision / recall / F1", `${num(T.precision[i], 4)} / ${num(T.recall[i], 4)} / ${num(T.f1[i], 4)}`]];
    if (TRUTH) {
      const V = TRUTH.threshold;
      rows.push(["true: precision / recall / F1", `${num(V.precision[i], 4)} / ${num(V.recall[i], 4)} / ${num(V.f1[i], 4)}`]);
      rows.push(["true links", num(V.true_tp[i])]);
    }
    rows.forEach((r) => { const tr = el("tr"); tr.appendChild(el("td", r[0])); tr.appendChild(el("td", r[1])); table.appendChild(tr); });
    document.getElementById("threshold-command").textContent =
      `The same links again at this threshold, with the same weights: harmonie link ... --model model.json --threshold ${num(T.threshold[i], 3)}`;
  }

  const ids = Object.keys(C.specs);
  Promise.all(ids.map((id) => embed(id).catch((e) => { fail(`chart ${id}: ${e}`); })))
    .then(() => {
      const tv = views["chart-threshold"];
      if (tv) { readout(tv.signal("t")); tv.addSignalListener("t", (_, v) => readout(v)); }
      const pv = views["chart-patterns"];
      if (pv) pv.addSignalListener("pick", (_, v) => { if (v && v.pattern && v.pattern.length) explainPattern(v.pattern[0]); });
      drawTable();
      const first = P.count.map((_, g) => g).sort((a, b) => P.count[b] - P.count[a] || a - b)
        .find((g) => linksOf(g) > 0);
      if (first !== undefined) explainPattern(first);
      document.body.dataset.charts = String(Object.keys(views).length);
      document.body.dataset.ready = "yes";
    })
    .catch(fail);
})();
"""
