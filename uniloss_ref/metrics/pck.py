"""PCK (percentage of correct keypoints) of heatmaps as a refactoring.

Scores are heatmaps ``s`` of shape ``(n, J, H, W)``: one map per sample and joint. A joint
is predicted at its heatmap's argmax and is correct when that pixel lies within
``threshold * scale`` of the true location (PCKh@0.5 is ``threshold = 0.5`` with the head
size as ``scale``). So per joint the pixels split into positives (within the radius) and
negatives, and

    the joint is correct  <=>  the argmax is a positive pixel
                          <=>  some positive pixel beats every negative pixel.

The pairs of a joint are every (positive pixel, negative pixel), positive-major; each
positive's comparisons form a row, and ``h`` is the mean over counted joints of
``max_p min_q [b[p, q] = +1]``. Random configurations almost never contain a full row, so
the paper's random anchors score 0 here; this metric asks for row anchors by default.

Coordinates: a keypoint is ``(x, y)`` in pixels of the heatmap, pixel ``[y, x]`` has its
centre at ``(x, y)``, so the heatmap covers ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .._validation import positive_float
from .base import Metric


@dataclass(frozen=True, eq=False)
class KeypointTargets:
    """Ground truth for :class:`PCK`.

    Parameters
    ----------
    xy : ndarray of shape (n, J, 2)
        True keypoint locations ``(x, y)`` in heatmap pixels.
    visible : ndarray of shape (n, J), bool
        Joints to count. A joint outside the heatmap is not counted either.
    scale : ndarray of shape (n,)
        The per-sample normalising length (head size for PCKh, torso length, ...), > 0.
    heatmap_shape : tuple of int
        ``(H, W)`` of the heatmaps the locations refer to.

    Notes
    -----
    Indexing with a slice or an index array selects samples, as on an array's first axis,
    so these targets batch like a label array.
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
                raise ValueError(
                    f"{name} must have shape {want} to match xy of shape {xy.shape}, "
                    f"got {arr.shape}"
                )
        if not np.issubdtype(xy.dtype, np.number) or not np.issubdtype(scale.dtype, np.number):
            raise TypeError("xy and scale must be numeric arrays")
        if visible.dtype != bool:
            raise TypeError(f"visible must be a bool array, got dtype {visible.dtype}")
        hw = tuple(self.heatmap_shape)
        if len(hw) != 2 or not all(isinstance(v, numbers.Integral) and v > 0 for v in hw):
            raise ValueError(f"heatmap_shape must be (H, W), two positive ints, got {hw}")
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


class _Layout(NamedTuple):
    """The pair structure of one batch (see :meth:`PCK._layout`)."""

    positive: np.ndarray  # (n, J, H*W) bool: pixels within the radius
    counted: np.ndarray  # (n, J) bool: visible joints inside the heatmap
    i: np.ndarray  # (l,) flat index of each pair's positive pixel
    j: np.ndarray  # (l,) flat index of each pair's negative pixel
    rows: np.ndarray  # (l,) row id (one row per positive pixel of a joint with pairs)
    row_starts: np.ndarray  # (R,) first comparison of each row
    joint_starts: np.ndarray  # (B,) first row of each joint with pairs
    always_correct: int  # counted joints with no negative pixel


class PCK(Metric):
    """PCK of keypoint heatmaps, as scores -> comparisons -> binaries -> PCK.

    Parameters
    ----------
    threshold : float, default 0.5
        A prediction is correct within ``threshold * scale`` pixels of the truth.

    Notes
    -----
    Scores ``(n, J, H, W)``; targets a :class:`KeypointTargets`. A counted joint with no
    positive pixel can never be correct (0); one with no negative pixel always is (1);
    neither has pairs. A pixel tied with the best positive counts as beating it. A batch
    with no counted joint has value 1 by convention (nothing to get wrong) and a constant
    surrogate.
    """

    score_ndim = 4
    row_anchors = 16

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = positive_float(threshold, "threshold")
        self._cache: tuple[Any, _Layout] | None = None

    def __repr__(self) -> str:
        return f"PCK(threshold={self.threshold})"

    def _check_targets(self, shape: tuple[int, ...], targets: Any) -> KeypointTargets:
        if not isinstance(targets, KeypointTargets):
            raise TypeError(
                f"targets must be a KeypointTargets(xy, visible, scale, heatmap_shape), "
                f"got {type(targets).__name__}"
            )
        n, joints, height, width = shape
        if targets.heatmap_shape != (height, width):
            raise ValueError(
                f"targets.heatmap_shape {targets.heatmap_shape} does not match the scores' "
                f"heatmaps {(height, width)}"
            )
        if targets.visible.shape != (n, joints):
            raise ValueError(
                f"targets hold {targets.visible.shape} (samples, joints), the scores {(n, joints)}"
            )
        if (targets.visible & ~np.isfinite(targets.xy).all(axis=-1)).any():
            raise ValueError("targets.xy must be finite for every visible joint")
        if not np.isfinite(targets.scale).all() or (targets.scale <= 0).any():
            raise ValueError("targets.scale must be finite and > 0 for every sample")
        return targets

    def _shape(self, targets: Any, length: int) -> tuple[int, ...]:
        if not isinstance(targets, KeypointTargets):
            raise TypeError(f"targets must be a KeypointTargets, got {type(targets).__name__}")
        n, joints = np.shape(targets.visible)
        return (n, joints, *tuple(targets.heatmap_shape))

    def _layout(self, shape: tuple[int, ...], targets: KeypointTargets) -> _Layout:
        key = (shape, targets.xy.tobytes(), targets.visible.tobytes(), targets.scale.tobytes())
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        height, width = shape[2:]
        x, y = targets.xy[..., 0], targets.xy[..., 1]
        inside = (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
        counted = targets.visible & inside
        radius = self.threshold * targets.scale[:, None, None]
        yy, xx = np.divmod(np.arange(height * width), width)
        d2 = (xx - x[..., None]) ** 2 + (yy - y[..., None]) ** 2
        positive = d2 <= radius**2
        npos = positive.sum(axis=-1)
        has_pairs = counted & (npos > 0) & (npos < height * width)
        # A loop over joints, not pairs: each joint's pairs are one outer product.
        i_parts, j_parts, row_sizes, joint_rows = [], [], [], []
        for block in np.flatnonzero(has_pairs.ravel()):
            offset = block * height * width
            pos = offset + np.flatnonzero(positive.reshape(-1, height * width)[block])
            neg = offset + np.flatnonzero(~positive.reshape(-1, height * width)[block])
            i_parts.append(np.repeat(pos, neg.size))
            j_parts.append(np.tile(neg, pos.size))
            row_sizes.append(np.full(pos.size, neg.size))
            joint_rows.append(pos.size)
        empty = np.zeros(0, dtype=np.intp)
        sizes = np.concatenate(row_sizes) if row_sizes else empty
        layout = _Layout(
            positive=positive,
            counted=counted,
            i=np.concatenate(i_parts) if i_parts else empty,
            j=np.concatenate(j_parts) if j_parts else empty,
            rows=np.repeat(np.arange(sizes.size), sizes),
            row_starts=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp),
            joint_starts=np.concatenate([[0], np.cumsum(joint_rows)[:-1]]).astype(np.intp),
            always_correct=int((counted & (npos == height * width)).sum()),
        )
        self._cache = (key, layout)
        return layout

    def _pairs(self, shape, targets: KeypointTargets) -> tuple[np.ndarray, np.ndarray]:
        layout = self._layout(shape, targets)
        return layout.i, layout.j

    def _rows(self, shape, targets: KeypointTargets) -> np.ndarray:
        return self._layout(shape, targets).rows

    def _from_binary(self, b: np.ndarray, shape, targets: KeypointTargets) -> np.ndarray:
        layout = self._layout(shape, targets)
        total = int(layout.counted.sum())
        if total == 0:
            return np.ones(b.shape[0])
        correct = np.full(b.shape[0], float(layout.always_correct))
        if b.shape[1]:
            row_lost = np.logical_or.reduceat(b < 0, layout.row_starts, axis=1)
            joint_won = np.logical_or.reduceat(~row_lost, layout.joint_starts, axis=1)
            correct += joint_won.sum(axis=1)
        return correct / total

    def _evaluate(self, scores: np.ndarray, targets: KeypointTargets) -> float:
        layout = self._layout(scores.shape, targets)
        n, joints = scores.shape[:2]
        heat = scores.reshape(n, joints, -1)
        best_positive = np.where(layout.positive, heat, -np.inf).max(axis=-1)
        best_negative = np.where(layout.positive, -np.inf, heat).max(axis=-1)
        correct = (best_positive > best_negative)[layout.counted]
        return float(correct.mean()) if correct.size else 1.0
