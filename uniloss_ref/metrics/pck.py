"""PCK (percentage of correct keypoints) of heatmaps as a refactoring.

Scores are heatmaps ``s`` of shape ``(n, J, H, W)``, one per sample and joint. A joint is
predicted at its heatmap's argmax and is correct when that pixel lies within
``threshold * scale`` of the truth (PCKh@0.5: ``threshold = 0.5``, head size as ``scale``).
So each joint's pixels split into positives (within the radius) and negatives, and

    the joint is correct  <=>  the argmax is a positive pixel
                          <=>  some positive pixel beats every negative pixel.

A joint's pairs are every (positive pixel, negative pixel), positive-major; each positive
pixel's comparisons form a row, and ``h`` is the mean over counted joints of "some row is
all ``+1``". Joints come sample-major, then joint by joint.

Coordinates: a keypoint is ``(x, y)`` in heatmap pixels; pixel ``[y, x]`` has its centre at
``(x, y)``, so a heatmap covers ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .._arrays import to_numpy
from .._validation import check_comparisons, check_scores, check_shape, positive_float
from .refactoring import Metric, Refactoring


@dataclass(frozen=True, eq=False)
class KeypointTargets:
    """Ground truth for :class:`PCK`.

    Parameters
    ----------
    xy : ndarray of shape (n, J, 2)
        True keypoint locations ``(x, y)`` in heatmap pixels (real numbers).
    visible : ndarray of shape (n, J), bool
        Joints to count. A joint outside the heatmap is not counted either.
    scale : ndarray of shape (n,)
        The per-sample normalising length (head size for PCKh, torso length, ...), > 0.
    heatmap_shape : tuple of int
        ``(H, W)`` of the heatmaps the locations refer to.

    Notes
    -----
    Indexing with a slice or an index array selects samples, so these targets batch like a
    label array.
    """

    xy: np.ndarray
    visible: np.ndarray
    scale: np.ndarray
    heatmap_shape: tuple[int, int]

    def __post_init__(self) -> None:
        xy, visible, scale = (np.asarray(a) for a in (self.xy, self.visible, self.scale))
        if xy.ndim != 3 or xy.shape[2] != 2:
            raise ValueError(f"xy must have shape (n, J, 2), got {xy.shape}")
        n, joints = xy.shape[:2]
        for name, arr, want in (("visible", visible, (n, joints)), ("scale", scale, (n,))):
            if arr.shape != want:
                raise ValueError(f"{name} must have shape {want} to match xy, got {arr.shape}")
        if xy.dtype.kind not in "iuf" or scale.dtype.kind not in "iuf":
            raise TypeError(f"xy and scale must be real numbers, got {xy.dtype}, {scale.dtype}")
        if visible.dtype != bool:
            raise TypeError(f"visible must be a bool array, got dtype {visible.dtype}")
        hw = tuple(self.heatmap_shape)
        if len(hw) != 2 or not all(isinstance(v, numbers.Integral) and v > 0 for v in hw):
            raise ValueError(f"heatmap_shape must be (H, W), two positive ints, got {hw}")
        if (visible & ~np.isfinite(xy).all(axis=-1)).any():
            raise ValueError("xy must be finite for every visible joint")
        if not np.isfinite(scale).all() or (scale <= 0).any():
            raise ValueError("scale must be finite and > 0 for every sample")
        for name, value in (("xy", xy), ("visible", visible), ("scale", scale)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "heatmap_shape", (int(hw[0]), int(hw[1])))

    def __len__(self) -> int:
        return len(self.scale)

    def __getitem__(self, index: slice | np.ndarray) -> KeypointTargets:
        if isinstance(index, numbers.Integral):
            raise TypeError(
                "index KeypointTargets with a slice or an index array (which keep the sample "
                f"axis), got the integer {index}; use targets[[{index}]]"
            )
        return KeypointTargets(
            self.xy[index], self.visible[index], self.scale[index], self.heatmap_shape
        )


class PCK(Metric):
    """PCK of keypoint heatmaps: scores -> comparisons -> binaries -> PCK.

    Parameters
    ----------
    threshold : float, default 0.5
        A prediction is correct within ``threshold * scale`` pixels of the truth
        (distance ``<=`` radius).

    Notes
    -----
    Scores ``(n, J, H, W)``; targets a :class:`KeypointTargets`. A counted joint with no
    positive pixel is never correct; one with no negative pixel always is; neither has
    pairs. A pixel tied with the best positive counts as beating it. A batch with no counted
    joint has PCK 1 (nothing to get wrong) and a constant surrogate.

    Random configurations almost never contain a whole row of ``+1``, so the paper's random
    anchors all score 0 here; PCK asks for 16 row anchors by default.
    """

    score_ndim = 4
    default_anchors = MappingProxyType({"row": 16})

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = positive_float(threshold, "threshold")

    def __repr__(self) -> str:
        return f"PCK(threshold={self.threshold})"

    def positives(self, shape: tuple[int, ...], targets: Any) -> tuple[np.ndarray, np.ndarray]:
        """Checked geometry: pixels within the radius ``(n, J, H*W)`` and counted joints ``(n, J)``.

        A joint is counted when it is visible and inside the heatmap.
        """
        n, joints, height, width = check_shape(shape, 4)
        if not isinstance(targets, KeypointTargets):
            raise TypeError(
                "targets must be a KeypointTargets(xy, visible, scale, heatmap_shape), "
                f"got {type(targets).__name__}"
            )
        if targets.heatmap_shape != (height, width) or targets.visible.shape != (n, joints):
            raise ValueError(
                f"targets hold {targets.visible.shape} (samples, joints) of heatmaps "
                f"{targets.heatmap_shape}, the scores {(n, joints)} of {(height, width)}"
            )
        x, y = targets.xy[..., 0], targets.xy[..., 1]
        inside = (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
        yy, xx = np.divmod(np.arange(height * width), width)
        d2 = (xx - x[..., None]) ** 2 + (yy - y[..., None]) ** 2
        radius = self.threshold * targets.scale[:, None, None]
        return d2 <= radius**2, targets.visible & inside

    def length(self, shape: tuple[int, ...], targets: Any) -> int:
        positive, counted = self.positives(shape, targets)
        npos = positive.sum(axis=-1)
        return int((npos * (positive.shape[-1] - npos))[counted].sum())

    def refactor(self, shape: tuple[int, ...], targets: Any) -> Refactoring:
        positive, counted = self.positives(shape, targets)
        pixels = positive.shape[-1]
        npos = positive.sum(axis=-1)
        total, always = int(counted.sum()), int((counted & (npos == pixels)).sum())
        paired = counted & (npos > 0) & (npos < pixels)
        check_comparisons(int((npos * (pixels - npos))[paired].sum()), "these heatmaps")
        # Joints with pairs, sample-major; their positive and negative pixels in order.
        joints = np.flatnonzero(paired)
        inside = positive.reshape(-1, pixels)[joints]
        pos_joint, pos_pixel = np.nonzero(inside)
        neg_joint, neg_pixel = np.nonzero(~inside)
        pos, neg = joints[pos_joint] * pixels + pos_pixel, joints[neg_joint] * pixels + neg_pixel
        # Row k: positive pixel k against every negative pixel of its joint, in order.
        negatives = pixels - npos.ravel()[joints]
        row_sizes = negatives[pos_joint]
        row_starts = np.concatenate([[0], np.cumsum(row_sizes)])
        first_negative = np.concatenate([[0], np.cumsum(negatives)])
        within = np.arange(row_starts[-1]) - np.repeat(row_starts[:-1], row_sizes)
        i = np.repeat(pos, row_sizes)
        j = neg[np.repeat(first_negative[pos_joint], row_sizes) + within]
        joint_starts = np.concatenate([[0], np.cumsum(npos.ravel()[joints])[:-1]])

        def h_rows(lost: np.ndarray) -> np.ndarray:  # (K, R): one row per positive pixel
            if total == 0:
                return np.ones(len(lost))
            correct = np.full(len(lost), float(always))
            if joints.size:  # a joint is right when one of its positive pixels loses nothing
                correct += np.logical_or.reduceat(lost == 0, joint_starts, axis=1).sum(axis=1)
            return correct / total

        return Refactoring.built(shape, i, j, row_starts=row_starts, h_rows=h_rows)

    def evaluate(self, scores: Any, targets: Any) -> float:
        """PCK of heatmaps ``(n, J, H, W)``, a few samples at a time.

        The per-pixel geometry and masks take several times the memory of the heatmaps they
        describe; computed for about 2**20 pixels at a time, evaluating a test split costs
        little memory beyond its heatmaps.
        """
        s = to_numpy(check_scores(scores, 4))
        if (
            not isinstance(targets, KeypointTargets)
            or targets.visible.shape != s.shape[:2]
            or targets.heatmap_shape != s.shape[2:]
        ):
            self.positives(s.shape, targets)  # raises, saying why the targets do not fit
        step = max(1, 2**20 // s[0].size)
        correct = counted_total = 0
        for start in range(0, len(s), step):
            chunk = s[start : start + step]
            positive, counted = self.positives(chunk.shape, targets[start : start + step])
            heat = chunk.reshape(positive.shape)
            best_positive = np.where(positive, heat, -np.inf).max(axis=-1)
            best_negative = np.where(positive, -np.inf, heat).max(axis=-1)
            correct += int((best_positive > best_negative)[counted].sum())
            counted_total += int(counted.sum())
        return correct / counted_total if counted_total else 1.0
