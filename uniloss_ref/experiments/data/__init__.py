"""Datasets for the reproduction, all read from disk or generated in code.

:func:`load_dataset` is the one entry point; the loaders it dispatches to are
:func:`~uniloss_ref.experiments.data.digits.load_digits` (scikit-learn's bundled digits),
:func:`~uniloss_ref.experiments.data.idx.load_idx` (MNIST / Fashion-MNIST IDX files),
:func:`~uniloss_ref.experiments.data.npz.load_npz` (a user's ``.npz``) and
:func:`~uniloss_ref.experiments.data.keypoints.load_keypoints` (synthetic stick figures).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from uniloss_ref.experiments.data.digits import load_digits
from uniloss_ref.experiments.data.idx import DEBIAN_FASHION_MNIST_DIR, load_idx, read_idx
from uniloss_ref.experiments.data.keypoints import (
    JOINT_NAMES,
    SKELETON,
    KeypointTargets,
    load_keypoints,
    make_keypoints,
)
from uniloss_ref.experiments.data.npz import load_npz, npz_labels
from uniloss_ref.experiments.data.splits import (
    Dataset,
    Seed,
    as_generator,
    one_vs_rest,
    split_indices,
    split_validation,
    subsample,
)

__all__ = [
    "DATASET_NAMES",
    "DEBIAN_FASHION_MNIST_DIR",
    "JOINT_NAMES",
    "SKELETON",
    "Dataset",
    "KeypointTargets",
    "as_generator",
    "label_index",
    "load_dataset",
    "load_digits",
    "load_idx",
    "load_keypoints",
    "load_npz",
    "make_keypoints",
    "one_vs_rest",
    "read_idx",
    "split_indices",
    "split_validation",
    "subsample",
]

DATASET_NAMES = ("digits", "mnist", "fashion-mnist", "keypoints")
"""The built-in sources of :func:`load_dataset`; anything else must be a ``.npz`` path."""


def load_dataset(
    source: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    *,
    seed: Seed = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    n_train: int | None = None,
    n_test: int | None = None,
    dtype: DTypeLike = np.float64,
) -> Dataset:
    """Load a dataset by name or ``.npz`` path, with a seeded validation split.

    Parameters
    ----------
    source : str or path-like
        ``'digits'``, ``'mnist'``, ``'fashion-mnist'``, ``'keypoints'``, or the path of
        a ``.npz`` file (see :func:`~uniloss_ref.experiments.data.npz.load_npz`).
    data_dir : str or path-like, optional
        Directory of the IDX files, for ``'mnist'`` (required) and ``'fashion-mnist'``
        (default: where Debian's ``dataset-fashion-mnist`` puts them). Other sources
        reject it.
    seed : int or numpy.random.Generator, default 0
        Source of every random choice: the test split of sources without one, the
        subsets, the validation split and the synthetic images. Each of these draws
        from its own stream spawned from ``seed``.
    val_fraction : float in [0, 1), default 0.1
        Share of the training split moved to the validation split (stratified by
        class for classification data).
    test_fraction : float in (0, 1), default 0.2
        Share held out for testing by sources that come without a test split
        (``'digits'`` and a ``.npz`` holding ``X, y``); ignored by the others.
    n_train, n_test : int, optional
        For ``'keypoints'``, how many images to generate (default 4000 and 1000).
        For the other sources, a cap: keep a random subset of at most this many
        samples (before the validation split); default all.
    dtype : numpy floating dtype, default float64
        Element type of the inputs.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        For an unknown source, a ``data_dir`` given to a source that does not read
        one, or malformed data.
    FileNotFoundError
        For missing data; the message says how to get it.
    ImportError
        For ``'digits'`` without scikit-learn.

    Examples
    --------
    >>> ds = load_dataset("keypoints", seed=0, n_train=100, n_test=20)
    >>> ds.X_train.shape, ds.X_val.shape, ds.y_train.keypoints.shape
    ((90, 1, 32, 32), (10, 1, 32, 32), (90, 11, 2))
    """
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"source must be a dataset name or a .npz path, got {type(source).__name__}"
        )
    name = os.fspath(source)
    is_npz = name not in DATASET_NAMES
    if is_npz and not name.endswith(".npz") and not Path(name).is_file():
        raise ValueError(
            f"unknown dataset {name!r}: expected one of {', '.join(DATASET_NAMES)} "
            "or the path of a .npz file"
        )
    if data_dir is not None and name not in ("mnist", "fashion-mnist"):
        raise ValueError(
            f"data_dir is only read by 'mnist' and 'fashion-mnist', not by {name!r}; drop it"
        )
    split_rng, subset_rng, val_rng = as_generator(seed).spawn(3)
    if name == "keypoints":
        dataset = load_keypoints(
            4000 if n_train is None else n_train,
            1000 if n_test is None else n_test,
            seed=split_rng,
            dtype=dtype,
        )
    else:
        if name == "digits":
            dataset = load_digits(seed=split_rng, test_fraction=test_fraction, dtype=dtype)
        elif is_npz:
            dataset = load_npz(name, seed=split_rng, test_fraction=test_fraction, dtype=dtype)
        else:
            dataset = load_idx(name, data_dir, dtype=dtype)
        dataset = subsample(dataset, n_train, n_test, subset_rng)
    return split_validation(dataset, val_fraction, val_rng)


def label_index(source: str | os.PathLike, label: int) -> int:
    """Where the class ``label``, as it appears in the data, comes among its sorted classes.

    Loaders renumber the classes ``0 .. C-1`` in sorted order of their labels; a user names a
    class by its label. The built-in sources have labels ``0 .. 9``; a ``.npz`` file's are
    read from its label arrays alone.

    Parameters
    ----------
    source : str or path-like
        As for :func:`load_dataset`.
    label : int
        A class label of the data.

    Returns
    -------
    int
        The class's index in the loaded :class:`Dataset`.

    Raises
    ------
    TypeError
        If ``label`` is not an integer.
    ValueError
        If no sample has the label (the message lists the labels there are), or the source
        has no class labels.
    """
    if isinstance(label, bool) or not isinstance(label, int | np.integer):
        raise TypeError(f"positive must be a class label (an int), got {label!r:.40}")
    name = os.fspath(source)
    if name == "keypoints":
        raise ValueError("'keypoints' has keypoints, not class labels")
    labels = list(range(10)) if name in DATASET_NAMES else npz_labels(name).tolist()
    if label not in labels:
        shown = ", ".join(map(str, labels[:20])) + (", ..." if len(labels) > 20 else "")
        raise ValueError(
            f"positive {label} is not a class label of {name!r}; its labels are {shown}"
        )
    return labels.index(label)
