"""ROC AUC of a binary ranking as a refactoring: the fraction of (positive, negative) pairs
ordered right, ``h(b) = #{m : b_m = +1} / l``, with the pairs of average precision."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import to_numpy
from .._validation import check_scores, labels_01
from .average_precision import ranking_length, ranking_pairs
from .refactoring import Metric, Refactoring


class RocAuc(Metric):
    """ROC AUC of binary scores: scores -> comparisons -> binaries -> AUC.

    Notes
    -----
    Every configuration has a value, realisable or not. A tie counts as misordered (0,
    where scikit-learn counts 1/2); for tie-free scores the two agree. A batch with one class
    has no pairs and AUC 1 by convention (scikit-learn raises an error instead).
    """

    def __repr__(self) -> str:
        return "RocAuc()"

    def refactor(self, shape: tuple[int, ...], targets: Any) -> Refactoring:
        labels, i, j = ranking_pairs(shape, targets)

        def h_rows(lost: np.ndarray) -> np.ndarray:  # (K, P): negatives above each positive
            return (i.size - lost.sum(axis=1)) / i.size if i.size else np.ones(len(lost))

        positives = int(labels.sum())
        rows = np.arange(positives + 1) * (labels.size - positives)
        return Refactoring.built(shape, i, j, row_starts=rows, h_rows=h_rows)

    def length(self, shape: tuple[int, ...], targets: Any) -> int:
        return ranking_length(shape, targets)

    def evaluate(self, scores: Any, targets: Any) -> float:
        """AUC of ``scores (n,)``; in ``O(n log n)`` time and ``O(n)`` memory.

        Each positive's count of negatives scored strictly below it comes from a binary
        search in the sorted negative scores, not from the ``P x N`` comparisons.
        """
        s = to_numpy(check_scores(scores, 1))
        labels = labels_01(targets, s.size)
        positives, negatives = s[labels], np.sort(s[~labels])
        pairs = positives.size * negatives.size
        if pairs == 0:
            return 1.0
        wins = int(np.searchsorted(negatives, positives, side="left").sum())
        return wins / pairs
