"""Ed25519 release-signing keys (``cryptography``): the data team signs, anyone verifies.

The private key is stored as PKCS#8 PEM encrypted under a passphrase (from
``HARMONIE_SIGNING_PASSPHRASE`` or a prompt, never argv); the public key sits next to it
(``KEY.pub``) and is what recipients pin when they verify a bundle.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from harmonie.errors import HarmonieError
from privacy.keys import MIN_PASSPHRASE_LENGTH

SIGNING_PASSPHRASE_ENV = "HARMONIE_SIGNING_PASSPHRASE"


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(public: bytes) -> str:
    """SHA-256 of the public key's PEM, first 32 hex digits (what a recipient compares by phone)."""
    return hashlib.sha256(public).hexdigest()[:32]


def new_signing_key(path: str | Path, passphrase: str) -> tuple[Path, str]:
    """Create ``path`` (encrypted private key) and ``path.pub``; return the public path and fingerprint."""
    path = Path(path)
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise HarmonieError(f"the passphrase must have at least {MIN_PASSPHRASE_LENGTH} characters")
    pub = path.with_name(path.name + ".pub")
    if path.exists() or pub.exists():
        raise HarmonieError(f"{path} or {pub} already exists; a signing key is never overwritten")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(passphrase.encode()))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(private)
        pub.write_bytes(public_pem(key))
    except OSError as exc:
        raise HarmonieError(f"cannot write the signing key to {path}: {exc.strerror}") from None
    return pub, fingerprint(public_pem(key))


def load_signing_key(path: str | Path, passphrase: str) -> Ed25519PrivateKey:
    path = Path(path)
    if not path.is_file():
        raise HarmonieError(f"signing key {path} not found (create one with `harmonie release keygen`)")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase.encode())
    except (ValueError, TypeError):
        raise HarmonieError(f"cannot open signing key {path}: wrong passphrase or not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise HarmonieError(f"{path} is not an Ed25519 key")
    return key


def load_public_key(pem: bytes, source: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise HarmonieError(f"{source} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise HarmonieError(f"{source} is not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode("ascii") + "\n"


def signature_valid(public: Ed25519PublicKey, message: bytes, signature_text: str) -> bool:
    try:
        public.verify(base64.b64decode(signature_text.strip(), validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
