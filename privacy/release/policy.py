"""The release policy: thresholds a replica's risk figures must meet before it may leave.

A policy is a TOML file; any key left out takes the default below, an unknown key is an
error (a typo must never silently loosen the gate). ``harmonie release policy`` prints the
defaults with their reasons.

Each check has a status: *pass*, *amber* (the estimate passes but its 95% confidence
interval crosses the limit: the data cannot show the risk is below it) or *fail*. Under
``decisions.use_upper_ci`` (the default) an amber check refuses the release; without it the
estimate decides and amber is a warning in the report.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from harmonie.errors import HarmonieError
from harmonie.io import read_settings_text

DEFAULT_POLICY = """\
# Harmonie release policy (defaults). Risks are Anonymeter's: the attacker's success on the
# patients the generator learned from, beyond its success on control patients it never saw
# (0 = the replica tells nothing about its training patients; 1 = every attack succeeds).
# Every estimated figure carries its 95% confidence interval; see [decisions] for which end
# of it is compared with the limit.

[decisions]
use_upper_ci = true  # a check passes only if the whole 95% CI is on the right side of its limit (the upper end
                     # for a maximum). false: the estimate decides, and a check whose CI crosses the limit passes
                     # marked amber. Either way the report shows amber "passes on the estimate, the CI crosses".

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
max_replicated_uniques_excess = 0.05 # training patients unique on sex/age/departement/diagnosis date that the
                                     # replica reproduces, beyond the rate for control patients; on the finest of
                                     # exact / (5-year age band, diagnosis year) / (age band, no date) where not
                                     # every patient is unique (on exact dates every patient is, and it reads 0).
                                     # On the coarse columns chance alone reproduces about a third of unique
                                     # patients: the excess of a generator that does not memorise is noise of a few
                                     # points (0.01 was set for exact dates); a copying one is far above (0.66)
min_k = 0                            # k-anonymity of the replica, on the same kind of ladder (0 = report only:
                                     # synthetic records are not people)

[membership]
# Membership inference on the full training (members) and control (non-members) sets: ROC AUC of each attack's
# score, 0.5 = members and non-members look alike to the attacker.
cell_frequency_auc = 0.55    # the attacker knows the columns below and compares the replica's count in the
                             # patient's cell with the count the population shares predict (the generator fits
                             # one model per cancer x subtype x stage, and each can echo its patients' cells)
density_ratio_auc = 0.55     # DOMIAS: the replica's density at the patient over a reference population's
nearest_neighbour_auc = 0.55 # distance from the patient to the closest replica record
cell_quasi_identifiers = ["cancer_type", "subtype", "stage", "departement"]
max_targets = 20000          # members and non-members scored per side; a larger side is sampled, stratified by
                             # cancer, under the secret seed (20,000 a side: a CI half-width about 0.006)
max_replica_rows = 50000     # replica records the density and distance attacks search (the cell counts use all)

[disclosure]
min_cell = 11   # no count of 1 to min_cell - 1 real patients, and no single patient's value, in anything written
                # from real data (utility and risk reports, figures): the SNDS rule for outputs leaving the secure area

[measurement]
min_patients = 1000 # fewer training or control patients than this and the risks cannot be measured precisely
                    # enough to show they are low: the gate refuses
n_attacks = 5000   # singling-out predicates (more = narrower CIs)
attack_targets = 10000 # linkability and inference targets per side (training, control): every patient when there
                       # are fewer, since a target's success needs no equal sizes (the control side sets the CI)
max_rows = 20000   # subsample per set (training, replica, control) on large data; drawn under a secret
                   # seed derived from the signing key and the inputs, so where the gate looks cannot be
                   # predicted by whoever made the replica, yet a rerun on the same inputs is identical
"""

ON_ESTIMATES_HEADER = """\
# FOR SIMULATED DATA AND DEMONSTRATIONS ONLY: the default policy below with
# [decisions] use_upper_ci = false, so each check is decided on its estimate and a check whose
# 95% CI crosses its limit passes marked amber (`harmonie demo`, the README tour). At a few
# thousand patients the upper ends of some CIs cannot get under their limits whatever the
# replica. A real release keeps use_upper_ci = true and needs control sets large enough to
# bound each risk (the risk report says how many control patients would make a check conclusive).
"""


def policy_on_estimates() -> str:
    """The default policy decided on the estimates (``use_upper_ci = false``): for simulated data only.

    ``harmonie release policy --on-estimates`` prints it and ``harmonie demo`` applies it; one text for both.
    """
    text, count = re.subn(r"(?m)^use_upper_ci = true", "use_upper_ci = false", DEFAULT_POLICY)
    if count != 1:
        raise HarmonieError("the default release policy has no use_upper_ci line to switch off")
    return ON_ESTIMATES_HEADER + text


class ColumnList:
    """The type of a policy value that is a non-empty list of column names."""


_KEYS = {
    "decisions": {"use_upper_ci": bool},
    "copies": {"max_exact_copies": int, "max_patient_row_copies": int, "max_near_copies": int,
               "max_trajectory_copies": int, "date_tolerance_days": int, "age_tolerance_years": int,
               "count_tolerance": int, "min_trajectory_events": int},
    "anonymeter": {"singling_out": float, "linkability": float, "inference": float},
    "distances": {"max_dcr_share_closer_to_train": float},
    "uniqueness": {"max_replicated_uniques_excess": float, "min_k": int},
    "membership": {"cell_frequency_auc": float, "density_ratio_auc": float, "nearest_neighbour_auc": float,
                   "cell_quasi_identifiers": ColumnList, "max_targets": int, "max_replica_rows": int},
    "disclosure": {"min_cell": int},
    "measurement": {"min_patients": int, "n_attacks": int, "attack_targets": int, "max_rows": int},
}


# the range each number may take: a policy outside it cannot be measured (0 attacks, 0 rows) or means
# nothing (a risk above 1, an AUC below chance), so it is refused with the range, never used
_SHARE, _AUC = (0.0, 1.0), (0.5, 1.0)
_RANGES = {
    "copies": {"max_exact_copies": (0, 10**9), "max_patient_row_copies": (0, 10**9), "max_near_copies": (0, 10**9),
               "max_trajectory_copies": (0, 10**9), "date_tolerance_days": (0, 366), "age_tolerance_years": (0, 20),
               "count_tolerance": (0, 1000), "min_trajectory_events": (1, 10_000)},
    "anonymeter": {"singling_out": _SHARE, "linkability": _SHARE, "inference": _SHARE},
    "distances": {"max_dcr_share_closer_to_train": _SHARE},
    "uniqueness": {"max_replicated_uniques_excess": _SHARE, "min_k": (0, 10**6)},
    "membership": {"cell_frequency_auc": _AUC, "density_ratio_auc": _AUC, "nearest_neighbour_auc": _AUC,
                   "max_targets": (100, 10**7), "max_replica_rows": (100, 10**8)},
    "disclosure": {"min_cell": (1, 10_000)},
    "measurement": {"min_patients": (1, 10**8), "n_attacks": (100, 10**6), "attack_targets": (100, 10**7),
                    "max_rows": (100, 10**8)},
}
MAX_POLICY_BYTES = 1 << 20


def _value(where: str, kind, value, bounds: tuple | None = None):
    """``value`` checked against its key's type and range: a typo, a wrong type or a value out of range is an
    error, never a silent default."""
    if kind is bool:
        if not isinstance(value, bool):
            raise HarmonieError(f"{where} must be true or false")
        return value
    if kind is ColumnList:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise HarmonieError(f"{where} must be a non-empty list of column names")
        return list(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise HarmonieError(f"{where} must be {'an integer' if kind is int else 'a number'}")
    import math

    if not math.isfinite(value):
        raise HarmonieError(f"{where} must be a finite number")
    if value < 0:
        raise HarmonieError(f"{where} must not be negative")
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        low, high = (f"{b:,}" if isinstance(b, int) else f"{b:g}" for b in bounds)
        raise HarmonieError(f"{where} must be between {low} and {high} (got {value:,})"
                            if abs(value) < 1e15 else f"{where} must be between {low} and {high}")
    return kind(value)


def _merge(text: str, source: str) -> dict:
    if len(text) > MAX_POLICY_BYTES:
        raise HarmonieError(f"{source} is over {MAX_POLICY_BYTES >> 20} MiB: a policy is a few lines")
    try:
        given = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HarmonieError(f"{source} is not valid TOML: {exc}") from None
    except RecursionError:
        raise HarmonieError(f"{source} nests arrays or tables too deeply: a policy is sections of keys") from None
    policy = tomllib.loads(DEFAULT_POLICY)
    for section, values in given.items():
        if section not in _KEYS or not isinstance(values, dict):
            raise HarmonieError(f"{source}: unknown section [{section}] (known: {', '.join(_KEYS)})")
        for key, value in values.items():
            kind = _KEYS[section].get(key)
            if kind is None:
                raise HarmonieError(f"{source}: unknown key {section}.{key} "
                                    f"(known: {', '.join(_KEYS[section])})")
            policy[section][key] = _value(f"{source}: {section}.{key}", kind, value, _RANGES.get(section, {}).get(key))
    try:
        membership_settings(policy)
    except HarmonieError as exc:
        raise HarmonieError(f"{source}: {exc}") from None
    return policy


def load_policy(path: str | Path | None) -> tuple[dict, str]:
    """The policy (defaults merged with the file) and the SHA-256 of the text it came from."""
    if path is None:
        return _merge("", "default policy"), hashlib.sha256(DEFAULT_POLICY.encode()).hexdigest()
    text = read_settings_text(path, "policy file", limit=MAX_POLICY_BYTES)
    return _merge(text, str(path)), hashlib.sha256(text.encode()).hexdigest()


def _check(name: str, what: str, value, threshold, rule: str = "≤", *, ci=None, policy: dict | None = None,
           degenerate: str | None = None) -> dict:
    """One check: ``status`` pass / amber (the estimate passes, its CI crosses the limit) / fail, and ``passed``.

    With a CI and the policy's ``decisions.use_upper_ci``, the end of the CI on the limit's
    side (the upper end for a maximum) must pass too, so an amber check refuses the release;
    otherwise the estimate decides and an amber check passes, flagged.
    """
    def meets(x) -> bool:
        return bool(x >= threshold if rule == "≥" else x <= threshold)

    bound = None if ci is None else (ci[0] if rule == "≥" else ci[1])
    on_estimate, on_bound = meets(value), bound is None or meets(bound)
    use_ci = bool(policy and policy["decisions"]["use_upper_ci"]) and bound is not None
    status = "fail" if not on_estimate else "pass" if on_bound else "amber"
    check = {"name": name, "what": what, "value": value, "threshold": threshold, "rule": rule,
             "ci": None if ci is None else [float(v) for v in ci],
             "decided_on": ("value" if bound is None else "estimate" if not use_ci
                            else "lower_ci" if rule == "≥" else "upper_ci"),
             "status": status, "passed": on_estimate and (on_bound or not use_ci)}
    if degenerate:
        check["degenerate"] = degenerate
    return check


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


def membership_settings(policy: dict):
    """The policy's settings for the full-set membership attacks."""
    from privacy.risk.membership import MembershipSettings

    m = policy["membership"]
    return MembershipSettings(quasi_identifiers=tuple(m["cell_quasi_identifiers"]), max_targets=m["max_targets"],
                              max_replica_rows=m["max_replica_rows"])


def measure_checks(risk: dict, policy: dict) -> list[dict]:
    """The checks of the sampled measures and the membership attacks, in report order."""
    a, d, u, m = policy["anonymeter"], policy["distances"], policy["uniqueness"], policy["membership"]
    used = risk["sizes"]["used"]

    def check(name, what, figures, threshold, rule="≤", value_key="risk", ci_key="ci", **extra):
        return _check(name, what, figures[value_key], threshold, rule, ci=figures.get(ci_key), policy=policy, **extra)

    checks = [_check("enough_patients", "patients per set the risks were measured on (training, control)",
                     min(used["train"], used["control"]), policy["measurement"]["min_patients"], "≥")]
    checks += [check(f"singling_out_{mode}", f"singling out ({mode})", risk["singling_out"][mode], a["singling_out"])
               for mode in ("univariate", "multivariate")]
    checks.append(check("linkability", "linkability (registry facts <-> hospital facts)", risk["linkability"],
                        a["linkability"]))
    checks += [check(f"inference_{secret}", f"inference of {secret}", r, a["inference"])
               for secret, r in risk["inference"].items()]
    checks.append(check("dcr_closer_to_train", "share of synthetic records closer to training than control",
                        risk["distances"], d["max_dcr_share_closer_to_train"], value_key="dcr_share_closer_to_train",
                        ci_key="dcr_share_closer_to_train_ci"))
    replicated = risk["uniqueness"]["replicated_uniques"]
    checks.append(check("replicated_uniques", "excess share of unique training patients reproduced (on "
                        + ", ".join(replicated["quasi_identifiers"]) + ")", replicated,
                        u["max_replicated_uniques_excess"], value_key="excess_share",
                        degenerate=replicated["degenerate"]))
    if u["min_k"] > 0:
        k = risk["uniqueness"]["k_anonymity"]
        checks.append(_check("k_anonymity", "smallest group sharing " + ", ".join(k["quasi_identifiers"]),
                             k["min_k"], u["min_k"], "≥", policy=policy, degenerate=k["degenerate"]))
    membership = risk["membership"]
    for attack, what in (("cell_frequency", "membership AUC, cell frequency on "
                          + ", ".join(membership["cell_frequency"]["quasi_identifiers"])),
                         ("density_ratio", "membership AUC, density ratio (DOMIAS)"),
                         ("nearest_neighbour", "membership AUC, distance to the closest replica record")):
        checks.append(check(f"membership_{attack}", what, membership[attack], m[f"{attack}_auc"], value_key="auc"))
    return checks
