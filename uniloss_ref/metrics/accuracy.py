"""Multi-class (top-k) accuracy as a refactoring.

Scores ``s`` of shape ``(n, C)``, integer targets ``t`` of shape ``(n,)``. For sample
``r`` the pairs compare its target class with every other class, ``s[r, t_r] - s[r, j]``
for ``j != t_r`` in increasing ``j``; ``l = n * (C - 1)`` and the configuration reshapes to
an ``(n, C - 1)`` matrix whose row ``r`` is sample ``r``'s. Sample ``r`` is correct at top-k
iff at most ``k - 1`` entries of its row are ``-1``; ``h`` is the mean over samples.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._validation import class_targets
from .base import Metric


class Accuracy(Metric):
    """Top-k accuracy of multi-class scores, as scores -> comparisons -> binaries -> accuracy.

    Parameters
    ----------
    top_k : int, default 1
        A sample is correct when its target class is among the ``top_k`` highest scores.

    Notes
    -----
    Scores ``(n, C)``, integer targets in ``[0, C)`` of shape ``(n,)``. A class tied with
    the target counts as ranked above it (pessimistic), so ties never make a sample
    correct; for tie-free scores this equals scikit-learn's ``top_k_accuracy_score``.
    ``C = 1`` or ``top_k >= C`` makes every sample correct (value 1).
    """

    score_ndim = 2

    def __init__(self, top_k: int = 1) -> None:
        if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral):
            raise TypeError(f"top_k must be a positive integer, got {top_k!r}")
        if top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k}")
        self.top_k = int(top_k)

    def __repr__(self) -> str:
        return f"Accuracy(top_k={self.top_k})"

    def _check_targets(self, shape: tuple[int, ...], targets: Any) -> np.ndarray:
        return class_targets(targets, shape[0], shape[1])

    def _shape(self, targets: Any, length: int) -> tuple[int, ...]:
        n = np.shape(targets)[0] if np.ndim(targets) == 1 else 0
        if n == 0 or length % n:
            raise ValueError(
                f"b has {length} comparisons per configuration, which is not n * (C - 1) "
                f"for the {n} targets given"
            )
        return (n, length // n + 1)

    def _pairs(self, shape: tuple[int, ...], targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, classes = shape
        flat = np.arange(n * classes).reshape(n, classes)
        others = np.arange(classes)[None, :] != targets[:, None]
        return np.repeat(flat[np.arange(n), targets], classes - 1), flat[others]

    def _rows(self, shape: tuple[int, ...], targets: np.ndarray) -> np.ndarray:
        n, classes = shape
        return np.repeat(np.arange(n), classes - 1)

    def _from_binary(self, b: np.ndarray, shape, targets: np.ndarray) -> np.ndarray:
        n, classes = shape
        losses = (b < 0).reshape(b.shape[0], n, classes - 1).sum(axis=2)
        return (losses <= self.top_k - 1).mean(axis=1)

    def _evaluate(self, scores: np.ndarray, targets: np.ndarray) -> float:
        target_scores = scores[np.arange(scores.shape[0]), targets]
        losses = (scores >= target_scores[:, None]).sum(axis=1) - 1
        return float((losses <= self.top_k - 1).mean())
