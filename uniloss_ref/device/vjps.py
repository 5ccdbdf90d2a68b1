"""Vector-Jacobian products that allocate with the array's own library, not NumPy.

autograd's rules for these primitives create host arrays, which CuPy refuses to mix with its
own. For results of a type registered by :func:`uniloss_ref.device.bridge.register` they
are replaced as follows; every other result (NumPy above all) keeps autograd's own rule.

- ``sum``, ``mean``, ``prod``, ``var``, ``std``, ``max``, ``min``, ``amax``, ``amin``: the
  cotangent was broadcast back by adding ``numpy.zeros(shape)``;
- ``where``: the branch not taken received ``numpy.zeros(shape)``;
- ``dot``: the adjoints ended in ``numpy.asarray(out, dtype)``;
- ``tensordot``: the adjoints passed host index arrays as ``axes`` and permutations;
- ``einsum``: summed-out indices were contracted against ``numpy.ones``, and the subscript
  parser converted the operands with ``numpy.asanyarray``;
- indexing (``x[idx]``): the adjoint scattered with ``numpy.add.at``. Here basic indices and
  boolean masks, which never select an element twice, add in place (deterministic);
  integer-array indices use the library's scatter-add (``cupyx.scatter_add`` on CuPy, whose
  float atomics make the summation order, and so the last bits, vary from run to run).

``matmul`` needs no new rule: its adjoints only call functions that dispatch.
:func:`concatenate` and :func:`stack` are new primitives, because autograd's versions fail in
the forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.core import primitive_vjps
from autograd.extend import (
    SparseObject,
    defvjp,
    defvjp_argnum,
    defvjp_argnums,
    primitive,
    vspace,
)
from autograd.numpy.numpy_boxes import ArrayBox
from autograd.numpy.numpy_vjps import grad_einsum, unbroadcast
from autograd.tracer import getval, trace_primitives_map

__all__ = ["array_module", "concatenate", "install", "library_of", "stack"]

# Registered array type -> its array library (``cupy``, or the stand-in's namespace).
_LIBRARIES: dict[type, ModuleType] = {}
# Array library -> its unbuffered scatter-add ``f(a, index, values)``.
_SCATTER_ADD: dict[ModuleType, Callable[[Any, Any, Any], None]] = {}
_rules_installed = False


def install(array_type: type, xp: ModuleType, scatter_add: Callable[[Any, Any, Any], None]) -> None:
    """Use the rules of this module for results of ``array_type`` (a type of library ``xp``).

    Called by :func:`uniloss_ref.device.bridge.register`, which validates its arguments.
    """
    _LIBRARIES[array_type] = xp
    _SCATTER_ADD[xp] = scatter_add
    _install_rules()


def library_of(array_type: type) -> ModuleType | None:
    """The library ``array_type`` was registered with, or None."""
    return _LIBRARIES.get(array_type)


def array_module(*values: Any) -> ModuleType:
    """The registered library of the first value (or autograd box) of a registered type.

    ``numpy`` when there is none. ``backend.get_array_module`` adds CuPy's lazy import.
    """
    for value in values:
        xp = _LIBRARIES.get(type(getval(value)))
        if xp is not None:
            return xp
    return np


# ----- Dispatch: device rules for registered types, autograd's own rules otherwise -----


def _route(fun: Callable, define: Callable, *vjpmakers: Callable) -> None:
    """Install ``define(fun, *vjpmakers)`` for results of a registered type only."""
    # autograd.extend offers no getter for a rule; primitive_vjps is the table defvjp fills.
    autograd_rule = primitive_vjps[fun]
    define(fun, *vjpmakers)
    device_rule = primitive_vjps[fun]

    def vjp_argnums(argnums, ans, args, kwargs):
        rule = device_rule if type(getval(ans)) in _LIBRARIES else autograd_rule
        return rule(argnums, ans, args, kwargs)

    defvjp_argnums(fun, vjp_argnums)


def _install_rules() -> None:
    global _rules_installed
    if _rules_installed:
        return
    _rules_installed = True
    # autograd's primitives are looked up by the NumPy function they wrap: some are not
    # public (autograd.numpy.mean is a wrapper around a private primitive, where is replaced).
    wrapped = trace_primitives_map
    _route(wrapped[np.sum], defvjp, _sum_vjp)
    _route(wrapped[np.mean], defvjp, _mean_vjp)
    _route(wrapped[np.prod], defvjp, _prod_vjp)
    _route(wrapped[np.var], defvjp, _var_vjp)
    _route(wrapped[np.std], defvjp, _std_vjp)
    for chooser in (np.max, np.min, np.amax, np.amin):
        _route(wrapped[chooser], defvjp, _chooser_vjp)
    _route(wrapped[np.where], defvjp, None, _where_vjp_x, _where_vjp_y)
    _route(wrapped[np.dot], defvjp, _dot_vjp_0, _dot_vjp_1)
    _route(wrapped[np.tensordot], defvjp, _tensordot_vjp_0, _tensordot_vjp_1)
    _route(wrapped[np.einsum], defvjp_argnum, _einsum_vjp)
    _route(ArrayBox.__getitem__, defvjp, _getitem_vjp)


# ----- Reductions: broadcast the cotangent back with the array's own library -----


def _reduced_axes(shape: tuple, axis: Any) -> set[int]:
    if axis is None:
        return set(range(len(shape)))
    return {int(a) % len(shape) for a in (axis if isinstance(axis, tuple | list) else (axis,))}


def _broadcast_back(g: Any, shape: tuple, dtype: Any, axis: Any, xp: ModuleType) -> Any:
    """``g``, the cotangent of a reduction over ``axis``, repeated to ``shape``."""
    if shape == ():
        return g
    axes = _reduced_axes(shape, axis)
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
    # A fresh array rather than a broadcast view: autograd accumulates gradients in place.
    return anp.reshape(g, kept) + xp.zeros(shape, dtype=dtype)


def _count(shape: tuple, axis: Any) -> int:
    """How many entries of an array of ``shape`` each output of a reduction over ``axis`` saw."""
    return math.prod(shape[i] for i in _reduced_axes(shape, axis)) if shape else 1


def _sum_vjp(ans, x, axis=None, keepdims=False, dtype=None, **kwargs):
    shape, x_dtype, xp = anp.shape(x), anp.result_type(x), array_module(ans)
    return lambda g: _broadcast_back(g, shape, x_dtype, axis, xp)


def _mean_vjp(ans, x, axis=None, keepdims=False, **kwargs):
    shape, dtype, xp = anp.shape(x), anp.result_type(x), array_module(ans)
    count = _count(shape, axis)
    return lambda g: _broadcast_back(g, shape, dtype, axis, xp) / count


def _prod_vjp(ans, x, axis=None, keepdims=False, **kwargs):
    shape, dtype, xp = anp.shape(x), anp.result_type(x), array_module(ans)
    # d prod / d x_i = prod / x_i, as in autograd's rule (so a zero entry gives nan there too).
    return lambda g: _broadcast_back(g * ans, shape, dtype, axis, xp) / x


def _var_vjp(ans, x, axis=None, ddof=0, keepdims=False, **kwargs):
    shape, dtype, xp = anp.shape(x), anp.result_type(x), array_module(ans)
    count = _count(shape, axis)

    def vjp(g):
        centred = x - anp.mean(x, axis=axis, keepdims=True)
        return 2.0 * _broadcast_back(g, shape, dtype, axis, xp) * centred / (count - ddof)

    return vjp


def _std_vjp(ans, x, axis=None, ddof=0, keepdims=False, **kwargs):
    shape, dtype, xp = anp.shape(x), anp.result_type(x), array_module(ans)
    count = _count(shape, axis)

    def vjp(g):
        if count <= 1:
            # One entry per output: std is identically zero, and so is its gradient.
            return _broadcast_back(g, shape, dtype, axis, xp) * 0.0
        centred = x - anp.mean(x, axis=axis, keepdims=True)
        return _broadcast_back(g / ans, shape, dtype, axis, xp) * centred / (count - ddof)

    return vjp


def _chooser_vjp(ans, x, axis=None, keepdims=None, **kwargs):
    shape, dtype, xp = anp.shape(x), anp.result_type(x), array_module(ans)

    def vjp(g):
        chosen = x == _broadcast_back(ans, shape, dtype, axis, xp)
        # Tied maxima share the cotangent equally, as in autograd's rule for NumPy.
        return (
            _broadcast_back(g, shape, dtype, axis, xp)
            * chosen
            / xp.sum(chosen, axis=axis, keepdims=True)
        )

    return vjp


# ----- where: the branch not taken gets zeros from the array's own library -----


def _zeros_like(g: Any, xp: ModuleType) -> Any:
    return xp.zeros(anp.shape(g), dtype=anp.result_type(g))


def _where_vjp_x(ans, c, x=None, y=None):
    xp = array_module(ans)
    return lambda g: anp.where(c, g, _zeros_like(g, xp))


def _where_vjp_y(ans, c, x=None, y=None):
    xp = array_module(ans)
    return lambda g: anp.where(c, _zeros_like(g, xp), g)


# ----- dot: adjoints that keep the result in the array's own library -----


@primitive
def _dot_adjoint_0(B, G, A_meta, B_meta):
    """Cotangent of ``A`` in ``dot(A, B)`` given the cotangent ``G`` of the result."""
    xp = array_module(B, G)
    _, A_ndim, A_dtype, _ = A_meta
    B_ndim = B_meta[1]
    if B_ndim == 0 or B_ndim == 1 or A_ndim == 0:
        out = xp.tensordot(G, B, max(0, B_ndim - (A_ndim != 0)))
    else:
        out = xp.tensordot(G, xp.swapaxes(B, -1, -2), B_ndim - 1)
    return xp.asarray(out, dtype=A_dtype)


@primitive
def _dot_adjoint_1(A, G, A_meta, B_meta):
    """Cotangent of ``B`` in ``dot(A, B)`` given the cotangent ``G`` of the result."""
    xp = array_module(A, G)
    A_ndim = A_meta[1]
    _, B_ndim, B_dtype, _ = B_meta
    if A_ndim == 0 or A_ndim == 1 or B_ndim == 0:
        out = xp.tensordot(G, A, max(0, A_ndim - (B_ndim != 0)))
    else:
        g_axes = list(range(-A_ndim - B_ndim + 2, -B_ndim + 1))
        out = xp.tensordot(G, A, (g_axes, list(range(A_ndim - 1))))
    if B_ndim > 1 and A_ndim != 0:
        out = xp.swapaxes(out, -1, -2)
    return xp.asarray(out, dtype=B_dtype)


def _dot_vjp_0(ans, A, B):
    A_meta, B_meta = anp.metadata(A), anp.metadata(B)
    return lambda g: _dot_adjoint_0(B, g, A_meta, B_meta)


def _dot_vjp_1(ans, A, B):
    A_meta, B_meta = anp.metadata(A), anp.metadata(B)
    return lambda g: _dot_adjoint_1(A, g, A_meta, B_meta)


# Both adjoints are bilinear; their own VJPs make dot differentiable to any order.
defvjp(
    _dot_adjoint_0,
    lambda ans, B, G, A_meta, B_meta: lambda g: _dot_adjoint_1(g, G, A_meta, B_meta),
    lambda ans, B, G, A_meta, B_meta: lambda g: anp.dot(g, B),
)
defvjp(
    _dot_adjoint_1,
    lambda ans, A, G, A_meta, B_meta: lambda g: _dot_adjoint_0(g, G, A_meta, B_meta),
    lambda ans, A, G, A_meta, B_meta: lambda g: anp.dot(A, g),
)


# ----- tensordot: adjoints with Python-int axes -----


def _contracted(axes: Any, A_ndim: int, B_ndim: int) -> tuple[list[int], list[int]]:
    """The contracted axes of ``A`` and ``B`` in ``tensordot(A, B, axes)``, as paired lists."""
    if isinstance(axes, int | np.integer):
        return list(range(A_ndim - int(axes), A_ndim)), list(range(int(axes)))
    a_axes, b_axes = ([a] if isinstance(a, int | np.integer) else list(a) for a in axes)
    return [int(a) % A_ndim for a in a_axes], [int(b) % B_ndim for b in b_axes]


def _inverse(permutation: list[int]) -> list[int]:
    return sorted(range(len(permutation)), key=permutation.__getitem__)


@primitive
def _tensordot_adjoint_0(B, G, axes, A_ndim, B_ndim):
    """Cotangent of ``A`` in ``tensordot(A, B, axes)`` given the cotangent ``G``."""
    xp = array_module(B, G)
    a_sum, b_sum = _contracted(axes, A_ndim, B_ndim)
    a_free = [i for i in range(A_ndim) if i not in a_sum]
    b_free = [j for j in range(B_ndim) if j not in b_sum]
    g_b = list(range(len(a_free), len(a_free) + len(b_free)))
    out = xp.tensordot(G, B, (g_b, b_free))
    # out's axes: A's free axes, then A's contracted axes in the order of B's partners.
    order = a_free + [a for _, a in sorted(zip(b_sum, a_sum, strict=True))]
    return xp.transpose(out, _inverse(order))


@primitive
def _tensordot_adjoint_1(A, G, axes, A_ndim, B_ndim):
    """Cotangent of ``B`` in ``tensordot(A, B, axes)`` given the cotangent ``G``."""
    xp = array_module(A, G)
    a_sum, b_sum = _contracted(axes, A_ndim, B_ndim)
    a_free = [i for i in range(A_ndim) if i not in a_sum]
    out = xp.tensordot(A, G, (a_free, list(range(len(a_free)))))
    # out's axes: B's contracted axes in the order of A's partners, then B's free axes.
    b_free = [j for j in range(B_ndim) if j not in b_sum]
    order = [b for _, b in sorted(zip(a_sum, b_sum, strict=True))] + b_free
    return xp.transpose(out, _inverse(order))


def _tensordot_vjp_0(ans, A, B, axes=2):
    A_ndim, B_ndim = anp.ndim(A), anp.ndim(B)
    return lambda g: _tensordot_adjoint_0(B, g, axes, A_ndim, B_ndim)


def _tensordot_vjp_1(ans, A, B, axes=2):
    A_ndim, B_ndim = anp.ndim(A), anp.ndim(B)
    return lambda g: _tensordot_adjoint_1(A, g, axes, A_ndim, B_ndim)


defvjp(
    _tensordot_adjoint_0,
    lambda ans, B, G, axes, An, Bn: lambda g: _tensordot_adjoint_1(g, G, axes, An, Bn),
    lambda ans, B, G, axes, An, Bn: lambda g: anp.tensordot(g, B, axes),
)
defvjp(
    _tensordot_adjoint_1,
    lambda ans, A, G, axes, An, Bn: lambda g: _tensordot_adjoint_0(g, G, axes, An, Bn),
    lambda ans, A, G, axes, An, Bn: lambda g: anp.tensordot(A, g, axes),
)


# ----- einsum: ones for summed-out indices from the array's own library -----


def _einsum_vjp(argnum, ans, operands, kwargs):
    if not isinstance(operands[0], str):
        # The sublist form creates no constants, so autograd's rule is device-safe.
        return grad_einsum(argnum, ans, operands, kwargs)
    subscripts, arrays = operands[0], operands[1:]
    # NumPy's parser converts its operands to host arrays; it only needs their shapes.
    placeholders = [np.broadcast_to(0.0, anp.shape(a)) for a in arrays]
    in_subs, out_subs, _ = anp.parse_einsum_input(subscripts, *placeholders)
    op = argnum - 1
    subs = in_subs.split(",")
    wrt, rest_subs = subs[op], subs[:op] + subs[op + 1 :]
    rest_arrays = arrays[:op] + arrays[op + 1 :]
    meta, xp = anp.metadata(arrays[op]), array_module(ans)
    named = set(out_subs + "".join(rest_subs))
    # Indices that appear only in this operand were summed out: contract the cotangent with
    # explicit ones over them so the adjoint broadcasts back along those axes.
    summed = [(n, s) for n, s in zip(anp.shape(arrays[op]), wrt, strict=True) if s not in named]

    def vjp(g):
        inputs, args = [out_subs, *rest_subs], [g, *rest_arrays]
        if summed:
            sizes, letters = zip(*summed, strict=True)
            inputs.insert(1, "".join(letters))
            args.insert(1, xp.ones(sizes, dtype=meta[2]))
        return unbroadcast(anp.einsum(",".join(inputs) + "->" + wrt, *args), meta)

    return vjp


# ----- Indexing: scatter the cotangent back with the array's own library -----


def _has_integer_array(index: Any) -> bool:
    """Whether ``index`` can select one element several times (integer arrays or lists)."""
    for part in index if isinstance(index, tuple) else (index,):
        if isinstance(part, list):
            return True
        dtype = getattr(part, "dtype", None)
        if dtype is not None and dtype.kind in "iu" and part.ndim > 0:
            return True
    return False


@primitive
def _untake(x, index, vs):
    """The adjoint of ``A[index]``: ``x`` added into zeros of ``A``'s space, lazily."""

    def add_into(A):
        if _has_integer_array(index):
            _SCATTER_ADD[vs.xp](A, index, x)
        else:
            # Every element is selected at most once: plain in-place addition is exact and
            # does not depend on the order of atomic additions.
            A[index] += x
        return A

    return SparseObject(vs, add_into)


defvjp(_untake, lambda ans, x, index, vs: lambda g: g[index])


def _getitem_vjp(ans, A, index):
    return lambda g: _untake(g, index, vspace(A))


# ----- concatenate and stack, as primitives for every library -----


@primitive
def _concatenate(axis, *arrays):
    return array_module(*arrays).concatenate(arrays, axis=axis)


def _concatenate_vjp(argnum, ans, args, kwargs):
    axis, arrays = args[0] % anp.ndim(ans), args[1:]
    start = sum(anp.shape(a)[axis] for a in arrays[: argnum - 1])
    index = [slice(None)] * anp.ndim(ans)
    index[axis] = slice(start, start + anp.shape(arrays[argnum - 1])[axis])
    return lambda g: g[tuple(index)]


defvjp_argnum(_concatenate, _concatenate_vjp)


@primitive
def _stack(axis, *arrays):
    return array_module(*arrays).stack(arrays, axis=axis)


def _stack_vjp(argnum, ans, args, kwargs):
    axis = args[0] % anp.ndim(ans)
    index = (slice(None),) * axis + (argnum - 1,)
    return lambda g: g[index]


defvjp_argnum(_stack, _stack_vjp)


def concatenate(arrays: Sequence[Any], axis: int = 0) -> Any:
    """Differentiable ``concatenate`` that keeps the arrays' library (NumPy or a device).

    Parameters
    ----------
    arrays : sequence of ndarray
        Arrays (or autograd boxes) of one library with equal shapes except along ``axis``.
    axis : int, default 0
        The axis to join along; may be negative.

    Returns
    -------
    ndarray
    """
    return _concatenate(axis, *arrays)


def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    """Differentiable ``stack`` that keeps the arrays' library (NumPy or a device).

    Parameters
    ----------
    arrays : sequence of ndarray
        Arrays (or autograd boxes) of one library, all of the same shape.
    axis : int, default 0
        The new axis's position in the result; may be negative.

    Returns
    -------
    ndarray
    """
    return _stack(axis, *arrays)
