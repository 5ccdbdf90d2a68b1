"""Result files written so that a reader never sees half a file or half a run, and nothing
that a run did not write is ever deleted.

Three rules:

* **A file** is written to a temporary file in the same directory, flushed to disk and
  renamed over its final name with :func:`os.replace` (:func:`write_atomically`). A reader
  sees the old file or the new one, never a cut one; a failed write (disk full, say)
  leaves the old file and removes the temporary one.
* **A run's directory** (``train``'s or ``reproduce``'s ``--out``) is claimed when the run
  starts, built whole in a fresh hidden *staging* directory beside it,
  ``.NAME.incomplete-PID-XXXXXXXX``, and renamed into place when every file is written
  (:class:`OutputDir`). The claim is an exclusive ``flock`` on ``.NAME.lock`` beside it,
  which the kernel releases when the process ends however it ends, so a second run into a
  directory that a live run holds is refused at its start. The directory at ``--out``
  holds one complete run: the earlier one until the new one is committed, then the new
  one, never a mix. Replacing an existing directory takes two renames (the old one aside to
  ``.NAME.replaced-PID-XXXXXXXX``, the new one in); in between, for the time of one
  rename, ``--out`` does not exist.
* **A manifest** (``manifest.json``, :data:`MANIFEST`) lists every file of a committed run
  with its size and SHA-256. An existing ``--out`` is only replaced when the caller asks
  (``overwrite=True``) and only if every file in it is one its manifest lists, unchanged:
  ``--out ~``, a TensorBoard ``runs/`` directory, a file added or edited by hand, are
  never deleted. The check is made when the run starts and again at the commit; a
  directory that changed in between is left alone and the new run is kept beside it, in
  ``NAME.unsaved-PID-XXXXXXXX``. After the commit only the files the manifest lists are
  deleted from the old run; anything else there (a file added in the instant between the
  check and the rename) is kept in ``NAME.kept-PID-XXXXXXXX``.

Nothing is lost to a crash either. A process killed outright (SIGKILL, power loss) leaves
its staging directory behind and the earlier run untouched; the next :class:`OutputDir`
for the same ``--out``, once it holds the claim, removes those leftovers (no live run can
be writing them), and if a crash fell between the two renames it first moves the
set-aside earlier run back.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # not POSIX: the claim falls back to a file created exclusively
    fcntl = None  # type: ignore[assignment]

MANIFEST = "manifest.json"
"""The file, in every committed run directory, that lists the files the run wrote."""

MANIFEST_FORMAT = "uniloss_ref output manifest"

MAX_MANIFEST_BYTES = 16 << 20
"""A larger manifest is not read (and its directory is not replaced)."""

_STAGING = re.compile(r"^\.(?P<name>.+)\.(?P<kind>incomplete|replaced)-(?P<pid>\d+)-[0-9a-f]{8}$")


def _open_new(path: Path) -> IO[bytes]:
    """Create ``path`` (which must not exist) for writing; mode 0o666 less the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return os.fdopen(fd, "wb")


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write a file by calling ``write(file)`` on a temporary file, then rename it to ``path``.

    Parameters
    ----------
    path : str or path-like
        The final name; its directory must exist.
    write : callable
        Writes the whole content to the binary file object it is given.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OSError
        If creating, writing, flushing or renaming fails (``ENOSPC``, ``EROFS``, ...). The
        temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with _open_new(temporary) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            temporary.unlink()
        except FileNotFoundError:
            pass
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically (see :func:`write_atomically`)."""
    return write_atomically(path, lambda file: file.write(text.encode("utf-8")))


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON (no NaN or infinity) to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def _shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


# --------------------------------------------------------------------------- the claim


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Claim:
    """This process's exclusive hold on a run directory: a lock on ``.NAME.lock`` beside it.

    With ``flock`` the kernel drops the lock when the process ends, however it ends; the
    file itself is removed on release. A lock file left by a killed process is simply
    locked again by the next run. Without ``flock`` (not POSIX) the file is created
    exclusively and holds the owner's process id; one whose process is gone is stale.
    """

    def __init__(self, out: Path, option: str) -> None:
        self.path = out.with_name(f".{out.name}.lock")
        self.fd: int | None = None
        while self.fd is None:
            holder = self._try_lock()
            if holder is not None:
                raise ValueError(
                    f"{option} {out} is in use by another run (process {holder}); wait for "
                    "it to finish or choose another directory"
                )

    def _try_lock(self) -> str | None:
        """Take the lock (setting ``fd``), or return who holds it; None after a lost race."""
        cloexec = getattr(os, "O_CLOEXEC", 0)
        if fcntl is None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | cloexec, 0o666)
            except FileExistsError:
                holder = self._holder()
                if holder.isdigit() and _alive(int(holder)):
                    return holder
                self.path.unlink(missing_ok=True)
                return None
        else:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | cloexec, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return self._holder() or "unknown"
            try:  # the file locked must still be the one named (a releasing run unlinks it)
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                return None
            os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return None

    def _holder(self) -> str:
        try:
            with open(self.path, "rb") as file:
                return file.read(32).decode("ascii", "replace").strip()
        except OSError:
            return ""

    def release(self) -> None:
        """Remove the lock file and drop the lock."""
        if self.fd is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


# --------------------------------------------------------------------------- the manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _walk(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """Regular files under ``directory`` by relative name, and every other entry's name
    (symbolic links, FIFOs, devices, sockets), without following links."""
    files, others = {}, []
    for root, dirs, names in os.walk(directory):
        for name in sorted(dirs):
            if os.path.islink(os.path.join(root, name)):
                others.append(Path(root, name).relative_to(directory).as_posix())
        for name in sorted(names):
            path = Path(root, name)
            relative = path.relative_to(directory).as_posix()
            if stat.S_ISREG(os.lstat(path).st_mode):
                files[relative] = path
            else:
                others.append(relative)
    return files, others


def write_manifest(directory: str | os.PathLike) -> Path:
    """List every file under ``directory`` with its size and SHA-256 in ``manifest.json``.

    Returns
    -------
    pathlib.Path
        The manifest's path.
    """
    directory = Path(directory)
    files, _ = _walk(directory)
    files.pop(MANIFEST, None)
    listed = {
        name: {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        for name, path in sorted(files.items())
    }
    return write_json(directory / MANIFEST, {"format": MANIFEST_FORMAT, "files": listed})


def _read_manifest(directory: Path) -> dict[str, dict[str, Any]] | None:
    """The files a directory's manifest lists, or None if it has no readable manifest."""
    path = directory / MANIFEST
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MANIFEST_BYTES:
            return None
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    files = document.get("files") if isinstance(document, dict) else None
    if document.get("format") != MANIFEST_FORMAT or not isinstance(files, dict):
        return None
    for name, entry in files.items():
        inside = Path(name).as_posix() == name and not Path(name).is_absolute()
        if not (
            inside
            and ".." not in Path(name).parts
            and isinstance(entry, dict)
            and isinstance(entry.get("bytes"), int)
            and isinstance(entry.get("sha256"), str)
        ):
            return None  # (a name outside the directory is never trusted)
    return files


def not_written_here(directory: str | os.PathLike) -> list[str]:
    """The entries of ``directory`` that its manifest does not vouch for, sorted.

    A file is vouched for when the manifest lists it with its current size and SHA-256;
    everything else (a file added or edited since, a symbolic link, a FIFO, every entry of a
    directory with no readable manifest) is named. An empty list means that every file
    there was written by a ``uniloss_ref`` run and is unchanged.
    """
    directory = Path(directory)
    listed = _read_manifest(directory)
    if listed is None:  # (not walked: --out ~ would take a while)
        return sorted(os.listdir(directory))
    files, others = _walk(directory)
    files.pop(MANIFEST)
    changed = [name for name, path in files.items() if not _unchanged(path, listed.get(name))]
    return sorted(changed + others)


def _unchanged(path: Path, entry: dict[str, Any] | None) -> bool:
    """Whether ``path`` is a regular file with the size and SHA-256 of its manifest entry."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    return (
        entry is not None
        and stat.S_ISREG(info.st_mode)
        and info.st_size == entry["bytes"]
        and _sha256(path) == entry["sha256"]
    )


def _remove_listed(directory: Path, listed: dict[str, Any]) -> bool:
    """Delete the files ``listed`` that are still as listed (then the manifest) from
    ``directory``, then its empty folders; whether the directory is gone (nothing else was
    in it)."""
    for name, entry in listed.items():
        if _unchanged(directory / name, entry):
            (directory / name).unlink()
    try:
        (directory / MANIFEST).unlink()
    except OSError:
        pass
    for root, _, _ in os.walk(directory, topdown=False):
        try:
            os.rmdir(root)
        except OSError:
            pass
    return not os.path.lexists(directory)


# --------------------------------------------------------------------------- the directory


def _recover(out: Path) -> None:
    """Tidy what crashed runs into ``out`` left behind; call only while holding the claim."""
    try:
        leftovers = list(out.parent.iterdir())
    except OSError:
        return
    for path in sorted(leftovers):
        match = _STAGING.match(path.name)
        if not match or match["name"] != out.name or int(match["pid"]) == os.getpid():
            continue
        if match["kind"] == "replaced" and not os.path.lexists(out):
            try:
                os.rename(path, out)
                continue
            except OSError:
                pass
        shutil.rmtree(path, ignore_errors=True)


def tidy(out: str | os.PathLike) -> None:
    """Remove the leftovers of runs into ``out`` that were killed (staging directories, a
    lock file), unless a live run holds ``out``."""
    out = Path(os.path.realpath(out))
    try:
        claim = _Claim(out, "--out")
    except (ValueError, OSError):
        return
    try:
        _recover(out)
    finally:
        claim.release()


class CommitRefused(ValueError):
    """``--out`` changed during the run so that replacing it would delete what is not ours."""


class OutputDir:
    """A directory of results, claimed, written in a staging directory and committed whole.

    Creating one claims ``out``, checks it and creates the staging directory, so every
    reason the results could not be saved (another run holding ``out``, a read-only
    location, a file or a mount point in the way, files that are not an earlier run's) is
    found before any work is done. Use it as a context manager: a staging directory not
    committed by the end of the block is removed, and the claim released.

    Parameters
    ----------
    out : str or path-like
        The directory to write; created with its parents if missing.
    overwrite : bool, default False
        Replace an existing non-empty ``out`` whose files its manifest all lists.
    option : str, default "--out"
        How the messages name ``out``.

    Attributes
    ----------
    out : pathlib.Path
        The final directory, absolute.
    path : pathlib.Path
        The staging directory: write the run's files here.
    kept : pathlib.Path or None
        After a commit, where files found in the replaced run that its manifest did not
        list were moved (None when there were none).

    Raises
    ------
    ValueError
        For an empty ``out``, one that is a file, a mount point or a file system root, one
        that another live run holds, or a non-empty one not to be replaced.
    PermissionError
        If ``out`` or its parent is not writable.
    OSError
        If the staging directory or the lock cannot be created.
    """

    def __init__(
        self, out: str | os.PathLike, *, overwrite: bool = False, option: str = "--out"
    ) -> None:
        if not os.fspath(out).strip():
            raise ValueError(f"{option} must name a directory, got {os.fspath(out)!r}")
        self.out = Path(os.path.realpath(out))
        self.option, self.overwrite = option, overwrite
        self.committed, self.kept = False, None
        self._claim: _Claim | None = None
        if self.out == self.out.parent:
            raise ValueError(f"{option} {self.out} is a file system root; name a directory in it")
        if os.path.lexists(self.out) and not self.out.is_dir():
            raise ValueError(f"{option} {self.out} exists and is not a directory")
        if self.out.is_dir() and os.path.ismount(self.out):
            raise ValueError(
                f"{option} {self.out} is a mount point, which cannot be replaced by renaming "
                "(how a run is saved whole); name a directory inside it"
            )
        parent = self.out.parent
        parent.mkdir(parents=True, exist_ok=True)
        if not os.access(parent, os.W_OK):
            raise PermissionError(
                errno.EACCES, f"{option}: cannot create {self.out.name!r} in {parent}: not writable"
            )
        self._claim = _Claim(self.out, option)
        try:
            _recover(self.out)
            if os.path.lexists(self.out):
                self._check_existing()
            while True:
                name = f".{self.out.name}.incomplete-{os.getpid()}-{secrets.token_hex(4)}"
                try:
                    os.mkdir(parent / name)
                except FileExistsError:
                    continue
                break
        except BaseException:
            self._claim.release()
            raise
        self.path = parent / name

    def _check_existing(self) -> None:
        """Refuse an existing ``out`` that may not be replaced (see the module docstring)."""
        out, option = self.out, self.option
        if not out.is_dir():
            raise ValueError(f"{option} {out} exists and is not a directory")
        if not os.access(out, os.W_OK):
            raise PermissionError(errno.EACCES, f"{option} {out} is not writable")
        entries = sorted(os.listdir(out))
        if not entries:
            return
        if not self.overwrite:
            raise ValueError(
                f"{option} {out} already holds the files of another run ({_shown(entries)}); "
                "pass --overwrite to replace them, or choose another directory"
            )
        foreign = self._blocking()
        if _read_manifest(out) is None:  # none, or not one this package wrote
            raise ValueError(
                f"{option} {out} holds files that no uniloss_ref run listed in a {MANIFEST} "
                f"({_shown(foreign)}); not replacing it even with --overwrite: choose another "
                "directory"
            )
        if foreign:
            raise ValueError(
                f"{option} {out} holds files that no uniloss_ref run wrote or that changed "
                f"since ({_shown(foreign)}); not replacing it even with --overwrite: move "
                "them or choose another directory"
            )

    def _blocking(self) -> list[str]:
        """The entries of the existing ``out`` that forbid replacing it."""
        return not_written_here(self.out) if self.overwrite else sorted(os.listdir(self.out))

    def commit(self) -> Path:
        """Write the manifest and move the staging directory to ``out``; return ``out``.

        ``out`` is checked again first: if it changed during the run so that it may no longer
        be replaced, it is left as it is, the new run is moved to
        ``NAME.unsaved-PID-XXXXXXXX`` beside it and :class:`CommitRefused` says so.

        Raises
        ------
        CommitRefused
            If ``out`` now holds what may not be replaced (``out`` is left as it is).
        OSError
            If writing the manifest or a rename fails; ``out`` is then as it was before.
        """
        if self.committed:
            return self.out
        write_manifest(self.path)
        if os.path.lexists(self.out):
            try:
                self._check_existing()
            except (ValueError, PermissionError):
                blocking = [self.out.name] if not self.out.is_dir() else self._blocking()
                unsaved = self.out.with_name(
                    f"{self.out.name}.unsaved-{os.getpid()}-{secrets.token_hex(4)}"
                )
                os.rename(self.path, unsaved)
                self.path, self.committed = unsaved, True
                raise CommitRefused(
                    f"{self.option} {self.out} changed during the run and now holds files "
                    f"this run may not replace ({_shown(blocking)}); it was left as it is, "
                    f"and this run was saved in {unsaved}"
                ) from None
        if os.path.lexists(self.out) and os.listdir(self.out):
            listed = _read_manifest(self.out) or {}
            aside = self.out.with_name(
                f".{self.out.name}.replaced-{os.getpid()}-{secrets.token_hex(4)}"
            )
            os.rename(self.out, aside)
            try:
                os.rename(self.path, self.out)
            except BaseException:
                os.rename(aside, self.out)
                raise
            if not _remove_listed(aside, listed):
                self.kept = self.out.with_name(
                    f"{self.out.name}.kept-{os.getpid()}-{secrets.token_hex(4)}"
                )
                os.rename(aside, self.kept)
        else:  # absent, or an empty directory, which rename replaces
            os.rename(self.path, self.out)
        self.committed = True
        return self.out

    def discard(self) -> None:
        """Remove the staging directory (if not committed)."""
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)

    def close(self) -> None:
        """Discard an uncommitted staging directory and release the claim on ``out``."""
        try:
            self.discard()
        finally:
            if self._claim is not None:
                self._claim.release()

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
