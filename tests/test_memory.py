"""ScoreMemory: earlier batches' scores as constant comparison partners of the batch."""

import autograd
import numpy as np
import pytest
from autograd.test_util import check_grads
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from tests.strategies import binary_batches, separated_scores
from uniloss_ref import AnchorSampler, UniLoss, surrogate
from uniloss_ref.memory import ScoreMemory
from uniloss_ref.metrics import Accuracy, AveragePrecision


def _ap(scores, labels):
    """scikit-learn's AP, 1 for a batch with one class (the package's convention)."""
    if labels.min() == labels.max():
        return 1.0
    return average_precision_score(labels, scores)


@settings(max_examples=40)
@given(binary_batches(min_n=2, max_n=24, scores=separated_scores), st.data())
def test_surrogate_of_the_extended_batch_is_exact_at_the_current_anchor(batch, data):
    """At a tiny tau, b~ = sign(c) is the current anchor, where h~ is the metric exactly: the
    loss is 1 - AP of the batch and the remembered samples together."""
    scores, labels = batch
    m = data.draw(st.integers(1, len(scores) - 1))
    loss = UniLoss(AveragePrecision(), temperature=1e-3, sampler=AnchorSampler(current=1), seed=0)
    memory = ScoreMemory(loss, size=64)
    memory.remember(scores[:m], labels[:m])
    value = memory(scores[m:], labels[m:])
    expected = 1.0 - _ap(np.r_[scores[m:], scores[:m]], np.r_[labels[m:], labels[:m]])
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


def _fixed_anchor_loss(length, standardise, seed=0):
    anchors = np.where(np.random.default_rng(seed).random((7, length)) < 0.5, -1.0, 1.0)
    anchors[0] = 1.0  # the truth

    def loss(scores, labels):
        return 1.0 - surrogate(
            scores, labels, AveragePrecision(), anchors, temperature=0.7, standardise=standardise
        )

    return loss


@pytest.mark.parametrize("standardise", [False, True])
def test_gradient_of_the_extended_batch_matches_finite_differences(standardise):
    rng = np.random.default_rng(1)
    remembered, remembered_labels = rng.standard_normal(9), np.array([1, 0, 0, 1, 0, 0, 0, 0, 1])
    scores, labels = rng.standard_normal(6), np.array([0, 1, 0, 0, 1, 0])
    positives = remembered_labels.sum() + labels.sum()
    length = positives * (15 - positives)
    memory = ScoreMemory(_fixed_anchor_loss(length, standardise), size=9)
    memory.remember(remembered, remembered_labels)
    with memory.frozen():
        check_grads(lambda s: memory(s, labels), modes=["rev"], order=1)(scores)
    assert len(memory) == 9 and np.array_equal(memory.scores, remembered)


def test_remembered_entries_receive_no_gradient_and_are_stored_detached():
    rng = np.random.default_rng(2)
    remembered, remembered_labels = rng.standard_normal(5), np.array([0, 1, 0, 0, 0])
    scores, labels = rng.standard_normal(4), np.array([1, 0, 0, 1])
    loss = _fixed_anchor_loss(3 * 6, standardise=True)  # 3 positives, 6 negatives
    memory = ScoreMemory(loss, size=8)
    memory.remember(remembered, remembered_labels)
    extended = np.r_[scores, remembered]
    whole = autograd.grad(loss)(extended, np.r_[labels, remembered_labels])
    assert np.abs(whole[4:]).max() > 0  # the remembered samples take part in the loss...
    gradient = autograd.grad(memory)(scores, labels)
    # ...but the gradient of the batch's loss is the batch's part only
    np.testing.assert_allclose(gradient, whole[:4], rtol=1e-13, atol=1e-15)
    assert type(memory.scores) is np.ndarray and memory.scores.dtype == np.float64
    # the batch went in, detached: stored as it came, no arithmetic, so equal on any machine
    np.testing.assert_array_equal(memory.scores[:4], scores)


def test_memory_keeps_the_most_recent_samples_and_never_more_than_its_size():
    memory = ScoreMemory(lambda s, y: np.sum(s), size=10)
    batches = [(np.arange(4.0) + 10 * k, np.array([k % 2] * 4)) for k in range(5)]
    for k, (scores, labels) in enumerate(batches):
        memory(scores, labels)
        assert len(memory) == min(4 * (k + 1), 10)
    expected = np.r_[batches[4][0], batches[3][0], batches[2][0][:2]]
    np.testing.assert_array_equal(memory.scores, expected)  # copies, not sums: exact anywhere
    np.testing.assert_array_equal(memory.targets, [0] * 4 + [1] * 4 + [0] * 2)
    with memory.frozen():
        memory(np.zeros(4), np.ones(4, dtype=int))
    np.testing.assert_array_equal(memory.scores, expected)
    memory.clear()
    assert len(memory) == 0 and memory.scores is None


def test_an_empty_memory_or_size_zero_leaves_the_loss_unchanged():
    scores, labels = np.array([0.3, -1.2, 0.8, 0.1]), np.array([1, 0, 0, 1])
    plain = UniLoss(AveragePrecision(), seed=3)(scores, labels)
    first = ScoreMemory(UniLoss(AveragePrecision(), seed=3), size=16)
    assert first(scores, labels) == plain
    none = ScoreMemory(UniLoss(AveragePrecision(), seed=3), size=0)
    assert none(scores, labels) == plain and none(scores, labels) is not None
    assert len(none) == 0


def test_accuracy_batches_extend_along_the_sample_axis():
    rng = np.random.default_rng(4)
    loss = UniLoss(Accuracy(), temperature=1e-3, sampler=AnchorSampler(current=1), seed=0)
    memory = ScoreMemory(loss, size=3)
    remembered = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 1.0], [1.0, 0.0, 4.0]])
    memory.remember(remembered, np.array([0, 0, 2]))  # right, wrong, right
    scores = rng.permutation(6).reshape(2, 3).astype(float)
    targets = np.argmax(scores, axis=1)  # both right
    assert memory(scores, targets) == pytest.approx(1.0 - 4 / 5, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: ScoreMemory(lambda s, y: 0.0, size=-1), ValueError, "size"),
        (lambda: ScoreMemory(lambda s, y: 0.0, size=2.5), TypeError, "size"),
        (lambda: ScoreMemory("loss", size=4), TypeError, "loss must be callable"),
    ],
)
def test_bad_arguments_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_batches_that_do_not_fit_the_memory_are_refused():
    memory = ScoreMemory(lambda s, y: 0.0, size=4)
    memory(np.zeros(3), np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="like the ones remembered"):
        memory(np.zeros((3, 2)), np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="one label per sample"):
        memory(np.zeros(3), np.array([0, 1]))
    with pytest.raises(TypeError, match="array of labels"):
        memory(np.zeros(3), object())


def test_a_memory_of_one_label_remembers_only_those_samples():
    memory = ScoreMemory(lambda s, y: 0.0, size=5, labels=(0,))
    memory(np.array([0.1, 0.9, 0.2, 0.8]), np.array([0, 1, 0, 1]))
    memory(np.array([0.3, 0.7, 0.4, 0.5]), np.array([0, 1, 0, 0]))
    np.testing.assert_array_equal(memory.scores, [0.3, 0.4, 0.5, 0.1, 0.2])
    np.testing.assert_array_equal(memory.targets, [0, 0, 0, 0, 0])
    assert "labels=[0]" in repr(memory)


def test_remembering_the_negatives_only_adds_no_constant_comparison():
    """AP's pairs are (positive, negative): with negatives alone remembered, every pair of
    the extended batch holds a sample of the batch."""
    scores, labels = np.array([0.3, -1.2, 0.8, 0.1]), np.array([1, 0, 0, 1])
    memory = ScoreMemory(lambda s, y: 0.0, size=8, labels=(0,))
    memory.remember(np.array([0.5, 0.2, -0.3]), np.array([0, 1, 0]))
    extended, targets = memory.extend(scores, labels)
    refactoring = AveragePrecision().refactor(extended.shape, targets)
    batch = np.arange(len(extended)) < len(scores)
    assert np.all(batch[refactoring.i] | batch[refactoring.j])
    assert refactoring.length == 2 * (2 + 2)  # 2 positives, 2 + 2 negatives


def test_a_standardising_memory_is_blind_to_shifts_and_scales_of_the_outputs():
    """Stale raw scores can be beaten by moving every new score up; z-scores cannot."""
    rng = np.random.default_rng(5)
    first, second = rng.standard_normal(8), rng.standard_normal(8)
    labels = np.array([1, 0, 0, 0, 1, 0, 0, 0])
    values = []
    for shift, scale in ((0.0, 1.0), (5.0, 3.0)):
        loss = UniLoss(AveragePrecision(), temperature=0.5, seed=0)
        memory = ScoreMemory(loss, size=16, labels=(0,), standardise=True)
        memory(first, labels)
        values.append(memory(scale * second + shift, labels))
        z = (second - second.mean()) / second.std()
        np.testing.assert_allclose(memory.scores[:6], z[labels == 0], rtol=1e-12, atol=1e-12)
    assert values[0] == pytest.approx(values[1], rel=1e-12, abs=1e-12)
    raw = ScoreMemory(UniLoss(AveragePrecision(), temperature=0.5, seed=0), 16, labels=(0,))
    raw(first, labels)
    assert raw(second + 5.0, labels) < values[0]  # a shift alone wins the raw comparisons
    memory = ScoreMemory(_fixed_anchor_loss(4 * 12, False), 8, standardise=True)
    memory.remember(first, labels)  # 2 positives and 6 negatives, z-scored
    with memory.frozen():
        check_grads(lambda s: memory(s, labels), modes=["rev"], order=1)(second)
