"""The release gate: screen and measure a replica's risk, apply the policy, then bundle it or refuse.

Two stages, in this order:

1. the **full-set screen** (:mod:`privacy.risk.copies`): training and control must be
   disjoint, and no replica patient may copy a real patient the data team holds
   (training, control, any other real set given). It looks at every row, so it cannot be
   walked past by placing copies where a sample does not look. A replica that fails it is
   refused at once: measuring how much a set of real people "leaks" would be meaningless;
2. the **measures** of what the replica leaks: membership attacks on the full sets
   (:mod:`privacy.risk.membership`: cell frequency, density ratio, distance to the closest
   record) and the sampled measures (:mod:`privacy.risk.measure`: Anonymeter, distances,
   uniqueness), on subsamples drawn under a secret seed derived from the signing key and
   the inputs' digests (an Ed25519 signature is deterministic): whoever made the replica
   cannot predict where the gate looks, and the same inputs and key give the same bundle.

Every estimated figure has a 95% confidence interval; under the policy's
``decisions.use_upper_ci`` (the default) a check passes only if its whole interval is
within the limit. A refusal writes nothing and names every failed check with its value,
its interval when that decided, and the limit.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Sequence

from harmonie.errors import HarmonieError
from harmonie.io import sha256_file
from harmonie.progress import stage
from privacy.release.bundle import write_bundle
from privacy.release.policy import (
    DEFAULT_POLICY,
    copy_tolerance,
    load_policy,
    measure_checks,
    membership_settings,
    screen_checks,
)
from privacy.release.remediation import remediate as remediate_replica
from privacy.risk.copies import overlap, prepare, screen_copies
from privacy.risk.measure import measure_risk
from privacy.risk.membership import membership_metrics
from privacy.risk.report import write_risk_report
from synth.dataset import differential_privacy_of, read_dataset, read_provenance, write_dataset

SEED_CONTEXT = b"harmonie release measurement seed/1\n"


class ReleaseRefused(HarmonieError):
    """The replica fails the release policy; ``risk`` and ``checks`` hold what was measured."""

    def __init__(self, message: str, risk: dict, checks: list[dict]):
        super().__init__(message)
        self.risk, self.checks = risk, checks


def _failure(check: dict) -> str:
    if check["status"] == "amber":  # the estimate passes; the end of the CI the policy decides on does not
        end = "upper" if check["rule"] == "≤" else "lower"
        return (f"{check['name']} = {check['value']:g}, 95% CI [{check['ci'][0]:g}, {check['ci'][1]:g}]: {end} end "
                f"beyond the limit {check['rule']} {check['threshold']:g}")
    return f"{check['name']} = {check['value']:g} (limit {check['rule']} {check['threshold']:g})"


def _failures(checks: list[dict]) -> str:
    return "; ".join(_failure(c) for c in checks if not c["passed"])


def secret_seed(signing_key, inputs_sha256: dict) -> int:
    """A measurement seed nobody without the signing key can predict, the same for the same inputs and key."""
    message = SEED_CONTEXT + json.dumps(inputs_sha256, sort_keys=True).encode()
    digest = hashlib.sha256(signing_key.sign(message)).digest()
    return int.from_bytes(digest[:4], "big") >> 1  # 31 bits: numpy's legacy seeds (seed + i) stop at 2**32


def fresh_seed() -> int:
    """A measurement seed for a one-off risk report, when no signing key ties it to the inputs."""
    return secrets.randbits(31)


def assess(real: dict, synthetic: dict, control: dict, policy: dict, *, seed: int,
           also_real: dict[str, dict] | None = None) -> tuple[dict, list[dict]]:
    """Screen, then (if the screen passes) measure; return the risk document and the policy's checks.

    ``also_real`` names further real datasets (``{name: dataset}``) the replica must not copy.
    """
    tolerance = copy_tolerance(policy)
    with stage("risk: screen every replica patient against every real patient"):
        train, control_set = prepare("training", real, tolerance), prepare("control", control, tolerance)
        others = [prepare(name, data, tolerance) for name, data in (also_real or {}).items()]
        replica = prepare("replica", synthetic, tolerance)
        screen = screen_copies(replica, [train, control_set, *others], tolerance)
        screen["training_control_overlap"] = overlap(train, control_set)
    risk = {"screen": screen, "seed": seed}
    checks = screen_checks(screen, policy)
    if not all(c["passed"] for c in checks):
        risk["measured"] = False  # a replica holding real people is refused before any sampled measure
        return risk, checks
    m = policy["measurement"]
    tables = {"train": train.attack, "synthetic": replica.attack, "control": control_set.attack}
    risk.update(measure_risk(tables, n_attacks=m["n_attacks"], attack_targets=m["attack_targets"],
                             max_rows=m["max_rows"], seed=seed), measured=True)
    with stage("risk: membership attacks on the full sets"):
        risk["membership"] = membership_metrics(train.attack, replica.attack, control_set.attack,
                                                membership_settings(policy), seed=seed)
    return risk, checks + measure_checks(risk, policy)


def _inputs(**folders: Path) -> dict:
    return {role: {p.name: sha256_file(p) for p in sorted(Path(folder).glob("*.parquet"))}
            for role, folder in folders.items()}


def _other_real_sets(also_real: Sequence[Path], roles: dict[str, Path]) -> dict[str, Path]:
    """``also_real`` under names for the report; refuses any folder given in two roles."""
    named = {f"other_real_{i}": Path(folder) for i, folder in enumerate(also_real, start=1)}
    seen: dict[Path, str] = {}
    for role, folder in {**roles, **named}.items():
        resolved = Path(folder).resolve()
        if resolved in seen:
            raise HarmonieError(f"the {role} and {seen[resolved]} sets are the same folder ({folder}); the gate "
                                "needs the replica, training and control sets apart")
        seen[resolved] = role
    return named


def release(synthetic_dir: Path, real_dir: Path, control_dir: Path, out_dir: Path, *, signing_key,
            policy_path: Path | None = None, remediate: bool = False, also_real: Sequence[Path] = ()) -> dict:
    """Write a signed bundle to ``out_dir`` and return its manifest, or raise :class:`ReleaseRefused`.

    ``also_real`` lists folders of further real datasets (same schema) that no replica patient may copy.
    """
    from synth.report import build_utility_report

    out_dir = Path(out_dir)
    if out_dir.exists():
        raise HarmonieError(f"{out_dir} already exists; a release bundle is never overwritten")
    others = _other_real_sets(also_real, {"replica": synthetic_dir, "training": real_dir, "control": control_dir})
    policy, policy_sha256 = load_policy(policy_path)
    policy_text = Path(policy_path).read_text(encoding="utf-8") if policy_path else DEFAULT_POLICY
    inputs = _inputs(real=real_dir, control=control_dir, synthetic=synthetic_dir, **others)
    seed = secret_seed(signing_key, {"inputs": inputs, "policy_sha256": policy_sha256})
    real, synthetic, control = read_dataset(real_dir), read_dataset(synthetic_dir), read_dataset(control_dir)
    other_data = {name: read_dataset(folder) for name, folder in others.items()}
    risk, checks = assess(real, synthetic, control, policy, seed=seed, also_real=other_data)
    before, remediation = None, None
    if remediate and not all(c["passed"] for c in checks) and risk["screen"]["training_control_overlap"] == {
            "by_id": 0, "by_content": 0}:
        with stage("remediate the replica"):
            synthetic, remediation = remediate_replica(synthetic, real, copied=risk["screen"]["_copied"])
        before = {"checks": checks, "remediation": remediation["description"], "counts": remediation}
        risk, checks = assess(real, synthetic, control, policy, seed=seed, also_real=other_data)
    if not all(c["passed"] for c in checks):
        raise ReleaseRefused(f"release refused by the policy: {_failures(checks)}"
                             + (" (after remediation)" if before else ""), risk, checks)

    provenance = read_provenance(synthetic_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent if out_dir.parent.exists()
                                    else None))
    try:
        write_dataset(synthetic, staging / "synthetic",
                      metadata={f"harmonie.{k}": json.dumps(v, sort_keys=True)
                                for k, v in provenance.items()})
        with stage("utility report"):
            utility = build_utility_report(real, synthetic, staging / "utility", control=control, seed=seed,
                                           min_cell=policy["disclosure"]["min_cell"],
                                           differential_privacy=differential_privacy_of(provenance))
        risk_document = write_risk_report(risk, checks, policy, staging / "risk", before=before)
        manifest = {
            "verdict": "released", "policy_sha256": policy_sha256,
            "risk": {"checks": risk_document["checks"], "sizes": risk_document["sizes"]},
            "utility": {"verdict": utility["verdict"],
                        "failed_checks": [c["name"] for c in utility["checks"] if not c["passed"]]},
            "remediation": remediation, "replica": provenance.get("replica"), "lineage": provenance.get("lineage"),
            "seeds": {"risk_and_utility": seed, "how": "derived from the signing key and the inputs' SHA-256"},
            "inputs_sha256": inputs,
            "versions": {name: version(name) for name in ("harmonie", "sdv", "anonymeter", "cryptography")},
        }
        write_bundle(out_dir, contents={name: staging / name for name in ("synthetic", "utility", "risk")},
                     policy_text=policy_text, manifest=manifest, signing_key=signing_key)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
