"""The UniLoss surrogate: gradients against finite differences, and the method's laws."""

import copy

import autograd
import numpy as np
import pytest
from autograd.extend import defvjp, primitive
from autograd.test_util import check_grads
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.strategies import (
    binary_batches,
    keypoint_batches,
    multiclass_batches,
    separated_scores,
    tie_free_scores,
)
from uniloss_ref import AnchorSampler, UniLoss, surrogate
from uniloss_ref.metrics import (
    PCK,
    Accuracy,
    AveragePrecision,
    FScore,
    Precision,
    PrecisionAtK,
    Recall,
    RecallAtK,
    RocAuc,
)

with_current = lambda metric: AnchorSampler(current=1, **metric.default_anchors)
small_scores = lambda shape: tie_free_scores(shape).map(lambda s: s / 100.0)  # |c| of order 1

METRIC_BATCHES = {
    "ap": (AveragePrecision(), binary_batches(both_classes=True, scores=small_scores)),
    "ap_interpolated": (
        AveragePrecision(interpolated=True),
        binary_batches(both_classes=True, scores=small_scores),
    ),
    "auc": (RocAuc(), binary_batches(both_classes=True, scores=small_scores)),
    "accuracy": (Accuracy(), multiclass_batches(scores=small_scores)),
    "top2": (Accuracy(top_k=2), multiclass_batches(scores=small_scores)),
    "pck": (PCK(threshold=0.6), keypoint_batches(scores=small_scores)),
    "f1": (FScore(threshold=0.25), binary_batches(scores=small_scores)),
    "f2": (FScore(beta=2.0, threshold=0.25), binary_batches(scores=small_scores)),
    "precision": (Precision(threshold=0.25), binary_batches(scores=small_scores)),
    "recall": (Recall(threshold=0.25), binary_batches(scores=small_scores)),
    "precision@3": (PrecisionAtK(3), binary_batches(scores=small_scores)),
    "recall@3": (RecallAtK(3), binary_batches(scores=small_scores)),
}
THRESHOLD = ("f1", "f2", "precision", "recall")  # scores compared with t = 0.25


def separated_batches(name):
    """The batches of ``METRIC_BATCHES[name]`` with every comparison at least 0.25 apart."""
    if name == "pck":
        return keypoint_batches(scores=separated_scores)
    if name in ("accuracy", "top2"):
        return multiclass_batches(scores=separated_scores)
    if name in THRESHOLD:  # multiples of 0.5: every |s - 0.25| >= 0.25
        return binary_batches(scores=lambda shape: separated_scores(shape).map(lambda s: 2 * s))
    return binary_batches(both_classes=True, scores=separated_scores)


def fixed_anchor_surrogate(metric, scores, targets, seed=0, **settings):
    """h~ as a function of the scores alone, with this batch's anchors held fixed."""
    anchors = UniLoss(metric, sampler=with_current(metric), seed=seed).draw_anchors(scores, targets)
    return lambda s: surrogate(s, targets, metric, anchors, **settings)


@pytest.mark.parametrize(
    "settings", [{}, {"temperature": 3.0, "standardise": True}], ids=["raw", "standardised"]
)
@pytest.mark.parametrize("name", sorted(METRIC_BATCHES))
def test_surrogate_gradient_matches_finite_differences(name, settings):
    metric, batches = METRIC_BATCHES[name]

    @given(batches)
    def check(batch):
        scores, targets = batch
        if settings:
            # Finite differences step by about 1e-6 and err by about (1e-6 / sd)^2 relative
            # (the curvature of s / sd(s)): at sd 1e-3 that reaches the check's 1e-6, so the
            # spread must be far larger. The scale law test covers smaller spreads.
            assume(np.std(scores) > 1e-2)
        f = fixed_anchor_surrogate(metric, scores, targets, **settings)
        check_grads(f, modes=["rev"], order=1)(scores)

    check()


@pytest.mark.parametrize("standardise", [False, True], ids=["raw", "standardised"])
@pytest.mark.parametrize("name", sorted(METRIC_BATCHES))
def test_comparisons_gradient_matches_finite_differences(name, standardise):
    metric, batches = METRIC_BATCHES[name]

    @given(batches)
    def check(batch):
        scores, targets = batch
        if standardise:
            assume(np.std(scores) > 1e-3)  # as in the surrogate's test above
        refactoring = metric.refactor(scores.shape, targets)
        f = lambda s: refactoring.comparisons(s, standardise)
        check_grads(f, modes=["rev", "fwd"], order=1)(scores)

    check()


@pytest.mark.parametrize("standardise", [False, True], ids=["raw", "standardised"])
def test_comparisons_with_a_threshold_have_exact_second_derivatives(standardise):
    # The transpose of the differences (and of t / sd(s)) differentiated once more.
    rng = np.random.default_rng(5)
    scores, labels = rng.normal(size=9), np.array([1, 0, 0, 1, 0, 1, 1, 0, 0])
    refactoring = FScore(threshold=0.3).refactor(scores.shape, labels)
    weights = rng.normal(size=refactoring.length)
    f = lambda s: np.sum(weights * refactoring.comparisons(s, standardise) ** 2)
    check_grads(f, modes=["rev", "fwd"], order=2)(scores)


def test_standardised_thresholds_keep_their_raw_units():
    # (s - t) / sd(s): the comparisons, and so h~, are those of the raw scores over sd(s),
    # whatever the scale; scaling scores and threshold together changes nothing.
    rng = np.random.default_rng(6)
    scores, labels = rng.normal(size=10), np.array([1, 0] * 5)
    c = FScore(threshold=0.3).refactor((10,), labels).comparisons(scores, standardise=True)
    raw = FScore(threshold=0.3).refactor((10,), labels).comparisons(scores)
    np.testing.assert_allclose(c, raw / np.std(scores), rtol=1e-13, atol=1e-15)
    anchors = UniLoss(FScore(threshold=0.3), seed=1).draw_anchors(scores, labels)
    for scale in (1e-3, 7.0, 1e5):
        moved = surrogate(scale * scores, labels, FScore(threshold=0.3 * scale), anchors,
                          standardise=True)  # fmt: skip
        still = surrogate(scores, labels, FScore(threshold=0.3), anchors, standardise=True)
        assert moved == pytest.approx(still, rel=1e-10, abs=1e-12)


def test_second_order_gradient_of_surrogate_matches_finite_differences():
    rng = np.random.default_rng(3)
    scores, labels = rng.normal(size=8), np.array([1, 0, 0, 1, 0, 0, 0, 1])
    check_grads(fixed_anchor_surrogate(AveragePrecision(), scores, labels), order=2)(scores)


def test_gradient_check_fails_on_a_gradient_that_is_one_tenth_percent_wrong():
    rng = np.random.default_rng(1)
    scores, labels = rng.normal(size=10), np.array([1, 0] * 5)
    f = fixed_anchor_surrogate(AveragePrecision(), scores, labels)

    @primitive
    def slightly_wrong(s):
        return f(s)

    defvjp(slightly_wrong, lambda ans, s: lambda g: 1.001 * g * autograd.grad(f)(s))
    check_grads(f, modes=["rev"], order=1)(scores)  # the true gradient passes ...
    with pytest.raises(AssertionError):
        check_grads(slightly_wrong, modes=["rev"], order=1)(scores)  # ... 0.1% off fails


def _permuted_anchors(metric, scores, targets, perm, anchors):
    """Re-index anchor columns so that each column keeps its pair after permuting samples."""
    per_sample = scores[0].size
    original = lambda flat: perm[flat // per_sample] * per_sample + flat % per_sample
    first = metric.refactor(scores.shape, targets)
    key = {pair: k for k, pair in enumerate(zip(first.i, first.j, strict=True))}
    moved = metric.refactor(scores.shape, targets[perm])
    i2, j2 = moved.i, moved.j
    columns = [key[(original(a), original(b))] for a, b in zip(i2, j2, strict=True)]
    assert sorted(columns) == list(range(len(key)))
    return anchors[:, columns]


@pytest.mark.parametrize("name", ["ap", "auc", "accuracy"])
def test_permuting_the_batch_permutes_the_gradient(name):
    metric, batches = METRIC_BATCHES[name]

    @given(batches, st.randoms(use_true_random=False))
    def check(batch, random):
        scores, targets = batch
        perm = np.array(random.sample(range(len(targets)), len(targets)))
        anchors = UniLoss(metric, seed=0).draw_anchors(scores, targets).configurations
        moved = _permuted_anchors(metric, scores, targets, perm, anchors)

        def h(s, t, a):
            return surrogate(s, t, metric, a)

        g = autograd.grad(h)(scores, targets, anchors)
        g_perm = autograd.grad(h)(scores[perm], targets[perm], moved)
        np.testing.assert_allclose(g_perm, g[perm], rtol=1e-12, atol=1e-15)
        assert h(scores[perm], targets[perm], moved) == pytest.approx(
            h(scores, targets, anchors), rel=1e-12
        )

    check()


@pytest.mark.parametrize("name", sorted(METRIC_BATCHES))
def test_shifting_all_scores_and_thresholds_by_a_constant_changes_nothing(name):
    metric, _ = METRIC_BATCHES[name]
    batches = separated_batches(name)

    @given(batches, st.floats(-50, 50))
    def check(batch, shift):
        scores, targets = batch
        moved = metric
        if name in THRESHOLD:  # the same metric at the shifted threshold
            moved = copy.copy(metric)
            moved.threshold = metric.threshold + shift
        first, second = UniLoss(metric, seed=7), UniLoss(moved, seed=7)
        assert second(scores + shift, targets) == pytest.approx(
            first(scores, targets), rel=1e-12, abs=1e-12
        )
        np.testing.assert_allclose(
            autograd.grad(second)(scores + shift, targets),
            autograd.grad(first)(scores, targets),
            rtol=1e-9,
            atol=1e-12,
        )

    check()


@pytest.mark.parametrize("name", sorted(METRIC_BATCHES))
def test_surrogate_tends_to_batch_metric_as_temperature_goes_to_zero(name):
    metric, _ = METRIC_BATCHES[name]
    batches = separated_batches(name)

    @given(batches)
    def check(batch):
        scores, targets = batch
        truth = metric.evaluate(scores, targets)
        gaps = []
        for temperature in (1.0, 0.1, 0.01, 0.001):
            loss = UniLoss(metric, sampler=with_current(metric), seed=0, temperature=temperature)
            gaps.append(abs(loss.inspect(scores, targets).surrogate - truth))
        # |c| >= 0.25, so at tau = 0.001 every tanh(c / 2 tau) rounds to +-1: the relaxed
        # binaries sit on the current anchor and the surrogate is the batch metric exactly.
        assert gaps[-1] == 0.0
        assert gaps[-2] <= 1e-6

    check()


def test_same_seed_draws_same_anchors_and_different_seeds_differ():
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=12), np.array([1, 0, 0] * 4)
    a = UniLoss(AveragePrecision(), seed=11).draw_anchors(scores, labels).configurations
    b = UniLoss(AveragePrecision(), seed=11).draw_anchors(scores, labels).configurations
    c = UniLoss(AveragePrecision(), seed=12).draw_anchors(scores, labels).configurations
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    loss_a, loss_b = UniLoss(AveragePrecision(), seed=3), UniLoss(AveragePrecision(), seed=3)
    for _ in range(3):  # successive calls draw fresh anchors, in the same sequence
        assert loss_a(scores, labels) == loss_b(scores, labels)


def test_inspect_exposes_every_step_consistently():
    rng = np.random.default_rng(2)
    scores, labels = rng.normal(size=10), np.array([1, 1, 0, 0, 0, 0, 1, 0, 0, 0])
    metric = AveragePrecision()
    ev = UniLoss(metric, sampler=with_current(metric), seed=4).inspect(scores, labels)
    k, length = ev.anchors.shape
    assert length == 3 * 7 and k == 1 + 16 * 3 + 1
    np.testing.assert_array_equal(ev.hard, np.where(ev.comparisons > 0, 1.0, -1.0))
    np.testing.assert_allclose(ev.relaxed, np.tanh(ev.comparisons / 2), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(ev.values, metric.refactor((10,), labels).h(ev.anchors > 0))
    np.testing.assert_allclose(
        ev.distances, np.linalg.norm(ev.relaxed - ev.anchors, axis=1), rtol=1e-13, atol=0
    )
    assert ev.surrogate == pytest.approx(ev.weights @ ev.values, rel=1e-14)
    assert ev.loss == pytest.approx(1 - ev.surrogate, rel=1e-15)
    assert ev.batch_metric == metric.evaluate(scores, labels)
    np.testing.assert_array_equal(ev.anchors[ev.kinds == "current"][0], ev.hard)
    # The same seed called once gives the same loss as inspect reported.
    assert UniLoss(metric, sampler=with_current(metric), seed=4)(scores, labels) == ev.loss


def test_loss_decreases_along_negative_gradient():
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=16), (rng.random(16) < 0.3).astype(int)
    metric = AveragePrecision()
    f = fixed_anchor_surrogate(metric, scores, labels)
    step = 1e-2 * autograd.grad(f)(scores)
    assert f(scores + step) > f(scores)  # h~ rises along its gradient


def test_standardised_scores_have_unit_spread_and_a_scale_free_gradient():
    from uniloss_ref.relaxation import standardised

    @given(tie_free_scores((12,)), st.floats(min_value=-3.0, max_value=3.0))
    def check(scores, log_scale):
        z = standardised(scores)
        np.testing.assert_allclose(z.std(), 1.0, rtol=1e-12)
        # Subnormal entries (below 2.2e-308) carry fewer digits: an absolute floor for them.
        np.testing.assert_allclose(
            standardised(10.0**log_scale * scores), z, rtol=1e-9, atol=1e-300
        )
        weights = np.linspace(-1.0, 2.0, scores.size)
        f = lambda s: np.sum(weights * standardised(s) ** 3)
        check_grads(f, modes=["fwd", "rev"], order=1)(scores)
        # Scaling every score leaves the output unchanged: no gradient along s.
        g = autograd.grad(f)(scores)
        assert abs(np.dot(g, scores)) <= 1e-9 * np.linalg.norm(g) * np.linalg.norm(scores)

    check()


def _sd(scores):
    """The population sd of every entry, computed without underflow (0 for all zeros)."""
    top = np.abs(scores).max()
    return float(top * np.std(scores / top)) if top > 0 else 0.0


@pytest.mark.parametrize("name", ["ap", "accuracy", "pck"])
def test_standardised_surrogate_ignores_the_score_scale_and_keeps_the_metric(name):
    metric, batches = METRIC_BATCHES[name]

    @given(batches, st.sampled_from([1e-6, 1e-2, 1e2, 1e8]))
    def check(batch, scale):
        scores, targets = batch
        # A batch whose sd is subnormal is left as it is (documented), so scaling it across
        # 2.2e-308 changes the surrogate: the law holds where both sds are normal.
        assume(min(_sd(scores), _sd(scale * scores)) >= np.finfo(float).tiny)
        loss = UniLoss(metric, seed=3, standardise=True, temperature=3.0)
        anchors = loss.draw_anchors(scores, targets)
        at = lambda s: surrogate(s, targets, metric, anchors, temperature=3.0, standardise=True)
        np.testing.assert_allclose(at(scale * scores), at(scores), rtol=1e-9, atol=1e-12)
        seen = loss.inspect(scale * scores, targets)
        assert seen.batch_metric == pytest.approx(metric.evaluate(scores, targets), abs=1e-12)
        # The gradient in the raw scores scales as 1 / scale: steps shrink as scores grow.
        g1 = autograd.grad(at)(scores)
        g2 = autograd.grad(at)(scale * scores)
        # A gradient can be zero up to rounding (two samples standardise to +-1 whatever
        # their scores): the absolute floor is relative to the gradient's natural size.
        top = np.abs(scores).max()
        floor = 1e-9 * (np.abs(g1).max() + 1.0 / (top * np.std(scores / top)))
        np.testing.assert_allclose(scale * g2, g1, rtol=1e-6, atol=floor)

    check()


def test_standardised_surrogate_is_finite_for_equal_and_extreme_scores():
    metric, labels = AveragePrecision(), np.array([1, 0, 0, 1, 0])
    loss = UniLoss(metric, seed=0, standardise=True, temperature=3.0)
    for scores in (
        np.full(5, 2.5),
        np.array([1e300, -1e300, 3e299, 0.0, -7e299]),
        np.array([1e-310, 0.0, -2e-310, 5e-311, 3e-310]),
    ):
        value, grad = autograd.value_and_grad(loss)(scores, labels)
        assert np.isfinite(value) and np.isfinite(grad).all(), scores


def test_standardise_must_be_a_bool():
    with pytest.raises(TypeError, match="standardise must be True or False"):
        UniLoss(AveragePrecision(), standardise="yes")
    with pytest.raises(TypeError, match="standardise must be True or False"):
        surrogate(np.zeros(2), np.array([0, 1]), AveragePrecision(), np.ones((1, 1)), standardise=1)


@pytest.mark.parametrize("kind", ["ap", "accuracy", "pck"])
def test_memory_estimate_bounds_the_measured_peak(kind):
    # UniLoss refuses a batch whose estimate exceeds memory_limit; the estimate must not
    # be below what one loss and gradient really allocate (tracemalloc sees NumPy's buffers).
    import tracemalloc

    from uniloss_ref.metrics import KeypointTargets
    from uniloss_ref.surrogate import memory_estimate

    rng = np.random.default_rng(0)
    if kind == "ap":
        metric, scores = AveragePrecision(), rng.normal(size=1000)
        targets = (np.arange(1000) % 10 == 0).astype(int)
    elif kind == "accuracy":
        metric, scores = Accuracy(), rng.normal(size=(128, 100))
        targets = rng.integers(100, size=128)
    else:
        metric, scores = PCK(), rng.normal(size=(2, 4, 32, 32))
        xy = rng.uniform(0, 31, size=(2, 4, 2))
        targets = KeypointTargets(xy, np.ones((2, 4), bool), np.array([8.0, 8.0]), (32, 32))
    loss = UniLoss(metric, seed=0)
    step = autograd.value_and_grad(loss)
    step(scores, targets)
    tracemalloc.start()
    step(scores, targets)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    length = metric.length(scores.shape, targets)
    assert peak <= memory_estimate(length, loss.sampler.total, loss.sampler.bad)
