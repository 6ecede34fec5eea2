"""The sampled re-identification risk measures of a replica, on (training data, replica, control set).

Each set is first cut to at most ``max_rows`` rows (under ``seed``; the report states the
sizes). Then each measure takes as many rows as it validly can, because the confidence
interval narrows with the rows and the gate can decide on its upper end:

- the attacker holds the whole released replica, so every measure searches all of it;
- linkability and inference attack every training and every control patient (up to
  ``attack_targets`` a side): a target's success depends on that target and the replica
  only, so the two sides need not be the same size (and the training side, four times the
  control side, then adds little variance);
- singling out, distances and uniqueness compare how a figure behaves on a set of a given
  size, so they take training and control samples of one size (the control set's).

Whether the replica holds real people is not estimated here but screened on the full sets
(:mod:`privacy.risk.copies`); membership attacks run on the full sets too
(:mod:`privacy.risk.membership`).
"""

from __future__ import annotations

from harmonie.errors import HarmonieError
from harmonie.progress import progress, stage
from privacy.risk import attacker_models
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
SINGLING_OUT_COLUMNS = 4
LINKABILITY_NEIGHBOURS = 10
MIN_ROWS = 50


def measure_risk(tables: dict, *, n_attacks: int = 5000, attack_targets: int = 10_000, max_rows: int = 20_000,
                 seed: int, n_jobs: int = 2) -> dict:
    """Every sampled risk figure as a JSON-ready dict (plus ``_arrays`` for the plots).

    ``tables`` holds the attack tables (:func:`privacy.risk.features.attack_table`) of the
    ``train``, ``synthetic`` and ``control`` sets. ``n_attacks`` is the number of singling-out
    predicates; linkability and inference attack up to ``attack_targets`` training and as many
    control patients (every one, when there are fewer).
    """
    for name, frame in tables.items():
        if len(frame) < MIN_ROWS:
            raise HarmonieError(f"the {name} set has {len(frame)} patients; risk needs at least {MIN_ROWS}")
    full_sizes = {name: len(frame) for name, frame in tables.items()}
    train_all, syn, ctrl = (subsample(tables[k], max_rows, seed + i)
                            for i, k in enumerate(("train", "synthetic", "control")))
    n = min(len(train_all), len(ctrl))
    train = subsample(train_all, n, seed + 3)  # one size with control: singling out, distances, uniqueness

    # two singling-out modes, linkability, an inference per secret, distances and uniqueness: counted, so the
    # lines say how many are left (at 193,000 patients they take minutes)
    measures = 2 + 1 + len(SECRETS) + 2
    done = iter(range(1, measures + 1))

    def timed(label, function, **kwargs):  # times go to the stage lines, not the (reproducible) results
        with stage(f"risk [{next(done)}/{measures}]: {label}"):
            result = function(**kwargs)
        attacked.advance()
        return result

    with progress("risk measures", measures, unit="measures", lines=measures) as attacked:
        targeted = {"train": train_all, "synthetic": syn, "control": ctrl, "n_attacks": attack_targets,
                    "seed": seed, "n_jobs": n_jobs}
        singling = {mode: timed(f"singling out ({mode})", singling_out, mode=mode, train=train, synthetic=syn,
                                control=ctrl, n_attacks=n_attacks, seed=seed, n_cols=SINGLING_OUT_COLUMNS)
                    for mode in ("univariate", "multivariate")}
        for mode, figures in singling.items():
            figures["attacker_model"] = attacker_models.singling_out(mode, SINGLING_OUT_COLUMNS)
        linked = timed("linkability", linkability, aux_cols=LINKABILITY_SPLIT, n_neighbors=LINKABILITY_NEIGHBOURS,
                       **targeted)
        linked["attacker_model"] = attacker_models.linkability(LINKABILITY_SPLIT, LINKABILITY_NEIGHBOURS)
        inferred = {}
        for secret in SECRETS:
            inferred[secret] = timed(f"inference of {secret}", inference, secret=secret, **targeted)
            inferred[secret]["attacker_model"] = attacker_models.inference(
                secret, [c for c in train.columns if c != secret])
        result = {
            "sizes": {"full": full_sizes,
                      "used": {"train": len(train), "synthetic": len(syn), "control": len(ctrl)},
                      "targets": {"train": min(len(train_all), attack_targets),
                                  "control": min(len(ctrl), attack_targets)},
                      "max_rows": max_rows},
            "singling_out": singling, "linkability": linked, "inference": inferred,
        }
        distances = timed("distances", distance_metrics, train=train, synthetic=syn, control=ctrl)
        result["_arrays"] = distances.pop("dcr_values")
        result["distances"] = distances
        result["uniqueness"] = timed("uniqueness", uniqueness_metrics, train=train, synthetic=syn, control=ctrl)
    return result
