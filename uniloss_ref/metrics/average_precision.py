"""Average precision of a binary ranking as a refactoring.

For positive ``p`` let ``n_p`` be the number of negatives ranked above it (ties count as
above). Sorting ``n_(1) <= ... <= n_(P)``, the ``j``-th positive in the ranking has
precision ``j / (j + n_(j))`` and

    AP = (1/P) * sum_j j / (j + n_(j)),                            (non-interpolated)
    AP = (1/P) * sum_j max_{j' >= j} j' / (j' + n_(j')),           (VOC all-point)

the first being scikit-learn's ``average_precision_score`` for tie-free scores, the
second the PASCAL VOC (2010+) all-point interpolated AP that the authors' code uses.

A configuration ``b`` is produced by some ranking iff the sets "negatives above positive
p" are nested (no two positives each beat a negative the other loses to: that 2x2 pattern
is a cycle ``p1 > q1 > p2 > q2 > p1``). ``h`` must be defined on every configuration; for
the others this class offers two documented choices (``unrealisable``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .ranking import BinaryRankingMetric


def precision_at_positives(counts: np.ndarray) -> np.ndarray:
    """Precision ``j / (j + n_(j))`` at each positive, from its negatives-above counts.

    Parameters
    ----------
    counts : ndarray of shape (K, P)
        ``n_p`` for every positive, in any order.

    Returns
    -------
    ndarray of shape (K, P)
        Precision at the ``j``-th highest-ranked positive, ``j = 1..P``.
    """
    rank = np.arange(1, counts.shape[-1] + 1)
    return rank / (rank + np.sort(counts, axis=-1))


def average_precision_from_counts(counts: np.ndarray, interpolated: bool) -> np.ndarray:
    """AP from negatives-above counts ``(K, P) -> (K,)``; ``P = 0`` gives 1 (see the class)."""
    if counts.shape[-1] == 0:
        return np.ones(counts.shape[0])
    precision = precision_at_positives(counts)
    if interpolated:
        precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    return precision.mean(axis=1)


class AveragePrecision(BinaryRankingMetric):
    """Average precision of binary scores, as scores -> comparisons -> binaries -> AP.

    Parameters
    ----------
    interpolated : bool, default False
        False: scikit-learn's definition (precision at each positive). True: the VOC
        all-point interpolated AP used by the authors (precision replaced by its running
        maximum from below).
    unrealisable : {"zero", "counts"}, default "zero"
        The value of a configuration no ranking can produce (rows' negatives-above sets not
        nested). ``"zero"`` is the authors' choice. ``"counts"`` applies the AP formula to
        the rows' ``-1`` counts anyway, which extends AP smoothly in the counts.

    Notes
    -----
    Scores ``(n,)``, targets 0/1 of shape ``(n,)``; ``l = P * N`` comparisons.

    Degenerate batches: with no positives there is nothing to rank and AP is 1 by
    convention (the authors' choice); with no negatives every positive has precision 1, so
    AP is 1. Both have ``l = 0``, so the surrogate is constant and its gradient zero.
    Ties between a positive and a negative count against the positive.
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

    def _from_binary(self, b: np.ndarray, shape, targets: np.ndarray) -> np.ndarray:
        above = ~self._wins(b, targets)  # (K, P, N): negative q ranked above positive p
        counts = above.sum(axis=2)
        values = average_precision_from_counts(counts, self.interpolated)
        if self.unrealisable == "zero":
            values = np.where(self.realisable(above, counts), values, 0.0)
        return values

    @staticmethod
    def realisable(above: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Whether each configuration is produced by some ranking.

        Parameters
        ----------
        above : ndarray of shape (K, P, N), bool
            True where negative ``q`` is ranked above positive ``p``.
        counts : ndarray of shape (K, P)
            ``above.sum(axis=2)``.

        Returns
        -------
        ndarray of shape (K,), bool
            True iff the rows' sets are nested: sorted by size, each row's set contains
            the previous one.
        """
        order = np.argsort(counts, axis=1, kind="stable")
        chain = np.take_along_axis(above, order[:, :, None], axis=1)
        return (chain[:, :-1] <= chain[:, 1:]).all(axis=(1, 2))

    def _evaluate(self, scores: np.ndarray, targets: np.ndarray) -> float:
        counts = (scores[None, ~targets] >= scores[targets, None]).sum(axis=1)
        return float(average_precision_from_counts(counts[None, :], self.interpolated)[0])
