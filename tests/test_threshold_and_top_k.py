"""F-score, precision and recall at a threshold, precision and recall at k: each refactoring
equals its direct ``evaluate`` and an independent oracle (scikit-learn, or sorting and
brute force in ``tests/oracles.py``) on every input, ties and degenerate batches included,
and ``h`` is right at every configuration of small batches.

``evaluate`` and ``h`` apply the same formula to the same integer counts, so they are
compared with ``==``; the oracles compute the value another way and are compared to 1e-12.
"""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn.metrics import f1_score, fbeta_score, precision_score, recall_score

from tests import oracles
from tests.strategies import binary_batches, separated_scores, thresholds
from uniloss_ref import plain
from uniloss_ref.metrics import FScore, Precision, PrecisionAtK, Recall, RecallAtK

APPROX = {"rel": 1e-12, "abs": 1e-12}


def refactored(metric, scores, labels):
    """``h(sign(c(s)))``, from the refactoring's comparisons."""
    refactoring = metric.refactor(scores.shape, labels)
    return float(refactoring.h(refactoring.comparisons(scores)[None, :] > 0)[0])


def threshold_metrics(threshold):
    return [
        FScore(threshold=threshold),
        FScore(beta=0.5, threshold=threshold),
        FScore(beta=2.0, threshold=threshold),
        Precision(threshold),
        Recall(threshold),
    ]


def sklearn_value(metric, labels, predicted):
    """scikit-learn's value of ``metric`` with zero_division=1 on 0/1 predictions."""
    if isinstance(metric, Precision):
        return precision_score(labels, predicted, zero_division=1)
    if isinstance(metric, Recall):
        return recall_score(labels, predicted, zero_division=1)
    if metric.beta == 1.0:
        return f1_score(labels, predicted, zero_division=1)
    return fbeta_score(labels, predicted, beta=metric.beta, zero_division=1)


def oracle_value(metric, tp, fp, fn):
    """The metric from the counts, by the textbook formulas (tests/oracles.py)."""
    if isinstance(metric, Precision):
        return tp / (tp + fp) if tp + fp else 1.0
    if isinstance(metric, Recall):
        return tp / (tp + fn) if tp + fn else 1.0
    return oracles.f_score(tp, fp, fn, metric.beta)


# --- at a threshold ----------------------------------------------------------------------


@given(binary_batches(), thresholds)
def test_threshold_metrics_equal_sklearn_on_tie_free_scores(batch, threshold):
    scores, labels = batch
    if (scores == threshold).any():  # scikit-learn has no tie rule to compare with
        scores = np.where(scores == threshold, threshold + 1.0, scores)
    for metric in threshold_metrics(threshold):
        value = metric.evaluate(scores, labels)
        expected = sklearn_value(metric, labels, (scores > threshold).astype(int))
        assert value == pytest.approx(expected, **APPROX), metric
        assert refactored(metric, scores, labels) == value


@given(binary_batches(scores=separated_scores), st.sampled_from([-1.0, -0.5, 0.0, 0.25, 1.0]))
def test_a_score_on_the_threshold_counts_against_its_sample(batch, threshold):
    # Scores on a grid of 0.25 with the threshold on it: ties with t appear often.
    scores, labels = batch
    tp, fp, fn = oracles.confusion_counts(scores, labels, threshold)
    pessimistic = np.where(labels == 1, scores > threshold, scores >= threshold).astype(int)
    for metric in threshold_metrics(threshold):
        value = metric.evaluate(scores, labels)
        assert value == pytest.approx(oracle_value(metric, tp, fp, fn), **APPROX), metric
        assert value == pytest.approx(sklearn_value(metric, labels, pessimistic), **APPROX)
        assert refactored(metric, scores, labels) == value


@st.composite
def small_labelled(draw):
    n = draw(st.integers(1, 6))
    return np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))


@given(small_labelled(), thresholds)
def test_threshold_h_is_the_metric_at_every_configuration(labels, threshold):
    for metric in threshold_metrics(threshold):
        refactoring = metric.refactor(labels.shape, labels)
        compared = labels if isinstance(metric, Recall) else np.ones_like(labels)
        every = np.array(list(itertools.product([-1.0, 1.0], repeat=refactoring.length)))
        values = refactoring.h(every > 0)
        for configuration, value in zip(every, values, strict=True):
            full = np.ones(labels.size)  # a negative recall ignores: predicted negative
            full[compared == 1] = configuration
            scores = oracles.scores_with_predictions(full, labels, threshold)
            expected = sklearn_value(metric, labels, (np.array(scores) > threshold).astype(int))
            assert value == pytest.approx(expected, **APPROX), (metric, configuration)


def test_threshold_pairs_compare_each_sample_with_the_threshold_in_sample_order():
    labels = np.array([0, 1, 1, 0, 1])
    refactoring = FScore(threshold=0.5).refactor((5,), labels)
    np.testing.assert_array_equal(refactoring.i, [5, 1, 2, 5, 4])
    np.testing.assert_array_equal(refactoring.j, [0, 5, 5, 3, 5])
    np.testing.assert_array_equal(refactoring.constants, [0.5])
    scores = np.array([0.2, 0.9, 0.1, 0.7, 0.5])
    np.testing.assert_allclose(
        refactoring.comparisons(scores), [0.3, 0.4, -0.4, -0.2, 0.0], rtol=0, atol=1e-15
    )
    recall = Recall(threshold=0.5).refactor((5,), labels)
    np.testing.assert_array_equal(recall.i, [1, 2, 4])
    np.testing.assert_array_equal(recall.j, [5, 5, 5])


@pytest.mark.parametrize(
    ("scores", "labels", "f1", "precision", "recall"),
    [
        ([-1.0, -2.0], [0, 0], 1.0, 1.0, 1.0),  # nothing to find, nothing found
        ([1.0, -2.0], [0, 0], 0.0, 0.0, 1.0),  # no positive, one false positive
        ([0.0, -2.0], [0, 0], 0.0, 0.0, 1.0),  # a negative on the threshold is predicted
        ([-1.0, -2.0], [1, 0], 0.0, 1.0, 0.0),  # nothing predicted positive
        ([0.0, -2.0], [1, 0], 0.0, 1.0, 0.0),  # a positive on the threshold is missed
        ([1.0, 2.0], [1, 1], 1.0, 1.0, 1.0),  # only positives, all found
        ([1.0], [1], 1.0, 1.0, 1.0),
        ([-1.0], [0], 1.0, 1.0, 1.0),
    ],
)
def test_degenerate_threshold_batches_have_their_documented_values(
    scores, labels, f1, precision, recall
):
    scores, labels = np.array(scores), np.array(labels)
    predicted = np.where(labels == 1, scores > 0, scores >= 0).astype(int)  # ties lose
    for metric, expected in ((FScore(), f1), (Precision(), precision), (Recall(), recall)):
        assert metric.evaluate(scores, labels) == expected
        assert refactored(metric, scores, labels) == expected
        assert sklearn_value(metric, labels, predicted) == expected


# --- at k --------------------------------------------------------------------------------

ks = st.integers(1, 20)


@given(binary_batches(), ks)
def test_precision_and_recall_at_k_equal_sorting(batch, k):
    scores, labels = batch
    for metric, oracle in ((PrecisionAtK(k), oracles.precision_at_k),
                           (RecallAtK(k), oracles.recall_at_k)):  # fmt: skip
        value = metric.evaluate(scores, labels)
        assert value == pytest.approx(oracle(list(scores), list(labels), k), **APPROX)
        assert refactored(metric, scores, labels) == value


@given(binary_batches(scores=separated_scores), ks)
def test_at_k_a_negative_tied_with_a_positive_ranks_above_it(batch, k):
    scores, labels = batch
    scores = np.round(scores)  # the grid of 0.25 rounded onto integers: many ties
    for metric, oracle in ((PrecisionAtK(k), oracles.precision_at_k),
                           (RecallAtK(k), oracles.recall_at_k)):  # fmt: skip
        value = metric.evaluate(scores, labels)
        assert value == pytest.approx(oracle(list(scores), list(labels), k), **APPROX)
        assert refactored(metric, scores, labels) == value


@pytest.mark.parametrize(("positives", "negatives"), [(1, 1), (1, 3), (2, 2), (3, 2), (2, 3)])
def test_at_k_h_is_the_metric_at_every_configuration(positives, negatives):
    # Realisable configurations: the metric of an ordering that produces them (found by
    # trying every ordering). The others: the metric of the ranking with the same counts.
    labels = [1] * positives + [0] * negatives
    n = positives + negatives
    for k in range(1, n + 2):
        for metric, oracle in ((PrecisionAtK(k), oracles.precision_at_k),
                               (RecallAtK(k), oracles.recall_at_k)):  # fmt: skip
            refactoring = metric.refactor((n,), np.array(labels))
            every = np.array(list(itertools.product([-1.0, 1.0], repeat=refactoring.length)))
            for configuration, value in zip(every, refactoring.h(every > 0), strict=True):
                rows = configuration.reshape(positives, negatives)
                scores = oracles.ranking_producing(rows.tolist(), positives, negatives)
                if scores is None:
                    counts = (rows < 0).sum(axis=1).tolist()
                    scores = oracles.ranking_with_counts(counts, negatives)
                assert value == pytest.approx(oracle(scores, labels, k), **APPROX)


@pytest.mark.parametrize(
    ("scores", "labels", "k", "precision", "recall"),
    [
        ([0.3, 0.1, 0.2], [1, 0, 0], 3, 1 / 3, 1.0),  # k = n: the whole batch
        ([0.3, 0.1, 0.2], [1, 0, 1], 7, 2 / 3, 1.0),  # k > n: still the whole batch, P / n
        ([0.3, 0.1, 0.2], [0, 0, 0], 2, 0.0, 1.0),  # no positive
        ([0.3, 0.1, 0.2], [1, 1, 1], 2, 1.0, 2 / 3),  # no negative
        ([0.5, 0.5, 0.1], [1, 0, 1], 1, 0.0, 0.0),  # the tied negative goes first
        ([0.5, 0.5, 0.1], [1, 0, 1], 2, 0.5, 0.5),
        ([0.5, 0.5, 0.5], [1, 1, 0], 2, 0.5, 0.5),
    ],
)
def test_degenerate_and_tied_batches_at_k_have_their_documented_values(
    scores, labels, k, precision, recall
):
    scores, labels = np.array(scores), np.array(labels)
    for metric, expected in ((PrecisionAtK(k), precision), (RecallAtK(k), recall)):
        assert metric.evaluate(scores, labels) == pytest.approx(expected, rel=1e-15)
        assert refactored(metric, scores, labels) == metric.evaluate(scores, labels)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: FScore(beta=0.0), ValueError, "beta"),
        (lambda: FScore(beta="1"), TypeError, "beta"),
        (lambda: FScore(threshold=float("nan")), ValueError, "threshold"),
        (lambda: Precision(threshold=True), TypeError, "threshold"),
        (lambda: PrecisionAtK(0), ValueError, "k must"),
        (lambda: RecallAtK(2.0), TypeError, "k must"),
        (lambda: FScore().evaluate(np.zeros(3), np.array([0, 2, 1])), ValueError, "0 and 1"),
        (lambda: PrecisionAtK(1).refactor((3,), np.array([0, 1])), ValueError, "shape"),
    ],
)
def test_bad_parameters_and_labels_are_refused_with_a_clear_error(make, error, match):
    with pytest.raises(error, match=match):
        make()


@given(binary_batches(min_n=2), st.integers(0, 15))
def test_standardising_keeps_a_score_on_the_threshold_tied(batch, pick):
    # t / sd(s) is computed as the scores are (over max|s|, then over the spread), so a
    # score equal to t stays equal to it bit for bit, in the package and in plain.py alike.
    scores, labels = batch
    m = pick % scores.size
    gaps = np.abs(scores - scores[m])
    assume((gaps[gaps > 0] > 1e-300 * np.abs(scores).max()).all())  # s / max|s| underflows
    metric = FScore(threshold=float(scores[m]))
    refactoring = metric.refactor(scores.shape, labels)
    for c in (refactoring.comparisons(scores, standardise=True),
              plain.comparisons(scores, refactoring, standardise=True)):  # fmt: skip
        assert c[m] == 0.0
        assert refactoring.batch_metric(c) == metric.evaluate(scores, labels)
