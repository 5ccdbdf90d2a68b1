"""The device layer: choosing NumPy or CuPy, moving arrays, and autograd on device arrays.

Every rule of the autograd bridge runs on the strict stand-in of ``tests/standin.py`` on every
run, and on CuPy when it is installed and a CUDA device works. Values and gradients on a
device must equal NumPy's to 1e-12 and pass autograd's ``check_grads``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, make_vjp
from autograd.core import primitive_vjps
from autograd.extend import Box, VSpace, defvjp, primitive, vspace
from autograd.test_util import check_grads
from numpy.testing import assert_allclose, assert_array_equal

from tests.standin import StandinArray, working_cupy
from tests.standin import xp as standin
from uniloss_ref import device as backend
from uniloss_ref.device.bridge import concatenate, register, stack

ROOT = Path(__file__).resolve().parents[1]
TOL = {"rtol": 1e-12, "atol": 1e-12}


@pytest.fixture(scope="module", autouse=True)
def _register_standin() -> None:
    register(StandinArray, standin)


@pytest.fixture(params=["standin", "cupy"])
def xp(request: pytest.FixtureRequest) -> ModuleType:
    """A device array library: the stand-in always, CuPy where a GPU works."""
    return standin if request.param == "standin" else working_cupy()


# ----- The operations each bridged rule covers -----


@dataclass(frozen=True)
class Case:
    name: str
    fun: Callable[..., Any]
    shapes: tuple[tuple[int, ...], ...]

    def numpy_args(self) -> list[np.ndarray]:
        rng = np.random.default_rng(sum(map(ord, self.name)))
        return [rng.standard_normal(shape) for shape in self.shapes]


def _on_device_of(x: Any, values: Any) -> Any:
    """Constants built next to ``x``, as library code does it."""
    return backend.get_array_module(x).asarray(values)


def _surrogate_like(s: Any) -> Any:
    # A miniature UniLoss: gathered comparisons, tanh, IDW weights, interpolated value.
    i, j = _on_device_of(s, [0, 0, 1, 2]), _on_device_of(s, [3, 4, 3, 4])
    b = anp.tanh((s[i] - s[j]) / 2.0)
    anchors = _on_device_of(s, [[1.0, 1, 1, 1], [1, -1, 1, 1], [-1, 1, -1, 1]])
    w = anp.exp(-0.5 * anp.log(anp.sum((b - anchors) ** 2, axis=1)))
    return anp.dot(w / anp.sum(w), _on_device_of(s, [1.0, 0.75, 0.25]))


CASES = [
    Case("sum", lambda x: anp.sum(x), ((3, 4),)),
    Case("sum-axis", lambda x: anp.sum(x, axis=0), ((3, 4),)),
    Case("sum-axes-keepdims", lambda x: anp.sum(x, axis=(0, -1), keepdims=True), ((2, 3, 4),)),
    Case("sum-method", lambda x: x.sum(axis=-1), ((3, 4),)),
    Case("mean", lambda x: anp.mean(x, axis=-1), ((3, 4),)),
    Case("mean-all", lambda x: anp.mean(x), ((2, 3, 2),)),
    Case("prod", lambda x: anp.prod(x, axis=1), ((3, 4),)),
    Case("var", lambda x: anp.var(x, axis=0, ddof=1), ((3, 4),)),
    Case("std", lambda x: anp.std(x), ((3, 4),)),
    Case("std-single", lambda x: anp.std(x, axis=0), ((1, 4),)),
    Case("max", lambda x: anp.max(x, axis=1), ((3, 4),)),
    Case("min", lambda x: anp.min(x), ((3, 4),)),
    Case("amax", lambda x: anp.amax(x, axis=(0, 2)), ((2, 3, 4),)),
    Case("amin", lambda x: anp.amin(x, axis=-1, keepdims=True), ((3, 4),)),
    Case("where", lambda x: anp.where(x > 0, x, x**2), ((3, 4),)),
    Case("where-two", lambda x, y: anp.where(x > y, x, y), ((3, 4), (3, 4))),
    Case("dot-matvec", lambda a, b: anp.dot(a, b), ((3, 4), (4,))),
    Case("dot-vecvec", lambda a, b: anp.dot(a, b), ((4,), (4,))),
    Case("dot-matmat", lambda a, b: anp.dot(a, b), ((2, 3), (3, 5))),
    Case("dot-3d", lambda a, b: anp.dot(a, b), ((2, 3, 4), (5, 4, 2))),
    Case("matmul-batch", lambda a, b: a @ b, ((2, 3, 4), (4, 5))),
    Case("matmul-vec", lambda a, b: anp.matmul(a, b), ((4,), (4, 5))),
    Case("tensordot-2", lambda a, b: anp.tensordot(a, b), ((2, 3, 4), (3, 4, 5))),
    Case(
        "tensordot-pairs",
        lambda a, b: anp.tensordot(a, b, axes=([0, 2], [2, 0])),
        ((4, 3, 2), (2, 5, 4)),
    ),
    Case("tensordot-outer", lambda a, b: anp.tensordot(a, b, axes=0), ((2,), (3,))),
    Case("einsum-matmul", lambda a, b: anp.einsum("ij,jk->ik", a, b), ((2, 3), (3, 4))),
    Case("einsum-summed-out", lambda a, b: anp.einsum("ijk,j->i", a, b), ((2, 3, 4), (3,))),
    Case("einsum-all", lambda a: anp.einsum("ij->", a), ((2, 3),)),
    Case("einsum-ellipsis", lambda a, b: anp.einsum("...ij,j->...i", a, b), ((2, 3, 4), (4,))),
    Case("einsum-sublist", lambda a, b: anp.einsum(a, [0, 1], b, [1], [0]), ((2, 3), (3,))),
    Case("index-slices", lambda x: x[1:, ::2], ((3, 4),)),
    Case("index-int", lambda x: x[1], ((3, 4),)),
    Case("index-scalar", lambda x: x[1, 2], ((3, 4),)),
    Case("index-newaxis", lambda x: x[..., None, 0], ((3, 4),)),
    Case("index-array-repeats", lambda x: x[_on_device_of(x, [0, 0, 2])], ((3, 4),)),
    Case(
        "index-array-pairs",
        lambda x: x[_on_device_of(x, [0, 2, 0]), _on_device_of(x, [1, 3, 1])],
        ((3, 4),),
    ),
    Case("index-list", lambda x: x[[2, 0, 2]], ((3, 4),)),
    Case(
        "index-mask", lambda x: x[_on_device_of(x, np.arange(12).reshape(3, 4) % 3 == 0)], ((3, 4),)
    ),
    Case("concatenate", lambda a, b: concatenate([a, b]), ((2, 3), (1, 3))),
    Case("concatenate-last", lambda a, b: concatenate((a, 2.0 * b, a), axis=-1), ((2, 3), (2, 1))),
    Case("stack", lambda a, b: stack([a, b]), ((2, 3), (2, 3))),
    Case("stack-last", lambda a, b: stack([a, b, a * b], axis=-1), ((2, 3), (2, 3))),
    Case("surrogate-like", _surrogate_like, ((5,),)),
]


def _vjp(case: Case, args: list[Any], cotangent: Callable[[tuple[int, ...]], Any]) -> tuple:
    """The value of ``case.fun`` and its VJP with respect to every argument."""
    vjp, value = make_vjp(case.fun, argnum=tuple(range(len(args))))(*args)
    return value, vjp(cotangent(np.shape(value)))


def _numpy_value_and_gradients(case: Case) -> tuple:
    rng = np.random.default_rng(1)
    return _vjp(case, case.numpy_args(), lambda shape: rng.standard_normal(shape))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_device_value_and_gradients_equal_numpy(case: Case, xp: ModuleType) -> None:
    rng = np.random.default_rng(1)
    device_args = [xp.asarray(a) for a in case.numpy_args()]
    value, grads = _vjp(case, device_args, lambda shape: xp.asarray(rng.standard_normal(shape)))
    expected_value, expected_grads = _numpy_value_and_gradients(case)
    # The result stays on the device, 0-d arrays included.
    assert type(value) is xp.ndarray
    assert_allclose(value.get(), expected_value, **TOL)
    for g, expected in zip(grads, expected_grads, strict=True):
        assert type(g) is xp.ndarray
        assert g.dtype == expected.dtype
        assert_allclose(g.get(), expected, **TOL)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_device_gradients_pass_check_grads(case: Case, xp: ModuleType) -> None:
    args = [xp.asarray(a) for a in case.numpy_args()]
    check_grads(case.fun, argnum=tuple(range(len(args))), modes=["rev"], order=2)(*args)


def test_max_shares_the_gradient_among_ties_as_on_numpy(xp: ModuleType) -> None:
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    expected = [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]

    def f(v):
        return anp.sum(anp.max(v, axis=1))

    assert_allclose(grad(f)(x), expected, **TOL)
    assert_allclose(grad(f)(xp.asarray(x)).get(), expected, **TOL)


def test_check_grads_catches_a_gradient_that_is_one_part_in_a_thousand_wrong() -> None:
    @primitive
    def cube(x):
        return x**3

    defvjp(cube, lambda ans, x: lambda g: g * 3.0 * x**2 * 1.001)
    with pytest.raises(AssertionError):
        check_grads(cube, modes=["rev"], order=1)(standin.asarray([0.5, -1.2, 2.0]))


# ----- Registration -----


def _run_python(script: str) -> None:
    """Run ``script`` in a fresh interpreter (nothing registered yet), warnings as errors."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_registration_leaves_numpy_results_bit_identical() -> None:
    """autograd on NumPy arrays gives the same bits before and after registering a type."""
    script = """
import numpy as np
from tests.standin import StandinArray, xp
from tests.test_backend import CASES, _numpy_value_and_gradients
from uniloss_ref.device.bridge import register

before = [_numpy_value_and_gradients(case) for case in CASES]
register(StandinArray, xp)
after = [_numpy_value_and_gradients(case) for case in CASES]
for case, (v0, g0), (v1, g1) in zip(CASES, before, after):
    assert type(v0) is type(v1) and np.array_equal(v0, v1), case.name
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(g0, g1)), case.name
"""
    _run_python(script)


def test_register_is_idempotent() -> None:
    rules, boxes, spaces = dict(primitive_vjps), dict(Box.type_mappings), dict(VSpace.mappings)
    register(StandinArray, standin)
    assert primitive_vjps == rules
    assert Box.type_mappings == boxes
    assert VSpace.mappings == spaces


def test_register_refuses_types_autograd_already_knows() -> None:
    with pytest.raises(ValueError, match="array_type"):
        register(np.ndarray, standin)
    with pytest.raises(ValueError, match="array_type"):
        register(float, standin)
    with pytest.raises(TypeError, match="array_type"):
        register(StandinArray(np.zeros(2)), standin)
    with pytest.raises(ValueError, match="already registered"):
        register(StandinArray, np)


def test_register_needs_a_scatter_add() -> None:
    class Unknown:
        pass

    with pytest.raises(TypeError, match="scatter_add"):
        register(Unknown, ModuleType("no_scatter_add"))


def test_device_vector_space_refuses_complex_arrays() -> None:
    with pytest.raises(TypeError, match="complex"):
        vspace(standin.asarray([1.0 + 2.0j]))


# ----- The stand-in is as strict as CuPy -----


def test_standin_refuses_the_host() -> None:
    s = standin.asarray([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(s)
    with pytest.raises(TypeError, match=r"numpy\.ndarray"):
        s + np.ones(3)
    with pytest.raises(TypeError, match=r"numpy\.ndarray"):
        np.ones(3) * s
    with pytest.raises(TypeError, match=r"numpy\.ndarray operands in concatenate"):
        np.concatenate([s, np.ones(3)])
    with pytest.raises(TypeError, match="same device"):
        s[np.array([0, 1])]
    with pytest.raises(TypeError, match="same device"):
        s[0, np.array([0, 1])]
    with pytest.raises(TypeError, match="assign"):
        s[:] = np.ones(3)
    # Host arrays as parameters (here autograd's own transpose rule passes axes so) are fine.
    assert_array_equal(np.transpose(s[None], np.array([1, 0])).get(), [[1.0], [2.0], [3.0]])
    with pytest.raises(TypeError):
        np.median(s)  # not a function the stand-in (or CuPy) handles


def test_standin_reductions_and_scalar_indexing_give_0d_arrays() -> None:
    s = standin.asarray([[1.0, 2.0], [3.0, 4.0]])
    for result in (np.sum(s), s.max(), s[1, 0], anp.mean(s), s[0] @ s[1]):
        assert type(result) is StandinArray
        assert result.shape == ()
    assert float(np.sum(s)) == 10.0


def test_autograd_cannot_join_device_arrays_but_the_bridge_can() -> None:
    s = standin.asarray([1.0, 2.0])
    with pytest.raises((TypeError, AttributeError)):
        anp.concatenate([s, s])
    with pytest.raises(TypeError):
        anp.array([s, s])
    assert_array_equal(stack([s, s]).get(), [[1.0, 2.0], [1.0, 2.0]])


# ----- Choosing the device -----


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without CuPy."""

    def missing() -> ModuleType:
        raise ModuleNotFoundError("No module named 'cupy'")

    monkeypatch.setattr(backend, "_import_cupy", missing)
    monkeypatch.setattr(backend, "_gpu", None)
    monkeypatch.setattr(backend, "_default_device", None)


@pytest.fixture
def standin_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine whose 'GPU' is the stand-in."""
    monkeypatch.setattr(backend, "_import_cupy", lambda: standin)
    monkeypatch.setattr(backend, "_gpu", None)
    monkeypatch.setattr(backend, "_default_device", None)


def test_importing_the_backend_does_not_import_cupy() -> None:
    script = "import sys, uniloss_ref.device; assert 'cupy' not in sys.modules"
    _run_python(script)


@pytest.mark.parametrize(("value", "device"), [("cpu", "cpu"), ("gpu", "gpu"), ("auto", "gpu")])
def test_environment_variable_selects_the_device(
    standin_gpu: None, monkeypatch: pytest.MonkeyPatch, value: str, device: str
) -> None:
    monkeypatch.setenv(backend.DEVICE_ENV_VAR, value)
    assert backend.get_device() == device
    assert backend.device_module() is (np if device == "cpu" else standin)


def test_cpu_is_the_default_and_auto_falls_back_to_it(
    no_gpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(backend.DEVICE_ENV_VAR, raising=False)
    assert backend.get_device() == "cpu"
    assert backend.resolve_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="CuPy"):
        backend.resolve_device("gpu")


def test_set_device_overrides_the_environment(
    standin_gpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(backend.DEVICE_ENV_VAR, "cpu")
    assert backend.set_device("gpu") == "gpu"
    assert backend.get_device() == "gpu"
    assert backend.set_device(None) == "cpu"


def test_bad_device_names_are_rejected_by_name(
    no_gpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="device must be one of cpu, gpu, auto; got 'cuda'"):
        backend.set_device("cuda")
    with pytest.raises(TypeError, match="device must be a string"):
        backend.to_device(np.zeros(2), 0)
    monkeypatch.setenv(backend.DEVICE_ENV_VAR, "GPU")
    with pytest.raises(ValueError, match="UNILOSS_DEVICE must be one of"):
        backend.get_device()


# ----- Arrays on devices -----


def test_get_array_module_sees_through_autograd_boxes() -> None:
    s = standin.asarray([1.0, 2.0])
    assert backend.get_array_module(np.zeros(2)) is np
    assert backend.get_array_module(1.5, [1, 2]) is np
    assert backend.get_array_module(np.zeros(2), s) is standin
    seen = []

    def f(x):
        seen.append(backend.get_array_module(x))
        return anp.sum(x**2)

    grad(f)(s)
    assert seen == [standin]
    assert backend.device_of(s) == "gpu"
    assert backend.device_of(np.float64(1.0)) == "cpu"


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_])
def test_to_device_and_to_numpy_round_trip(standin_gpu: None, dtype: type) -> None:
    host = np.random.default_rng(0).standard_normal((3, 4)).astype(dtype)
    device = backend.to_device(host, "gpu")
    assert type(device) is StandinArray
    back = backend.to_numpy(device)
    assert type(back) is np.ndarray
    assert back.dtype == dtype
    assert_array_equal(back, host)
    assert backend.to_device(device, "gpu") is device
    assert backend.to_device(host, "cpu") is host
    assert backend.to_numpy(host) is host


def test_to_device_is_differentiable_both_ways(standin_gpu: None) -> None:
    x = np.array([1.0, -2.0, 3.0])
    g = grad(lambda v: anp.sum(backend.to_device(v, "gpu") ** 2))(x)
    assert type(g) is np.ndarray
    assert_allclose(g, 2.0 * x, **TOL)
    g = grad(lambda v: anp.sum(backend.to_device(v, "cpu") ** 3))(standin.asarray(x))
    assert type(g) is StandinArray
    assert_allclose(g.get(), 3.0 * x**2, **TOL)


def test_to_numpy_detaches_autograd_boxes() -> None:
    seen = []

    def f(x):
        seen.append(backend.to_numpy(x))
        return anp.sum(x)

    grad(f)(standin.asarray([1.0, 2.0]))
    assert type(seen[0]) is np.ndarray
    assert_array_equal(seen[0], [1.0, 2.0])


def test_creation_helpers_follow_the_default_device(standin_gpu: None) -> None:
    backend.set_device("cpu")
    assert type(backend.zeros(3)) is np.ndarray
    backend.set_device("gpu")
    made = [
        backend.zeros((2, 3)),
        backend.ones(4, dtype=np.float32),
        backend.full((2,), 7.0),
        backend.arange(1, 7, 2),
    ]
    assert all(type(a) is StandinArray for a in made)
    assert made[1].dtype == np.float32
    assert_array_equal(made[2].get(), [7.0, 7.0])
    assert_array_equal(made[3].get(), [1, 3, 5])
    assert type(backend.zeros(3, device="cpu")) is np.ndarray


def test_default_rng_is_seeded_per_device_and_leaves_the_global_rng_alone(
    standin_gpu: None,
) -> None:
    # The global stream is read, never drawn from, to show that nothing else drew from it.
    state = np.random.get_state()  # noqa: NPY002
    cpu = backend.default_rng(7, "cpu").standard_normal(5)
    assert_array_equal(cpu, np.random.default_rng(7).standard_normal(5))
    gpu = backend.default_rng(7, "gpu").standard_normal(5)
    assert type(gpu) is StandinArray
    # The stand-in shares NumPy's stream; CuPy's differs (see the backend module's rule 7).
    assert_array_equal(gpu.get(), cpu)
    after = np.random.get_state()  # noqa: NPY002
    assert all(np.array_equal(a, b) for a, b in zip(state, after, strict=True))


# ----- CuPy itself -----


def test_cupy_backend_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    cupy = working_cupy()
    monkeypatch.setattr(backend, "_default_device", None)
    assert backend.set_device("auto") == "gpu"
    x = backend.to_device(np.arange(4.0))
    assert type(x) is cupy.ndarray
    assert backend.get_array_module(x) is cupy
    assert type(backend.default_rng(0).random(3)) is cupy.ndarray
    g = grad(lambda v: anp.sum(backend.to_device(v, "gpu") ** 2))(np.arange(4.0))
    assert_allclose(g, 2.0 * np.arange(4.0), **TOL)
    assert_allclose(backend.to_numpy(x), np.arange(4.0), **TOL)
