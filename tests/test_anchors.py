"""Anchor sampling: each kind is what the paper says, and randomness is explicit."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from uniloss_ref.anchors import (
    AnchorSampler,
    bad_anchors,
    good_anchors,
    nearby_anchors,
    row_anchors,
    truth_anchors,
)

hard_configurations = st.integers(1, 30).flatmap(
    lambda n: arrays(np.float64, n, elements=st.sampled_from([-1.0, 1.0]))
)


@given(st.integers(1, 20), st.integers(0, 5), st.integers(0, 2**32 - 1))
def test_good_anchors_differ_from_truth_in_exactly_one_bit(length, number, seed):
    anchors = good_anchors(length, number, np.random.default_rng(seed))
    assert anchors.shape == (number, length)
    np.testing.assert_array_equal((anchors < 0).sum(axis=1), np.ones(number))


@given(hard_configurations, st.integers(0, 2**32 - 1))
def test_nearby_anchors_set_one_wrong_bit_right(hard, seed):
    anchors = nearby_anchors(hard, 7, np.random.default_rng(seed))
    if (hard > 0).all():
        np.testing.assert_array_equal((anchors < 0).sum(axis=1), np.ones(7))
        return
    changed = anchors != hard
    np.testing.assert_array_equal(changed.sum(axis=1), np.ones(7))
    assert (hard[changed.argmax(axis=1)] == -1).all()
    assert (anchors[changed] == 1).all()


@given(hard_configurations, st.integers(0, 2**32 - 1))
def test_row_anchors_set_exactly_one_whole_row_right(hard, seed):
    rows = np.arange(hard.size) // 3
    anchors = row_anchors(hard, rows, 5, np.random.default_rng(seed))
    for anchor in anchors:
        changed_rows = np.unique(rows[anchor != hard])
        assert changed_rows.size <= 1
        set_right = [r for r in np.unique(rows) if (anchor[rows == r] == 1).all()]
        assert set_right, "some row must be all +1"


def test_bad_anchors_are_uniform_signs():
    anchors = bad_anchors(1000, 20, np.random.default_rng(0))
    assert set(np.unique(anchors)) == {-1.0, 1.0}
    assert abs(anchors.mean()) < 0.02  # 20000 fair signs: 4.5 standard deviations


def test_sampler_counts_and_kinds():
    sampler = AnchorSampler(truth=1, good=2, nearby=3, bad=4, current=1, row=2)
    hard = np.array([1.0, -1.0, -1.0, 1.0])
    anchors = sampler(hard, np.array([0, 0, 1, 1]), np.random.default_rng(0))
    assert anchors.configurations.shape == (13, 4) == (sampler.total, 4)
    kinds, counts = np.unique(anchors.kinds, return_counts=True)
    assert dict(zip(kinds, counts, strict=True)) == {
        "truth": 1,
        "good": 2,
        "nearby": 3,
        "bad": 4,
        "current": 1,
        "row": 2,
    }
    np.testing.assert_array_equal(anchors.configurations[anchors.kinds == "truth"][0], np.ones(4))
    np.testing.assert_array_equal(anchors.configurations[anchors.kinds == "current"][0], hard)


def test_sampler_is_reproducible_from_the_generator_seed():
    sampler, hard, rows = AnchorSampler(), -np.ones(12), np.arange(12) // 4
    first = sampler(hard, rows, np.random.default_rng(5)).configurations
    again = sampler(hard, rows, np.random.default_rng(5)).configurations
    other = sampler(hard, rows, np.random.default_rng(6)).configurations
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_sampler_does_not_touch_the_global_rng():
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    AnchorSampler()(-np.ones(10), np.arange(10), np.random.default_rng(0))
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_truth_anchor_is_all_plus_one():
    np.testing.assert_array_equal(truth_anchors(3, 2), np.ones((2, 3)))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(truth=0, good=0, nearby=0, bad=0), ValueError, "K >= 1"),
        (dict(good=-1), ValueError, "good"),
        (dict(bad=2.5), TypeError, "bad"),
        (dict(row=True), TypeError, "row"),
    ],
)
def test_sampler_rejects_bad_counts(kwargs, error, match):
    with pytest.raises(error, match=match):
        AnchorSampler(**kwargs)
