"""Hypothesis strategies for batches: tie-free scores, labels, shapes, anchors."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from uniloss_ref.metrics import KeypointTargets

# Distinct finite floats: distinct doubles always give a nonzero difference, so scores drawn
# with unique=True are tie-free in every comparison.
score_values = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


def tie_free_scores(shape) -> st.SearchStrategy[np.ndarray]:
    """Scores of ``shape`` with all entries distinct."""
    return arrays(np.float64, shape, elements=score_values, unique=True)


def separated_scores(shape) -> st.SearchStrategy[np.ndarray]:
    """Scores on a grid of step 0.25 (distinct): every comparison has ``|c| >= 0.25``."""
    size = int(np.prod(shape))
    return st.permutations(range(-size, size)).map(
        lambda p: 0.25 * np.array(p[:size], dtype=float).reshape(shape)
    )


@st.composite
def binary_batches(draw, min_n=1, max_n=16, both_classes=False, scores=tie_free_scores):
    """``(scores (n,), labels (n,) of 0/1 ints)``."""
    n = draw(st.integers(2 if both_classes else min_n, max_n))
    labels = draw(arrays(np.int64, n, elements=st.integers(0, 1)))
    if both_classes and labels.min() == labels.max():
        labels[draw(st.integers(0, n - 1))] ^= 1
    return draw(scores((n,))), labels


@st.composite
def multiclass_batches(draw, max_n=10, max_classes=8, scores=tie_free_scores):
    """``(scores (n, C), targets (n,) ints in [0, C))`` with ``C >= 2``."""
    n = draw(st.integers(1, max_n))
    classes = draw(st.integers(2, max_classes))
    targets = draw(arrays(np.int64, n, elements=st.integers(0, classes - 1)))
    return draw(scores((n, classes))), targets


@st.composite
def keypoint_batches(draw, scores=tie_free_scores):
    """``(heatmaps (n, J, H, W), KeypointTargets)`` on small heatmaps."""
    n, joints = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    height, width = draw(st.integers(2, 6)), draw(st.integers(2, 6))
    coord = st.floats(-1.5, 6.5, allow_nan=False)
    xy = draw(arrays(np.float64, (n, joints, 2), elements=coord))
    visible = draw(arrays(bool, (n, joints)))
    scale = draw(arrays(np.float64, n, elements=st.floats(0.25, 6.0)))
    targets = KeypointTargets(xy, visible, scale, (height, width))
    return draw(scores((n, joints, height, width))), targets


thresholds = st.one_of(st.just(0.0), st.floats(-1e3, 1e3, allow_nan=False, width=64))
"""A threshold ``t`` in the range of :data:`score_values`."""
