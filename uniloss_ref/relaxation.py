"""Step 3 and its relaxation: comparisons -> binary variables.

The binary variable of a comparison ``c`` is ``b = sign(c)``, a tie ``c = 0`` counting as
``-1`` (the desired order was not achieved) in every metric of :mod:`uniloss_ref.metrics`.
Its relaxation, with temperature ``tau > 0`` (the paper's is 1), is

    b~ = 2 sigmoid(c / tau) - 1 = tanh(c / (2 tau)),   in (-1, 1),

which tends to ``sign(c)`` as ``tau -> 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as onp
from autograd.extend import defjvp, defvjp, primitive
from autograd.tracer import getval

from ._arrays import array_module
from ._validation import positive_float


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


def relaxed_binary(c: Any, temperature: float = 1.0) -> Any:
    """``b~ = tanh(c / (2 tau))`` of shape ``(l,)``, differentiable in ``c``.

    Entries lie in ``[-1, 1]``; exactly ``+-1`` only where ``|c| / tau`` is so large (about
    38) that ``tanh`` rounds to one.
    """
    return _tanh_half(c, positive_float(temperature, "temperature"))
