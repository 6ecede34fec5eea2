"""The release bundle: the replica, its reports, the policy, and a signed manifest.

Layout::

    BUNDLE/synthetic/{patients,stays,dispensings}.parquet
    BUNDLE/utility/utility.{html,json}
    BUNDLE/risk/risk.{html,json}
    BUNDLE/policy.toml        the policy the gate applied
    BUNDLE/manifest.json      SHA-256 of every file above, versions, seeds, lineage, verdict
    BUNDLE/manifest.sig       Ed25519 signature of manifest.json (base64)
    BUNDLE/signer.pub         the signer's public key (pin it with --public-key to trust it)

The bundle is assembled in a hidden sibling folder and renamed into place, so a bundle
that exists is complete. :func:`verify_bundle` checks the signature, every hash, and that
no file was added or removed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from harmonie.errors import HarmonieError
from harmonie.io import sha256_file, write_text
from privacy.release.signing import (
    fingerprint,
    load_public_key,
    public_pem,
    sign,
    signature_valid,
)

FORMAT = "harmonie-release-bundle/1"
MANIFEST, SIGNATURE, SIGNER = "manifest.json", "manifest.sig", "signer.pub"


def _listing(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name not in (MANIFEST, SIGNATURE, SIGNER))
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in files}


def write_bundle(out_dir: str | Path, *, contents: dict[str, Path], policy_text: str, manifest: dict,
                 signing_key) -> Path:
    """Copy ``contents`` ({folder in bundle: source folder}) and the policy, sign, and move into place."""
    out = Path(out_dir)
    if out.exists():
        raise HarmonieError(f"{out} already exists; a release bundle is never overwritten")
    if not out.parent.exists():
        raise HarmonieError(f"the folder {out.parent} does not exist")
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        for name, source in contents.items():
            shutil.copytree(source, staging / name)
        write_text(policy_text, staging / "policy.toml")
        document = {"format": FORMAT, **manifest, "files": _listing(staging),
                    "signer_fingerprint": fingerprint(public_pem(signing_key))}
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        write_text(text, staging / MANIFEST)
        write_text(sign(signing_key, text.encode()), staging / SIGNATURE)
        (staging / SIGNER).write_bytes(public_pem(signing_key))
        os.replace(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise HarmonieError(f"cannot write the release bundle {out}: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def verify_bundle(bundle: str | Path, public_key: str | Path | None = None) -> dict:
    """The manifest if the bundle is intact and signed by the (pinned) key; else HarmonieError naming the problem."""
    root = Path(bundle)
    for name in (MANIFEST, SIGNATURE, SIGNER):
        if not (root / name).is_file():
            raise HarmonieError(f"{root} is not a release bundle: {name} is missing")
    signer = (root / SIGNER).read_bytes()
    if public_key is not None:
        pinned = Path(public_key).read_bytes() if Path(public_key).is_file() else None
        if pinned is None:
            raise HarmonieError(f"public key {public_key} not found")
        if pinned.strip() != signer.strip():
            raise HarmonieError(f"the bundle was signed by key {fingerprint(signer)}, not by the pinned key "
                                f"{fingerprint(pinned)}")
    text = (root / MANIFEST).read_bytes()
    if not signature_valid(load_public_key(signer, str(root / SIGNER)), text, (root / SIGNATURE).read_text()):
        raise HarmonieError("the manifest's signature is not valid: the manifest was changed after signing")
    manifest = json.loads(text)
    if manifest.get("format") != FORMAT:
        raise HarmonieError(f"unknown bundle format {manifest.get('format')!r}")
    present = _listing(root)
    for name, digest in sorted(manifest["files"].items()):
        if name not in present:
            raise HarmonieError(f"{name} is listed in the manifest but missing from the bundle")
        if present[name] != digest:
            raise HarmonieError(f"{name} does not match its SHA-256 in the manifest (changed after signing)")
    extra = sorted(set(present) - set(manifest["files"]))
    if extra:
        raise HarmonieError(f"the bundle holds files the manifest does not list: {', '.join(extra)}")
    return manifest
