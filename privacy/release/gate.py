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
within the limit. A refusal names every failed check with its value, its interval when that
decided, and the limit, and what would change the verdict (:func:`what_would_change`); with
``refusal_reports`` (the command line) it also writes the refused replica's risk and utility
reports to ``OUT/refused/`` (:func:`write_refusal`): no bundle, no replica, no signature,
nothing that looks like a release, and reports under the same small-cell rule as a bundle's.

``OUT`` follows the output policy of every command (:mod:`harmonie.output_set`): absent or
empty, or ``overwrite`` (then replaced whole); a signed bundle is never replaced, not even
with ``overwrite``.
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
    """The replica fails the release policy; ``risk`` and ``checks`` hold what was measured, ``changes`` one line
    per failed check saying what would change the verdict, ``reports`` the refusal's folder when written."""

    def __init__(self, message: str, risk: dict, checks: list[dict], changes: list[str] | None = None,
                 reports: Path | None = None):
        super().__init__(message)
        self.risk, self.checks = risk, checks
        self.changes, self.reports = changes or [], reports


REFUSED = "refused"
_POLICY_KEYS = {  # the policy key that sets each check's limit
    "exact_copies": "[copies] max_exact_copies", "patient_row_copies": "[copies] max_patient_row_copies",
    "near_copies": "[copies] max_near_copies", "trajectory_copies": "[copies] max_trajectory_copies",
    "enough_patients": "[measurement] min_patients", "singling_out_univariate": "[anonymeter] singling_out",
    "singling_out_multivariate": "[anonymeter] singling_out", "linkability": "[anonymeter] linkability",
    "dcr_closer_to_train": "[distances] max_dcr_share_closer_to_train",
    "replicated_uniques": "[uniqueness] max_replicated_uniques_excess", "k_anonymity": "[uniqueness] min_k",
    "membership_cell_frequency": "[membership] cell_frequency_auc",
    "membership_density_ratio": "[membership] density_ratio_auc",
    "membership_nearest_neighbour": "[membership] nearest_neighbour_auc",
}


def what_would_change(check: dict, *, remediated: bool, dp_epsilon: float | None) -> str:
    """For a failed check, the options Harmonie has that would change its verdict (one clause each)."""
    name = check["name"]
    key = _POLICY_KEYS.get(name, "[anonymeter] inference" if name.startswith("inference_") else None)
    limit = (f"{'lower' if check['rule'] == '≥' else 'raise'} the limit ({key} in a policy file: `harmonie "
             "release policy > policy.toml`, edit it, pass --policy)" if key else None)
    dp = (f"refit with a smaller --epsilon (this replica's is {dp_epsilon:g})" if dp_epsilon is not None else
          "refit with a differentially private patient table (`harmonie synth fit --generator mst --epsilon E`; a "
          "smaller E protects more)")
    remediate = None if remediated else "--remediate"
    if name == "control_disjoint_from_training":
        options = ["rebuild the analytic dataset (`harmonie synth analytic`) so no patient is in both training and "
                   "control, and give --control its control set"]
    elif name.endswith("_copies"):
        options = [(remediate + " (drops the copying replica patients)") if remediate else None,
                   "refit the replica (`harmonie synth fit` with another --seed or generator)", dp, limit]
    elif name == "enough_patients":
        options = ["measure on more patients: a larger cohort, or a larger `synth analytic --control-fraction` for "
                   "the control set", limit]
    elif check["status"] == "amber":
        options = ["narrow the interval: more control patients (a larger cohort or `synth analytic "
                   "--control-fraction`; risk.json gives how many), more attacks ([measurement] n_attacks)",
                   (remediate + " (coarsens age to 5-year bands and diagnosis dates to the month, drops replicated "
                    "uniques)") if remediate else None,
                   "decide on the estimate ([decisions] use_upper_ci = false in a policy file)", limit]
    else:
        options = [(remediate + " (coarsens age to 5-year bands and diagnosis dates to the month, drops replicated "
                    "uniques and copies)") if remediate else None, dp, limit]
    return "; or ".join(o for o in options if o)


def _changes(checks: list[dict], *, remediated: bool, dp_epsilon: float | None) -> list[str]:
    return [f"{_failure(c)}: {what_would_change(c, remediated=remediated, dp_epsilon=dp_epsilon)}"
            for c in checks if not c["passed"]]


def _is_bundle(folder: Path) -> bool:
    from privacy.release.bundle import MANIFEST, SIGNATURE, SIGNER

    return any((folder / name).exists() for name in (MANIFEST, SIGNATURE, SIGNER))


def check_release_output(out_dir: Path, *, overwrite: bool, inputs: dict | None = None) -> None:
    """Before any work: ``out_dir`` absent or empty, or ``overwrite`` (not a signed bundle: never replaced)."""
    from harmonie.output_set import check_output_folder, not_empty, output_files

    out_dir = Path(out_dir)
    if out_dir.is_dir() and _is_bundle(out_dir):
        raise HarmonieError(f"--out {out_dir} is a signed release bundle: a bundle is never overwritten, not even "
                            "with --overwrite; give another --out")
    if out_dir.is_dir() and not overwrite and (out_dir / REFUSED).is_dir():
        raise not_empty(out_dir, count=len(output_files(out_dir)), what=", the reports of a refused release")
    check_output_folder(out_dir, overwrite=overwrite, inputs=inputs)


def write_refusal(folder: Path, refused: ReleaseRefused, *, policy: dict, real: dict, synthetic: dict,
                  control: dict, seed: int, before: dict | None = None, differential_privacy=None) -> Path:
    """The refused replica's reports in ``folder`` (``risk/``, ``utility/``, ``refusal.json``, ``refusal.txt``):
    figures only, under the policy's small-cell rule, as in a bundle. No replica, no manifest, no signature.
    A replica the full-set screen found copying real patients gets no utility report: its synthetic side would
    show those patients' values."""
    from harmonie.io import ensure_output_dir, write_text
    from synth.report import build_utility_report

    folder = ensure_output_dir(folder)
    write_risk_report(refused.risk, refused.checks, policy, folder / "risk", before=before)
    utility = None
    if refused.risk.get("measured"):
        with stage("utility report of the refused replica"):
            utility = build_utility_report(real, synthetic, folder / "utility", control=control, seed=seed,
                                           min_cell=policy["disclosure"]["min_cell"],
                                           differential_privacy=differential_privacy)
    document = {
        "verdict": "refused", "refusal": str(refused),
        "failed_checks": [{k: c[k] for k in ("name", "what", "value", "ci", "rule", "threshold", "status")}
                          | {"what_would_change": change.split(": ", 1)[1] if ": " in change else change}
                          for c, change in zip([c for c in refused.checks if not c["passed"]], refused.changes)],
        "after_remediation": before is not None,
        "reports": {"risk": "risk/risk.html", **({"utility": "utility/utility.html"} if utility else {})},
        "utility_report": ("written" if utility else "not written: the full-set screen found replica patients "
                           "copying real patients, whose values a utility report would show"),
        "note": "a refused release: no replica, no bundle, no signature; nothing here may be released as a replica",
    }
    write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", folder / "refusal.json")
    write_text("\n".join(["release refused by the policy; what would change the verdict:",
                          *(f"- {line}" for line in refused.changes), ""]), folder / "refusal.txt")
    return folder


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
            policy_path: Path | None = None, remediate: bool = False, also_real: Sequence[Path] = (),
            overwrite: bool = False, refusal_reports: bool = False) -> dict:
    """Write a signed bundle to ``out_dir`` and return its manifest, or raise :class:`ReleaseRefused`.

    ``also_real`` lists folders of further real datasets (same schema) that no replica patient may copy.
    ``refusal_reports``: a refusal writes the refused replica's reports to ``out_dir/refused/`` (else nothing).
    ``overwrite``: an existing non-empty ``out_dir`` (never a signed bundle) is replaced whole.
    """
    from harmonie.io import ensure_output_dir
    from harmonie.output_set import NEW_INFIX, _beside, swap_in
    from synth.report import build_utility_report

    out_dir = Path(out_dir)
    check_release_output(out_dir, overwrite=overwrite, inputs={
        "--synthetic": synthetic_dir, "--real": real_dir, "--control": control_dir, "--policy": policy_path,
        **{f"--also-real {p}": p for p in also_real}})
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
    provenance = read_provenance(synthetic_dir)
    if not all(c["passed"] for c in checks):
        dp = differential_privacy_of(provenance)
        refused = ReleaseRefused(f"release refused by the policy: {_failures(checks)}"
                                 + (" (after remediation)" if before else ""), risk, checks,
                                 _changes(checks, remediated=before is not None,
                                          dp_epsilon=(dp or {}).get("epsilon")))
        if refusal_reports:
            new = _beside(ensure_output_dir(out_dir.parent), NEW_INFIX)
            try:
                write_refusal(new / REFUSED, refused, policy=policy, real=real, synthetic=synthetic, control=control,
                              seed=seed, before=before, differential_privacy=dp)
                swap_in(new, out_dir)
            finally:
                shutil.rmtree(new, ignore_errors=True)
            refused.reports = out_dir / REFUSED
        raise refused

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
        target = out_dir if not out_dir.exists() else _beside(out_dir, NEW_INFIX)  # an existing OUT: swapped whole
        write_bundle(target, contents={name: staging / name for name in ("synthetic", "utility", "risk")},
                     policy_text=policy_text, manifest=manifest, signing_key=signing_key)
        if target != out_dir:
            try:
                swap_in(target, out_dir)
            finally:
                shutil.rmtree(target, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
