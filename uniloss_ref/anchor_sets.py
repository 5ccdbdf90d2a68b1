"""A set of anchors ``a_1..a_K``: their squared distances ``d_k^2 = ||b~ - a_k||^2`` to the
relaxed binaries, and their values ``v_k = h(a_k)``, both asked by the interpolation.

:class:`DenseAnchors` writes every anchor out as a row of a ``(K, l)`` matrix (anchors given
by hand; :mod:`uniloss_ref.plain` states the method this way). :class:`Anchors` keeps each as
drawn (:mod:`uniloss_ref.anchors`): a *base* configuration (the truth, ``sign(c)`` or a random
one) and the few positions flipped from it. With ``B`` distinct bases among ``K`` anchors its
distances cost ``B`` passes over ``b~`` instead of ``K``, and its values come from counts.

Every ``a_km`` is ``+-1``, so ``d_k^2`` sums ``(1 - b~_m)^2`` where ``a_km = +1`` and ``(1 +
b~_m)^2`` where it is ``-1``: non-negative terms, exactly zero on an anchor. Flipping positions
``F`` of a base ``a`` adds ``sum_{m in F} 4 a_m b~_m`` (as ``(b~ + a)^2 - (b~ - a)^2 = 4 a
b~``), which cancels next to the anchor: those anchors are summed again term by term. The
sums are linear in ``b~``, autograd primitives whose vector-Jacobian products are their
transposes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive
from autograd.tracer import getval

from ._arrays import array_module, like, to_numpy
from .metrics.refactoring import Refactoring, lost_per_column, lost_per_row

# ---------------------------------------------------------------------------------------
# Linear maps over 0/1 masks and over flipped positions, each with its transpose
# ---------------------------------------------------------------------------------------

_BLOCK = 2**20  # mask entries converted to floats at a time (8 MB): large masks stay bool
Masks = Any  # boolean masks (R, l), or the float pair (masks, 1 - masks) of _masks()


def _masks(plus: np.ndarray, b: Any) -> Masks:
    """Masks on the device of ``b``: converted to floats once when they fit in 4 blocks."""
    plus = like(plus, b)
    return (plus.astype(float), 1.0 - plus) if plus.size <= 4 * _BLOCK else plus


def _blocks(masks: Masks, complement: bool) -> Iterator[tuple[slice, Any]]:
    """``(columns, m)`` over column blocks, ``m`` the masks (or ``1 - masks``) as floats."""
    if isinstance(masks, tuple):
        yield slice(None), masks[complement]
        return
    step = max(1, _BLOCK // max(len(masks), 1))
    for start in range(0, masks.shape[1], step):
        m = masks[:, start : start + step].astype(float)
        yield slice(start, start + step), 1.0 - m if complement else m


def _shape(masks: Masks) -> tuple[int, int]:
    return (masks[0] if isinstance(masks, tuple) else masks).shape


@primitive
def masked_sums(x: Any, masks: Masks, complement: bool = False) -> Any:
    """``y_r = sum_m m_rm x_m`` with ``m`` the masks (or ``1 - masks``): ``(l,) -> (R,)``."""
    y = array_module(x).zeros(_shape(masks)[0])
    for columns, m in _blocks(masks, complement):
        y += m @ x[columns]
    return y


@primitive
def masked_spread(y: Any, masks: Masks, complement: bool = False) -> Any:
    """The transpose of :func:`masked_sums`: ``x_m = sum_r y_r m_rm``, ``(R,) -> (l,)``."""
    x = array_module(y).zeros(_shape(masks)[1])
    for columns, m in _blocks(masks, complement):
        x[columns] = y @ m
    return x


@primitive
def mask_distances(b: Any, masks: Masks) -> Any:
    """``D_r = ||b~ - a_r||^2`` for the configurations whose ``+1`` entries are the masks.

    ``sum_m m_rm (1 - b~_m)^2 + (1 - m_rm) (1 + b~_m)^2``, shape ``(R,)``.
    """
    plus, minus = (1.0 - b) ** 2, (1.0 + b) ** 2
    if isinstance(masks, tuple):
        return masks[0] @ plus + masks[1] @ minus
    d2 = array_module(b).zeros(len(masks))
    for columns, m in _blocks(masks, False):  # one conversion of each block for both sums
        d2 += m @ plus[columns] + (1.0 - m) @ minus[columns]
    return d2


@primitive
def flip_sums(b: Any, flips: Any, signs: Any, anchor: Any, count: int) -> Any:
    """``y_k = sum_{f : anchor_f = k} signs_f b_{flips_f}``: ``(l,) -> (K,)``."""
    return array_module(b).bincount(anchor, weights=signs * b[flips], minlength=count)


@primitive
def flip_spread(y: Any, flips: Any, signs: Any, anchor: Any, length: int) -> Any:
    """The transpose of :func:`flip_sums`: ``x_m = sum_{f : flips_f = m} signs_f y_{anchor_f}``."""
    return array_module(y).bincount(flips, weights=signs * y[anchor], minlength=length)


# A linear map's vector-Jacobian product is its transpose and its Jacobian-vector product
# the map itself, so gradients of every order follow.
defvjp(masked_sums, lambda ans, x, *rest: lambda g: masked_spread(g, *rest))
defvjp(masked_spread, lambda ans, y, *rest: lambda g: masked_sums(g, *rest))
defvjp(flip_sums, lambda ans, b, *rest: lambda g: flip_spread(g, *rest[:-1], len(getval(b))))
defvjp(flip_spread, lambda ans, y, *rest: lambda g: flip_sums(g, *rest[:-1], len(getval(y))))
for _map in (masked_sums, masked_spread, flip_sums, flip_spread):
    defjvp(_map, lambda g, ans, x, *rest, _map=_map: _map(g, *rest))
# d D_r / d b~_m = -2 (1 - b~_m) where m_rm = 1, 2 (1 + b~_m) where m_rm = 0.
defvjp(
    mask_distances,
    lambda ans, b, masks: lambda g: (
        2.0 * (1.0 + b) * masked_spread(g, masks, True) - 2.0 * (1.0 - b) * masked_spread(g, masks)
    ),
)
defjvp(
    mask_distances,
    lambda g, ans, b, masks: (
        masked_sums(2.0 * (1.0 + b) * g, masks, True) - masked_sums(2.0 * (1.0 - b) * g, masks)
    ),
)


# ---------------------------------------------------------------------------------------
# The two representations
# ---------------------------------------------------------------------------------------


class AnchorSet:
    """``K`` anchors ``a_k`` in ``{-1, +1}^l``, each of a kind (``kinds``, shape ``(K,)``)."""

    kinds: np.ndarray

    def __len__(self) -> int:
        return len(self.kinds)

    @property
    def configurations(self) -> np.ndarray:
        """Every anchor written out as ``+-1.0``, shape ``(K, l)``."""
        return np.where(self.written_out(), 1.0, -1.0)

    def written_out(self, k: Any = slice(None)) -> np.ndarray:
        """Anchors ``k`` (a slice or a mask) as booleans ``(K, l)``, True where ``+1``."""
        raise NotImplementedError

    @staticmethod
    def _finite(values: Any, count: int) -> np.ndarray:
        """What ``h`` returned, checked (``h`` may be a user's metric)."""
        values = np.asarray(values, dtype=float).reshape(-1)
        if values.shape != (count,) or not np.isfinite(values).all():
            raise ValueError(f"h must return {count} finite values, one per anchor: {values[:5]}")
        return values


@dataclass(frozen=True, eq=False)
class DenseAnchors(AnchorSet):
    """Anchors written out: ``plus`` of shape ``(K, l)``, True where ``a_km = +1``."""

    plus: np.ndarray
    kinds: np.ndarray

    @property
    def length(self) -> int:
        """``l``, the number of comparisons."""
        return self.plus.shape[1]

    def written_out(self, k: Any = slice(None)) -> np.ndarray:
        return self.plus[k]

    def squared_distances(self, b: Any) -> Any:
        """``d_k^2 = ||b~ - a_k||^2`` of shape ``(K,)``, differentiable in ``b~``."""
        return mask_distances(b, _masks(self.plus, b))

    def values(self, refactoring: Refactoring) -> np.ndarray:
        """``v_k = h(a_k)`` of shape ``(K,)``."""
        return self._finite(refactoring.h(self.plus), len(self))


@dataclass(frozen=True, eq=False)
class Anchors(AnchorSet):
    """Anchors as drawn: each a base configuration with some positions flipped.

    Attributes
    ----------
    bases : ndarray of shape (B, l), bool
        The base configurations, True where ``+1``.
    base_of : ndarray of shape (K,), int
        Each anchor's base.
    flips, flip_anchor : ndarray of shape (F,), int
        Anchor ``flip_anchor[f]`` differs from its base at position ``flips[f]`` (an anchor
        flips a position at most once).
    kinds : ndarray of shape (K,), str
        Each anchor's kind, one of :data:`uniloss_ref.anchors.KINDS`.
    """

    bases: np.ndarray
    base_of: np.ndarray
    flips: np.ndarray
    flip_anchor: np.ndarray
    kinds: np.ndarray

    @property
    def length(self) -> int:
        """``l``, the number of comparisons."""
        return self.bases.shape[1]

    def written_out(self, k: Any = slice(None)) -> np.ndarray:
        k = np.arange(len(self))[k]
        plus = self.bases[self.base_of[k]]
        mine = np.isin(self.flip_anchor, k)
        plus[np.searchsorted(k, self.flip_anchor[mine]), self.flips[mine]] ^= True
        return plus

    def squared_distances(self, b: Any) -> Any:
        """``d_k^2 = ||b~ - a_k||^2`` of shape ``(K,)``, accurate to rounding, differentiable.

        ``D_base`` for every base, then ``4 a_m b~_m`` for every flip; an anchor whose
        ``d_k^2`` is under ``1e-3`` of the terms that formed it is summed term by term.
        """
        per_base = mask_distances(b, _masks(self.bases, b))
        d2 = per_base[like(self.base_of, b)]
        if self.flips.size == 0:
            return d2
        four_a = np.where(self.bases[self.base_of[self.flip_anchor], self.flips], 4.0, -4.0)
        on_device = (like(x, b) for x in (self.flips, four_a, self.flip_anchor))
        d2 = d2 + flip_sums(b, *on_device, len(self))
        flipped = np.bincount(self.flip_anchor, minlength=len(self))
        size = to_numpy(per_base)[self.base_of] + 4.0 * flipped
        near = (flipped > 0) & (to_numpy(d2) < 1e-3 * size)
        if not near.any():
            return d2
        exact = mask_distances(b, _masks(self.written_out(near), b))
        slot = np.maximum(np.cumsum(near) - 1, 0)  # anchor k's row in `exact`
        return anp.where(like(near, b), exact[like(slot, b)], d2)

    def values(self, refactoring: Refactoring) -> np.ndarray:
        """``v_k = h(a_k)`` of shape ``(K,)``: from per-row counts when the refactoring has
        ``h_rows`` (no anchor written out), else from ``h`` a few anchors at a time."""
        if refactoring.h_rows is not None:
            return self._finite(refactoring.h_rows(*self.lost_counts(refactoring)), len(self))
        step = max(1, 2**21 // max(self.length, 1))  # a few MB of anchors at a time
        chunks = (self.written_out(slice(k, k + step)) for k in range(0, len(self), step))
        values = np.concatenate([np.reshape(refactoring.h(a), -1) for a in chunks])
        return self._finite(values, len(self))

    def lost_counts(self, refactoring: Refactoring) -> tuple[np.ndarray, ...]:
        """What ``refactoring.h_rows`` takes, for every anchor: the comparisons each row
        loses ``(K, R)`` (and each column, ``(K, row_length)``), from the bases' counts and
        the flips."""
        change = np.where(self.bases[self.base_of[self.flip_anchor], self.flips], 1, -1)
        rows = lost_per_row(self.bases, refactoring.row_starts)[self.base_of]
        row = np.searchsorted(refactoring.row_starts, self.flips, side="right") - 1
        np.add.at(rows, (self.flip_anchor, row), change)
        if refactoring.row_length is None:
            return (rows,)
        columns = lost_per_column(self.bases, refactoring.row_length)[self.base_of]
        np.add.at(columns, (self.flip_anchor, self.flips % max(refactoring.row_length, 1)), change)
        return rows, columns


def anchor_set(anchors: AnchorSet | Any, length: int) -> AnchorSet:
    """``anchors`` (``Anchors``, ``DenseAnchors`` or ``(K, l)`` of ``+-1`` or booleans) as
    an anchor set of ``K >= 1`` anchors of ``l = length``; TypeError or ValueError if not."""
    if isinstance(anchors, AnchorSet):
        given = anchors
    else:
        a = to_numpy(anchors)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"anchors must be a numeric array of -1/+1 entries, got {a.dtype}")
        if a.ndim != 2 or a.shape[1] != length or len(a) == 0:
            raise ValueError(f"anchors must have shape (K, {length}) with K >= 1, got {a.shape}")
        if a.dtype.kind != "b" and not ((a == 1) | (a == -1)).all():
            raise ValueError("anchors must contain only -1 and +1 entries")
        given = DenseAnchors(a > 0, np.full(len(a), "given"))
    if given.length != length or len(given) == 0:
        raise ValueError(f"anchors must be K >= 1 of l = {length} comparisons, got {given!r:.80}")
    return given
