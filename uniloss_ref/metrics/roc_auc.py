"""Area under the ROC curve as a refactoring: the fraction of correctly ordered pairs."""

from __future__ import annotations

import numpy as np

from .ranking import BinaryRankingMetric


class RocAuc(BinaryRankingMetric):
    """ROC AUC of binary scores: ``h(b) = (1/l) * #{k : b_k = +1}`` over (positive, negative) pairs.

    Notes
    -----
    Scores ``(n,)``, targets 0/1 of shape ``(n,)``; ``l = P * N`` comparisons. Every
    configuration has a value (the fraction of ``+1``), realisable or not.

    A tie between a positive and a negative counts as misordered (0, where scikit-learn
    counts 1/2); for tie-free scores the two agree. A batch with only one class has no
    pairs: nothing is misordered and the value is 1 by convention, with a constant
    surrogate and zero gradient (scikit-learn raises an error instead).
    """

    def __repr__(self) -> str:
        return "RocAuc()"

    def _from_binary(self, b: np.ndarray, shape, targets: np.ndarray) -> np.ndarray:
        if b.shape[1] == 0:
            return np.ones(b.shape[0])
        return (b > 0).mean(axis=1)

    def _evaluate(self, scores: np.ndarray, targets: np.ndarray) -> float:
        wins = scores[targets, None] > scores[None, ~targets]
        return float(wins.mean()) if wins.size else 1.0
