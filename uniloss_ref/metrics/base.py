"""A metric as a refactoring: scores -> comparisons -> binary variables -> metric.

Every metric here is evaluated on a mini-batch in four steps:

1. scores ``s`` (any shape; flattened to length ``n``);
2. comparisons ``c = s[i] - s[j]`` for a fixed, label-dependent list of ``l`` pairs
   ``(i, j)``, oriented so that ``c > 0`` is the desired outcome;
3. binary variables ``b = sign(c)`` in ``{-1, +1}^l`` (a tie counts as ``-1``);
4. the metric ``h(b)``, defined on *every* point of ``{-1, +1}^l``.

The refactoring is exact when ``h(sign(c(s))) == metric(s)``. A subclass states the pairs
(:meth:`Metric.pairs`), the rows that group them (:meth:`Metric.rows`), ``h``
(:meth:`Metric.from_binary`) and the ordinary direct computation (:meth:`Metric.evaluate`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import autograd.numpy as anp
import numpy as np

from .._validation import binary_configurations, scores_value
from ..device import as_array_like, to_numpy
from ..relaxation import hard_binary


class Metric(ABC):
    """Base class of a metric written as a refactoring. Higher values are better.

    Attributes
    ----------
    score_ndim : int
        The number of dimensions of the scores the metric takes.
    row_anchors : int
        How many row anchors :class:`uniloss_ref.UniLoss` draws by default (see
        :mod:`uniloss_ref.anchors`); zero unless the paper's random anchors are useless
        for the metric.
    """

    score_ndim: int = 1
    row_anchors: int = 0

    def check(self, scores: Any, targets: Any) -> Any:
        """Validate ``scores`` and ``targets``; return the targets in canonical form.

        Raises
        ------
        TypeError, ValueError
            Naming the argument and what was expected.
        """
        value = scores_value(scores, ndim=self.score_ndim)
        return self._check_targets(value.shape, targets)

    @abstractmethod
    def _check_targets(self, shape: tuple[int, ...], targets: Any) -> Any:
        """Validate ``targets`` for scores of ``shape``; return them in canonical form."""

    @abstractmethod
    def _pairs(self, shape: tuple[int, ...], targets: Any) -> tuple[np.ndarray, np.ndarray]:
        """The pairs for already-checked targets; see :meth:`pairs`."""

    @abstractmethod
    def _rows(self, shape: tuple[int, ...], targets: Any) -> np.ndarray:
        """The rows for already-checked targets; see :meth:`rows`."""

    @abstractmethod
    def _from_binary(self, b: np.ndarray, shape: tuple[int, ...], targets: Any) -> np.ndarray:
        """``h`` for already-checked ``(K, l)`` configurations; see :meth:`from_binary`."""

    @abstractmethod
    def _evaluate(self, scores: np.ndarray, targets: Any) -> float:
        """The metric computed directly from checked scores; see :meth:`evaluate`."""

    @abstractmethod
    def _shape(self, targets: Any, length: int) -> tuple[int, ...]:
        """The shape of the scores that ``targets`` and ``l = length`` comparisons imply."""

    def pairs(self, scores: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
        """The comparison pairs: indices ``(i, j)`` into the flattened scores.

        Parameters
        ----------
        scores : ndarray
            The scores ``s`` (only their shape is used).
        targets : array_like
            The labels of the batch.

        Returns
        -------
        i, j : ndarray of shape (l,)
            Integer indices; comparison ``k`` is ``s.ravel()[i[k]] - s.ravel()[j[k]]``.
        """
        targets = self.check(scores, targets)
        return self._pairs(np.shape(scores), targets)

    def rows(self, scores: Any, targets: Any) -> np.ndarray:
        """The row id of every comparison, integers in ``[0, R)`` of shape ``(l,)``.

        A row groups the comparisons that decide one unit of the metric (one positive, one
        sample, one candidate pixel); the row anchors set a whole row to ``+1``.
        """
        targets = self.check(scores, targets)
        return self._rows(np.shape(scores), targets)

    def comparisons(self, scores: Any, targets: Any) -> Any:
        """Comparisons ``c = s[i] - s[j]``, differentiable with respect to ``scores``.

        Parameters
        ----------
        scores : ndarray
            The scores ``s``; shape as the metric requires.
        targets : array_like
            The labels of the batch.

        Returns
        -------
        ndarray of shape (l,)
            ``c > 0`` exactly where the pair is ordered as desired.
        """
        targets = self.check(scores, targets)
        i, j = self._pairs(np.shape(scores), targets)
        flat = anp.reshape(scores, (-1,))
        # Index arrays must live where the scores do (backend rule 3).
        return flat[as_array_like(i, scores)] - flat[as_array_like(j, scores)]

    def from_binary(self, b: Any, targets: Any) -> np.ndarray:
        """The metric ``h`` at binary configurations.

        Parameters
        ----------
        b : ndarray of shape (K, l) or (l,)
            ``K`` configurations with entries ``+-1``.
        targets : array_like
            The labels of the batch (a multi-class metric also needs the number of classes,
            which it reads from ``l``).

        Returns
        -------
        ndarray of shape (K,) (or a float for ``b`` of shape ``(l,)``)
            ``h(b_k)`` for every configuration; defined for every point of
            ``{-1, +1}^l``.
        """
        b = to_numpy(b)  # h is integer logic on the host, whatever device b came from
        single = b.ndim == 1
        b = np.atleast_2d(b) if single else b
        shape = self._shape(targets, np.shape(b)[-1])
        targets = self._check_targets(shape, targets)
        b = binary_configurations(b, self._pairs(shape, targets)[0].size)
        values = self._from_binary(b, shape, targets)
        return float(values[0]) if single else values

    def evaluate(self, scores: Any, targets: Any) -> float:
        """The metric computed directly from the scores, the ordinary way.

        Ties are counted as not achieved, as in :func:`uniloss_ref.relaxation.hard_binary`;
        for tie-free scores this is the textbook definition.
        """
        targets = self.check(scores, targets)
        return float(self._evaluate(to_numpy(scores), targets))

    def batch_value(self, scores: Any, targets: Any) -> float:
        """``h(sign(c(s)))``: the metric through the refactoring (equals :meth:`evaluate`)."""
        c = self.comparisons(scores, targets)
        return float(self.from_binary(hard_binary(c)[None, :], targets)[0])
