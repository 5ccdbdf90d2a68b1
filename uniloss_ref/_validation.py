"""Input checks at the method's boundary: ``TypeError`` (wrong kind) or ``ValueError`` (wrong
content) naming the argument, what it got and what was expected. Autograd's boxes are
unwrapped first, so a check runs the same inside and outside ``autograd.grad``."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from autograd.tracer import getval

from ._arrays import to_numpy


def _describe(x: Any) -> str:
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"an array of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r:.60}"


def check_scores(scores: Any, ndim: int) -> Any:
    """The value of finite, non-empty, floating-point ``scores`` of ``ndim`` dimensions."""
    value = getval(scores)
    if not hasattr(value, "dtype"):
        try:
            value = np.asarray(value)
        except (TypeError, ValueError) as err:
            raise TypeError(f"scores must be an array of floats, got {_describe(scores)}") from err
    if value.dtype.kind != "f":
        raise TypeError(
            f"scores must be a floating-point array, got dtype {value.dtype}; "
            "convert it with scores.astype(float)"
        )
    check_shape(value.shape, ndim)
    if not bool(np.isfinite(value).all()):
        raise ValueError("scores contains NaN or infinite values; scores must be finite")
    return value


def check_shape(shape: Any, ndim: int) -> tuple[int, ...]:
    """A non-empty shape of ``ndim`` dimensions, as a tuple of ints."""
    try:
        shape = tuple(int(v) for v in shape)
    except (TypeError, ValueError) as err:
        raise TypeError(f"the shape of scores must be a tuple of ints, got {shape!r}") from err
    if len(shape) != ndim:
        raise ValueError(f"scores must have {ndim} dimension(s), got shape {shape}")
    if min(shape) < 1:
        raise ValueError(f"scores is empty (shape {shape}); a batch needs a sample")
    return shape


def labels_01(targets: Any, n: int) -> np.ndarray:
    """0/1 labels of shape ``(n,)`` (bool, integer or float), as booleans."""
    t = to_numpy(targets)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"targets must be an array of 0/1 labels, got {_describe(targets)}")
    if t.shape != (n,):
        raise ValueError(f"targets must have shape ({n},) to match the scores, got {t.shape}")
    if not bool(((t == 0) | (t == 1)).all()):
        bad = np.unique(t[(t != 0) & (t != 1)])[:5]
        raise ValueError(f"targets must contain only 0 and 1 (binary labels), found {bad.tolist()}")
    return t.astype(bool)


def class_labels(targets: Any, n: int, classes: int) -> np.ndarray:
    """Integer class labels of shape ``(n,)`` in ``[0, classes)``."""
    t = to_numpy(targets)
    if t.dtype.kind not in "iu":
        raise TypeError(f"targets must be an array of integer class labels, got {_describe(t)}")
    if t.shape != (n,):
        raise ValueError(f"targets must have shape ({n},) to match the scores, got {t.shape}")
    if t.min() < 0 or t.max() >= classes:
        raise ValueError(
            f"targets must lie in [0, {classes}) for scores with {classes} classes, "
            f"found values in [{t.min()}, {t.max()}]"
        )
    return t.astype(np.intp)


MAX_COMPARISONS = 2**27
"""The most comparisons a batch may have: their pairs alone take 16 bytes each."""


def check_comparisons(length: int, batch: str) -> None:
    """Refuse, before allocating them, more than :data:`MAX_COMPARISONS` comparisons."""
    if length > MAX_COMPARISONS:
        raise ValueError(
            f"{batch} gives {length:,} comparisons, more than the {MAX_COMPARISONS:,} a batch "
            "may have (they would need tens of GB); use a smaller batch"
        )


def positive_float(value: Any, name: str) -> float:
    """A finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def finite_float(value: Any, name: str) -> float:
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def positive_int(value: Any, name: str) -> int:
    """An integer >= 1."""
    return _integer_from(value, name, 1, "a positive integer")


def flag(value: Any, name: str) -> bool:
    """True or False (NumPy's booleans included)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {_describe(value)}")
    return bool(value)


def count(value: Any, name: str) -> int:
    """A non-negative integer."""
    return _integer_from(value, name, 0, "a non-negative integer")


def _integer_from(value: Any, name: str, smallest: int, kind: str) -> int:
    """An integer (not a bool) >= ``smallest``; ``kind`` names it in the error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {kind}, got {_describe(value)}")
    if value < smallest:
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)
