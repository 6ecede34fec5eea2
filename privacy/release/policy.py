"""The release policy: thresholds a replica's risk figures must meet before it may leave.

A policy is a TOML file; any key left out takes the default below, an unknown key is an
error (a typo must never silently loosen the gate). ``harmonie release policy`` prints the
defaults with their reasons.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

from harmonie.errors import HarmonieError

DEFAULT_POLICY = """\
# Harmonie release policy (defaults). Risks are Anonymeter's: the attacker's success on the
# patients the generator learned from, beyond its success on control patients it never saw
# (0 = the replica tells nothing about its training patients; 1 = every attack succeeds).
# Each is compared on its point estimate; the report shows the 95% confidence interval.

[copies]
# The replica must hold no real person. Screened on the full sets: every replica patient
# against every training, control and other real patient the gate is given (never a sample).
max_exact_copies = 0        # replica patients equal to a real patient on every attack column
max_patient_row_copies = 0  # replica patients whose patient-table row equals a real patient's
max_near_copies = 0         # equal on every category, every number within the tolerances below
max_trajectory_copies = 0   # replica patients carrying a real patient's (unique, long) care trajectory
date_tolerance_days = 3     # a date shifted by up to this many days still counts as a copy
age_tolerance_years = 1
count_tolerance = 1         # stays, dispensings, chemotherapy sessions
min_trajectory_events = 5   # shorter care trajectories recur by chance and are not screened

[anonymeter]
singling_out = 0.05   # max risk of isolating one training patient from the replica (uni- and multivariate)
linkability = 0.05    # max risk of linking a patient's registry facts to their hospital facts through the replica
inference = 0.10      # max risk of inferring stage, death or subtype of a training patient from the others

[distances]
max_dcr_share_closer_to_train = 0.55 # ~0.50 when the generator does not copy (equal-sized training and control)

[uniqueness]
max_replicated_uniques_excess = 0.01 # training patients unique on sex/age/departement/diagnosis date that the
                                     # replica reproduces, beyond the rate for control patients
min_k = 0                            # k-anonymity of the replica on sex, 5-year age band, departement and diagnosis
                                     # year (0 = report only: synthetic records are not people)

[measurement]
min_patients = 1000 # fewer training or control patients than this and the risks cannot be measured precisely
                    # enough to show they are low: the gate refuses
n_attacks = 2000   # Anonymeter attacks per measure (more = narrower confidence intervals)
max_rows = 20000   # subsample per set (training, replica, control) on large data; drawn under a secret
                   # seed derived from the signing key and the inputs, so where the gate looks cannot be
                   # predicted by whoever made the replica, yet a rerun on the same inputs is identical
"""

_KEYS = {
    "copies": {"max_exact_copies": int, "max_patient_row_copies": int, "max_near_copies": int,
               "max_trajectory_copies": int, "date_tolerance_days": int, "age_tolerance_years": int,
               "count_tolerance": int, "min_trajectory_events": int},
    "anonymeter": {"singling_out": float, "linkability": float, "inference": float},
    "distances": {"max_dcr_share_closer_to_train": float},
    "uniqueness": {"max_replicated_uniques_excess": float, "min_k": int},
    "measurement": {"min_patients": int, "n_attacks": int, "max_rows": int},
}


def _merge(text: str, source: str) -> dict:
    try:
        given = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HarmonieError(f"{source} is not valid TOML: {exc}") from None
    policy = tomllib.loads(DEFAULT_POLICY)
    for section, values in given.items():
        if section not in _KEYS or not isinstance(values, dict):
            raise HarmonieError(f"{source}: unknown section [{section}] (known: {', '.join(_KEYS)})")
        for key, value in values.items():
            kind = _KEYS[section].get(key)
            if kind is None:
                raise HarmonieError(f"{source}: unknown key {section}.{key} "
                                    f"(known: {', '.join(_KEYS[section])})")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and
                                                                                  not isinstance(value, int)):
                raise HarmonieError(f"{source}: {section}.{key} must be {'an integer' if kind is int else 'a number'}")
            if value < 0:
                raise HarmonieError(f"{source}: {section}.{key} must not be negative")
            policy[section][key] = kind(value)
    return policy


def load_policy(path: str | Path | None) -> tuple[dict, str]:
    """The policy (defaults merged with the file) and the SHA-256 of the text it came from."""
    if path is None:
        return _merge("", "default policy"), hashlib.sha256(DEFAULT_POLICY.encode()).hexdigest()
    path = Path(path)
    if not path.is_file():
        raise HarmonieError(f"policy file {path} not found")
    text = path.read_text(encoding="utf-8")
    return _merge(text, str(path)), hashlib.sha256(text.encode()).hexdigest()


def _check(name: str, what: str, value, threshold, rule: str = "≤") -> dict:
    ok = value >= threshold if rule == "≥" else value <= threshold
    return {"name": name, "what": what, "value": value, "threshold": threshold, "rule": rule, "passed": bool(ok)}


def copy_tolerance(policy: dict):
    """The policy's tolerances for the full-set copy screen."""
    from privacy.risk.copies import CopyTolerance

    c = policy["copies"]
    return CopyTolerance(days=c["date_tolerance_days"], age_years=c["age_tolerance_years"], counts=c["count_tolerance"],
                         min_trajectory_events=c["min_trajectory_events"])


def screen_checks(screen: dict, policy: dict) -> list[dict]:
    """The checks of the full-set screen: training and control disjoint, no real patient in the replica."""
    c = policy["copies"]
    shared = screen["training_control_overlap"]
    copies = screen["copies"]
    return [
        _check("control_disjoint_from_training", "patients found in both the training and the control set (by id or "
               "by content): the control set must hold patients the generator never saw",
               max(shared["by_id"], shared["by_content"]), 0),
        _check("exact_copies", "replica patients equal to a real patient (training, control or other real set) on "
               "every attack column", copies["exact"], c["max_exact_copies"]),
        _check("patient_row_copies", "replica patients whose patient-table row equals a real patient's",
               copies["patient_row"], c["max_patient_row_copies"]),
        _check("near_copies", "replica patients equal to a real patient on every category and within the "
               "tolerances on every number and date", copies["near"], c["max_near_copies"]),
        _check("trajectory_copies", "replica patients carrying a real patient's unique care trajectory",
               copies["trajectory"], c["max_trajectory_copies"]),
    ]


def measure_checks(risk: dict, policy: dict) -> list[dict]:
    """The checks of the sampled measures (Anonymeter, distances, uniqueness), in report order."""
    a, d, u = policy["anonymeter"], policy["distances"], policy["uniqueness"]
    used = risk["sizes"]["used"]
    checks = [_check("enough_patients", "patients per set the risks were measured on (training, control)",
                     min(used["train"], used["control"]), policy["measurement"]["min_patients"], "≥")]
    checks += [
        _check(f"singling_out_{mode}", f"singling out ({mode})", risk["singling_out"][mode]["risk"], a["singling_out"])
        for mode in ("univariate", "multivariate")]
    checks.append(_check("linkability", "linkability (registry facts <-> hospital facts)",
                         risk["linkability"]["risk"], a["linkability"]))
    checks += [_check(f"inference_{secret}", f"inference of {secret}", r["risk"], a["inference"])
               for secret, r in risk["inference"].items()]
    checks.append(_check("dcr_closer_to_train", "share of synthetic records closer to training than control",
                         risk["distances"]["dcr_share_closer_to_train"], d["max_dcr_share_closer_to_train"]))
    checks.append(_check("replicated_uniques", "excess share of unique training patients reproduced",
                         risk["uniqueness"]["replicated_uniques"]["excess_share"], u["max_replicated_uniques_excess"]))
    if u["min_k"] > 0:
        checks.append(_check("k_anonymity", "smallest group sharing coarse quasi-identifiers",
                             risk["uniqueness"]["k_anonymity"]["min_k"], u["min_k"], "≥"))
    return checks
