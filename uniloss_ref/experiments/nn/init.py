"""Weight initialisation (He, Glorot) from an explicit random generator.

Weights follow the layer conventions of :mod:`uniloss_ref.experiments.nn.layers`: a dense weight
has shape
``(d_in, d_out)``, a convolution kernel ``(c_out, c_in, kh, kw)``. Randomness always comes from
the ``numpy.random.Generator`` passed in, never from NumPy's global state, so a seed fixes an
initialisation exactly.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "conv_params",
    "dense_params",
    "fan_in_fan_out",
    "glorot_uniform",
    "he_normal",
]


def _check_rng(rng: object) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )


def _positive_int(value: object, name: str) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    if not isinstance(shape, tuple | list) or len(shape) not in (2, 4):
        raise ValueError(
            f"shape must be (d_in, d_out) for a dense weight or (c_out, c_in, kh, kw) for a "
            f"convolution kernel, got {shape!r}"
        )
    return tuple(_positive_int(d, f"shape[{i}]") for i, d in enumerate(shape))


def fan_in_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """Number of inputs and outputs feeding each unit of a weight tensor.

    Parameters
    ----------
    shape : tuple of int
        ``(d_in, d_out)`` for a dense weight or ``(c_out, c_in, kh, kw)`` for a kernel.

    Returns
    -------
    fan_in, fan_out : int
        ``(d_in, d_out)`` for dense; ``(c_in*kh*kw, c_out*kh*kw)`` for a convolution.
    """
    shape = _check_shape(shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    c_out, c_in, kh, kw = shape
    return c_in * kh * kw, c_out * kh * kw


def he_normal(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype | type = np.float64
) -> np.ndarray:
    """He (Kaiming) normal initialisation, for weights followed by a ReLU.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    shape : tuple of int
        ``(d_in, d_out)`` or ``(c_out, c_in, kh, kw)``.
    dtype : numpy dtype, default float64

    Returns
    -------
    ndarray of the given shape

    Notes
    -----
    Draws from :math:`N(0, 2 / \\text{fan\\_in})`: a ReLU zeroes half of its input on average,
    and the factor 2 keeps the variance of activations constant from layer to layer
    (He et al., 2015).
    """
    _check_rng(rng)
    shape = _check_shape(shape)
    fan_in, _ = fan_in_fan_out(shape)
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(dtype, copy=False)


def glorot_uniform(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype | type = np.float64
) -> np.ndarray:
    """Glorot (Xavier) uniform initialisation, for weights not followed by a ReLU.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    shape : tuple of int
        ``(d_in, d_out)`` or ``(c_out, c_in, kh, kw)``.
    dtype : numpy dtype, default float64

    Returns
    -------
    ndarray of the given shape

    Notes
    -----
    Draws from :math:`U(-a, a)` with :math:`a = \\sqrt{6 / (\\text{fan\\_in} +
    \\text{fan\\_out})}`, the variance :math:`2 / (\\text{fan\\_in} + \\text{fan\\_out})` that
    balances forward and backward signal through a linear layer (Glorot & Bengio, 2010).
    """
    _check_rng(rng)
    shape = _check_shape(shape)
    fan_in, fan_out = fan_in_fan_out(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype, copy=False)


_INITIALISERS = {"he": he_normal, "glorot": glorot_uniform}


def _layer_params(rng, shape, n_out, init, dtype):
    if init not in _INITIALISERS:
        raise ValueError(f"init must be one of {sorted(_INITIALISERS)}, got {init!r}")
    return {"w": _INITIALISERS[init](rng, shape, dtype), "b": np.zeros(n_out, dtype=dtype)}


def dense_params(
    rng: np.random.Generator,
    d_in: int,
    d_out: int,
    init: str = "he",
    dtype: np.dtype | type = np.float64,
) -> dict[str, np.ndarray]:
    """Parameters of one :func:`~uniloss_ref.experiments.nn.layers.dense` layer.

    Parameters
    ----------
    rng : numpy.random.Generator
    d_in, d_out : int
        Input and output widths.
    init : {"he", "glorot"}, default "he"
        :func:`he_normal` for a layer followed by a ReLU, :func:`glorot_uniform` otherwise.
    dtype : numpy dtype, default float64

    Returns
    -------
    dict
        ``{"w": ndarray of shape (d_in, d_out), "b": zeros of shape (d_out,)}``.
    """
    d_in, d_out = _positive_int(d_in, "d_in"), _positive_int(d_out, "d_out")
    return _layer_params(rng, (d_in, d_out), d_out, init, dtype)


def conv_params(
    rng: np.random.Generator,
    c_in: int,
    c_out: int,
    kernel_size: int = 3,
    init: str = "he",
    dtype: np.dtype | type = np.float64,
) -> dict[str, np.ndarray]:
    """Parameters of one :func:`~uniloss_ref.experiments.nn.layers.conv2d` layer with a square
    kernel.

    Parameters
    ----------
    rng : numpy.random.Generator
    c_in, c_out : int
        Input and output channels.
    kernel_size : int, default 3
    init : {"he", "glorot"}, default "he"
    dtype : numpy dtype, default float64

    Returns
    -------
    dict
        ``{"w": ndarray of shape (c_out, c_in, k, k), "b": zeros of shape (c_out,)}``.
    """
    c_in, c_out = _positive_int(c_in, "c_in"), _positive_int(c_out, "c_out")
    k = _positive_int(kernel_size, "kernel_size")
    return _layer_params(rng, (c_out, c_in, k, k), c_out, init, dtype)
