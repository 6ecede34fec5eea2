"""Claims real vs synthetic: day cases, length of stay, time to chemotherapy, kinds of care, coherence.

What each hospital stay and drug dispensing *is* comes from :mod:`synth.care_rules` (kinds
read from the GHM, the main diagnosis and the ATC code). Measured on the paired sample of
:func:`synth.report.inputs.paired_sample` (at most as many synthetic patients as real, so that
every allowance for sampling noise depends on the real data's size only):

- **day cases**: the share of stays with discharge on the admission day. Stays of one
  patient go together (a chemotherapy patient has a dozen day sessions), so the standard
  error is the ratio estimator's, patients as clusters; the allowance is
  ``max(day_case_share_abs, share_sampling_z · SE)`` of the difference;
- **length of stay**: the Kolmogorov–Smirnov distance between the two distributions of
  nights, allowed ``max(claims_ks, ks_sampling_allowance · sqrt((n + m) / (n m)))`` with n, m
  the *patients* holding stays (the effective sample size of clustered rows is at least the
  number of clusters, so this errs on the generous side, as a real-vs-real noise should);
- **time to chemotherapy**: days from diagnosis to the first chemotherapy session, per
  patient who has one: KS as above, and the medians (allowed ``max(chemotherapy_median_days,
  share_sampling_z · SE)``, SE of the difference of medians by a seeded bootstrap);
- **kinds of care**: the share of stays of each kind, and of dispensings of each ATC class
  (first four characters: L02B hormone therapy, L01E kinase inhibitors...), each allowed like
  the day cases (z raised for many classes: :func:`synth.report.treatments.family_z`); classes
  under ``class_min_share`` of the real rows are pooled as "other";
- **coherence** (on all rows, not the sample: these are counts, not intervals): per rule of
  :func:`synth.care_rules.incoherent_claims` (a chemotherapy session for a patient without
  chemotherapy or targeted therapy...) and per plausibility rule of :data:`PLAUSIBILITY`
  (a dispensing before diagnosis, a claim outside the follow-up window, a death on the day of
  diagnosis), the synthetic rate may exceed the real one by its sampling noise only, and not
  at all where the real data have none; a day session lasting a night is never allowed.

What is written (``shown``) passes the small-cell rule: counts of real patients or rows below
``min_cell`` are suppressed, real shares rounded, quantiles with ``min_cell`` real patients on
each side, a kind or class named only when ``min_cell`` real patients hold it.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from privacy.disclosure import OTHER, DisclosureRule, named_categories, safe_quantiles
from synth import care_rules
from synth.report.treatments import family_z
from synth.schema import PATIENT_ID, WORKUP_DAYS

QUANTILES = (0.25, 0.5, 0.75, 0.9)
BOOTSTRAP = 200
TOP_CLASSES = 12
DAY_SESSION_RULE = "day_session_nights"
PLAUSIBILITY = {
    "dispensing_before_diagnosis": "drug dispensing dated before the diagnosis",
    "claim_outside_window": f"claim before the work-up window ({WORKUP_DAYS} days before diagnosis) "
                            "or after the end of follow-up",
    "death_on_diagnosis_day": "death on the day of diagnosis (per patient)",
}


KIND = "_kind"
"""A column :func:`with_kinds` adds to the claims tables: each row's kind of care (computed once)."""


def claim_kinds(table: str, claims: pd.DataFrame) -> pd.Series:
    """Each claim's kind by :func:`synth.care_rules.kinds_of`, read from the column :data:`KIND` when
    :func:`with_kinds` added it."""
    if KIND in claims.columns:
        return claims[KIND]
    return care_rules.kinds_of(table, claims)


def with_kinds(side: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The dataset with each claims table's kinds of care in a column :data:`KIND`."""
    out = dict(side)
    for table in ("stays", "dispensings"):
        out[table] = side[table].assign(**{KIND: claim_kinds(table, side[table]).to_numpy()})
    return out


def nights(stays: pd.DataFrame) -> pd.Series:
    return (stays["discharge_date"] - stays["admission_date"]).dt.days.astype("float64")


def clustered_share(hit: np.ndarray, holders: pd.Series) -> tuple[float | None, float]:
    """The share of rows that are hits and its standard error with patients as clusters (ratio estimator)."""
    hit = np.asarray(hit, dtype="float64")
    if not len(hit):
        return None, 0.0
    frame = pd.DataFrame({"hit": hit, "one": 1.0, "holder": pd.Series(holders).to_numpy()})
    per = frame.groupby("holder", sort=False)[["hit", "one"]].sum()
    a, n = per["hit"].to_numpy(), per["one"].to_numpy()
    p = a.sum() / n.sum()
    k = len(per)
    se = math.sqrt(k / (k - 1) * float(((a - p * n) ** 2).sum())) / n.sum() if k > 1 else 0.0
    return float(p), se


def ks_limit(n_real: int, n_synthetic: int, floor: float, constant: float) -> float:
    """The largest KS distance two samples of these sizes from one population stay under (99.9% of the time for
    ``constant`` 1.95), or ``floor`` when larger."""
    if not n_real or not n_synthetic:
        return floor
    return max(floor, constant * math.sqrt((n_real + n_synthetic) / (n_real * n_synthetic)))


def _ks(a: np.ndarray, b: np.ndarray) -> float | None:
    return float(ks_2samp(a, b).statistic) if len(a) and len(b) else None


def _median_se(values: np.ndarray, rng: np.random.Generator) -> float:
    if len(values) < 2:
        return 0.0
    draws = rng.integers(0, len(values), size=(BOOTSTRAP, len(values)))
    return float(np.std(np.median(values[draws], axis=1), ddof=1))


def _shown_quantiles(values: np.ndarray, holders, rule: DisclosureRule) -> dict:
    return {f"p{int(q * 100)}": v for q, v in zip(QUANTILES, safe_quantiles(values, QUANTILES, rule, holders=holders))}


def _quantiles(values: np.ndarray) -> dict:
    if not len(values):
        return {f"p{int(q * 100)}": None for q in QUANTILES}
    return {f"p{int(q * 100)}": float(v) for q, v in zip(QUANTILES, np.quantile(values, QUANTILES))}


# --- day cases and length of stay ------------------------------------------------------------------------

def _day_cases(r: pd.DataFrame, s: pd.DataFrame, t: dict) -> dict:
    r_n, s_n = nights(r), nights(s)
    r_share, r_se = clustered_share((r_n == 0).to_numpy(), r[PATIENT_ID])
    s_share, s_se = clustered_share((s_n == 0).to_numpy(), s[PATIENT_ID])
    return {"real": {"share": r_share, "se": r_se, "stays": len(r), "patients": int(r[PATIENT_ID].nunique()),
                     "day_cases": int((r_n == 0).sum())},
            "synthetic": {"share": s_share, "se": s_se, "stays": len(s), "patients": int(s[PATIENT_ID].nunique())},
            "difference": None if r_share is None or s_share is None else abs(r_share - s_share),
            "allowance": max(t["day_case_share_abs"], t["share_sampling_z"] * math.hypot(r_se, s_se))}


def _length_of_stay(r: pd.DataFrame, s: pd.DataFrame, t: dict) -> dict:
    r_n, s_n = nights(r).dropna().to_numpy(), nights(s).dropna().to_numpy()
    n_r, n_s = int(r[PATIENT_ID].nunique()), int(s[PATIENT_ID].nunique())
    return {"ks": _ks(r_n, s_n), "limit": ks_limit(n_r, n_s, t["claims_ks"], t["ks_sampling_allowance"]),
            "patients_real": n_r, "patients_synthetic": n_s, "mean_real": float(r_n.mean()) if len(r_n) else None,
            "mean_synthetic": float(s_n.mean()) if len(s_n) else None}


def _first_session_delay(side: dict[str, pd.DataFrame], kind: str) -> np.ndarray:
    """Days from diagnosis to each patient's first stay of ``kind`` (patients who have one)."""
    stays = side["stays"]
    rows = claim_kinds("stays", stays).eq(kind).to_numpy()
    first = stays.loc[rows].groupby(PATIENT_ID)["admission_date"].min().astype("datetime64[ns]")
    diagnosis = side["patients"].set_index(PATIENT_ID)["diagnosis_date"]
    days = (first - diagnosis.reindex(first.index)).dt.days
    return days.dropna().to_numpy("float64")


def _chemotherapy_delay(r: dict, s: dict, t: dict, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    rd, sd = _first_session_delay(r, "chemotherapy_session"), _first_session_delay(s, "chemotherapy_session")
    r_med = float(np.median(rd)) if len(rd) else None
    s_med = float(np.median(sd)) if len(sd) else None
    se = math.hypot(_median_se(rd, rng), _median_se(sd, rng))
    return {"patients_real": len(rd), "patients_synthetic": len(sd), "median_real": r_med, "median_synthetic": s_med,
            "median_difference": None if r_med is None or s_med is None else abs(r_med - s_med),
            "median_allowance": max(t["chemotherapy_median_days"], t["share_sampling_z"] * se),
            "ks": _ks(rd, sd), "limit": ks_limit(len(rd), len(sd), t["claims_ks"], t["ks_sampling_allowance"]),
            "checked": len(rd) >= t["claims_min_real_patients"], "quantiles_synthetic": _quantiles(sd)}, rd


# --- kinds of care -------------------------------------------------------------------------------------

def atc_class(atc: pd.Series) -> pd.Series:
    """The ATC class of a code: its first four characters (L02B, L01E, N02B...), missing as '(missing)'."""
    text = atc.astype("string").str.upper().str.replace(".", "", regex=False).str.strip().str.slice(0, 4)
    return text.astype("object").where(text.notna() & text.ne(""), "(missing)")


def category_comparison(r_labels: pd.Series, r_holders: pd.Series, s_labels: pd.Series, s_holders: pd.Series,
                        t: dict, floor: float) -> dict:
    """Share of rows per category (those holding at least ``class_min_share`` of the real rows, the rest pooled)
    on both sides, each with its clustered standard error and allowance; the largest |difference| / allowance."""
    r_labels, s_labels = r_labels.reset_index(drop=True), s_labels.reset_index(drop=True)
    r_share = r_labels.value_counts(normalize=True)
    checked = sorted(v for v in r_share.index if r_share[v] >= t["class_min_share"])
    rows, worst = [], 0.0
    categories = checked + ([OTHER] if (~r_labels.isin(checked)).any() or (~s_labels.isin(checked)).any() else [])
    z = family_z(t["share_sampling_z"], len(categories), t["family_tail"])
    for value in categories:
        r_hit = (~r_labels.isin(checked) if value == OTHER else r_labels.eq(value)).to_numpy()
        s_hit = (~s_labels.isin(checked) if value == OTHER else s_labels.eq(value)).to_numpy()
        pr, se_r = clustered_share(r_hit, r_holders)
        ps, se_s = clustered_share(s_hit, s_holders)
        allowance = max(floor, z * math.hypot(se_r, se_s))
        ratio = None if pr is None or ps is None else abs(pr - ps) / allowance
        rows.append({"category": value, "share_real": pr, "share_synthetic": ps, "allowance": allowance,
                     "ratio": ratio})
        worst = math.inf if ratio is None else max(worst, ratio)
    return {"categories": rows, "worst_ratio": None if math.isinf(worst) else worst,
            "rows_real": len(r_labels), "rows_synthetic": len(s_labels)}


def _categories_shown(r_labels: pd.Series, r_holders: pd.Series, s_labels: pd.Series,
                      rule: DisclosureRule) -> list[dict] | None:
    r_labels, s_labels = r_labels.reset_index(drop=True), s_labels.reset_index(drop=True)
    named = named_categories(r_labels, rule, holders=r_holders.reset_index(drop=True), top=TOP_CLASSES)
    if named is None:
        return None
    n = len(r_labels)
    r_share, s_share = r_labels.value_counts(normalize=True), s_labels.value_counts(normalize=True)
    rows = [{"category": str(v), "share_real": rule.round_share(float(r_share[v]), n),
             "share_synthetic": float(s_share.get(v, 0.0))} for v in sorted(named)]
    rest_r = float((~r_labels.isin(named)).mean())
    rest_s = float((~s_labels.isin(named)).mean()) if len(s_labels) else 0.0
    if rest_r or rest_s:
        rows.append({"category": OTHER, "share_real": rule.round_share(rest_r, n), "share_synthetic": rest_s})
    return rows


# --- coherence -----------------------------------------------------------------------------------------

def _rule_kinds() -> dict[str, tuple[str, str, care_rules.CareKind | None]]:
    """Each key :func:`synth.care_rules.incoherent_claims` returns -> (rule id, table, kind)."""
    out = {}
    for care in (*care_rules.STAY_KINDS, *care_rules.DISPENSING_KINDS):
        if care.requires:
            key = f"{care.what} for a patient without {' or '.join(care.requires)}"
            out[key] = (f"{care.name}_without_treatment", care.table, care)
    out["day session (Z51.0/Z51.1) lasting one night or more"] = (DAY_SESSION_RULE, "stays", None)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60]


def _incoherent_rows(tables: dict[str, pd.DataFrame]) -> dict[str, tuple[pd.Series, pd.Series]]:
    """Per rule id: which rows of the rule's table it applies to (denominator) and which break it, by the
    conventions of :mod:`synth.care_rules` (used for denominators and for the patients holding them; the
    counts checked are :func:`synth.care_rules.incoherent_claims`' own)."""
    people = tables["patients"].set_index(PATIENT_ID)
    out = {}
    for key, (rule_id, table, care) in _rule_kinds().items():
        claims = tables[table]
        kinds = claim_kinds(table, claims)
        if care is None:
            session = kinds.isin([k.name for k in care_rules.STAY_KINDS if k.day_session])
            out[rule_id] = (session, session & (nights(claims) > 0))
            continue
        applies = kinds.eq(care.name)
        treated = pd.Series(False, index=claims.index)
        for flag in care.requires:
            treated |= claims[PATIENT_ID].map(people[flag]).fillna(0).astype(bool)
        out[rule_id] = (applies, applies & ~treated)
    return out


def _plausibility_rows(tables: dict[str, pd.DataFrame]) -> dict[str, tuple[pd.Series, pd.Series, pd.Series]]:
    """Per rule of :data:`PLAUSIBILITY`: the rows it applies to, those that break it, and their patients."""
    p = tables["patients"].set_index(PATIENT_ID)
    stays, disp = tables["stays"], tables["dispensings"]
    out = {}
    d_diag = disp[PATIENT_ID].map(p["diagnosis_date"])
    known = d_diag.notna()
    out["dispensing_before_diagnosis"] = (known, known & (disp["dispensing_date"] < d_diag), disp[PATIENT_ID])
    start = pd.Timedelta(days=WORKUP_DAYS)
    s_diag, s_end = stays[PATIENT_ID].map(p["diagnosis_date"]), stays[PATIENT_ID].map(p["end_of_followup"])
    d_end = disp[PATIENT_ID].map(p["end_of_followup"])
    s_out = (stays["admission_date"] < s_diag - start) | (stays["discharge_date"] > s_end)
    d_out = (disp["dispensing_date"] < d_diag - start) | (disp["dispensing_date"] > d_end)
    out["claim_outside_window"] = (pd.concat([s_diag.notna(), known], ignore_index=True),
                                   pd.concat([s_out & s_diag.notna(), d_out & known], ignore_index=True),
                                   pd.concat([stays[PATIENT_ID], disp[PATIENT_ID]], ignore_index=True))
    patients = tables["patients"]
    died = patients["death"].eq(1)
    out["death_on_diagnosis_day"] = (pd.Series(True, index=patients.index),
                                     died & patients["followup_days"].le(0), patients[PATIENT_ID])
    return out


def _allowed_rate(count: int, total: int, holders: int, synthetic_total: int, z: float) -> float:
    """The rate a replica may reach: the real one plus its sampling noise (binomial, inflated by the rows per
    patient holding them, the largest design effect clustered rows can have); 0 where the real data have none."""
    if not count or not total:
        return 0.0
    rate = count / total
    deff = max(1.0, count / max(holders, 1))
    other = min(max(synthetic_total, 1), total)
    return rate + z * math.sqrt(rate * (1 - rate) * (1 / total + 1 / other) * deff)


def coherence(real: dict[str, pd.DataFrame], synthetic: dict[str, pd.DataFrame], t: dict) -> list[dict]:
    """Per rule, on all rows of both sides: incoherent claims (or patients) and the rate the replica may reach."""
    counts = {"real": care_rules.incoherent_claims(real), "synthetic": care_rules.incoherent_claims(synthetic)}
    rows = {"real": _incoherent_rows(real), "synthetic": _incoherent_rows(synthetic)}
    holders = {side: {t_: data[t_][PATIENT_ID] for t_ in ("stays", "dispensings")}
               for side, data in (("real", real), ("synthetic", synthetic))}
    kinds = _rule_kinds()
    out = []
    for key in list(dict.fromkeys([*counts["real"], *counts["synthetic"]])):
        rule_id, table, _ = kinds.get(key, (_slug(key), None, None))
        entry = {"rule": rule_id, "what": key, "kind": "coherence", "absolute": rule_id == DAY_SESSION_RULE}
        for side in ("real", "synthetic"):
            applies, broken = rows[side].get(rule_id, (None, None))
            n = counts[side].get(key, 0)
            if applies is not None:
                total, patients = int(applies.sum()), int(holders[side][table][broken.to_numpy()].nunique())
            else:
                total = sum(len(frame) for name, frame in (real if side == "real" else synthetic).items()
                            if name != "patients")
                patients = n
            entry[side] = {"count": int(n), "total": total, "patients": patients,
                           "rate": n / total if total else 0.0}
        out.append(entry)
    plaus = {"real": _plausibility_rows(real), "synthetic": _plausibility_rows(synthetic)}
    for rule_id, what in PLAUSIBILITY.items():
        entry = {"rule": rule_id, "what": what, "kind": "plausibility", "absolute": False}
        for side in ("real", "synthetic"):
            applies, broken, who = plaus[side][rule_id]
            n, total = int(broken.sum()), int(applies.sum())
            entry[side] = {"count": n, "total": total, "patients": int(who[broken.to_numpy()].nunique()),
                           "rate": n / total if total else 0.0}
        out.append(entry)
    for entry in out:
        r, s = entry["real"], entry["synthetic"]
        entry["allowed_rate"] = 0.0 if entry["absolute"] else _allowed_rate(
            r["count"], r["total"], r["patients"], s["total"], t["coherence_sampling_z"])
        entry["passed"] = s["count"] == 0 if entry["absolute"] or not r["count"] else s["rate"] <= entry["allowed_rate"]
    return out


def _coherence_shown(entries: list[dict], rule: DisclosureRule) -> list[dict]:
    shown = []
    for e in entries:
        r = e["real"]
        small = rule.is_small(r["patients"]) or rule.is_small(r["count"])
        shown.append({"rule": e["rule"], "what": e["what"], "kind": e["kind"], "absolute": e["absolute"],
                      "real": {"count": None if small else r["count"], "total": rule.count(r["total"]),
                               "rate": None if small else rule.round_share(r["rate"], r["total"]) if r["total"]
                               else 0.0},
                      "synthetic": dict(e["synthetic"]),
                      "allowed_rate": None if small else e["allowed_rate"], "passed": e["passed"]})
    return shown


# --- the section ---------------------------------------------------------------------------------------

def claims_section(real: dict[str, pd.DataFrame], synthetic: dict[str, pd.DataFrame],
                   real_all: dict[str, pd.DataFrame], synthetic_all: dict[str, pd.DataFrame], *,
                   thresholds: dict, rule: DisclosureRule, seed: int) -> tuple[dict, dict]:
    """(measured, shown): ``real``/``synthetic`` are the paired sample, ``real_all``/``synthetic_all`` all rows
    (for coherence). ``measured`` is at full resolution, for the checks; ``shown`` is what may be written."""
    rng = np.random.default_rng(seed)
    t = thresholds
    rs, ss = real["stays"], synthetic["stays"]
    day_cases = _day_cases(rs, ss, t)
    los = _length_of_stay(rs, ss, t)
    chemo, chemo_real = _chemotherapy_delay(real, synthetic, t, rng)
    r_kinds, s_kinds = claim_kinds("stays", rs), claim_kinds("stays", ss)
    stay_kinds = category_comparison(r_kinds, rs[PATIENT_ID], s_kinds, ss[PATIENT_ID], t, t["class_share_abs"])
    rd, sd = real["dispensings"], synthetic["dispensings"]
    r_class, s_class = atc_class(rd["atc_code"]), atc_class(sd["atc_code"])
    classes = category_comparison(r_class, rd[PATIENT_ID], s_class, sd[PATIENT_ID], t, t["class_share_abs"])
    rules = coherence(real_all, synthetic_all, t)
    measured = {"day_cases": day_cases, "length_of_stay": los, "chemotherapy_delay": chemo,
                "stay_kinds": stay_kinds, "atc_classes": classes, "coherence": rules}

    r_nights = nights(rs).to_numpy()
    dc = day_cases["real"]
    day_patients = rs.loc[r_nights == 0, PATIENT_ID].nunique()
    night_patients = rs.loc[r_nights > 0, PATIENT_ID].nunique()
    real_day_share = None if dc["share"] is None or rule.is_small(day_patients) or rule.is_small(night_patients) \
        else rule.share(dc["day_cases"], dc["stays"])
    shown = {
        "day_cases": {"share_real": real_day_share, "share_synthetic": day_cases["synthetic"]["share"],
                      "stays_real": rule.count(dc["stays"]), "patients_real": rule.count(dc["patients"]),
                      "stays_synthetic": day_cases["synthetic"]["stays"],
                      "patients_synthetic": day_cases["synthetic"]["patients"]},
        "length_of_stay": {"ks": los["ks"], "patients_real": rule.count(los["patients_real"]),
                           "patients_synthetic": los["patients_synthetic"],
                           "quantiles_real": _shown_quantiles(r_nights, rs[PATIENT_ID], rule),
                           "quantiles_synthetic": _quantiles(nights(ss).dropna().to_numpy())},
        "chemotherapy_delay": {"patients_real": rule.count(chemo["patients_real"]),
                               "patients_synthetic": chemo["patients_synthetic"], "ks": chemo["ks"],
                               "quantiles_real": _shown_quantiles(chemo_real, None, rule),
                               "quantiles_synthetic": chemo["quantiles_synthetic"]},
        "stay_kinds": _categories_shown(r_kinds, rs[PATIENT_ID], s_kinds, rule),
        "atc_classes": _categories_shown(r_class, rd[PATIENT_ID], s_class, rule),
        "coherence": _coherence_shown(rules, rule),
    }
    return measured, shown
