"""The emulated target trial's protocol, written out from the spec (the table a regulator asks for first).

Hernán & Robins' target-trial framework asks every observational comparison to state the
trial it emulates: eligibility, treatment strategies, assignment, time zero, follow-up,
outcome, causal contrast and analysis plan. :func:`protocol` says each in words from the
:class:`synth.arms.eligibility.ArmSpec` alone (so the protocol is fixed before any outcome is
seen, and two runs of one spec write the same text); :func:`protocol_markdown` writes it as the
``protocol.md`` of the report.
"""

from __future__ import annotations

from synth.arms.eligibility import ArmSpec
from synth.care_rules import KINDS


def _kinds(kinds) -> str:
    return ", ".join(f"{KINDS[k].what} ({k})" for k in kinds)


def _eligibility(spec: ArmSpec) -> list[str]:
    e = spec.eligibility
    lines = [f"{e.cancer} cancer" + (f", subtype {' or '.join(e.subtypes)}" if e.subtypes else ", any subtype"),
             f"stage {', '.join(map(str, e.stages))} at diagnosis",
             f"aged {e.age_min} to {e.age_max} at diagnosis"]
    if e.sexes:
        lines.append(f"sex {' or '.join(e.sexes)}")
    if e.diagnosis_years:
        lines.append(f"diagnosed in {e.diagnosis_years[0]}-{e.diagnosis_years[1]}")
    lines += [f"treated by {f.replace('_', ' ')} (cohort record)" for f in e.treatments_required]
    lines += [f"not treated by {f.replace('_', ' ')} (cohort record)" for f in e.treatments_excluded]
    if e.care_required:
        lines.append(f"in the claims, on or before the index date: {_kinds(e.care_required)}")
    if e.care_excluded:
        lines.append(f"in the claims, none of {_kinds(e.care_excluded)} in the {e.washout_days} days before the "
                     "index date (washout)")
    lines.append("alive and followed at the index date")
    return lines


def _time_zero(spec: ArmSpec) -> str:
    rule = spec.index
    if rule.date == "diagnosis":
        return "the date of diagnosis"
    return (f"the first claim of {_kinds(rule.care)} on or after the diagnosis, within {rule.within_days} days of it "
            "(the same rule in both arms: eligibility is met and follow-up starts on the same day, so no immortal time)")


def _analysis(spec: ArmSpec) -> list[str]:
    a = spec.analysis
    covariates = ", ".join(a.covariates)
    if a.method == "none":
        balance = "no balancing (unadjusted comparison)"
    elif a.method == "match":
        balance = (f"1:{a.neighbours} nearest-neighbour matching without replacement on the logit of the propensity "
                   f"score, caliper {a.caliper_sd:g} standard deviations of that logit; trial patients without a match "
                   "leave the analysis and are counted")
    else:
        balance = ("ATT weights (trial 1, control e/(1-e))" if a.weights == "att"
                   else "overlap weights (trial 1-e, control e)")
    lines = [f"propensity score: logistic regression of being in the trial on {covariates}" if a.method != "none"
             else "propensity score: none",
             f"balancing: {balance}",
             f"balance diagnostic: standardised mean difference of every covariate level before and after, target "
             f"|SMD| <= {a.target_smd:g}",
             "hazard ratio: Cox model of death from the index date at the balancing weights, robust (sandwich) "
             "variance" + (", clustered on matched sets" if a.method == "match" else "")
             + (f", adjusted for {covariates}" + (" and stratified by stage" if "stage" in a.covariates else "")
                if a.adjust else ""),
             f"restricted mean survival time up to {a.horizon_days} days per arm (weighted Kaplan–Meier) and its "
             "difference, percentile bootstrap 95% interval",
             "sensitivity: the unadjusted comparison is reported beside the balanced one"]
    return lines


def target_trial_protocol(spec: ArmSpec) -> dict:
    """The protocol, one entry per component of a target trial."""
    a = spec.analysis
    estimand = ("the hazard ratio of death, trial treatment vs standard of care, conditional on "
                + ", ".join(a.covariates) + ", in the trial population" if a.adjust else
                "the marginal hazard ratio of death, trial treatment vs standard of care, in the "
                + ("trial population (ATT)" if a.method != "weight" or a.weights == "att" else "overlap population"))
    return {
        "name": spec.name,
        "eligibility": _eligibility(spec),
        "treatment_strategies": ["trial arm: the trial's treatment, as given in the single-arm trial",
                                 "control arm: standard of care as given in routine practice (linked cohort and SNDS "
                                 "claims of the warehouse, or a replica of it)"],
        "assignment": ("not randomised: the external controls are made comparable to the trial patients on the declared "
                       "covariates by the propensity score; confounding by anything not declared is not removed"),
        "time_zero": _time_zero(spec),
        "follow_up": "from the index date to death or the end of follow-up (death date, else last news or last claim)",
        "outcome": "death from any cause (cohort, else SNDS/CépiDC death date)",
        "causal_contrast": estimand,
        "analysis": _analysis(spec),
        "disclosure": f"nothing written shows fewer than {spec.min_cell} patients",
    }


def protocol_markdown(document: dict) -> str:
    """The protocol as Markdown (``protocol.md``)."""
    def cell(value) -> str:
        if isinstance(value, list):
            return "<br>".join(f"- {v}" for v in value)
        return str(value)

    rows = [("Eligibility", document["eligibility"]), ("Treatment strategies", document["treatment_strategies"]),
            ("Assignment", document["assignment"]), ("Time zero (index date)", document["time_zero"]),
            ("Follow-up", document["follow_up"]), ("Outcome", document["outcome"]),
            ("Causal contrast (estimand)", document["causal_contrast"]), ("Analysis plan", document["analysis"]),
            ("Disclosure", document["disclosure"])]
    lines = [f"# Emulated target trial: {document['name']}", "",
             "Written by `harmonie arm build` from the eligibility spec, before any outcome is compared.", "",
             "| component | protocol |", "|---|---|"]
    lines += [f"| {name} | {cell(value)} |" for name, value in rows]
    return "\n".join(lines) + "\n"
