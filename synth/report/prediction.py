"""Train on synthetic, test on real (TSTR): can a model learnt from the replica predict for real patients?

Task: death within two years of diagnosis. Patients censored (alive, lost) before two years
are left out, since their outcome is unknown. Predictors: sex, age, cancer type, subtype,
stage, treatments and the claims counts (``n_stays``, ``days_to_first_stay``,
``n_dispensings``). The claims counts cover the whole follow-up, so they partly reflect how
long the patient lived: the task measures whether the replica keeps these relations, it is
not a clinical prediction model. Département, dates and follow-up are not used.

The same model (gradient boosting, fixed settings and seed) is trained twice — on real
patients (TRTR) and on synthetic ones (TSTR, at most as many as the real ones: a replica sampled
larger must not train better for it) — and both are scored (ROC AUC) on the same real test
patients: the ``control`` patients when given (never seen by the generator), otherwise a
seeded 30% of the real patients held out from the real training set (the generator has seen
those, so TSTR may then look better than it would on new patients).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.report.inputs import subsample
from synth.schema import TREATMENTS

HORIZON_DAYS = 730
HOLDOUT_FRACTION = 0.3
CATEGORICAL = ("sex", "cancer_type", "subtype")
NUMERICAL = ("age_at_diagnosis", "stage", *TREATMENTS, "n_stays", "days_to_first_stay", "n_dispensings")
FEATURES = (*CATEGORICAL, *NUMERICAL)
MAX_CATEGORIES = 250  # gradient boosting takes at most 255 category codes; rarer ones count as missing


def two_year_death(patients: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows whose 2-year status is known, and the label (1 = died within two years)."""
    died = (patients["death"] == 1) & (patients["followup_days"] <= HORIZON_DAYS)
    known = died | (patients["followup_days"] >= HORIZON_DAYS)
    rows = patients[known.to_numpy(bool)].reset_index(drop=True)
    return rows, died[known].to_numpy(int)


def _matrix(rows: pd.DataFrame, categories: dict[str, list]) -> np.ndarray:
    """Features as floats; categories coded from the real training set (unknown -> missing)."""
    columns = []
    for column in CATEGORICAL:
        codes = {v: float(i) for i, v in enumerate(categories[column])}
        columns.append(rows[column].map(codes).astype("float64").to_numpy())
    columns += [rows[c].astype("float64").to_numpy() for c in NUMERICAL]
    return np.column_stack(columns)


def _model(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    mask = np.array([c in CATEGORICAL for c in FEATURES])
    return HistGradientBoostingClassifier(learning_rate=0.05, max_iter=150, max_leaf_nodes=15, min_samples_leaf=20,
                                          l2_regularization=1.0, categorical_features=mask, early_stopping=False,
                                          random_state=seed)


def _auc(train: pd.DataFrame, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray,
         categories: dict[str, list], seed: int) -> float:
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    if len(np.unique(y_train)) < 2:  # a constant predictor: no discrimination at all
        return 0.5
    x_train = _matrix(train, categories)
    x_train[:, np.isnan(x_train).all(axis=0)] = 0.0  # an all-missing column breaks the binner; a constant says as little
    with threadpool_limits(1):  # at these sizes one thread is several times faster than OpenMP's team
        model = _model(seed).fit(x_train, y_train)
        return float(roc_auc_score(y_test, model.predict_proba(test)[:, 1]))


def tstr(real: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame | None, *,
         seed: int, max_rows: int) -> dict:
    """TRTR and TSTR AUCs on the same real test set, with sizes and the share of deaths in each set."""
    if control is not None:
        train_real, test, test_set = real, control, "control"
    else:
        order = np.random.default_rng(seed).permutation(len(real))
        cut = round(HOLDOUT_FRACTION * len(real))
        test, train_real = real.iloc[np.sort(order[:cut])], real.iloc[np.sort(order[cut:])]
        test_set = "real holdout"
    train_real = subsample(train_real.reset_index(drop=True), max_rows, seed)
    # as many synthetic training patients as real ones at most: a replica sampled larger must not train better
    train_syn, y_syn = two_year_death(subsample(synthetic, len(train_real), seed + 1))
    train_real, y_real = two_year_death(train_real)
    test, y_test = two_year_death(subsample(test.reset_index(drop=True), max_rows, seed + 2))
    out = {"task": "death within 2 years of diagnosis", "horizon_days": HORIZON_DAYS, "test_set": test_set,
           "features": list(FEATURES), "n_train_real": len(train_real), "n_train_synthetic": len(train_syn),
           "n_test": len(test), "death_share_train_real": float(y_real.mean()) if len(y_real) else None,
           "death_share_train_synthetic": float(y_syn.mean()) if len(y_syn) else None,
           "death_share_test": float(y_test.mean()) if len(y_test) else None,
           "trtr_auc": None, "tstr_auc": None, "auc_ratio": None, "problem": None}
    if len(np.unique(y_test)) < 2 or len(np.unique(y_real)) < 2:
        out["problem"] = "the real data lack either deaths within two years or two-year survivors"
        return out
    categories = {c: sorted(train_real[c].value_counts().index[:MAX_CATEGORIES].tolist()) for c in CATEGORICAL}
    x_test = _matrix(test, categories)
    out["trtr_auc"] = _auc(train_real, y_real, x_test, y_test, categories, seed)
    out["tstr_auc"] = _auc(train_syn, y_syn, x_test, y_test, categories, seed)
    out["auc_ratio"] = out["tstr_auc"] / out["trtr_auc"] if out["trtr_auc"] > 0 else None
    return out
