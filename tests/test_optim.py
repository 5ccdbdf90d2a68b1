"""Tests of uniloss_ref.experiments.nn.optim: the pytree walk, the three optimisers and the
schedules."""

import re
from typing import NamedTuple

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given
from hypothesis import strategies as st

from uniloss_ref.experiments.nn.optim import SGD, Adam, RMSprop, multistep_lr, step_lr, tree_map

# A tiny ill-conditioned quadratic f(p) = 1/2 p^T A p + c^T p over a two-leaf pytree.
A = np.array([[3.0, 1.0], [1.0, 2.0]])
C = np.array([1.0, -2.0])
MINIMUM = -np.linalg.solve(A, C)


def quadratic(params):
    p = anp.concatenate([params["a"], params["rest"][0]])
    return 0.5 * anp.dot(p, anp.dot(A, p)) + anp.dot(C, p)


def start():
    return {"a": np.array([2.0]), "rest": [np.array([-3.0])]}


def flat(params):
    return np.concatenate([params["a"], params["rest"][0]])


class Pair(NamedTuple):
    left: object
    right: object


# --------------------------------------------------------------------------------------------
# tree_map


def test_tree_map_keeps_structure_and_container_types():
    tree = {"x": [1.0, (2.0, 3.0)], "y": Pair(4.0, {"z": 5.0})}
    doubled = tree_map(lambda a, b: a + b, tree, tree)
    assert doubled == {"x": [2.0, (4.0, 6.0)], "y": Pair(8.0, {"z": 10.0})}
    assert isinstance(doubled["x"][1], tuple) and isinstance(doubled["y"], Pair)


@pytest.mark.parametrize(
    "other, where",
    [
        ({"x": [1.0], "w": 2.0}, "tree: dict"),
        ({"x": [1.0, 2.0], "y": 2.0}, "tree['x']: sequence of length 1"),
        ({"x": 1.0, "y": 2.0}, "tree['x']"),
        ({"x": [1.0], "y": [2.0]}, "tree['y']: leaf vs list"),
    ],
)
def test_tree_map_names_where_structures_differ(other, where):
    with pytest.raises(ValueError, match=re.escape(where)):
        tree_map(lambda a, b: a, {"x": [1.0], "y": 2.0}, other)


# --------------------------------------------------------------------------------------------
# Update rules against closed forms


def test_sgd_step_is_the_closed_form():
    params, g = start(), grad(quadratic)(start())
    new = SGD(lr=0.1).step(params, g)
    np.testing.assert_allclose(flat(new), flat(params) - 0.1 * flat(g), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(flat(params), [2.0, -3.0])  # updated out of place


def test_sgd_momentum_accumulates_velocity():
    """v1 = g1, v2 = mu v1 + g2, v3 = mu v2 + g3 with p_t = p_{t-1} - lr v_t."""
    opt, params = SGD(lr=0.05, momentum=0.9), start()
    p, v = flat(params), np.zeros(2)
    for _ in range(3):
        g = A @ p + C
        v = 0.9 * v + g
        p = p - 0.05 * v
        params = opt.step(params, grad(quadratic)(params))
        np.testing.assert_allclose(flat(params), p, rtol=1e-14, atol=1e-14)


def test_sgd_with_momentum_leaves_the_parameters_and_gradients_it_is_given_untouched():
    """The velocity is updated in place; nothing the caller holds may change with it."""
    opt = SGD(lr=0.1, momentum=0.9)
    params = {"w": np.array([1.0, -2.0]), "b": np.array([0.5])}
    for _ in range(3):
        grads = {"w": np.array([0.3, 0.1]), "b": np.array([-1.0])}
        before = {k: v.copy() for k, v in params.items()}
        new = opt.step(params, grads)
        assert np.array_equal(grads["w"], [0.3, 0.1]) and np.array_equal(grads["b"], [-1.0])
        assert all(np.array_equal(params[k], before[k]) for k in params)
        assert all(new[k] is not params[k] and not np.array_equal(new[k], params[k]) for k in new)
        params = new


def test_weight_decay_adds_the_gradient_of_an_l2_penalty():
    wd = 0.3

    def penalised(params):
        return quadratic(params) + 0.5 * wd * anp.sum(flat_box(params) ** 2)

    def flat_box(params):
        return anp.concatenate([params["a"], params["rest"][0]])

    for make in [
        lambda wd: SGD(lr=0.05, momentum=0.5, weight_decay=wd),
        lambda wd: Adam(lr=0.05, weight_decay=wd),
        lambda wd: RMSprop(lr=0.05, momentum=0.2, weight_decay=wd),
    ]:
        decayed, explicit = make(wd), make(0.0)
        a = b = start()
        for _ in range(4):
            a = decayed.step(a, grad(quadratic)(a))
            b = explicit.step(b, grad(penalised)(b))
        np.testing.assert_allclose(flat(a), flat(b), rtol=1e-13, atol=1e-13)


def test_adam_first_step_moves_every_coordinate_by_lr():
    """After one step m/(1-b1) = g and v/(1-b2) = g^2, so the step is lr * g / (|g| + eps)."""
    params, g = start(), grad(quadratic)(start())
    new = Adam(lr=0.01, eps=1e-8).step(params, g)
    expected = flat(params) - 0.01 * flat(g) / (np.abs(flat(g)) + 1e-8)
    np.testing.assert_allclose(flat(new), expected, rtol=1e-14, atol=1e-14)


def test_adam_matches_a_scalar_reference_loop():
    b1, b2, eps, lr = 0.8, 0.9, 1e-6, 0.1
    opt, params = Adam(lr=lr, betas=(b1, b2), eps=eps), start()
    p, m, v = flat(params), np.zeros(2), np.zeros(2)
    for t in range(1, 6):
        g = A @ p + C
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        params = opt.step(params, grad(quadratic)(params))
    np.testing.assert_allclose(flat(params), p, rtol=1e-13, atol=1e-13)
    assert opt.t == 5


def test_rmsprop_matches_a_scalar_reference_loop():
    alpha, eps, lr, mu = 0.9, 1e-8, 0.01, 0.5
    opt, params = RMSprop(lr=lr, alpha=alpha, eps=eps, momentum=mu), start()
    p, s, buf = flat(params), np.zeros(2), np.zeros(2)
    for _ in range(5):
        g = A @ p + C
        s = alpha * s + (1 - alpha) * g**2
        buf = mu * buf + g / (np.sqrt(s) + eps)
        p = p - lr * buf
        params = opt.step(params, grad(quadratic)(params))
    np.testing.assert_allclose(flat(params), p, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(lr=0.1),
        lambda: SGD(lr=0.05, momentum=0.9),
        lambda: Adam(lr=0.1),
        lambda: RMSprop(lr=0.03),
        lambda: RMSprop(lr=0.01, momentum=0.9),
    ],
    ids=["sgd", "sgd-momentum", "adam", "rmsprop", "rmsprop-momentum"],
)
def test_every_optimiser_drives_the_quadratic_to_its_minimum(make):
    opt = make()
    params = start()
    values = [quadratic(params)]
    for _ in range(300):
        params = opt.step(params, grad(quadratic)(params))
        values.append(quadratic(params))
    assert values[-1] < values[0]
    np.testing.assert_allclose(flat(params), MINIMUM, rtol=0, atol=0.02)


def test_changing_lr_between_steps_takes_effect():
    opt, params = SGD(lr=0.1), start()
    g = grad(quadratic)(params)
    opt.lr = 0.0
    np.testing.assert_array_equal(flat(opt.step(params, g)), flat(params))
    opt.lr = 0.2
    np.testing.assert_allclose(
        flat(opt.step(params, g)), flat(params) - 0.2 * flat(g), rtol=1e-15, atol=0
    )


def test_optimisers_accept_tuples_and_scalar_leaves():
    params = (np.array([1.0, 2.0]), 3.0)
    new = SGD(lr=0.5, momentum=0.5).step(params, (np.array([1.0, 1.0]), 2.0))
    assert isinstance(new, tuple)
    np.testing.assert_allclose(new[0], [0.5, 1.5], rtol=0, atol=0)
    assert new[1] == 2.0


@given(
    lr=st.floats(1e-4, 1.0),
    momentum=st.floats(0.0, 0.99),
    values=st.lists(st.floats(-10, 10), min_size=1, max_size=5),
)
def test_first_sgd_step_is_plain_gradient_descent_whatever_the_momentum(lr, momentum, values):
    p, g = np.array(values), np.array(values[::-1])
    new = SGD(lr=lr, momentum=momentum).step({"p": p}, {"p": g})
    np.testing.assert_allclose(new["p"], p - lr * g, rtol=1e-14, atol=1e-14)


# --------------------------------------------------------------------------------------------
# Schedules


def test_step_lr_decays_exactly_at_multiples_of_step_size():
    schedule = step_lr(0.1, step_size=30, gamma=0.5)
    assert [schedule(e) for e in (0, 29, 30, 59, 60)] == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_multistep_lr_follows_the_authors_cifar_schedule():
    schedule = multistep_lr(0.1, [140, 160])
    got = [schedule(e) for e in (0, 139, 140, 159, 160, 199)]
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-15, atol=0)


# --------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: SGD(lr=-0.1), ValueError, "lr"),
        (lambda: SGD(lr="0.1"), TypeError, "lr"),
        (lambda: SGD(lr=0.1, momentum=1.0), ValueError, "momentum"),
        (lambda: SGD(lr=0.1, weight_decay=float("nan")), TypeError, "weight_decay"),
        (lambda: Adam(betas=(0.9,)), TypeError, "betas"),
        (lambda: Adam(betas=(0.9, 1.0)), ValueError, r"betas\[1\]"),
        (lambda: Adam(eps=0.0), ValueError, "eps"),
        (lambda: RMSprop(alpha=-0.1), ValueError, "alpha"),
        (lambda: step_lr(0.1, step_size=0), ValueError, "step_size"),
        (lambda: step_lr(0.1, 10)(-1), ValueError, "epoch"),
        (lambda: multistep_lr(0.1, [160, 140]), ValueError, "milestones"),
        (lambda: multistep_lr(0.1, [0, 10]), ValueError, "milestones"),
        (lambda: multistep_lr(0.1, 140), TypeError, "milestones"),
        (lambda: multistep_lr(0.1, [10])(1.5), ValueError, "epoch"),
    ],
)
def test_bad_hyperparameters_are_rejected_by_name(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_gradients_that_do_not_match_the_parameters_are_rejected():
    opt, params = SGD(lr=0.1), start()
    with pytest.raises(ValueError, match="structure of params"):
        opt.step(params, {"a": np.ones(1)})
    with pytest.raises(ValueError, match="shapes of params"):
        opt.step(params, {"a": np.ones(2), "rest": [np.ones(1)]})
    opt.step(params, grad(quadratic)(params))
    with pytest.raises(ValueError, match="new optimiser"):
        opt.step({"a": np.ones(1)}, {"a": np.ones(1)})
