"""A user's own data from a ``.npz`` file, loaded without ever unpickling."""

from __future__ import annotations

import math
import os
import zipfile
import zlib
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

SPLIT_KEYS = ("X_train", "y_train", "X_test", "y_test")
POOLED_KEYS = ("X", "y")

_HOW_TO_SAVE = (
    "save it with np.savez(path, X_train=..., y_train=..., X_test=..., y_test=...) "
    "or np.savez(path, X=..., y=...)"
)


_NPY_MAGIC = b"\x93NUMPY"


def _not_npz(path: Path, reason: str) -> ValueError:
    return ValueError(
        f"{path} is not a readable .npz archive of numeric arrays ({reason}); {_HOW_TO_SAVE}"
    )


def _read_arrays(path: Path, max_bytes: int) -> dict[str, np.ndarray]:
    with open(path, "rb") as file:
        if file.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
            raise ValueError(
                f"{path} holds a single .npy array, not a .npz archive; {_HOW_TO_SAVE}"
            )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as err:
        raise _not_npz(path, str(err) or type(err).__name__) from err
    with archive:
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
        return {key: _read_member(path, archive, members[key], key, max_bytes) for key in wanted}


def _read_member(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, max_bytes: int
) -> np.ndarray:
    """One array of the archive, its header checked before its data is allocated."""
    archive_size = path.stat().st_size
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
            if dtype.hasobject:
                # np.load would have to unpickle such an array; refuse before reading it.
                raise _ObjectArray
            count = math.prod(shape)
            nbytes = count * dtype.itemsize
            held = info.file_size - member.tell()
            if nbytes != held:
                raise ValueError(
                    f"{path}: the header of array {key!r} declares shape {shape} of "
                    f"{dtype.name}, i.e. {nbytes} data bytes, but the archive holds {held} "
                    "for it; the file is corrupt, save it again"
                )
            check_size(path, f"array {key!r} (shape {shape} of {dtype.name})", nbytes, max_bytes)
            data = np.empty(count, dtype=dtype)
            done, buffer = 0, memoryview(data.view(np.uint8))
            while done < nbytes:
                got = member.readinto(buffer[done : done + (1 << 20)])
                if not got:
                    break
                done += got
            if done < nbytes or member.read(1):
                raise zipfile.BadZipFile(f"the member holds {done} bytes, expected {nbytes}")
    except _ObjectArray:
        raise ValueError(
            f"{path}: array {key!r} is an object array, which would have to be "
            "unpickled; this loader never unpickles. Save a numeric array instead"
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise ValueError(f"{path}: array {key!r} is corrupt ({err}); save the file again") from err
    except ValueError as err:
        if str(path) in str(err):
            raise
        raise ValueError(f"{path}: array {key!r} has an unreadable .npy header ({err})") from err
    return data.reshape(shape, order="F" if fortran_order else "C")


class _ObjectArray(Exception):
    pass


def _check_inputs(
    path: Path, key: str, X: np.ndarray, dtype: np.dtype, max_bytes: int
) -> np.ndarray:
    if X.dtype.kind not in "buif":
        raise ValueError(
            f"{path}: {key} has dtype {X.dtype}; expected a real numeric or bool array"
        )
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


def _check_labels(path: Path, key: str, y: np.ndarray, n: int) -> np.ndarray:
    if y.shape != (n,):
        raise ValueError(
            f"{path}: {key} has shape {y.shape}; expected ({n},), one label per input sample"
        )
    if y.dtype.kind in "bui":
        return y
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
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
        Largest array to allocate (one stored array, or the inputs as ``dtype``).

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
        If the file is not an ``.npz`` archive or is corrupt, lacks the keys, holds object
        arrays (never unpickled), has inconsistent shapes, non-numeric inputs, non-integer
        labels or fewer than two classes, or an array header that declares more data than
        the archive holds or than ``max_bytes``.

    Notes
    -----
    Each array is read by ``zipfile`` and NumPy's ``.npy`` header parser
    (``numpy.lib.format``), never by ``pickle``: a file crafted to run code when
    unpickled is rejected, never executed. The header is checked against the size the
    archive records for the array, and that against the file's size, before the array is
    allocated; the data is then read in chunks and the archive's CRC checked.
    """
    dtype = float_dtype(dtype)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz file {path} does not exist; {_HOW_TO_SAVE}")
    arrays = _read_arrays(path, max_bytes)
    if "X" in arrays:
        X = _check_inputs(path, "X", arrays["X"], dtype, max_bytes)
        y = _check_labels(path, "y", arrays["y"], len(X))
        if test_fraction == 0:
            raise ValueError(f"test_fraction must be in (0, 1) to split {path}'s X, y")
        train, test = split_indices(len(y), test_fraction, as_generator(seed), labels=y)
        X_train, y_train, X_test, y_test = X[train], y[train], X[test], y[test]
    else:
        X_train = _check_inputs(path, "X_train", arrays["X_train"], dtype, max_bytes)
        X_test = _check_inputs(path, "X_test", arrays["X_test"], dtype, max_bytes)
        y_train = _check_labels(path, "y_train", arrays["y_train"], len(X_train))
        y_test = _check_labels(path, "y_test", arrays["y_test"], len(X_test))
        if X_train.shape[1:] != X_test.shape[1:]:
            raise ValueError(
                f"{path}: X_train samples have shape {arrays['X_train'].shape[1:]} but X_test "
                f"samples have {arrays['X_test'].shape[1:]}; expected the same"
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
