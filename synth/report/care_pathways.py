"""Care pathways real vs synthetic: the order of each patient's first treatments, and the time to each.

A patient's pathway is read from the claims (:mod:`synth.care_rules`): the date of the first
surgical stay, first chemotherapy session, first radiotherapy session and first hormone-therapy
dispensing, in the order they happen ("surgery → chemotherapy → radiotherapy → hormone therapy");
a patient with none of them has "no treatment claim". Same-day steps keep the order of
:data:`STEPS`. Per cancer type, on the paired sample (at most as many synthetic patients as real):

- the share of patients following each pathway. The pathways held by at least
  ``pathway_min_share`` of the real patients are checked one by one, the rest pooled; a share
  passes within ``max(pathway_share_abs, z · SE)`` (independent shares; z is ``share_sampling_z``
  or more for many pathways, :func:`synth.report.treatments.family_z`);
  cancer types with fewer than ``pathway_min_real_patients`` real patients are shown, not checked;
- per step, the share of patients who reach it and the days from diagnosis to it (quartiles).

What is written passes the small-cell rule: a pathway is named only if at least ``min_cell`` real
patients follow it (the others are merged into "(other)", which itself holds none or at least
``min_cell``), real shares rounded, quartiles with ``min_cell`` real patients on either side.
The Sankey-style figure (:func:`synth.report.plots.pathways`) is drawn from that alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privacy.disclosure import OTHER, DisclosureRule, named_categories, safe_quantiles
from synth.report.claims import claim_kinds
from synth.report.treatments import family_z, share_allowance
from synth.schema import PATIENT_ID

STEPS = (("surgery", "stays", "surgery"), ("chemotherapy", "stays", "chemotherapy_session"),
         ("radiotherapy", "stays", "radiotherapy_session"), ("hormone therapy", "dispensings", "hormone_therapy"))
"""(step, claims table, care kind of :mod:`synth.care_rules`), in the order used for same-day steps."""
ARROW = " → "
NONE = "no treatment claim"
TOP_PATHWAYS = 8
QUARTILES = (0.25, 0.5, 0.75)


def first_days(side: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per patient (the patients table's order), days from diagnosis to the first claim of each step (NaN: none)."""
    patients = side["patients"]
    diagnosis = patients.set_index(PATIENT_ID)["diagnosis_date"]
    out = pd.DataFrame(index=patients[PATIENT_ID])
    for step, table, kind in STEPS:
        claims = side[table]
        date = "admission_date" if table == "stays" else "dispensing_date"
        rows = claim_kinds(table, claims).eq(kind).to_numpy()
        first = claims.loc[rows].groupby(PATIENT_ID)[date].min()
        first = first[first.index.isin(out.index)].astype("datetime64[ns]")
        days = (first - diagnosis.reindex(first.index)).dt.days
        out[step] = days.reindex(out.index).astype("float64")
    return out


def pathway_labels(days: pd.DataFrame) -> pd.Series:
    """Each patient's steps in the order they happen, joined by arrows."""
    values = days[[s for s, _, _ in STEPS]].to_numpy("float64")
    order = np.argsort(np.where(np.isnan(values), np.inf, values), axis=1, kind="stable")
    present = ~np.isnan(values)
    names = np.array([s for s, _, _ in STEPS], dtype=object)
    labels = []
    for row_order, row_present in zip(order, present):
        steps = [names[i] for i in row_order if row_present[i]]
        labels.append(ARROW.join(steps) if steps else NONE)
    return pd.Series(labels, index=days.index, dtype="object")


def _cancer(cancer: str, r: dict, s: dict, t: dict, rule: DisclosureRule) -> tuple[dict, dict]:
    r_days, s_days = first_days(r), first_days(s)
    r_lab, s_lab = pathway_labels(r_days).reset_index(drop=True), pathway_labels(s_days).reset_index(drop=True)
    n_r, n_s = len(r_lab), len(s_lab)
    r_share = r_lab.value_counts(normalize=True)
    s_share = s_lab.value_counts(normalize=True)
    checked = sorted(v for v in r_share.index if r_share[v] >= t["pathway_min_share"])
    rows, worst = [], 0.0
    rest = [OTHER] if (~r_lab.isin(checked)).any() or (~s_lab.isin(checked)).any() else []
    z = family_z(t["share_sampling_z"], len(checked) + len(rest), t["family_tail"])
    for value in checked + rest:
        pr = float((~r_lab.isin(checked)).mean()) if value == OTHER else float(r_share.get(value, 0.0))
        ps = (float((~s_lab.isin(checked)).mean()) if value == OTHER else float(s_share.get(value, 0.0))) \
            if n_s else None
        allowance = share_allowance(pr, n_r, ps or 0.0, n_s, t["pathway_share_abs"], z)
        ratio = None if ps is None else abs(pr - ps) / allowance
        rows.append({"pathway": value, "share_real": pr, "share_synthetic": ps, "allowance": allowance,
                     "ratio": ratio})
        worst = np.inf if ratio is None else max(worst, ratio)
    times = []
    for step, _, _ in STEPS:
        rv, sv = r_days[step].dropna().to_numpy(), s_days[step].dropna().to_numpy()
        times.append({"step": step, "patients_real": len(rv), "patients_synthetic": len(sv),
                      "median_real": float(np.median(rv)) if len(rv) else None,
                      "median_synthetic": float(np.median(sv)) if len(sv) else None})
    measured = {"cancer": cancer, "n_real": n_r, "n_synthetic": n_s, "pathways": rows,
                "worst_ratio": None if np.isinf(worst) else float(worst),
                "checked": n_r >= t["pathway_min_real_patients"], "times": times}

    named = named_categories(r_lab, rule, top=TOP_PATHWAYS)
    shown_rows = None
    if named is not None:
        named = sorted(named, key=lambda v: (-r_share[v], v))
        shown_rows = [{"pathway": v, "share_real": rule.round_share(float(r_share[v]), n_r),
                       "share_synthetic": float(s_share.get(v, 0.0))} for v in named]
        rest_r = float((~r_lab.isin(named)).mean())
        rest_s = float((~s_lab.isin(named)).mean()) if n_s else 0.0
        if rest_r or rest_s:
            shown_rows.append({"pathway": OTHER, "share_real": rule.round_share(rest_r, n_r),
                               "share_synthetic": rest_s})
    shown_times = []
    for step, _, _ in STEPS:
        rv, sv = r_days[step].to_numpy("float64"), s_days[step].dropna().to_numpy()
        reached = int(np.isfinite(rv).sum())
        q_real = safe_quantiles(rv, QUARTILES, rule)
        shown_times.append({
            "step": step, "patients_real": rule.count(reached), "patients_synthetic": len(sv),
            "share_real": rule.share(reached, n_r) if n_r else None,
            "share_synthetic": len(sv) / n_s if n_s else None,
            "quartiles_real": [q for q in q_real],
            "quartiles_synthetic": [float(v) for v in np.quantile(sv, QUARTILES)] if len(sv) else [None] * 3})
    shown = {"cancer": cancer, "n_real": rule.count(n_r), "n_synthetic": n_s, "pathways": shown_rows,
             "checked": measured["checked"], "times": shown_times}
    return measured, shown


def _restrict(side: dict[str, pd.DataFrame], patients: pd.DataFrame) -> dict[str, pd.DataFrame]:
    keep = set(patients[PATIENT_ID])
    out = {"patients": patients.reset_index(drop=True)}
    for table in ("stays", "dispensings"):
        frame = side[table]
        out[table] = frame[frame[PATIENT_ID].isin(keep).to_numpy()]
    return out


def pathways_section(real: dict[str, pd.DataFrame], synthetic: dict[str, pd.DataFrame], *, thresholds: dict,
                     rule: DisclosureRule) -> tuple[list[dict], list[dict]]:
    """(measured, shown) per cancer type of the real data, from the paired sample."""
    measured, shown = [], []
    rp, sp = real["patients"], synthetic["patients"]
    for cancer in sorted(rp["cancer_type"].dropna().unique()):
        r = _restrict(real, rp[rp["cancer_type"] == cancer])
        s = _restrict(synthetic, sp[sp["cancer_type"] == cancer])
        m, w = _cancer(str(cancer), r, s, thresholds, rule)
        measured.append(m)
        shown.append(w)
    return measured, shown
