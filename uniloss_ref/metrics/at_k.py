"""Precision and recall at ``k`` of a binary ranking as refactorings.

Scores ``s`` of shape ``(n,)``, 0/1 labels; the top ``k`` are the ``k`` highest scores (all
``n`` when ``k >= n``). Only the order of positives against negatives decides how many
positives the top ``k`` holds, so the pairs are average precision's: every (positive,
negative) pair, positive-major, one row per positive, ``l = P N``
(:mod:`uniloss_ref.metrics.average_precision`). With ``n_p`` the ``-1`` entries of row
``p`` (negatives above positive ``p``) sorted, ``n_(1) <= ... <= n_(P)``, the ``j``-th
positive down the ranking sits at place ``j + n_(j)``, and

    hits = #{j : j + n_(j) <= k},   P@k = hits / min(k, n),   R@k = hits / P.

A configuration no ranking produces gets the value of the ranking with its counts: the
formula is applied to its rows' counts.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from .._arrays import to_numpy
from .._validation import check_scores, labels_01, positive_int
from .average_precision import ranking_length, ranking_pairs
from .refactoring import Metric, Refactoring


def hits(above: np.ndarray, k: int) -> np.ndarray:
    """Positives in the top ``k``, ``(K,)``, from the negatives above each positive ``(K, P)``."""
    places = np.arange(1, above.shape[1] + 1) + np.sort(above, axis=1)
    return (places <= k).sum(axis=1)


class RankingAtK(Metric):
    """A metric of how many positives the ``k`` highest scores hold.

    Parameters
    ----------
    k : int
        How many of the highest-scored samples count; ``k >= n`` takes the whole batch.

    Notes
    -----
    A negative tied with a positive ranks above it (a tie is not achieved); ties among
    positives or among negatives change nothing.
    """

    def __init__(self, k: int) -> None:
        self.k = positive_int(k, "k")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(k={self.k})"

    @abstractmethod
    def value(self, hits: np.ndarray, positives: int, n: int) -> np.ndarray:
        """The metric ``(K,)`` from the positives in the top ``k``, ``(K,)``."""

    def refactor(self, shape: tuple[int, ...], targets: Any) -> Refactoring:
        labels, i, j = ranking_pairs(shape, targets)
        positives, n = int(labels.sum()), labels.size

        def h_rows(above: np.ndarray) -> np.ndarray:  # (K, P): negatives above each positive
            return self.value(hits(above, self.k), positives, n)

        rows = np.arange(positives + 1) * (n - positives)
        return Refactoring.built(shape, i, j, row_starts=rows, h_rows=h_rows)

    def length(self, shape: tuple[int, ...], targets: Any) -> int:
        return ranking_length(shape, targets)

    def evaluate(self, scores: Any, targets: Any) -> float:
        s = to_numpy(check_scores(scores, 1))
        labels = labels_01(targets, s.size)
        order = np.lexsort((labels, -s))  # highest first; a negative before a tied positive
        found = np.array([labels[order[: self.k]].sum()])
        return float(self.value(found, int(labels.sum()), s.size)[0])


class PrecisionAtK(RankingAtK):
    """Precision at ``k``: the share of positives among the ``min(k, n)`` highest scores.

    Notes
    -----
    ``k >= n``: the whole batch, ``P / n``. A batch with no positive scores 0 (it has no
    pairs, so the surrogate is constant and its gradient zero), one with no negative 1.
    Ties as in :class:`RankingAtK`.
    """

    def value(self, hits: np.ndarray, positives: int, n: int) -> np.ndarray:
        return hits / min(self.k, n)


class RecallAtK(RankingAtK):
    """Recall at ``k``: the share of the positives found among the ``k`` highest scores.

    Notes
    -----
    ``k >= n``: every positive is found, 1. A batch with no positive scores 1 (nothing to
    find); one with no negative ``min(k, n) / P``. Ties as in :class:`RankingAtK`.
    """

    def value(self, hits: np.ndarray, positives: int, n: int) -> np.ndarray:
        return hits / positives if positives else np.ones(len(hits))
