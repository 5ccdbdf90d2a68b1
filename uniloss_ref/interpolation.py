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
import numpy as onp
from autograd.extend import defjvp, defvjp, primitive
from autograd.tracer import getval

from ._arrays import array_module, like, to_numpy
from ._validation import positive_float
from .anchors import Anchors


def _as_floats(masks: Any, complement: bool) -> Any:
    """Column blocks of 0/1 ``masks`` (or ``1 - masks``) as floats, 8 MB at a time.

    ``masks`` are booleans, or the pair ``(masks, 1 - masks)`` already as floats.
    """
    if isinstance(masks, tuple):
        yield slice(None), masks[1] if complement else masks[0]
        return
    step = max(1, 2**20 // max(len(masks), 1))
    for start in range(0, masks.shape[1], step):
        block = slice(start, start + step)
        m = masks[:, block].astype(float)
        yield block, 1.0 - m if complement else m


def _shape(masks: Any) -> tuple[int, int]:
    return masks[0].shape if isinstance(masks, tuple) else masks.shape


@primitive
def masked_sums(x: Any, masks: Any, complement: bool = False) -> Any:
    """``y_r = sum_m masks_rm x_m`` for 0/1 ``masks (R, l)`` (or ``1 - masks``), linear in ``x``."""
    y = array_module(x).zeros(_shape(masks)[0])
    for block, m in _as_floats(masks, complement):
        y += m @ x[block]
    return y


@primitive
def masked_spread(y: Any, masks: Any, complement: bool = False) -> Any:
    """The transpose of :func:`masked_sums`: ``x_m = sum_r y_r masks_rm``, shape ``(l,)``."""
    x = array_module(y).zeros(_shape(masks)[1])
    for block, m in _as_floats(masks, complement):
        x[block] = y @ m
    return x


@primitive
def flip_sums(b: Any, flips: Any, signs: Any, owner: Any, anchors: int) -> Any:
    """``y_k = sum_{f : owner_f = k} signs_f b_{flips_f}``: ``(l,) -> (K,)``, linear in ``b``."""
    return array_module(b).bincount(owner, weights=signs * b[flips], minlength=anchors)


@primitive
def flip_spread(y: Any, flips: Any, signs: Any, owner: Any, length: int) -> Any:
    """The transpose of :func:`flip_sums`: ``x_m = sum_{f : flips_f = m} signs_f y_{owner_f}``."""
    return array_module(y).bincount(flips, weights=signs * y[owner], minlength=length)


# Linear maps: the vector-Jacobian product of each is its transpose and the Jacobian-vector
# product is the map itself, so gradients of every order follow.
defvjp(masked_sums, lambda ans, x, *rest: lambda g: masked_spread(g, *rest))
defvjp(masked_spread, lambda ans, y, *rest: lambda g: masked_sums(g, *rest))
defvjp(flip_sums, lambda ans, b, *rest: lambda g: flip_spread(g, *rest[:-1], len(getval(b))))
defvjp(flip_spread, lambda ans, y, *rest: lambda g: flip_sums(g, *rest[:-1], len(getval(y))))
for _map in (masked_sums, masked_spread, flip_sums, flip_spread):
    defjvp(_map, lambda g, ans, x, *rest, _map=_map: _map(g, *rest))


@primitive
def base_distances(b: Any, bases: Any) -> Any:
    """``D_r = ||b~ - a_r||^2`` for 0/1 ``bases (R, l)`` read as ``a_r = +-1``: shape ``(R,)``."""
    plus, minus = (1.0 - b) ** 2, (1.0 + b) ** 2
    if isinstance(bases, tuple):
        return bases[0] @ plus + bases[1] @ minus
    d2 = array_module(b).zeros(len(bases))
    for block, m in _as_floats(bases, False):  # one conversion of each block for both sums
        d2 += m @ plus[block] + (1.0 - m) @ minus[block]
    return d2


# d D_r / d b~_m is -2 (1 - b~_m) where a_rm = +1 and 2 (1 + b~_m) where a_rm = -1.
defvjp(
    base_distances,
    lambda ans, b, bases: lambda g: (
        2.0 * (1.0 + b) * masked_spread(g, bases, True) - 2.0 * (1.0 - b) * masked_spread(g, bases)
    ),
)
defjvp(
    base_distances,
    lambda g, ans, b, bases: (
        masked_sums(2.0 * (1.0 + b) * g, bases, True) - masked_sums(2.0 * (1.0 - b) * g, bases)
    ),
)


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
    k, flips, owner = len(anchors), anchors.flips, anchors.owner
    bases = like(anchors.bases, b)
    if bases.size <= 2**22:  # small enough to convert once, for the sums and their gradients
        bases = (bases.astype(float), 1.0 - bases)
    per_base = base_distances(b, bases)
    d2 = per_base[like(anchors.base, b)]
    if flips.size == 0:
        return d2
    four_a = onp.where(anchors.bases[anchors.base[owner], flips], 4.0, -4.0)  # 4 a_m per flip
    d2 = d2 + flip_sums(b, *(like(x, b) for x in (flips, four_a, owner)), k)
    flipped = onp.bincount(owner, minlength=k)
    size = to_numpy(per_base)[anchors.base] + 4.0 * flipped
    near = (flipped > 0) & (to_numpy(d2) < 1e-3 * size)
    if near.any():
        exact = base_distances(b, like(anchors.won(near), b))
        slot = onp.maximum(onp.cumsum(near) - 1, 0)
        d2 = np.where(like(near, b), exact[like(slot, b)], d2)
    return d2


def weights(d2: Any, power: float = 1.0) -> Any:
    """Normalised IDW weights ``w_k / sum_j w_j`` from squared distances ``(K,)``.

    Where ``b~`` lies on anchors (``d_k = 0``), the weight is shared equally among them.
    Otherwise ``w_k / sum_j w_j = (m / d_k^2)^(p/2) / sum_j (m / d_j^2)^(p/2)`` for any
    constant ``m``: the nearest anchor's ``d^2`` as ``m`` keeps every term in ``(0, 1]``, so
    nothing overflows, and holding ``m`` constant for the gradient is exact.
    """
    hit = to_numpy(d2) == 0
    if hit.any():
        return like(hit / hit.sum(), getval(d2)) + 0.0 * d2
    w = (np.min(getval(d2)) / d2) ** (0.5 * positive_float(power, "power"))
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
    values = like(to_numpy(values), getval(b))
    if values.shape != getval(d2).shape or not onp.isfinite(to_numpy(values)).all():
        raise ValueError(f"values must be {len(getval(d2))} finite numbers, one per anchor")
    hit = to_numpy(d2) == 0
    if hit.any():
        # On an anchor h~ is its value (equal anchors have equal values). Adding zero times
        # b~ keeps h~ a function of b~, so its gradient is an honest zero.
        return values[int(hit.argmax())] + 0.0 * np.sum(b)
    w = (np.min(getval(d2)) / d2) ** (0.5 * positive_float(power, "power"))  # see weights()
    return np.sum(w * values) / np.sum(w)  # one summation order above and below: 1 if all v = 1
