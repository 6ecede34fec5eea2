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

[anonymeter]
singling_out = 0.05   # max risk of isolating one training patient from the replica (uni- and multivariate)
linkability = 0.05    # max risk of linking a patient's registry facts to their hospital facts through the replica
inference = 0.10      # max risk of inferring stage, death or subtype of a training patient from the others

[distances]
max_exact_copy_share = 0.0           # no synthetic record may equal a training record on every attack column
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
max_rows = 20000   # seeded subsample per set (training, replica, control) on large data
seed = 0
"""

_KEYS = {
    "anonymeter": {"singling_out": float, "linkability": float, "inference": float},
    "distances": {"max_exact_copy_share": float, "max_dcr_share_closer_to_train": float},
    "uniqueness": {"max_replicated_uniques_excess": float, "min_k": int},
    "measurement": {"min_patients": int, "n_attacks": int, "max_rows": int, "seed": int},
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
                raise HarmonieError(f"{source}: {section}.{key} must be a {kind.__name__}, got {value!r}")
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


def apply_policy(risk: dict, policy: dict) -> list[dict]:
    """One check per gated figure, in report order."""
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
    checks.append(_check("exact_copies", "share of synthetic records copying a training record",
                         risk["distances"]["exact_copies"]["share_of_synthetic"], d["max_exact_copy_share"]))
    checks.append(_check("dcr_closer_to_train", "share of synthetic records closer to training than control",
                         risk["distances"]["dcr_share_closer_to_train"], d["max_dcr_share_closer_to_train"]))
    checks.append(_check("replicated_uniques", "excess share of unique training patients reproduced",
                         risk["uniqueness"]["replicated_uniques"]["excess_share"], u["max_replicated_uniques_excess"]))
    if u["min_k"] > 0:
        checks.append(_check("k_anonymity", "smallest group sharing coarse quasi-identifiers",
                             risk["uniqueness"]["k_anonymity"]["min_k"], u["min_k"], "≥"))
    return checks
