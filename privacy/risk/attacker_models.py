"""The attacker each risk measure assumes: what they know of a target, what they try to learn, against what.

Anonymeter's authors (Giomi et al., PoPETs 2023) ask that every risk figure be published
with its attacker model, since a risk is only "low" against a stated attacker. Each
measure's entry in ``risk.json`` carries one of these dicts under ``attacker_model``:

- ``holds``: what the attacker has besides their knowledge of the target (always the
  released replica; for some attacks a sample or statistics of the population);
- ``knows``: the target's columns the attacker is assumed to know (auxiliary information);
- ``secret``: what the attacker tries to learn;
- ``success``: when an attack on one target counts as a success;
- ``reference``: what the success on training patients is compared with, so that what the
  replica teaches about the population at large (its purpose) is not counted as a leak.
"""

from __future__ import annotations

from collections.abc import Sequence

REPLICA = "the released replica"
CONTROL_REFERENCE = ("the same attack on control patients (real patients the generator never saw), and a random-"
                     "guess baseline")


def _model(*, knows: Sequence[str] | str | dict, secret: str, success: str, reference: str, holds: str = REPLICA,
           targets: str) -> dict:
    return {"holds": holds, "knows": knows if isinstance(knows, (str, dict)) else list(knows), "secret": secret,
            "success": success, "reference": reference, "targets": targets}


def singling_out(mode: str, n_cols: int) -> dict:
    columns = "one column" if mode == "univariate" else f"{n_cols} columns"
    return _model(knows="nothing about a chosen patient in advance", secret="a predicate true of one patient only",
                  success=f"a predicate on {columns}, built from the replica, matches exactly one training patient",
                  reference=CONTROL_REFERENCE + " (the control set has as many patients as the training sample)",
                  targets="a training sample the size of the control set")


def linkability(aux_cols: tuple[Sequence[str], Sequence[str]], n_neighbors: int) -> dict:
    return _model(knows={"first source": list(aux_cols[0]), "second source": list(aux_cols[1])},
                  secret="that two records held apart (e.g. registry facts and hospital facts) are one patient",
                  success=f"the two records' {n_neighbors} nearest replica records share one",
                  reference=CONTROL_REFERENCE, targets="every training and every control patient")


def inference(secret: str, known: Sequence[str]) -> dict:
    return _model(knows=known, secret=secret,
                  success=f"the {secret} of the replica record closest on the known columns is the patient's",
                  reference=CONTROL_REFERENCE, targets="every training and every control patient")


def distances() -> dict:
    return _model(knows="every column", secret="whether a replica record sits on a training patient",
                  success="a replica record is closer to a training than to a control patient",
                  reference="as many control patients as training patients (0.5 when nothing is memorised)",
                  targets="every replica record")


def replicated_uniques(quasi_identifiers: Sequence[str]) -> dict:
    return _model(knows=quasi_identifiers, secret="that a patient unique on these columns is in the data",
                  success="the replica holds a record with the unique patient's combination",
                  reference="the same count for control patients unique in a control set of the same size",
                  targets="training patients unique on the columns")


def k_anonymity(quasi_identifiers: Sequence[str]) -> dict:
    return _model(knows=quasi_identifiers, secret="which replica records share a person's combination",
                  success="(descriptive: the size of the smallest group of replica records)",
                  reference="none: synthetic records are not people", targets="every replica record")


def cell_frequency(quasi_identifiers: Sequence[str], from_replica: Sequence[str],
                   from_reference: Sequence[str]) -> dict:
    located = ", ".join(from_reference) or "the whole cell"
    return _model(
        knows=quasi_identifiers, secret="membership: whether the patient was among the generator's training patients",
        holds=f"{REPLICA}, and the share of patients by {located} in the population (published statistics; "
              "estimated here from every real patient the gate holds, training and control, never a cell count)",
        success="ROC AUC of the score: the replica's count in the patient's cell over the count expected from the "
                f"replica's count for {', '.join(from_replica) or 'the whole replica'} times the population share "
                f"of {located}",
        reference="control patients: the same score for patients the generator never saw (AUC 0.5 = no leak)",
        targets="every training patient (members) and every control patient (non-members)")


def density_ratio(columns: Sequence[str]) -> dict:
    return _model(
        knows=columns, secret="membership: whether the patient was among the generator's training patients",
        holds=f"{REPLICA}, and a sample of real patients from the same population who were not in training "
              "(here the control set, each control target left out of its own reference density)",
        success="ROC AUC of the replica's density at the patient over the reference sample's (DOMIAS)",
        reference="control patients (AUC 0.5 = no leak)",
        targets="every training patient (members) and every control patient (non-members)")


def nearest_neighbour(columns: Sequence[str]) -> dict:
    return _model(
        knows=columns, secret="membership: whether the patient was among the generator's training patients",
        success="ROC AUC of minus the distance from the patient to the closest replica record",
        reference="control patients (AUC 0.5 = no leak)",
        targets="every training patient (members) and every control patient (non-members)")
