"""Autograd on array types other than ``numpy.ndarray`` (CuPy's, or the tests' stand-in).

autograd traces any array type that it can box, and the forward pass of ``autograd.numpy``
already reaches CuPy through NumPy's dispatch protocols (``np.exp(x)`` calls ``cupy.exp``).
:func:`register` adds what is missing:

1. **Boxing and a vector space.** autograd looks both up by exact type, so the type is
   registered with ``ArrayBox`` and with a :class:`DeviceArrayVSpace` whose zeros, ones and
   random directions are created by the array's own library.
2. **Rules that do not allocate on the host.** Several of autograd's vector-Jacobian
   products create NumPy arrays, which CuPy refuses to mix with its own;
   :mod:`uniloss_ref.device.vjps` re-registers them for registered types only, so NumPy
   arrays keep autograd's own rules.

``autograd.numpy.concatenate``/``stack``/``array(list)`` cannot be repaired by new rules: their
forward passes build host arrays (``np.array``, ``.view(ndarray)``). Use :func:`concatenate`
and :func:`stack` (defined in :mod:`uniloss_ref.device.vjps`, imported from
:mod:`uniloss_ref.device`), which work for every registered library and for NumPy.

Not bridged (autograd's rules still allocate on the host; avoid them on a device or add a
rule): the gradients of ``np.array(list)``, ``hstack``/``vstack``/``append``, ``split``,
``diff``, ``gradient``, ``sort``, ``partition``, ``diagonal``, ``trace``, ``inner``, ``kron``
and ``linspace``; ``autograd.jacobian`` (it stacks with ``autograd.numpy.stack``); forward mode
(``make_jvp``) of ``where``; complex arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from autograd.extend import Box, VSpace
from autograd.numpy.numpy_boxes import ArrayBox

from .vjps import array_module, concatenate, install, library_of, stack

__all__ = ["DeviceArrayVSpace", "array_module", "concatenate", "register", "stack"]


def register(array_type: type, xp: ModuleType) -> None:
    """Let autograd differentiate through arrays of ``array_type``, created by library ``xp``.

    Idempotent. Leaves autograd's behaviour on NumPy arrays unchanged.

    Parameters
    ----------
    array_type : type
        The exact array class (autograd matches types exactly, not by subclass), e.g.
        ``cupy.ndarray``.
    xp : module
        Its array library, offering NumPy's creation functions (``zeros``, ``ones``,
        ``asarray``), ``random.standard_normal`` and a scatter-add: ``cupyx.scatter_add``
        for ``cupy``, otherwise ``xp.scatter_add(a, index, values)``.

    Raises
    ------
    TypeError
        If ``array_type`` is not a class or ``xp`` has no scatter-add.
    ValueError
        If ``array_type`` is a NumPy type, is already differentiable by autograd, or is
        already registered with another library.
    """
    if not isinstance(array_type, type):
        raise TypeError(f"array_type must be a class, got {array_type!r}")
    registered = library_of(array_type)
    if registered is xp:
        return
    if registered is not None:
        raise ValueError(
            f"array_type {array_type.__name__} is already registered with library "
            f"{registered.__name__}, not {getattr(xp, '__name__', xp)!r}"
        )
    if issubclass(array_type, np.ndarray | np.generic) or array_type in Box.type_mappings:
        raise ValueError(
            f"array_type must be a non-NumPy array class unknown to autograd, "
            f"got {array_type.__name__}"
        )
    scatter_add = _find_scatter_add(xp)
    ArrayBox.register(array_type)
    VSpace.register(array_type, lambda value: DeviceArrayVSpace(value, xp))
    install(array_type, xp, scatter_add)


def _find_scatter_add(xp: ModuleType) -> Callable[[Any, Any, Any], None]:
    if getattr(xp, "__name__", None) == "cupy":
        # CuPy keeps its scatter-add outside the array namespace.
        import cupyx

        return cupyx.scatter_add
    scatter_add = getattr(xp, "scatter_add", None)
    if not callable(scatter_add):
        raise TypeError(
            f"xp must provide scatter_add(a, index, values) (an unbuffered a[index] += values), "
            f"got {getattr(xp, '__name__', xp)!r} without one"
        )
    return scatter_add


class DeviceArrayVSpace(VSpace):
    """The vector space of real arrays of one shape and dtype, living in library ``xp``."""

    def __init__(self, value: Any, xp: ModuleType) -> None:
        if value.dtype.kind == "c":
            raise TypeError(f"complex arrays are not supported off NumPy, got dtype {value.dtype}")
        self.shape = value.shape
        self.dtype = value.dtype
        self.xp = xp

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def zeros(self) -> Any:
        return self.xp.zeros(self.shape, dtype=self.dtype)

    def ones(self) -> Any:
        return self.xp.ones(self.shape, dtype=self.dtype)

    def randn(self) -> Any:
        # Only autograd's check_grads draws random directions; like autograd's NumPy vector
        # space it uses the library's global stream, which tests seed.
        return self.xp.random.standard_normal(self.shape).astype(self.dtype)

    def _inner_prod(self, x: Any, y: Any) -> Any:
        return self.xp.dot(self.xp.ravel(x), self.xp.ravel(y))
