"""Multi-class (top-k) accuracy as a refactoring.

Scores ``s`` of shape ``(n, C)``, integer targets ``t`` of shape ``(n,)``. Sample ``r``'s
pairs compare its target class with every other class, ``s[r, t_r] - s[r, q]`` for
``q != t_r`` in increasing ``q``; ``l = n (C - 1)`` and a configuration reshapes to an
``(n, C - 1)`` matrix whose row ``r`` is sample ``r``'s. The sample is right at top-k iff
at most ``k - 1`` entries of its row are ``-1``; ``h`` is the mean over samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import to_numpy
from .._validation import (
    check_comparisons,
    check_scores,
    check_shape,
    class_labels,
    positive_int,
)
from .refactoring import Metric, Refactoring


class Accuracy(Metric):
    """Top-k accuracy of multi-class scores: scores -> comparisons -> binaries -> accuracy.

    Parameters
    ----------
    top_k : int, default 1
        A sample is right when its target class is among its ``top_k`` highest scores.

    Notes
    -----
    A class tied with the target counts as above it, so a tie never makes a sample right;
    for tie-free scores this is scikit-learn's ``top_k_accuracy_score``. With ``C = 1`` or
    ``top_k >= C`` every sample is right (value 1).
    """

    score_ndim = 2

    def __init__(self, top_k: int = 1) -> None:
        self.top_k = positive_int(top_k, "top_k")

    def __repr__(self) -> str:
        return f"Accuracy(top_k={self.top_k})"

    def refactor(self, shape: tuple[int, ...], targets: Any) -> Refactoring:
        n, classes = check_shape(shape, 2)
        t = class_labels(targets, n, classes)
        check_comparisons(n * (classes - 1), f"a batch of {n} samples and {classes} classes")
        flat = np.arange(n * classes).reshape(n, classes)
        others = np.arange(classes)[None, :] != t[:, None]
        i, j = np.repeat(flat[np.arange(n), t], classes - 1), flat[others]

        def h_rows(lost: np.ndarray) -> np.ndarray:  # (K, n): the classes above each target
            return (lost < self.top_k).mean(axis=1)

        rows = np.arange(n + 1) * (classes - 1)
        return Refactoring.built(shape, i, j, row_starts=rows, h_rows=h_rows)

    def length(self, shape: tuple[int, ...], targets: Any) -> int:
        n, classes = check_shape(shape, 2)
        class_labels(targets, n, classes)
        return n * (classes - 1)

    def evaluate(self, scores: Any, targets: Any) -> float:
        s = to_numpy(check_scores(scores, 2))
        t = class_labels(targets, *s.shape)
        lost = (s >= s[np.arange(len(t)), t][:, None]).sum(axis=1) - 1
        return float((lost < self.top_k).mean())
