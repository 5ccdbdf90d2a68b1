"""A user's own data from a ``.npz`` file, loaded without ever unpickling."""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from uniloss_ref.experiments.data.idx import GZIP_MAX_RATIO, MAX_DATA_BYTES, check_size
from uniloss_ref.experiments.data.splits import (
    Dataset,
    Seed,
    as_generator,
    float_dtype,
    split_indices,
)
from uniloss_ref.experiments.inputs import open_regular

SPLIT_KEYS = ("X_train", "y_train", "X_test", "y_test")
POOLED_KEYS = ("X", "y")

_HOW_TO_SAVE = (
    "save it with np.savez(path, X_train=..., y_train=..., X_test=..., y_test=...) "
    "or np.savez(path, X=..., y=...)"
)


_NPY_MAGIC = b"\x93NUMPY"

_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
"""The compression methods read: those ``np.savez`` and ``np.savez_compressed`` write."""


def _not_npz(path: Path, reason: str) -> ValueError:
    return ValueError(
        f"{path} is not a readable .npz archive of numeric arrays ({reason}); {_HOW_TO_SAVE}"
    )


@dataclass(frozen=True)
class _Member:
    """One array of the archive as its headers describe it, before any data is read."""

    key: str
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _archive_keys(path: Path, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    members = {
        info.filename[: -len(".npy")]: info
        for info in archive.infolist()
        if info.filename.endswith(".npy")
    }
    keys = set(members)
    if keys.issuperset(SPLIT_KEYS) and keys.isdisjoint(POOLED_KEYS):
        wanted = SPLIT_KEYS
    elif keys.issuperset(POOLED_KEYS) and keys.isdisjoint(SPLIT_KEYS):
        wanted = POOLED_KEYS
    else:
        raise ValueError(
            f"{path} holds arrays {sorted(keys)}; expected exactly one of the key sets "
            f"{list(SPLIT_KEYS)} or {list(POOLED_KEYS)}; {_HOW_TO_SAVE}"
        )
    return {key: members[key] for key in wanted}


@contextmanager
def _open_archive(path: Path) -> Iterator[tuple[zipfile.ZipFile, int]]:
    """The archive (a regular file only: a FIFO or a device is refused) and its size."""
    with open_regular(path, "npz file") as file:
        if file.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
            raise ValueError(
                f"{path} holds a single .npy array, not a .npz archive; {_HOW_TO_SAVE}"
            )
        size = os.fstat(file.fileno()).st_size
        file.seek(0)
        try:
            archive = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as err:
            raise _not_npz(path, str(err) or type(err).__name__) from err
        with archive:
            yield archive, size


def _corrupt(path: Path, key: str, err: BaseException) -> ValueError:
    return ValueError(f"{path}: array {key!r} is corrupt ({err}); save the file again")


def _header(
    path: Path, archive: zipfile.ZipFile, archive_size: int, key: str, info: zipfile.ZipInfo
) -> _Member:
    """A member's ``.npy`` header, checked against what the archive's directory records.

    Only the header is unpacked: the data's size is known, and checked, before any of it is.
    """
    if info.compress_type not in _METHODS:
        method = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}.get(
            info.compress_type, f"method {info.compress_type}"
        )
        raise ValueError(
            f"{path}: array {key!r} is compressed with {method}, which this loader does not "
            "unpack (its output cannot be bounded as it is read); np.savez and "
            "np.savez_compressed write stored or deflated arrays: save the file with one of them"
        )
    if info.compress_size > archive_size or (
        info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size
    ):
        raise ValueError(
            f"{path}: array {key!r} is corrupt: the archive's directory gives sizes the "
            f"{archive_size}-byte file cannot hold; save the file again"
        )
    if info.file_size > GZIP_MAX_RATIO * info.compress_size + 4096:
        raise ValueError(
            f"{path}: array {key!r} is corrupt: the archive's directory says "
            f"{info.compress_size} compressed bytes unpack to {info.file_size}, more than "
            "deflate can; save the file again"
        )
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            held = info.file_size - member.tell()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise _corrupt(path, key, err) from err
    except ValueError as err:
        raise ValueError(f"{path}: array {key!r} has an unreadable .npy header ({err})") from err
    if dtype.hasobject:
        # np.load would have to unpickle such an array; refuse before reading it.
        raise ValueError(
            f"{path}: array {key!r} is an object array, which would have to be "
            "unpickled; this loader never unpickles. Save a numeric array instead"
        )
    found = _Member(key, info, tuple(shape), bool(fortran_order), dtype)
    if found.nbytes != held:
        raise ValueError(
            f"{path}: the header of array {key!r} declares shape {found.shape} of "
            f"{dtype.name}, i.e. {found.nbytes} data bytes, but the archive holds {held} "
            "for it; the file is corrupt, save it again"
        )
    return found


def _headers(
    path: Path,
    archive: zipfile.ZipFile,
    size: int,
    keys: dict[str, zipfile.ZipInfo],
    max_bytes: int,
    dtype: np.dtype | None,
) -> dict[str, _Member]:
    """Every wanted member's header, and the memory they need checked against ``max_bytes``.

    Each array must fit on its own; then all of them together, with the inputs (``X...``)
    also converted to ``dtype`` (None: not converted), must fit too. All before any data is
    unpacked, so neither a zip bomb nor many arrays that each fit can fill the memory.
    """
    members = {key: _header(path, archive, size, key, info) for key, info in keys.items()}
    for m in members.values():
        check_size(
            path, f"array {m.key!r} (shape {m.shape} of {m.dtype.name})", m.nbytes, max_bytes
        )
    inputs = [m for m in members.values() if m.key.startswith("X")]
    if dtype is not None:
        for m in inputs:
            check_size(
                path, f"{m.key} as {dtype.name}", math.prod(m.shape) * dtype.itemsize, max_bytes
            )
    converted = sum(math.prod(m.shape) * dtype.itemsize for m in inputs) if dtype else 0
    total = sum(m.nbytes for m in members.values()) + converted
    what = "its arrays together" + (f", with the inputs as {dtype.name}," if dtype else "")
    check_size(path, what, total, max_bytes)
    return members


def _read_data(path: Path, archive: zipfile.ZipFile, m: _Member) -> np.ndarray:
    """A member's data, read in chunks into an array allocated at the size its header gives."""
    data = np.empty(math.prod(m.shape), dtype=m.dtype)
    try:
        with archive.open(m.info) as member:
            np.lib.format.read_magic(member)
            member.seek(m.info.file_size - m.nbytes)  # past the header, already read once
            done, buffer = 0, memoryview(data.view(np.uint8))
            while done < m.nbytes:
                got = member.readinto(buffer[done : done + (1 << 20)])
                if not got:
                    break
                done += got
            if done < m.nbytes or member.read(1):
                raise zipfile.BadZipFile(f"the member holds {done} bytes, expected {m.nbytes}")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
        raise _corrupt(path, m.key, err) from err
    return data.reshape(m.shape, order="F" if m.fortran_order else "C")


def _read_arrays(path: Path, max_bytes: int, dtype: np.dtype) -> dict[str, np.ndarray]:
    with _open_archive(path) as (archive, size):
        members = _headers(path, archive, size, _archive_keys(path, archive), max_bytes, dtype)
        for m in members.values():
            if m.key.startswith("X") and m.dtype.kind not in "buif":
                raise ValueError(
                    f"{path}: {m.key} has dtype {m.dtype}; expected a real numeric or bool array"
                )
        return {key: _read_data(path, archive, m) for key, m in members.items()}


def npz_labels(path: str | os.PathLike, *, max_bytes: int = MAX_DATA_BYTES) -> np.ndarray:
    """The distinct class labels of a ``.npz`` dataset, as they appear in the file, sorted.

    Reads the label arrays only (``y``, or ``y_train`` and ``y_test``), with the checks of
    :func:`load_npz`.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load_npz`.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"npz file {path} does not exist; {_HOW_TO_SAVE}")
    with _open_archive(path) as (archive, size):
        keys = _archive_keys(path, archive)
        keys = {k: v for k, v in keys.items() if k.startswith("y")}
        members = _headers(path, archive, size, keys, max_bytes, None)
        labels = [
            _check_labels(path, key, _read_data(path, archive, m), None)
            for key, m in members.items()
        ]
    return np.unique(np.concatenate(labels))


def _check_inputs(
    path: Path, key: str, X: np.ndarray, dtype: np.dtype, max_bytes: int
) -> np.ndarray:
    check_size(path, f"{key} as {dtype.name}", X.size * dtype.itemsize, max_bytes)
    if X.ndim not in (2, 3, 4) or len(X) == 0:
        raise ValueError(
            f"{path}: {key} has shape {X.shape}; expected (n, d) features, (n, H, W) or "
            "(n, C, H, W) images, with n >= 1"
        )
    out = np.divide(X, 255, dtype=dtype) if X.dtype == np.uint8 else X.astype(dtype)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{path}: {key} contains NaN or infinite values")
    return out[:, None] if out.ndim == 3 else out


def _check_labels(path: Path, key: str, y: np.ndarray, n: int | None) -> np.ndarray:
    """Labels as int64, each the exact value the file holds (``n``: the samples they label).

    Integers, booleans, and floats holding integers are read; a label an int64 cannot hold,
    or a float label beyond the range where a float holds every integer exactly (2**53
    for float64, where two labels may already have merged into one), is refused.
    """
    if n is not None and y.shape != (n,):
        raise ValueError(
            f"{path}: {key} has shape {y.shape}; expected ({n},), one label per input sample"
        )
    if y.ndim != 1:
        raise ValueError(f"{path}: {key} has shape {y.shape}; expected one label per sample")
    if y.dtype.kind == "u" and y.size and int(y.max()) > np.iinfo(np.int64).max:
        raise ValueError(
            f"{path}: {key} holds the label {int(y.max())}, above the largest an int64 can "
            f"hold ({np.iinfo(np.int64).max}); renumber the labels"
        )
    if y.dtype.kind in "bui":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        bits = np.finfo(y.dtype).nmant + 1
        if y.size and float(np.abs(y).max()) > 2.0**bits:
            raise ValueError(
                f"{path}: {key} holds the label {float(np.abs(y).max()):g} as {y.dtype}, which "
                f"holds every integer exactly only up to 2**{bits} = {2**bits}: labels beyond "
                "it may have merged; save the labels as integers"
            )
        return y.astype(np.int64)
    raise ValueError(
        f"{path}: {key} has dtype {y.dtype} with non-integer values; expected integer class "
        "labels (save them with y.astype(int))"
    )


def load_npz(
    path: str | os.PathLike,
    *,
    seed: Seed = 0,
    test_fraction: float = 0.2,
    dtype: DTypeLike = np.float64,
    max_bytes: int = MAX_DATA_BYTES,
) -> Dataset:
    """Load a classification dataset from a ``.npz`` file.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` archive holding either ``X_train, y_train, X_test, y_test`` or
        ``X, y`` (then split here); other arrays in it are ignored.
    seed : int or numpy.random.Generator, default 0
        Source of randomness for splitting ``X, y``.
    test_fraction : float in (0, 1), default 0.2
        Share of ``X, y`` held out for testing, stratified by class.
    dtype : numpy floating dtype, default float64
        Element type of the inputs.
    max_bytes : int, default :data:`~uniloss_ref.experiments.data.idx.MAX_DATA_BYTES`
        The most memory the arrays may take: each stored array, and all of them together
        with the inputs converted to ``dtype``, all checked from the headers before any
        data is unpacked.

    Returns
    -------
    Dataset
        Inputs of shape ``(n, d)``, or ``(n, C, H, W)`` images (``(n, H, W)`` gains a
        channel axis); uint8 inputs are scaled from 0..255 to [0, 1], others are only
        cast. Labels are renumbered ``0 .. C-1`` in sorted order of the original
        labels, whose string forms become ``class_names``. The validation split is empty.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a regular file (a FIFO or a device), not an ``.npz`` archive or
        is corrupt, lacks the keys, holds object arrays (never unpickled) or arrays
        compressed with bzip2 or LZMA (whose output cannot be bounded as it is read), has
        inconsistent shapes, non-numeric inputs, labels that are not integers or that
        int64 (or, for float labels, their float type) cannot hold exactly, or fewer than
        two classes, or headers that declare more data than the archive holds or than
        ``max_bytes``.

    Notes
    -----
    Each array is read by ``zipfile`` and NumPy's ``.npy`` header parser
    (``numpy.lib.format``), never by ``pickle``: a file crafted to run code when
    unpickled is rejected, never executed. Every header is read first and checked against
    the size the archive records for the array, that against the file's size, and the
    arrays' memory against ``max_bytes``, before any array is allocated or unpacked: a zip
    bomb is refused having unpacked only its headers. The data is then read in chunks and
    the archive's CRC checked.
    """
    dtype = float_dtype(dtype)
    path = Path(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"npz file {path} does not exist; {_HOW_TO_SAVE}")
    arrays = _read_arrays(path, max_bytes, dtype)
    if "X" in arrays:
        X = _check_inputs(path, "X", arrays.pop("X"), dtype, max_bytes)
        y = _check_labels(path, "y", arrays["y"], len(X))
        if test_fraction == 0:
            raise ValueError(f"test_fraction must be in (0, 1) to split {path}'s X, y")
        train, test = split_indices(len(y), test_fraction, as_generator(seed), labels=y)
        X_train, y_train, X_test, y_test = X[train], y[train], X[test], y[test]
    else:
        X_train = _check_inputs(path, "X_train", arrays.pop("X_train"), dtype, max_bytes)
        X_test = _check_inputs(path, "X_test", arrays.pop("X_test"), dtype, max_bytes)
        y_train = _check_labels(path, "y_train", arrays["y_train"], len(X_train))
        y_test = _check_labels(path, "y_test", arrays["y_test"], len(X_test))
        if X_train.shape[1:] != X_test.shape[1:]:
            raise ValueError(
                f"{path}: X_train samples have shape {X_train.shape[1:]} but X_test "
                f"samples have {X_test.shape[1:]}; expected the same"
            )
    classes = np.unique(np.concatenate([y_train, y_test]))
    if len(classes) < 2:
        raise ValueError(
            f"{path}: the labels take the single value {classes.tolist()}; expected at least "
            "two classes"
        )
    return Dataset.from_train_test(
        str(path),
        X_train,
        np.searchsorted(classes, y_train).astype(np.int64),
        X_test,
        np.searchsorted(classes, y_test).astype(np.int64),
        tuple(str(c) for c in classes.tolist()),
    )
