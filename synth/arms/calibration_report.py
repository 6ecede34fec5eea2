"""``harmonie arm calibrate``'s outputs: ``calibration.json``, ``calibration.html``, ``trials.parquet``, figures.

What a methodologist reads before trusting a control arm of this design: per source (real
warehouse, replica) and analysis (balanced, unadjusted), the type I error, power, bias of the
log-HR and 95% CI coverage against the nominal 5% / 80% / 95%, each with its Monte-Carlo
standard error, the warnings first. Pools are described by their attrition through the
small-cell rule (:func:`synth.arms.report.attrition_shown`); the rates are over simulated trials,
not patients. ``trials.parquet`` holds one row per trial x source x analysis x hazard ratio (the
estimates, never a patient).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import pyarrow as pa

from harmonie.io import ensure_output_dir, write_parquet, write_text
from harmonie.report_html import fmt as _f
from harmonie.report_html import img as _img
from harmonie.report_html import page
from harmonie.report_html import table as _table
from privacy.disclosure import DisclosureRule
from synth.arms import figures
from synth.arms.calibrate import Calibration, settings_dict
from synth.arms.protocol import protocol_markdown, target_trial_protocol
from synth.arms.report import attrition_shown
from synth.report.build import _plain

FORMAT = "harmonie-arm-calibration/1"


def written_calibration(cal: Calibration) -> dict:
    """The calibration as it may be written."""
    rule = DisclosureRule(cal.spec.min_cell)
    return _plain({
        "format": FORMAT, "name": cal.spec.name, "settings": settings_dict(cal.settings),
        "protocol": target_trial_protocol(cal.spec),
        "pools": {name: {"attrition": attrition_shown(c.attrition, rule), "n_eligible": rule.count(len(c.patients))}
                  for name, c in cal.cohorts.items()},
        "truth": [{"hazard_ratio": theta, "estimand_log_hr": value} for theta, value in sorted(cal.truth.items())],
        "pool_differences": {name: hr.as_dict() for name, hr in cal.pool_differences.items()},
        "summary": cal.summary,
        "targets": {"type_one_error": list(cal.settings.type_one_bounds), "min_coverage": cal.settings.min_coverage,
                    "nominal": {"type_one_error": cal.settings.alpha, "power": 0.8, "coverage": 0.95}},
        "warnings": cal.warnings,
        "disclosure": {"min_cell": rule.min_cell,
                       "rule": f"pool counts through the small-cell rule ({rule.min_cell}); rates are over trials"},
    })


def _pct(value, se=None) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" + ("" if se is None else f" ± {se:.1%}")


def summary_table(summary: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The calibration table (also printed by the command and the benchmark)."""
    header = ["source", "analysis", "true HR", "trials", "rejection (type I / power) ± MC SE", "expected power",
              "bias log-HR ± MC SE", "empirical SE", "model SE", "95% CI coverage ± MC SE"]
    rows = []
    for r in summary:
        if "rejection" not in r:
            rows.append([r["source"], r["analysis"], f"{r['truth_hr']:.3f}", f"{r['trials']}", "no estimate", "", "",
                         "", "", ""])
            continue
        rows.append([r["source"], r["analysis"], f"{r['truth_hr']:.3f} (θ {r['hazard_ratio']:g})",
                     f"{r['trials'] - r['failed']}", _pct(r["rejection"], r["rejection_mc_se"]),
                     _pct(r["expected_power"]), f"{r['bias_log_hr']:+.3f} ± {r['bias_mc_se']:.3f}",
                     f"{r['empirical_se']:.3f}", f"{r['mean_model_se']:.3f}",
                     _pct(r["coverage"], r["coverage_mc_se"])])
    return header, rows


def markdown_table(summary: list[dict]) -> str:
    header, rows = summary_table(summary)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render(doc: dict, image: str) -> str:
    s = doc["settings"]
    warnings = "".join(f"<p class='fail'>⚠ {escape(w)}</p>" for w in doc["warnings"])
    verdict = (f"<div class='verdict {'bad' if doc['warnings'] else 'ok'}'><h2>"
               + (f"{len(doc['warnings'])} warning(s)" if doc["warnings"] else
                  "Every source's balanced arms are within the bounds") + "</h2>"
               + f"<p>Targets: type I error within {s['type_one_bounds'][0]:.0%}–{s['type_one_bounds'][1]:.0%}, 95% CI "
                 f"coverage at least {s['min_coverage']:.0%}, over {s['trials']} simulated trials per setting.</p>"
               + warnings + "</div>")
    header, rows = summary_table(doc["summary"])
    pools = [[escape(name), _f(p["n_eligible"]) if p["n_eligible"] is not None else f"&lt;{doc['disclosure']['min_cell']}"]
             for name, p in doc["pools"].items()]
    differences = [[escape(name), f"{d['hr']:.3f} ({d['lower_95']:.3f}–{d['upper_95']:.3f})" if d.get("hr") else "–"]
                   for name, d in doc["pool_differences"].items()]
    truth = [[f"{t['hazard_ratio']:g}", f"{2.718281828459045 ** t['estimand_log_hr']:.3f}"] for t in doc["truth"]]
    body = (verdict
            + "<h2>Error rates</h2><div class='explain'>Each simulated trial: "
              f"{s['trial_size']} patients drawn from a part of the world the warehouse does not hold, with younger, "
              f"earlier-stage patients enrolling more (log-odds {s['age_log_odds_per_10y']:g} per decade of age, "
              f"{s['stage_log_odds']:g} per stage), a drug of hazard ratio θ added from the index date, against "
              f"{s['control_size']} eligible controls drawn from each source. <b>Balanced</b>: the spec's analysis; "
              "<b>unadjusted</b>: no score, no covariates. Rejection at θ = 1 is the type I error, otherwise the "
              "power; expected power is what the trials' own standard errors promise. Bias and coverage are against "
              "the estimand's true value (below), computed from the drug and no-drug outcomes of every trial-source "
              "patient. ± values are Monte-Carlo standard errors.</div>"
            + _img(image, "error rates") + _table(header, [[escape(c) for c in row] for row in rows])
            + "<h3>True value of the estimand</h3>" + _table(["θ (drug's hazard ratio)", "estimand (HR)"], truth)
            + "<h3>Pools</h3>" + _table(["pool", "eligible patients"], pools)
            + "<h3>The pools' own difference</h3><div class='explain'>The adjusted hazard ratio of the whole trial "
              "source against each whole source, no drug: a difference every trial inherits (chance for two halves of "
              "one world; chance plus the generator's error for a replica).</div>"
            + _table(["source", "HR (95% CI)"], differences))
    return page(f"Calibration of external control arms: {doc['name']}",
                "Type I error, power, bias and coverage of the hazard ratio over simulated trials (Harmonie)", body)


def write_calibration(cal: Calibration, out: Path) -> dict:
    """Write the calibration into the folder ``out``; return the document as written."""
    text = json.dumps(written_calibration(cal), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    write_text(text, out / "calibration.json")
    doc = json.loads(text)
    image = figures.calibration(doc["summary"], tuple(doc["settings"]["type_one_bounds"]),
                                doc["settings"]["min_coverage"])
    write_text(render(doc, image), out / "calibration.html")
    write_text(protocol_markdown(doc["protocol"]), out / "protocol.md")
    figures.write_pngs({"error_rates": image}, ensure_output_dir(out / "figures"))
    trials = cal.trials.copy()
    trials["problem"] = trials["problem"].astype("string")
    write_parquet(pa.Table.from_pandas(trials, preserve_index=False), out / "trials.parquet")
    return doc
