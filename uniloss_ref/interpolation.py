"""Step 4 relaxed: interpolating the metric ``h`` from its values at the anchors.

Given relaxed binaries ``b~``, anchors ``a_1..a_K`` in ``{-1, +1}^l`` and their metric values
``v_k = h(a_k)``, inverse distance weighting (IDW) with power ``p`` gives

    d_k = || b~ - a_k ||_2,     w_k = d_k ** (-p),     h~(b~) = sum_k w_k v_k / sum_k w_k.

Three properties hold exactly, not up to an epsilon:

* exact at anchors: where some ``d_k`` is exactly zero, ``h~`` is that anchor's value;
* bounded: ``h~`` is a convex combination of the ``v_k``;
* finite: the weights are formed in the log domain relative to the nearest anchor, so no
  ``d ** (-p)`` is ever formed.

Distances without cancellation: every ``a_km`` is ``+-1``, so ``(b~_m - a_km)^2`` is
``e+_m = (1 - b~_m)^2`` where ``a_km = +1`` and ``e-_m = (1 + b~_m)^2`` where it is ``-1``, and
``d_k^2`` is a sum of non-negative terms, exactly zero on an anchor. For an anchor stored as a
base configuration ``a`` with positions ``F`` flipped (:class:`uniloss_ref.anchors.Anchors`),

    d_k^2 = D_base + sum_{m in F} 4 a_m b~_m,       as (b~ + a)^2 - (b~ - a)^2 = 4 a b~,

one pass over ``b~`` per base instead of one per anchor. That sum cancels when ``b~`` comes
close to the anchor, so anchors with ``d_k^2`` under ``1e-3`` of its terms' size are summed
again term by term.
"""

from __future__ import annotations

from typing import Any

import autograd.numpy as np
from autograd.extend import defjvp, defvjp, primitive
from autograd.tracer import getval

from ._arrays import array_module, like, to_numpy
from ._validation import positive_float
from .anchors import Anchors


def _as_floats(masks: Any, complement: bool) -> Any:
    """Column blocks of 0/1 ``masks`` (or ``1 - masks``) as floats, 8 MB at a time."""
    step = max(1, masks.shape[1] if masks.dtype != bool else 2**20 // max(len(masks), 1))
    for start in range(0, masks.shape[1], step):
        block = slice(start, start + step)
        m = masks[:, block].astype(float, copy=False)
        yield block, 1.0 - m if complement else m


@primitive
def masked_sums(x: Any, masks: Any, complement: bool = False) -> Any:
    """``y_r = sum_m masks_rm x_m`` for 0/1 ``masks (R, l)`` (or ``1 - masks``), linear in ``x``."""
    y = array_module(x).zeros(len(masks))
    for block, m in _as_floats(masks, complement):
        y += m @ x[block]
    return y


@primitive
def masked_spread(y: Any, masks: Any, complement: bool = False) -> Any:
    """The transpose of :func:`masked_sums`: ``x_m = sum_r y_r masks_rm``, shape ``(l,)``."""
    x = array_module(y).zeros(masks.shape[1])
    for block, m in _as_floats(masks, complement):
        x[block] = y @ m
    return x


@primitive
def segment_sums(x: Any, owner: Any, segments: int) -> Any:
    """``y_k = sum_{f : owner_f = k} x_f`` for ``k < segments``: ``(F,) -> (segments,)``."""
    return array_module(x).bincount(owner, weights=x, minlength=segments)


# Linear maps: each one's vector-Jacobian product is its transpose and its Jacobian-vector
# product itself, so gradients of every order follow.
def _linear(vjp: Any, jvp: Any) -> tuple[Any, Any]:
    return (
        lambda ans, x, masks, complement=False: lambda g: vjp(g, masks, complement),
        lambda g, ans, x, masks, complement=False: jvp(g, masks, complement),
    )


for _map, _transpose in ((masked_sums, masked_spread), (masked_spread, masked_sums)):
    _vjp, _jvp = _linear(_transpose, _map)
    defvjp(_map, _vjp)
    defjvp(_map, _jvp)
defvjp(segment_sums, lambda ans, x, owner, segments: lambda g: g[owner])
defjvp(segment_sums, lambda g, ans, x, owner, segments: segment_sums(g, owner, segments))


def squared_distances(b: Any, anchors: Anchors | Any) -> Any:
    """``d_k^2 = ||b~ - a_k||^2`` for every anchor, accurate to rounding: shape ``(K,)``.

    Parameters
    ----------
    b : ndarray of shape (l,)
        Relaxed binaries ``b~`` in ``[-1, 1]`` (differentiable).
    anchors : Anchors or ndarray of shape (K, l)
        The anchors ``a_k`` (constants).
    """
    length = np.shape(getval(b))[0]
    if not isinstance(anchors, Anchors):
        anchors = Anchors.from_configurations(anchors, length)
    if anchors.length != length:
        raise ValueError(f"anchors have l = {anchors.length}, the relaxed binaries {length}")
    k, base, flips, owner = len(anchors), anchors.base, anchors.flips, anchors.owner
    plus, minus = (1.0 - b) ** 2, (1.0 + b) ** 2
    bases = like(anchors.bases, b)
    if bases.size <= 2**22:  # small enough to convert once for the sums and their gradients
        bases = bases.astype(float)
    per_base = masked_sums(plus, bases) + masked_sums(minus, bases, complement=True)
    four_a = np.where(anchors.bases[base[owner], flips], 4.0, -4.0)  # 4 a_m at each flip
    corrections = segment_sums(b[like(flips, b)] * like(four_a, b), like(owner, b), k)
    d2 = per_base[like(base, b)] + corrections
    flipped = np.bincount(owner, minlength=k)
    near = (flipped > 0) & (to_numpy(d2) < 1e-3 * (to_numpy(per_base)[base] + 4.0 * flipped))
    if near.any():
        won = like(anchors.won(near), b)
        exact = masked_sums(plus, won) + masked_sums(minus, won, complement=True)
        slot = np.maximum(np.cumsum(near) - 1, 0)
        d2 = np.where(like(near, b), exact[like(slot, b)], d2)
    return d2


def weights(d2: Any, power: float = 1.0) -> Any:
    """Normalised IDW weights ``w_k / sum_j w_j`` from squared distances ``(K,)``.

    Where ``b~`` lies on anchors (``d_k = 0``), the weight is shared equally among them.
    Otherwise ``w_k / sum_j w_j = exp(-p/2 log d_k^2 - m) / sum_j exp(-p/2 log d_j^2 - m)``
    for any constant ``m``; the largest log-weight makes the nearest anchor's weight one, so
    nothing overflows, and holding it constant for the gradient is exact.
    """
    hit = to_numpy(d2) == 0
    if hit.any():
        return like(hit / hit.sum(), getval(d2)) + 0.0 * d2
    log_w = -0.5 * positive_float(power, "power") * np.log(d2)
    w = np.exp(log_w - np.max(getval(log_w)))
    return w / np.sum(w)


def interpolate(b: Any, anchors: Anchors | Any, values: Any, power: float = 1.0) -> Any:
    """The IDW interpolant ``h~(b~) = sum_k w_k v_k / sum_k w_k``.

    Parameters
    ----------
    b : ndarray of shape (l,)
        Relaxed binaries ``b~`` (differentiable).
    anchors : Anchors or ndarray of shape (K, l)
        The anchors ``a_k``, ``K >= 1``.
    values : ndarray of shape (K,)
        ``v_k = h(a_k)`` (constants, finite).
    power : float, default 1.0
        The IDW power ``p > 0``.

    Returns
    -------
    float or autograd box
        ``h~``, in ``[min v, max v]``, equal to ``v_k`` bit for bit where ``b~ = a_k``.
    """
    d2 = squared_distances(b, anchors)
    values = getval(values)
    if np.shape(values) != np.shape(getval(d2)) or not np.isfinite(to_numpy(values)).all():
        raise ValueError(f"values must be {len(getval(d2))} finite numbers, one per anchor")
    hit = to_numpy(d2) == 0
    if hit.any():
        # On an anchor h~ is its value (equal anchors have equal values). Adding zero times
        # b~ keeps h~ a function of b~, so its gradient is an honest zero.
        return like(values, getval(b))[int(hit.argmax())] + 0.0 * np.sum(b)
    return np.dot(weights(d2, power), like(values, getval(b)))
