"""Tests of uniloss_ref.experiments.nn.losses against closed forms, scikit-learn and explicit
loops."""

import re

import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import hinge_loss as sklearn_hinge_loss
from sklearn.metrics import log_loss

from uniloss_ref.experiments.nn.losses import (
    bce_with_logits,
    gaussian_heatmaps,
    heatmap_mse,
    hinge_loss,
    softmax_cross_entropy,
)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --------------------------------------------------------------------------------------------
# Binary cross-entropy


# The oracle computes log(1 - sigmoid(s)), which loses digits to cancellation as s grows;
# within |s| <= 10 it keeps about 12, enough for the comparison.
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=8).map(np.array), st.data())
def test_bce_equals_sklearn_log_loss(logits, data):
    n = len(logits)
    labels = np.array(data.draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)))
    expected = log_loss(labels, sigmoid(logits), labels=[0, 1])
    np.testing.assert_allclose(bce_with_logits(logits, labels), expected, rtol=1e-9, atol=1e-12)


def test_bce_is_exact_and_silent_for_huge_logits():
    logits = np.array([1e6, -1e6, 1e6, -1e6, 40.0])
    labels = np.array([1, 0, 0, 1, 1])
    # Per sample: 0, 0, 1e6, 1e6, log(1 + e^-40) = e^-40 to double precision.
    expected = (2e6 + np.exp(-40.0)) / 5
    np.testing.assert_allclose(bce_with_logits(logits, labels), expected, rtol=1e-15, atol=0)
    g = grad(bce_with_logits)(logits, labels)
    np.testing.assert_allclose(g, [0, 0, 0.2, -0.2, -np.exp(-40.0) / 5], rtol=1e-12, atol=0)


def test_bce_gradient_is_sigmoid_minus_target_including_at_zero():
    logits = np.array([0.0, 0.0, -1.5, 2.0])
    labels = np.array([1.0, 0.0, 0.3, 1.0])
    g = grad(bce_with_logits)(logits, labels)
    np.testing.assert_allclose(g, (sigmoid(logits) - labels) / 4, rtol=1e-14, atol=1e-16)
    check_grads(lambda z: bce_with_logits(z, labels), modes=["fwd", "rev"], order=2)(logits)


# --------------------------------------------------------------------------------------------
# Hinge


@given(st.lists(st.floats(-20, 20), min_size=2, max_size=8).map(np.array), st.data())
def test_hinge_equals_sklearn_hinge_loss(logits, data):
    n = len(logits)
    labels = np.array(data.draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)))
    # scikit-learn infers the positive class from the labels present, so show it both.
    labels[:2] = [0, 1]
    expected = sklearn_hinge_loss(labels, logits)
    np.testing.assert_allclose(hinge_loss(logits, labels), expected, rtol=1e-12, atol=1e-12)


def test_hinge_closed_form_and_gradient():
    logits = np.array([2.0, 0.5, -0.25, -3.0])
    labels = np.array([1, 1, 0, 1])
    # margins 1 - t s: -1, 0.5, 0.75, 4 -> losses 0, 0.5, 0.75, 4.
    np.testing.assert_allclose(hinge_loss(logits, labels), 5.25 / 4, rtol=1e-15, atol=0)
    g = grad(hinge_loss)(logits, labels)
    np.testing.assert_allclose(g, [0.0, -0.25, 0.25, -0.25], rtol=0, atol=0)
    check_grads(lambda z: hinge_loss(z, labels), modes=["fwd", "rev"], order=1)(logits)


# --------------------------------------------------------------------------------------------
# Softmax cross-entropy


@given(st.integers(1, 6), st.integers(2, 5), st.integers(0, 2**16))
def test_softmax_cross_entropy_equals_sklearn_log_loss(n, n_classes, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, n_classes))
    targets = rng.integers(0, n_classes, n)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = log_loss(targets, probs, labels=np.arange(n_classes))
    np.testing.assert_allclose(
        softmax_cross_entropy(logits, targets), expected, rtol=1e-9, atol=1e-12
    )


def test_softmax_cross_entropy_is_shift_invariant_and_silent_for_huge_logits():
    logits = np.array([[1e6, 0.0, -1e6], [3.0, 1.0, 2.0]])
    targets = np.array([1, 0])
    small = softmax_cross_entropy(logits - np.array([[1e6], [0.0]]), targets)
    np.testing.assert_allclose(softmax_cross_entropy(logits, targets), small, rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        small, (1e6 + np.log1p(np.exp(-1.0) + np.exp(-2.0))) / 2, rtol=1e-15, atol=0
    )


def test_softmax_cross_entropy_gradient_is_softmax_minus_onehot():
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((4, 3)), np.array([0, 2, 2, 1])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = (probs - np.eye(3)[targets]) / 4
    g = grad(softmax_cross_entropy)(logits, targets)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-15)
    check_grads(lambda z: softmax_cross_entropy(z, targets), modes=["fwd", "rev"], order=1)(logits)


# --------------------------------------------------------------------------------------------
# Heatmaps


def test_gaussian_heatmaps_equal_explicit_loops():
    keypoints = np.array([[[5.0, 2.0], [0.3, 6.7], [-2.0, 12.0]], [[7.5, 7.5], [1, 1], [3, 4]]])
    visible = np.array([[True, True, True], [True, False, True]])
    sigma = 1.7
    maps = gaussian_heatmaps(keypoints, visible, height=9, width=8, sigma=sigma)
    assert maps.shape == (2, 3, 9, 8)
    for i, j, r, q in np.ndindex(maps.shape):
        x, y = keypoints[i, j]
        expected = np.exp(-((q - x) ** 2 + (r - y) ** 2) / (2 * sigma**2)) * visible[i, j]
        np.testing.assert_allclose(maps[i, j, r, q], expected, rtol=1e-14, atol=1e-300)


def test_heatmap_peak_is_1_at_the_keypoint_pixel_with_x_as_column_and_y_as_row():
    maps = gaussian_heatmaps(np.array([[[5.0, 2.0]]]), np.array([[True]]), 6, 8, sigma=1.0)
    assert np.unravel_index(np.argmax(maps[0, 0]), (6, 8)) == (2, 5)
    assert maps[0, 0, 2, 5] == 1.0
    np.testing.assert_allclose(maps[0, 0, 2, 6], np.exp(-0.5), rtol=1e-15, atol=0)
    np.testing.assert_allclose(maps[0, 0, 3, 6], np.exp(-1.0), rtol=1e-15, atol=0)


def test_invisible_joints_get_empty_maps_even_with_nan_coordinates():
    keypoints = np.array([[[np.nan, np.nan], [1.0, 1.0]]])
    maps = gaussian_heatmaps(keypoints, np.array([[False, True]]), 4, 4)
    np.testing.assert_array_equal(maps[0, 0], np.zeros((4, 4)))
    assert maps[0, 1, 1, 1] == 1.0


def test_heatmap_mse_closed_form_ignores_invisible_joints():
    rng = np.random.default_rng(1)
    pred, target = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 5))
    visible = np.array([[True, False, True], [False, False, True]])
    expected = sum(
        np.sum((pred[i, j] - target[i, j]) ** 2) for i, j in zip(*np.nonzero(visible), strict=True)
    ) / (3 * 4 * 5)
    np.testing.assert_allclose(heatmap_mse(pred, target, visible), expected, rtol=1e-13, atol=0)
    changed = pred.copy()
    changed[0, 1] += 100.0
    target_with_nan = target.copy()
    target_with_nan[1, 0] = np.nan
    np.testing.assert_allclose(
        heatmap_mse(changed, target_with_nan, visible), expected, rtol=1e-13, atol=0
    )
    g = grad(heatmap_mse)(pred, target_with_nan, visible)
    assert np.all(g[~visible] == 0.0)
    np.testing.assert_allclose(
        g[visible], 2 * (pred - target)[visible] / 60, rtol=1e-13, atol=1e-16
    )
    check_grads(lambda p: heatmap_mse(p, target, visible), modes=["fwd", "rev"], order=2)(pred)


def test_heatmap_mse_is_zero_with_zero_gradient_when_nothing_is_visible():
    pred = np.ones((1, 2, 3, 3))
    hidden = np.zeros((1, 2), dtype=bool)
    assert heatmap_mse(pred, np.zeros_like(pred), hidden) == 0.0
    np.testing.assert_array_equal(grad(heatmap_mse)(pred, np.zeros_like(pred), hidden), 0 * pred)


def test_heatmap_mse_of_the_target_itself_is_zero():
    keypoints = np.array([[[3.0, 4.0], [10.0, 1.0]]])
    visible = np.array([[True, True]])
    target = gaussian_heatmaps(keypoints, visible, 8, 12, sigma=2.0)
    assert heatmap_mse(target, target, visible) == 0.0


# --------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: bce_with_logits(np.zeros((3, 1)), np.zeros(3)), ValueError, "logits.reshape(-1)"),
        (lambda: bce_with_logits(np.zeros(2), np.array([0.0, 1.5])), ValueError, "[0, 1]"),
        (lambda: bce_with_logits(np.zeros(2), np.array(["a", "b"])), TypeError, "numeric"),
        (lambda: bce_with_logits(np.zeros(0), np.zeros(0)), ValueError, "at least one"),
        (lambda: hinge_loss(np.zeros(2), np.array([0.0, 0.5])), ValueError, "0 or 1"),
        (lambda: hinge_loss(np.zeros(2), np.array([-1, 1])), ValueError, "0 or 1"),
        (lambda: softmax_cross_entropy(np.zeros(3), np.zeros(3, int)), ValueError, "(n, C)"),
        (lambda: softmax_cross_entropy(np.zeros((2, 3)), np.zeros(3, int)), ValueError, "(2,)"),
        (lambda: softmax_cross_entropy(np.zeros((2, 3)), np.zeros(2)), TypeError, "integer"),
        (lambda: softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3])), ValueError, "[0, 3)"),
        (
            lambda: gaussian_heatmaps(np.zeros((1, 2)), np.ones((1, 2), bool), 4, 4),
            ValueError,
            "(n, J, 2)",
        ),
        (lambda: gaussian_heatmaps(np.zeros((1, 2, 2)), np.ones((1, 2)), 4, 4), TypeError, "bool"),
        (
            lambda: gaussian_heatmaps(np.zeros((1, 2, 2)), np.ones((2, 1), bool), 4, 4),
            ValueError,
            "visible must have shape (1, 2)",
        ),
        (
            lambda: gaussian_heatmaps(np.zeros((1, 1, 2)), np.ones((1, 1), bool), 0, 4),
            ValueError,
            "height",
        ),
        (
            lambda: gaussian_heatmaps(np.zeros((1, 1, 2)), np.ones((1, 1), bool), 4, 4, sigma=0),
            ValueError,
            "sigma",
        ),
        (
            lambda: gaussian_heatmaps(np.full((1, 1, 2), np.nan), np.ones((1, 1), bool), 4, 4),
            ValueError,
            "finite",
        ),
        (
            lambda: heatmap_mse(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), np.ones((1, 2), bool)),
            ValueError,
            "(n, J, H, W)",
        ),
        (
            lambda: heatmap_mse(
                np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 4)), np.ones((1, 2), bool)
            ),
            ValueError,
            "targets",
        ),
    ],
)
def test_losses_reject_bad_input_by_name(call, error, words):
    with pytest.raises(error, match=re.escape(words)):
        call()
