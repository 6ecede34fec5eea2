"""Uniqueness on quasi-identifiers: replicated uniques and the k-anonymity of the replica.

Quasi-identifiers are what someone may know about a patient from elsewhere (sex, age,
département, diagnosis date). A real patient unique on them is exposed if the replica holds
a record with the same combination: the replica then "confirms" that person. Chance alone
also produces such matches, so the same count is taken for the control patients (never
seen by the generator); the excess on the training patients is what the generator leaked.

Both measures are **degenerate** when the quasi-identifiers are too fine for the data: on
sex, age, département and the exact diagnosis date every patient of a few thousand is
unique, so "replicated uniques" only asks whether the replica reproduces a real date to
the day (which the full-set copy screen already rules out) and reads 0 whatever the
generator learned; and k-anonymity is 1 for any replica. Each is therefore computed on a
ladder of coarsenings (exact, then 5-year age band and diagnosis year as a release would
publish them, then without the date) and decided on the finest level that is not
degenerate; every level is reported, with the reason when it is degenerate.
"""

from __future__ import annotations

import pandas as pd

from privacy.risk import attacker_models
from privacy.risk.intervals import difference

QUASI_IDENTIFIERS = ("sex", "age_at_diagnosis", "departement", "diagnosis_day")
DEGENERATE_UNIQUE_SHARE = 0.95  # at least this share of patients unique on the columns: every record is unique
DEGENERATE_SMALL_GROUP_SHARE = 0.95  # at least this share of replica records in groups under SMALL_GROUP
SMALL_GROUP = 5


def coarse_quasi_identifiers(frame: pd.DataFrame) -> pd.DataFrame:
    """The quasi-identifiers as a release would publish them: 5-year age band, diagnosis year."""
    return pd.DataFrame({
        "sex": frame["sex"], "age_band": (frame["age_at_diagnosis"] // 5) * 5, "departement": frame["departement"],
        "diagnosis_year": (pd.Timestamp("1970-01-01") + pd.to_timedelta(frame["diagnosis_day"], unit="D")).dt.year,
    })


LEVELS = {  # name: the columns an attacker knows at that level, from an attack table
    "exact": lambda frame: frame[list(QUASI_IDENTIFIERS)],
    "coarse": coarse_quasi_identifiers,
    "coarse_without_date": lambda frame: coarse_quasi_identifiers(frame).drop(columns="diagnosis_year"),
}


def _combination(frame: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(frame, index=False)


def replicated_uniques(real: pd.DataFrame, synthetic: pd.DataFrame, columns=None) -> dict:
    """Real patients unique on ``columns`` (default: all of ``real``'s) and how many the replica reproduces."""
    columns = list(real.columns if columns is None else columns)
    real_keys = _combination(real[columns])
    counts = real_keys.map(real_keys.value_counts())
    uniques = real_keys[counts == 1]
    replicated = uniques.isin(set(_combination(synthetic[columns])))
    return {"patients": len(real), "real_uniques": len(uniques), "replicated": int(replicated.sum()),
            "share": round(float(replicated.mean()) if len(uniques) else 0.0, 4)}


def _replicated_level(train: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame) -> dict:
    on_train, on_control = replicated_uniques(train, synthetic), replicated_uniques(control, synthetic)
    low, high = difference(on_train["replicated"], on_train["real_uniques"], on_control["replicated"],
                           on_control["real_uniques"])
    unique_share = min(on_train["real_uniques"] / max(len(train), 1), on_control["real_uniques"] / max(len(control), 1))
    degenerate = None
    if unique_share >= DEGENERATE_UNIQUE_SHARE:
        degenerate = (f"{unique_share:.0%} of the patients are unique on these columns: the measure only counts "
                      "combinations reproduced exactly, which the copy screen already rules out, and reads about 0 "
                      "for any generator")
    return {"quasi_identifiers": list(train.columns), "train": on_train, "control": on_control,
            "excess_share": round(max(on_train["share"] - on_control["share"], 0.0), 4),
            "ci": [round(max(low, 0.0), 4), round(max(high, 0.0), 4)], "degenerate": degenerate,
            "attacker_model": attacker_models.replicated_uniques(list(train.columns))}


def _k_level(synthetic: pd.DataFrame) -> dict:
    keys = _combination(synthetic)
    k = keys.map(keys.value_counts())
    small = float((k < SMALL_GROUP).mean()) if len(k) else 0.0
    degenerate = None
    if small >= DEGENERATE_SMALL_GROUP_SHARE:
        degenerate = (f"{small:.0%} of the replica's records are in groups under {SMALL_GROUP}: the columns are too "
                      "fine for the data size, so k is small for any replica")
    return {"quasi_identifiers": list(synthetic.columns), "min_k": int(k.min()) if len(k) else 0,
            f"share_of_records_with_k_below_{SMALL_GROUP}": round(small, 4), "degenerate": degenerate,
            "attacker_model": attacker_models.k_anonymity(list(synthetic.columns))}


def _decisive(levels: dict) -> str:
    """The finest level that is not degenerate (the coarsest if all are)."""
    return next((name for name, level in levels.items() if level["degenerate"] is None), list(levels)[-1])


def uniqueness_metrics(train: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame) -> dict:
    """Replicated uniques (``train`` and ``control`` cut to one size) and k-anonymity, at every level of :data:`LEVELS`.

    ``replicated_uniques`` and ``k_anonymity`` are the decisive levels' figures (with ``level`` naming it);
    ``levels`` holds them all.
    """
    n = min(len(train), len(control))
    train, control = train.iloc[:n], control.iloc[:n]
    replicated = {name: _replicated_level(view(train), view(synthetic), view(control)) for name, view in LEVELS.items()}
    k_anonymity = {name: _k_level(view(synthetic)) for name, view in LEVELS.items()}
    replicated_level, k_level = _decisive(replicated), _decisive(k_anonymity)
    return {
        "quasi_identifiers": replicated[replicated_level]["quasi_identifiers"],
        "replicated_uniques": {**replicated[replicated_level], "level": replicated_level},
        "k_anonymity": {**k_anonymity[k_level], "level": k_level},
        "levels": {"replicated_uniques": replicated, "k_anonymity": k_anonymity},
    }
