"""Step 3 of the refactoring and its relaxation: comparisons -> binary variables.

The hard binary variable of a comparison ``c`` is ``b = sign(c)``; its relaxation is

    b~ = 2 * sigmoid(c / tau) - 1 = tanh(c / (2 tau)),   in (-1, 1),

with temperature ``tau > 0`` (the paper uses ``tau = 1``). As ``tau -> 0``, ``b~ -> sign(c)``.

Ties: a comparison ``c == 0`` means the desired order was *not* achieved, so its hard
binary is ``-1``. Every metric in :mod:`uniloss_ref.metrics` uses the same rule, which is
why ``metric.from_binary(hard_binary(c))`` equals ``metric.evaluate`` even on tied scores.
"""

from __future__ import annotations

from typing import Any

import numpy as onp
from autograd.extend import defjvp, defvjp, primitive
from autograd.tracer import getval

from ._validation import positive_float


def hard_binary(c: Any) -> onp.ndarray:
    """Hard binary variables ``b = sign(c)`` with ties counted as ``-1``.

    Parameters
    ----------
    c : ndarray of shape (l,)
        Comparisons ``c = s[i] - s[j]`` (an autograd box is unwrapped: ``sign`` has no
        useful gradient).

    Returns
    -------
    ndarray of shape (l,)
        Entries in ``{-1.0, +1.0}``: ``+1`` exactly where ``c > 0``.
    """
    c = getval(c)
    return onp.where(c > 0, 1.0, -1.0)


@primitive
def _tanh_half(c, temperature):
    return onp.tanh(c / (2.0 * temperature))


# autograd's own rule for tanh divides by cosh(x)**2, which overflows (and warns) once
# |x| > 355, i.e. |c| / tau > 710 (scores of 1e6 reach it). Written through the output,
# 1 - b~**2, the derivative is exact and cannot overflow.
defvjp(_tanh_half, lambda ans, c, temperature: lambda g: g * (1.0 - ans**2) / (2.0 * temperature))
defjvp(_tanh_half, lambda g, ans, c, temperature: g * (1.0 - ans**2) / (2.0 * temperature))


def relaxed_binary(c: Any, temperature: float = 1.0) -> Any:
    """Relaxed binary variables ``b~ = tanh(c / (2 tau))``, differentiable in ``c``.

    Parameters
    ----------
    c : ndarray of shape (l,)
        Comparisons.
    temperature : float, default 1.0
        ``tau > 0``; smaller values give a sharper (closer to ``sign``) relaxation.

    Returns
    -------
    ndarray of shape (l,)
        Entries in ``[-1, 1]``; exactly ``+-1`` only where ``|c| / tau`` is so large that
        ``tanh`` rounds to one (about ``|c| / tau > 38``).
    """
    temperature = positive_float(temperature, "temperature")
    return _tanh_half(c, temperature)
