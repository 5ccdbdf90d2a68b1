"""Tests of uniloss_ref.experiments.nn: the windowing primitive, layers, initialisation and models.

Forward values are compared with slow, obviously correct loops written below (and SciPy where
it has the operation); gradients with autograd's finite-difference checker.
"""

import re

import autograd.numpy as anp
import numpy as np
import pytest
import scipy.signal
from autograd import grad, make_vjp
from autograd.extend import defvjp, primitive
from autograd.test_util import check_grads
from hypothesis import given
from hypothesis import strategies as st

from uniloss_ref.experiments.nn import (
    avg_pool2d,
    conv2d,
    conv_params,
    dense,
    dense_params,
    fan_in_fan_out,
    flatten,
    glorot_uniform,
    he_normal,
    heatmap_net,
    max_pool2d,
    mlp,
    relu,
    sliding_windows,
    small_cnn,
    upsample_nearest,
)
from uniloss_ref.experiments.nn.windows import _windows

# --------------------------------------------------------------------------------------------
# Oracles: explicit loops over every output element, too slow for use but easy to read.


def naive_conv2d(x, w, b, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, hp, wp = xp.shape
    c_out, _, kh, kw = w.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    out = np.empty((n, c_out, oh, ow))
    for i in range(n):
        for o in range(c_out):
            for r in range(oh):
                for q in range(ow):
                    patch = xp[i, :, r * sh : r * sh + kh, q * sw : q * sw + kw]
                    out[i, o, r, q] = np.sum(patch * w[o]) + b[o]
    return out


def naive_pool(x, k, s, reduce):
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.empty((n, c, oh, ow))
    for i in range(n):
        for j in range(c):
            for r in range(oh):
                for q in range(ow):
                    out[i, j, r, q] = reduce(x[i, j, r * s : r * s + k, q * s : q * s + k])
    return out


# --------------------------------------------------------------------------------------------
# Strategies: small NCHW geometries where the kernel fits the padded image.


@st.composite
def conv_geometries(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 7))
    w = draw(st.integers(max(1, kw - 2 * pw), 7))
    return {
        "n": draw(st.integers(1, 2)),
        "c": draw(st.integers(1, 3)),
        "o": draw(st.integers(1, 3)),
        "hw": (h, w),
        "kernel": (kh, kw),
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "padding": (ph, pw),
        "seed": draw(st.integers(0, 2**16)),
    }


def _arrays(g):
    rng = np.random.default_rng(g["seed"])
    x = rng.standard_normal((g["n"], g["c"], *g["hw"]))
    w = rng.standard_normal((g["o"], g["c"], *g["kernel"]))
    return x, w, rng.standard_normal(g["o"])


# --------------------------------------------------------------------------------------------
# The windowing primitive


@given(conv_geometries())
def test_sliding_windows_equal_the_definition(g):
    x, _, _ = _arrays(g)
    (kh, kw), (sh, sw), (ph, pw) = g["kernel"], g["stride"], g["padding"]
    out = sliding_windows(x, g["kernel"], g["stride"], g["padding"])
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    assert out.shape == (g["c"], kh, kw, g["n"], oh, ow)
    for k, u, v, i, r, q in np.ndindex(out.shape):
        assert out[k, u, v, i, r, q] == xp[i, k, r * sh + u, q * sw + v]


@given(conv_geometries())
def test_sliding_windows_vjp_is_the_adjoint(g):
    """<W x, y> = <x, W^T y>: the scatter-back is exactly the transpose of windowing."""
    x, _, _ = _arrays(g)
    vjp, windows = make_vjp(lambda x: sliding_windows(x, g["kernel"], g["stride"], g["padding"]))(x)
    y = np.random.default_rng(g["seed"] + 1).standard_normal(windows.shape)
    np.testing.assert_allclose(np.sum(windows * y), np.sum(x * vjp(y)), rtol=1e-12, atol=1e-12)


def test_sliding_windows_gradients_in_both_modes_to_second_order():
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 6))
    for kernel, stride, padding in [((2, 3), (2, 1), (1, 0)), (3, 2, 1), (1, 1, 0)]:
        check_grads(
            lambda x, k=kernel, s=stride, p=padding: sliding_windows(x, k, s, p),
            modes=["fwd", "rev"],
            order=2,
        )(x)


def test_gradient_check_catches_a_gradient_off_by_a_tenth_of_a_percent():
    """Guards the checker itself: a VJP scaled by 1.001 must fail check_grads."""
    geometry = (3, 3, 1, 1, 1, 1)
    slightly_wrong = primitive(lambda x: _windows(x, *geometry))
    defvjp(
        slightly_wrong,
        lambda ans, x: lambda g: 1.001 * make_vjp(lambda x: _windows(x, *geometry))(x)[0](g),
    )
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4))
    check_grads(lambda x: _windows(x, *geometry), modes=["rev"], order=1)(x)
    with pytest.raises(AssertionError):
        check_grads(slightly_wrong, modes=["rev"], order=1)(x)


# --------------------------------------------------------------------------------------------
# Layers


@given(conv_geometries())
def test_conv2d_equals_explicit_loops(g):
    x, w, b = _arrays(g)
    out = conv2d({"w": w, "b": b}, x, g["stride"], g["padding"])
    expected = naive_conv2d(x, w, b, g["stride"], g["padding"])
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


def test_conv2d_equals_scipy_correlation():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 9, 8)), rng.standard_normal((1, 2, 3, 2))
    expected = sum(scipy.signal.correlate2d(x[0, c], w[0, c], mode="valid") for c in range(2))
    out = conv2d({"w": w, "b": np.zeros(1)}, x)
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-12, atol=1e-12)


def test_conv2d_gradients_with_respect_to_input_and_parameters():
    rng = np.random.default_rng(2)
    x, params = rng.standard_normal((2, 3, 6, 5)), conv_params(rng, 3, 4, 3)
    check_grads(lambda x: conv2d(params, x, 2, 1), modes=["fwd", "rev"], order=2)(x)
    check_grads(lambda p: conv2d(p, x, (1, 2), (0, 1)), modes=["fwd", "rev"], order=1)(params)


@pytest.mark.parametrize("k, s", [(2, 2), (3, 1), (3, 2)])
def test_pools_equal_explicit_loops(k, s):
    x = np.random.default_rng(3).standard_normal((2, 3, 7, 6))
    np.testing.assert_allclose(
        max_pool2d(x, k, s), naive_pool(x, k, s, np.max), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        avg_pool2d(x, k, s), naive_pool(x, k, s, np.mean), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("k, s", [(2, 2), (3, 1), ((2, 3), (1, 2))])
def test_pool_gradients(k, s):
    x = np.random.default_rng(4).standard_normal((2, 2, 6, 7))
    check_grads(lambda x: max_pool2d(x, k, s), modes=["fwd", "rev"], order=1)(x)
    check_grads(lambda x: avg_pool2d(x, k, s), modes=["fwd", "rev"], order=2)(x)


def test_max_pool_gradient_goes_to_the_maximum_and_ties_split_it():
    x = np.array([[[[1.0, 5.0, 2.0, 2.0], [3.0, 0.0, 2.0, 2.0]]]])
    g = grad(lambda x: anp.sum(max_pool2d(x, 2)))(x)
    expected = np.array([[[[0.0, 1.0, 0.25, 0.25], [0.0, 0.0, 0.25, 0.25]]]])
    np.testing.assert_allclose(g, expected, rtol=0, atol=0)


@pytest.mark.parametrize("k", [2, 3, (2, 3)])
def test_max_pool_of_blocks_equals_the_windowed_pool_in_value_and_gradient(k):
    """Non-overlapping pools take a reshape instead of copied windows; both are the same map."""
    from uniloss_ref.experiments.nn.layers import _pool

    rng = np.random.default_rng(16)
    x = rng.integers(0, 3, size=(2, 3, 7, 8)).astype(float)  # small integers: many ties
    g = rng.standard_normal(np.shape(max_pool2d(x, k)))
    windowed = lambda x: _pool(anp.max, x, k, k)
    np.testing.assert_array_equal(max_pool2d(x, k), windowed(x))
    np.testing.assert_allclose(
        grad(lambda x: anp.sum(max_pool2d(x, k) * g))(x),
        grad(lambda x: anp.sum(windowed(x) * g))(x),
        rtol=1e-15,
        atol=1e-15,
    )
    x32 = x.astype(np.float32)
    assert grad(lambda x: anp.sum(max_pool2d(x, k)))(x32).dtype == np.float32


def test_overlapping_max_pool_gradient_counts_every_window_won():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0
    g = grad(lambda x: anp.sum(max_pool2d(x, 2, 1)))(x)
    assert g[0, 0, 1, 1] == 4.0
    assert np.sum(g) == 4.0


def test_relu_values_and_zero_derivative_at_zero():
    x = np.array([-2.0, -0.0, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(relu(x), [0.0, 0.0, 0.0, 0.5, 3.0], rtol=0, atol=0)
    np.testing.assert_allclose(grad(lambda x: anp.sum(relu(x)))(x), [0, 0, 0, 1, 1], rtol=0, atol=0)
    away_from_zero = np.random.default_rng(5).standard_normal((3, 4)) + 0.1
    check_grads(relu, modes=["fwd", "rev"], order=2)(away_from_zero)


def test_dense_equals_matrix_product_and_has_correct_gradients():
    rng = np.random.default_rng(6)
    x, params = rng.standard_normal((5, 4)), dense_params(rng, 4, 3)
    params["b"] = rng.standard_normal(3)
    expected = [
        [sum(x[i, k] * params["w"][k, j] for k in range(4)) + params["b"][j] for j in range(3)]
        for i in range(5)
    ]
    np.testing.assert_allclose(dense(params, x), expected, rtol=1e-12, atol=1e-12)
    check_grads(lambda x: dense(params, x), modes=["fwd", "rev"], order=2)(x)
    check_grads(lambda p: dense(p, x), modes=["fwd", "rev"], order=2)(params)


def test_flatten_and_upsample_values_and_gradients():
    x = np.random.default_rng(7).standard_normal((2, 3, 2, 4))
    np.testing.assert_array_equal(flatten(x), x.reshape(2, 24))
    up = upsample_nearest(x, (2, 3))
    assert up.shape == (2, 3, 4, 12)
    for i, c, r, q in np.ndindex(up.shape):
        assert up[i, c, r, q] == x[i, c, r // 2, q // 3]
    check_grads(flatten, modes=["fwd", "rev"], order=2)(x)
    check_grads(lambda x: upsample_nearest(x, 2), modes=["fwd", "rev"], order=2)(x)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda x, p: conv2d(p, x[0]), ValueError, "x must have shape (n, c, h, w)"),
        (lambda x, p: conv2d(p, x[:, :2]), ValueError, "channels"),
        (lambda x, p: conv2d(p, x, padding=-1), ValueError, "padding"),
        (lambda x, p: conv2d(p, x, stride=0), ValueError, "stride"),
        (lambda x, p: conv2d(p, x, stride=1.5), TypeError, "stride"),
        (lambda x, p: conv2d({"w": p["w"]}, x), TypeError, "keys 'w' and 'b'"),
        (lambda x, p: conv2d({"w": p["w"], "b": p["b"][:2]}, x), ValueError, "params['b']"),
        (lambda x, p: conv2d({"w": p["w"][0], "b": p["b"]}, x), ValueError, "params['w']"),
        (lambda x, p: sliding_windows(x, 6), ValueError, "does not fit"),
        (lambda x, p: sliding_windows(x, (2, 2, 2)), TypeError, "kernel_size"),
        (lambda x, p: max_pool2d(x[0]), ValueError, "x must have shape"),
        (lambda x, p: dense({"w": np.ones((4, 2)), "b": np.ones(2)}, x), ValueError, "(n, 4)"),
        (lambda x, p: upsample_nearest(x, 0), ValueError, "factor"),
        (lambda x, p: flatten(np.float64(1.0)), ValueError, "batch axis"),
    ],
)
def test_layers_reject_bad_input_by_name(call, error, words):
    rng = np.random.default_rng(8)
    x, params = rng.standard_normal((2, 3, 5, 5)), conv_params(rng, 3, 4, 3)
    with pytest.raises(error, match=re.escape(words)):
        call(x, params)


# --------------------------------------------------------------------------------------------
# Initialisation


def test_fans_of_dense_and_convolution_weights():
    assert fan_in_fan_out((30, 20)) == (30, 20)
    assert fan_in_fan_out((8, 3, 5, 5)) == (75, 200)


def test_he_and_glorot_have_their_variances():
    rng = np.random.default_rng(9)
    he = he_normal(rng, (64, 32, 5, 5))
    np.testing.assert_allclose(he.std(), np.sqrt(2 / 800), rtol=0.02, atol=0)
    np.testing.assert_allclose(he.mean(), 0.0, rtol=0, atol=0.01 * he.std())
    glorot = glorot_uniform(rng, (300, 500))
    limit = np.sqrt(6 / 800)
    assert -limit <= glorot.min() and glorot.max() <= limit
    np.testing.assert_allclose(glorot.var(), 2 / 800, rtol=0.02, atol=0)


def test_initialisation_is_fixed_by_the_generator_and_leaves_the_global_rng_alone():
    before = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy state is what we guard)
    a = small_cnn().init_params(np.random.default_rng(10))
    b = small_cnn().init_params(np.random.default_rng(10))
    c = small_cnn().init_params(np.random.default_rng(11))
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    np.testing.assert_array_equal(a["conv"][1]["w"], b["conv"][1]["w"])
    assert not np.array_equal(a["conv"][1]["w"], c["conv"][1]["w"])
    assert he_normal(np.random.default_rng(0), (3, 2), np.float32).dtype == np.float32


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: he_normal(0, (3, 2)), TypeError, "numpy.random.Generator"),
        (lambda: glorot_uniform(np.random.default_rng(0), (3,)), ValueError, "shape"),
        (lambda: he_normal(np.random.default_rng(0), (3, 0)), ValueError, "shape"),
        (lambda: dense_params(np.random.default_rng(0), 0, 3), ValueError, "d_in"),
        (lambda: conv_params(np.random.default_rng(0), 1, 2, init="x"), ValueError, "init"),
    ],
)
def test_initialisers_reject_bad_input_by_name(call, error, words):
    with pytest.raises(error, match=words):
        call()


# --------------------------------------------------------------------------------------------
# Models


def test_model_output_shapes():
    rng = np.random.default_rng(12)
    net = mlp((64, 5, 1))
    images = rng.standard_normal((3, 1, 8, 8))
    assert net.apply(net.init_params(rng), images).shape == (3, 1)
    assert mlp().apply(mlp().init_params(rng), rng.standard_normal((2, 784))).shape == (2, 1)
    cnn = small_cnn((1, 8, 8), channels=(4, 8), hidden=None, n_classes=10)
    assert cnn.apply(cnn.init_params(rng), images).shape == (3, 10)
    cnn = small_cnn((1, 28, 28), n_classes=3)
    assert cnn.apply(cnn.init_params(rng), rng.standard_normal((2, 1, 28, 28))).shape == (2, 3)
    heat = heatmap_net(5)
    assert heat.apply(heat.init_params(rng), rng.standard_normal((2, 1, 32, 32))).shape == (
        2,
        5,
        32,
        32,
    )


def _jitter_biases(tree, rng):
    """Random biases: with zero biases a sample whose units are all dead feeds an exact 0 into
    the next ReLU, a kink where finite differences and the (sub)gradient rightly disagree."""
    if isinstance(tree, list):
        return [_jitter_biases(t, rng) for t in tree]
    if "w" in tree:
        return {"w": tree["w"], "b": rng.normal(0, 0.1, tree["b"].shape)}
    return {k: _jitter_biases(v, rng) for k, v in tree.items()}


def test_model_parameter_gradients():
    rng = np.random.default_rng(13)
    cases = [
        (mlp((12, 4, 3, 2)), rng.standard_normal((3, 12))),
        (
            small_cnn((1, 8, 8), channels=(2, 3), hidden=4, n_classes=3),
            rng.standard_normal((2, 1, 8, 8)),
        ),
        (heatmap_net(2, channels=(2, 3)), rng.standard_normal((1, 1, 8, 8))),
    ]
    for model, x in cases:
        params = _jitter_biases(model.init_params(rng), rng)
        check_grads(lambda p, m=model, x=x: m.apply(p, x), modes=["rev"], order=1)(params)


def test_heatmap_net_receptive_field_spans_30_to_34_pixels():
    """The Notes of heatmap_net claim this. Measured by perturbation, not by the gradient:
    a max pool passes the gradient to one input per window only, which would undercount."""
    rng = np.random.default_rng(14)
    net = heatmap_net(1)
    params = net.init_params(rng)
    # Positive weights and biases make every unit live and the output increasing in every
    # input, so a pixel inside the field always changes it.
    for layer in [*params["down"], params["bottom"], *params["up"], params["head"]]:
        layer["w"] = np.abs(layer["w"])
        layer["b"] = np.abs(layer["b"]) + 1.0
    x = np.abs(rng.standard_normal((1, 1, 48, 48)))
    # Image k has a spike (large enough to win every max pool) at row k of column 24.
    spiked = np.repeat(x, 48, axis=0)
    spiked[np.arange(48), 0, np.arange(48), 24] += 100.0
    base = net.apply(params, x)[0, 0, 24:28, 24]
    out = net.apply(params, spiked)[:, 0, 24:28, 24]
    extents = [np.ptp(np.nonzero(out[:, j] != base[j])[0]) + 1 for j in range(4)]
    assert sorted(extents) == [30, 30, 34, 34]


def test_small_cnn_fits_a_tiny_batch_with_plain_gradient_descent():
    from uniloss_ref.experiments.nn.losses import softmax_cross_entropy

    rng = np.random.default_rng(15)
    cnn = small_cnn((1, 8, 8), channels=(4, 8), hidden=16, n_classes=3)
    params = cnn.init_params(rng)
    x, y = rng.standard_normal((12, 1, 8, 8)), np.arange(12) % 3
    loss = lambda p: softmax_cross_entropy(cnn.apply(p, x), y)
    start = loss(params)
    for _ in range(30):
        g = grad(loss)(params)
        params = {
            k: [{n: a - 0.1 * g[k][i][n] for n, a in layer.items()} for i, layer in enumerate(v)]
            for k, v in params.items()
        }
    assert loss(params) < 0.5 * start


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: mlp((784,)), "sizes"),
        (lambda: mlp((784, 0, 1)), "sizes"),
        (lambda: small_cnn((1, 8, 8), channels=(4, 4, 4, 4)), "stages"),
        (lambda: small_cnn((8, 8)), "in_shape"),
        (lambda: small_cnn(n_classes=0), "n_classes"),
        (lambda: heatmap_net(0), "n_joints"),
    ],
)
def test_model_factories_reject_bad_arguments_by_name(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_models_reject_inputs_of_the_wrong_shape():
    rng = np.random.default_rng(16)
    for model, x in [
        (mlp((64, 3, 1)), rng.standard_normal((2, 63))),
        (small_cnn((1, 8, 8), channels=(2,)), rng.standard_normal((2, 1, 8, 9))),
        (heatmap_net(2), rng.standard_normal((2, 1, 30, 32))),
    ]:
        with pytest.raises(ValueError, match="x must have shape"):
            model.apply(model.init_params(rng), x)
