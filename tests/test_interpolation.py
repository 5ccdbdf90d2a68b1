"""Inverse distance weighting: exact at anchors, bounded, finite, and equal to its definition."""

import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests import oracles
from uniloss_ref.anchor_sets import Anchors
from uniloss_ref.interpolation import interpolate, squared_distances, weights


@st.composite
def idw_problems(draw, max_length=8, max_anchors=6):
    length = draw(st.integers(1, max_length))
    k = draw(st.integers(1, max_anchors))
    anchors = draw(arrays(np.float64, (k, length), elements=st.sampled_from([-1.0, 1.0])))
    values = draw(arrays(np.float64, k, elements=st.floats(0, 1)))
    # Equal anchors must carry equal values: h is a function of the configuration.
    _, first = np.unique(anchors, axis=0, return_inverse=True)
    values = values[np.unique(first, return_index=True)[1]][first.ravel()]
    b = draw(arrays(np.float64, length, elements=st.floats(-0.999, 0.999)))
    power = draw(st.sampled_from([0.5, 1.0, 2.0, 3.0]))
    return b, anchors, values, power


@given(idw_problems())
def test_surrogate_is_exact_at_anchors(problem):
    _, anchors, values, power = problem
    for anchor, value in zip(anchors, values, strict=True):
        # Bit for bit by construction: on an anchor (d_k^2 == 0 exactly) h~ is v_k itself,
        # no arithmetic is done on it, so no BLAS or summation order can change it.
        assert interpolate(anchor, anchors, values, power) == value


@given(idw_problems())
def test_surrogate_lies_between_smallest_and_largest_anchor_value(problem):
    b, anchors, values, power = problem
    h = interpolate(b, anchors, values, power)
    assert values.min() - 1e-15 <= h <= values.max() + 1e-15


@given(idw_problems())
def test_interpolation_equals_its_definition(problem):
    b, anchors, values, power = problem
    expected = oracles.inverse_distance_weighting(b, anchors, values, power)
    assert interpolate(b, anchors, values, power) == pytest.approx(expected, rel=1e-12, abs=1e-14)


@given(idw_problems())
def test_squared_distances_have_no_cancellation(problem):
    b, anchors, _, _ = problem
    direct = ((b[None, :] - anchors) ** 2).sum(axis=1)
    np.testing.assert_allclose(squared_distances(b, anchors), direct, rtol=1e-14, atol=0)


@given(idw_problems())
def test_weights_are_inverse_powers_of_the_distances_up_to_a_factor(problem):
    b, anchors, _, power = problem
    d2 = squared_distances(b, anchors)
    w = weights(d2, power)
    assert (w >= 0).all() and w.max() == 1.0
    if (d2 > 0).all():
        expected = d2 ** (-power / 2)
        np.testing.assert_allclose(w / w.sum(), expected / expected.sum(), rtol=1e-12, atol=0)
    else:  # on an anchor: the first one at distance 0 takes all the weight
        np.testing.assert_array_equal(w, np.arange(len(d2)) == np.argmax(d2 == 0))


@given(idw_problems(max_length=5, max_anchors=4))
def test_interpolation_gradient_matches_finite_differences(problem):
    b, anchors, values, power = problem
    check_grads(lambda x: interpolate(x, anchors, values, power), modes=["rev", "fwd"], order=2)(b)


def test_weights_do_not_overflow_extremely_close_to_an_anchor():
    anchors = np.array([[1.0, 1.0], [-1.0, 1.0]])
    b = np.array([1.0 - 1e-300, 1.0])  # d_0 ~ 1e-300: w_0 = 1e300 would overflow with p = 2
    h = interpolate(b, anchors, np.array([1.0, 0.0]), power=2.0)
    assert h == 1.0
    assert np.isfinite(grad(interpolate)(b, anchors, np.array([1.0, 0.0]), 2.0)).all()


def test_gradient_on_an_anchor_is_zero_and_finite():
    anchors = np.array([[1.0, -1.0], [1.0, 1.0]])
    g = grad(interpolate)(anchors[0].copy(), anchors, np.array([0.3, 0.9]))
    np.testing.assert_array_equal(g, np.zeros(2))


@st.composite
def flipped_anchors(draw):
    """Anchors stored as bases with flips, and a point very close to one of them."""
    length = draw(st.integers(1, 12))
    bases = draw(arrays(bool, (2, length)))
    count = draw(st.integers(1, 6))
    flips = [
        draw(st.lists(st.integers(0, length - 1), unique=True, max_size=length))
        for _ in range(count)
    ]
    anchors = Anchors(
        bases=bases,
        base_of=np.array([draw(st.integers(0, 1)) for _ in range(count)]),
        flips=np.array([m for f in flips for m in f], dtype=np.intp),
        flip_anchor=np.repeat(np.arange(count), [len(f) for f in flips]),
        kinds=np.full(count, "given"),
    )
    target = anchors.configurations[draw(st.integers(0, count - 1))]
    offset = draw(st.sampled_from([0.0, 1e-12, 1e-10, 1e-6, 0.3]))
    b = target - offset * target * draw(arrays(float, length, elements=st.floats(0, 1)))
    return b, anchors


@given(flipped_anchors())
def test_structured_distances_equal_the_written_out_ones_even_near_an_anchor(problem):
    # Near an anchor d^2 is tiny and D_base + 4 a.b~ would cancel every digit: the near
    # anchors must be summed term by term, so the relative error stays at rounding level.
    b, anchors = problem
    direct = ((b[None, :] - anchors.configurations) ** 2).sum(axis=1)
    np.testing.assert_allclose(squared_distances(b, anchors), direct, rtol=1e-12, atol=0)


@given(flipped_anchors())
def test_structured_distance_gradient_matches_finite_differences(problem):
    b, anchors = problem
    b = np.clip(b, -0.9, 0.9)
    check_grads(lambda x: squared_distances(x, anchors), modes=["rev", "fwd"], order=2)(b)
