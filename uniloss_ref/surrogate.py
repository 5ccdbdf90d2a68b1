"""The UniLoss surrogate: refactor, relax, sample anchors, interpolate.

One evaluation on a mini-batch, in the paper's order:

1. comparisons ``c = s[i] - s[j]`` from the metric's pairs;
2. hard binaries ``sign(c)`` (to place the anchors) and relaxed binaries
   ``b~ = tanh(c / (2 tau))`` (to differentiate);
3. anchors ``a_k`` drawn around ``sign(c)`` and their exact metric values ``v_k = h(a_k)``;
4. the interpolant ``h~(b~)``; the loss is ``1 - h~``.

Anchors are constants for the gradient: it flows through ``b~`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from autograd.tracer import getval

from ._validation import binary_configurations, count, positive_float
from .anchors import Anchors, AnchorSampler
from .device import as_array_like, to_numpy
from .experiments.authors_gradient import interpolate_with_authors_gradient
from .interpolation import idw_weights, interpolate, squared_distances
from .metrics.base import Metric
from .relaxation import hard_binary, relaxed_binary

Sampler = Callable[[np.ndarray, np.ndarray, np.random.Generator], Anchors]


def surrogate(
    scores: Any,
    targets: Any,
    metric: Metric,
    anchors: np.ndarray,
    *,
    temperature: float = 1.0,
    power: float = 1.0,
    values: np.ndarray | None = None,
) -> Any:
    """The interpolated metric ``h~`` at given, fixed anchors (differentiable in ``scores``).

    Parameters
    ----------
    scores : ndarray
        Scores ``s`` in the shape the metric takes.
    targets : array_like
        Labels of the batch.
    metric : Metric
        The refactored metric.
    anchors : ndarray of shape (K, l)
        Anchor configurations ``a_k`` with entries ``+-1``.
    temperature : float, default 1.0
        ``tau`` of the relaxation ``b~ = tanh(c / (2 tau))``.
    power : float, default 1.0
        ``p`` of the inverse distance weights ``w_k = d_k ** (-p)``.
    values : ndarray of shape (K,), optional
        ``v_k = h(a_k)``; computed with ``metric.from_binary`` when omitted.

    Returns
    -------
    float or autograd box
        ``h~ = sum_k w_k v_k / sum_k w_k``, in ``[min v, max v]``.
    """
    c = metric.comparisons(scores, targets)
    b = relaxed_binary(c, temperature)
    anchors = binary_configurations(to_numpy(anchors), np.shape(getval(c))[0], name="anchors")
    values = metric.from_binary(anchors, targets) if values is None else to_numpy(values)
    power = positive_float(power, "power")
    return interpolate(b, as_array_like(anchors, c), as_array_like(values, c), power)


@dataclass(frozen=True)
class Evaluation:
    """Everything one UniLoss evaluation computed, as plain arrays (for reading, not autodiff).

    Attributes
    ----------
    comparisons : ndarray of shape (l,)
        ``c = s[i] - s[j]``.
    hard : ndarray of shape (l,)
        ``sign(c)``, ties as ``-1``.
    relaxed : ndarray of shape (l,)
        ``b~ = tanh(c / (2 tau))``.
    anchors : ndarray of shape (K, l)
        ``a_k``.
    kinds : ndarray of shape (K,)
        Each anchor's kind (see :mod:`uniloss_ref.anchors`).
    values : ndarray of shape (K,)
        ``v_k = h(a_k)``.
    distances : ndarray of shape (K,)
        ``d_k = ||b~ - a_k||``.
    weights : ndarray of shape (K,)
        Normalised weights ``w_k / sum_j w_j``.
    surrogate : float
        ``h~``.
    loss : float
        ``1 - h~``.
    batch_metric : float
        ``h(sign(c))``, the true metric of the batch.
    """

    comparisons: np.ndarray
    hard: np.ndarray
    relaxed: np.ndarray
    anchors: np.ndarray
    kinds: np.ndarray
    values: np.ndarray
    distances: np.ndarray
    weights: np.ndarray
    surrogate: float
    loss: float
    batch_metric: float


class UniLoss:
    """The UniLoss surrogate loss ``1 - h~`` for a refactored metric.

    Parameters
    ----------
    metric : Metric
        The metric to optimise, e.g. ``AveragePrecision()``.
    good, nearby, bad : int, default 16
        Anchors of each kind drawn per call (the paper's defaults).
    temperature : float, default 1.0
        ``tau > 0`` of the relaxation.
    power : float, default 1.0
        ``p > 0`` of the inverse distance weights.
    seed : int, numpy.random.Generator or None
        Source of the anchors' randomness. Two losses built with the same integer seed and
        called on the same inputs draw the same anchors.
    truth : int, default 1
        Copies of the ground-truth anchor.
    current : int, default 0
        Copies of the current hard configuration among the anchors; with one, ``h~`` tends
        to the batch metric as ``temperature -> 0``.
    rows : int, optional
        Row anchors (the current configuration with one row set right); defaults to the
        metric's ``row_anchors`` (16 for PCK, 0 otherwise).
    sampler : callable, optional
        ``(hard, rows, rng) -> Anchors`` replacing the built-in scheme (the counts above
        are then unused).
    gradient : {"autograd", "authors"}, default "autograd"
        ``"authors"`` keeps the same loss value but back-propagates the authors'
        closed-form IDW gradient, which has a sign error; for comparison only.

    Examples
    --------
    >>> import autograd, numpy as np
    >>> from uniloss_ref import UniLoss
    >>> from uniloss_ref.metrics import AveragePrecision
    >>> loss = UniLoss(AveragePrecision(), seed=0)
    >>> scores, labels = np.array([0.3, -1.2, 0.8, 0.1]), np.array([1, 0, 0, 1])
    >>> gradient = autograd.grad(loss)(scores, labels)
    """

    def __init__(
        self,
        metric: Metric,
        good: int = 16,
        nearby: int = 16,
        bad: int = 16,
        temperature: float = 1.0,
        power: float = 1.0,
        seed: int | np.random.Generator | None = None,
        *,
        truth: int = 1,
        current: int = 0,
        rows: int | None = None,
        sampler: Sampler | None = None,
        gradient: Literal["autograd", "authors"] = "autograd",
    ) -> None:
        if not isinstance(metric, Metric):
            raise TypeError(
                f"metric must be a uniloss_ref.metrics.Metric, got {type(metric).__name__}"
            )
        if gradient not in ("autograd", "authors"):
            raise ValueError(f'gradient must be "autograd" or "authors", got {gradient!r}')
        if sampler is not None and not callable(sampler):
            raise TypeError(
                f"sampler must be callable (hard, rows, rng) -> Anchors, got {sampler!r}"
            )
        self.metric = metric
        self.temperature = positive_float(temperature, "temperature")
        self.power = positive_float(power, "power")
        self.gradient = gradient
        rows = metric.row_anchors if rows is None else count(rows, "rows")
        self.sampler: Sampler = sampler or AnchorSampler(
            truth=truth, good=good, nearby=nearby, bad=bad, current=current, row=rows
        )
        if seed is not None and not isinstance(seed, np.random.Generator):
            seed = count(seed, "seed")
        self.rng = np.random.default_rng(seed)

    def __repr__(self) -> str:
        return (
            f"UniLoss({self.metric!r}, sampler={self.sampler!r}, "
            f"temperature={self.temperature}, power={self.power}, gradient={self.gradient!r})"
        )

    def draw_anchors(self, scores: Any, targets: Any) -> Anchors:
        """Draw this call's anchors around the current hard configuration ``sign(c)``.

        Anchors are drawn on the host with a NumPy generator, whatever device the scores
        are on, so a seed draws the same anchors on every device.
        """
        c = getval(self.metric.comparisons(getval(scores), targets))
        return self._draw(c, getval(scores), targets)

    def _draw(self, c: Any, scores: Any, targets: Any) -> Anchors:
        hard = hard_binary(to_numpy(c))
        anchors = self.sampler(hard, self.metric.rows(scores, targets), self.rng)
        if anchors.configurations.shape[0] == 0:
            raise ValueError("the anchor sampler returned K = 0 anchors; at least one is needed")
        return anchors

    def _surrogate(self, scores: Any, targets: Any) -> tuple[Any, Any, Any, Anchors, np.ndarray]:
        c = self.metric.comparisons(scores, targets)
        anchors = self._draw(getval(c), getval(scores), targets)
        values = self.metric.from_binary(anchors.configurations, targets)
        b = relaxed_binary(c, self.temperature)
        interp = interpolate_with_authors_gradient if self.gradient == "authors" else interpolate
        on_device = as_array_like(anchors.configurations, c), as_array_like(values, c)
        return interp(b, *on_device, self.power), c, b, anchors, values

    def __call__(self, scores: Any, targets: Any) -> Any:
        """The loss ``1 - h~`` on a batch; differentiate it with ``autograd.grad``.

        Parameters
        ----------
        scores : ndarray
            Scores ``s`` in the shape the metric takes (``(n,)``, ``(n, C)``,
            ``(n, J, H, W)``).
        targets : array_like
            Labels of the batch.

        Returns
        -------
        float or autograd box
            ``1 - h~``, in ``[1 - max v, 1 - min v]``.
        """
        return 1.0 - self._surrogate(scores, targets)[0]

    def inspect(self, scores: Any, targets: Any) -> Evaluation:
        """Run one evaluation (drawing anchors as a call would) and return its parts."""
        scores = getval(scores)
        h, c, b, anchors, values = self._surrogate(scores, targets)
        a, b, c = anchors.configurations, to_numpy(b), to_numpy(c)
        return Evaluation(
            comparisons=c,
            hard=hard_binary(c),
            relaxed=b,
            anchors=a,
            kinds=anchors.kinds,
            values=values,
            distances=np.sqrt(squared_distances(b, a)),
            weights=np.asarray(idw_weights(b, a, self.power)),
            surrogate=float(h),
            loss=1.0 - float(h),
            batch_metric=float(self.metric.from_binary(hard_binary(c), targets)),
        )
