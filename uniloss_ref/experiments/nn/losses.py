"""The task-specific losses that UniLoss is compared against.

Binary classification (average precision): binary cross-entropy on logits, and the hinge loss.
Multi-class classification (accuracy): softmax cross-entropy. Keypoints (PCK): mean squared
error between predicted heatmaps and Gaussian target heatmaps, the usual pose-estimation loss.

Every loss takes raw scores (logits), returns the mean over the batch as a scalar, and is
differentiable with autograd with respect to the scores. Targets are constants.
"""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive

from ...device import as_array_like, to_numpy

__all__ = [
    "bce_with_logits",
    "gaussian_heatmaps",
    "heatmap_mse",
    "hinge_loss",
    "sigmoid",
    "softmax_cross_entropy",
]


@primitive
def sigmoid(z: Any) -> Any:
    """Logistic function without overflow: only ``exp`` of non-positive numbers is taken."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# sigma' = sigma (1 - sigma), written with the output so it stays differentiable (second
# derivatives of the losses) without the kink of |z| at 0.
defvjp(sigmoid, lambda ans, z: lambda g: g * ans * (1.0 - ans))
defjvp(sigmoid, lambda g, ans, z: g * ans * (1.0 - ans))


@primitive
def _softplus(z):
    """``log(1 + exp(z))``, exact for large ``|z|`` in both directions."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


# The pieces of the stable formula (maximum, abs) have kinks at 0 although softplus has none,
# so the derivative, the logistic function, is given directly.
defvjp(_softplus, lambda ans, z: lambda g: g * sigmoid(z))
defjvp(_softplus, lambda g, ans, z: g * sigmoid(z))


def _check_binary(logits, targets, name: str, soft: bool) -> np.ndarray:
    """Shape- and value-check the targets of a binary loss; return them as floats.

    Checks run on a host copy; the floats returned live where ``logits`` do.
    """
    targets = to_numpy(targets)
    if targets.shape != np.shape(logits):
        raise ValueError(
            f"targets must have the shape of logits {np.shape(logits)}, got {targets.shape}; "
            f"for a model with one output column pass logits.reshape(-1)"
        )
    if targets.dtype.kind not in "biuf":
        raise TypeError(f"targets of {name} must be numeric, got dtype {targets.dtype}")
    targets = targets.astype(np.float64)
    if soft:
        if not np.all((targets >= 0) & (targets <= 1)):
            raise ValueError(f"targets of {name} must lie in [0, 1]")
    elif not np.all((targets == 0) | (targets == 1)):
        raise ValueError(f"targets of {name} must be 0 or 1")
    if targets.size == 0:
        raise ValueError(
            f"{name} needs at least one sample, got logits of shape {np.shape(logits)}"
        )
    return as_array_like(targets, logits)


def bce_with_logits(logits: np.ndarray, targets: np.ndarray, pos_weight: float = 1.0) -> float:
    """Binary cross-entropy of the sigmoid of ``logits`` against ``targets``, batch mean.

    Parameters
    ----------
    logits : ndarray of shape (n,) (or any shape)
        Raw scores ``s``; ``sigmoid(s)`` is the predicted probability of class 1.
    targets : ndarray of the same shape
        Labels in {0, 1}, or soft labels in [0, 1].
    pos_weight : float, default 1
        ``w > 0``, the weight of the positive term (PyTorch's ``pos_weight``): above 1 it
        counts a missed positive more than a false alarm.

    Returns
    -------
    float
        :math:`\\frac{1}{n}\\sum_i -w y_i \\log\\sigma(s_i) - (1 - y_i)\\log(1 - \\sigma(s_i))`.

    Notes
    -----
    Computed as :math:`y\\,\\mathrm{softplus}(-s) + (1 - y)\\,\\mathrm{softplus}(s)` with
    :math:`\\mathrm{softplus}(s) = \\max(s, 0) + \\log(1 + e^{-|s|})`, which equals the above
    since :math:`-\\log\\sigma(s) = \\mathrm{softplus}(-s)`. Nothing overflows for any finite
    logit (``|s| = 1e6`` gives exactly 0 or ``1e6``), nothing cancels, and the gradient
    :math:`\\sigma(s) - y` is exact at ``s = 0``.
    """
    y = _check_binary(logits, targets, "bce_with_logits", soft=True)
    if not (isinstance(pos_weight, int | float) and np.isfinite(pos_weight) and pos_weight > 0):
        raise ValueError(f"pos_weight must be a finite number > 0, got {pos_weight!r}")
    return anp.mean(pos_weight * y * _softplus(-logits) + (1.0 - y) * _softplus(logits))


def hinge_loss(logits: np.ndarray, targets: np.ndarray) -> float:
    """Hinge loss for 0/1 targets, batch mean.

    Parameters
    ----------
    logits : ndarray of shape (n,) (or any shape)
        Raw scores ``s``; positive means class 1.
    targets : ndarray of the same shape
        Labels in {0, 1}.

    Returns
    -------
    float
        :math:`\\frac{1}{n}\\sum_i \\max(0, 1 - t_i s_i)` with :math:`t_i = 2 y_i - 1`.

    Notes
    -----
    The derivative at the hinge (``t s = 1``) is taken as 0.
    """
    y = _check_binary(logits, targets, "hinge_loss", soft=False)
    margin = 1.0 - (2.0 * y - 1.0) * logits
    return anp.mean(margin * (margin > 0))


def softmax_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Cross-entropy of the softmax of ``logits`` against integer class targets, batch mean.

    Parameters
    ----------
    logits : ndarray of shape (n, C)
        Raw class scores.
    targets : ndarray of shape (n,), integer
        Class indices in ``[0, C)``.

    Returns
    -------
    float
        :math:`\\frac{1}{n}\\sum_i \\big(\\log\\sum_j e^{s_{ij}} - s_{i t_i}\\big)`.

    Notes
    -----
    The log-sum-exp is taken after subtracting each row's maximum, so no exponential
    overflows; the maximum cancels exactly in the formula, hence also in its gradient
    :math:`\\mathrm{softmax}(s_i) - \\mathrm{onehot}(t_i)`.
    """
    if np.ndim(logits) != 2 or np.shape(logits)[0] == 0:
        raise ValueError(f"logits must have shape (n, C) with n >= 1, got {np.shape(logits)}")
    n, n_classes = np.shape(logits)
    targets = np.asarray(targets)
    if targets.shape != (n,):
        raise ValueError(f"targets must have shape ({n},) to match logits, got {targets.shape}")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"targets must hold integer class indices, got dtype {targets.dtype}")
    if targets.min() < 0 or targets.max() >= n_classes:
        raise ValueError(
            f"targets must lie in [0, {n_classes}) for {n_classes} classes, "
            f"got values in [{targets.min()}, {targets.max()}]"
        )
    shifted = logits - anp.max(logits, axis=1, keepdims=True)
    onehot = as_array_like((targets[:, None] == np.arange(n_classes)).astype(float), logits)
    log_normaliser = anp.log(anp.sum(anp.exp(shifted), axis=1))
    return anp.mean(log_normaliser - anp.sum(shifted * onehot, axis=1))


def _check_visible(visible, shape: tuple[int, ...]) -> np.ndarray:
    visible = to_numpy(visible)
    if visible.dtype != np.bool_:
        raise TypeError(f"visible must be a bool array, got dtype {visible.dtype}")
    if visible.shape != shape:
        raise ValueError(f"visible must have shape {shape}, got {visible.shape}")
    return visible


def gaussian_heatmaps(
    keypoints: np.ndarray,
    visible: np.ndarray,
    height: int,
    width: int,
    sigma: float = 1.0,
    dtype: type = np.float64,
) -> np.ndarray:
    """Target heatmaps: an unnormalised Gaussian centred on each visible keypoint.

    Parameters
    ----------
    keypoints : ndarray of shape (n, J, 2)
        ``(x, y)`` pixel coordinates: ``x`` is the column, ``y`` the row, and pixel centres
        sit at integer coordinates, so pixel ``[r, q]`` is the point ``(x, y) = (q, r)``.
        Sub-pixel and out-of-frame positions are allowed. Entries of invisible joints are
        ignored (they may be NaN).
    visible : ndarray of shape (n, J), bool
    height, width : int
        Heatmap size ``H x W``.
    sigma : float, default 1.0
        Standard deviation in pixels, > 0.
    dtype : numpy dtype, default float64

    Returns
    -------
    ndarray of shape (n, J, H, W)
        :math:`\\exp\\big(-((q - x)^2 + (r - y)^2) / (2\\sigma^2)\\big)` at pixel ``[r, q]``,
        equal to 1 at a keypoint on a pixel centre; all zeros for invisible joints. Not
        truncated.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[2] != 2:
        raise ValueError(f"keypoints must have shape (n, J, 2), got {keypoints.shape}")
    visible = _check_visible(visible, keypoints.shape[:2])
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not (isinstance(sigma, int | float | np.number) and np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    if not np.all(np.isfinite(keypoints[visible])):
        raise ValueError("keypoints of visible joints must be finite")
    # Placing invisible joints at the origin keeps NaNs out of the arithmetic; the mask below
    # zeroes their maps.
    x = np.where(visible, keypoints[..., 0], 0.0)[..., None]
    y = np.where(visible, keypoints[..., 1], 0.0)[..., None]
    # exp(-(dx^2 + dy^2) / 2s^2) = exp(-dx^2 / 2s^2) * exp(-dy^2 / 2s^2): two 1-D profiles.
    across = np.exp(-((np.arange(width) - x) ** 2) / (2.0 * sigma**2))
    down = np.exp(-((np.arange(height) - y) ** 2) / (2.0 * sigma**2))
    maps = down[..., :, None] * across[..., None, :] * visible[..., None, None]
    return maps.astype(dtype, copy=False)


def heatmap_mse(heatmaps: np.ndarray, targets: np.ndarray, visible: np.ndarray) -> float:
    """Mean squared error between predicted and target heatmaps over visible joints.

    Parameters
    ----------
    heatmaps : ndarray of shape (n, J, H, W)
        Predicted heatmap scores.
    targets : ndarray of shape (n, J, H, W)
        Target heatmaps, e.g. from :func:`gaussian_heatmaps`.
    visible : ndarray of shape (n, J), bool
        Joints whose maps count; an invisible joint contributes nothing, whatever its maps.

    Returns
    -------
    float
        :math:`\\frac{1}{V H W}\\sum_{i,j:\\,v_{ij}} \\sum_{r,q} (\\hat h_{ijrq} - h_{ijrq})^2`,
        with ``V`` the number of visible joints in the batch: the per-pixel squared error
        averaged over visible joints, so the scale does not depend on how many joints are
        hidden. 0 (with zero gradient) when no joint is visible.
    """
    if np.ndim(heatmaps) != 4:
        raise ValueError(f"heatmaps must have shape (n, J, H, W), got {np.shape(heatmaps)}")
    targets = to_numpy(targets)
    if targets.shape != np.shape(heatmaps):
        raise ValueError(
            f"targets must have the shape of heatmaps {np.shape(heatmaps)}, got {targets.shape}"
        )
    visible = _check_visible(visible, np.shape(heatmaps)[:2])
    height, width = np.shape(heatmaps)[2:]
    mask = visible[..., None, None]
    # Zeroing the targets of hidden joints first keeps a NaN placeholder there out of the sum
    # and out of the gradient, which the mask alone would not (0 * NaN = NaN).
    targets = as_array_like(np.where(mask, targets, 0.0), heatmaps)
    squared = (heatmaps - targets) ** 2 * as_array_like(mask.astype(float), heatmaps)
    return anp.sum(squared) / max(int(visible.sum()) * height * width, 1)
