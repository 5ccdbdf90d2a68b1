"""Where the method's arrays live: NumPy, unless the scores come on a device (CuPy).

The method runs on whatever array library the scores belong to. The device layer
(:mod:`uniloss_ref.device`, which teaches autograd about CuPy's arrays) is imported only when
a non-NumPy array arrives, so ``import uniloss_ref`` never loads it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
from autograd.tracer import getval


def array_module(x: Any) -> ModuleType:
    """``numpy`` for NumPy arrays and Python values, else the array library of ``x``."""
    value = getval(x)
    if type(value).__module__.partition(".")[0] in ("numpy", "builtins"):
        return np
    from .device import get_array_module  # registers the library with autograd on first use

    return get_array_module(value)


def to_numpy(x: Any) -> np.ndarray:
    """The value of ``x`` as a NumPy array: a host copy of a device array."""
    value = getval(x)
    return np.asarray(value) if array_module(value) is np else value.get()


def like(x: np.ndarray, reference: Any) -> Any:
    """Host array ``x`` on the device of ``reference`` (``x`` itself for NumPy)."""
    xp = array_module(reference)
    return x if xp is np else xp.asarray(x)
