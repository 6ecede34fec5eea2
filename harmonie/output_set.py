"""A command's outputs written as one unit: locked, staged, committed, and checkable later.

**The output policy** (one for every command, issue #21): a command writes into an output
that is absent or empty, or it is given ``--overwrite``; it never writes beside files it
did not write in the same run. With ``--overwrite`` the old output is replaced *whole*: the
new files are written into a staging folder, which is swapped in for the old folder in one
atomic exchange (``renameat2(RENAME_EXCHANGE)``; where the file system lacks it, two
renames, and a crash between them is undone by the next run), so no file of the previous run
remains and a crash leaves either the old or the new output whole. A refusal is one line
(:func:`not_empty`) naming the fix. ``--overwrite`` never replaces a key file, a folder
holding an input of the command or a key file, the current folder or one of its parents,
or the home folder. Single-file outputs follow the same rule (:func:`check_output_file`);
each file is written atomically (:mod:`harmonie.io`).

One deliberate exception, *adding to a run*: ``evaluate`` (into its link run's folder) and
``evaluate-clusters`` (into its link-all run's folder) add their files to a folder another
command wrote. Their own files must be absent there (an earlier evaluation is refused unless
``--overwrite``, which replaces that evaluation's files, and only them); a file they rewrite
on purpose (``evaluate``'s ``report.html``, the link run's report enriched with the truth) is
re-hashed in the owner's manifest, marked ``enriched_by``, so the folder stays checkable.

An :class:`OutputFolder`:

1. checks the policy above before any work, then holds an exclusive lock on the folder
   (``.harmonie.lock``) for the whole command, so a second run into the same folder fails
   at once instead of interleaving;
2. gives the command a hidden staging folder inside the output folder (same file system:
   every move is a rename) and removes staging left by killed runs;
3. on success, writes the run manifest ``.harmonie-run-<command>.json`` (each file with its
   SHA-256) into the staging folder, moves it beside the output and exchanges the two
   folders (adding to a run: the manifest is written ``committing``, the files moved into
   place, the manifest marked ``complete``);
4. on failure, removes the staging folder: the output is as it was (absent if it was).

:func:`check_output_set` is what the next command calls on the files it reads: a file listed
by an interrupted run, or whose bytes are not those of the run that wrote the folder, is a
one-line error naming the command to rerun. A folder with no manifest (written by the Python
API, or by an older Harmonie) is read as it is.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import secrets
import shutil
import stat
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harmonie.errors import HarmonieError, OutputNotWritable
from harmonie.io import ensure_output_dir, is_key_file, sha256_file, write_text
from harmonie.output_flag import OVERWRITE_FILE_HELP, OVERWRITE_HELP, overwrite_option  # noqa: F401

LOCK = ".harmonie.lock"
STAGING_PREFIX = ".harmonie-staging-"
MANIFEST_PREFIX = ".harmonie-run-"
NEW_INFIX, OLD_INFIX = ".harmonie-new-", ".harmonie-old-"  # beside the output, for the exchange
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


# --- the output policy: absent or empty, or --overwrite (then replaced whole) -----------------------------

def _is_leftover(name: str) -> bool:
    """Files a killed run may leave (its staging, a half-written temporary file): never an output."""
    return is_control_file(name) or (name.startswith(".") and name.endswith(".tmp"))


def output_files(folder: Path) -> list[Path]:
    """The files and links in ``folder`` (recursively) other than Harmonie's control files and leftovers."""
    found, stack = [], [Path(folder)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if current == Path(folder) and _is_leftover(entry.name):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            else:
                found.append(Path(entry.path))
    return found


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def not_empty(out: Path, option: str = "--out", count: int | None = None, what: str = "") -> HarmonieError:
    """The one-line refusal of a non-empty output, naming the fix."""
    count = len(output_files(out)) if count is None else count
    held = f"{_plural(count, 'file')}{what}" if count else "only empty folders"
    return HarmonieError(f"{option} {out} is not empty ({held}); give --overwrite to replace it, or another {option}")


def _resolved(path) -> Path:
    return Path(path).expanduser().resolve()


def _named_inputs(inputs) -> dict[str, Path]:
    if inputs is None:
        return {}
    if isinstance(inputs, dict):
        return {option: Path(value) for option, value in inputs.items() if value is not None}
    return {str(value): Path(value) for value in inputs if value is not None}


def _guard_replacement(out: Path, option: str, inputs, own_keys: tuple[str, ...] = ()) -> None:
    """What ``--overwrite`` may never replace: the home or current folder (or a parent), an input, a key file
    (but those at ``own_keys``, paths relative to ``out`` where the command itself writes throw-away keys)."""
    target = _resolved(out)
    if target == _resolved(Path.home()) or target == Path(target.anchor) or target == _resolved(Path.cwd()) \
            or target in _resolved(Path.cwd()).parents:
        raise HarmonieError(f"{option} {out} is the current, home or root folder (or holds the current folder): "
                            f"--overwrite replaces an output whole, so give {option} a folder of its own")
    for name, value in _named_inputs(inputs).items():
        path = _resolved(value)
        if path == target or target in path.parents:
            shown = f"{name} ({value})" if name != str(value) else str(value)
            raise HarmonieError(f"{option} {out} holds the input {shown}: --overwrite would delete it; choose "
                                f"another {option}")
    for path in output_files(out):
        if path.relative_to(out).as_posix() not in own_keys and path.is_file() and not path.is_symlink() \
                and is_key_file(path):
            raise HarmonieError(f"{option} {out} holds a key file ({path.relative_to(out)}): --overwrite never "
                                f"deletes a key; move it out, or choose another {option}")


def check_output_folder(out: str | os.PathLike, *, overwrite: bool, option: str = "--out", inputs=None,
                        own_keys: tuple[str, ...] = ()) -> Path:
    """Before any work: ``out`` may be written as a whole output folder (absent, or empty, or ``overwrite``;
    with ``overwrite`` not one of the folders :func:`_guard_replacement` protects), else one line."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise HarmonieError(f"{option} {out} exists and is not a folder: give {option} a folder")
    if out.is_dir():
        if not overwrite:
            if output_files(out) or any(not _is_leftover(p.name) for p in out.iterdir()):
                raise not_empty(out, option)
        else:
            _guard_replacement(out, option, inputs, own_keys)
    return out


def check_output_file(path: str | os.PathLike | None, *, overwrite: bool, option: str = "--out") -> None:
    """Before any work: the output file ``path`` is absent, or ``overwrite`` (a key file never: see
    :func:`harmonie.io.check_distinct_paths`), else one line naming the fix."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise HarmonieError(f"{option} {path} is a folder: give {option} a file")
    if path.exists() or path.is_symlink():
        if is_key_file(path):
            raise HarmonieError(f"{option} {path} is a key file: a key is never overwritten; choose another {option}")
        if not overwrite:
            raise HarmonieError(f"{option} {path} exists; give --overwrite to replace it, or another {option}")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2``); False where the system or file system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OutputNotWritable(f"cannot replace {b}: {os.strerror(code)}")


def _beside(folder: Path, infix: str) -> Path:
    return folder.parent / f".{folder.name}{infix}{secrets.token_hex(6)}"


def recover(folder: Path) -> None:
    """Undo a replacement killed between its two renames (no atomic exchange): the old output comes back."""
    folder = Path(folder)
    if folder.exists() or folder.is_symlink():
        return
    old = sorted(folder.parent.glob(f".{folder.name}{OLD_INFIX}*"), key=lambda p: p.stat().st_mtime)
    if old:
        os.rename(old[-1], folder)


def remove_leftovers_beside(folder: Path) -> None:
    """Folders a killed replacement left beside ``folder`` (call under its lock)."""
    for infix in (NEW_INFIX, OLD_INFIX):
        for leftover in folder.parent.glob(f".{folder.name}{infix}*"):
            if leftover.is_symlink():
                leftover.unlink(missing_ok=True)
            else:
                shutil.rmtree(leftover, ignore_errors=True)


def swap_in(new: Path, folder: Path) -> None:
    """Put the complete folder ``new`` (beside ``folder``, same file system) in place of ``folder`` whole."""
    new, folder = Path(new), Path(folder)
    if not (folder.exists() or folder.is_symlink()):
        os.rename(new, folder)
        return
    try:
        os.chmod(new, stat.S_IMODE(folder.stat().st_mode))  # the output keeps its permissions
    except OSError:
        pass
    if _exchange(new, folder):
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now names the old output
        return
    old = _beside(folder, OLD_INFIX)
    try:
        os.rename(folder, old)
        os.rename(new, folder)  # killed between the two: :func:`recover` brings ``old`` back
    except OSError as exc:
        recover(folder)
        raise OutputNotWritable(f"cannot replace {folder}: {exc.strerror}") from None
    shutil.rmtree(old, ignore_errors=True)


def _write_manifest(path: Path, document: dict) -> None:
    write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", path)


@dataclass
class OutputFolder:
    """``with OutputFolder(out, "link", inputs=[...], overwrite=...) as staging:`` write into ``staging``; the
    files appear in ``out`` together (replacing any previous output whole) when the block ends without an
    exception. ``into_run``: add this command's files to a run folder another command wrote (see the module);
    ``writes`` names the files it will write there, ``enriches`` those of the run it may rewrite on purpose."""

    folder: Path
    command: str
    inputs: list[Path] | dict = field(default_factory=list)
    overwrite: bool = False
    option: str = "--out"
    into_run: bool = False
    writes: tuple[str, ...] = ()
    enriches: tuple[str, ...] = ()
    _lock: int | None = None
    _staging: Path | None = None
    _created: bool = False

    def check(self) -> OutputFolder:
        """The policy's check, to call before any work when the folder is entered only after it."""
        if self.into_run:
            self._check_addition()
        else:
            check_output_folder(self.folder, overwrite=self.overwrite, option=self.option, inputs=self.inputs)
        return self

    def _input_paths(self) -> list[Path]:
        return list(_named_inputs(self.inputs).values())

    def __enter__(self) -> Path:
        if Path(self.folder).is_symlink():  # the folder it names is the output (the link stays)
            self.folder = Path(os.path.realpath(self.folder))
        recover(Path(self.folder))
        self.check()
        self._created = not Path(self.folder).exists()
        self.folder = ensure_output_dir(self.folder)
        self._lock = lock_folder(self.folder)
        try:
            remove_leftovers_beside(self.folder)
            for leftover in self.folder.glob(f"{STAGING_PREFIX}*"):  # under the lock: a killed run's
                shutil.rmtree(leftover, ignore_errors=True)
            for leftover in self.folder.glob(".*.tmp"):
                leftover.unlink(missing_ok=True)
            if self.into_run:
                self._check_addition()
            elif not self.overwrite and output_files(self.folder):  # written by a run that ended meanwhile
                raise not_empty(self.folder, self.option)
            self._staging = self.folder / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
            self._staging.mkdir()
        except BaseException:
            self._release(failed=True)
            raise
        return self._staging

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None:
                self._commit_addition() if self.into_run else self._commit_whole()
        finally:
            self._release(failed=kind is not None)

    def _release(self, failed: bool) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
        if self._lock is not None:
            os.close(self._lock)  # releases the lock
            self._lock = None
        if failed and self._created:  # a failed run into a new folder leaves no folder
            try:
                (Path(self.folder) / LOCK).unlink(missing_ok=True)
                Path(self.folder).rmdir()
            except OSError:
                pass

    def _staged(self) -> dict[str, str]:
        staged = sorted(p.relative_to(self._staging).as_posix() for p in self._staging.rglob("*") if p.is_file())
        return {name: sha256_file(self._staging / name) for name in staged}

    def _commit_whole(self) -> None:
        files = self._staged()
        if not os.access(self.folder.resolve().parent, os.W_OK | os.X_OK):
            self._commit_in_place(files)  # nothing may be created beside the folder: replace inside it
            return
        _write_manifest(manifest_path(self._staging, self.command),
                        {"format": FORMAT, "command": self.command, "state": "complete", "files": files, "inputs": {}})
        new = _beside(self.folder, NEW_INFIX)
        os.rename(self._staging, new)
        self._staging = None
        try:
            swap_in(new, self.folder)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise

    def _commit_in_place(self, files: dict[str, str]) -> None:
        """The whole replacement where the parent folder is not writable: the manifest (``committing``) first, then
        the old contents removed and the new moved in, then ``complete``; a crash between leaves a manifest that
        :func:`check_output_set` reports as unfinished, never a mix read as one run."""
        mine = manifest_path(self.folder, self.command)
        document = {"format": FORMAT, "command": self.command, "state": "committing", "files": files, "inputs": {}}
        _write_manifest(mine, document)
        for entry in list(self.folder.iterdir()):
            if entry.name in (LOCK, mine.name) or entry.name.startswith(STAGING_PREFIX):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        for entry in list(self._staging.iterdir()):
            os.replace(entry, self.folder / entry.name)
        document["state"] = "complete"
        _write_manifest(mine, document)

    # --- adding to a run folder (evaluate, evaluate-clusters)

    def _check_addition(self) -> None:
        folder = Path(self.folder)
        if not folder.is_dir():
            return
        earlier = _read_manifest(manifest_path(folder, self.command))
        present = [name for name in self.writes if (folder / name).exists()]
        if self.overwrite:
            return
        if earlier is not None or present:
            names = sorted(set(present) | {n for n in (earlier or {}).get("files", {}) if isinstance(n, str)})
            shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
            raise HarmonieError(f"{self.option} {folder} already holds an earlier `harmonie {self.command}` "
                                f"({shown}); give --overwrite to replace it, or another {self.option}")

    def _commit_addition(self) -> None:
        files = self._staged()
        mine = manifest_path(self.folder, self.command)
        previous = _read_manifest(mine) or {"files": {}}
        others = {path: doc for path, doc in _manifests(self.folder).items() if path != mine}
        owned = {name: path for path, doc in others.items() for name in doc.get("files", {})}
        enriched = [name for name in files if name in self.enriches and name in owned]
        clashes = [name for name in files if (self.folder / name).exists() and name not in previous["files"]
                   and name not in enriched]
        if clashes and not self.overwrite:
            raise HarmonieError(f"{self.option} {self.folder} already holds {', '.join(sorted(clashes)[:4])}; give "
                                f"--overwrite to replace it, or another {self.option}")
        inputs = {}  # only inputs in this folder matter: they are what a later run here can replace
        for path in self._input_paths():
            if Path(path).is_file() and Path(path).resolve().parent == self.folder.resolve():
                inputs[str(Path(path).resolve())] = sha256_file(path)
        document = {"format": FORMAT, "command": self.command, "state": "committing", "files": files,
                    "inputs": inputs}
        _write_manifest(mine, document)
        replaced = {str((self.folder / name).resolve()) for name in files}
        self._invalidate_dependents(replaced | {str((self.folder / n).resolve()) for n in previous["files"]}, mine)
        for name in previous["files"]:
            if name not in files and not is_control_file(Path(name).name) and name not in owned:
                (self.folder / name).unlink(missing_ok=True)
        for name in sorted(files):
            target = self.folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._staging / name, target)
        for name in enriched:  # the owner's manifest lists the enriched bytes, and says who enriched them
            path = owned[name]
            doc = _read_manifest(path)
            if doc is not None and doc.get("state") != "unreadable":
                doc["files"][name] = files[name]
                doc.setdefault("enriched_by", {})[name] = self.command
                _write_manifest(path, doc)
        document["state"] = "complete"
        _write_manifest(mine, document)

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
