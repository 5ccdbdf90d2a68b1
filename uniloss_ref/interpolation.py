"""Step 4 relaxed: interpolating the metric ``h`` from its values at the anchors.

Given relaxed binaries ``b~``, anchors ``a_1..a_K`` in ``{-1, +1}^l`` and their values
``v_k = h(a_k)``, inverse distance weighting (IDW) with power ``p`` gives

    d_k = || b~ - a_k ||_2,     w_k = d_k ** (-p),     h~(b~) = sum_k w_k v_k / sum_k w_k.

Exactly, not up to an epsilon: ``h~`` is exact at anchors (where some ``d_k`` is zero the
first such anchor takes all the weight, and ``h~`` is its value bit for bit; equal anchors
have equal values); ``h~`` is a convex combination of the ``v_k``; and nothing overflows,
since the weights are taken relative to the nearest anchor's (a factor that cancels in the
ratio and is held constant for the gradient), each in ``(0, 1]``. The distances
come from the anchor set (:mod:`uniloss_ref.anchor_sets`), accurate even next to an anchor.
"""

from __future__ import annotations

from typing import Any

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from ._arrays import like, to_numpy
from .anchor_sets import AnchorSet, anchor_set


def squared_distances(b: Any, anchors: AnchorSet | Any) -> Any:
    """``d_k^2 = ||b~ - a_k||^2`` of shape ``(K,)`` for ``b~`` of shape ``(l,)``."""
    return anchor_set(anchors, onp.shape(getval(b))[0]).squared_distances(b)


def weights(d2: Any, power: float) -> Any:
    """The IDW weights ``w_k``, up to a common factor, from squared distances ``(K,)``.

    Off the anchors ``w_k = (min_j d_j^2 / d_k^2)^(p/2)``: the log-domain weights
    ``exp(-(p/2) log d_k^2)`` less their maximum, without the logs, each in ``(0, 1]``. On an
    anchor (some ``d_k^2 == 0``) the first such anchor has weight 1 and the others 0; adding
    ``0 d^2`` keeps the weights a function of ``b~``, with an honest zero gradient.
    """
    hit = to_numpy(d2) == 0
    if hit.any():
        return like(onp.arange(len(hit)) == hit.argmax(), getval(d2)) + 0.0 * d2
    return (np.min(getval(d2)) / d2) ** (0.5 * power)


def idw(d2: Any, values: Any, power: float) -> Any:
    """``h~ = sum_k w_k v_k / sum_k w_k`` from squared distances ``d2`` and values ``(K,)``.

    One summation order above and below, so ``h~`` is exactly 1 when every ``v_k`` is.
    """
    w = weights(d2, power)
    return np.sum(w * values) / np.sum(w)


def interpolate(b: Any, anchors: AnchorSet | Any, values: Any, power: float = 1.0) -> Any:
    """The IDW interpolant ``h~(b~)`` of relaxed binaries ``b~ (l,)`` (differentiable),
    anchors ``a_k`` (an anchor set or ``(K, l)`` of ``+-1``, ``K >= 1``), their finite values
    ``v_k (K,)`` and the power ``p > 0``: in ``[min v, max v]``, and ``v_k`` bit for bit where
    ``b~ = a_k``."""
    return idw(squared_distances(b, anchors), like(to_numpy(values), getval(b)), power)
