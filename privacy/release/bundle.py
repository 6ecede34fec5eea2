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

What verification checks: only the three top-level files ``manifest.json``,
``manifest.sig`` and ``signer.pub`` are outside the listing; every other file, at any depth
and whatever its name (a ``risk/signer.pub`` is a file like any other), must be listed with
its SHA-256; a file or folder the manifest does not account for (an empty folder too), a
symlink or anything that is not a regular file fails verification. What it does not check
without a pinned public key: *who* signed. The bundle carries its own ``signer.pub``, so
anyone can replace a file, rewrite the manifest and re-sign it with their own key; only
``public_key=`` (``--public-key``) ties the bundle to a signer you trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

from harmonie.errors import HarmonieError
from harmonie.io import write_text
from privacy.keys import read_small_file
from privacy.release.signing import (
    fingerprint,
    load_public_key,
    public_pem,
    read_public_key,
    sign,
    signature_valid,
)

FORMAT = "harmonie-release-bundle/1"
MANIFEST, SIGNATURE, SIGNER = "manifest.json", "manifest.sig", "signer.pub"
#: the only entries outside the listing, and only at the top level of the bundle
UNLISTED = (MANIFEST, SIGNATURE, SIGNER)
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_SIGNATURE_BYTES = 1024


def _sha256_regular_file(path: Path, relative: str) -> str:
    """SHA-256 of a regular file, opened without following a symlink (one swapped in after the walk is refused)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise HarmonieError(f"{_printable(relative)} is not a regular file")
            digest = hashlib.sha256()
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise HarmonieError(f"cannot read {_printable(relative)} in the bundle: {exc.strerror}") from None
    return digest.hexdigest()


def _printable(name: str) -> str:
    """A file name safe for a one-line message (a newline or escape in a hostile name is shown escaped)."""
    return name if name.isprintable() else repr(name)[1:-1]


def _shorten(names: list[str], at_most: int = 5) -> str:
    shown = ", ".join(_printable(n) for n in names[:at_most])
    return shown + (f" and {len(names) - at_most} more" if len(names) > at_most else "")


def _walk(root: Path) -> tuple[dict[str, str], list[str], list[str]]:
    """({relative file: sha256}, [folders], [entries that are neither a folder nor a regular file]).

    Every entry at every depth is seen, except the three top-level :data:`UNLISTED` files;
    symlinks are never followed (they are reported as refused entries).
    """
    files, folders, refused = {}, [], []
    pending = [(root, "")]
    while pending:  # iterative, so a deeply nested folder is not a RecursionError
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            raise HarmonieError(f"cannot read the bundle folder {_printable(prefix) or '.'}: {exc.strerror}") from None
        for entry in entries:
            relative = f"{prefix}{entry.name}"
            if not prefix and entry.name in UNLISTED:
                continue  # checked on their own by verify_bundle, and not part of the listing
            if entry.is_symlink():
                refused.append(f"{relative} (symlink)")
            elif entry.is_dir(follow_symlinks=False):
                folders.append(relative)
                pending.append((Path(entry.path), relative + "/"))
            elif entry.is_file(follow_symlinks=False):
                files[relative] = _sha256_regular_file(Path(entry.path), relative)
            else:
                refused.append(f"{relative} (not a regular file)")
    return dict(sorted(files.items())), sorted(folders), sorted(refused)


def _listing(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root`` but the top-level unlisted three."""
    files, _, refused = _walk(root)
    if refused:
        raise HarmonieError(f"cannot bundle {_shorten(refused)}: only regular files and folders are bundled")
    return files


def _prune_empty_folders(root: Path) -> None:
    """Remove empty folders (a bundle holds no folder without a listed file in it)."""
    for folder, subfolders, filenames in os.walk(root, topdown=False):
        if Path(folder) != root and not filenames and not os.listdir(folder):
            os.rmdir(folder)


def _control_files(folder: str, names: list[str]) -> list[str]:
    """Lock and run manifests beside a command's outputs (:mod:`harmonie.output_set`) are not released."""
    from harmonie.output_set import is_control_file

    return [n for n in names if is_control_file(n)]


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
            shutil.copytree(source, staging / name, ignore=_control_files)
        write_text(policy_text, staging / "policy.toml")
        _prune_empty_folders(staging)
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


def _read_top_level(root: Path, name: str, limit: int) -> bytes:
    path = root / name
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise HarmonieError(f"{root} is not a release bundle: {name} is missing") from None
    except OSError as exc:
        raise HarmonieError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise HarmonieError(f"{name} in {root} is not a regular file (a symlink or special file is refused)")
    return read_small_file(path, limit, name)


def verify_bundle(bundle: str | Path, public_key: str | Path | None = None, *, strict: bool = False) -> dict:
    """The manifest if the bundle is intact and signed by the (pinned) key; else HarmonieError naming the problem.

    Without ``public_key`` only integrity is checked, against the key the bundle itself
    carries: anyone can re-sign an altered bundle with their own key. With ``strict=True``
    an unpinned verification is an error (after the integrity checks).
    """
    root = Path(bundle)
    if root.is_symlink() or not root.is_dir():
        raise HarmonieError(f"{root} is not a release bundle folder")
    signer_pem = _read_top_level(root, SIGNER, 64 * 1024)
    signature = _read_top_level(root, SIGNATURE, MAX_SIGNATURE_BYTES)
    text = _read_top_level(root, MANIFEST, MAX_MANIFEST_BYTES)
    carried = load_public_key(signer_pem, str(root / SIGNER))
    signer_fingerprint = fingerprint(public_pem(carried))
    if public_key is not None:
        if not Path(public_key).is_file():
            raise HarmonieError(f"public key {public_key} not found")
        pinned = read_public_key(public_key)
        if public_pem(pinned) != public_pem(carried):
            raise HarmonieError(f"the bundle was signed by key {signer_fingerprint}, not by the pinned key "
                                f"{fingerprint(public_pem(pinned))}")
        carried = pinned
    if not signature_valid(carried, text, signature):
        raise HarmonieError("the manifest's signature is not valid: the manifest was changed after signing")
    try:
        manifest = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise HarmonieError(f"{MANIFEST} is not UTF-8 JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        shown = manifest.get("format") if isinstance(manifest, dict) else None
        raise HarmonieError("unknown bundle format" + (f" {shown[:40]!r}" if isinstance(shown, str) else "")
                            + f" (this tool reads {FORMAT})")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in listed.items()):
        raise HarmonieError(f"{MANIFEST} has no valid file listing")
    if manifest.get("signer_fingerprint") != signer_fingerprint:
        raise HarmonieError(f"{MANIFEST} names another signer than the key that signed it ({signer_fingerprint})")
    present, folders, refused = _walk(root)
    if refused:
        raise HarmonieError(f"the bundle holds entries that are refused: {_shorten(refused)}")
    for name, digest in sorted(listed.items()):
        if name not in present:
            raise HarmonieError(f"{_printable(name)} is listed in the manifest but missing from the bundle")
        if present[name] != digest:
            raise HarmonieError(f"{_printable(name)} does not match its SHA-256 in the manifest "
                                "(changed after signing)")
    extra = sorted(set(present) - set(listed))
    if extra:
        raise HarmonieError(f"the bundle holds files the manifest does not list: {_shorten(extra)}")
    needed = {"/".join(name.split("/")[:depth]) for name in listed for depth in range(1, name.count("/") + 1)}
    unexpected = sorted(set(folders) - needed)
    if unexpected:
        raise HarmonieError(f"the bundle holds folders the manifest does not account for (empty or added): "
                            f"{_shorten(unexpected)}")
    if strict and public_key is None:
        raise HarmonieError(f"authenticity NOT checked: the bundle is intact but only against the key it carries "
                            f"itself ({signer_fingerprint}); --strict needs --public-key with the signer's "
                            ".pub you trust")
    return manifest
