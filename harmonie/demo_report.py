"""The demo's one-page report for a data-team lead: linkage, replica utility, risk, and the gate.

It summarises what each party produced and points to the full reports (utility and risk,
inside the release bundle when the gate released it). Figures are embedded, so the page
travels alone — which is why what it shows of patients obeys the same small-cell rule as the
utility report (:mod:`privacy.disclosure`, with the ``min_cell`` that report was written
with): counts of patients below it are written "fewer than ...", the utility figures are the
report's own (already through the rule), and the linkage unit's per-pair explanations
(``waterfall.png``, a few single real pairs) are not embedded.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

from harmonie.io import write_text
from harmonie.report_html import fmt, img, page, passed, relink, table
from privacy.disclosure import DisclosureRule
from privacy.release.bundle import MANIFEST

# not linkage_unit/run/waterfall.png: it explains single pairs, i.e. shows single patients' records
_LINKAGE_FIGURES = (("linkage_unit/run/match_weight_histogram.png", "match weights of candidate pairs"),
                    ("evaluator/precision_recall.png", "precision and recall against the truth"))
_UTILITY_FIGURES = (("kaplan_meier.png", "Kaplan-Meier curves, real vs synthetic"),
                    ("distributions_patients.png", "patient variables, real vs synthetic"),
                    ("forest.png", "Cox hazard ratios, real vs synthetic"))


def _figure(path: Path, alt: str) -> str:
    return img(base64.b64encode(path.read_bytes()).decode("ascii"), alt) if path.is_file() else ""


def _checks_table(checks: list[dict]) -> str:
    return table(["check", "value", "limit", "result"],
                 [[escape(c.get("what", c["name"])), fmt(c["value"], 4), f"{escape(c['rule'])} {fmt(c['threshold'], 4)}",
                   passed(c["passed"])] for c in checks])


def _linkage(out: Path, result: dict) -> str:
    e, s = result["evaluation"], result["link_summary"]
    est = s.get("estimated", {})
    rows = [["precision", fmt(est.get("precision"), 4), fmt(e["precision"], 4)],
            ["recall", fmt(est.get("recall"), 4), fmt(e["recall"], 4)],
            ["F1", "–", fmt(e["f1"], 4)]]
    return ("<h2 id='linkage'>1. Linkage (linkage unit, on encoded files only)</h2>"
            "<div class='explain'>The two holders encoded their identifiers with a shared secret the linkage unit "
            "never sees; the linkage unit compared the encodings and scored pairs with a Fellegi–Sunter model "
            "trained by EM on the data itself. The model estimates its own precision and recall; because this is "
            "simulated data, the evaluator can check them against the truth.</div>"
            + table(["", "model's estimate", "true (against the simulation)"], rows)
            + f"<p>{s['candidate_pairs']:,} candidate pairs from blocking (pairs completeness "
              f"{fmt(e['pairs_completeness'], 4)}), {e['links']:,} links; {e['true_pairs']:,} true pairs.</p>"
            + "".join(_figure(out / path, alt) for path, alt in _LINKAGE_FIGURES)
            + "<p class='note'>The linkage unit's explanation of single pairs (<code>waterfall.png</code>, and the "
              "interactive <a href='linkage_unit/run/report.html'>linkage report</a>: weights, m and u, patterns, the "
              "threshold tool; with the truth: <a href='evaluator/report.html'>the evaluator's copy</a>) stays in "
              "its folder: it shows pairs by linkage id.</p>")


def _analytic(summary: dict, rule: DisclosureRule) -> str:
    p = summary["patients"]
    rows = [["cohort records", p["cohort_records"]], ["linked", p["linked"]],
            ["quarantined (contradictory records)", p["quarantined"]], ["training (seen by the generator)", p["train"]],
            ["control (kept aside for risk and utility)", p["control"]]]
    return ("<h2 id='analytic'>2. Analytic dataset (data team)</h2>"
            "<p>Each holder extracted its linked patients' study variables keyed by linkage id (no names, no NIR, no "
            "local id); the data team joined them through the links under new patient ids.</p>"
            + table(["", "patients"], [[label, escape(rule.describe(count))] for label, count in rows]))


def _rule(reports: Path) -> DisclosureRule:
    """The rule the utility report was written with (the release policy's), the default for an older report."""
    if not (reports / "utility" / "utility.json").is_file():  # a refused replica that copied real patients
        return DisclosureRule()
    document = json.loads((reports / "utility" / "utility.json").read_text())
    if "disclosure" not in document:
        return DisclosureRule()
    return DisclosureRule(min_cell=document["disclosure"]["min_cell"])


def _utility(out: Path, reports: Path) -> str:
    if not (reports / "utility" / "utility.json").is_file():
        return ("<h2 id='utility'>3. Synthetic replica: utility — not reported</h2><p>The release gate's screen "
                "found replica patients copying real patients: a utility report would show their values, so the "
                "refusal wrote none (see the risk report).</p>")
    document = json.loads((reports / "utility" / "utility.json").read_text())
    figures = reports / "utility" / "figures"
    return (f"<h2 id='utility'>3. Synthetic replica: utility — {escape(document['verdict'])}</h2>"
            "<div class='explain'>The replica is compared with the real training data on what oncology studies look "
            "at: survival by cancer type, the effect of stage and age on survival, each variable and the relations "
            "between them, and a prediction trained on synthetic data and tested on real control patients. Full "
            f"report: {_report_link(out, reports / 'utility' / 'utility.html')}.</div>"
            + _checks_table(document["checks"])
            + "".join(_figure(figures / name, alt) for name, alt in _UTILITY_FIGURES))


def _risk(out: Path, reports: Path, released: dict) -> str:
    document = json.loads((reports / "risk" / "risk.json").read_text())
    verdict = ("released: a signed bundle was written" if released["released"] else
               f"refused: {escape(released['refusal'])}")
    verify = (f"<p>Check it with <code>harmonie release verify {escape(str(released['bundle']))}</code>.</p>"
              if released["released"] else "")
    return (f"<h2 id='risk'>4. Re-identification risk and the release gate — {verdict}</h2>"
            "<div class='explain'>Anonymeter's singling-out, linkability and inference attacks, distances to the "
            "closest real record and replicated uniques, each compared with the release policy. Full report: "
            f"{_report_link(out, reports / 'risk' / 'risk.html')}.</div>"
            + _checks_table(document["checks"]) + verify)


def _parties(out: Path) -> str:
    rows = []
    for party in sorted(p for p in out.iterdir() if p.is_dir()):
        files = sorted(f.relative_to(party).as_posix() for f in party.iterdir())
        rows.append([f"<code>{escape(party.name)}/</code>", escape(", ".join(files))])
    return ("<h2 id='parties'>Who holds what</h2><p>The output folder is laid out by party; only encoded files ever reach the "
            "linkage unit.</p>" + table(["party", "holds"], rows))


def demo_pages(out: Path, reports: Path) -> list[tuple[str, Path]]:
    """Every report page of a demo run: (title, path); ``reports``: the folder holding utility/ and risk/
    (the release bundle, or data_team/refused)."""
    return [("demo report", out / "report.html"), ("linkage report", out / "linkage_unit" / "run" / "report.html"),
            ("linkage report with the truth", out / "evaluator" / "report.html"),
            ("utility report", reports / "utility" / "utility.html"), ("risk report", reports / "risk" / "risk.html")]


def link_demo_pages(out: Path, reports: Path) -> list[Path]:
    """Link the demo's pages written before the demo report (the linkage reports, and the utility and risk
    reports of a refused replica) to every page of the run that exists; returns the pages relinked.
    The reports inside a signed release bundle are left as signed: they link to each other only (a bundle
    travels alone)."""
    pages = demo_pages(out, reports)
    signed = (reports / MANIFEST).is_file()
    relinked = []
    for title, path in pages[1:]:
        if signed and reports.resolve() in path.resolve().parents:
            continue
        if relink(path, pages):
            relinked.append(path)
    return relinked


def _report_link(out: Path, path: Path) -> str:
    """A relative link to a full report from the demo report, or its path where it does not exist."""
    import os

    if not path.is_file():
        return f"<code>{escape(str(path))}</code>"
    return f"<a href='{escape(Path(os.path.relpath(path, out)).as_posix())}'>{escape(path.name)}</a>"


def write_demo_report(out: Path, result: dict, *, scale: str, scenario: str) -> Path:
    released = result["release"]
    e = result["evaluation"]
    ok = released["released"]
    box = (f'<div class="verdict {"ok" if ok else "bad"}"><h2>Linkage F1 {e["f1"]:.4f}; replica '
           f'{"released" if ok else "refused"} by the release gate</h2>'
           f"<p>Scale <b>{escape(scale)}</b>, linkage spec <b>{escape(scenario)}</b>: "
           f"{result['population']['cohort_patients']:,} cohort patients and "
           f"{result['population']['snds_beneficiaries']:,} SNDS beneficiary ids, simulated.</p></div>")
    rule = _rule(released["reports"])
    reports = released["reports"]
    body = (box + _linkage(out, result) + _analytic(released["analytic"], rule) + _utility(out, reports)
            + _risk(out, reports, released) + _parties(out))
    written = write_text(page("Harmonie demo report", "Simulated cohort ↔ SNDS linkage, synthetic replica and its "
                              "release, end to end (Harmonie).", body, here=out / "report.html",
                              pages=demo_pages(out, reports)), out / "report.html")
    link_demo_pages(out, reports)
    return written
