"""The sampled re-identification risk measures of a replica, on (training data, replica, control set).

The three attack tables are subsampled to one size (under ``seed``; at most ``max_rows``,
at most the control set's size; the report states the sizes), and every Anonymeter figure
carries its confidence interval, which widens with fewer attacks rather than hiding the
uncertainty. Whether the replica holds real people is not estimated here but screened on
the full sets (:mod:`privacy.risk.copies`).
"""

from __future__ import annotations

from harmonie.errors import HarmonieError
from harmonie.progress import stage
from privacy.risk.anonymeter_attacks import inference, linkability, singling_out
from privacy.risk.distances import distance_metrics
from privacy.risk.features import subsample
from privacy.risk.uniqueness import QUASI_IDENTIFIERS, uniqueness_metrics

LINKABILITY_SPLIT = (
    list(QUASI_IDENTIFIERS),  # what a registry or a neighbour knows
    ["cancer_type", "subtype", "stage", "n_stays", "days_to_first_stay", "chemotherapy_sessions",
     "first_stay_diagnosis"],  # what a hospital's records show
)
SECRETS = ("stage", "death", "subtype")
MIN_ROWS = 50


def measure_risk(tables: dict, *, n_attacks: int = 2000, max_rows: int = 20_000, seed: int, n_jobs: int = 2) -> dict:
    """Every sampled risk figure as a JSON-ready dict (plus ``_arrays`` for the plots).

    ``tables`` holds the attack tables (:func:`privacy.risk.features.attack_table`) of the
    ``train``, ``synthetic`` and ``control`` sets.
    """
    for name, frame in tables.items():
        if len(frame) < MIN_ROWS:
            raise HarmonieError(f"the {name} set has {len(frame)} patients; risk needs at least {MIN_ROWS}")
    full_sizes = {name: len(frame) for name, frame in tables.items()}
    # equal sizes: Anonymeter's and the distance measures' train-vs-control comparisons assume them
    n = min(full_sizes["train"], full_sizes["control"], max_rows)
    train, syn, ctrl = (subsample(tables[k], n, seed + i) for i, k in enumerate(("train", "synthetic", "control")))
    def timed(label, function, **kwargs):  # times go to the stage lines, not the (reproducible) results
        with stage(f"risk: {label}"):
            return function(**kwargs)

    base = {"train": train, "synthetic": syn, "control": ctrl, "n_attacks": n_attacks, "seed": seed}
    result = {
        "sizes": {"full": full_sizes, "used": {"train": len(train), "synthetic": len(syn), "control": len(ctrl)},
                  "max_rows": max_rows},
        "singling_out": {
            mode: timed(f"singling out ({mode})", singling_out, mode=mode, **base)
            for mode in ("univariate", "multivariate")},
        "linkability": timed("linkability", linkability, aux_cols=LINKABILITY_SPLIT, n_jobs=n_jobs, **base),
        "inference": {secret: timed(f"inference of {secret}", inference, secret=secret, n_jobs=n_jobs, **base)
                      for secret in SECRETS},
    }
    distances = timed("distances", distance_metrics, train=train, synthetic=syn, control=ctrl)
    result["_arrays"] = distances.pop("dcr_values")
    result["distances"] = distances
    result["uniqueness"] = timed("uniqueness", uniqueness_metrics, train=train, synthetic=syn, control=ctrl)
    return result
