"""The relaxation's hand-written derivatives, and standardisation at the edges of float64."""

import autograd
import numpy as np
import pytest
from autograd.test_util import check_grads
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from uniloss_ref import UniLoss
from uniloss_ref.metrics import AveragePrecision
from uniloss_ref.relaxation import (
    hard_binary,
    relaxed_binary,
    standardised,
    standardised_constants,
)

moderate = arrays(np.float64, st.integers(1, 12), elements=st.floats(-50, 50))


@given(moderate, st.sampled_from([0.1, 0.5, 1.0, 3.0]))
def test_relaxation_derivative_through_its_output_matches_finite_differences(c, temperature):
    # The derivative is written as (1 - b~^2) / 2 tau; forward and reverse, twice.
    check_grads(lambda x: relaxed_binary(x, temperature), modes=["rev", "fwd"], order=2)(c)


def test_relaxation_derivative_is_finite_and_zero_far_out():
    c = np.array([-1e300, -1e6, 1e6, 1e300])
    slope = autograd.elementwise_grad(lambda x: relaxed_binary(x, 1.0))(c)
    np.testing.assert_array_equal(slope, np.zeros(4))


def test_a_tie_is_not_won():
    np.testing.assert_array_equal(hard_binary(np.array([-1.0, 0.0, -0.0, 1e-300])), [-1, -1, -1, 1])


@given(moderate)
def test_standardisation_derivative_matches_finite_differences(s):
    assume(np.std(s) > 1e-3)  # finite differences step by about 1e-6
    check_grads(standardised, modes=["rev", "fwd"], order=1)(s)


@given(moderate)
def test_standardised_constants_derivative_matches_finite_differences(s):
    # t / sd(s) depends on s through sd only: checked in both modes, and to second order.
    assume(np.std(s) > 1e-3)
    t = np.array([0.5, -2.0, 0.0])
    f = lambda x: np.sum(np.array([1.0, 0.3, -2.0]) * standardised_constants(t, x) ** 2)
    check_grads(f, modes=["rev", "fwd"], order=2)(s)
    # (s - t) / sd keeps the sign of s - t: the threshold stays in raw units (unless a score
    # is so close to t that s / max|s| underflows, as 5e-324 / 2 does).
    assume((np.abs(s[:, None] - t) > 1e-300 * np.abs(s).max()).all())
    z, u = standardised(s), standardised_constants(t, s)
    np.testing.assert_array_equal(np.sign(z[:, None] - u), np.sign(s[:, None] - t))


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1.0, 1e200, 1e300])
def test_standardisation_is_scale_free_from_tiny_to_huge_scores(scale):
    s = np.array([0.3, -1.2, 0.8, 0.1, -0.4])
    z = standardised(scale * s)
    np.testing.assert_allclose(z, standardised(s), rtol=1e-12, atol=0)
    np.testing.assert_allclose(np.std(z), 1.0, rtol=1e-12, atol=0)
    assert np.isfinite(autograd.jacobian(standardised)(scale * s)).all()


@pytest.mark.parametrize(
    "scores",
    [np.full(4, 2.5), np.zeros(4), np.array([5e-320, 7e-320, 1e-320, 2e-320])],
    ids=["equal", "zero", "subnormal spread"],
)
def test_standardisation_leaves_a_batch_without_usable_spread_unchanged(scores):
    # sd = 0 (equal scores) or subnormal (1 / sd overflows): the scores pass through as
    # they are, with the identity as derivative, so a loss stays finite.
    # Passed through untouched (no arithmetic, no BLAS): equal bit for bit on any machine.
    np.testing.assert_array_equal(standardised(scores), scores)
    np.testing.assert_array_equal(autograd.jacobian(standardised)(scores), np.eye(4))
    labels = np.array([1, 0, 0, 1])
    loss = UniLoss(AveragePrecision(), standardise=True, temperature=3.0, seed=0)
    value, gradient = autograd.value_and_grad(loss)(scores, labels)
    assert np.isfinite(value) and np.isfinite(gradient).all()
