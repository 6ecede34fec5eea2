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


_HEX64 = frozenset("0123456789abcdef")


def _entry(raw: bytes) -> dict | None:
    """The entry a log line holds, or None if it is not one (not UTF-8, not JSON, not an object with
    a sequence number and hashes): an audit line is data like any input, checked before it is used."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    seq, digest, prev = value.get("seq"), value.get("hash"), value.get("prev")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        return None
    if not all(isinstance(h, str) and len(h) == 64 and set(h) <= _HEX64 for h in (digest, prev)):
        return None
    return value


def _cut(raw: bytes) -> bool:
    """Whether a line that is not an entry is the start of one cut mid-write: UTF-8 JSON ending early
    (an edit leaves a complete line; a crash or a full disk leaves a prefix)."""
    try:
        json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the very end is a cut too
        return exc.start >= len(raw) - 3 and raw.startswith(b"{") and _cut(raw[:exc.start])
    except json.JSONDecodeError as exc:
        at_end = exc.pos >= len(raw.decode("utf-8").rstrip()) or exc.msg.startswith("Unterminated string")
        return raw.lstrip().startswith(b"{") and at_end
    except (ValueError, RecursionError):
        return False
    return False


def _lines(data: bytes) -> list[tuple[int, bytes]]:
    """(line number, bytes) of the non-blank lines."""
    return [(number, line) for number, line in enumerate(data.split(b"\n"), start=1) if line.strip()]


def _tail(data: bytes, path: Path) -> tuple[dict | None, dict | None]:
    """(the last entry, what to record about a cut last line) of a log's bytes, or a one-line error:
    a last line that is not an entry and not a cut one (edited, an array, a number, not UTF-8)."""
    lines = _lines(data)
    if not lines:
        return None, None
    number, last = lines[-1]
    entry = _entry(last)
    if entry is not None:
        return entry, None
    if not _cut(last):
        raise HarmonieError(f"the audit log {path}, line {number}, is not an entry (edited or corrupted): run "
                            "`harmonie audit verify` on it, then keep it aside and start a new log")
    before = _entry(lines[-2][1]) if len(lines) > 1 else None
    if len(lines) > 1 and before is None:
        raise HarmonieError(f"the audit log {path}, line {lines[-2][0]}, is not an entry (edited or corrupted): run "
                            "`harmonie audit verify` on it, then keep it aside and start a new log")
    recovered = {"line": number, "bytes": len(last), "sha256": hashlib.sha256(last).hexdigest(),
                 "reason": "the entry on this line was cut mid-write (a crash or a full disk); kept as it is"}
    return before, recovered


def check_appendable(path: Path | None = None) -> None:
    """Fail before a command does any work if its entry could not be chained (see :func:`append`)."""
    path = path or log_path()
    try:
        if path.is_file():
            _tail(path.read_bytes(), path)
    except OSError as exc:
        raise HarmonieError(f"cannot read the audit log {path}: {exc.strerror or type(exc).__name__}") from None


def append(entry: dict, path: Path | None = None) -> dict:
    """Chain ``entry`` to the log's last entry and append it (fsync'd, under an exclusive lock).

    A last line cut mid-write (a crash, a full disk) is left as it is, ended with a newline, and the
    new entry chains to the entry before it and records the cut line (number, size, SHA-256) under
    ``recovered``: later commands still append, and :func:`verify` reports the cut entry. Any other
    last line that is not an entry is a one-line error."""
    path = path or log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            data = fh.read()
            previous, recovered = _tail(data, path)
            chained = {"seq": previous["seq"] + 1 if previous else 1,
                       "prev": previous["hash"] if previous else GENESIS, **entry}
            if recovered:
                chained["recovered"] = recovered
            chained["hash"] = _entry_hash(chained)
            fh.seek(0, os.SEEK_END)
            ending = b"\n" if data and not data.endswith(b"\n") else b""
            fh.write(ending + json.dumps(chained, sort_keys=True).encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise HarmonieError(f"cannot append to the audit log {path}: {exc.strerror or type(exc).__name__}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise HarmonieError(f"cannot append to the audit log {path}: {type(exc).__name__}") from None
    return chained


def audited(callback, name: str):
    """Wrap a command's callback (any callable taking the command's parameters as keywords) so
    that each run appends an audit entry. An exception with an ``exit_code`` (a command line's
    exit) is recorded as that exit; the CLI layer decides which commands to wrap."""

    @functools.wraps(callback)
    def run(*args, **params):
        from harmonie import __version__

        if any(isinstance(v, Path) for v in params.values()):
            check_appendable()  # a log its entry cannot join fails the command before any work, not after
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
    """Check the chain; raise HarmonieError naming the first broken entry.

    A line cut mid-write that the next entry recorded (its ``recovered`` line number and SHA-256)
    is reported in ``cut_entries``, not an error: the chain runs from the entry before it to the one
    after. A cut line nobody recorded (the log's last line before any later command) is an error."""
    path = Path(path)
    if not path.is_file():
        raise HarmonieError(f"audit log {path} not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HarmonieError(f"cannot read audit log {path}: {exc.strerror or type(exc).__name__}") from None
    entries, unreadable = [], {}
    for number, raw in _lines(data):
        entry = _entry(raw)
        if entry is None:
            unreadable[number] = raw
        else:
            entries.append((number, entry))
    seen = [entry.get("seq") for _, entry in entries]
    previous_hash, expected_seq, cut = GENESIS, 1, []
    pending = sorted(unreadable)
    for number, entry in entries:
        while pending and pending[0] < number:
            bad = pending.pop(0)
            recovered = entry.get("recovered")
            raw = unreadable[bad]
            if not (isinstance(recovered, dict) and recovered.get("line") == bad
                    and recovered.get("sha256") == hashlib.sha256(raw).hexdigest()):
                raise HarmonieError(f"line {bad} is not a complete JSON entry (edited or cut)")
            cut.append({"line": bad, "bytes": len(raw), "recorded_by": entry.get("seq")})
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
    if pending:
        raise HarmonieError(f"line {pending[0]} is not a complete JSON entry (edited or cut)")
    if expect_head and previous_hash != expect_head:
        raise HarmonieError(f"the log's head is {previous_hash[:16]}..., not the expected {expect_head[:16]}...: "
                            "entries were removed from its end or the log was rewritten")
    return {"entries": len(entries), "head": previous_hash, "cut_entries": cut}
