"""Result files written so that a reader never sees half a file or half a run.

Two rules, one per level:

* **A file** is written to a temporary file in the same directory, flushed to disk and
  renamed over its final name with :func:`os.replace` (:func:`write_atomically`). A reader
  sees the old file or the new one, never a cut one; a failed write (disk full, say)
  leaves the old file and removes the temporary one.
* **A run's directory** (``train``'s or ``reproduce``'s ``--out``) is built whole in a
  fresh hidden *staging* directory beside it, ``.NAME.incomplete-PID-XXXXXXXX``, and
  renamed into place when every file is written (:class:`OutputDir`). So the directory at
  ``--out`` always holds one complete run: the earlier one until the new one is committed,
  then the new one, never a mix (stale plots of the earlier run go with it). Replacing an
  existing directory takes two renames (the old one aside to
  ``.NAME.replaced-PID-XXXXXXXX``, the new one in) with the old one removed after; in
  between, for the time of one rename, ``--out`` does not exist.

Nothing is lost to a crash either. A process killed outright (SIGKILL, power loss) leaves
its staging directory behind and the earlier run untouched; the next :class:`OutputDir`
for the same ``--out`` removes staging directories whose process is gone, and if a crash
fell between the two renames it first moves the set-aside earlier run back.

An existing ``--out`` is only replaced when the caller asks (``overwrite=True``), and
only if every entry in it is a name some ``uniloss_ref`` command writes
(:data:`OUTPUT_NAMES`): ``--out ~`` with ``--overwrite`` is refused, not emptied.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

OUTPUT_NAMES = frozenset(
    {
        # train
        "results.json",
        "curves.png",
        "precision_recall.png",
        "keypoints.png",
        # reproduce
        "results.md",
        "validation_curves.png",
        "runs",
    }
)
"""Every name ``train`` and ``reproduce`` write into their ``--out``."""

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


def _recover(out: Path) -> None:
    """Tidy what crashed runs into ``out`` left behind (see the module docstring)."""
    try:
        leftovers = list(out.parent.iterdir())
    except OSError:
        return
    for path in sorted(leftovers):
        match = _STAGING.match(path.name)
        if not match or match["name"] != out.name or _alive(int(match["pid"])):
            continue
        if match["kind"] == "replaced" and not os.path.lexists(out):
            try:
                os.rename(path, out)
                continue
            except OSError:
                pass
        shutil.rmtree(path, ignore_errors=True)


class OutputDir:
    """A directory of results, written in a staging directory and committed as a whole.

    Creating one checks ``out`` and creates the staging directory, so every reason the
    results could not be saved (a read-only location, a file in the way, an earlier run
    not to be replaced) is found before any work is done. Use it as a context manager: a
    staging directory not committed by the end of the block is removed.

    Parameters
    ----------
    out : str or path-like
        The directory to write; created with its parents if missing.
    overwrite : bool, default False
        Replace an existing non-empty ``out`` holding only names in :data:`OUTPUT_NAMES`.
    option : str, default "--out"
        How the messages name ``out``.

    Attributes
    ----------
    out : pathlib.Path
        The final directory, absolute.
    path : pathlib.Path
        The staging directory: write the run's files here.

    Raises
    ------
    ValueError
        For an empty ``out``, one that is a file, or a non-empty one not to be replaced.
    PermissionError
        If ``out`` or its parent is not writable.
    OSError
        If the staging directory cannot be created.
    """

    def __init__(
        self, out: str | os.PathLike, *, overwrite: bool = False, option: str = "--out"
    ) -> None:
        if not os.fspath(out).strip():
            raise ValueError(f"{option} must name a directory, got {os.fspath(out)!r}")
        self.out = Path(os.path.realpath(out))
        self.committed = False
        if self.out == self.out.parent:
            raise ValueError(f"{option} {self.out} is a file system root; name a directory in it")
        _recover(self.out)
        if os.path.lexists(self.out):
            self._check_existing(option, overwrite)
        parent = self.out.parent
        parent.mkdir(parents=True, exist_ok=True)
        if not os.access(parent, os.W_OK):
            raise PermissionError(
                errno.EACCES, f"{option}: cannot create {self.out.name!r} in {parent}: not writable"
            )
        while True:
            name = f".{self.out.name}.incomplete-{os.getpid()}-{secrets.token_hex(4)}"
            try:
                os.mkdir(parent / name)
            except FileExistsError:
                continue
            break
        self.path = parent / name

    def _check_existing(self, option: str, overwrite: bool) -> None:
        out = self.out
        if not out.is_dir():
            raise ValueError(f"{option} {out} exists and is not a directory")
        if not os.access(out, os.W_OK):
            raise PermissionError(errno.EACCES, f"{option} {out} is not writable")
        entries = sorted(os.listdir(out))
        if not entries:
            return
        if not overwrite:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise ValueError(
                f"{option} {out} already holds the files of another run ({shown}); pass "
                "--overwrite to replace them, or choose another directory"
            )
        foreign = [e for e in entries if e not in OUTPUT_NAMES]
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise ValueError(
                f"{option} {out} holds files that no uniloss_ref command writes ({shown}); "
                "not replacing it even with --overwrite: choose another directory"
            )

    def commit(self) -> Path:
        """Move the staging directory to ``out``, replacing what was there; return ``out``.

        Raises
        ------
        OSError
            If a rename fails; ``out`` is then as it was before.
        """
        if self.committed:
            return self.out
        if os.path.lexists(self.out):
            aside = self.out.with_name(
                f".{self.out.name}.replaced-{os.getpid()}-{secrets.token_hex(4)}"
            )
            os.rename(self.out, aside)
            try:
                os.rename(self.path, self.out)
            except BaseException:
                os.rename(aside, self.out)
                raise
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(self.path, self.out)
        self.committed = True
        return self.out

    def discard(self) -> None:
        """Remove the staging directory (if not committed)."""
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()
