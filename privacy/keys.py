"""The linkage secret: created once, shared by the data holders only, encrypted at rest.

A key file holds a random 256-bit secret encrypted with AES-256-GCM under a key derived
from a passphrase with scrypt (n=2^17, r=8, p=1 by default). Everything the engine keys
(pseudonyms, tokens, Bloom filters, linkage ids) uses a *subkey* derived from the secret
with HKDF-SHA-256 and an ``info`` string naming the project, the field and the purpose,
so two projects' encodings of the same person are unrelated and no two purposes share
a key. The public *fingerprint* is an HKDF output of its own: it identifies the secret
(holders and the linkage unit compare it) and reveals nothing about it.

The passphrase comes from ``HARMONIE_KEY_PASSPHRASE`` or an interactive prompt, never
from the command line.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from harmonie.errors import HarmonieError
from harmonie.io import write_text

KEY_FILE_FORMAT = "harmonie-linkage-key"
KEY_FILE_VERSION = 1
PASSPHRASE_ENV = "HARMONIE_KEY_PASSPHRASE"
MIN_PASSPHRASE_LENGTH = 12
SCRYPT_N = 2**17
SECRET_BYTES = 32
_HKDF_SALT = b"harmonie/v1/hkdf-salt"


class KeyFileError(HarmonieError):
    """The key file cannot be used (wrong passphrase, corrupted, not a key file)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_HKDF_SALT, info=info).derive(secret)


def _label(*parts: str) -> bytes:
    """An unambiguous HKDF info string: length-prefixed parts, so ('a|b','c') != ('a','b|c')."""
    out = [b"harmonie/v1"]
    for part in parts:
        raw = part.encode("utf-8")
        out.append(len(raw).to_bytes(2, "big") + raw)
    return b"".join(out)


@dataclass(frozen=True, repr=False)
class LinkageKey:
    """The decrypted linkage secret. Its repr never shows the secret."""

    _secret: bytes

    def __repr__(self) -> str:
        return f"LinkageKey(fingerprint={self.fingerprint})"

    @property
    def fingerprint(self) -> str:
        """Public identifier of the secret: 128 bits of an HKDF output, hex."""
        return _hkdf(self._secret, _label("fingerprint"), 16).hex()

    def subkey(self, project: str, field: str, purpose: str) -> bytes:
        """The 256-bit key for one project, field and purpose (HKDF-SHA-256)."""
        if not project or not field or not purpose:
            raise ValueError("a subkey needs a project, a field and a purpose")
        return _hkdf(self._secret, _label("subkey", project, field, purpose))


def generate_key() -> LinkageKey:
    """A fresh random linkage secret from the operating system's CSPRNG."""
    return LinkageKey(secrets.token_bytes(SECRET_BYTES))


def _header(salt: bytes, n: int, nonce: bytes) -> dict:
    return {"format": KEY_FILE_FORMAT, "version": KEY_FILE_VERSION,
            "kdf": {"name": "scrypt", "n": n, "r": 8, "p": 1, "salt": _b64(salt)},
            "cipher": "AES-256-GCM", "nonce": _b64(nonce)}


def _aad(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _wrapping_key(passphrase: str, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(passphrase.encode("utf-8"))


def save_key(key: LinkageKey, path: str | os.PathLike, passphrase: str, *, scrypt_n: int = SCRYPT_N,
             overwrite: bool = False) -> Path:
    """Encrypt ``key`` under ``passphrase`` into a key file (refuses to overwrite one)."""
    path = Path(path)
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise KeyFileError(f"the passphrase must have at least {MIN_PASSPHRASE_LENGTH} characters")
    if path.exists() and not overwrite:
        raise KeyFileError(f"{path} already exists; a key file is never overwritten")
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = _header(salt, scrypt_n, nonce)
    ciphertext = AESGCM(_wrapping_key(passphrase, salt, scrypt_n)).encrypt(nonce, key._secret, _aad(header))
    document = {**header, "ciphertext": _b64(ciphertext)}
    return write_text(json.dumps(document, indent=2) + "\n", path)


def load_key(path: str | os.PathLike, passphrase: str) -> LinkageKey:
    """Decrypt a key file; a wrong passphrase or any alteration is a :class:`KeyFileError`."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise KeyFileError(f"{path} is not a readable Harmonie key file") from None
    try:
        if document.get("format") != KEY_FILE_FORMAT:
            raise KeyFileError(f"{path} is not a Harmonie key file")
        if document.get("version") != KEY_FILE_VERSION:
            raise KeyFileError(f"{path} has key file version {document.get('version')!r}; "
                               f"this tool reads version {KEY_FILE_VERSION}")
        kdf = document["kdf"]
        n_cost = kdf["n"]
        if (kdf.get("name") != "scrypt" or (kdf.get("r"), kdf.get("p")) != (8, 1) or not isinstance(n_cost, int)
                or not 2**10 <= n_cost <= 2**22 or n_cost & (n_cost - 1)):
            raise KeyFileError(f"{path} uses unsupported key-derivation parameters")
        salt, n, nonce = _unb64(kdf["salt"]), int(kdf["n"]), _unb64(document["nonce"])
        header = _header(salt, n, nonce)
        ciphertext = _unb64(document["ciphertext"])
    except KeyFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError):
        raise KeyFileError(f"{path} is corrupted (missing or malformed fields)") from None
    try:
        secret = AESGCM(_wrapping_key(passphrase, salt, n)).decrypt(nonce, ciphertext, _aad(header))
    except InvalidTag:
        raise KeyFileError(f"cannot open {path}: wrong passphrase, or the file was altered") from None
    if len(secret) != SECRET_BYTES:
        raise KeyFileError(f"{path} holds a secret of the wrong size")
    return LinkageKey(secret)


def passphrase_from_environment(*, confirm: bool = False, variable: str = PASSPHRASE_ENV) -> str:
    """The passphrase from ``variable`` (default ``HARMONIE_KEY_PASSPHRASE``), else an interactive prompt."""
    value = os.environ.get(variable)
    if value:
        return value
    import sys

    import click

    if not sys.stdin.isatty():
        raise KeyFileError(f"no passphrase: set {variable} or run the command in a terminal")
    return click.prompt("Key passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
