"""The risk report: ``risk.json`` (every figure) and ``risk.html`` (readable, with plots)."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import numpy as np

from harmonie.io import ensure_output_dir, write_text
from harmonie.report_html import family, fmt, img, link_family, page, passed, png, table

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


_STATUS_STYLE = (".amber{color:#8a5a00;font-weight:600}.warn{background:#fff8e6;border-color:#b7791f}"
                 ".degenerate{color:#6e5494;font-style:italic}")


def _status(check: dict) -> str:
    if check["status"] == "amber":
        decided = "refuses: the policy decides on the CI" if not check["passed"] else "passes on the estimate"
        return f'<span class="amber">amber</span> ({decided})'
    return passed(check["passed"])


def _decided_on(check: dict) -> str:
    return {"upper_ci": "upper end of the 95% CI", "lower_ci": "lower end of the 95% CI",
            "estimate": "estimate", "value": "value"}[check["decided_on"]]


def _verdict_box(checks: list[dict], title: str) -> str:
    failed = [c for c in checks if not c["passed"]]
    amber = [c for c in checks if c["status"] == "amber"]
    ok = not failed
    headline = (f"{title}: all {len(checks)} checks pass" if ok else
                f"{title}: {len(failed)} of {len(checks)} checks fail ({', '.join(c['name'] for c in failed)})")
    rows = [[escape(c["what"]) + (f'<br><span class="degenerate">degenerate: {escape(c["degenerate"])}</span>'
                                  if c.get("degenerate") else ""),
             f"<code>{escape(c['name'])}</code>", fmt(c["value"], 4), fmt(c.get("ci"), 4),
             f"{escape(c['rule'])} {fmt(c['threshold'], 4)}", _decided_on(c), _status(c)] for c in checks]
    note = ""
    if amber:
        names = escape(", ".join(c["name"] for c in amber))
        note = ("<p><span class='amber'>Amber</span>: passes on the estimate, but the 95% confidence interval crosses "
                f"the limit, so the data cannot show the risk is below it ({names}). More control patients narrow the "
                "interval; see section 6.</p>")
    return (f'<div class="verdict {"ok" if ok and not amber else "warn" if ok else "bad"}"><h2>{escape(headline)}</h2>'
            + table(["check", "name", "value", "95% CI", "limit", "decided on", "result"], rows) + note + "</div>")


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
        "<h2 id='screen'>0. Real people in the replica (every row, not a sample)</h2>"
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


def _uniqueness_section(u: dict) -> str:
    levels = u["levels"]

    def label(level: dict) -> str:
        flag = (f'<br><span class="degenerate">degenerate: {escape(level["degenerate"])}</span>'
                if level["degenerate"] else "")
        return escape(", ".join(level["quasi_identifiers"])) + flag

    replicated = [[label(r), *(cell for side in ("train", "control") for cell in (
                      fmt(r[side]["real_uniques"]), fmt(r[side]["replicated"]), fmt(r[side]["share"], 4))),
                   fmt(r["excess_share"], 4), fmt(r["ci"], 4),
                   "decides" if name == u["replicated_uniques"]["level"] else "reported"]
                  for name, r in levels["replicated_uniques"].items()]
    k_rows = [[label(k), fmt(k["min_k"]), fmt(k["share_of_records_with_k_below_5"], 4),
               "decides" if name == u["k_anonymity"]["level"] else "reported"]
              for name, k in levels["k_anonymity"].items()]
    return ("<h2 id='uniqueness'>3. Uniqueness on quasi-identifiers</h2>"
            "<div class='explain'>A patient unique on sex, age, département and diagnosis date could be recognised by "
            "someone who knows these facts; if the replica holds a record with the same combination it seems to "
            "confirm that person. Chance alone produces some matches, measured on the control patients. On exact "
            "dates every patient is unique, so the count only asks whether a real date is reproduced to the day (the "
            "copy screen's job) and reads 0 for any generator: such a <span class='degenerate'>degenerate</span> "
            "level is reported but does not decide; the finest level where it is not degenerate does.</div>"
            + table(["known columns", "training uniques", "reproduced", "share", "control uniques", "reproduced",
                     "share", "excess", "95% CI", ""], replicated)
            + "<p>k-anonymity of the replica (synthetic records are not people; reported for reviewers used to the "
              "measure):</p>" + table(["columns", "smallest group", "share of records in groups under 5", ""], k_rows))


def _roc_plot(membership: dict) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 4.4))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="chance (AUC 0.5)")
    for attack, colour in zip(_MEMBERSHIP_LABELS, (TRAIN, "#6e5494", CONTROL)):
        r = membership[attack]
        ax.plot(r["roc"]["fpr"], r["roc"]["tpr"], color=colour, lw=1.8,
                label=f"{_MEMBERSHIP_LABELS[attack]} (AUC {r['auc']:.3f})")
    ax.set_xlabel("non-members flagged (false-positive rate)")
    ax.set_ylabel("members flagged (true-positive rate)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return png(fig)


_MEMBERSHIP_LABELS = {"cell_frequency": "cell frequency", "density_ratio": "density ratio (DOMIAS)",
                      "nearest_neighbour": "distance to closest record"}


def _membership_section(membership: dict, policy: dict) -> str:
    t = membership["targets"]
    rows = [[escape(label), fmt(membership[a]["auc"], 4), fmt(membership[a]["ci"], 4),
             fmt(membership[a]["tpr_at_fpr_0.01"], 4), f"≤ {fmt(policy['membership'][f'{a}_auc'], 3)}"]
            for a, label in _MEMBERSHIP_LABELS.items()]
    cell = membership["cell_frequency"]
    limit = policy["membership"]["cell_frequency_auc"]
    by_cancer = [[escape(cancer), fmt(r["members"]), fmt(r["non_members"]), fmt(r["auc"], 4), fmt(r["ci"], 4),
                  "CI reaches above the limit" if r["ci"] is not None and r["ci"][1] > limit else ""]
                 for cancer, r in cell["by_cancer"].items()]
    present = cell["share_with_a_replica_record_in_their_cell"]
    sampled = (" (a sample of each side, stratified by cancer type, drawn under the secret seed)"
               if t["sampled"] else "")
    return ("<h2 id='membership'>4. Membership inference on the full sets</h2>"
            "<div class='explain'>Can someone holding the replica tell the generator's training patients (members) "
            "from other patients of the same population (non-members, the control set)? Each attack scores every "
            f"target: {t['members']:,} members of {t['training_patients']:,} training patients and "
            f"{t['non_members']:,} non-members of {t['control_patients']:,} control patients{sampled}. The ROC AUC is "
            "the chance that a random member scores above a random non-member (0.5: no better than a coin), with "
            "DeLong's 95% interval. <b>Cell frequency</b> is the attack this design invites: the generator fits one "
            "model per cancer, subtype and stage, and each can echo its training patients' départements; the "
            "attacker compares the replica's count in the patient's cell "
            f"({escape(', '.join(cell['quasi_identifiers']))}) with the count the population's shares predict. "
            "<b>Density ratio</b> (DOMIAS) compares the replica's density at the patient with a reference "
            "population's; <b>distance to closest record</b> flags patients the replica sits close to.</div>"
            + img(_roc_plot(membership), "membership ROC curves")
            + table(["attack", "AUC", "95% CI", "members flagged at 1% of non-members flagged", "limit"], rows)
            + f"<p>Members with at least one replica record in their cell: {fmt(present['members'], 3)}; "
              f"non-members: {fmt(present['non_members'], 3)}. Cell-frequency AUC by cancer (the limit applies to "
              "all patients together; a cancer whose interval reaches above it is named):</p>"
            + table(["cancer", "members", "non-members", "AUC", "95% CI", ""], by_cancer))


def _attacker_models(risk: dict) -> list[tuple[str, dict]]:
    models = [(label, r["attacker_model"]) for label, r in _anonymeter_rows(risk)]
    models.append(("distances to the closest record", risk["distances"]["attacker_model"]))
    u = risk["uniqueness"]
    models.append(("replicated uniques", u["replicated_uniques"]["attacker_model"]))
    models.append(("k-anonymity", u["k_anonymity"]["attacker_model"]))
    models += [(f"membership: {label}", risk["membership"][a]["attacker_model"])
               for a, label in _MEMBERSHIP_LABELS.items()]
    return models


def _known(knows) -> str:
    if isinstance(knows, dict):
        return "; ".join(f"{escape(k)}: {escape(', '.join(v))}" for k, v in knows.items())
    return escape(knows if isinstance(knows, str) else ", ".join(knows))


def _attacker_models_section(risk: dict) -> str:
    rows = [[escape(label), escape(m["holds"]), _known(m["knows"]), escape(m["secret"]), escape(m["success"]),
             escape(m["reference"]), escape(m["targets"])] for label, m in _attacker_models(risk)]
    return ("<h2 id='attackers'>5. The attacker each measure assumes</h2>"
            "<div class='explain'>A risk is low only against a stated attacker (Anonymeter's authors ask that each "
            "figure be published with its attacker model): what they hold, what they know of the target, what they "
            "try to learn, and what their success is compared with. risk.json carries the same under "
            "<code>attacker_model</code> for each measure.</div>"
            + table(["measure", "holds", "knows of the target", "tries to learn", "success", "compared with",
                     "targets"], rows))


def control_patients_needed(check: dict, control_patients: int) -> int | None:
    """About how many control patients an amber check needs for its CI to clear the limit at the same estimate.

    Every interval here narrows about as one over the square root of the control size (the
    short side of each comparison; the training side grows with it), so the half-width
    scales by ``sqrt(n / n_needed)``. None when the estimate itself is at the limit or beyond.
    """
    if check["status"] != "amber":
        return None
    estimate, limit = float(check["value"]), float(check["threshold"])
    half_width = abs((check["ci"][1] if check["rule"] == "≤" else check["ci"][0]) - estimate)
    margin = abs(limit - estimate)
    return int(np.ceil(control_patients * (half_width / margin) ** 2)) if margin > 0 else None


def _precision_section(risk: dict, checks: list[dict]) -> str:
    amber = [c for c in checks if c["status"] == "amber"]
    control = risk["sizes"]["targets"]["control"]
    text = ("<h2 id='precision'>6. How precise the figures are</h2><p>The confidence intervals are set by the number of control "
            f"patients ({control:,}): every train-versus-control comparison is only as precise as its control side. "
            "Anonymeter's risks divide by the attack's failure rate on control patients, so an attack that usually "
            "succeeds by chance (death or subtype inferred from the other columns) has a wide interval even with "
            "every patient attacked.</p>")
    if amber:
        rows = [[f"<code>{escape(c['name'])}</code>", fmt(c["value"], 4), fmt(c["ci"], 4),
                 f"{escape(c['rule'])} {fmt(c['threshold'], 4)}", fmt(control_patients_needed(c, control))]
                for c in amber]
        text += ("<p>Checks whose interval crosses the limit, and about how many control patients would narrow it "
                 "inside the limit if the estimate stayed where it is (intervals narrow as one over the square root "
                 "of the control size):</p>"
                 + table(["check", "estimate", "95% CI", "limit", "control patients needed"], rows))
    return text


def render(risk: dict, checks: list[dict], policy: dict, arrays: dict | None, *, before: dict | None = None,
           here: str | Path | None = None) -> str:
    """The page; ``here``: the path it is written to, to link the sibling utility report if it exists."""
    siblings = {"here": here, "pages": family(here) if here is not None else ()}
    body = f"<style>{_STATUS_STYLE}</style>" + _verdict_box(checks, "Release policy")
    if before is not None:
        body += ("<h2 id='remediation'>Remediation</h2><p>Before remediation the replica failed: "
                 + escape(", ".join(c["name"] for c in before["checks"] if not c["passed"]) or "nothing")
                 + f". Remediation: {escape(before['remediation'])}. The figures below are measured again on "
                 "the remediated replica.</p>")
    body += _screen_section(risk["screen"])
    if not risk.get("measured"):
        body += ("<h2 id='not-measured'>Sampled measures: not run</h2><p>The screen above found real patients in the replica or "
                 "training patients in the control set, so the replica is refused without them.</p>")
        return page(*_TITLE, body, **siblings)
    sizes = risk["sizes"]
    anonymeter = [[escape(label), fmt(r["risk"], 4), fmt(r["ci"], 3), fmt(r["attack_rate"], 3),
                   fmt(r["control_rate"], 3), fmt(r["baseline_rate"], 3),
                   f"{fmt(r['n_attacks']['training'])} / {fmt(r['n_attacks']['control'])}",
                   escape("; ".join(r["warnings"])) or "–"] for label, r in _anonymeter_rows(risk)]
    d, u = risk["distances"], risk["uniqueness"]
    replica_searched = (f"the whole replica ({sizes['used']['synthetic']:,} records)"
                        if sizes["used"]["synthetic"] == sizes["full"]["synthetic"]
                        else f"a sample of {sizes['used']['synthetic']:,} replica records")
    body += (
        "<h2 id='measured'>What was measured</h2>"
        f"<p>Training patients (seen by the generator): {sizes['full']['train']:,}; replica: "
        f"{sizes['full']['synthetic']:,}; control patients (never seen): {sizes['full']['control']:,}. "
        f"Every attack searches {replica_searched}. Linkability and inference attack "
        f"{sizes['targets']['train']:,} training and {sizes['targets']['control']:,} control patients (every one, up "
        "to the policy's attack_targets a side): a target's success depends on the target and the replica only. "
        "Singling out, distances and uniqueness depend on how many patients a set holds, so they compare "
        f"{sizes['used']['train']:,} training with as many control patients. Samples are drawn under a secret seed. "
        "Attacks use the patient table and features of the "
        "claims (number of stays, days to the first stay, chemotherapy sessions, first stay's diagnosis).</p>"
        "<h2 id='anonymeter'>1. Anonymeter attacks</h2>"
        "<div class='explain'>Three attacks named by the European data protection board's anonymisation criteria. "
        "<b>Singling out</b>: build predicates from the replica that isolate exactly one real patient. "
        "<b>Linkability</b>: knowing a patient's registry facts (sex, age, département, diagnosis date) and hospital "
        "facts separately, link them through the replica. <b>Inference</b>: guess a patient's stage, death or "
        "subtype from all their other variables. Each attack is run against training patients and against control "
        "patients; the <b>risk</b> is the excess success on training patients, so what a replica reveals about the "
        "population at large (which is its purpose) is not counted as a leak.</div>"
        + img(_risk_plot(risk, policy), "Anonymeter risks")
        + table(["attack", "risk", "95% CI", "success on training", "on control", "random baseline",
                 "attacks (training / control)", "Anonymeter warnings"], anonymeter)
        + "<h2 id='distances'>2. Distances to the closest real record</h2>"
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
          f"<b>{fmt(d['dcr_share_closer_to_train'])}</b> (95% CI {fmt(d['dcr_share_closer_to_train_ci'])}).</p>"
        + _uniqueness_section(u)
        + _membership_section(risk["membership"], policy)
        + _attacker_models_section(risk)
        + _precision_section(risk, checks))
    return page(*_TITLE, body, **siblings)


def degenerate_measures(risk: dict) -> list[dict]:
    """Every uniqueness level flagged degenerate, with why, and whether it decided (only if every level is)."""
    u = risk["uniqueness"]
    return [{"measure": measure, "level": name, "quasi_identifiers": level["quasi_identifiers"],
             "why": level["degenerate"], "decides": name == u[measure]["level"]}
            for measure, levels in u["levels"].items() for name, level in levels.items() if level["degenerate"]]


def _disclosed_uniqueness(section, rule):
    """Counts of real patients in the uniqueness figures (unique patients, those reproduced) as they may
    leave the secure area: counts of 1 to min_cell - 1 suppressed, shares rounded so they cannot be
    turned back into such a count. The checks were decided on the full figures."""
    if isinstance(section, list):
        return [_disclosed_uniqueness(item, rule) for item in section]
    if not isinstance(section, dict):
        return section
    out = {key: _disclosed_uniqueness(value, rule) for key, value in section.items()}
    if "real_uniques" in out and "replicated" in out:
        uniques, replicated = section["real_uniques"], section["replicated"]
        out["share"] = rule.share(replicated, uniques) if isinstance(uniques, int) else None
        out["real_uniques"], out["replicated"] = rule.count(uniques), rule.count(replicated)
    if isinstance(out.get("excess_share"), float) and isinstance(section.get("train"), dict):
        out["excess_share"] = rule.round_share(out["excess_share"], section["train"].get("patients") or 0)
    return out


def write_risk_report(risk: dict, checks: list[dict], policy: dict, out_dir: str | Path, *,
                      before: dict | None = None) -> dict:
    """Write risk.json and risk.html; return the JSON document. Figures about real patients obey the
    policy's small-cell rule (``[disclosure] min_cell``) in what is written."""
    from privacy.disclosure import DisclosureRule

    out = ensure_output_dir(out_dir)
    arrays = risk.get("_arrays")
    risk = {**{k: v for k, v in risk.items() if k != "_arrays"},
            "screen": {k: v for k, v in risk["screen"].items() if k != "_copied"}}  # masks stay in memory
    if "uniqueness" in risk:
        risk["uniqueness"] = _disclosed_uniqueness(risk["uniqueness"], DisclosureRule(policy["disclosure"]["min_cell"]))
    document = {**risk, "policy": policy, "checks": checks,
                "verdict": "pass" if all(c["passed"] for c in checks) else "fail",
                "amber_checks": [c["name"] for c in checks if c["status"] == "amber"]}
    if risk.get("measured"):
        document["degenerate_measures"] = degenerate_measures(risk)
        document["control_patients_needed"] = {
            c["name"]: control_patients_needed(c, risk["sizes"]["targets"]["control"])
            for c in checks if c["status"] == "amber"}
    if before is not None:
        document["before_remediation"] = before
    write_text(json.dumps(document, indent=2, sort_keys=True, default=float) + "\n", out / "risk.json")
    write_text(render(risk, checks, policy, arrays, before=before, here=out / "risk.html"), out / "risk.html")
    link_family(out / "risk.html")  # a utility report written beside it first links back to it
    return document
