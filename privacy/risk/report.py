"""The risk report: ``risk.json`` (every figure) and ``risk.html`` (readable, with plots)."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import numpy as np

from harmonie.io import ensure_output_dir, write_text
from harmonie.report_html import fmt, img, page, passed, png, table

TRAIN, CONTROL = "#c0392b", "#3b6ea8"
_TITLE = ("Re-identification risk report: synthetic replica",
          "Does the replica expose the patients it was learned from? (Harmonie)")


def _anonymeter_rows(risk: dict) -> list[tuple[str, dict]]:
    rows = [(f"singling out ({m})", r) for m, r in risk["singling_out"].items()]
    rows.append(("linkability", risk["linkability"]))
    rows += [(f"inference of {s}", r) for s, r in risk["inference"].items()]
    return rows


def _risk_plot(risk: dict, policy: dict) -> str:
    from matplotlib.figure import Figure

    rows = _anonymeter_rows(risk)
    fig = Figure(figsize=(8, 0.45 * len(rows) + 1.2))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    values = np.array([r["risk"] for _, r in rows])
    low = values - np.array([r["ci"][0] for _, r in rows])
    high = np.array([r["ci"][1] for _, r in rows]) - values
    ax.barh(y, values, color="#8aa4c8", xerr=[low, high], capsize=3)
    limits = [policy["anonymeter"]["singling_out"]] * 2 + [policy["anonymeter"]["linkability"]] + \
             [policy["anonymeter"]["inference"]] * (len(rows) - 3)
    for yi, limit in zip(y, limits):
        ax.plot([limit, limit], [yi - 0.4, yi + 0.4], color=TRAIN, lw=2)
    ax.set_yticks(y, [label for label, _ in rows])
    ax.set_xlim(0, max(0.25, float((values + high).max()) * 1.1))
    ax.set_xlabel("risk (bar: estimate, whisker: 95% CI, red tick: policy limit)")
    fig.tight_layout()
    return png(fig)


def _dcr_plot(arrays: dict) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2))
    ax = fig.add_subplot()
    both = np.concatenate([arrays["train"], arrays["control"]])
    bins = np.linspace(0, np.percentile(both, 99) if len(both) else 1, 40)
    ax.hist(arrays["train"], bins=bins, alpha=0.55, color=TRAIN, label="to the closest training patient")
    ax.hist(arrays["control"], bins=bins, alpha=0.55, color=CONTROL, label="to the closest control patient")
    ax.set_xlabel("distance from a synthetic record")
    ax.set_ylabel("synthetic records")
    ax.legend()
    fig.tight_layout()
    return png(fig)


def _verdict_box(checks: list[dict], title: str) -> str:
    failed = [c for c in checks if not c["passed"]]
    ok = not failed
    headline = (f"{title}: all {len(checks)} checks pass" if ok else
                f"{title}: {len(failed)} of {len(checks)} checks fail ({', '.join(c['name'] for c in failed)})")
    rows = [[escape(c["what"]), f"<code>{escape(c['name'])}</code>", fmt(c["value"], 4),
             f"{escape(c['rule'])} {fmt(c['threshold'], 4)}", passed(c["passed"])] for c in checks]
    return (f'<div class="verdict {"ok" if ok else "bad"}"><h2>{escape(headline)}</h2>'
            + table(["check", "name", "value", "limit", "result"], rows) + "</div>")


_COPY_KINDS = (("exact", "exact copies (every attack column)"), ("patient_row", "patient-table row copies"),
               ("near", "near copies (numbers and dates within the tolerances)"),
               ("trajectory", "care-trajectory copies"))


def _screen_section(screen: dict) -> str:
    t = screen["tolerance"]
    sets = list(screen["by_real_set"])
    rows = [[escape(label)] + [fmt(screen["by_real_set"][name][kind]) for name in sets] + [fmt(screen["copies"][kind])]
            for kind, label in _COPY_KINDS]
    shared = screen["training_control_overlap"]
    return (
        "<h2>0. Real people in the replica (every row, not a sample)</h2>"
        "<div class='explain'>Every one of the replica's "
        f"{screen['replica_patients']:,} patients is compared with every real patient the gate was given ("
        + escape(", ".join(f"{name} {n:,}" for name, n in screen["real_patients"].items()))
        + "). A near copy equals a real patient on every category, with dates within "
        f"{t['days']} days, age within {t['age_years']} year and counts within {t['counts']}; a care-trajectory "
        "copy carries the dated stays and dispensings of a real patient whose trajectory is unique and has at "
        f"least {t['min_trajectory_events']} events. Any copy refuses the replica.</div>"
        + table(["replica patients that are", *[escape(n) for n in sets], "any real set"], rows)
        + f"<p>Replica patients copying a real patient: <b>{fmt(screen['replica_patients_copying_a_real_patient'])}"
          f"</b>. Training and control sets share {fmt(shared['by_id'])} patients by id and "
          f"{fmt(shared['by_content'])} by content (both must be 0).</p>")


def render(risk: dict, checks: list[dict], policy: dict, arrays: dict | None, *, before: dict | None = None) -> str:
    body = _verdict_box(checks, "Release policy")
    if before is not None:
        body += ("<h2>Remediation</h2><p>Before remediation the replica failed: "
                 + escape(", ".join(c["name"] for c in before["checks"] if not c["passed"]) or "nothing")
                 + f". Remediation: {escape(before['remediation'])}. The figures below are measured again on "
                 "the remediated replica.</p>")
    body += _screen_section(risk["screen"])
    if not risk.get("measured"):
        body += ("<h2>Sampled measures: not run</h2><p>The screen above found real patients in the replica or "
                 "training patients in the control set, so the replica is refused without them.</p>")
        return page(*_TITLE, body)
    sizes = risk["sizes"]
    anonymeter = [[escape(label), fmt(r["risk"], 4), fmt(r["ci"], 3), fmt(r["attack_rate"], 3),
                   fmt(r["control_rate"], 3), fmt(r["baseline_rate"], 3), fmt(r["n_attacks"]),
                   escape("; ".join(r["warnings"])) or "–"] for label, r in _anonymeter_rows(risk)]
    d, u = risk["distances"], risk["uniqueness"]
    body += (
        "<h2>What was measured</h2>"
        f"<p>Training patients (seen by the generator): {sizes['full']['train']:,}; replica: "
        f"{sizes['full']['synthetic']:,}; control patients (never seen): {sizes['full']['control']:,}. "
        f"Each measure below uses a subsample of {sizes['used']['train']:,} records per set (equal sizes, so "
        "training and control are compared on equal terms), drawn under a secret seed. Attacks use the patient table and features of the "
        "claims (number of stays, days to the first stay, chemotherapy sessions, first stay's diagnosis).</p>"
        "<h2>1. Anonymeter attacks</h2>"
        "<div class='explain'>Three attacks named by the European data protection board's anonymisation criteria. "
        "<b>Singling out</b>: build predicates from the replica that isolate exactly one real patient. "
        "<b>Linkability</b>: knowing a patient's registry facts (sex, age, département, diagnosis date) and hospital "
        "facts separately, link them through the replica. <b>Inference</b>: guess a patient's stage, death or "
        "subtype from all their other variables. Each attack is run against training patients and against control "
        "patients; the <b>risk</b> is the excess success on training patients, so what a replica reveals about the "
        "population at large (which is its purpose) is not counted as a leak.</div>"
        + img(_risk_plot(risk, policy), "Anonymeter risks")
        + table(["attack", "risk", "95% CI", "success on training", "on control", "random baseline", "attacks",
                 "Anonymeter warnings"], anonymeter)
        + "<h2>2. Distances to the closest real record</h2>"
        "<div class='explain'>For each synthetic record, the distance to the closest training patient and to the "
        "closest control patient (numbers scaled by their range, categories 0 if equal else 1). A generator that "
        "does not memorise puts about half its records closer to each; copies sit at distance 0.</div>"
        + img(_dcr_plot(arrays), "distance to closest record")
        + table(["measure", "training", "control"], [
            ["median distance to closest record", fmt(d["dcr_median"]["train"]), fmt(d["dcr_median"]["control"])],
            ["5th percentile", fmt(d["dcr_5th_percentile"]["train"]), fmt(d["dcr_5th_percentile"]["control"])],
            ["median nearest-neighbour distance ratio", fmt(d["nndr_median"]["train"]),
             fmt(d["nndr_median"]["control"])]])
        + f"<p>Share of synthetic records closer to a training than to a control patient: "
          f"<b>{fmt(d['dcr_share_closer_to_train'])}</b>.</p>"
        + "<h2>3. Uniqueness on quasi-identifiers</h2>"
        "<div class='explain'>A patient unique on sex, age, département and diagnosis date could be recognised by "
        "someone who knows these facts; if the replica holds a record with the same combination it seems to "
        "confirm that person. Chance alone produces some matches, measured on the control patients.</div>"
        + table(["", "training", "control"], [
            ["unique patients", fmt(u["replicated_uniques"]["train"]["real_uniques"]),
             fmt(u["replicated_uniques"]["control"]["real_uniques"])],
            ["reproduced in the replica", fmt(u["replicated_uniques"]["train"]["replicated"]),
             fmt(u["replicated_uniques"]["control"]["replicated"])],
            ["share", fmt(u["replicated_uniques"]["train"]["share"], 4),
             fmt(u["replicated_uniques"]["control"]["share"], 4)]])
        + f"<p>k-anonymity of the replica on {escape(', '.join(u['k_anonymity']['quasi_identifiers']))}: smallest "
          f"group {u['k_anonymity']['min_k']}, share of records in groups under 5: "
          f"{fmt(u['k_anonymity']['share_of_records_with_k_below_5'])} (synthetic records are not people; "
          "reported for reviewers used to the measure).</p>")
    return page(*_TITLE, body)


def write_risk_report(risk: dict, checks: list[dict], policy: dict, out_dir: str | Path, *,
                      before: dict | None = None) -> dict:
    """Write risk.json and risk.html; return the JSON document."""
    out = ensure_output_dir(out_dir)
    arrays = risk.get("_arrays")
    risk = {**{k: v for k, v in risk.items() if k != "_arrays"},
            "screen": {k: v for k, v in risk["screen"].items() if k != "_copied"}}  # masks stay in memory
    document = {**risk, "policy": policy, "checks": checks,
                "verdict": "pass" if all(c["passed"] for c in checks) else "fail"}
    if before is not None:
        document["before_remediation"] = before
    write_text(json.dumps(document, indent=2, sort_keys=True, default=float) + "\n", out / "risk.json")
    write_text(render(risk, checks, policy, arrays, before=before), out / "risk.html")
    return document
