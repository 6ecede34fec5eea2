"""A fitted replica model on disk: SDV synthesizer files plus a manifest that pins them.

SDV saves synthesizers with cloudpickle, and loading a pickle runs code. The manifest
(``model.json``) records the SHA-256 of every synthesizer file, and ``model.json.mac``
authenticates the manifest under the data team's model key (:mod:`privacy.model_key`):
:func:`load` checks the MAC, then every hash, and only then unpickles, so a model folder
cannot be swapped or edited (pickle and manifest together) unnoticed by anyone without the
key. A model was learned from real patients: keep it where the real data is kept.
"""

from __future__ import annotations

import json
from pathlib import Path

from harmonie.errors import HarmonieError
from harmonie.io import ensure_output_dir, sha256_file, write_text

FORMAT = "harmonie-replica-model/1"
MANIFEST = "model.json"
MAC = "model.json.mac"


WRITTEN_BY_SAVE = ("format", "files", "sha256")  # what save() and read_manifest() add to a manifest


def _text(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def as_written(manifest: dict) -> dict:
    """``manifest`` with the types it has once written and read back (lists for tuples, text keys...), so that a
    model used before it is saved behaves as it will after."""
    return json.loads(_text(manifest))


def unsaved(manifest: dict) -> dict:
    """``manifest`` without the entries :func:`save` and :func:`read_manifest` add."""
    return {k: v for k, v in manifest.items() if k not in WRITTEN_BY_SAVE}


def save(out_dir: str | Path, synthesizers: dict[str, object], manifest: dict) -> Path:
    """Save ``{relative file name: fitted synthesizer}`` and the manifest describing them."""
    from synth.sdv_support import quiet

    out = ensure_output_dir(out_dir)
    files = {}
    for name, synthesizer in sorted(synthesizers.items()):
        path = out / name
        ensure_output_dir(path.parent)
        tmp = path.with_name(f".{path.name}.tmp")
        with quiet():
            synthesizer.save(str(tmp))
        tmp.replace(path)
        files[name] = sha256_file(path)
    from privacy.model_key import load_model_key

    key = load_model_key(create=True)
    text = _text({"format": FORMAT, **manifest, "files": files})
    write_text(text, out / MANIFEST)
    write_text(json.dumps({"key_id": key.key_id, "hmac_sha256": key.mac(text.encode())}) + "\n", out / MAC)
    return out


def _authenticate(model_dir: Path) -> None:
    """``model.json`` was written by ``synth fit`` under this data team's model key (before anything is trusted)."""
    from privacy.model_key import load_model_key

    path = model_dir / MAC
    if not path.is_file():
        raise HarmonieError(f"{model_dir} has no {MAC}: the model is not authenticated (made by an older Harmonie, "
                            "or the file was removed); fit it again with `harmonie synth fit`")
    try:
        tag = json.loads(path.read_text(encoding="utf-8"))
        key_id, mac = tag["key_id"], tag["hmac_sha256"]
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError, RecursionError):
        raise HarmonieError(f"{path} is corrupted; refusing to load the model (fit it again)") from None
    key = load_model_key()
    if key_id != key.key_id:
        shown = key_id if isinstance(key_id, str) and len(key_id) <= 64 else "?"
        raise HarmonieError(f"{model_dir} was authenticated with model key {shown}, not with yours ({key.key_id}); "
                            "set HARMONIE_MODEL_KEY to the data team's model key file it was fitted with")
    if not key.verify((model_dir / MANIFEST).read_bytes(), mac):
        raise HarmonieError(f"{model_dir}/{MANIFEST} does not match its MAC: the model folder was altered; refusing "
                            "to load it (fit it again)")


def read_manifest(model_dir: str | Path) -> dict:
    path = Path(model_dir) / MANIFEST
    if not path.exists():
        raise HarmonieError(f"{model_dir} is not a replica model folder (no {MANIFEST}; made by `harmonie synth fit`)")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise HarmonieError(f"{path} is not valid JSON") from None
    if manifest.get("format") != FORMAT:
        raise HarmonieError(f"{path} has format {manifest.get('format')!r}; this Harmonie reads {FORMAT}")
    manifest["sha256"] = sha256_file(path)
    return manifest


def load(model_dir: str | Path) -> tuple[dict, dict[str, object]]:
    """The manifest and its synthesizers, each checked against its recorded SHA-256 before loading."""
    from sdv.utils import load_synthesizer

    from synth.sdv_support import quiet

    manifest = read_manifest(model_dir)  # JSON only: nothing runs
    _authenticate(Path(model_dir))
    synthesizers = {}
    for name, expected in manifest["files"].items():
        path = Path(model_dir) / name
        if not path.exists():
            raise HarmonieError(f"replica model file {name} is missing from {model_dir}")
        if sha256_file(path) != expected:
            raise HarmonieError(f"replica model file {name} does not match its manifest hash; refusing to load it")
        with quiet():
            synthesizers[name] = load_synthesizer(str(path))
    return manifest, synthesizers
