"""Input checks shared by the metrics, anchors and the surrogate.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind,
wrong content) with a message that names the argument, what it got and what was
expected. Checks look at plain values: an autograd box is unwrapped first, so the same
check runs inside and outside ``autograd.grad``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from autograd.tracer import getval

from .device import to_numpy


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is not None and dtype is not None:
        return f"an array of shape {tuple(shape)} and dtype {dtype}"
    return f"{type(x).__name__} {x!r}"


def scores_value(scores: Any, *, ndim: int, name: str = "scores") -> np.ndarray:
    """Return the plain value of ``scores`` after checking it.

    Parameters
    ----------
    scores : array_like
        Real floating-point scores, possibly an autograd box.
    ndim : int
        The number of dimensions expected.
    name : str
        The argument's name, for messages.

    Returns
    -------
    ndarray
        ``scores`` unwrapped from any autograd box (not copied).
    """
    value = getval(scores)
    if not hasattr(value, "dtype"):
        try:
            value = np.asarray(value)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be an array of floats, got {_describe(scores)}") from err
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(
            f"{name} must be a floating-point array, got dtype {value.dtype}; "
            f"convert it with {name}.astype(float)"
        )
    if value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(value.shape)}")
    if value.size == 0:
        raise ValueError(f"{name} is empty (shape {tuple(value.shape)}); a batch needs a sample")
    if not bool(np.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values; scores must be finite")
    return value


def binary_targets(targets: Any, n: int, *, name: str = "targets") -> np.ndarray:
    """Check 0/1 labels of shape ``(n,)`` and return them as a boolean array."""
    # Labels only decide the pairs, which are built on the host; device labels come back.
    t = to_numpy(targets)
    if t.dtype == object or not (
        np.issubdtype(t.dtype, np.integer)
        or np.issubdtype(t.dtype, np.bool_)
        or np.issubdtype(t.dtype, np.floating)
    ):
        raise TypeError(f"{name} must be an array of 0/1 labels, got {_describe(targets)}")
    if t.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the scores, got {t.shape}")
    if not bool(np.isin(t, (0, 1)).all()):
        bad = np.unique(t[~np.isin(t, (0, 1))])[:5]
        raise ValueError(f"{name} must contain only 0 and 1 (binary labels), found {bad.tolist()}")
    return t.astype(bool)


def class_targets(targets: Any, n: int, num_classes: int, *, name: str = "targets") -> np.ndarray:
    """Check integer class labels of shape ``(n,)`` in ``[0, num_classes)``."""
    t = to_numpy(targets)
    if not np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.bool_):
        raise TypeError(
            f"{name} must be an array of integer class labels, got {_describe(targets)}"
        )
    if t.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the scores, got {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes}) for scores with {num_classes} classes, "
            f"found values in [{t.min()}, {t.max()}]"
        )
    return t.astype(np.intp)


def positive_float(value: Any, name: str) -> float:
    """Check a finite, strictly positive real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def count(value: Any, name: str) -> int:
    """Check a non-negative integer count."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be a non-negative integer, got {type(value).__name__} {value!r}"
        )
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def binary_configurations(b: Any, length: int, *, name: str = "b") -> np.ndarray:
    """Check a stack of configurations of shape ``(K, l)`` with entries in ``{-1, +1}``."""
    arr = np.asarray(getval(b))
    if not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise TypeError(f"{name} must be a numeric array of -1/+1 entries, got {_describe(b)}")
    if arr.ndim != 2 or arr.shape[1] != length:
        raise ValueError(
            f"{name} must have shape (K, {length}) (K configurations of the {length} "
            f"comparisons), got {arr.shape}"
        )
    if not bool(((arr == 1) | (arr == -1)).all()):
        raise ValueError(f"{name} must contain only -1 and +1 entries")
    return arr
