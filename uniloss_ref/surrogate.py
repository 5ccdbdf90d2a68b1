"""The UniLoss surrogate: refactor, relax, sample anchors, interpolate.

One evaluation on a mini-batch, in the paper's order (:func:`surrogate_steps`):

1. comparisons ``c = s[i] - s[j]`` from the batch's :class:`~uniloss_ref.metrics.Refactoring`
   (of the standardised scores ``s / sd(s)`` when asked, see :mod:`uniloss_ref.relaxation`);
2. anchors ``a_k`` around ``sign(c)`` and their exact metric values ``v_k = h(a_k)``;
3. relaxed binaries ``b~ = tanh(c / (2 tau))``;
4. the interpolant ``h~(b~)``; the loss is ``1 - h~``.

Anchors and values are constants for the gradient, which flows through ``b~`` only.
:class:`UniLoss` draws fresh anchors at every call, :func:`surrogate` takes fixed ones, and
:func:`inspect` and :meth:`UniLoss.inspect` return every intermediate: all run
:func:`surrogate_steps`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from autograd.tracer import getval

from ._arrays import to_numpy
from ._validation import check_scores, count, flag, positive_float
from .anchors import Anchors, AnchorSampler
from .interpolation import interpolate, squared_distances, weights
from .metrics.refactoring import Metric, Refactoring
from .relaxation import hard_binary, relaxed_binary, standardised

Sampler = Callable[[np.ndarray, Refactoring, np.random.Generator], Anchors]
Interpolation = Callable[[Any, Anchors, Any, float], Any]


class Steps(NamedTuple):
    """One evaluation's intermediates (autograd boxes while differentiating)."""

    comparisons: Any  # c, shape (l,)
    relaxed: Any  # b~, shape (l,)
    anchors: Anchors  # a_k, K of them
    values: np.ndarray  # v_k = h(a_k), shape (K,)
    surrogate: Any  # h~


def surrogate_steps(
    scores: Any,
    refactoring: Refactoring,
    anchors: Anchors | Callable[[np.ndarray], Anchors],
    temperature: float = 1.0,
    power: float = 1.0,
    interpolation: Interpolation = interpolate,
    standardise: bool = False,
) -> Steps:
    """One evaluation of the surrogate, differentiable in ``scores``.

    ``anchors`` are fixed, or drawn by a function of the comparisons ``c`` (on the host);
    ``interpolation(b~, anchors, values, power)`` computes ``h~``; ``standardise`` compares
    ``s / sd(s)`` instead of ``s``.
    """
    c = refactoring.comparisons(standardised(scores) if standardise else scores)
    if not isinstance(anchors, Anchors):
        anchors = anchors(to_numpy(c))
    if not isinstance(anchors, Anchors) or anchors.length != refactoring.length:
        raise TypeError(
            f"the anchor sampler must return Anchors of {refactoring.length} comparisons, "
            f"got {anchors!r:.60}"
        )
    values = anchors.values(refactoring)
    b = relaxed_binary(c, temperature)
    return Steps(c, b, anchors, values, interpolation(b, anchors, values, power))


def _at_fixed_anchors(
    scores: Any,
    targets: Any,
    metric: Metric,
    anchors: Any,
    temperature: float,
    power: float,
    standardise: bool,
) -> tuple[Steps, Refactoring]:
    refactoring = metric.refactor(check_scores(scores, metric.score_ndim).shape, targets)
    if not isinstance(anchors, Anchors):
        anchors = Anchors.from_configurations(anchors, refactoring.length)
    steps = surrogate_steps(
        scores,
        refactoring,
        anchors,
        temperature,
        power,
        standardise=flag(standardise, "standardise"),
    )
    return steps, refactoring


def surrogate(
    scores: Any,
    targets: Any,
    metric: Metric,
    anchors: Anchors | Any,
    *,
    temperature: float = 1.0,
    power: float = 1.0,
    standardise: bool = False,
) -> Any:
    """``h~`` at fixed anchors, differentiable in ``scores``.

    Parameters
    ----------
    scores : ndarray
        Scores ``s`` in the shape the metric takes.
    targets : array_like
        Labels of the batch.
    metric : Metric
        The refactored metric.
    anchors : Anchors or ndarray of shape (K, l)
        The anchors ``a_k``, entries ``+-1``.
    temperature, power : float, default 1.0
        ``tau`` of the relaxation and ``p`` of the inverse distance weights.
    standardise : bool, default False
        Compare the standardised scores ``s / sd(s)`` (``tau`` then in units of ``sd``).

    Returns
    -------
    float or autograd box
        ``h~ = sum_k w_k v_k / sum_k w_k``, in ``[min v, max v]``.
    """
    steps, _ = _at_fixed_anchors(scores, targets, metric, anchors, temperature, power, standardise)
    return steps.surrogate


@dataclass(frozen=True)
class Evaluation:
    """Every intermediate of one evaluation, as NumPy arrays.

    ``comparisons``, ``hard`` and ``relaxed`` (``c``, ``sign(c)`` and ``b~``) have shape
    ``(l,)``; ``anchors`` ``(K, l)`` (``+-1``); ``kinds``, ``values``, ``distances`` and
    ``weights`` (``w_k / sum_j w_j``) shape ``(K,)``; ``surrogate`` is ``h~``, ``loss``
    ``1 - h~`` and ``batch_metric`` the batch's true metric ``h(sign(c))``.
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

    @classmethod
    def read(cls, steps: Steps, refactoring: Refactoring, power: float) -> Evaluation:
        """The steps of one evaluation, read out."""
        c, b, h = to_numpy(steps.comparisons), to_numpy(steps.relaxed), float(steps.surrogate)
        d2 = to_numpy(squared_distances(b, steps.anchors))
        return cls(
            comparisons=c,
            hard=hard_binary(c),
            relaxed=b,
            anchors=steps.anchors.configurations,
            kinds=steps.anchors.kinds,
            values=steps.values,
            distances=np.sqrt(d2),
            weights=to_numpy(weights(d2, power)),
            surrogate=h,
            loss=1.0 - h,
            batch_metric=refactoring.batch_value(c),
        )


def inspect(
    scores: Any,
    targets: Any,
    metric: Metric,
    anchors: Anchors | Any,
    *,
    temperature: float = 1.0,
    power: float = 1.0,
    standardise: bool = False,
) -> Evaluation:
    """Every intermediate of :func:`surrogate` (same parameters)."""
    steps, refactoring = _at_fixed_anchors(
        getval(scores), targets, metric, anchors, temperature, power, standardise
    )
    return Evaluation.read(steps, refactoring, power)


class UniLoss:
    """The UniLoss surrogate loss ``1 - h~`` of a refactored metric.

    Parameters
    ----------
    metric : Metric
        The metric to optimise, e.g. ``AveragePrecision()``.
    temperature : float, default 1.0
        ``tau > 0`` of the relaxation.
    standardise : bool, default False
        Compare the batch's standardised scores ``s / sd(s)``, so that ``tau`` is a width in
        units of the batch's spread and growing the scores cannot saturate the relaxation
        (:mod:`uniloss_ref.relaxation`). The paper compares raw scores; on a hard AP task
        standardised scores with ``tau = 3`` trained stably where raw ones did not
        (``docs/reproduction.md``).
    power : float, default 1.0
        ``p > 0`` of the inverse distance weights.
    seed : int, numpy.random.Generator or None
        Source of the anchors' randomness: the same integer seed draws the same anchors.
    truth, good, nearby, bad, current, row : int, optional
        Anchors of each kind per call (:mod:`uniloss_ref.anchors`); by default the paper's
        1, 16, 16, 16, 0, 0, updated by the metric's ``default_anchors``.
    nearby_rule : {"random", "margin"}, default "random"
        Which wrong comparison a nearby anchor sets right: a random one (the paper's) or
        the one of smallest margin in its row (always a valid ranking for AP).
    sampler : callable, optional
        ``(c, refactoring, rng) -> Anchors`` in place of the built-in scheme and its counts.
    memory_limit : float, default 8 GiB
        Bytes one loss and gradient may take; a batch estimated to need more is refused
        before anything is allocated (about ``l (120 + B) + 200 K`` bytes for ``l``
        comparisons, ``K`` anchors and ``B`` of them random).
    interpolation : callable, default :func:`uniloss_ref.interpolation.interpolate`
        ``(b~, anchors, values, power) -> h~``.

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
        *,
        temperature: float = 1.0,
        standardise: bool = False,
        power: float = 1.0,
        seed: int | np.random.Generator | None = None,
        truth: int | None = None,
        good: int | None = None,
        nearby: int | None = None,
        bad: int | None = None,
        current: int | None = None,
        row: int | None = None,
        nearby_rule: str = "random",
        sampler: Sampler | None = None,
        interpolation: Interpolation = interpolate,
        memory_limit: float = 8 * 2**30,
    ) -> None:
        if not isinstance(metric, Metric):
            raise TypeError(f"metric must be a uniloss_ref.metrics.Metric, got {metric!r:.60}")
        for name, value in (("sampler", sampler), ("interpolation", interpolation)):
            if value is not None and not callable(value):
                raise TypeError(f"{name} must be callable, got {value!r:.60}")
        given = dict(truth=truth, good=good, nearby=nearby, bad=bad, current=current, row=row)
        counts = {**metric.default_anchors, **{k: v for k, v in given.items() if v is not None}}
        self.metric = metric
        self.temperature = positive_float(temperature, "temperature")
        self.standardise = flag(standardise, "standardise")
        self.power = positive_float(power, "power")
        self.sampler: Sampler = sampler or AnchorSampler(**counts, nearby_rule=nearby_rule)
        self.interpolation = interpolation
        self.memory_limit = positive_float(memory_limit, "memory_limit")
        if seed is not None and not isinstance(seed, np.random.Generator):
            seed = count(seed, "seed")
        self.rng = np.random.default_rng(seed)

    def __repr__(self) -> str:
        return (
            f"UniLoss({self.metric!r}, sampler={self.sampler!r}, "
            f"temperature={self.temperature}, standardise={self.standardise}, power={self.power})"
        )

    def _refactor(self, scores: Any, targets: Any) -> Refactoring:
        shape = check_scores(scores, self.metric.score_ndim).shape
        refactoring = self.metric.refactor(shape, targets)
        bases = 2 + getattr(self.sampler, "bad", 0)  # the truth, sign(c) and the random ones
        anchors = getattr(self.sampler, "total", bases)
        need = refactoring.length * (120 + bases) + 200 * anchors
        if need > self.memory_limit:
            raise ValueError(
                f"this batch has {refactoring.length:,} comparisons and {anchors:,} anchors: "
                f"one loss and gradient needs about {need / 2**30:.1f} GiB, above memory_limit "
                f"({self.memory_limit / 2**30:.1f} GiB); use fewer comparisons or anchors"
            )
        return refactoring

    def _steps(self, scores: Any, targets: Any) -> tuple[Steps, Refactoring]:
        refactoring = self._refactor(scores, targets)
        draw = lambda c: self.sampler(c, refactoring, self.rng)
        steps = surrogate_steps(
            scores,
            refactoring,
            draw,
            self.temperature,
            self.power,
            self.interpolation,
            self.standardise,
        )
        return steps, refactoring

    def __call__(self, scores: Any, targets: Any) -> Any:
        """The loss ``1 - h~`` of a batch (scores in the metric's shape), for autograd."""
        return 1.0 - self._steps(scores, targets)[0].surrogate

    def draw_anchors(self, scores: Any, targets: Any) -> Anchors:
        """Draw anchors as a call would (advancing the generator)."""
        refactoring = self._refactor(getval(scores), targets)
        scores = standardised(getval(scores)) if self.standardise else getval(scores)
        c = to_numpy(refactoring.comparisons(scores))
        return self.sampler(c, refactoring, self.rng)

    def inspect(self, scores: Any, targets: Any) -> Evaluation:
        """Run one evaluation as a call would and return every intermediate."""
        return Evaluation.read(*self._steps(getval(scores), targets), self.power)
