"""The release gate: measure a replica's risk, apply the policy, then bundle it or refuse.

A refusal writes nothing and names every failed check with its value and limit.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

from harmonie.errors import HarmonieError
from harmonie.io import sha256_file
from harmonie.progress import stage
from privacy.release.bundle import write_bundle
from privacy.release.policy import DEFAULT_POLICY, apply_policy, load_policy
from privacy.release.remediation import remediate as remediate_replica
from privacy.risk.measure import measure_risk
from privacy.risk.report import write_risk_report
from synth.dataset import read_dataset, read_provenance, write_dataset


class ReleaseRefused(HarmonieError):
    """The replica fails the release policy; ``risk`` and ``checks`` hold what was measured."""

    def __init__(self, message: str, risk: dict, checks: list[dict]):
        super().__init__(message)
        self.risk, self.checks = risk, checks


def _failures(checks: list[dict]) -> str:
    return "; ".join(f"{c['name']} = {c['value']:g} (limit {c['rule']} {c['threshold']:g})"
                     for c in checks if not c["passed"])


def assess(real: dict, synthetic: dict, control: dict, policy: dict) -> tuple[dict, list[dict]]:
    m = policy["measurement"]
    risk = measure_risk(real, synthetic, control, n_attacks=m["n_attacks"], max_rows=m["max_rows"], seed=m["seed"])
    return risk, apply_policy(risk, policy)


def _inputs(**folders: Path) -> dict:
    return {role: {p.name: sha256_file(p) for p in sorted(Path(folder).glob("*.parquet"))}
            for role, folder in folders.items()}


def release(synthetic_dir: Path, real_dir: Path, control_dir: Path, out_dir: Path, *, signing_key,
            policy_path: Path | None = None, remediate: bool = False) -> dict:
    """Write a signed bundle to ``out_dir`` and return its manifest, or raise :class:`ReleaseRefused`."""
    from synth.report import build_utility_report

    out_dir = Path(out_dir)
    if out_dir.exists():
        raise HarmonieError(f"{out_dir} already exists; a release bundle is never overwritten")
    policy, policy_sha256 = load_policy(policy_path)
    policy_text = Path(policy_path).read_text(encoding="utf-8") if policy_path else DEFAULT_POLICY
    real, synthetic, control = read_dataset(real_dir), read_dataset(synthetic_dir), read_dataset(control_dir)
    risk, checks = assess(real, synthetic, control, policy)
    before, remediation = None, None
    if remediate and not all(c["passed"] for c in checks):
        with stage("remediate the replica"):
            synthetic, remediation = remediate_replica(synthetic, real)
        before = {"checks": checks, "remediation": remediation["description"], "counts": remediation}
        risk, checks = assess(real, synthetic, control, policy)
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
            utility = build_utility_report(real, synthetic, staging / "utility", control=control,
                                           seed=policy["measurement"]["seed"])
        risk_document = write_risk_report(risk, checks, policy, staging / "risk", before=before)
        manifest = {
            "verdict": "released", "policy_sha256": policy_sha256,
            "risk": {"checks": risk_document["checks"], "sizes": risk_document["sizes"]},
            "utility": {"verdict": utility["verdict"],
                        "failed_checks": [c["name"] for c in utility["checks"] if not c["passed"]]},
            "remediation": remediation, "replica": provenance.get("replica"), "lineage": provenance.get("lineage"),
            "seeds": {"risk_and_utility": policy["measurement"]["seed"]},
            "inputs_sha256": _inputs(real=real_dir, control=control_dir, synthetic=synthetic_dir),
            "versions": {name: version(name) for name in ("harmonie", "sdv", "anonymeter", "cryptography")},
        }
        write_bundle(out_dir, contents={name: staging / name for name in ("synthetic", "utility", "risk")},
                     policy_text=policy_text, manifest=manifest, signing_key=signing_key)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
