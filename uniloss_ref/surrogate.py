"""The UniLoss surrogate: refactor, relax, sample anchors, interpolate.

:meth:`UniLoss.steps` evaluates a mini-batch in the paper's order: comparisons ``c`` from the
batch's refactoring (of ``s / sd(s)`` when asked), anchors ``a_k`` around ``sign(c)`` and
their values ``v_k = h(a_k)``, ``b~ = tanh(c / 2 tau)``, distances ``d_k^2`` and the
interpolant ``h~``; the loss is ``1 - h~``. Anchors and values are constants for the
gradient, which flows through ``b~`` only. Calls, :func:`surrogate` and :func:`inspect` all
take this one path; :mod:`uniloss_ref.plain` states it densely, in one page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from autograd.tracer import getval

from ._arrays import like, to_numpy
from ._validation import check_scores, count, flag, positive_float
from .anchor_sets import AnchorSet, anchor_set
from .anchors import AnchorSampler
from .interpolation import idw, weights
from .metrics.refactoring import Metric, Refactoring
from .relaxation import hard_binary, relaxed_binary

Sampler = Callable[[np.ndarray, Refactoring, np.random.Generator], AnchorSet]


class Steps(NamedTuple):
    """One evaluation's intermediates (autograd boxes while differentiating)."""

    refactoring: Refactoring
    comparisons: Any  # c, shape (l,)
    relaxed: Any  # b~, shape (l,)
    anchors: AnchorSet  # a_k, K of them
    values: np.ndarray  # v_k = h(a_k), shape (K,)
    squared_distances: Any  # d_k^2, shape (K,)
    surrogate: Any  # h~


def memory_estimate(length: int, anchors: int, random_bases: int) -> float:
    """Bytes one loss and gradient takes, about, for ``l`` comparisons and ``K`` anchors.

    Per comparison: its pair ``(i, j)`` (16 bytes), a dozen float64 vectors of length ``l``
    alive in the forward and backward passes (``c``, ``b~``, ``(1 -+ b~)^2``, cotangents:
    104 bytes), a byte per base configuration (the truth, ``sign(c)``, each random anchor),
    and the bases as floats, 16 bytes each, up to 64 MiB (beyond that they are converted a
    block at a time); per anchor, a few hundred bytes. The tests check it against
    tracemalloc's peak."""
    bases = 2 + random_bases
    return length * (120.0 + bases) + min(16.0 * bases * length, 2**26) + 200.0 * anchors


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
    def read(cls, steps: Steps, power: float) -> Evaluation:
        """The steps of one evaluation (of plain arrays, not boxes), read out."""
        c, d2, h = to_numpy(steps.comparisons), to_numpy(steps.squared_distances), steps.surrogate
        w = to_numpy(weights(steps.squared_distances, power))
        return cls(
            comparisons=c,
            hard=hard_binary(c),
            relaxed=to_numpy(steps.relaxed),
            anchors=steps.anchors.configurations,
            kinds=steps.anchors.kinds,
            values=steps.values,
            distances=np.sqrt(d2),
            weights=w / w.sum(),
            surrogate=float(h),
            loss=1.0 - float(h),
            batch_metric=steps.refactoring.batch_metric(c),
        )


class UniLoss:
    """The UniLoss surrogate loss ``1 - h~`` of a refactored metric.

    Parameters
    ----------
    metric : Metric
        The metric to optimise, e.g. ``AveragePrecision()``.
    sampler : AnchorSampler or callable, optional
        Draws the anchors, ``(c, refactoring, rng) -> Anchors``; by default
        ``AnchorSampler(**metric.default_anchors)``, the paper's 1 truth, 16 good, 16 nearby
        and 16 bad anchors (and 16 row anchors for PCK).
    temperature : float, default 1.0
        ``tau > 0`` of the relaxation.
    standardise : bool, default False
        Compare ``s / sd(s)``: ``tau`` is then a width in units of the batch's spread, which
        growing the scores cannot saturate (:mod:`uniloss_ref.relaxation`). The paper compares
        raw scores; on a hard AP task only standardised ones trained stably.
    power : float, default 1.0
        ``p > 0`` of the inverse distance weights.
    seed : int, numpy.random.Generator or None
        Source of the anchors' randomness: the same integer seed draws the same anchors.
    memory_limit : float, default 8 GiB
        Bytes one loss and gradient may take; a batch estimated to need more
        (:func:`memory_estimate`) is refused before its comparisons are built.

    Examples
    --------
    >>> import autograd, numpy as np
    >>> from uniloss_ref import UniLoss
    >>> from uniloss_ref.metrics import AveragePrecision
    >>> loss = UniLoss(AveragePrecision(), seed=0)
    >>> scores, labels = np.array([0.3, -1.2, 0.8, 0.1]), np.array([1, 0, 0, 1])
    >>> gradient = autograd.grad(loss)(scores, labels)
    """

    #: ``h~`` from the squared distances and values, ``(d2, v, p) -> h~``: inverse distance
    #: weighting. :class:`uniloss_ref.experiments.authors_gradient.AuthorsUniLoss` replaces
    #: it to train with the authors' closed-form gradient.
    idw = staticmethod(idw)

    def __init__(
        self,
        metric: Metric,
        *,
        sampler: AnchorSampler | Sampler | None = None,
        temperature: float = 1.0,
        standardise: bool = False,
        power: float = 1.0,
        seed: int | np.random.Generator | None = None,
        memory_limit: float = 8 * 2**30,
    ) -> None:
        if not isinstance(metric, Metric):
            raise TypeError(f"metric must be a uniloss_ref.metrics.Metric, got {metric!r:.60}")
        if sampler is not None and not callable(sampler):
            raise TypeError(f"sampler must be an AnchorSampler or a callable, got {sampler!r:.60}")
        self.metric = metric
        self.sampler: Sampler = sampler or AnchorSampler(**metric.default_anchors)
        self.temperature = positive_float(temperature, "temperature")
        self.standardise = flag(standardise, "standardise")
        self.power = positive_float(power, "power")
        self.memory_limit = positive_float(memory_limit, "memory_limit")
        if seed is not None and not isinstance(seed, np.random.Generator):
            seed = count(seed, "seed")
        self.rng = np.random.default_rng(seed)

    def __repr__(self) -> str:
        settings = f"temperature={self.temperature}, standardise={self.standardise}"
        return f"UniLoss({self.metric!r}, sampler={self.sampler!r}, {settings}, power={self.power})"

    def steps(self, scores: Any, targets: Any) -> Steps:
        """One evaluation of a batch, differentiable in ``scores`` (an array in the metric's
        shape, or autograd's box of one); draws fresh anchors."""
        if not hasattr(getval(scores), "reshape"):  # a list: nothing to differentiate
            raise TypeError(f"scores must be an array of floats, got {type(scores).__name__}")
        shape = check_scores(scores, self.metric.score_ndim).shape
        length = self.metric.length(shape, targets)
        bases = 2 + getattr(self.sampler, "bad", 0)
        need = memory_estimate(length, getattr(self.sampler, "total", bases), bases - 2)
        if need > self.memory_limit:
            raise ValueError(
                f"this batch has {length:,} comparisons: one loss and gradient needs about "
                f"{need / 2**30:.1f} GiB, above memory_limit ({self.memory_limit / 2**30:.1f} "
                "GiB); use a smaller batch, fewer anchors or a larger memory_limit"
            )
        refactoring = self.metric.refactor(shape, targets)
        c = refactoring.comparisons(scores, self.standardise)
        anchors = self.sampler(to_numpy(c), refactoring, self.rng)
        if not (isinstance(anchors, AnchorSet) and anchors.length == c.size and len(anchors)):
            raise TypeError(
                f"the sampler must return Anchors or DenseAnchors, K >= 1 anchors of {c.size} "
                f"comparisons, got {anchors!r:.60}"
            )
        values = anchors.values(refactoring)
        b = relaxed_binary(c, self.temperature)
        d2 = anchors.squared_distances(b)
        h = self.idw(d2, like(values, getval(b)), self.power)
        return Steps(refactoring, c, b, anchors, values, d2, h)

    def __call__(self, scores: Any, targets: Any) -> Any:
        """The loss ``1 - h~`` of a batch (scores in the metric's shape), for autograd."""
        return 1.0 - self.steps(scores, targets).surrogate

    def draw_anchors(self, scores: Any, targets: Any) -> AnchorSet:
        """The anchors a call would draw (advancing the generator as a call does)."""
        return self.steps(getval(scores), targets).anchors

    def inspect(self, scores: Any, targets: Any) -> Evaluation:
        """Run one evaluation as a call would and return every intermediate."""
        return Evaluation.read(self.steps(getval(scores), targets), self.power)


def _at_fixed_anchors(metric: Metric, anchors: Any, **settings: Any) -> UniLoss:
    """UniLoss whose sampler returns ``anchors`` (``Anchors`` or ``(K, l)`` of ``+-1``)."""
    fixed = lambda c, refactoring, rng: anchor_set(anchors, c.size)
    return UniLoss(metric, sampler=fixed, **settings)


def surrogate(
    scores: Any,
    targets: Any,
    metric: Metric,
    anchors: AnchorSet | Any,
    *,
    temperature: float = 1.0,
    power: float = 1.0,
    standardise: bool = False,
) -> Any:
    """``h~`` at fixed anchors, differentiable in ``scores``.

    ``anchors`` are an anchor set or ``(K, l)`` entries ``+-1``; the other parameters are
    :class:`UniLoss`'s. Returns ``h~ = sum_k w_k v_k / sum_k w_k``, in ``[min v, max v]``.
    """
    settings = dict(temperature=temperature, power=power, standardise=standardise)
    return _at_fixed_anchors(metric, anchors, **settings).steps(scores, targets).surrogate


def inspect(
    scores: Any,
    targets: Any,
    metric: Metric,
    anchors: AnchorSet | Any,
    *,
    temperature: float = 1.0,
    power: float = 1.0,
    standardise: bool = False,
) -> Evaluation:
    """Every intermediate of :func:`surrogate` (same parameters)."""
    settings = dict(temperature=temperature, power=power, standardise=standardise)
    return _at_fixed_anchors(metric, anchors, **settings).inspect(scores, targets)
