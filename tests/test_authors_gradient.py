"""The authors' closed-form IDW gradient has a sign error; the corrected formula is ours."""

import autograd
import numpy as np
import pytest
from autograd.test_util import check_grads
from hypothesis import given

from tests.test_interpolation import idw_problems
from uniloss_ref import UniLoss
from uniloss_ref.experiments.authors_gradient import (
    AuthorsUniLoss,
    authors_idw_gradient,
    corrected_idw_gradient,
    interpolate_with_authors_gradient,
)
from uniloss_ref.interpolation import interpolate, squared_distances, weights
from uniloss_ref.metrics import AveragePrecision


@given(idw_problems())
def test_corrected_closed_form_equals_autograd(problem):
    b, anchors, values, power = problem
    expected = autograd.grad(interpolate)(b, anchors, values, power)
    np.testing.assert_allclose(
        corrected_idw_gradient(b, anchors, values, power), expected, rtol=1e-9, atol=1e-12
    )


@given(idw_problems())
def test_authors_gradient_is_ours_plus_twice_h_times_gradient_of_log_normaliser(problem):
    b, anchors, values, power = problem
    h = interpolate(b, anchors, values, power)
    # grad log W = -sum_k (w_k / W) p (b - a_k) / d_k^2
    d2 = ((b - anchors) ** 2).sum(axis=1)
    if (d2 == 0).any():
        return
    w = weights(squared_distances(b, anchors), power)
    w = w / w.sum()
    grad_log_w = -(w[:, None] * power * (b - anchors) / d2[:, None])
    np.testing.assert_allclose(
        authors_idw_gradient(b, anchors, values, power),
        corrected_idw_gradient(b, anchors, values, power) + 2 * h * grad_log_w.sum(axis=0),
        rtol=1e-9,
        atol=1e-12,
    )


@given(idw_problems())
def test_authors_derivative_through_the_distances_is_their_closed_form(problem):
    # AuthorsUniLoss changes one sign in d h~ / d d_k^2; back-propagated through the
    # distances it must give their closed form in b~ exactly as they wrote it.
    b, anchors, values, power = problem
    through_distances = autograd.grad(interpolate_with_authors_gradient)(b, anchors, values, power)
    np.testing.assert_allclose(
        through_distances, authors_idw_gradient(b, anchors, values, power), rtol=1e-9, atol=1e-12
    )


def _random_problem(rng, length=30, k=49):
    anchors = rng.choice([-1.0, 1.0], size=(k, length))
    return rng.uniform(-0.5, 0.5, size=length), anchors, rng.random(k)


def test_authors_gradient_fails_the_finite_difference_check():
    b, anchors, values = _random_problem(np.random.default_rng(0))
    check_grads(lambda x: interpolate(x, anchors, values), modes=["rev"], order=1)(b)
    with pytest.raises(AssertionError):
        check_grads(
            lambda x: interpolate_with_authors_gradient(x, anchors, values), modes=["rev"], order=1
        )(b)


def test_authors_gradient_is_nearly_orthogonal_to_the_true_one_on_random_cases():
    rng = np.random.default_rng(1)
    cosines = []
    for _ in range(50):
        b, anchors, values = _random_problem(rng)
        true = corrected_idw_gradient(b, anchors, values)
        theirs = authors_idw_gradient(b, anchors, values)
        cosines.append(true @ theirs / np.linalg.norm(true) / np.linalg.norm(theirs))
    assert abs(np.median(cosines)) < 0.3


def test_uniloss_with_authors_gradient_keeps_the_value_and_changes_the_gradient():
    rng = np.random.default_rng(3)
    scores, labels = rng.normal(size=16), np.array([1, 1] + [0] * 14)
    ours, theirs = (
        UniLoss(AveragePrecision(), seed=0),
        AuthorsUniLoss(AveragePrecision(), seed=0),
    )
    assert ours(scores, labels) == theirs(scores, labels)
    ours, theirs = (
        UniLoss(AveragePrecision(), seed=0),
        AuthorsUniLoss(AveragePrecision(), seed=0),
    )
    g_ours, g_theirs = autograd.grad(ours)(scores, labels), autograd.grad(theirs)(scores, labels)
    assert not np.allclose(g_ours, g_theirs, rtol=1e-3, atol=0)
