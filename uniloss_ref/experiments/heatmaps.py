"""Keypoints on a heatmap grid coarser than the image, and back; predicted keypoints.

A heatmap ``stride`` times coarser than its image has pixel ``[r, q]`` covering image pixels
``stride*r .. stride*r + stride - 1`` (and likewise for columns), so its centre is the image
point ``stride*q + (stride - 1)/2``. Coordinates are ``(x, y)``, column then row, with pixel
centres at integers, as everywhere in :mod:`uniloss_ref.experiments.data` and
:mod:`uniloss_ref.metrics`.
"""

from __future__ import annotations

import numpy as np

from ..metrics import KeypointTargets


def to_heatmap_grid(targets: KeypointTargets, stride: int) -> KeypointTargets:
    """Keypoint targets in the pixels of heatmaps ``stride`` times coarser than the images.

    Parameters
    ----------
    targets : KeypointTargets
        Locations in image pixels, heatmap shape ``(H, W)``.
    stride : int
        Image pixels per heatmap pixel along each axis; ``H`` and ``W`` must be multiples.

    Returns
    -------
    KeypointTargets
        Heatmap pixel ``[r, q]`` covers image pixels ``stride*r .. stride*r + stride - 1``,
        so its centre is image point ``stride*q + (stride - 1)/2``: ``xy -> (xy + 1/2) /
        stride - 1/2``; scales divide by ``stride``; visibility is unchanged.
    """
    height, width = targets.heatmap_shape
    if height % stride or width % stride:
        raise ValueError(
            f"the images ({height}x{width}) must be a multiple of the heatmap stride {stride}"
        )
    return KeypointTargets(
        (targets.xy + 0.5) / stride - 0.5,
        targets.visible,
        targets.scale / stride,
        (height // stride, width // stride),
    )


def from_heatmap_grid(xy: np.ndarray, stride: int) -> np.ndarray:
    """Heatmap pixels ``(..., 2)`` to image pixels: the inverse of :func:`to_heatmap_grid`."""
    return (np.asarray(xy) + 0.5) * stride - 0.5


def heatmap_argmax(heatmaps: np.ndarray) -> np.ndarray:
    """Predicted keypoints: the ``(x, y)`` of each heatmap's highest pixel.

    Parameters
    ----------
    heatmaps : ndarray of shape (n, J, H, W)

    Returns
    -------
    ndarray of shape (n, J, 2)
        Heatmap pixel coordinates (column, row) as floats.
    """
    n, joints, _, width = heatmaps.shape
    row, col = np.divmod(heatmaps.reshape(n, joints, -1).argmax(axis=-1), width)
    return np.stack([col, row], axis=-1).astype(float)
