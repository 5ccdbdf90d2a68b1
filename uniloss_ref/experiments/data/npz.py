"""A user's own data from a ``.npz`` file, loaded without ever unpickling."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

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


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(
            f"{path} is not a readable .npz archive of numeric arrays ({err}); {_HOW_TO_SAVE}"
        ) from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single .npy array, not a .npz archive; {_HOW_TO_SAVE}")
    with archive:
        keys = set(archive.files)
        if keys.issuperset(SPLIT_KEYS) and keys.isdisjoint(POOLED_KEYS):
            wanted = SPLIT_KEYS
        elif keys.issuperset(POOLED_KEYS) and keys.isdisjoint(SPLIT_KEYS):
            wanted = POOLED_KEYS
        else:
            raise ValueError(
                f"{path} holds arrays {sorted(keys)}; expected exactly one of the key sets "
                f"{list(SPLIT_KEYS)} or {list(POOLED_KEYS)}; {_HOW_TO_SAVE}"
            )
        arrays = {}
        for key in wanted:
            try:
                arrays[key] = archive[key]
            except ValueError as err:
                # np.load refuses object arrays when allow_pickle=False; say so plainly.
                raise ValueError(
                    f"{path}: array {key!r} is an object array, which would have to be "
                    "unpickled; this loader never unpickles. Save a numeric array instead"
                ) from err
    return arrays


def _check_inputs(path: Path, key: str, X: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if X.dtype.kind not in "buif":
        raise ValueError(
            f"{path}: {key} has dtype {X.dtype}; expected a real numeric or bool array"
        )
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
        If the file is not an ``.npz`` archive, lacks the keys, holds object arrays
        (never unpickled: ``allow_pickle=False``), or has inconsistent shapes, non-numeric
        inputs, non-integer labels or fewer than two classes.

    Notes
    -----
    ``np.load(path, allow_pickle=False)`` is the only reader: a file crafted to run
    code when unpickled is rejected, never executed.
    """
    dtype = float_dtype(dtype)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz file {path} does not exist; {_HOW_TO_SAVE}")
    arrays = _read_arrays(path)
    if "X" in arrays:
        X = _check_inputs(path, "X", arrays["X"], dtype)
        y = _check_labels(path, "y", arrays["y"], len(X))
        if test_fraction == 0:
            raise ValueError(f"test_fraction must be in (0, 1) to split {path}'s X, y")
        train, test = split_indices(len(y), test_fraction, as_generator(seed), labels=y)
        X_train, y_train, X_test, y_test = X[train], y[train], X[test], y[test]
    else:
        X_train = _check_inputs(path, "X_train", arrays["X_train"], dtype)
        X_test = _check_inputs(path, "X_test", arrays["X_test"], dtype)
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
