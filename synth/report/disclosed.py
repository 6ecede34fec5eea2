"""What the utility report writes about real patients: the measured report through the small-cell rule.

The checks and the verdict are computed inside the secure area on the measured report, at
full resolution. Only :func:`written_report` leaves it (``utility.json``, and the page and
figures drawn from that JSON alone): counts of real patients suppressed below ``min_cell``
(null), real shares rounded (:meth:`privacy.disclosure.DisclosureRule.share`), SDV's
per-column validity rounded (it says how many synthetic values fall outside the real range,
hence where the real extremes lie). Distributions and survival curves are written by their
own sections already through the rule (:mod:`.distributions`, :func:`.survival.kaplan_meier_shown`).

:func:`real_sources` says which real values each written summary describes, for
:func:`privacy.disclosure.scan_report`.
"""

from __future__ import annotations

import copy

import pandas as pd

from privacy.disclosure import DisclosureRule, RealColumn, RealSurvival
from synth.report.distributions import child_features, patient_features
from synth.report.inputs import normalise_dataset
from synth.report.survival import DURATION, EVENT, survival_frames


def _share(share: float | None, total: int | None, rule: DisclosureRule) -> float | None:
    if share is None or not total:
        return None
    return rule.share(round(share * total), total)


def written_checks(checks: list[dict], rule: DisclosureRule) -> list[dict]:
    """The checks as they may be written: private keys dropped, a threshold resting on a small real count
    suppressed (null)."""
    out = []
    for check in checks:
        written = {k: v for k, v in check.items() if not k.startswith("_")}
        if rule.is_small(check.get("_real_count") or 0) or rule.is_small(check.get("_real_patients") or 0):
            written["threshold"] = None
        out.append(written)
    return out


def written_report(measured: dict, rule: DisclosureRule, *, kaplan_meier: list[dict],
                   shown: dict | None = None) -> dict:
    """The measured report (sections as built by :func:`synth.report.build_utility_report`, before checks)
    as it may be written; ``kaplan_meier`` replaces the measured survival entries, ``shown`` the measured
    clinical sections (by key)."""
    out = copy.deepcopy({k: v for k, v in measured.items() if k not in (shown or {})})
    out.update(copy.deepcopy(shown or {}))
    sizes = out["sizes"]
    sizes["real"] = {t: rule.count(n) for t, n in sizes["real"].items()}
    sizes["control"] = rule.count(sizes["control"])
    out["orphan_rows"]["real"] = {t: rule.count(n) for t, n in out["orphan_rows"]["real"].items()}

    sdv = out["sdv"]
    sdv["n_real"], sdv["rows_compared"] = rule.count(sdv["n_real"]), rule.count(sdv["rows_compared"])
    rows = measured["sdv"]["rows_compared"]
    sdv["data_validity"] = {c: None if v is None else rule.round_share(v, rows)
                            for c, v in sdv["data_validity"].items()}
    if "Data Validity" in sdv["diagnostic_properties"]:
        sdv["diagnostic_properties"]["Data Validity"] = rule.round_share(sdv["diagnostic_properties"]["Data Validity"],
                                                                         rows)
    out["correlations"]["rows_compared"] = rule.count(out["correlations"]["rows_compared"])

    survival = out["survival"]
    survival["rows_compared"]["real"] = rule.count(survival["rows_compared"]["real"])
    survival["dropped_rows"]["real"] = rule.count(survival["dropped_rows"]["real"])
    survival["kaplan_meier"] = copy.deepcopy(kaplan_meier)
    survival["cox"]["n_real"] = rule.count(survival["cox"]["n_real"])

    p = out["prediction"]
    p["death_share_train_real"] = _share(p["death_share_train_real"], p["n_train_real"], rule)
    p["death_share_test"] = _share(p["death_share_test"], p["n_test"], rule)
    p["n_train_real"], p["n_test"] = rule.count(p["n_train_real"]), rule.count(p["n_test"])

    out["disclosure"] = {
        "min_cell": rule.min_cell,
        "rule": (f"no count of 1 to {rule.min_cell - 1} real patients (null where one would be), no single "
                 f"patient's value: categories and histogram bins hold at least {rule.min_cell} real patients, "
                 f"quantiles have {rule.min_cell} on each side, real shares are rounded, real survival curves are "
                 f"shown at whole months with at least {rule.min_cell} deaths per step; care pathways, subtypes, "
                 f"kinds of care and ATC classes are named only when at least {rule.min_cell} real patients hold "
                 f"them, a real mean cost rests on at least {rule.min_cell} patients, no real minimum or maximum"),
    }
    return out


def real_sources(real: dict[str, pd.DataFrame], *, seed: int = 0,
                 max_rows: int = 20_000) -> tuple[dict[str, RealColumn], dict[str, RealSurvival]]:
    """The real values behind each written distribution (by variable name) and survival entry (by cancer
    type), as :func:`build_utility_report` used them with the same ``seed`` and ``max_rows``."""
    r = normalise_dataset(real, "real")
    features = patient_features(r["patients"], r["patients"]) + child_features(r, r)
    columns = {f.name: RealColumn(values=f.real.reset_index(drop=True), holders=f.real_holders) for f in features}
    frame, _, _ = survival_frames(r["patients"], r["patients"], seed=seed, max_rows=max_rows)
    survival = {cancer: RealSurvival(durations=group[DURATION].to_numpy(float), events=group[EVENT].to_numpy(float))
                for cancer, group in frame.groupby("cancer_type")}
    return columns, survival
