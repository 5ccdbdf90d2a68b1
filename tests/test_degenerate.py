"""Degenerate batches have defined, documented values; nothing is NaN or infinite.

pytest turns every warning into an error (pyproject.toml), so these tests also show that
no degenerate batch warns.
"""

import itertools

import autograd
import numpy as np
import pytest

from uniloss_ref import AnchorSampler, UniLoss
from uniloss_ref.metrics import (
    PCK,
    Accuracy,
    AveragePrecision,
    FScore,
    KeypointTargets,
    Precision,
    PrecisionAtK,
    Recall,
    RecallAtK,
    RocAuc,
)

BINARY = [AveragePrecision(), AveragePrecision(interpolated=True), RocAuc()]


def loss_value_and_gradient(metric, scores, targets, **kwargs):
    loss = UniLoss(metric, seed=0, **kwargs)
    value = loss(scores, targets)
    gradient = autograd.grad(UniLoss(metric, seed=0, **kwargs))(scores, targets)
    assert np.isfinite(value) and np.isfinite(gradient).all()
    return value, gradient


@pytest.mark.parametrize("metric", BINARY, ids=repr)
@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1], [1], [0]], ids=str)
def test_one_class_batches_score_one_with_zero_loss_and_gradient(metric, labels):
    labels = np.array(labels)
    scores = np.linspace(-1.0, 1.0, labels.size)
    assert metric.evaluate(scores, labels) == 1.0
    assert metric.refactor(scores.shape, labels).length == 0
    value, gradient = loss_value_and_gradient(metric, scores, labels)
    assert value == 0.0
    np.testing.assert_array_equal(gradient, np.zeros_like(scores))


@pytest.mark.parametrize("metric", BINARY, ids=repr)
def test_all_tied_scores_count_every_pair_as_misordered(metric):
    scores, labels = np.zeros(6), np.array([1, 0, 1, 0, 0, 0])
    assert metric.evaluate(scores, labels) == metric.refactored_value(scores, labels)
    value, gradient = loss_value_and_gradient(metric, scores, labels)
    assert 0.0 <= value <= 1.0
    assert np.abs(gradient).sum() > 0  # ties sit at b~ = 0, where the surrogate still has slope


@pytest.mark.parametrize("metric", [*BINARY, Accuracy(), Accuracy(top_k=2)], ids=repr)
@pytest.mark.parametrize("magnitude", [1e6, 1e300])
def test_extreme_scores_are_finite_and_the_loss_is_the_batch_metric(metric, magnitude):
    rng = np.random.default_rng(0)
    if isinstance(metric, Accuracy):
        scores = magnitude * rng.permuted(np.tile([-2.0, -1.0, 1.0, 2.0], (6, 1)), axis=1)
        targets = np.array([0, 1, 2, 3, 0, 1])
    else:
        scores, targets = magnitude * np.array([3.0, -1.0, 2.0, -2.0]), np.array([1, 0, 0, 1])
    value, gradient = loss_value_and_gradient(
        metric, scores, targets, sampler=AnchorSampler(current=1)
    )
    # Saturated relaxation: b~ equals the hard configuration, which is an anchor.
    assert value == 1.0 - metric.evaluate(scores, targets)
    np.testing.assert_array_equal(gradient, np.zeros_like(scores))


def test_accuracy_one_sample_and_two_classes():
    metric = Accuracy()
    assert metric.evaluate(np.array([[0.3, -0.2]]), np.array([0])) == 1.0
    assert metric.evaluate(np.array([[0.3, -0.2]]), np.array([1])) == 0.0
    loss_value_and_gradient(metric, np.array([[0.3, -0.2]]), np.array([1]))


def test_accuracy_with_top_k_at_least_the_number_of_classes_is_one():
    scores, targets = np.array([[0.1, 0.5, 0.2]]), np.array([0])
    assert Accuracy(top_k=3).evaluate(scores, targets) == 1.0
    assert Accuracy(top_k=7).refactored_value(scores, targets) == 1.0


def test_accuracy_with_one_class_has_no_comparisons_and_value_one():
    scores, targets = np.array([[0.4], [0.1]]), np.array([0, 0])
    assert Accuracy().refactor(scores.shape, targets).length == 0
    value, gradient = loss_value_and_gradient(Accuracy(), scores, targets)
    assert value == 0.0 and not gradient.any()


def _keypoints(xy, visible, scale=2.0, shape=(5, 5)):
    xy = np.array(xy, dtype=float).reshape(1, -1, 2)
    return KeypointTargets(xy, np.array(visible).reshape(1, -1), np.array([scale]), shape)


def test_pck_without_counted_joints_is_one_with_zero_gradient():
    heat = np.random.default_rng(0).normal(size=(1, 2, 5, 5))
    targets = _keypoints([[1, 1], [9, 9]], [False, True])  # hidden, and outside the frame
    assert PCK().evaluate(heat, targets) == 1.0
    value, gradient = loss_value_and_gradient(PCK(), heat, targets)
    assert value == 0.0 and not gradient.any()


def test_pck_joint_without_positive_pixels_counts_as_wrong():
    heat = np.random.default_rng(0).normal(size=(1, 1, 5, 5))
    targets = _keypoints([[1.5, 1.5]], [True], scale=0.1)  # radius 0.05: no pixel centre
    assert PCK().evaluate(heat, targets) == 0.0
    assert PCK().refactor(heat.shape, targets).length == 0


def test_pck_joint_whose_radius_covers_the_heatmap_counts_as_right():
    heat = np.random.default_rng(0).normal(size=(1, 1, 5, 5))
    targets = _keypoints([[2, 2]], [True], scale=100.0)
    assert PCK().evaluate(heat, targets) == 1.0


def test_pck_random_anchors_are_useless_and_row_anchors_are_not():
    rng = np.random.default_rng(0)
    heat = rng.normal(size=(2, 3, 16, 16))
    xy = rng.uniform(2, 13, size=(2, 3, 2))
    targets = KeypointTargets(xy, np.ones((2, 3), bool), np.array([2.0, 2.0]), (16, 16))
    paper_only = UniLoss(PCK(), sampler=AnchorSampler(), seed=0).inspect(heat, targets)
    assert (paper_only.values[paper_only.kinds == "bad"] == 0).all()
    with_rows = UniLoss(PCK(), seed=0).inspect(heat, targets)
    row_values = with_rows.values[with_rows.kinds == "row"]
    assert (row_values > with_rows.batch_metric).all()


@pytest.mark.parametrize(
    ("metric", "scores", "labels", "value"),
    [
        (FScore(), [-1.0, -0.5, -2.0], [0, 0, 0], 1.0),  # nothing to find, nothing found
        (FScore(), [1.0, -0.5, -2.0], [0, 0, 0], 0.0),  # only a false positive
        (Precision(), [-1.0, -0.5, 2.0], [1, 1, 0], 0.0),
        (Precision(), [-1.0, -0.5, -2.0], [1, 1, 0], 1.0),  # nothing predicted positive
        (Recall(), [-1.0, 0.5, 2.0], [0, 0, 0], 1.0),  # no positive: l = 0
        (PrecisionAtK(2), [0.3, -0.5, 1.2], [0, 0, 0], 0.0),  # no positive: l = 0
        (PrecisionAtK(5), [0.3, -0.5, 1.2], [1, 0, 0], 1 / 3),  # k >= n: l = 2, h constant
        (RecallAtK(1), [0.3, -0.5, 1.2], [1, 1, 1], 1 / 3),  # no negative: l = 0
        (RecallAtK(4), [0.3, -0.5, 1.2], [0, 1, 0], 1.0),  # k >= n
    ],
    ids=str,
)
def test_degenerate_batches_at_a_threshold_and_at_k_are_finite_and_defined(
    metric, scores, labels, value
):
    scores, labels = np.array(scores), np.array(labels)
    assert metric.evaluate(scores, labels) == pytest.approx(value, rel=1e-15)
    for standardise in (False, True):
        loss, gradient = loss_value_and_gradient(metric, scores, labels, standardise=standardise)
        assert 0.0 <= loss <= 1.0
        refactoring = metric.refactor(scores.shape, labels)
        every = np.array(list(itertools.product([False, True], repeat=refactoring.length)))
        if np.unique(refactoring.h(every)).size == 1:  # h constant: so is the surrogate
            # (a weighted mean of equal values: exact, or with l > 0 exact up to rounding)
            assert loss == pytest.approx(1.0 - value, abs=1e-15)
            np.testing.assert_allclose(gradient, np.zeros_like(scores), rtol=0, atol=1e-15)
