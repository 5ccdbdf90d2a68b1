"""Network layers as plain functions, differentiable with autograd.

A layer with weights takes its parameters first, as a dict ``{"w": ..., "b": ...}``, then the
input: ``dense(params, x)``, ``conv2d(params, x, stride, padding)``. Layers without weights take
the input only. Every function accepts autograd boxes, so ``autograd.grad`` of any composition
of them with respect to a parameter pytree just works. Images are NCHW.
"""

from __future__ import annotations

from collections.abc import Mapping

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive

from uniloss_ref.experiments.nn.windows import _pair, sliding_windows

__all__ = [
    "avg_pool2d",
    "conv2d",
    "dense",
    "flatten",
    "max_pool2d",
    "relu",
    "upsample_nearest",
]


def _weights(params: Mapping, layer: str, w_ndim: int) -> tuple:
    """Fetch and shape-check ``params["w"]`` (``w_ndim``-D) and ``params["b"]`` (1-D)."""
    # Duck-typed rather than isinstance(Mapping): under autograd.grad a dict arrives as a DictBox.
    try:
        w, b = params["w"], params["b"]
    except (KeyError, TypeError, IndexError):
        raise TypeError(
            f"params of {layer} must be a dict with keys 'w' and 'b', got {type(params).__name__}"
        ) from None
    expected = "(c_out, c_in, kh, kw)" if w_ndim == 4 else "(d_in, d_out)"
    if np.ndim(w) != w_ndim:
        raise ValueError(f"params['w'] of {layer} must have shape {expected}, got {np.shape(w)}")
    n_out = np.shape(w)[0] if w_ndim == 4 else np.shape(w)[1]
    if np.shape(b) != (n_out,):
        raise ValueError(
            f"params['b'] of {layer} must have shape ({n_out},) to match w of shape "
            f"{np.shape(w)}, got {np.shape(b)}"
        )
    return w, b


def _check_images(x) -> None:
    if np.ndim(x) != 4:
        raise ValueError(f"x must have shape (n, c, h, w), got shape {np.shape(x)}")


def dense(params: Mapping, x: np.ndarray) -> np.ndarray:
    """Affine layer ``x @ w + b``.

    Parameters
    ----------
    params : dict
        ``{"w": ndarray of shape (d_in, d_out), "b": ndarray of shape (d_out,)}``.
    x : ndarray of shape (n, d_in)

    Returns
    -------
    ndarray of shape (n, d_out)
    """
    w, b = _weights(params, "dense", 2)
    if np.ndim(x) != 2 or np.shape(x)[1] != np.shape(w)[0]:
        raise ValueError(f"x must have shape (n, {np.shape(w)[0]}), got shape {np.shape(x)}")
    return anp.dot(x, w) + b


def conv2d(
    params: Mapping,
    x: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """2-D cross-correlation (what deep-learning libraries call convolution), plus bias.

    Parameters
    ----------
    params : dict
        ``{"w": ndarray of shape (c_out, c_in, kh, kw), "b": ndarray of shape (c_out,)}``.
    x : ndarray of shape (n, c_in, h, w)
    stride : int or (int, int), default 1
    padding : int or (int, int), default 0
        Zeros added on both sides of each spatial axis; ``padding = k // 2`` with stride 1 and
        an odd kernel size ``k`` keeps the spatial size.

    Returns
    -------
    ndarray of shape (n, c_out, oh, ow)
        ``oh = (h + 2*ph - kh) // sh + 1``, ``ow = (w + 2*pw - kw) // sw + 1``.

    Notes
    -----
    .. math:: y_{i,o,r,q} = b_o + \\sum_{c,u,v} w_{o,c,u,v}\\, x_{i,c,r s_h + u, q s_w + v}

    computed as one tensor contraction of the kernel with the windows of
    :func:`~uniloss_ref.experiments.nn.windows.sliding_windows`, whose VJP keeps the gradient as
    fast as
    the forward pass.
    """
    w, b = _weights(params, "conv2d", 4)
    _check_images(x)
    if np.shape(x)[1] != np.shape(w)[1]:
        raise ValueError(
            f"x must have {np.shape(w)[1]} channels to match the kernel of shape {np.shape(w)}, "
            f"got x of shape {np.shape(x)}"
        )
    windows = sliding_windows(x, np.shape(w)[2:], stride, padding)
    out = anp.tensordot(w, windows, axes=([1, 2, 3], [0, 1, 2]))
    return anp.transpose(out, (1, 0, 2, 3)) + anp.reshape(b, (-1, 1, 1))


def _pool(reduce, x, kernel_size, stride):
    _check_images(x)
    windows = sliding_windows(x, kernel_size, kernel_size if stride is None else stride)
    return anp.transpose(reduce(windows, axis=(1, 2)), (1, 0, 2, 3))


def max_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int] = 2,
    stride: int | tuple[int, int] | None = None,
) -> np.ndarray:
    """Maximum over each window, without padding.

    Parameters
    ----------
    x : ndarray of shape (n, c, h, w)
    kernel_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to ``kernel_size`` (non-overlapping windows). Trailing rows and columns that
        do not fill a whole window are dropped.

    Returns
    -------
    ndarray of shape (n, c, oh, ow)

    Notes
    -----
    The gradient of each window's output goes to the input that holds the maximum. If several
    inputs of one window tie for the maximum, the gradient is split equally among them
    (autograd's rule for ``max``): a valid subgradient, and symmetric, unlike "first index
    wins". With overlapping windows an input collects the gradient of every window it wins.
    Non-overlapping windows (``stride == kernel_size``, the default) take a shorter path
    (:func:`_max_blocks`: elementwise maxima of strided slices, no copy of the windows) with
    the same values and gradients.
    """
    _check_images(x)
    if stride is None or _pair(stride, "stride", 1) == _pair(kernel_size, "kernel_size", 1):
        kh, kw = _pair(kernel_size, "kernel_size", 1)
        if kh <= np.shape(x)[2] and kw <= np.shape(x)[3]:
            return _max_blocks(x, kh, kw)
    return _pool(anp.max, x, kernel_size, stride)


def _corners(x, kh: int, kw: int) -> list:
    """The ``kh * kw`` strided views of ``x (n, c, h, w)`` that hold each block's entry
    ``(u, v)``, each of shape (n, c, h // kh, w // kw): a block's entries are one element of
    each (vectorised elementwise work instead of a reduction over tiny axes)."""
    oh, ow = x.shape[2] // kh, x.shape[3] // kw
    return [x[:, :, u : oh * kh : kh, v : ow * kw : kw] for u in range(kh) for v in range(kw)]


@primitive
def _max_blocks(x, kh: int, kw: int):
    """The maximum of every ``kh x kw`` block, shape (n, c, h // kh, w // kw)."""
    corners = _corners(x, kh, kw)
    out = corners[0].copy()
    for corner in corners[1:]:
        np.maximum(out, corner, out=out)
    return out


def _max_shares(ans, x, kh: int, kw: int) -> list:
    """Per corner (:func:`_corners`), its share of the block's maximum: 1 / (ties) where it
    holds the maximum, else 0."""
    won = [corner == ans for corner in _corners(x, kh, kw)]
    ties = sum(w.astype(x.dtype) for w in won)
    return [w / ties for w in won]


def _max_blocks_vjp(ans, x, kh, kw):
    shares = _max_shares(ans, x, kh, kw)

    def vjp(g):
        out = np.zeros_like(x)
        for corner, share in zip(_corners(out, kh, kw), shares, strict=True):
            np.multiply(share, g, out=corner)
        return out

    return vjp


defvjp(_max_blocks, _max_blocks_vjp)
defjvp(
    _max_blocks,
    lambda g, ans, x, kh, kw: sum(
        share * corner
        for share, corner in zip(_max_shares(ans, x, kh, kw), _corners(g, kh, kw), strict=True)
    ),
)


def avg_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int] = 2,
    stride: int | tuple[int, int] | None = None,
) -> np.ndarray:
    """Mean over each window, without padding.

    Parameters
    ----------
    x : ndarray of shape (n, c, h, w)
    kernel_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.

    Returns
    -------
    ndarray of shape (n, c, oh, ow)
    """
    return _pool(anp.mean, x, kernel_size, stride)


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit ``max(x, 0)``, elementwise.

    Parameters
    ----------
    x : ndarray of any shape

    Returns
    -------
    ndarray of the same shape

    Notes
    -----
    Written as ``x * (x > 0)`` so that the derivative at exactly 0 is 0, the usual convention;
    ``anp.maximum(x, 0)`` would give 1/2 there.
    """
    return x * (x > 0)


def flatten(x: np.ndarray) -> np.ndarray:
    """Collapse all axes but the first.

    Parameters
    ----------
    x : ndarray of shape (n, ...)

    Returns
    -------
    ndarray of shape (n, prod(...))
    """
    if np.ndim(x) < 1:
        raise ValueError(f"x must have a batch axis, got a scalar of shape {np.shape(x)}")
    return anp.reshape(x, (np.shape(x)[0], -1))


def upsample_nearest(x: np.ndarray, factor: int | tuple[int, int] = 2) -> np.ndarray:
    """Nearest-neighbour upsampling: repeat every pixel ``factor`` times along each axis.

    Parameters
    ----------
    x : ndarray of shape (n, c, h, w)
    factor : int or (int, int), default 2

    Returns
    -------
    ndarray of shape (n, c, h * fh, w * fw)
    """
    _check_images(x)
    fh, fw = _pair(factor, "factor", 1)
    return anp.repeat(anp.repeat(x, fh, axis=2), fw, axis=3)
