"""The data team's model key: authenticates replica model folders before anything is unpickled.

SDV saves synthesizers as (cloud)pickles, and loading a pickle runs code. ``model.json``
pins each pickle's SHA-256, but whoever can write the folder can rewrite ``model.json``
too. So ``synth fit`` also writes ``model.json.mac``: HMAC-SHA-256 of ``model.json``
under a key that lives outside model folders, in the data team's private state
(``$HARMONIE_MODEL_KEY``, else ``$XDG_STATE_HOME/harmonie/model.key``, i.e.
``~/.local/state/harmonie/model.key``), created on first use with 256 random bits, mode 0600,
exclusively. ``synth sample`` verifies the MAC, then the hashes, then unpickles. A folder made
under another key (a colleague's) is refused with the key ids to compare: share the key file
within the data team, as you would the folder's access rights.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from privacy.keys import KeyFileError, create_new_file, read_small_file

MODEL_KEY_ENV = "HARMONIE_MODEL_KEY"
FORMAT = "harmonie-model-key"
_DOMAIN = b"harmonie-replica-model/1\0"


def model_key_path() -> Path:
    if os.environ.get(MODEL_KEY_ENV):
        return Path(os.environ[MODEL_KEY_ENV])
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "harmonie" / "model.key"


@dataclass(frozen=True, repr=False)
class ModelKey:
    _secret: bytes

    def __repr__(self) -> str:
        return f"ModelKey(id={self.key_id})"

    @property
    def key_id(self) -> str:
        """Public identifier of the key (a MAC of a fixed label: reveals nothing about the key)."""
        return hmac.new(self._secret, b"harmonie-model-key-id", hashlib.sha256).hexdigest()[:16]

    def mac(self, document: bytes) -> str:
        return hmac.new(self._secret, _DOMAIN + document, hashlib.sha256).hexdigest()

    def verify(self, document: bytes, tag: str) -> bool:
        return isinstance(tag, str) and hmac.compare_digest(self.mac(document), tag)


def load_model_key(path: str | os.PathLike | None = None, *, create: bool = False) -> ModelKey:
    """The data team's model key at ``path`` (default :func:`model_key_path`); with ``create``, made if absent."""
    path = Path(path) if path is not None else model_key_path()
    if create and not os.path.lexists(path):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        document = {"format": FORMAT, "secret": base64.b64encode(secrets.token_bytes(32)).decode()}
        try:
            create_new_file(path, (json.dumps(document) + "\n").encode(), what="model key")
        except KeyFileError:
            if not path.is_file():  # another process created it at the same moment: read theirs
                raise
    if not path.is_file():
        raise KeyFileError(f"no model key at {path} (set {MODEL_KEY_ENV} to the data team's model key file; "
                           "`harmonie synth fit` creates one)")
    raw = read_small_file(path, 4096, "model key")
    try:
        document = json.loads(raw)
        secret = base64.b64decode(document["secret"], validate=True)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise KeyFileError(f"{path} is not a Harmonie model key (corrupted)") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or len(secret) != 32:
        raise KeyFileError(f"{path} is not a Harmonie model key")
    return ModelKey(secret)
