"""Distance to closest record (DCR) and nearest-neighbour distance ratio (NNDR) of a replica.

Distances follow SDMetrics' DCR definition (each numerical column divided by its range in
the real data, each categorical column 0 if equal else 1) but combine the columns with a
Euclidean norm, so the nearest neighbours come from one BLAS matrix product instead of a
pairwise loop. The question each figure answers:

- DCR: is a synthetic patient closer to a training patient than to a control patient
  (one the generator never saw)? A generator that does not copy puts about half of its
  records closer to each when the two real sets have the same size;
- NNDR: nearest / second-nearest distance; values near 0 mean a synthetic record sits on
  one real record far from the others (an outlier reproduced).

Copies of real records are not measured here, on a sample, but by the full-set screen
(:mod:`privacy.risk.copies`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privacy.risk import attacker_models
from privacy.risk.features import CATEGORICAL
from privacy.risk.intervals import wilson

_BLOCK = 2048


def _encoder(reference: pd.DataFrame, others: list[pd.DataFrame]):
    numerical = [c for c in reference.columns if c not in CATEGORICAL]
    low = reference[numerical].min()
    span = (reference[numerical].max() - low).replace(0, 1)
    categories = {c: sorted(set().union(*(set(f[c]) for f in [reference, *others]))) for c in CATEGORICAL
                  if c in reference.columns}

    def encode(frame: pd.DataFrame) -> np.ndarray:
        parts = [((frame[numerical] - low) / span).to_numpy(np.float64)]
        for column, values in categories.items():
            codes = pd.Categorical(frame[column], categories=values).codes
            parts.append(np.eye(len(values), dtype=np.float64)[codes] / np.sqrt(2))
        return np.hstack(parts)

    return encode


def _two_nearest(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(n, 2) distances from each query row to its nearest and second-nearest reference rows."""
    ref_sq = (reference ** 2).sum(axis=1)
    out = np.empty((len(queries), 2))
    for start in range(0, len(queries), _BLOCK):
        q = queries[start:start + _BLOCK]
        d2 = (q ** 2).sum(axis=1)[:, None] + ref_sq[None, :] - 2 * q @ reference.T
        part = np.partition(np.maximum(d2, 0), 1, axis=1)[:, :2]
        out[start:start + len(q)] = np.sqrt(np.sort(part, axis=1))
    return out


def distance_metrics(train: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame) -> dict:
    """DCR and NNDR of ``synthetic`` against equal-sized ``train`` and ``control``."""
    n = min(len(train), len(control))
    train, control = train.iloc[:n], control.iloc[:n]
    encode = _encoder(pd.concat([train, control]), [synthetic])
    s, t, c = encode(synthetic), encode(train), encode(control)
    to_train, to_control = _two_nearest(s, t), _two_nearest(s, c)
    closer = (to_train[:, 0] < to_control[:, 0]).mean() + 0.5 * (to_train[:, 0] == to_control[:, 0]).mean()
    nndr_train = to_train[:, 0] / np.maximum(to_train[:, 1], 1e-12)
    nndr_control = to_control[:, 0] / np.maximum(to_control[:, 1], 1e-12)

    def r(x: float) -> float:
        return round(float(x), 4)

    return {
        "synthetic_rows": len(synthetic), "real_rows_each": n,
        "dcr_share_closer_to_train": r(closer),
        # Wilson's interval over the synthetic records; the draw of the training and control samples adds
        # variance it does not show, so it is if anything narrow
        "dcr_share_closer_to_train_ci": [r(v) for v in wilson(closer * len(synthetic), len(synthetic))],
        "dcr_median": {"train": r(np.median(to_train[:, 0])), "control": r(np.median(to_control[:, 0]))},
        "dcr_5th_percentile": {"train": r(np.percentile(to_train[:, 0], 5)),
                               "control": r(np.percentile(to_control[:, 0], 5))},
        "nndr_median": {"train": r(np.median(nndr_train)), "control": r(np.median(nndr_control))},
        "nndr_5th_percentile": {"train": r(np.percentile(nndr_train, 5)), "control": r(np.percentile(nndr_control, 5))},
        "attacker_model": attacker_models.distances(),
        "dcr_values": {"train": to_train[:, 0], "control": to_control[:, 0]},  # for plots; not written to JSON
    }
