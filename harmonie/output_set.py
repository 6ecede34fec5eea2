"""A command's outputs written as one unit: locked, staged, committed, and checkable later.

Each file is already written atomically (:mod:`harmonie.io`), but a command writes several
(links, grey zone, model, summary, charts), and two runs into one folder, or a run killed
between two files, used to leave files of different runs side by side; a later command then
reported on the mix. An :class:`OutputFolder`:

1. holds an exclusive lock on the folder (``.harmonie.lock``) for the whole command, so a
   second run into the same folder fails at once instead of interleaving;
2. gives the command a hidden staging folder inside the output folder (same file system:
   every move is a rename) and removes staging left by killed runs;
3. on success, writes the run manifest ``.harmonie-run-<command>.json`` in the state
   ``committing`` (the files about to appear, with their SHA-256), moves the files into
   place, removes the previous run's files that this run did not write again and the outputs
   of other commands made *from* the files it replaced (``evaluate``'s report beside new
   links), and marks the manifest ``complete``;
4. on failure, removes the staging folder: the folder keeps the previous run's complete set.

:func:`check_output_set` is what the next command calls on the files it reads: a file listed
by an interrupted run, or whose bytes are not those of the run that wrote the folder, is a
one-line error naming the command to rerun. A folder with no manifest (written by the Python
API, or by an older Harmonie) is read as it is.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harmonie.errors import HarmonieError, OutputNotWritable
from harmonie.io import ensure_output_dir, sha256_file, write_text

LOCK = ".harmonie.lock"
STAGING_PREFIX = ".harmonie-staging-"
MANIFEST_PREFIX = ".harmonie-run-"
FORMAT = "harmonie-output-set/1"


def manifest_path(folder: Path, command: str) -> Path:
    return folder / f"{MANIFEST_PREFIX}{command.replace(' ', '-')}.json"


def is_control_file(name: str) -> bool:
    """Whether ``name`` is one of the files this module keeps beside the outputs (never an output)."""
    return name == LOCK or name.startswith(STAGING_PREFIX) or name.startswith(MANIFEST_PREFIX)


def _read_manifest(path: Path) -> dict | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return {"format": FORMAT, "state": "unreadable", "files": {}, "inputs": {}}
    if not isinstance(document, dict) or not isinstance(document.get("files"), dict):
        return {"format": FORMAT, "state": "unreadable", "files": {}, "inputs": {}}
    document.setdefault("inputs", {})
    return document


def _manifests(folder: Path) -> dict[Path, dict]:
    found = {}
    for path in sorted(folder.glob(f"{MANIFEST_PREFIX}*.json")):
        document = _read_manifest(path)
        if document is not None:
            found[path] = document
    return found


def lock_folder(folder: Path) -> int:
    """An exclusive lock on ``folder`` (a descriptor; closing it releases the lock), or one line if another
    Harmonie command holds it. Released by the system when the process dies, so a killed run never blocks."""
    lock = os.open(Path(folder) / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(lock)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise HarmonieError(f"another Harmonie command is writing into {folder}: wait for it to finish, or "
                                "give this one another output folder") from None
        raise OutputNotWritable(f"cannot lock {folder}: {exc.strerror}") from None
    return lock


@contextmanager
def locked(*files: Path):
    """Hold the lock of the folder of each of ``files`` (for commands whose outputs are single files)."""
    held = []
    files = [Path(f) for f in files if f is not None]
    try:
        for folder in sorted({ensure_output_dir(f.parent).resolve() for f in files}):
            held.append(lock_folder(folder))
        for f in files:  # under the lock: temporary files of a killed run, never another run's
            for leftover in f.parent.glob(f".{f.name}.*.tmp"):
                leftover.unlink(missing_ok=True)
        yield
    finally:
        for lock in held:
            os.close(lock)


@dataclass
class OutputFolder:
    """``with OutputFolder(out, "link", inputs=[...]) as staging:`` write into ``staging``; the
    files appear in ``out`` together when the block ends without an exception."""

    folder: Path
    command: str
    inputs: list[Path] = field(default_factory=list)
    _lock: int | None = None
    _staging: Path | None = None

    def __enter__(self) -> Path:
        self.folder = ensure_output_dir(self.folder)
        self._lock = lock_folder(self.folder)
        for leftover in self.folder.glob(f"{STAGING_PREFIX}*"):  # under the lock: nobody else's, a killed run's
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in self.folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        self._staging = self.folder / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
        self._staging.mkdir()
        return self._staging

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None:
                self._commit()
        finally:
            if self._staging is not None:
                shutil.rmtree(self._staging, ignore_errors=True)
            if self._lock is not None:
                os.close(self._lock)  # releases the lock
                self._lock = None

    def _commit(self) -> None:
        staged = sorted(p.relative_to(self._staging).as_posix() for p in self._staging.rglob("*") if p.is_file())
        files = {name: sha256_file(self._staging / name) for name in staged}
        inputs = {}  # only inputs in this folder matter: they are what a later run here can replace
        for path in self.inputs:
            if path is not None and Path(path).is_file() and Path(path).resolve().parent == self.folder.resolve():
                inputs[str(Path(path).resolve())] = sha256_file(path)
        mine = manifest_path(self.folder, self.command)
        previous = _read_manifest(mine) or {"files": {}}
        document = {"format": FORMAT, "command": self.command, "state": "committing", "files": files,
                    "inputs": inputs}
        write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", mine)
        replaced = {str((self.folder / name).resolve()) for name in files}
        self._invalidate_dependents(replaced | {str((self.folder / n).resolve()) for n in previous["files"]}, mine)
        for name in previous["files"]:
            if name not in files and not is_control_file(Path(name).name):
                (self.folder / name).unlink(missing_ok=True)
        for name in staged:
            target = self.folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._staging / name, target)
        document["state"] = "complete"
        write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", mine)

    def _invalidate_dependents(self, replaced: set[str], mine: Path) -> None:
        """Remove other commands' outputs in this folder that were made from a file being replaced."""
        for path, other in _manifests(self.folder).items():
            if path == mine or not replaced & set(other.get("inputs", {})):
                continue
            for name in other.get("files", {}):
                if isinstance(name, str) and not is_control_file(Path(name).name) and ".." not in Path(name).parts:
                    (self.folder / name).unlink(missing_ok=True)
            path.unlink(missing_ok=True)


def check_output_set(*paths: Path) -> None:
    """Each of ``paths`` that some run's manifest lists must be that complete run's bytes, and each
    run whose files are read together must be complete: else one line naming the command to rerun."""
    for path in paths:
        path = Path(path)
        if not path.is_file():
            continue
        for folder in (path.parent, path.parent.parent):  # a dataset's tables sit one level down (ANALYTIC/train)
            name = path.relative_to(folder).as_posix()
            for manifest, document in _manifests(folder).items():
                if name not in document["files"]:
                    continue
                command = document.get("command", manifest.stem[len(MANIFEST_PREFIX):])
                if document.get("state") != "complete":
                    raise HarmonieError(f"the last `harmonie {command}` into {folder} did not finish, so its files "
                                        f"there are a mix of two runs: run `harmonie {command}` again")
                if sha256_file(path) != document["files"][name]:
                    raise HarmonieError(f"{path} is not the file the last `harmonie {command}` wrote there (altered "
                                        f"or replaced since): run `harmonie {command}` again")
