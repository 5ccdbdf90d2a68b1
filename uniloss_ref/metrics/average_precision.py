"""Average precision of a binary ranking as a refactoring.

Scores ``s`` of shape ``(n,)``, 0/1 labels. The pairs are every (positive, negative) pair,
positive-major: comparison ``p * N + q`` is ``s[pos[p]] - s[neg[q]]``, so ``l = P * N`` and a
configuration reshapes to a ``(P, N)`` matrix whose row ``p`` is positive ``p``'s. The
``-1`` entries of row ``p`` are the negatives ranked above (or tied with) it; there are
``n_p`` of them. Sorting ``n_(1) <= ... <= n_(P)``, the ``k``-th positive down the ranking
has precision ``k / (k + n_(k))`` and

    AP = (1/P) * sum_k k / (k + n_(k)),                         (scikit-learn's)
    AP = (1/P) * sum_k max_{k' >= k} k' / (k' + n_(k')),        (VOC all-point, the authors')

A configuration comes from some ranking iff the rows' "negatives above" sets are nested: a
2x2 pattern where two positives each beat a negative the other loses to is the cycle
``p1 > q1 > p2 > q2 > p1``. ``h`` must still give such a configuration a value.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .._arrays import to_numpy
from .._validation import check_comparisons, check_scores, check_shape, labels_01
from .refactoring import Metric, Refactoring


def ranking_length(shape: Any, targets: Any) -> int:
    """``l = P N``, the (positive, negative) pairs of checked 0/1 ``targets``."""
    (n,) = check_shape(shape, 1)
    positives = int(labels_01(targets, n).sum())
    return positives * (n - positives)


def ranking_pairs(shape: Any, targets: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked 0/1 ``targets`` and every (positive, negative) pair ``(i, j)``, positive-major."""
    (n,) = check_shape(shape, 1)
    labels = labels_01(targets, n)
    pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
    check_comparisons(pos.size * neg.size, f"{pos.size} positives and {neg.size} negatives")
    return labels, np.repeat(pos, neg.size), np.tile(neg, pos.size)


def average_precision(counts: np.ndarray, interpolated: bool) -> np.ndarray:
    """AP ``(K,)`` from each positive's count of negatives above it, ``counts (K, P)``."""
    k = np.arange(1, counts.shape[1] + 1)
    precision = k / (k + np.sort(counts, axis=1))
    if interpolated:
        precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    return precision.mean(axis=1)


def nested(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Whether a configuration's "negatives above" sets are nested, from its counts ``(K,)``.

    ``rows (K, P)`` counts the negatives above each positive, ``columns (K, N)`` the
    positives below each negative. The sets are nested iff the matrix is a Ferrers diagram
    up to order, i.e. iff the sorted column counts equal the conjugate of the row counts,
    ``#{p : rows_p >= k}`` for ``k = 1..N`` (the equality case of the Gale-Ryser theorem).
    """
    k, n = columns.shape
    offsets = (n + 1) * np.arange(k)[:, None]
    histogram = np.bincount((rows + offsets).ravel(), minlength=k * (n + 1)).reshape(k, n + 1)
    conjugate = np.cumsum(histogram[:, :0:-1], axis=1)[:, ::-1]
    return (-np.sort(-columns, axis=1) == conjugate).all(axis=1)


class AveragePrecision(Metric):
    """Average precision of binary scores: scores -> comparisons -> binaries -> AP.

    Parameters
    ----------
    interpolated : bool, default False
        False: scikit-learn's AP. True: the VOC all-point interpolated AP of the authors.
    unrealisable : {"zero", "counts"}, default "zero"
        The value of a configuration no ranking produces: 0 (the authors' choice), or the AP
        formula applied to the rows' ``-1`` counts anyway.

    Notes
    -----
    A tie between a positive and a negative counts against the positive. A batch with no
    positive or no negative has no pairs and AP 1 (nothing is ranked wrong), so the
    surrogate is constant there and its gradient zero.
    """

    def __init__(
        self, interpolated: bool = False, unrealisable: Literal["zero", "counts"] = "zero"
    ) -> None:
        if not isinstance(interpolated, bool):
            raise TypeError(f"interpolated must be True or False, got {interpolated!r}")
        if unrealisable not in ("zero", "counts"):
            raise ValueError(f'unrealisable must be "zero" or "counts", got {unrealisable!r}')
        self.interpolated = interpolated
        self.unrealisable = unrealisable

    def __repr__(self) -> str:
        return (
            f"AveragePrecision(interpolated={self.interpolated}, "
            f"unrealisable={self.unrealisable!r})"
        )

    def refactor(self, shape: tuple[int, ...], targets: Any) -> Refactoring:
        labels, i, j = ranking_pairs(shape, targets)
        positives, negatives = int(labels.sum()), int((~labels).sum())

        zero = self.unrealisable == "zero"

        def h_rows(above: np.ndarray, below: np.ndarray | None = None) -> np.ndarray:
            """AP from the negatives above each positive ``(K, P)`` (and, to tell whether a
            ranking produces the configuration, the positives below each negative ``(K, N)``)."""
            if positives == 0 or negatives == 0:
                return np.ones(len(above))
            ap = average_precision(above, self.interpolated)
            if zero:
                ap[~nested(above, below)] = 0.0
            return ap

        rows = np.arange(positives + 1) * negatives
        return Refactoring.built(
            shape, i, j, row_starts=rows, h_rows=h_rows, row_length=negatives if zero else None
        )

    def length(self, shape: tuple[int, ...], targets: Any) -> int:
        return ranking_length(shape, targets)

    def evaluate(self, scores: Any, targets: Any) -> float:
        """AP of ``scores (n,)``; in ``O(n log n)`` time and ``O(n)`` memory.

        Each positive's count of negatives scored at or above it comes from a binary search
        in the sorted negative scores, not from the ``P x N`` comparisons, so a test split
        of any size is evaluated in memory proportional to it.
        """
        s = to_numpy(check_scores(scores, 1))
        labels = labels_01(targets, s.size)
        if labels.all() or not labels.any():
            return 1.0
        negatives = np.sort(s[~labels])
        counts = negatives.size - np.searchsorted(negatives, s[labels], side="left")
        return float(average_precision(counts[None, :], self.interpolated)[0])
