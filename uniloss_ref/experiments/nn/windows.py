"""Sliding windows over the two spatial axes of an NCHW batch, as an autograd primitive.

Convolution and pooling are both "cut the image into (possibly overlapping) windows, then
reduce each window". NumPy's ``sliding_window_view`` cuts the windows without copying, but
applied to an autograd box it falls back to an object array of boxes, one per element, which
makes the gradient of a tiny 2x3x7x7 convolution a thousand times slower than its forward
pass. So windowing is a primitive here, with its own vector-Jacobian product.

Windowing is linear in the image, and so is its adjoint (scatter-add every window back to the
pixels it came from). Each is registered as the other's VJP and each is its own JVP, which
makes both differentiable to any order in both modes. Both are built from ``kh * kw`` strided
slices of the whole batch: vectorised however large the image, and using nothing but slicing,
``pad``, ``empty_like`` and ``zeros_like``, which array libraries other than NumPy also provide.
"""

from __future__ import annotations

import numpy as np
from autograd.extend import defjvp, defvjp, primitive

__all__ = ["sliding_windows"]


def _pair(value: int | tuple[int, int], name: str, minimum: int) -> tuple[int, int]:
    """Normalise an int or a pair of ints to a pair, rejecting anything else by name."""
    pair = (value, value) if not isinstance(value, tuple | list) else tuple(value)
    if len(pair) != 2 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in pair
    ):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum} in both dimensions, got {value!r}")
    return int(pair[0]), int(pair[1])


def sliding_windows(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """Every ``kh x kw`` window of a zero-padded NCHW batch, differentiably.

    Parameters
    ----------
    x : ndarray of shape (n, c, h, w)
        Images. May be an autograd box.
    kernel_size : int or (int, int)
        Window height and width ``(kh, kw)``, each >= 1.
    stride : int or (int, int), default 1
        Step between window origins ``(sh, sw)``, each >= 1.
    padding : int or (int, int), default 0
        Zeros added on both sides of the height and width axes ``(ph, pw)``, each >= 0.

    Returns
    -------
    ndarray of shape (c, kh, kw, n, oh, ow)
        ``out[k, u, v, i, r, q] = x_padded[i, k, r*sh + u, q*sw + v]``, with
        ``oh = (h + 2*ph - kh) // sh + 1`` and ``ow = (w + 2*pw - kw) // sw + 1``. A new
        C-contiguous array.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If ``x`` is not 4-D or a window does not fit into the padded image.

    Notes
    -----
    The layout puts what a kernel sums over (channel and offset) first and what it slides over
    last: reshaped to ``(c*kh*kw, n*oh*ow)`` this is the "im2col" matrix, so a convolution is
    one matrix product with no further copy, and pooling reduces over axes (1, 2).
    """
    if not hasattr(x, "shape"):
        raise TypeError(f"x must be an array of shape (n, c, h, w), got {type(x).__name__}")
    if np.ndim(x) != 4:
        raise ValueError(f"x must have shape (n, c, h, w), got shape {np.shape(x)}")
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    sh, sw = _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    h, w = np.shape(x)[2:]
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(
            f"kernel_size {(kh, kw)} does not fit into the padded image of size "
            f"{(h + 2 * ph, w + 2 * pw)} (x has spatial size {(h, w)}, padding {(ph, pw)})"
        )
    return _windows(x, kh, kw, sh, sw, ph, pw)


def _taps(offset: int, step: int, count: int) -> slice:
    """The ``count`` positions ``offset, offset + step, ...`` that one kernel tap visits."""
    return slice(offset, offset + step * (count - 1) + 1, step)


@primitive
def _windows(x, kh, kw, sh, sw, ph, pw):
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, hp, wp = x.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    channels_first = x.transpose(1, 0, 2, 3)
    out = np.empty_like(x, shape=(c, kh, kw, n, oh, ow))
    # One strided copy per kernel offset (kh*kw vectorised copies); a loop over pixels would be
    # as slow as the object-array fallback this module exists to avoid.
    for u in range(kh):
        for v in range(kw):
            out[:, u, v] = channels_first[:, :, _taps(u, sh, oh), _taps(v, sw, ow)]
    return out


@primitive
def _windows_adjoint(g, h, w, kh, kw, sh, sw, ph, pw):
    """Scatter-add windows ``g`` of shape (c, kh, kw, n, oh, ow) back onto an (n, c, h, w) image."""
    c, _, _, n, oh, ow = g.shape
    out = np.zeros_like(g, shape=(c, n, h + 2 * ph, w + 2 * pw))
    for u in range(kh):
        for v in range(kw):
            out[:, :, _taps(u, sh, oh), _taps(v, sw, ow)] += g[:, u, v]
    return out[:, :, ph : ph + h, pw : pw + w].transpose(1, 0, 2, 3)


defvjp(
    _windows,
    lambda ans, x, kh, kw, sh, sw, ph, pw: (
        lambda g: _windows_adjoint(g, x.shape[2], x.shape[3], kh, kw, sh, sw, ph, pw)
    ),
)
defjvp(_windows, lambda g, ans, x, *geometry: _windows(g, *geometry))
defvjp(
    _windows_adjoint,
    lambda ans, g, h, w, *geometry: lambda gg: _windows(gg, *geometry),
)
defjvp(
    _windows_adjoint, lambda gdot, ans, g, h, w, *geometry: _windows_adjoint(gdot, h, w, *geometry)
)
