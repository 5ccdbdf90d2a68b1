"""scikit-learn's bundled 8x8 handwritten digits (no download; scikit-learn is optional)."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from uniloss_ref.experiments.data.splits import (
    Dataset,
    Seed,
    as_generator,
    float_dtype,
    split_indices,
)

# The digits are 4-bit counts of set pixels in 4x4 blocks of a 32x32 bitmap.
_DIGITS_MAX = 16


def load_digits(
    *, seed: Seed = 0, test_fraction: float = 0.2, dtype: DTypeLike = np.float64
) -> Dataset:
    """Load scikit-learn's ``digits`` (1797 images, 10 classes) with a seeded test split.

    Parameters
    ----------
    seed : int or numpy.random.Generator, default 0
        Source of randomness for the train/test split.
    test_fraction : float in (0, 1), default 0.2
        Share of the samples held out for testing, stratified by class.
    dtype : numpy floating dtype, default float64
        Element type of the images.

    Returns
    -------
    Dataset
        ``X_*`` of shape ``(n, 1, 8, 8)`` scaled from 0..16 to [0, 1]; ``y_*`` of shape
        ``(n,)``, int64 in 0..9; an empty validation split.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    """
    dtype = float_dtype(dtype)
    if test_fraction == 0:
        raise ValueError("test_fraction must be in (0, 1) for digits, which has no test split")
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as err:
        raise ImportError(
            "the 'digits' dataset comes with scikit-learn, which is not installed; "
            'run `pip install -e ".[data]"` from a clone of uniloss-ref '
            "(or `pip install scikit-learn`)"
        ) from err
    bunch = sklearn_load_digits()
    X = np.divide(bunch.images[:, None], _DIGITS_MAX, dtype=dtype)
    y = bunch.target.astype(np.int64)
    train, test = split_indices(len(y), test_fraction, as_generator(seed), labels=y)
    return Dataset.from_train_test(
        "digits", X[train], y[train], X[test], y[test], tuple(str(d) for d in range(10))
    )
