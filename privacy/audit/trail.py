"""The audit trail: one hash-chained JSON line per command that reads or writes data.

Each entry records when, which command, its parameters (paths and options; secrets never
reach a parameter, and names that look like one are masked anyway), the SHA-256 and size
of every input and output file, the key fingerprint and spec hash when the command used
them, row counts, the tool version and how the command ended. Entry ``n`` carries the
hash of entry ``n-1`` and its own hash over both, so :func:`verify` finds any edited,
removed, inserted or reordered entry and says where.

What the chain does not prove on its own: someone able to rewrite the whole file can
recompute every hash. Keep the head hash that ``harmonie audit verify`` prints somewhere
else (a ticket, a signed mail) and pass it back with ``--expect-head``; then truncation and
rewriting are detected too.

The log is ``--audit-log`` (root option), else ``HARMONIE_AUDIT_LOG``, else
``$XDG_STATE_HOME/harmonie/audit.jsonl`` (``~/.local/state/...``). Appends hold an
exclusive lock, so concurrent commands chain one after the other.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import fcntl
import functools
import hashlib
import json
import os
from pathlib import Path

from harmonie.errors import HarmonieError
from harmonie.io import sha256_file

LOG_ENV = "HARMONIE_AUDIT_LOG"
GENESIS = "0" * 64
OUTPUT_PARAMETERS = {"out", "out_dir", "out_path", "crosswalk_path", "rejects_path"}
_MASKED = ("passphrase", "password", "secret")
# per invocation (a context variable, not a module global): the facts the running command notes,
# and the log chosen by the root --audit-log option
_notes: contextvars.ContextVar[dict | None] = contextvars.ContextVar("harmonie_audit_notes", default=None)
_chosen: contextvars.ContextVar[Path | None] = contextvars.ContextVar("harmonie_audit_log", default=None)


def set_log_path(path: str | Path | None) -> None:
    """The log for this invocation (the root ``--audit-log`` option; None: environment or default)."""
    _chosen.set(Path(path) if path else None)


def log_path() -> Path:
    if _chosen.get() is not None:
        return _chosen.get()
    if os.environ.get(LOG_ENV):
        return Path(os.environ[LOG_ENV])
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "harmonie" / "audit.jsonl"


def note(**facts) -> None:
    """Add facts (key_fingerprint, spec_hash, rows...) to the entry of the running command (none: ignored)."""
    notes = _notes.get()
    if notes is None:
        return
    for key, value in facts.items():
        if isinstance(value, dict) and isinstance(notes.get(key), dict):
            notes[key].update(value)
        else:
            notes[key] = value


def _files(path: Path) -> list[dict]:
    if path.is_file():
        return [{"path": str(path), "bytes": path.stat().st_size, "sha256": sha256_file(path)}]
    if path.is_dir():
        return [entry for child in sorted(path.rglob("*")) if child.is_file() and not child.name.startswith(".")
                for entry in _files(child)]
    return []


def _entry_hash(entry: dict) -> str:
    body = json.dumps({k: v for k, v in entry.items() if k != "hash"}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def append(entry: dict, path: Path | None = None) -> dict:
    """Chain ``entry`` to the log's last entry and append it (fsync'd, under an exclusive lock)."""
    path = path or log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            last = None
            for line in fh:
                if line.strip():
                    last = line
            previous = json.loads(last) if last else None
            chained = {"seq": previous["seq"] + 1 if previous else 1,
                       "prev": previous["hash"] if previous else GENESIS, **entry}
            chained["hash"] = _entry_hash(chained)
            fh.seek(0, os.SEEK_END)
            fh.write(json.dumps(chained, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except (OSError, ValueError, KeyError) as exc:
        raise HarmonieError(f"cannot append to the audit log {path}: {exc}") from None
    return chained


def audited(callback, name: str):
    """Wrap a command's callback (any callable taking the command's parameters as keywords) so
    that each run appends an audit entry. An exception with an ``exit_code`` (a command line's
    exit) is recorded as that exit; the CLI layer decides which commands to wrap."""

    @functools.wraps(callback)
    def run(*args, **params):
        from harmonie import __version__

        notes = {}
        token = _notes.set(notes)
        started = dt.datetime.now(dt.UTC)
        status, error = "ok", None
        try:
            return callback(*args, **params)
        except HarmonieError as exc:
            status, error = "error", str(exc)
            raise
        except BaseException as exc:
            code = getattr(exc, "exit_code", None)
            if isinstance(code, int):
                status = "ok" if code == 0 else f"exit {code}"
            else:
                status, error = "error", type(exc).__name__
            raise
        finally:
            _notes.reset(token)
            paths = {k: Path(v) for k, v in params.items() if isinstance(v, Path)}
            if paths:  # a command that touched no file (help, listings) leaves no entry
                append({
                    "time": started.isoformat(timespec="seconds"), "command": name, "tool_version": __version__,
                    "parameters": {k: "***" if any(m in k for m in _MASKED) else _plain(v)
                                   for k, v in sorted(params.items())},
                    "inputs": [f for k, p in sorted(paths.items()) if k not in OUTPUT_PARAMETERS for f in _files(p)],
                    "outputs": [f for k, p in sorted(paths.items()) if k in OUTPUT_PARAMETERS for f in _files(p)],
                    "status": status, "error": error, **{k: _plain(v) if not isinstance(v, dict) else v
                                                         for k, v in sorted(notes.items())},
                })

    return run


def verify(path: Path, expect_head: str | None = None) -> dict:
    """Check the chain; raise HarmonieError naming the first broken entry."""
    path = Path(path)
    if not path.is_file():
        raise HarmonieError(f"audit log {path} not found")
    entries = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    entries.append((number, json.loads(line)))
                except ValueError:
                    raise HarmonieError(f"line {number} is not a complete JSON entry (edited or cut)") from None
    seen = [entry.get("seq") for _, entry in entries]
    previous_hash, expected_seq = GENESIS, 1
    for number, entry in entries:
        seq = entry.get("seq")
        if entry.get("hash") != _entry_hash(entry):
            raise HarmonieError(f"entry {seq} (line {number}) was edited: its content does not match its hash")
        if seq != expected_seq:
            what = "reordered" if expected_seq in seen else "removed"
            raise HarmonieError(f"line {number} holds entry {seq} where entry {expected_seq} was expected: "
                                f"entries {what}")
        if entry.get("prev") != previous_hash:
            raise HarmonieError(f"entry {seq} (line {number}) does not chain to the entry before it")
        previous_hash, expected_seq = entry["hash"], expected_seq + 1
    if expect_head and previous_hash != expect_head:
        raise HarmonieError(f"the log's head is {previous_hash[:16]}..., not the expected {expect_head[:16]}...: "
                            "entries were removed from its end or the log was rewritten")
    return {"entries": len(entries), "head": previous_hash}
