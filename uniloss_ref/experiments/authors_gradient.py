"""The authors' hand-written IDW gradient, its sign error, and the corrected formula.

With ``w_k = d_k ** (-p)``, ``W = sum_k w_k`` and ``h~ = sum_k w_k v_k / W``, the quotient rule
gives the gradient with respect to the relaxed binaries ``b~``

    grad h~ = (sum_k v_k grad w_k - h~ sum_k grad w_k) / W,
    grad w_k = -p * w_k * (b~ - a_k) / d_k^2.

The authors' MNIST and CIFAR scripts (public repository princeton-vl/uniloss) write the
normaliser term with a ``+``: their gradient is the true one plus ``2 h~ grad(log W)``. Their
pose code differentiates with autograd and is not affected.

In terms of the squared distances ``d_k^2`` the error is one sign: the true derivative is
``d h~ / d d_k^2 = (v_k - h~) / W * d w_k / d d_k^2``, theirs has ``v_k + h~``.
:class:`AuthorsUniLoss` is UniLoss with that derivative (:func:`idw_with_authors_gradient`):
the same value of ``h~``, their gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from .._arrays import array_module
from ..interpolation import idw, squared_distances, weights
from ..surrogate import UniLoss


def _gradient_terms(
    b: np.ndarray, anchors: np.ndarray, values: np.ndarray, power: float
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """``(sum_k v_k grad w_k / W, sum_k grad w_k / W, h~)``, or None on an anchor."""
    d2 = squared_distances(b, anchors)
    if (d2 == 0).any():
        return None
    w = weights(d2, power)  # relative to the largest: the ratios below are unchanged
    total = w.sum()
    dw = -power * (w / d2)[:, None] * (b[None, :] - anchors)  # (K, l): grad w_k / max w
    h = float(w @ values / total)
    return values @ dw / total, dw.sum(axis=0) / total, h


def authors_idw_gradient(
    b: np.ndarray, anchors: np.ndarray, values: np.ndarray, power: float = 1.0
) -> np.ndarray:
    """The authors' closed-form gradient of ``h~`` with respect to ``b~`` (sign error kept).

    Parameters
    ----------
    b : ndarray of shape (l,)
        Relaxed binaries ``b~``.
    anchors : ndarray of shape (K, l)
        Anchors ``a_k``, entries ``+-1``.
    values : ndarray of shape (K,)
        ``v_k = h(a_k)``.
    power : float, default 1.0
        IDW power ``p``.

    Returns
    -------
    ndarray of shape (l,)
        ``(sum_k v_k grad w_k + h~ sum_k grad w_k) / W``; zero where ``b~`` is an anchor.
    """
    terms = _gradient_terms(np.asarray(b), np.asarray(anchors), np.asarray(values), power)
    if terms is None:
        return np.zeros_like(b)
    weighted, normaliser, h = terms
    return weighted + h * normaliser


def corrected_idw_gradient(
    b: np.ndarray, anchors: np.ndarray, values: np.ndarray, power: float = 1.0
) -> np.ndarray:
    """The quotient rule done right: ``(sum_k v_k grad w_k - h~ sum_k grad w_k) / W``.

    Same parameters and shape as :func:`authors_idw_gradient`.
    """
    terms = _gradient_terms(np.asarray(b), np.asarray(anchors), np.asarray(values), power)
    if terms is None:
        return np.zeros_like(b)
    weighted, normaliser, h = terms
    return weighted - h * normaliser


@primitive
def idw_with_authors_gradient(d2: Any, values: Any, power: float) -> Any:
    """:func:`uniloss_ref.interpolation.idw`, back-propagating the authors' derivative."""
    return idw(d2, values, power)


def _authors_vjp(ans: Any, d2: Any, values: Any, power: float) -> Any:
    # w_k = d_k^-p up to a common factor: d w_k / d d_k^2 = -(p / 2) w_k / d_k^2.
    if bool((getval(d2) == 0).any()):  # on an anchor their gradient is zero, as is the true one
        return lambda g: 0.0 * d2
    w = weights(d2, power)
    return lambda g: g * (values + ans) / array_module(w).sum(w) * (-0.5 * power) * w / d2


defvjp(idw_with_authors_gradient, _authors_vjp)


class AuthorsUniLoss(UniLoss):
    """UniLoss trained with the authors' closed-form gradient: same ``h~``, their slope."""

    idw = staticmethod(idw_with_authors_gradient)


def interpolate_with_authors_gradient(
    b: Any, anchors: Any, values: Any, power: float = 1.0
) -> Any:
    """:func:`uniloss_ref.interpolation.interpolate`, back-propagating the authors' gradient."""
    return idw_with_authors_gradient(squared_distances(b, anchors), values, power)
