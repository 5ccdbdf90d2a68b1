"""Anchor sampling: each kind is what the paper says, stored exactly, and randomness is explicit."""

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests import oracles
from tests.strategies import binary_batches, keypoint_batches, multiclass_batches
from uniloss_ref.anchor_sets import DenseAnchors, anchor_set
from uniloss_ref.anchors import KINDS, AnchorSampler
from uniloss_ref.metrics import PCK, Accuracy, AveragePrecision, Refactoring, RocAuc

comparisons = st.integers(1, 30).flatmap(
    lambda n: arrays(np.float64, n, elements=st.sampled_from([-1.5, -0.5, 0.0, 0.5, 1.5]))
)


def refactoring_of(c, row_size=3):
    """A refactoring of ``l = c.size`` comparisons in rows of ``row_size``."""
    length = c.size
    starts = np.unique(np.r_[np.arange(0, length, row_size), length])
    index = np.arange(length)
    return Refactoring((length + 1,), index, index + 1, lambda b: np.ones(len(b)), starts)


def draw(c, seed, **counts):
    counts = {kind: 0 for kind in KINDS} | counts
    anchors = AnchorSampler(**counts)(c, refactoring_of(c), np.random.default_rng(seed))
    return anchors.configurations, np.where(c > 0, 1.0, -1.0)


@given(comparisons, st.integers(0, 2**32 - 1))
def test_good_anchors_differ_from_truth_in_exactly_one_bit(c, seed):
    a, _ = draw(c, seed, good=5)
    np.testing.assert_array_equal((a < 0).sum(axis=1), np.ones(5))


@given(comparisons, st.integers(0, 2**32 - 1))
def test_nearby_anchors_set_one_wrong_bit_right(c, seed):
    a, hard = draw(c, seed, nearby=7)
    if (hard > 0).all():  # nothing is wrong: good anchors instead
        np.testing.assert_array_equal((a < 0).sum(axis=1), np.ones(7))
        return
    changed = a != hard
    np.testing.assert_array_equal(changed.sum(axis=1), np.ones(7))
    assert (hard[changed.argmax(axis=1)] == -1).all()
    assert (a[changed] == 1).all()


@given(comparisons, st.integers(0, 2**32 - 1))
def test_row_anchors_set_exactly_one_whole_row_right(c, seed):
    a, hard = draw(c, seed, row=5)
    rows = np.arange(c.size) // 3
    for anchor in a:
        assert ((anchor == hard) | (anchor == 1)).all()  # only wrong bits change
        changed = np.unique(rows[anchor != hard])
        assert changed.size <= 1
        assert any((anchor[rows == r] == 1).all() for r in np.unique(rows))


@given(comparisons, st.integers(0, 2**32 - 1))
def test_truth_and_current_anchors_are_the_truth_and_sign_c(c, seed):
    a, hard = draw(c, seed, truth=2, current=3)
    np.testing.assert_array_equal(a, np.vstack([np.ones((2, c.size)), np.tile(hard, (3, 1))]))


def test_bad_anchors_are_uniform_signs():
    a, _ = draw(np.zeros(1000), 0, bad=20)
    assert set(np.unique(a)) == {-1.0, 1.0}
    assert abs(a.mean()) < 0.02  # 20000 fair signs: 4.5 standard deviations


@given(comparisons, st.integers(0, 2**32 - 1))
def test_written_out_anchors_match_any_selection_of_them(c, seed):
    sampler = AnchorSampler(truth=1, good=2, nearby=3, bad=2, current=1, row=3)
    anchors = sampler(c, refactoring_of(c), np.random.default_rng(seed))
    everything = anchors.written_out()
    pick = np.random.default_rng(seed).random(len(anchors)) < 0.5
    np.testing.assert_array_equal(anchors.written_out(pick), everything[pick])
    np.testing.assert_array_equal(anchors.written_out(slice(2, 5)), everything[2:5])
    counting = Refactoring((c.size + 1,), np.arange(c.size), np.arange(c.size) + 1,
                           h=lambda won: won.sum(axis=1) * 1.0)  # fmt: skip
    np.testing.assert_array_equal(anchors.values(counting), everything.sum(axis=1))


def test_sampler_counts_and_kinds():
    sampler = AnchorSampler(truth=1, good=2, nearby=3, bad=4, current=1, row=2)
    c = np.array([1.0, -1.0, -1.0, 1.0])
    anchors = sampler(c, refactoring_of(c, 2), np.random.default_rng(0))
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


def test_no_comparisons_give_empty_anchors_of_every_kind():
    c = np.zeros(0)
    anchors = AnchorSampler(current=1, row=2)(c, refactoring_of(c), np.random.default_rng(0))
    assert anchors.configurations.shape == (52, 0)


def test_sampler_is_reproducible_from_the_generator_seed():
    c = -np.ones(12)
    first, _ = draw(c, 5, good=3, nearby=3, bad=3, row=3)
    again, _ = draw(c, 5, good=3, nearby=3, bad=3, row=3)
    other, _ = draw(c, 6, good=3, nearby=3, bad=3, row=3)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_sampler_does_not_touch_the_global_rng():
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    draw(-np.ones(10), 0, good=3, nearby=3, bad=3, row=3)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_anchors_written_out_round_trip():
    a = np.array([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]])
    anchors = anchor_set(a, 3)
    np.testing.assert_array_equal(anchors.configurations, a)
    assert list(anchors.kinds) == ["given", "given"]


@given(comparisons, st.integers(0, 2**32 - 1))
def test_both_representations_give_the_same_distances_and_values(c, seed):
    # Stored as bases and flips, or written out: the same anchors answer the same.
    sampler = AnchorSampler(truth=1, good=3, nearby=3, bad=2, current=1, row=2)
    anchors = sampler(c, refactoring_of(c), np.random.default_rng(seed))
    dense = DenseAnchors(anchors.written_out(), anchors.kinds)
    b = np.tanh(c)
    np.testing.assert_allclose(
        anchors.squared_distances(b), dense.squared_distances(b), rtol=1e-12, atol=0
    )
    counting = Refactoring((c.size + 1,), np.arange(c.size), np.arange(c.size) + 1,
                           h=lambda won: np.cumsum(won, axis=1)[:, -1] / c.size)  # fmt: skip
    np.testing.assert_array_equal(anchors.values(counting), dense.values(counting))


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


@pytest.mark.parametrize(
    ("metric", "batches"),
    [
        (Accuracy(top_k=2), multiclass_batches()),
        (RocAuc(), binary_batches()),
        (AveragePrecision(unrealisable="counts"), binary_batches()),
        (AveragePrecision(), binary_batches()),
        (AveragePrecision(interpolated=True), binary_batches()),
        (PCK(threshold=0.6), keypoint_batches()),
    ],
    ids=repr,
)
def test_values_from_counts_equal_h_on_the_anchors_written_out(metric, batches):
    # The row (and column) counts of an anchor come from its base's counts and its flips,
    # without writing it out; they must give exactly what h gives on the written-out anchor.
    @given(batches, st.integers(0, 2**32 - 1))
    def check(batch, seed):
        scores, targets = batch
        refactoring = metric.refactor(scores.shape, targets)
        c = refactoring.comparisons(scores)
        anchors = AnchorSampler(current=1, row=5)(c, refactoring, np.random.default_rng(seed))
        assert refactoring.h_rows is not None
        won = anchors.written_out()
        np.testing.assert_array_equal(anchors.values(refactoring), refactoring.h(won))
        counts = anchors.lost_counts(refactoring)
        rows = [[(~a[s:e]).sum() for s, e in pairwise(refactoring.row_starts)] for a in won]
        np.testing.assert_array_equal(counts[0].reshape(len(won), -1), rows)
        if refactoring.row_length:  # AP: the positives below each negative
            grid = (~won).reshape(len(won), -1, refactoring.row_length)
            np.testing.assert_array_equal(counts[1], grid.sum(axis=1))

    check()


@given(binary_batches(both_classes=True, max_n=7), st.integers(0, 2**32 - 1))
def test_margin_nearby_anchors_of_ap_are_always_rankings(batch, seed):
    # The margin rule moves one positive up past the negative just above it: the result is
    # a configuration some ranking produces, so AP does not score it 0 as unrealisable.
    # Unless rounding ties two comparisons of a row whose negatives differ (-1 - 2e-313 and
    # -1 + 2e-65 are both -1): then no rule that sees only c can tell which is just above.
    scores, labels = batch
    negatives_seen = scores[labels == 0]
    for positive in scores[labels == 1]:
        assume(np.unique(positive - negatives_seen).size == np.unique(negatives_seen).size)
    refactoring = AveragePrecision().refactor(scores.shape, labels)
    c = refactoring.comparisons(scores)
    counts = {kind: 0 for kind in KINDS} | {"nearby": 8}
    sampler = AnchorSampler(**counts, nearby_rule="margin")
    anchors = sampler(c, refactoring, np.random.default_rng(seed))
    positives, negatives = int(labels.sum()), int((1 - labels).sum())
    for anchor in anchors.configurations:
        config = anchor.reshape(positives, negatives).tolist()
        assert oracles.realisable_by_some_ranking(config, positives, negatives)
    if (c <= 0).any():  # each flips the wrong comparison of its row that is nearest zero
        changed = np.flatnonzero(anchors.configurations[0] != np.where(c > 0, 1.0, -1.0))
        assert changed.size == 1
        row = changed[0] // negatives
        in_row = c[row * negatives : (row + 1) * negatives]
        assert c[changed[0]] == in_row[in_row <= 0].max()


def test_nearby_rule_is_checked():
    with pytest.raises(ValueError, match="nearby_rule"):
        AnchorSampler(nearby_rule="closest")
