"""Small networks built from :mod:`uniloss_ref.experiments.nn.layers`.

Each factory returns a :class:`Model`, a pair of plain functions: ``init_params(rng)`` builds a
parameter pytree (nested dicts and lists of arrays) and ``apply(params, x)`` maps a batch to raw
scores (logits; no final sigmoid or softmax, since every loss here takes scores). The
architecture lives in the closure, the numbers in the pytree, so ``autograd.grad`` of a loss of
``apply(params, x)`` with respect to ``params`` has the same structure as ``params``.

Hidden layers followed by a ReLU are initialised with He's rule; the output layer, which is
linear, with Glorot's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np

from uniloss_ref.experiments.nn.init import _positive_int, conv_params, dense_params
from uniloss_ref.experiments.nn.layers import (
    conv2d,
    dense,
    flatten,
    max_pool2d,
    relu,
    upsample_nearest,
)

__all__ = ["Model", "heatmap_net", "mlp", "small_cnn"]

Params = Any


class Model(NamedTuple):
    """A network as two functions.

    Attributes
    ----------
    init_params : callable ``(rng: numpy.random.Generator) -> pytree``
    apply : callable ``(params: pytree, x: ndarray) -> ndarray``
    """

    init_params: Callable[[np.random.Generator], Params]
    apply: Callable[[Params, np.ndarray], np.ndarray]


def _positive_ints(values: Sequence[int], name: str, min_len: int) -> tuple[int, ...]:
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) < min_len:
        raise ValueError(f"{name} must be a sequence of at least {min_len} ints, got {values!r}")
    return tuple(_positive_int(v, f"{name}[{i}]") for i, v in enumerate(values))


def mlp(sizes: Sequence[int] = (784, 500, 300, 1), dtype: type = np.float64) -> Model:
    """Multi-layer perceptron: dense layers with ReLU between them.

    Parameters
    ----------
    sizes : sequence of int, default (784, 500, 300, 1)
        Layer widths from input to output; at least two. The default is the paper's MNIST
        network.
    dtype : numpy dtype, default float64
        Of the parameters.

    Returns
    -------
    Model
        ``init_params(rng)`` returns a list of ``{"w", "b"}`` dicts, one per layer.
        ``apply(params, x)`` takes ``x`` of shape (n, sizes[0]), or (n, ...) with
        ``prod(...) == sizes[0]`` (images are flattened), and returns shape (n, sizes[-1]).
    """
    sizes = _positive_ints(sizes, "sizes", 2)

    def init_params(rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
        last = len(sizes) - 2
        return [
            dense_params(rng, d_in, d_out, "glorot" if k == last else "he", dtype)
            for k, (d_in, d_out) in enumerate(pairwise(sizes))
        ]

    def apply(params: list[dict[str, np.ndarray]], x: np.ndarray) -> np.ndarray:
        if np.ndim(x) < 2 or int(np.prod(np.shape(x)[1:])) != sizes[0]:
            raise ValueError(
                f"x must have shape (n, {sizes[0]}) or (n, ...) with {sizes[0]} features per "
                f"sample, got shape {np.shape(x)}"
            )
        h = flatten(x)
        for layer in params[:-1]:
            h = relu(dense(layer, h))
        return dense(params[-1], h)

    return Model(init_params, apply)


def small_cnn(
    in_shape: tuple[int, int, int] = (1, 28, 28),
    channels: Sequence[int] = (8, 16),
    hidden: int | None = 64,
    n_classes: int = 10,
    dtype: type = np.float64,
) -> Model:
    """Small convolutional classifier: [3x3 conv, ReLU, 2x2 max pool] per stage, then dense.

    Parameters
    ----------
    in_shape : (int, int, int), default (1, 28, 28)
        ``(c, h, w)`` of one input image, e.g. (1, 28, 28) for MNIST or (1, 8, 8) for
        scikit-learn's digits.
    channels : sequence of int, default (8, 16)
        Output channels of each stage; every stage halves the spatial size (rounding down).
    hidden : int or None, default 64
        Width of a hidden dense layer before the output; None for none.
    n_classes : int, default 10
        Number of outputs (1 for a binary task).
    dtype : numpy dtype, default float64

    Returns
    -------
    Model
        ``init_params(rng)`` returns ``{"conv": [...], "dense": [...]}``, lists of
        ``{"w", "b"}`` dicts. ``apply(params, x)`` maps ``x`` of shape (n, c, h, w) to logits
        of shape (n, n_classes).
    """
    if not isinstance(in_shape, Sequence) or len(in_shape) != 3:
        raise ValueError(f"in_shape must be (c, h, w), got {in_shape!r}")
    c, h, w = _positive_ints(in_shape, "in_shape", 3)
    channels = _positive_ints(channels, "channels", 1)
    n_classes = _positive_int(n_classes, "n_classes")
    if hidden is not None:
        hidden = _positive_int(hidden, "hidden")
    out_h, out_w = h >> len(channels), w >> len(channels)
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"{len(channels)} pooling stages (len(channels)) shrink in_shape {in_shape!r} to "
            f"nothing; use at most {min(h, w).bit_length() - 1} stages"
        )
    widths = [channels[-1] * out_h * out_w] + ([hidden] if hidden else []) + [n_classes]

    def init_params(rng: np.random.Generator) -> dict[str, list[dict[str, np.ndarray]]]:
        convs = [
            conv_params(rng, c_in, c_out, 3, "he", dtype)
            for c_in, c_out in zip((c, *channels[:-1]), channels, strict=True)
        ]
        last = len(widths) - 2
        denses = [
            dense_params(rng, d_in, d_out, "glorot" if k == last else "he", dtype)
            for k, (d_in, d_out) in enumerate(pairwise(widths))
        ]
        return {"conv": convs, "dense": denses}

    def apply(params: dict[str, list[dict[str, np.ndarray]]], x: np.ndarray) -> np.ndarray:
        if np.ndim(x) != 4 or tuple(np.shape(x)[1:]) != (c, h, w):
            raise ValueError(f"x must have shape (n, {c}, {h}, {w}), got shape {np.shape(x)}")
        for layer in params["conv"]:
            x = max_pool2d(relu(conv2d(layer, x, padding=1)))
        x = flatten(x)
        for layer in params["dense"][:-1]:
            x = relu(dense(layer, x))
        return dense(params["dense"][-1], x)

    return Model(init_params, apply)


def heatmap_net(
    n_joints: int,
    in_channels: int = 1,
    channels: Sequence[int] = (16, 32, 32),
    dtype: type = np.float64,
) -> Model:
    """Small fully convolutional encoder-decoder that maps images to one heatmap per joint.

    Parameters
    ----------
    n_joints : int
        Number of keypoints J (output channels).
    in_channels : int, default 1
    channels : sequence of int, default (16, 32, 32)
        Channels at each resolution level, full resolution first. With L levels the input
        height and width must be divisible by ``2 ** (L - 1)``.
    dtype : numpy dtype, default float64

    Returns
    -------
    Model
        ``apply(params, x)`` maps images ``x`` of shape (n, in_channels, h, w) to heatmap
        scores of shape (n, n_joints, h, w).

    Notes
    -----
    A one-stack, one-conv-per-level cousin of the hourglass network. The encoder applies a
    3x3 conv + ReLU at each level and a 2x2 max pool between levels; the coarsest level gets
    a second conv to widen the receptive field (30 or 34 pixels square with the defaults,
    depending on a pixel's place on the pooling grid: about a whole 32x32 figure, which it
    needs to tell left from right). The decoder upsamples (nearest
    neighbour), applies a 3x3 conv back to the finer level's channels, adds that level's
    encoder features (a skip connection) and a ReLU. A 1x1 conv gives the J heatmaps.
    """
    n_joints = _positive_int(n_joints, "n_joints")
    in_channels = _positive_int(in_channels, "in_channels")
    channels = _positive_ints(channels, "channels", 1)
    multiple = 2 ** (len(channels) - 1)

    def init_params(rng: np.random.Generator) -> dict[str, Any]:
        widths = (in_channels, *channels)
        return {
            "down": [
                conv_params(rng, a, b, 3, "he", dtype)
                for a, b in zip(widths[:-1], channels, strict=True)
            ],
            "bottom": conv_params(rng, channels[-1], channels[-1], 3, "he", dtype),
            "up": [conv_params(rng, b, a, 3, "he", dtype) for a, b in pairwise(channels)],
            "head": conv_params(rng, channels[0], n_joints, 1, "glorot", dtype),
        }

    def apply(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
        shape = np.shape(x)
        if len(shape) != 4 or shape[1] != in_channels or shape[2] % multiple or shape[3] % multiple:
            raise ValueError(
                f"x must have shape (n, {in_channels}, h, w) with h and w divisible by "
                f"{multiple}, got shape {shape}"
            )
        skips = []
        for level, layer in enumerate(params["down"]):
            if level:
                x = max_pool2d(x)
            x = relu(conv2d(layer, x, padding=1))
            skips.append(x)
        x = relu(conv2d(params["bottom"], x, padding=1))
        for layer, skip in zip(reversed(params["up"]), reversed(skips[:-1]), strict=True):
            x = relu(conv2d(layer, upsample_nearest(x), padding=1) + skip)
        return conv2d(params["head"], x)

    return Model(init_params, apply)
