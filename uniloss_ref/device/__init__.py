"""Where arrays live: NumPy on the CPU or CuPy on a GPU, with one code path for both.

Choosing a device
-----------------
``"cpu"`` (NumPy, the default and the reference), ``"gpu"`` (CuPy; an error when CuPy or a
working CUDA device is missing) or ``"auto"`` (the GPU when CuPy imports and a device
works, else the CPU). The process-wide default comes from :func:`set_device` (what a
``--device`` option calls) or else from the environment variable ``UNILOSS_DEVICE``. CuPy is
imported only when a GPU is asked for; this module works without it installed. Importing
CuPy registers ``cupy.ndarray`` with autograd (:mod:`uniloss_ref.device.bridge`).

Rules for device-neutral library code
-------------------------------------
1. Compute with ``autograd.numpy`` (``import autograd.numpy as np``): its functions dispatch
   to the array's own library, so ``np.exp(x)`` runs on the GPU for a CuPy ``x``.
2. Create constants with the library of the data they meet: ``xp = get_array_module(x)``,
   then ``xp.zeros(shape, dtype=...)``, ``xp.ones_like(...)``, ``xp.arange(n)``. A NumPy array
   (``np.zeros``, ``np.array``, ``np.asarray``) meeting a CuPy array is a ``TypeError``. Where
   the constant should follow ``x`` anyway, derive it: ``xp.zeros_like(getval(x))``, or
   ``0.0 * x`` when it must stay differentiable (beware: ``0 * inf`` is nan).
3. Index arrays and masks live on the same device as the array they index (CuPy silently
   copies a host index array to the device on every use; the test stand-in refuses it).
   Python ints, slices and short lists of ints are fine.
4. Join arrays with :func:`concatenate` and :func:`stack` from this module, never
   ``np.concatenate``/``np.stack``/``np.hstack``/``np.array(list_of_arrays)``: autograd's
   versions build host arrays.
5. Reductions return 0-d arrays, not Python or NumPy scalars. ``float(x)``, ``int(x)``,
   ``bool(x)``, ``x.item()`` and ``if x.any():`` copy to the host and wait for the GPU: fine
   once per step, not per element. Move results for printing or checking with
   :func:`to_numpy`; never test ``isinstance(x, float)``.
6. Python scalars and NumPy scalars (``numpy.float64``) mix with device arrays; NumPy 0-d
   arrays (``np.asarray(2.0)``) do not.
7. Randomness comes from a generator passed in, made by :func:`default_rng` for the right
   device, never from a global stream. CuPy's ``Generator`` offers only part of NumPy's API
   (``random``, ``uniform``, ``integers``, ``standard_normal``, ...; no ``choice`` or
   ``permutation``) and a different stream: the same seed gives different numbers on the
   GPU. Where draws must agree across devices (tests comparing backends), draw on the host
   with a NumPy generator and move them with :func:`to_device`.
8. Expect agreement, not identity, between devices: reductions sum in another order, and the
   gradient of an integer-array gather uses ``cupyx.scatter_add``, whose atomic additions
   are not bit-reproducible. Compare float64 results with ``rtol=1e-12``.
9. Keep every ``einsum`` operand on the device: CuPy's ``einsum`` silently copies host
   operands instead of refusing them.
10. Functions whose gradients are not bridged (listed in
    :mod:`uniloss_ref.device.bridge`) stay off device arrays; reverse mode only.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from .bridge import array_module, concatenate, register, stack

__all__ = [
    "DEVICES",
    "DEVICE_ENV_VAR",
    "arange",
    "as_array_like",
    "concatenate",
    "default_rng",
    "device_module",
    "device_of",
    "full",
    "get_array_module",
    "get_device",
    "ones",
    "resolve_device",
    "set_device",
    "stack",
    "to_device",
    "to_numpy",
    "zeros",
]

DEVICE_ENV_VAR = "UNILOSS_DEVICE"
DEVICES = ("cpu", "gpu", "auto")

# CuPy once imported and checked (None before the first request for a GPU).
_gpu: ModuleType | None = None
# The resolved process-wide default device (None until first use or set_device).
_default_device: str | None = None


def _import_cupy() -> ModuleType:
    """The only place CuPy is imported."""
    import cupy

    # The import succeeds on machines without a driver or device; a tiny computation does not.
    float(cupy.arange(3).sum())
    register(cupy.ndarray, cupy)
    return cupy


def _gpu_module() -> ModuleType:
    global _gpu
    if _gpu is None:
        try:
            _gpu = _import_cupy()
        # CuPy fails in many ways (no package, no driver, no device, wrong CUDA version), each
        # with its own exception type; all mean the same thing here.
        except Exception as error:
            raise RuntimeError(
                f"device 'gpu' needs CuPy and a working CUDA device, but using CuPy failed "
                f"with {type(error).__name__}: {error}"
            ) from error
    return _gpu


def resolve_device(device: str | None = None) -> str:
    """The concrete device, ``"cpu"`` or ``"gpu"``, that a device name stands for.

    Parameters
    ----------
    device : {"cpu", "gpu", "auto"} or None, default None
        None reads the environment variable ``UNILOSS_DEVICE`` (``"cpu"`` when unset).

    Returns
    -------
    str
        ``"cpu"`` or ``"gpu"``; ``"auto"`` gives ``"gpu"`` when CuPy imports and a device
        works.

    Raises
    ------
    TypeError
        If ``device`` is not a string or None.
    ValueError
        If ``device`` (or ``UNILOSS_DEVICE``) is not one of ``"cpu"``, ``"gpu"``, ``"auto"``.
    RuntimeError
        If ``"gpu"`` is asked for and CuPy or the device does not work.
    """
    if device is None:
        name, source = (
            os.environ.get(DEVICE_ENV_VAR, "cpu"),
            f"environment variable {DEVICE_ENV_VAR}",
        )
    elif isinstance(device, str):
        name, source = device, "device"
    else:
        raise TypeError(f"device must be a string or None, got {type(device).__name__}")
    if name not in DEVICES:
        raise ValueError(f"{source} must be one of {', '.join(DEVICES)}; got {name!r}")
    if name == "auto":
        try:
            _gpu_module()
        except RuntimeError:
            return "cpu"
        return "gpu"
    if name == "gpu":
        _gpu_module()
    return name


def set_device(device: str | None = None) -> str:
    """Set the process-wide default device (for a ``--device`` command-line option).

    Parameters
    ----------
    device : {"cpu", "gpu", "auto"} or None, default None
        None follows ``UNILOSS_DEVICE`` again.

    Returns
    -------
    str
        The device now in use, ``"cpu"`` or ``"gpu"``.
    """
    global _default_device
    _default_device = resolve_device(device)
    return _default_device


def get_device() -> str:
    """The process-wide default device, ``"cpu"`` or ``"gpu"`` (first use reads the env var)."""
    return _default_device if _default_device is not None else set_device(None)


def device_module(device: str | None = None) -> ModuleType:
    """The array library of a device: ``numpy`` or ``cupy``.

    Parameters
    ----------
    device : {"cpu", "gpu", "auto"} or None, default None
        None is the process-wide default device.
    """
    name = get_device() if device is None else resolve_device(device)
    return numpy if name == "cpu" else _gpu_module()


def get_array_module(*arrays: Any) -> ModuleType:
    """The array library (``numpy``, ``cupy``, ...) of arrays or autograd boxes of arrays.

    Parameters
    ----------
    *arrays : ndarray, autograd box, scalar
        The first array of a non-NumPy library decides; with none, the answer is ``numpy``.

    Returns
    -------
    module
        Use it to create constants next to these arrays: ``xp.zeros(shape)``.
    """
    for value in arrays:
        if type(getval(value)).__module__.partition(".")[0] == "cupy":
            # A CuPy array made outside this module: CuPy must be registered before use.
            _gpu_module()
    return array_module(*arrays)


def device_of(x: Any) -> str:
    """``"cpu"`` for NumPy arrays and scalars, ``"gpu"`` for arrays of any other library."""
    return "cpu" if get_array_module(x) is numpy else "gpu"


def to_numpy(x: Any) -> numpy.ndarray:
    """A NumPy array of the value of ``x`` (detached from any autograd trace).

    Parameters
    ----------
    x : ndarray, autograd box, scalar or nested list

    Returns
    -------
    numpy.ndarray
        ``x`` itself when it already is one; a host copy of a device array (on a GPU this
        waits for the device).
    """
    value = getval(x)
    if get_array_module(value) is numpy:
        return numpy.asarray(value)
    return value.get()


@primitive
def _transfer(x: Any, device: str) -> Any:
    return to_numpy(x) if device == "cpu" else _gpu_module().asarray(x)


def _transfer_vjp(ans, x, device):
    source = device_of(x)
    return lambda g: _transfer(g, source)


# The cotangent travels back to where the value came from.
defvjp(_transfer, _transfer_vjp)


def to_device(x: Any, device: str | None = None) -> Any:
    """``x`` on ``device``, differentiably (the gradient moves back).

    Parameters
    ----------
    x : ndarray, autograd box, scalar or nested list
    device : {"cpu", "gpu", "auto"} or None, default None
        None is the process-wide default device.

    Returns
    -------
    ndarray
        A NumPy or CuPy array; ``x`` itself when it already lives there.
    """
    return _transfer(x, get_device() if device is None else resolve_device(device))


def as_array_like(x: Any, reference: Any) -> Any:
    """Host data ``x`` as an array of the library that ``reference`` lives in (a constant).

    Parameters
    ----------
    x : numpy.ndarray or scalar
        Data computed on the host: index arrays, anchors, metric values.
    reference : ndarray or autograd box
        Any array (or box of one) on the target device.

    Returns
    -------
    ndarray
        ``x`` itself when ``reference`` is a NumPy array, else a copy on its device.
    """
    xp = get_array_module(reference)
    return x if xp is numpy else xp.asarray(x)


def zeros(shape: int | tuple[int, ...], dtype: Any = float, *, device: str | None = None) -> Any:
    """``zeros`` on ``device`` (None: the default device)."""
    return device_module(device).zeros(shape, dtype=dtype)


def ones(shape: int | tuple[int, ...], dtype: Any = float, *, device: str | None = None) -> Any:
    """``ones`` on ``device`` (None: the default device)."""
    return device_module(device).ones(shape, dtype=dtype)


def full(
    shape: int | tuple[int, ...], fill_value: Any, dtype: Any = None, *, device: str | None = None
) -> Any:
    """``full`` on ``device`` (None: the default device)."""
    return device_module(device).full(shape, fill_value, dtype=dtype)


def arange(*args: Any, dtype: Any = None, device: str | None = None) -> Any:
    """``arange(stop)`` or ``arange(start, stop[, step])`` on ``device`` (None: the default)."""
    return device_module(device).arange(*args, dtype=dtype)


def default_rng(seed: Any = None, device: str | None = None) -> Any:
    """A random generator whose draws live on ``device``.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        As for ``numpy.random.default_rng``.
    device : {"cpu", "gpu", "auto"} or None, default None
        None is the process-wide default device.

    Returns
    -------
    numpy.random.Generator or cupy.random.Generator
        On the GPU, CuPy's generator: a different stream and fewer methods (module rule 7).
    """
    return device_module(device).random.default_rng(seed)
