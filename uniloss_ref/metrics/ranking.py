"""Shared refactoring of the binary ranking metrics (average precision, ROC AUC).

Scores ``s`` of shape ``(n,)`` with 0/1 labels. The pairs are every (positive, negative)
in the batch, positive-major: comparison ``p * N + q`` is ``s[pos[p]] - s[neg[q]]``, so
``l = P * N`` and the configuration reshapes to a ``(P, N)`` matrix whose row ``p`` holds
positive ``p``'s comparisons. The number of ``-1`` entries in row ``p`` is ``n_p``, the
number of negatives ranked above (or tied with) that positive.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import binary_targets
from .base import Metric


class BinaryRankingMetric(Metric):
    """Base of metrics whose pairs are all (positive, negative) pairs of a binary batch.

    Targets are 0/1 labels of shape ``(n,)`` (bool, integer, or float 0.0/1.0); scores
    are real numbers of shape ``(n,)``, higher meaning "more positive".
    """

    score_ndim = 1

    def _check_targets(self, shape: tuple[int, ...], targets: Any) -> np.ndarray:
        return binary_targets(targets, shape[0])

    def _shape(self, targets: Any, length: int) -> tuple[int, ...]:
        return (np.shape(targets)[0] if np.ndim(targets) else 0,)

    def _pairs(self, shape: tuple[int, ...], targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos, neg = np.flatnonzero(targets), np.flatnonzero(~targets)
        return np.repeat(pos, neg.size), np.tile(neg, pos.size)

    def _rows(self, shape: tuple[int, ...], targets: np.ndarray) -> np.ndarray:
        positives = int(targets.sum())
        return np.repeat(np.arange(positives), targets.size - positives)

    @staticmethod
    def _wins(b: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """``b`` of shape (K, P*N) as booleans of shape (K, P, N): True where ``b = +1``."""
        positives = int(targets.sum())
        return (b > 0).reshape(b.shape[0], positives, targets.size - positives)
