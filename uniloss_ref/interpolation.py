"""Step 4 relaxed: interpolating the metric ``h`` from its values at anchors.

Given relaxed binaries ``b~`` and anchor configurations ``a_1..a_K`` in ``{-1, +1}^l``
with metric values ``v_k = h(a_k)``, inverse distance weighting (IDW) with power ``p``
gives

    d_k = || b~ - a_k ||_2,     w_k = d_k ** (-p),     h~(b~) = sum_k w_k v_k / sum_k w_k.

Three properties hold here exactly, not "up to an epsilon":

* Exact at anchors. If some ``d_k`` is exactly zero, ``h~`` is the mean value of the
  anchors at distance zero (equal anchors have equal values, so this is ``v_k``).
* Bounded. ``h~`` is a convex combination of the ``v_k``.
* Finite. Weights are formed in the log domain and rescaled so the nearest anchor has
  weight one; no ``d ** (-p)`` is ever formed, so nothing overflows.

Distances are computed without cancellation: because every ``a_ki`` is ``+-1``,

    d_k^2 = sum_{i: a_ki = +1} (1 - b~_i)^2 + sum_{i: a_ki = -1} (1 + b~_i)^2,

a sum of non-negative terms (two matrix-vector products), so ``d_k^2`` is exactly zero at
an anchor and accurate to relative rounding everywhere else.
"""

from __future__ import annotations

from typing import Any

import autograd.numpy as np
from autograd.tracer import getval

from ._validation import positive_float


def squared_distances(b: Any, anchors: np.ndarray) -> Any:
    """Squared Euclidean distances ``d_k^2 = ||b~ - a_k||^2`` from ``b~`` to every anchor.

    Parameters
    ----------
    b : ndarray of shape (l,)
        Relaxed binaries ``b~`` in ``[-1, 1]`` (differentiable).
    anchors : ndarray of shape (K, l)
        Anchor configurations ``a_k`` with entries ``+-1`` (constants).

    Returns
    -------
    ndarray of shape (K,)
    """
    plus = (anchors > 0).astype(float)
    return np.dot(plus, (1.0 - b) ** 2) + np.dot(1.0 - plus, (1.0 + b) ** 2)


def idw_weights(b: Any, anchors: np.ndarray, power: float = 1.0) -> Any:
    """Normalised IDW weights ``w_k / sum_j w_j`` (differentiable in ``b``).

    Parameters
    ----------
    b : ndarray of shape (l,)
        Relaxed binaries ``b~``.
    anchors : ndarray of shape (K, l)
        Anchor configurations ``a_k``.
    power : float, default 1.0
        The IDW power ``p > 0``.

    Returns
    -------
    ndarray of shape (K,)
        Non-negative weights summing to one. Where ``b~`` lies exactly on anchors, the
        weight is shared equally among those anchors and is zero elsewhere.
    """
    d2 = squared_distances(b, anchors)
    hit = getval(d2) == 0
    if bool(hit.any()):
        return hit / hit.sum() + 0.0 * np.sum(b)
    return _weights(d2, positive_float(power, "power"))


def _weights(d2: Any, power: float) -> Any:
    """Normalised weights from squared distances, all of them positive.

    ``w_k / sum_j w_j = exp(-p/2 log d_k^2 - m) / sum_j exp(-p/2 log d_j^2 - m)`` for any
    constant ``m``. Taking ``m`` as the largest log-weight makes the nearest anchor's
    weight one, so nothing overflows; ``m`` is held constant for the gradient, which is
    exact because the normalised weights do not depend on ``m``.
    """
    log_w = -0.5 * power * np.log(d2)
    w = np.exp(log_w - getval(log_w).max())
    return w / np.sum(w)


def interpolate(b: Any, anchors: np.ndarray, values: Any, power: float = 1.0) -> Any:
    """The IDW interpolant ``h~(b~) = sum_k w_k v_k / sum_k w_k``.

    Parameters
    ----------
    b : ndarray of shape (l,)
        Relaxed binaries ``b~`` (differentiable).
    anchors : ndarray of shape (K, l)
        Anchor configurations ``a_k`` in ``{-1, +1}``, ``K >= 1``.
    values : ndarray of shape (K,)
        Metric values ``v_k = h(a_k)`` (constants).
    power : float, default 1.0
        The IDW power ``p > 0``.

    Returns
    -------
    float or autograd box
        ``h~``, which lies in ``[min v, max v]`` and equals ``v_k`` where ``b~ = a_k``.
    """
    anchors, values = _check_anchors(b, anchors, values)
    power = positive_float(power, "power")
    d2 = squared_distances(b, anchors)
    hit = getval(d2) == 0
    if bool(hit.any()):
        # On an anchor the interpolant is that anchor's value, bit for bit (equal anchors
        # have equal values, so the first will do). Adding zero times b~ keeps the result a
        # function of b~, so autograd returns a zero gradient instead of warning that the
        # output does not depend on the input.
        return values[int(hit.argmax())] + 0.0 * np.sum(b)
    return np.dot(_weights(d2, power), values)


def _check_anchors(b: Any, anchors: Any, values: Any) -> tuple[Any, Any]:
    # Anchors and values must already live where b~ does (see uniloss_ref.device); host
    # lists are accepted for convenience on the CPU.
    anchors, values = (a if hasattr(a, "shape") else np.asarray(a) for a in (anchors, values))
    values = getval(values)
    length = np.shape(getval(b))[0]
    if anchors.ndim != 2 or anchors.shape[1] != length:
        raise ValueError(
            f"anchors must have shape (K, {length}) to match the {length} relaxed binaries, "
            f"got {anchors.shape}"
        )
    if anchors.shape[0] == 0:
        raise ValueError("anchors must hold at least one configuration (K >= 1), got K = 0")
    if values.shape != (anchors.shape[0],):
        raise ValueError(
            f"values must have shape ({anchors.shape[0]},), one per anchor, got {values.shape}"
        )
    if not bool(np.isfinite(values).all()):
        raise ValueError("values (the metric at the anchors) must be finite")
    return anchors, values
