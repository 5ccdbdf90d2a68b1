"""Input files are regular files, and are read with a bound.

A FIFO blocks its reader until something writes to it (forever, if nothing does); a
character device such as ``/dev/zero`` or ``/dev/urandom`` has size 0 for ``stat`` and
never ends. So a file a user names is checked to be a regular file before it is read:
once by name, and again on the open descriptor (the name may have changed in between),
which is opened without blocking so that even a FIFO substituted at the last moment
cannot hang the open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refuse(what: str, path: Path, mode: int) -> ValueError:
    return ValueError(f"{what} {path} is {_kind(mode)}, not a regular file; name a file")


def open_regular(path: str | os.PathLike, what: str) -> BinaryIO:
    """Open ``path`` for reading in binary mode if it is a regular file.

    Parameters
    ----------
    path : str or path-like
    what : str
        How messages name the file, e.g. ``"vectors file"``.

    Returns
    -------
    binary file object

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is a directory, a FIFO, a device or a socket.
    """
    path = Path(path)
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(what, path, info.st_mode)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(what, path, info.st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, what: str, max_bytes: int) -> bytes:
    """The content of the regular file ``path``, refused if longer than ``max_bytes``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a regular file, or holds more than ``max_bytes`` bytes (checked while
        reading, so a file that grows is refused too).
    """
    with open_regular(path, what) as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{what} {path} is over {max_bytes >> 20} MiB; refusing to read it")
    return data
