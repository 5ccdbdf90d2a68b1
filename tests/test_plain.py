"""The plain statement of the method (uniloss_ref.plain) and the fast path agree.

:mod:`uniloss_ref.plain` writes every anchor out and computes each step as its formula reads;
:class:`uniloss_ref.UniLoss` stores anchors as bases and flips, values them from counts and
sums distances per base. At the same seed both draw the same anchors, bit for bit, and give
the same loss and gradient up to rounding: the loss to 1e-12 absolute (it lies in [0, 1]),
the gradient to 1e-9 of its largest entry (plus 1e-13 for gradients that are zero up to
rounding). Measured over thousands of random cases the differences stay below 1e-15 and
1e-13; a 0.1% error in any step is ten thousand times the tolerance.
"""

import autograd
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import binary_batches, keypoint_batches, multiclass_batches
from uniloss_ref import AnchorSampler, UniLoss, plain
from uniloss_ref.anchors import KINDS
from uniloss_ref.conformance import verify
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

METRICS = {
    "ap": (AveragePrecision(), binary_batches(max_n=12)),
    "ap-voc": (AveragePrecision(interpolated=True), binary_batches(max_n=12)),
    "ap-counts": (AveragePrecision(unrealisable="counts"), binary_batches(max_n=12)),
    "roc-auc": (RocAuc(), binary_batches(max_n=12)),
    "accuracy": (Accuracy(), multiclass_batches(max_n=6, max_classes=5)),
    "accuracy-top2": (Accuracy(top_k=2), multiclass_batches(max_n=6, max_classes=5)),
    "pck": (PCK(threshold=0.7), keypoint_batches()),
    "pck-wide": (PCK(threshold=1.6), keypoint_batches()),
    # Thresholds within the scores' range (|s| up to 1e3) and at 0, which "equal" scores
    # (0.7) and "negative" ones all sit on one side of.
    "f1": (FScore(), binary_batches(max_n=12)),
    "f2": (FScore(beta=2.0, threshold=40.0), binary_batches(max_n=12)),
    "precision": (Precision(threshold=-0.5), binary_batches(max_n=12)),
    "recall": (Recall(threshold=0.5), binary_batches(max_n=12)),
    "precision@3": (PrecisionAtK(3), binary_batches(max_n=12)),
    "recall@5": (RecallAtK(5), binary_batches(max_n=12)),
}

samplers = st.fixed_dictionaries(
    {kind: st.integers(0, 5) for kind in KINDS},
    optional={"nearby_rule": st.sampled_from(["random", "margin"])},
).filter(lambda counts: sum(v for k, v in counts.items() if k in KINDS) > 0)

settings = st.fixed_dictionaries(
    {
        "temperature": st.sampled_from([0.1, 0.5, 1.0, 3.0, 10.0]),
        "power": st.sampled_from([0.5, 1.0, 2.0, 8.0, 30.0]),
        "standardise": st.booleans(),
    }
)

# Scores as drawn (|s| up to 1e3), shrunk to order 1, blown up so that b~ saturates onto
# or next to an anchor (1e6), of extreme magnitudes, all negative, or all equal.
rescalings = st.sampled_from(["as drawn", "unit", "1e6", "1e-200", "1e200", "negative", "equal"])


def rescaled(scores, how):
    unit = scores / max(np.abs(scores).max(), 1e-300)
    return {
        "as drawn": scores,
        "unit": unit,
        "1e6": 1e6 * unit,
        "1e-200": 1e-200 * unit,
        "1e200": 1e200 * unit,
        "negative": -np.abs(unit) - 2.0,
        "equal": np.full_like(scores, 0.7),
    }[how]


def assert_same(fast, slow):
    (value, gradient), (plain_value, plain_gradient) = fast, slow
    assert abs(value - plain_value) <= 1e-12
    scale = np.abs(plain_gradient).max()
    np.testing.assert_allclose(gradient, plain_gradient, rtol=0, atol=1e-9 * scale + 1e-13)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_fast_path_equals_the_plain_statement(name):
    metric, batches = METRICS[name]

    @given(batches, samplers, settings, rescalings, st.integers(0, 2**32 - 1))
    def check(batch, counts, options, how, seed):
        scores, targets = batch
        scores = rescaled(scores, how)
        loss = UniLoss(metric, sampler=AnchorSampler(**counts), seed=seed, **options)
        fast = autograd.value_and_grad(loss)(scores, targets)

        def plain_loss(s):
            rng = np.random.default_rng(seed)
            return plain.loss(s, targets, metric, rng, sampler=counts, **options)

        assert_same(fast, autograd.value_and_grad(plain_loss)(scores))

    check()


@pytest.mark.parametrize("name", sorted(METRICS))
def test_both_draw_the_same_anchors_from_the_same_seed(name):
    metric, batches = METRICS[name]

    @given(batches, samplers, st.booleans(), st.integers(0, 2**32 - 1))
    def check(batch, counts, standardise, seed):
        scores, targets = batch
        loss = UniLoss(metric, sampler=AnchorSampler(**counts), seed=seed, standardise=standardise)
        fast = loss.draw_anchors(scores, targets).configurations
        refactoring = metric.refactor(scores.shape, targets)
        c = plain.comparisons(scores, refactoring, standardise)
        rng = np.random.default_rng(seed)
        dense = plain.draw_anchors(c, refactoring.row_starts, rng, **counts)
        np.testing.assert_array_equal(fast, dense)  # integers +-1: exact on any machine

    check()


def test_default_anchors_are_the_metrics_in_both():
    # PCK asks for 16 row anchors; neither path may drop them when no sampler is given.
    metric = PCK()
    rng = np.random.default_rng(0)
    xy, visible = rng.uniform(0, 5, (2, 3, 2)), np.ones((2, 3), bool)
    targets = KeypointTargets(xy, visible, np.array([2.0, 3.0]), (6, 6))
    scores = rng.normal(size=(2, 3, 6, 6))
    fast = autograd.value_and_grad(UniLoss(metric, seed=3))(scores, targets)
    slow = autograd.value_and_grad(
        lambda s: plain.loss(s, targets, metric, np.random.default_rng(3))
    )(scores)
    assert_same(fast, slow)


def test_a_wrong_step_would_be_caught():
    # The tolerance is not so loose that a small error passes: h~ moved by 1e-9 fails.
    metric = AveragePrecision()
    scores, targets = np.array([0.3, -0.2, 0.5, 0.1]), np.array([1, 0, 0, 1])
    fast = autograd.value_and_grad(UniLoss(metric, seed=0))(scores, targets)
    off = autograd.value_and_grad(
        lambda s: 1.0001 * plain.loss(s, targets, metric, np.random.default_rng(0))
    )(scores)
    with pytest.raises(AssertionError):
        assert_same(fast, off)


def test_plain_is_a_port_that_passes_every_conformance_case():
    report = verify(plain.uniloss)
    assert report.passed, str(report)
    assert not report.partial
