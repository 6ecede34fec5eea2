"""Ed25519 release-signing keys (``cryptography``): the data team signs, anyone verifies.

The private key is stored as PKCS#8 PEM encrypted under a passphrase (from
``HARMONIE_SIGNING_PASSPHRASE`` or a prompt, never argv; it must follow
:data:`privacy.keys.PASSPHRASE_RULE`); the public key sits next to it (``KEY.pub``) and is
what recipients pin when they verify a bundle.

The private key file is created like a linkage key file: mode 0600 from its first byte,
exclusively (of two ``keygen`` runs on one path exactly one succeeds) and atomically.
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

from cryptography.exceptions import UnsupportedAlgorithm

from harmonie.errors import HarmonieError
from privacy.keys import check_passphrase, create_new_file, read_small_file

SIGNING_PASSPHRASE_ENV = "HARMONIE_SIGNING_PASSPHRASE"
MAX_KEY_BYTES = 64 * 1024  # an Ed25519 PEM is a few hundred bytes


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(public: bytes) -> str:
    """SHA-256 of the public key's PEM, first 32 hex digits (what a recipient compares by phone)."""
    return hashlib.sha256(public).hexdigest()[:32]


def new_signing_key(path: str | Path, passphrase: str) -> tuple[Path, str]:
    """Create ``path`` (encrypted private key, mode 0600) and ``path.pub``; return the public path and fingerprint.

    Neither file is ever overwritten; the private key is created first and exclusively, so
    of two concurrent calls on one path exactly one succeeds.
    """
    path = Path(path)
    check_passphrase(passphrase)
    pub = path.with_name(path.name + ".pub")
    if os.path.lexists(path) or os.path.lexists(pub):
        raise HarmonieError(f"{path} or {pub} already exists; a signing key is never overwritten")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(passphrase.encode("utf-8")))
    create_new_file(path, private, mode=0o600, what="signing key")
    try:
        create_new_file(pub, public_pem(key), mode=0o644, what="public key")  # public: meant to be shared
    except BaseException:
        os.unlink(path)  # created exclusively by us just above: never leave a key without its .pub
        raise
    return pub, fingerprint(public_pem(key))


def load_signing_key(path: str | Path, passphrase: str) -> Ed25519PrivateKey:
    path = Path(path)
    if not os.path.lexists(path):
        raise HarmonieError(f"signing key {path} not found (create one with `harmonie release keygen`)")
    pem = read_small_file(path, MAX_KEY_BYTES, "signing key")
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase.encode("utf-8"))
    except (ValueError, TypeError, UnsupportedAlgorithm):  # UnicodeEncodeError is a ValueError
        raise HarmonieError(f"cannot open signing key {path}: wrong passphrase or not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise HarmonieError(f"{path} is not an Ed25519 key")
    return key


def read_public_key(path: str | Path, what: str = "public key") -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM file ``path`` (bounded read, one-line errors)."""
    return load_public_key(read_small_file(path, MAX_KEY_BYTES, what), str(path))


def load_public_key(pem: bytes, source: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        raise HarmonieError(f"{source} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise HarmonieError(f"{source} is not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode("ascii") + "\n"


def signature_valid(public: Ed25519PublicKey, message: bytes, signature_text: str | bytes) -> bool:
    try:
        public.verify(base64.b64decode(signature_text.strip(), validate=True), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
