"""One code path on every backend: the core and the layers on NumPy, the stand-in and CuPy.

Each test computes a value and its gradient with plain NumPy (the reference) and again
with the inputs on a device array library, and requires agreement to 1e-12. The stand-in
(``tests/standin.py``) runs on every CI run; CuPy runs where a GPU works.
"""

from __future__ import annotations

from types import ModuleType

import autograd
import numpy as np
import pytest
from numpy.testing import assert_allclose

from tests.standin import StandinArray, working_cupy
from tests.standin import xp as standin
from uniloss_ref import AnchorSampler, UniLoss, surrogate
from uniloss_ref.check import default_metrics, random_batch
from uniloss_ref.device import to_numpy
from uniloss_ref.device.bridge import register
from uniloss_ref.experiments.authors_gradient import AuthorsUniLoss
from uniloss_ref.experiments.nn import models
from uniloss_ref.experiments.nn.layers import avg_pool2d, conv2d, dense, max_pool2d, relu
from uniloss_ref.experiments.nn.losses import bce_with_logits, heatmap_mse, softmax_cross_entropy
from uniloss_ref.experiments.nn.optim import SGD, Adam, RMSprop, tree_map

TOL = {"rtol": 1e-12, "atol": 1e-12}


@pytest.fixture(params=["numpy", "standin", "cupy"])
def xp(request: pytest.FixtureRequest) -> ModuleType:
    """The array library under test; ``numpy`` checks the comparison itself."""
    if request.param == "numpy":
        return np
    if request.param == "standin":
        register(StandinArray, standin)
        return standin
    return working_cupy()


def on(xp: ModuleType, tree):
    """A pytree of host arrays moved to ``xp``."""
    return tree_map(lambda a: xp.asarray(a), tree)


def host(tree):
    return tree_map(to_numpy, tree)


@pytest.mark.parametrize("metric", default_metrics(), ids=repr)
def test_uniloss_value_and_gradient_agree_across_backends(xp, metric):
    scores, targets = random_batch(metric, np.random.default_rng(3))
    sampler = AnchorSampler(current=1, **metric.default_anchors)
    reference = autograd.value_and_grad(UniLoss(metric, sampler=sampler, seed=5))(scores, targets)
    value, gradient = autograd.value_and_grad(UniLoss(metric, sampler=sampler, seed=5))(
        xp.asarray(scores), targets
    )
    assert type(gradient) is type(xp.asarray(scores))
    assert_allclose(float(value), float(reference[0]), **TOL)
    assert_allclose(to_numpy(gradient), reference[1], **TOL)


@pytest.mark.parametrize("metric", default_metrics()[:2], ids=repr)
def test_authors_gradient_and_inspection_agree_across_backends(xp, metric):
    scores, targets = random_batch(metric, np.random.default_rng(4))
    ours = autograd.grad(AuthorsUniLoss(metric, seed=1))
    theirs = autograd.grad(AuthorsUniLoss(metric, seed=1))
    ours, theirs = ours(scores, targets), theirs(xp.asarray(scores), targets)
    assert_allclose(to_numpy(theirs), ours, **TOL)
    a = UniLoss(metric, seed=2).inspect(scores, targets)
    b = UniLoss(metric, seed=2).inspect(xp.asarray(scores), targets)
    assert_allclose(b.weights, a.weights, **TOL)
    assert b.surrogate == pytest.approx(a.surrogate, rel=1e-12)


def test_fixed_anchor_surrogate_agrees_across_backends(xp):
    metric = default_metrics()[3]
    scores, targets = random_batch(metric, np.random.default_rng(0))
    anchors = UniLoss(metric, seed=0).draw_anchors(scores, targets).configurations
    f = lambda s: surrogate(s, targets, metric, anchors, temperature=0.5, power=2.0)
    assert_allclose(to_numpy(autograd.grad(f)(xp.asarray(scores))), autograd.grad(f)(scores), **TOL)


def _images(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


LAYERS = {
    "dense": (lambda p, x: dense(p, x), {"w": _images((5, 3), 1), "b": _images(3, 2)}, (4, 5)),
    "conv2d": (
        lambda p, x: conv2d(p, x, stride=2, padding=1),
        {"w": _images((4, 3, 3, 3), 1), "b": _images(4, 2)},
        (2, 3, 7, 7),
    ),
    "max_pool2d": (lambda p, x: max_pool2d(x, 2), None, (2, 3, 6, 6)),
    "avg_pool2d": (lambda p, x: avg_pool2d(x, 3, stride=2), None, (2, 3, 7, 7)),
    "relu": (lambda p, x: relu(x), None, (3, 4)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers_agree_across_backends(xp, name):
    layer, params, shape = LAYERS[name]
    x = _images(shape)

    def loss(p, inputs):
        out = layer(p, inputs)
        return autograd.numpy.sum(out * out)

    x_grad = autograd.grad(loss, argnum=1)
    if params is None:
        assert_allclose(to_numpy(x_grad(None, xp.asarray(x))), x_grad(None, x), **TOL)
        return
    moved = on(xp, params)
    assert_allclose(to_numpy(x_grad(moved, xp.asarray(x))), x_grad(params, x), **TOL)
    p_grad = autograd.grad(loss, argnum=0)
    want, got = p_grad(params, x), p_grad(moved, xp.asarray(x))
    for key in want:
        assert_allclose(to_numpy(got[key]), want[key], **TOL)


MODELS = {
    "mlp": (models.mlp((12, 8, 1)), (5, 12)),
    "small_cnn": (
        models.small_cnn(in_shape=(1, 8, 8), channels=(4, 6), hidden=8, n_classes=3),
        (3, 1, 8, 8),
    ),
    "heatmap_net": (models.heatmap_net(2, channels=(4, 6, 6)), (2, 1, 16, 16)),
}


OPTIMISERS = {
    "sgd": lambda: SGD(0.1, momentum=0.9, weight_decay=1e-3),
    "adam": lambda: Adam(1e-2),
    "rmsprop": lambda: RMSprop(1e-2),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("optimiser", sorted(OPTIMISERS))
def test_two_training_steps_agree_across_backends(xp, name, optimiser):
    model, shape = MODELS[name]
    params, x = model.init_params(np.random.default_rng(0)), _images(shape)
    loss = lambda p, inputs: autograd.numpy.mean(model.apply(p, inputs) ** 2)
    reference, device = OPTIMISERS[optimiser](), OPTIMISERS[optimiser]()
    want, got = params, on(xp, params)
    for _ in range(2):  # the second step uses the optimiser's state
        want = reference.step(want, autograd.grad(loss)(want, x))
        got = device.step(got, autograd.grad(loss)(got, xp.asarray(x)))
    tree_map(lambda a, b: assert_allclose(to_numpy(a), b, **TOL), got, want)


def test_baseline_losses_agree_across_backends(xp):
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=8), rng.integers(0, 2, size=8)
    want = autograd.grad(bce_with_logits)(logits, labels.astype(float))
    got = autograd.grad(bce_with_logits)(xp.asarray(logits), xp.asarray(labels.astype(float)))
    assert_allclose(to_numpy(got), want, **TOL)
    scores, classes = rng.normal(size=(6, 4)), rng.integers(0, 4, size=6)
    want = autograd.grad(softmax_cross_entropy)(scores, classes)
    got = autograd.grad(softmax_cross_entropy)(xp.asarray(scores), classes)
    assert_allclose(to_numpy(got), want, **TOL)
    heat, target = rng.normal(size=(2, 3, 5, 5)), rng.random((2, 3, 5, 5))
    visible = rng.random((2, 3)) < 0.7
    want = autograd.grad(heatmap_mse)(heat, target, visible)
    got = autograd.grad(heatmap_mse)(xp.asarray(heat), xp.asarray(target), visible)
    assert_allclose(to_numpy(got), want, **TOL)
