"""The linkage secret: created once, shared by the data holders only, encrypted at rest.

A key file holds a random 256-bit secret encrypted with AES-256-GCM under a key derived
from a passphrase with scrypt (n=2^17, r=8, p=1 by default). Everything the engine keys
(pseudonyms, tokens, Bloom filters, linkage ids) uses a *subkey* derived from the secret
with HKDF-SHA-256 and an ``info`` string naming the project, the field and the purpose,
so two projects' encodings of the same person are unrelated and no two purposes share
a key. The public *fingerprint* is an HKDF output of its own: it identifies the secret
(holders and the linkage unit compare it) and reveals nothing about it.

The passphrase comes from ``HARMONIE_KEY_PASSPHRASE`` or an interactive prompt, never
from the command line, and must pass :func:`check_passphrase` (:data:`PASSPHRASE_RULE`).

A key file is created readable by its owner only (mode 0600 from its first byte), written
under a temporary name and hard-linked into place, so it appears complete or not at all and
two processes creating the same file cannot both succeed. Reading one is bounded: the file
size, the scrypt cost (at most n = 2^20 with r = 8, p = 1, i.e. 128 MiB) and every field are
checked before anything is derived, so a key file someone sends you cannot exhaust memory.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from harmonie.errors import HarmonieError

KEY_FILE_FORMAT = "harmonie-linkage-key"
KEY_FILE_VERSION = 1
PASSPHRASE_ENV = "HARMONIE_KEY_PASSPHRASE"
MIN_PASSPHRASE_LENGTH = 12
MIN_DISTINCT_CHARACTERS = 8
PASSPHRASE_RULE = (f"at least {MIN_PASSPHRASE_LENGTH} characters, at least {MIN_DISTINCT_CHARACTERS} of them "
                   "different, not only whitespace, and not one shorter sequence repeated (like 'abcabcabcabc')")
SCRYPT_N = 2**17
SCRYPT_R, SCRYPT_P = 8, 1
#: the scrypt costs a key file may ask for: 2^20 x r=8 is 128 MiB; n = 2^22 would be 4 GiB
SCRYPT_N_RANGE = (2**10, 2**20)
SECRET_BYTES = 32
SALT_BYTES, NONCE_BYTES = 16, 12
MAX_KEY_FILE_BYTES = 64 * 1024  # a real key file is ~400 bytes
_HKDF_SALT = b"harmonie/v1/hkdf-salt"


class KeyFileError(HarmonieError):
    """The key file cannot be used (wrong passphrase, corrupted, not a key file)."""


def check_passphrase(passphrase: str) -> None:
    """Refuse a weak passphrase (see :data:`PASSPHRASE_RULE`); the message never quotes it."""
    if not isinstance(passphrase, str):
        raise KeyFileError("the passphrase must be text")
    try:
        passphrase.encode("utf-8")
    except UnicodeEncodeError:
        raise KeyFileError("the passphrase is not valid UTF-8") from None
    repeated = passphrase in (passphrase + passphrase)[1:-1]  # true iff it is a shorter string repeated
    if (len(passphrase) < MIN_PASSPHRASE_LENGTH or len(set(passphrase)) < MIN_DISTINCT_CHARACTERS
            or not passphrase.strip() or repeated):
        raise KeyFileError(f"the passphrase is too weak: it needs {PASSPHRASE_RULE}")


def _passphrase_bytes(passphrase: str) -> bytes:
    try:
        return passphrase.encode("utf-8")
    except (UnicodeEncodeError, AttributeError):
        raise KeyFileError("the passphrase is not valid UTF-8 text") from None


def create_new_file(path: str | os.PathLike, data: bytes, *, mode: int = 0o600, what: str = "key file") -> Path:
    """Write ``data`` to ``path``, which must not exist: atomically, exclusively, with ``mode`` from the start.

    The bytes go to a temporary file in the same folder, created with O_CREAT | O_EXCL and
    ``mode`` (so it is never readable by others, not even for a moment), fsync'd, then
    hard-linked to ``path``: ``link`` fails if ``path`` exists, so of two processes creating the
    same file exactly one succeeds and the other gets "already exists", and a reader sees the
    complete file or none. On a file system without hard links the file is created directly
    with O_EXCL (still exclusive and private, but a crash may leave it incomplete, which
    :func:`load_key` then reports as corrupted).
    """
    path = Path(path)
    if os.path.lexists(path):
        raise KeyFileError(f"{path} already exists; a {what} is never overwritten")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, flags, mode)
    except OSError as exc:
        raise KeyFileError(f"cannot write the {what} {path}: {exc.strerror}") from None
    try:
        _write_synced(fd, data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise KeyFileError(f"{path} already exists; a {what} is never overwritten") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
                raise KeyFileError(f"cannot write the {what} {path}: {exc.strerror}") from None
            _create_directly(path, data, flags, mode, what)
    except OSError as exc:
        raise KeyFileError(f"cannot write the {what} {path}: {exc.strerror}") from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    _fsync_folder(path.parent)
    return path


def _create_directly(path: Path, data: bytes, flags: int, mode: int, what: str) -> None:
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; a {what} is never overwritten") from None
    try:
        _write_synced(fd, data)
    except BaseException:
        os.unlink(path)  # we created it (O_EXCL): never leave a partial key behind
        raise


def _write_synced(fd: int, data: bytes) -> None:
    """Write ``data`` to the open file ``fd``, flush and fsync it, and close it."""
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # not possible on every platform; the file itself is fsync'd
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_small_file(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; a one-line error otherwise (never blocks on a FIFO)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} not found") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read the {what} {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"{path} is not a regular file, so not a {what}")
        if info.st_size > limit:
            raise KeyFileError(f"{path} is too large to be a {what} ({info.st_size:,} bytes; at most {limit:,})")
        chunks, size = [], 0
        while size <= limit:  # read at most limit + 1 bytes, whatever the file grows to meanwhile
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise KeyFileError(f"cannot read the {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise KeyFileError(f"{path} is too large to be a {what} (more than {limit:,} bytes)")
    return data


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, size: int | None = None) -> bytes:
    """Strict base64 (of exactly ``size`` bytes if given); ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError("not a base64 string")
    data = base64.b64decode(text.encode("ascii"), validate=True)
    if size is not None and len(data) != size:
        raise ValueError("wrong length")
    return data


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
            "kdf": {"name": "scrypt", "n": n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
            "cipher": "AES-256-GCM", "nonce": _b64(nonce)}


def _scrypt_n_supported(n) -> bool:
    low, high = SCRYPT_N_RANGE
    return type(n) is int and low <= n <= high and n & (n - 1) == 0


def _aad(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _wrapping_key(passphrase: str, salt: bytes, n: int) -> bytes:
    if not _scrypt_n_supported(n):  # callers check first; this keeps the bound in one place regardless
        raise KeyFileError("unsupported key-derivation parameters")
    return Scrypt(salt=salt, length=32, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(_passphrase_bytes(passphrase))


def save_key(key: LinkageKey, path: str | os.PathLike, passphrase: str, *, scrypt_n: int = SCRYPT_N) -> Path:
    """Encrypt ``key`` under ``passphrase`` into a new key file (mode 0600; never overwrites one).

    The passphrase must follow :data:`PASSPHRASE_RULE`. Of two processes creating the same
    file at once, exactly one succeeds; the other gets a :class:`KeyFileError` ("already exists").
    """
    path = Path(path)
    check_passphrase(passphrase)
    if not _scrypt_n_supported(scrypt_n):
        low, high = SCRYPT_N_RANGE
        raise KeyFileError(f"scrypt_n must be a power of two from 2^{low.bit_length() - 1} "
                           f"to 2^{high.bit_length() - 1}")
    if os.path.lexists(path):  # fail before the slow derivation; create_new_file decides for real
        raise KeyFileError(f"{path} already exists; a key file is never overwritten")
    salt, nonce = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(NONCE_BYTES)
    header = _header(salt, scrypt_n, nonce)
    ciphertext = AESGCM(_wrapping_key(passphrase, salt, scrypt_n)).encrypt(nonce, key._secret, _aad(header))
    document = {**header, "ciphertext": _b64(ciphertext)}
    return create_new_file(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"), what="key file")


def _parse_key_file(path: Path) -> tuple[dict, bytes, int, bytes, bytes]:
    """(header, salt, n, nonce, ciphertext) after checking every field and bound; nothing derived yet."""
    raw = read_small_file(path, MAX_KEY_FILE_BYTES, "key file")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise KeyFileError(f"{path} is not a readable Harmonie key file (not UTF-8 JSON)") from None
    if not isinstance(document, dict) or document.get("format") != KEY_FILE_FORMAT:
        raise KeyFileError(f"{path} is not a Harmonie key file")
    version = document.get("version")
    if type(version) is not int or version != KEY_FILE_VERSION:
        shown = version if type(version) is int and abs(version) < 10**6 else type(version).__name__
        raise KeyFileError(f"{path} has key file version {shown!r}; this tool reads version {KEY_FILE_VERSION}")
    kdf = document.get("kdf")
    if not isinstance(kdf, dict) or not {"name", "n", "r", "p", "salt"} <= kdf.keys():
        raise KeyFileError(f"{path} is corrupted (missing or malformed fields: kdf)")
    if (kdf["name"] != "scrypt" or type(kdf["r"]) is not int or type(kdf["p"]) is not int
            or (kdf["r"], kdf["p"]) != (SCRYPT_R, SCRYPT_P) or not _scrypt_n_supported(kdf["n"])):
        low, high = SCRYPT_N_RANGE
        raise KeyFileError(f"{path} uses unsupported key-derivation parameters (this tool accepts scrypt with "
                           f"n a power of two from 2^{low.bit_length() - 1} to 2^{high.bit_length() - 1}, "
                           f"r = {SCRYPT_R}, p = {SCRYPT_P})")
    if document.get("cipher") != "AES-256-GCM":
        raise KeyFileError(f"{path} uses an unsupported cipher")
    fields = {}
    for name, value, size in (("kdf.salt", kdf["salt"], SALT_BYTES), ("nonce", document.get("nonce"), NONCE_BYTES),
                              ("ciphertext", document.get("ciphertext"), None)):  # a wrong length fails the tag
        try:
            fields[name] = _unb64(value, size)
        except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
            raise KeyFileError(f"{path} is corrupted (missing or malformed fields: {name})") from None
    n = kdf["n"]
    return _header(fields["kdf.salt"], n, fields["nonce"]), fields["kdf.salt"], n, fields["nonce"], \
        fields["ciphertext"]


def load_key(path: str | os.PathLike, passphrase: str) -> LinkageKey:
    """Decrypt a key file; a wrong passphrase, an alteration or a malformed file is a :class:`KeyFileError`.

    Every field and the scrypt cost are checked before anything is derived, so a hostile
    key file costs at most one scrypt at n = 2^20 (128 MiB), never a MemoryError.
    """
    path = Path(path)
    header, salt, n, nonce, ciphertext = _parse_key_file(path)
    try:
        secret = AESGCM(_wrapping_key(passphrase, salt, n)).decrypt(nonce, ciphertext, _aad(header))
    except InvalidTag:
        raise KeyFileError(f"cannot open {path}: wrong passphrase, or the file was altered") from None
    except MemoryError:  # within the bounds this should not happen; still one line, not a traceback
        raise KeyFileError(f"cannot open {path}: not enough memory for its key derivation") from None
    if len(secret) != SECRET_BYTES:
        raise KeyFileError(f"{path} holds a secret of the wrong size")
    return LinkageKey(secret)


def passphrase_from_environment(*, confirm: bool = False, variable: str = PASSPHRASE_ENV) -> str:
    """The passphrase from ``variable`` (default ``HARMONIE_KEY_PASSPHRASE``), else an interactive prompt."""
    value = os.environ.get(variable)
    if value:
        return value
    import getpass
    import sys

    if not sys.stdin.isatty():
        raise KeyFileError(f"no passphrase: set {variable} or run the command in a terminal")
    passphrase = getpass.getpass("Key passphrase: ")
    if confirm and getpass.getpass("Repeat for confirmation: ") != passphrase:
        raise KeyFileError("the two passphrases differ")
    return passphrase
