"""Step 3 and its relaxation: comparisons -> binary variables.

The binary variable of a comparison ``c`` is ``b = sign(c)``, a tie ``c = 0`` counting as
``-1`` (the desired order was not achieved) in every metric of :mod:`uniloss_ref.metrics`.
Its relaxation, with temperature ``tau > 0`` (the paper's is 1), is

    b~ = 2 sigmoid(c / tau) - 1 = tanh(c / (2 tau)),   in (-1, 1),

which tends to ``sign(c)`` as ``tau -> 0``.

``tau`` is measured in the units of the scores, whose scale the network is free to grow; a
loss that rewards confident comparisons grows it until ``|c| / tau`` saturates ``tanh`` and
wrong comparisons stop receiving gradient. Standardising the batch's scores first,
``s / sd(s)`` (:func:`standardised`, differentiated through), makes ``tau`` a width in units
of the batch's spread and the surrogate invariant to the score scale. Constants compared
with the scores (thresholds ``t``) are divided by the same ``sd(s)``
(:func:`standardised_constants`), so ``(s_i - t) / sd(s)`` keeps its sign: standardising
leaves every comparison's sign, and so the metric, unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as onp
from autograd.extend import defjvp, defvjp, primitive
from autograd.tracer import getval

from ._arrays import array_module


def hard_binary(c: Any) -> Any:
    """``b = sign(c)`` of shape ``(l,)``, entries ``+-1.0``, ``+1`` exactly where ``c > 0``."""
    c = getval(c)
    return array_module(c).where(c > 0, 1.0, -1.0)


@primitive
def _tanh_half(c: Any, temperature: float) -> Any:
    return onp.tanh(c / (2.0 * temperature))


# autograd's rule for tanh divides by cosh(x)**2, which overflows (and warns) once
# |c| / tau > 710. Written through the output, 1 - b~**2, the derivative cannot overflow.
defvjp(_tanh_half, lambda ans, c, temperature: lambda g: g * (1.0 - ans**2) / (2.0 * temperature))
defjvp(_tanh_half, lambda g, ans, c, temperature: g * (1.0 - ans**2) / (2.0 * temperature))


@primitive
def standardised(scores: Any) -> Any:
    """``s / sd(s)``, the scores divided by their standard deviation over the whole batch.

    ``sd`` is the population standard deviation of every entry (shape kept). A batch whose
    ``sd`` is zero (all scores equal) or subnormal (below 2.2e-308, where ``1 / sd``
    overflows) is returned unchanged. Computed on ``s / max|s|``, so no square overflows or
    underflows. Differentiable: the gradient ``(g - y mean(g z)) / sd``, with
    ``z = s / sd`` and ``y = (s - mean s) / sd``, has no component along ``s`` (the output
    does not change when all scores are scaled).
    """
    return _standardise(scores)[0]


def _standardise(s: Any) -> tuple[Any, Any, Any, Any, Any]:
    """``(z, y, sd, top, spread)`` as in :func:`standardised`, ``sd = top spread`` with
    ``top = max|s|``; ``y`` is None where ``sd = 0``."""
    xp = array_module(s)
    top = xp.max(xp.abs(s)) if s.size else 0.0
    if not top > 0 or not xp.isfinite(top):
        return s, None, 1.0, 1.0, 1.0
    unit = s / top
    centred = unit - xp.mean(unit)
    spread = xp.sqrt(xp.mean(centred**2))
    if not top * spread >= onp.finfo(float).tiny:
        return s, None, 1.0, 1.0, 1.0
    return unit / spread, centred / spread, top * spread, top, spread


def _standardised_vjp(ans: Any, s: Any) -> Any:
    _, y, sd, _, _ = _standardise(s)
    if y is None:
        return lambda g: g
    return lambda g: (g - y * array_module(g).mean(g * ans)) / sd


def _standardised_jvp(g: Any, ans: Any, s: Any) -> Any:
    _, y, sd, _, _ = _standardise(s)
    return g if y is None else (g - ans * array_module(g).mean(g * y)) / sd


defvjp(standardised, _standardised_vjp)
defjvp(standardised, _standardised_jvp)


@primitive
def standardised_constants(constants: Any, scores: Any) -> Any:
    """``t / sd(s)``: constants ``t`` (thresholds) on the scale of :func:`standardised` scores.

    A score compared with a constant after standardising both, ``s_i / sd - t / sd =
    (s_i - t) / sd``, keeps the sign of ``s_i - t`` (short of underflow, within 1e-308
    ``max|s|``): the metric is unchanged and the threshold stays in the units of the raw
    scores. Unchanged where :func:`standardised`
    leaves the scores unchanged. Differentiable in ``s`` through ``sd``: with ``u = t / sd``
    the gradient is ``-y sum(g u) / (n sd)`` (``y`` as in :func:`standardised`). Computed
    as the scores are, ``t / max|s| / spread``, so a score equal to a constant stays equal
    to it bit for bit: a tie stays a tie.
    """
    _, y, _, top, spread = _standardise(scores)
    return constants if y is None else constants / top / spread


def _standardised_constants_vjp(ans: Any, constants: Any, scores: Any) -> Any:
    _, y, sd, _, _ = _standardise(scores)
    xp = array_module(scores)
    if y is None:
        return lambda g: xp.zeros(scores.shape)
    return lambda g: -y * (xp.sum(g * ans) / (scores.size * sd))


def _standardised_constants_jvp(g: Any, ans: Any, constants: Any, scores: Any) -> Any:
    _, y, sd, _, _ = _standardise(scores)
    return 0.0 * ans if y is None else -ans * (array_module(g).mean(g * y) / sd)


# The constants are data: only the scores, through sd, receive a gradient.
defvjp(standardised_constants, _standardised_constants_vjp, argnums=(1,))
defjvp(standardised_constants, _standardised_constants_jvp, argnums=(1,))


def relaxed_binary(c: Any, temperature: float = 1.0) -> Any:
    """``b~ = tanh(c / (2 tau))`` of shape ``(l,)``, differentiable in ``c``.

    Entries lie in ``[-1, 1]``; exactly ``+-1`` only where ``|c| / tau`` is so large (about
    38) that ``tanh`` rounds to one.
    """
    return _tanh_half(c, temperature)
