"""The common dataset container and the seeded ways of cutting it.

Every loader in this package returns a :class:`Dataset` whose validation split is
empty; :func:`split_validation` carves one out of the training split and
:func:`subsample` shrinks a dataset for quick runs. All randomness comes from an
explicit seed or ``numpy.random.Generator`` (see :func:`as_generator`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import DTypeLike

if TYPE_CHECKING:
    from uniloss_ref.metrics.pck import KeypointTargets

Seed = int | np.random.Generator


def as_generator(seed: Seed) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` for an integer seed, or the generator itself.

    Parameters
    ----------
    seed : int or numpy.random.Generator
        A non-negative integer seed, or a generator that the caller owns (it is used,
        and advanced, in place).

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    ValueError
        For a negative integer seed.
    TypeError
        For ``None`` (which would draw fresh OS entropy and break repeatability) and any
        other type, including the legacy ``numpy.random.RandomState``.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return np.random.default_rng(int(seed))
    raise TypeError(
        f"seed must be an int or a numpy.random.Generator, got {type(seed).__name__}; "
        "pass e.g. seed=0 or seed=np.random.default_rng(0)"
    )


def _check_fraction(name: str, fraction: float) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, int | float | np.floating):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(fraction).__name__}")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {fraction}")
    return float(fraction)


def split_indices(
    n: int,
    fraction: float,
    seed: Seed,
    *,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` at random into a kept part and a held-out part.

    Parameters
    ----------
    n : int
        Number of samples.
    fraction : float in [0, 1)
        Share of the samples to hold out; ``round(fraction * n)`` of them are held out.
    seed : int or numpy.random.Generator
        Source of randomness.
    labels : ndarray of shape (n,), optional
        Integer class labels. When given, the split is stratified: each class
        contributes ``fraction`` of its samples to the held-out part, up to rounding.

    Returns
    -------
    kept : ndarray of shape (n - m,), int64, sorted
    held : ndarray of shape (m,), int64, sorted

    Raises
    ------
    ValueError
        If ``fraction > 0`` but one side of the split would be empty.

    Notes
    -----
    With labels, class ``c`` with ``n_c`` samples holds out ``floor(fraction * n_c)``
    samples plus one more for the classes with the largest remainders (ties go to the
    smaller label), so that the total is exactly ``round(fraction * n)`` (largest
    remainder apportionment).
    """
    fraction = _check_fraction("fraction", fraction)
    rng = as_generator(seed)
    n_held = round(fraction * n)
    if fraction > 0 and (n_held == 0 or n_held == n):
        raise ValueError(
            f"cannot hold out fraction={fraction} of {n} samples: one side would be empty; "
            "use more samples or a different fraction"
        )
    if labels is None:
        held = rng.permutation(n)[:n_held]
    else:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        classes, counts = np.unique(labels, return_counts=True)
        quota = fraction * counts
        per_class = np.floor(quota).astype(np.int64)
        remainder_order = np.argsort(-(quota - per_class), kind="stable")
        per_class[remainder_order[: n_held - per_class.sum()]] += 1
        held = np.concatenate(
            [
                rng.permutation(np.flatnonzero(labels == c))[:k]
                for c, k in zip(classes, per_class, strict=True)
            ]
        )
    mask = np.zeros(n, dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def one_vs_rest(y: np.ndarray, positive: int) -> np.ndarray:
    """Binarise class labels: 1 for ``positive``, 0 for every other class.

    This is the paper's AP task on MNIST (one digit against the rest).

    Parameters
    ----------
    y : ndarray of shape (n,), integer
        Class labels.
    positive : int
        The class that becomes the positive label; it must occur in ``y``.

    Returns
    -------
    ndarray of shape (n,), int64, values in {0, 1}
    """
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must be a 1-D integer array, got shape {y.shape}, dtype {y.dtype}")
    if isinstance(positive, bool) or not isinstance(positive, int | np.integer):
        raise TypeError(f"positive must be an int class label, got {type(positive).__name__}")
    if not np.any(y == positive):
        raise ValueError(
            f"positive={positive} does not occur in y; labels present: {np.unique(y).tolist()}"
        )
    return (y == positive).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train, validation and test splits of one dataset.

    Attributes
    ----------
    name : str
        Where the data came from (``'digits'``, ``'fashion-mnist'``, a file path, ...).
    X_train, X_val, X_test : ndarray of shape (n_split, ...)
        Inputs. Images are ``(n, 1, H, W)`` floats in [0, 1]; a user's ``.npz`` may
        also hold feature vectors ``(n, d)``.
    y_train, y_val, y_test : ndarray of shape (n_split,) or KeypointTargets
        Integer class labels in ``0 .. n_classes - 1``, or keypoint targets.
    class_names : tuple of str
        Name of each class label (empty for keypoint data).

    Notes
    -----
    Loaders return an empty validation split; :func:`split_validation` fills it.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray | KeypointTargets
    X_val: np.ndarray
    y_val: np.ndarray | KeypointTargets
    X_test: np.ndarray
    y_test: np.ndarray | KeypointTargets
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if len(X) != len(y):
                raise ValueError(
                    f"X_{split} has {len(X)} samples but y_{split} has {len(y)}; they must match"
                )
        shapes = {self.X_train.shape[1:], self.X_val.shape[1:], self.X_test.shape[1:]}
        if len(shapes) != 1:
            raise ValueError(f"the splits' per-sample input shapes differ: {sorted(shapes)}")

    @classmethod
    def from_train_test(
        cls,
        name: str,
        X_train: np.ndarray,
        y_train: np.ndarray | KeypointTargets,
        X_test: np.ndarray,
        y_test: np.ndarray | KeypointTargets,
        class_names: tuple[str, ...] = (),
    ) -> Dataset:
        """Build a dataset with an empty validation split."""
        return cls(name, X_train, y_train, X_train[:0], y_train[:0], X_test, y_test, class_names)

    @property
    def is_keypoints(self) -> bool:
        """Whether the targets are keypoints (else integer class labels)."""
        return not isinstance(self.y_train, np.ndarray)

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for keypoint data)."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. ``(1, 28, 28)``."""
        return self.X_train.shape[1:]

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, input_shape={self.input_shape}, "
            f"n_train={len(self.X_train)}, n_val={len(self.X_val)}, n_test={len(self.X_test)}, "
            f"{'keypoints' if self.is_keypoints else f'n_classes={self.n_classes}'})"
        )


def _stratify_labels(y: np.ndarray | KeypointTargets) -> np.ndarray | None:
    return y if isinstance(y, np.ndarray) else None


def split_validation(dataset: Dataset, fraction: float, seed: Seed) -> Dataset:
    """Move a random ``fraction`` of the training split into the validation split.

    Parameters
    ----------
    dataset : Dataset
        A dataset whose validation split is empty.
    fraction : float in [0, 1)
        Share of the training samples to hold out (stratified by class for
        classification data; see :func:`split_indices`). 0 leaves the split empty.
    seed : int or numpy.random.Generator
        Source of randomness.

    Returns
    -------
    Dataset
    """
    if len(dataset.X_val):
        raise ValueError(
            f"{dataset.name!r} already has a validation split of {len(dataset.X_val)} samples"
        )
    kept, held = split_indices(
        len(dataset.X_train), fraction, seed, labels=_stratify_labels(dataset.y_train)
    )
    return Dataset(
        dataset.name,
        dataset.X_train[kept],
        dataset.y_train[kept],
        dataset.X_train[held],
        dataset.y_train[held],
        dataset.X_test,
        dataset.y_test,
        dataset.class_names,
    )


def subsample(dataset: Dataset, n_train: int | None, n_test: int | None, seed: Seed) -> Dataset:
    """Keep a random subset of at most ``n_train`` training and ``n_test`` test samples.

    Parameters
    ----------
    dataset : Dataset
    n_train, n_test : int or None
        Upper bounds on the split sizes; ``None`` keeps the whole split.
    seed : int or numpy.random.Generator
        Source of randomness.

    Returns
    -------
    Dataset
        The kept samples stay in their original order; the validation split is
        carried over unchanged.
    """
    for name, cap in (("n_train", n_train), ("n_test", n_test)):
        if cap is not None:
            check_int(name, cap, minimum=1)
    rng = as_generator(seed)

    def pick(n: int, cap: int | None) -> np.ndarray:
        if cap is None or cap >= n:
            return np.arange(n)
        return np.sort(rng.choice(n, size=cap, replace=False))

    train = pick(len(dataset.X_train), n_train)
    test = pick(len(dataset.X_test), n_test)
    return Dataset(
        dataset.name,
        dataset.X_train[train],
        dataset.y_train[train],
        dataset.X_val,
        dataset.y_val,
        dataset.X_test[test],
        dataset.y_test[test],
        dataset.class_names,
    )


def check_int(name: str, value: int, *, minimum: int) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def float_dtype(dtype: DTypeLike) -> np.dtype:
    """Return ``dtype`` as a NumPy floating dtype, or raise if it is not one."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype must be a NumPy floating dtype, got {dtype!r}") from err
    if not np.issubdtype(resolved, np.floating):
        raise TypeError(f"dtype must be a NumPy floating dtype such as float64, got {resolved}")
    return resolved
