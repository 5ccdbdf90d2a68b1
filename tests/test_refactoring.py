"""The refactoring is exact: h(sign(c(s))) == metric(s) == an independent oracle."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    roc_auc_score,
    top_k_accuracy_score,
)

from tests import oracles
from tests.strategies import (
    binary_batches,
    keypoint_batches,
    multiclass_batches,
    separated_scores,
)
from uniloss_ref.metrics import PCK, Accuracy, AveragePrecision, Refactoring, RocAuc


def refactored(metric, scores, targets):
    """h(sign(c(s))), built step by step from the refactoring.

    The tests compare it with ``metric.evaluate`` by ``==``: both apply the same formula to
    the same integer counts (no BLAS, no other summation order), so they agree bit for bit
    on every machine, and any difference is a wrong count.
    """
    refactoring = metric.refactor(scores.shape, targets)
    c = refactoring.comparisons(scores)
    return float(refactoring.h(c[None, :] > 0)[0])


def h_of(metric, configurations, targets, shape):
    return metric.refactor(shape, targets).h(configurations > 0)


@given(binary_batches(both_classes=True))
def test_average_precision_refactoring_equals_sklearn(batch):
    scores, labels = batch
    metric = AveragePrecision()
    expected = average_precision_score(labels, scores)
    assert metric.evaluate(scores, labels) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert refactored(metric, scores, labels) == metric.evaluate(scores, labels)


@given(binary_batches())
def test_interpolated_average_precision_refactoring_equals_voc_oracle(batch):
    scores, labels = batch
    metric = AveragePrecision(interpolated=True)
    expected = oracles.voc_average_precision(list(scores), list(labels))
    assert metric.evaluate(scores, labels) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert refactored(metric, scores, labels) == metric.evaluate(scores, labels)


@given(binary_batches(both_classes=True))
def test_roc_auc_refactoring_equals_sklearn(batch):
    scores, labels = batch
    metric = RocAuc()
    expected = roc_auc_score(labels, scores)
    assert metric.evaluate(scores, labels) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert refactored(metric, scores, labels) == metric.evaluate(scores, labels)


@given(multiclass_batches(), st.integers(1, 4))
def test_top_k_accuracy_refactoring_equals_sklearn(batch, k):
    scores, targets = batch
    metric = Accuracy(top_k=k)
    classes = scores.shape[1]
    if k == 1:
        expected = accuracy_score(targets, scores.argmax(axis=1))
    elif k >= classes:
        expected = 1.0
    else:
        expected = top_k_accuracy_score(targets, scores, k=k, labels=np.arange(classes))
    assert metric.evaluate(scores, targets) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert refactored(metric, scores, targets) == metric.evaluate(scores, targets)


@given(keypoint_batches(), st.sampled_from([0.2, 0.5, 1.0]))
def test_pck_refactoring_equals_oracle(batch, threshold):
    heatmaps, targets = batch
    metric = PCK(threshold=threshold)
    expected = oracles.pck(heatmaps, targets.xy, targets.visible, targets.scale, threshold)
    assert metric.evaluate(heatmaps, targets) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert refactored(metric, heatmaps, targets) == metric.evaluate(heatmaps, targets)


@given(binary_batches(scores=separated_scores), st.integers(0, 3))
def test_ties_count_as_not_achieved_in_evaluate_and_refactoring(batch, copies):
    # Tie some negatives with positives: both computations must count the tie the same way.
    scores, labels = batch
    scores = np.round(scores)  # the grid step 0.25 rounds onto integers: ties appear
    for metric in (AveragePrecision(), AveragePrecision(interpolated=True), RocAuc()):
        assert refactored(metric, scores, labels) == metric.evaluate(scores, labels)


def test_tied_positive_and_negative_is_pessimistic():
    scores, labels = np.array([1.0, 1.0]), np.array([1, 0])
    assert AveragePrecision().evaluate(scores, labels) == 0.5
    assert RocAuc().evaluate(scores, labels) == 0.0
    assert Accuracy().evaluate(np.array([[2.0, 2.0]]), np.array([0])) == 0.0


@st.composite
def small_configurations(draw):
    positives, negatives = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    bits = draw(
        st.lists(
            st.sampled_from([-1.0, 1.0]),
            min_size=positives * negatives,
            max_size=positives * negatives,
        )
    )
    return np.array(bits).reshape(positives, negatives)


@given(small_configurations())
def test_average_precision_realisability_matches_brute_force(config):
    positives, negatives = config.shape
    labels = np.array([1] * positives + [0] * negatives)
    expected = oracles.realisable_by_some_ranking(config.tolist(), positives, negatives)
    value = h_of(AveragePrecision(), config.reshape(1, -1), labels, labels.shape)[0]
    if not expected:
        assert value == 0.0  # the authors' choice for configurations no ranking produces
    else:
        # A realisable configuration has the AP of any ranking producing it, which is > 0.
        assert value > 0.0
        counts = h_of(
            AveragePrecision(unrealisable="counts"), config.reshape(1, -1), labels, labels.shape
        )
        assert counts[0] == value


def test_unrealisable_choices_differ_on_a_cycle():
    # p0 beats q0 but loses to q1; p1 beats q1 but loses to q0: a 4-cycle.
    config = np.array([[1.0, -1.0], [-1.0, 1.0]]).reshape(1, -1)
    labels = np.array([1, 1, 0, 0])
    assert h_of(AveragePrecision(), config, labels, (4,))[0] == 0.0
    counts = h_of(AveragePrecision(unrealisable="counts"), config, labels, (4,))[0]
    assert counts == pytest.approx((1 / 2 + 2 / 3) / 2, rel=1e-15)


@pytest.mark.parametrize(
    ("metric", "batches"),
    [
        (Accuracy(top_k=2), multiclass_batches()),
        (AveragePrecision(), binary_batches()),
        (PCK(threshold=0.5), keypoint_batches()),
    ],
    ids=repr,
)
def test_h_is_vectorised_over_configurations(metric, batches):
    @given(batches)
    def check(batch):
        scores, targets = batch
        refactoring = metric.refactor(scores.shape, targets)
        won = np.random.default_rng(0).random((5, refactoring.length)) < 0.5
        stacked = refactoring.h(won)
        one_by_one = [refactoring.h(row[None, :])[0] for row in won]
        np.testing.assert_array_equal(stacked, one_by_one)

    check()


def test_refactoring_rejects_pairs_outside_the_scores_and_bad_rows():
    h = lambda b: np.ones(len(b))
    with pytest.raises(ValueError, match="index the 3 scores"):
        Refactoring((3,), np.array([0, 3]), np.array([1, 1]), h)
    with pytest.raises(ValueError, match="row_starts"):
        Refactoring((3,), np.array([0, 2]), np.array([1, 1]), h, np.array([0, 2, 1]))
    with pytest.raises(ValueError, match="int arrays"):
        Refactoring((3,), np.array([0.0]), np.array([1]), h)
    with pytest.raises(ValueError, match="3 scores and 1 constants"):
        Refactoring((3,), np.array([0, 4]), np.array([3, 3]), h, constants=np.array([0.5]))
    with pytest.raises(ValueError, match="constants must be finite"):
        Refactoring((3,), np.array([0]), np.array([3]), h, constants=np.array([np.inf]))


def test_a_pair_may_compare_a_score_with_a_constant():
    # z = (s, t): index 3 is t = 0.5, index 4 is -1.0.
    refactoring = Refactoring(
        (3,), np.array([0, 3, 2]), np.array([3, 1, 4]), lambda b: b.mean(axis=1),
        constants=np.array([0.5, -1.0]),
    )
    c = refactoring.comparisons(np.array([2.0, 0.25, -3.0]))
    np.testing.assert_array_equal(c, [1.5, 0.25, -2.0])  # differences of short binary fractions
