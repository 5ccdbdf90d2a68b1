"""A strict NumPy-backed stand-in for CuPy's array, so the device bridge is tested without a GPU.

:class:`StandinArray` wraps an ``ndarray`` and behaves the way CuPy's ``ndarray`` does where it
matters to device-neutral code:

* it refuses implicit conversion to NumPy (``numpy.asarray(a)`` raises ``TypeError``); the
  explicit way out is ``a.get()``, the way in is ``xp.asarray(host)``;
* it refuses ``numpy.ndarray`` operands of ufuncs and functions, and as an index or an
  assigned value (CuPy copies host indices and values silently; here that is an error, so
  such transfers are found). Host arrays as parameters (``axes``) pass, as in CuPy;
* reductions and integer indexing return 0-d arrays, never NumPy scalars;
* only the NumPy functions listed in ``_FUNCTIONS`` (and ufunc calls) are handled; any other
  raises ``TypeError`` from NumPy's dispatcher, as a function CuPy lacks would;
* Python scalars and NumPy scalars (``numpy.float64(2.0)``) mix freely, as in CuPy.

``xp`` is the matching module-like namespace (creation functions, the handled functions,
ufuncs, ``random`` and ``scatter_add``), standing in for ``cupy`` in ``get_array_module``.
Unlike CuPy, the stand-in's random streams equal NumPy's and its scatter-add is exact.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from numpy.lib.mixins import NDArrayOperatorsMixin
from numpy.lib.stride_tricks import sliding_window_view

from uniloss_ref.device.bridge import register

_SCALARS = (bool, int, float, complex, np.generic)


class StandinArray(NDArrayOperatorsMixin):
    """An array on a pretend device: NumPy inside, CuPy's manners outside."""

    __slots__ = ("_data",)

    def __init__(self, data: np.ndarray) -> None:
        if not isinstance(data, np.ndarray):
            raise TypeError(f"data must be a numpy.ndarray, got {type(data).__name__}")
        self._data = data

    # ----- refusing the host -----

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
            "construct a NumPy array explicitly."
        )

    def get(self) -> np.ndarray:
        """A host copy (CuPy's ``ndarray.get``)."""
        return self._data.copy()

    # ----- NumPy protocols -----

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__":
            return NotImplemented
        try:
            args = [_operand(v) for v in inputs]
            if "where" in kwargs:
                kwargs["where"] = _operand(kwargs["where"])
            out = kwargs.get("out")
            if out is not None:
                kwargs["out"] = tuple(_operand(o) for o in out)
        except _Defer:
            # An autograd box (or another array type) may know what to do; let it try.
            return NotImplemented
        result = ufunc(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func not in _FUNCTIONS:
            return NotImplemented
        # ``types`` holds the types of the array operands only; host arrays elsewhere (such
        # as autograd passing ``axes`` as an integer array) are parameters, as CuPy treats them.
        if any(issubclass(t, np.ndarray) for t in types):
            raise TypeError(
                f"the stand-in device does not mix with numpy.ndarray operands in "
                f"{func.__name__}; move them with xp.asarray first"
            )
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # ----- attributes and Python protocols -----

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    T = property(lambda self: StandinArray(self._data.T))

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[StandinArray]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: Any) -> StandinArray:
        return _wrap(self._data[_index(index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(value, np.ndarray):
            raise TypeError("cannot assign a numpy.ndarray to a stand-in array; use xp.asarray")
        self._data[_index(index)] = _unwrap(value)

    # Conversions to Python scalars are explicit requests (on CuPy they synchronise).
    def __bool__(self) -> bool:
        return bool(self._data)

    def __float__(self) -> float:
        return float(self._data)

    def __int__(self) -> int:
        return int(self._data)

    def item(self) -> Any:
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __repr__(self) -> str:
        return f"StandinArray({self._data!r})"

    # ----- methods that CuPy's ndarray has -----

    def astype(self, dtype: Any, copy: bool = True) -> StandinArray:
        return StandinArray(self._data.astype(dtype, copy=copy))

    def copy(self) -> StandinArray:
        return StandinArray(self._data.copy())

    def reshape(self, *shape: Any) -> StandinArray:
        return StandinArray(self._data.reshape(*shape))

    def transpose(self, *axes: Any) -> StandinArray:
        return StandinArray(self._data.transpose(*axes))

    def ravel(self) -> StandinArray:
        return StandinArray(self._data.ravel())

    def flatten(self) -> StandinArray:
        return StandinArray(self._data.flatten())


def _method(function: Any) -> Any:
    def method(self: StandinArray, *args: Any, **kwargs: Any) -> Any:
        return function(self, *args, **kwargs)

    method.__name__ = function.__name__
    return method


for (
    _name
) in "all any argmax argmin clip cumsum dot max mean min prod squeeze std sum swapaxes var".split():
    setattr(StandinArray, _name, _method(getattr(np, _name)))


class _Defer(Exception):
    """An operand the stand-in does not handle; another operand's override may."""


def _operand(value: Any) -> Any:
    if isinstance(value, StandinArray):
        return value._data
    if isinstance(value, np.ndarray):
        raise TypeError(
            "Unsupported type <class 'numpy.ndarray'>: the stand-in device does not mix with "
            "host arrays; move them with xp.asarray first"
        )
    if isinstance(value, _SCALARS):
        return value
    raise _Defer


def _unwrap(value: Any) -> Any:
    """Replace stand-ins by their data inside (nested) arguments."""
    if isinstance(value, StandinArray):
        return value._data
    if isinstance(value, list | tuple):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _index(index: Any) -> Any:
    if any(
        isinstance(part, np.ndarray) for part in (index if isinstance(index, tuple) else (index,))
    ):
        raise TypeError(
            "index arrays must live on the same device as the array they index; "
            "got a numpy.ndarray index for a stand-in array"
        )
    return _unwrap(index)


def _wrap(value: Any) -> Any:
    """Wrap results: arrays and NumPy scalars become stand-ins (reductions give 0-d arrays)."""
    if isinstance(value, np.ndarray | np.generic):
        return StandinArray(np.asarray(value))
    if isinstance(value, list | tuple):
        return type(value)(_wrap(v) for v in value)
    return value


# NumPy functions the stand-in handles (CuPy implements all of them). Anything else raises
# TypeError through NumPy's dispatcher, which is how a missing CuPy function shows up too.
_FUNCTIONS = {
    getattr(np, name)
    for name in """
    shape ndim size result_type iscomplexobj isrealobj
    sum mean prod var std max min amax amin argmax argmin any all cumsum cumprod count_nonzero
    where nonzero argwhere flatnonzero clip sort argsort allclose isclose array_equal
    dot vdot inner outer tensordot einsum
    reshape ravel transpose swapaxes moveaxis expand_dims squeeze atleast_1d atleast_2d
    broadcast_to broadcast_arrays concatenate stack split array_split tile repeat take
    take_along_axis pad flip roll triu tril diagonal bincount
    zeros_like ones_like empty_like full_like copy
    """.split()
} | {sliding_window_view}


def _scatter_add(a: StandinArray, index: Any, values: Any) -> None:
    """Unbuffered ``a[index] += values`` (``cupyx.scatter_add``), here exact via ``np.add.at``."""
    np.add.at(a._data, _index(index), _operand(values))


class _Generator:
    """The subset of ``numpy.random.Generator`` that CuPy's ``Generator`` also offers.

    Draws equal NumPy's for the same seed (CuPy's do not).
    """

    def __init__(self, seed: Any = None) -> None:
        self._rng = np.random.default_rng(seed)

    def random(self, size: Any = None, dtype: Any = np.float64) -> StandinArray:
        return _wrap(np.asarray(self._rng.random(size, dtype=dtype)))

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> StandinArray:
        return _wrap(np.asarray(self._rng.uniform(low, high, size)))

    def integers(self, low: int, high: int | None = None, size: Any = None) -> StandinArray:
        return _wrap(np.asarray(self._rng.integers(low, high, size)))

    def standard_normal(self, size: Any = None, dtype: Any = np.float64) -> StandinArray:
        return _wrap(np.asarray(self._rng.standard_normal(size, dtype=dtype)))


def _standard_normal(size: Any = None, dtype: Any = np.float64) -> StandinArray:
    # The module-level stream (cupy.random.standard_normal) is only used by autograd's
    # check_grads; it draws from NumPy's global RNG, which tests/conftest.py seeds.
    return _wrap(np.asarray(np.random.standard_normal(size), dtype=dtype))  # noqa: NPY002


def _asarray(obj: Any, dtype: Any = None) -> StandinArray:
    """Onto the stand-in device: explicit, so host arrays are accepted (and copied)."""
    if isinstance(obj, StandinArray):
        return obj if dtype is None else obj.astype(dtype, copy=False)
    return StandinArray(np.array(obj, dtype=dtype))


def _creator(function: Any) -> Any:
    def create(*args: Any, **kwargs: Any) -> StandinArray:
        return StandinArray(function(*args, **kwargs))

    create.__name__ = function.__name__
    return create


xp = types.ModuleType(
    "standin", "Module-like namespace of the stand-in device (see tests/standin.py)."
)
xp.ndarray = StandinArray
xp.asarray = _asarray
xp.array = _asarray
xp.scatter_add = _scatter_add
xp.random = types.SimpleNamespace(default_rng=_Generator, standard_normal=_standard_normal)
for _function in (np.zeros, np.ones, np.full, np.empty, np.arange, np.eye, np.linspace):
    setattr(xp, _function.__name__, _creator(_function))
for _function in _FUNCTIONS:
    setattr(xp, _function.__name__, _function)
for _name in dir(np):
    if isinstance(getattr(np, _name), np.ufunc):
        setattr(xp, _name, getattr(np, _name))
for _name in "bool_ int8 int32 int64 intp float32 float64 newaxis pi e inf nan".split():
    setattr(xp, _name, getattr(np, _name))


def working_cupy() -> ModuleType:
    """CuPy, registered with autograd, where it imports and a CUDA device works; else skip."""
    cupy = pytest.importorskip("cupy")
    try:
        float(cupy.arange(3).sum())
    except Exception as error:  # CuPy reports a missing driver or device in many ways.
        pytest.skip(f"CuPy is installed but no CUDA device works: {error}")
    register(cupy.ndarray, cupy)
    # check_grads draws its directions from the library's global stream.
    cupy.random.seed(0)
    return cupy
