"""Metrics of the predictions at a threshold as refactorings: F-score, precision and recall.

Scores ``s`` of shape ``(n,)``, 0/1 labels and a threshold ``t`` in the units of the scores:
a sample is predicted positive when its score is above ``t``. Every sample whose class the
metric looks at has one comparison with the constant ``t`` (the refactoring's constant, pair
index ``n``), in sample order, oriented so that ``c > 0`` is the right prediction:

    c_m = s_m - t   for a positive:  b = +1 a true positive,  -1 a false negative;
    c_m = t - s_m   for a negative:  b = +1 a true negative,  -1 a false positive.

From the ``-1`` entries, ``FN`` (lost positives) and ``FP`` (lost negatives), and ``TP = P -
FN``:

    precision = TP / (TP + FP),        recall = TP / (TP + FN) = TP / P,
    F_beta = (1 + beta^2) TP / ((1 + beta^2) TP + beta^2 FN + FP).

Every configuration is realisable (each sample on its own side of ``t``), so ``h`` is the
metric everywhere. Recall does not depend on the negatives and compares the positives only.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from .._arrays import to_numpy
from .._validation import check_scores, check_shape, finite_float, labels_01, positive_float
from .refactoring import Metric, Refactoring


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` elementwise, and 1 where the denominator is 0."""
    some = denominator > 0
    return np.where(some, numerator / np.where(some, denominator, 1), 1.0)


class ThresholdMetric(Metric):
    """A metric of the counts ``TP``, ``FP``, ``FN`` of the predictions ``s > t``.

    Parameters
    ----------
    threshold : float, default 0.0
        ``t``, in the units of the raw scores (with standardised scores the comparisons are
        ``(s_m - t) / sd(s)``, :meth:`~uniloss_ref.metrics.Refactoring.comparisons`).

    Notes
    -----
    A tie ``s_m = t`` is not achieved whatever the class: a positive at ``t`` is a false
    negative and a negative at ``t`` a false positive. For scores none of which equals ``t``
    the value is scikit-learn's on the predictions ``s > t`` with ``zero_division=1``: a
    ratio whose denominator is 0 is 1 (nothing to find, nothing found wrongly).
    """

    #: Whether the negatives' comparisons are part of the refactoring (recall ignores them).
    uses_negatives = True

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = finite_float(threshold, "threshold")

    @abstractmethod
    def value(self, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        """The metric ``(K,)`` from the counts, each of shape ``(K,)``."""

    def compared(self, shape: tuple[int, ...], targets: Any) -> tuple[np.ndarray, np.ndarray]:
        """Checked 0/1 ``targets`` and the samples compared with ``t``, in order."""
        (n,) = check_shape(shape, 1)
        labels = labels_01(targets, n)
        return labels, np.flatnonzero(labels | self.uses_negatives)

    def refactor(self, shape: tuple[int, ...], targets: Any) -> Refactoring:
        labels, samples = self.compared(shape, targets)
        n, positive = labels.size, labels[samples]
        i = np.where(positive, samples, n)  # s_m - t for a positive, t - s_m for a negative
        j = np.where(positive, n, samples)

        def h_rows(lost: np.ndarray) -> np.ndarray:  # (K, l): every comparison is a row
            fn = lost[:, positive].sum(axis=1)
            fp = lost[:, ~positive].sum(axis=1)
            return self.value(positive.sum() - fn, fp, fn)

        rows = np.arange(samples.size + 1)
        constants = np.array([self.threshold])
        return Refactoring.built(shape, i, j, row_starts=rows, h_rows=h_rows, constants=constants)

    def length(self, shape: tuple[int, ...], targets: Any) -> int:
        return self.compared(shape, targets)[1].size

    def evaluate(self, scores: Any, targets: Any) -> float:
        s = to_numpy(check_scores(scores, 1))
        labels = labels_01(targets, s.size)
        tp = np.sum(labels & (s > self.threshold))
        fn = np.sum(labels & (s <= self.threshold))
        fp = np.sum(~labels & (s >= self.threshold))
        return float(self.value(*(np.array([count]) for count in (tp, fp, fn)))[0])


class FScore(ThresholdMetric):
    """The F-score of the predictions ``s > t``: scores -> comparisons -> binaries -> F.

    Parameters
    ----------
    beta : float, default 1.0
        ``beta > 0``: recall counts ``beta`` times as much as precision (F1 at 1).
    threshold : float, default 0.0
        ``t``, in the units of the raw scores.

    Notes
    -----
    ``F_beta = (1 + beta^2) TP / ((1 + beta^2) TP + beta^2 FN + FP)``, and 1 when
    ``TP + FP + FN = 0``: a batch with no positive in which nothing is predicted positive.
    A batch with no positive and a false positive scores 0. Ties as in
    :class:`ThresholdMetric`.
    """

    def __init__(self, beta: float = 1.0, threshold: float = 0.0) -> None:
        super().__init__(threshold)
        self.beta = positive_float(beta, "beta")

    def __repr__(self) -> str:
        return f"FScore(beta={self.beta}, threshold={self.threshold})"

    def value(self, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        weight = 1.0 + self.beta**2
        return ratio(weight * tp, weight * tp + self.beta**2 * fn + fp)


class Precision(ThresholdMetric):
    """Precision of the predictions ``s > t``, ``TP / (TP + FP)``; 1 when nothing is
    predicted positive. Ties as in :class:`ThresholdMetric`."""

    def __repr__(self) -> str:
        return f"Precision(threshold={self.threshold})"

    def value(self, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        return ratio(tp, tp + fp)


class Recall(ThresholdMetric):
    """Recall of the predictions ``s > t``, ``TP / P``; 1 for a batch with no positive. Its
    comparisons are the positives' only (``l = P``). Ties as in :class:`ThresholdMetric`."""

    uses_negatives = False

    def __repr__(self) -> str:
        return f"Recall(threshold={self.threshold})"

    def value(self, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        return ratio(tp, tp + fn)
