"""Loss variants (margin, memory, hybrid, BCE's pos_weight) and the one-pass backward."""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from autograd.test_util import check_grads
from hypothesis import given, settings

from tests.strategies import multiclass_batches, separated_scores
from uniloss_ref import AnchorSampler, UniLoss
from uniloss_ref.experiments.nn import mlp
from uniloss_ref.experiments.nn.backward import grads_and_aux
from uniloss_ref.experiments.nn.losses import bce_with_logits
from uniloss_ref.experiments.nn.optim import tree_leaves, tree_rebuild
from uniloss_ref.experiments.tasks import get_task, make_loss, make_metric
from uniloss_ref.experiments.variants import make_training_loss
from uniloss_ref.memory import ScoreMemory
from uniloss_ref.metrics import Accuracy, AveragePrecision


def _variant(task_name, loss="uniloss", seed=0, **options):
    task = get_task(task_name)
    settings = {
        "temperature": task.temperature,
        "anchors": dict(task.anchors),
        "standardise": task.standardise,
        "nearby_rule": task.nearby_rule,
    }
    rng = np.random.default_rng(seed)
    return make_training_loss(task, loss, make_metric(task), rng, **(settings | options))


@settings(max_examples=30)
@given(multiclass_batches(max_n=8, max_classes=5, scores=separated_scores))
def test_a_margin_interpolates_the_accuracy_of_comparisons_won_by_the_margin(batch):
    """At a tiny tau, with the current anchor, the loss is 1 - (share of samples whose target
    beats every other class by more than m)."""
    scores, targets = batch
    margin = 0.375  # off the scores' grid of 0.25: no comparison c - m is 0
    uniloss = UniLoss(Accuracy(), temperature=1e-4, sampler=AnchorSampler(current=1), seed=0)
    from uniloss_ref.experiments.variants import _with_margin

    loss = _with_margin(uniloss, margin, standardise=False)
    target_scores = scores[np.arange(len(targets)), targets]
    others = np.where(np.arange(scores.shape[1]) == targets[:, None], -np.inf, scores)
    won = (target_scores - margin > others.max(axis=1)).mean()
    assert loss(scores, targets) == pytest.approx(1.0 - won, rel=1e-12, abs=1e-12)
    assert loss(scores, targets) >= uniloss(scores, targets) - 1e-12  # never an easier metric


def test_a_margin_on_standardised_scores_is_in_units_of_their_spread():
    rng = np.random.default_rng(0)
    scores, labels = rng.standard_normal(12), np.array([1, 0, 0, 0] * 3)
    loss = _variant("ap", margin=0.25)
    plain = make_loss(
        get_task("ap"), "uniloss", make_metric(get_task("ap")), np.random.default_rng(0)
    )
    # Shifting the positives by a margin of 0.25 sd of the batch, then comparing raw:
    shifted = scores / scores.std() - 0.25 * labels
    raw = UniLoss(
        AveragePrecision(),
        temperature=plain.temperature,
        sampler=plain.sampler,
        seed=np.random.default_rng(0),
    )
    assert loss(scores, labels) == pytest.approx(raw(shifted, labels), rel=1e-12, abs=1e-12)
    scaled = _variant("ap", margin=0.25)(3.0 * scores, labels)  # same anchors, scale-free
    assert scaled == pytest.approx(_variant("ap", margin=0.25)(scores, labels), rel=1e-9)
    check_grads(lambda s: _variant("ap", margin=0.25)(s, labels), modes=["rev"], order=1)(scores)


def test_the_hybrid_is_uniloss_plus_the_weighted_pointwise_loss():
    rng = np.random.default_rng(1)
    scores, labels = rng.standard_normal(10), np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    hybrid = _variant("ap", "uniloss-hybrid", hybrid_weight=0.3)
    uniloss = _variant("ap")
    expected = uniloss(scores, labels) + 0.3 * bce_with_logits(scores, labels)
    assert hybrid(scores, labels) == pytest.approx(expected, rel=1e-12)
    targets = rng.integers(10, size=6)
    logits = rng.standard_normal((6, 10))
    hybrid = _variant("accuracy", "uniloss-hybrid", hybrid_weight=0.1)
    ce = make_loss(get_task("accuracy"), "ce", make_metric(get_task("accuracy")), rng)
    expected = _variant("accuracy")(logits, targets) + 0.1 * ce(logits, targets)
    assert hybrid(logits, targets) == pytest.approx(expected, rel=1e-12)


def test_the_memory_option_wraps_uniloss_in_a_score_memory():
    loss = _variant("ap", memory=128)
    assert isinstance(loss, ScoreMemory) and loss.size == 128
    loss(np.array([0.5, -0.2, 0.1]), np.array([1, 0, 0]))
    assert len(loss) == 3


def test_bce_pos_weight_weighs_the_positive_terms():
    logits, labels = np.array([0.3, -1.0, 2.0, -0.5]), np.array([1, 0, 1, 0])
    p = 1 / (1 + np.exp(-logits))
    terms = -labels * np.log(p) * 4.0 - (1 - labels) * np.log(1 - p)
    weighted = _variant("ap", "bce", pos_weight=4.0)
    assert weighted(logits, labels) == pytest.approx(terms.mean(), rel=1e-12)
    assert bce_with_logits(logits, labels, pos_weight=1.0) == bce_with_logits(logits, labels)
    with pytest.raises(ValueError, match="pos_weight must be a finite number > 0"):
        bce_with_logits(logits, labels, pos_weight=-1.0)


def test_one_backward_pass_gives_each_array_autograds_gradient():
    model = mlp((6, 5, 4, 1))
    params = model.init_params(np.random.default_rng(2))
    x, y = np.random.default_rng(3).random((7, 6)), np.array([1, 0, 0, 1, 0, 0, 1])

    def objective(arrays, x, y):
        value = bce_with_logits(anp.reshape(model.apply(tree_rebuild(params, arrays), x), -1), y)
        return value, "aux"

    grads, aux = grads_and_aux(objective)(tree_leaves(params), x, y)
    leaves = tree_leaves(params)
    whole = lambda arrays: objective([arrays[i] for i in range(len(leaves))], x, y)[0]
    expected = autograd.grad(whole)(tuple(leaves))
    assert aux == "aux"
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_one_backward_pass_gives_zeros_to_unused_arrays_and_keeps_their_dtype():
    a, b = np.array([1.0, 2.0], dtype=np.float32), np.array([3.0, 4.0], dtype=np.float32)
    unused = np.ones((2, 2))

    def objective(arrays, scale):
        first, second, _ = arrays
        return scale * anp.sum(first[0] * second), None

    grads, _ = grads_and_aux(objective)([a, b, unused], 2.0)
    assert grads[0].dtype == np.float32 and grads[1].dtype == np.float32
    # Small integers through elementwise products and sums: exact in float32 on any machine.
    np.testing.assert_array_equal(grads[0], [2 * (3.0 + 4.0), 0.0])  # a[0] taken, a[1] not
    np.testing.assert_array_equal(grads[1], [2.0, 2.0])
    np.testing.assert_array_equal(grads[2], np.zeros((2, 2)))
    constant, _ = grads_and_aux(lambda arrays: (1.0, None))([a])
    np.testing.assert_array_equal(constant[0], np.zeros(2, dtype=np.float32))
