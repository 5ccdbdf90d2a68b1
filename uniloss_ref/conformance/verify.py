"""The checker: run a port over every conformance case and report how far off it is.

A port is any callable ``port(case: dict) -> dict`` (see
:data:`uniloss_ref.conformance.vectors.PORT_SIGNATURE`). Each quantity it returns is
compared elementwise with the reference, ``|got - expected| <= atol + rtol * |expected|``
with the tolerances stated in the vectors file. Quantities it leaves out, and cases for
which it raises ``NotImplementedError``, are reported as skipped, so a port can be checked
step by step as it is written.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import importlib.util
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import vectors as _vectors
from .reference import case_inputs
from .report import Check, Report

Port = Callable[[dict[str, Any]], Mapping[str, Any]]


# ---------------------------------------------------------------------------------------
# Comparing one quantity
# ---------------------------------------------------------------------------------------


def to_numpy(value: Any) -> np.ndarray:
    """A port's output as a float64 NumPy array, whatever framework produced it.

    PyTorch tensors refuse conversion while they require gradients or live on a GPU, so
    ``detach()`` and ``cpu()`` are called when present; a CuPy array is copied to the
    host with ``get()``. These are duck-typed so that no framework is ever imported here.
    """
    for method in ("detach", "cpu"):
        convert = getattr(value, method, None)
        if callable(convert):
            value = convert()
    if hasattr(value, "__cuda_array_interface__") and callable(getattr(value, "get", None)):
        value = value.get()
    return np.asarray(value, dtype=np.float64)


def _format_index(index: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(int(i)) for i in index) + ")"


def compare_quantity(
    case: str, quantity: str, value: Any, expected: Any, rtol: float, atol: float
) -> Check:
    """Compare one returned quantity with the expected values.

    Parameters
    ----------
    case, quantity : str
        Names, for the report.
    value : array_like
        What the port returned (any framework's array, nested lists, or a float).
    expected : float or nested lists of float
        The reference's values.
    rtol, atol : float
        The check is ``|got - expected| <= atol + rtol * |expected|`` elementwise.

    Returns
    -------
    Check
    """
    dtype = getattr(value, "dtype", None)
    try:
        got = to_numpy(value)
    except (TypeError, ValueError, RuntimeError) as err:
        return Check(case, quantity, "error", detail=f"not convertible to float64: {err}")
    want = np.asarray(expected, dtype=np.float64)
    if want.ndim == 0 and got.size == 1:
        got = got.reshape(())
    if got.shape != want.shape:
        return Check(
            case,
            quantity,
            "fail",
            math.inf,
            math.inf,
            f"shape {got.shape}, expected {want.shape}",
        )
    if want.size == 0:
        return Check(case, quantity, "pass", 0.0, 0.0)
    if not np.isfinite(got).all():
        index = np.unravel_index(int(np.argmin(np.isfinite(got))), got.shape)
        return Check(
            case,
            quantity,
            "fail",
            math.inf,
            math.inf,
            f"{got[index]!r} at index {_format_index(index)}, expected {want[index]!r}",
        )
    diff = np.abs(got - want)
    bound = atol + rtol * np.abs(want)
    # A zero tolerance means "equal bits": any difference is infinitely over it.
    ratio = np.divide(diff, bound, out=np.full_like(diff, np.inf), where=bound > 0)
    ratio[diff == 0] = 0.0
    index = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    worst, error = float(ratio[index]), float(diff.max())
    if worst <= 1.0:
        return Check(case, quantity, "pass", error, worst)
    note = "" if dtype is None or "64" in str(dtype) else f"; the port returned {dtype}"
    where = f"at index {_format_index(index)}: " if index else ""
    detail = (
        f"{where}expected {float(want[index])!r}, got "
        f"{float(got[index])!r} (|err| {float(diff[index]):.3g} > atol {atol:g} + "
        f"rtol {rtol:g} * |expected|){note}"
    )
    return Check(case, quantity, "fail", error, worst, detail)


# ---------------------------------------------------------------------------------------
# Running a port over the cases
# ---------------------------------------------------------------------------------------


def _run_case(port: Port, case: Mapping[str, Any], quantities: Mapping[str, Any]) -> list[Check]:
    name = case["name"]
    try:
        result = port(case_inputs(case))
    except NotImplementedError as err:
        reason = f"NotImplementedError: {err}" if str(err) else "NotImplementedError"
        return [Check(name, q, "skip", detail=reason) for q in quantities]
    except Exception as err:  # a port's exception is a finding to report, not a crash
        # The first line is enough to recognise the error; the port can be run alone.
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        detail = f"the port raised {type(err).__name__}: {message}".rstrip(": ")
        return [Check(name, q, "error", detail=detail) for q in quantities]
    if not isinstance(result, Mapping):
        detail = f"the port returned {type(result).__name__}, expected a dict of quantities"
        return [Check(name, q, "error", detail=detail) for q in quantities]
    checks = [
        Check(
            name,
            str(key),
            "error",
            detail=f"unknown quantity {key!r}; expected one of {', '.join(quantities)}",
        )
        for key in result
        if key not in quantities
    ]
    for quantity, tolerance in quantities.items():
        value = result.get(quantity)
        if value is None:
            checks.append(Check(name, quantity, "skip"))
            continue
        expected = case["expected"][quantity]
        checks.append(
            compare_quantity(name, quantity, value, expected, tolerance["rtol"], tolerance["atol"])
        )
    return checks


def select_cases(
    cases: Sequence[Mapping[str, Any]], patterns: str | Sequence[str] | None
) -> list[Mapping[str, Any]]:
    """The cases whose names match any of the glob ``patterns`` (all when None).

    Raises
    ------
    ValueError
        If a pattern matches no case.
    """
    if patterns is None:
        return list(cases)
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    names = [case["name"] for case in cases]
    for pattern in patterns:
        if not fnmatch.filter(names, pattern):
            raise ValueError(
                f"cases pattern {pattern!r} matches no case; names look like {names[0]!r}"
            )
    return [c for c in cases if any(fnmatch.fnmatchcase(c["name"], p) for p in patterns)]


def verify(
    port: Port,
    *,
    vectors: Mapping[str, Any] | str | Path | None = None,
    cases: str | Sequence[str] | None = None,
    require_all: bool = False,
) -> Report:
    """Run ``port`` over the conformance cases and compare every quantity it returns.

    Parameters
    ----------
    port : callable
        ``port(case: dict) -> dict``; see the module docstring and ``docs/porting.md``.
    vectors : mapping, str or Path, optional
        A parsed vectors document or a path to one; by default the packaged file.
    cases : str or sequence of str, optional
        Glob patterns of case names to run (``"ap/*"``); all cases by default.
    require_all : bool, default False
        Count a skipped quantity or case as a failure.

    Returns
    -------
    Report
        ``report.passed`` says whether the port conforms; ``print(report)`` shows why.

    Raises
    ------
    TypeError
        If ``port`` is not callable.
    ValueError
        If ``vectors`` is not a vectors file, or a ``cases`` pattern matches nothing.
    """
    if not callable(port):
        raise TypeError(
            f"port must be a callable port(case: dict) -> dict, got {type(port).__name__}"
        )
    document = vectors if isinstance(vectors, Mapping) else _vectors.load(vectors)
    quantities = document["quantities"]
    checks: list[Check] = []
    for case in select_cases(document["cases"], cases):
        checks.extend(_run_case(port, case, quantities))
    name = getattr(port, "__qualname__", None) or type(port).__name__
    module = getattr(port, "__module__", None)
    label = f"{module}:{name}" if module else name
    return Report(tuple(checks), port=label, require_all=require_all)


def load_port(spec: str) -> Port:
    """Import the function named by ``MODULE:FUNCTION`` (or ``path/to/file.py:FUNCTION``).

    Parameters
    ----------
    spec : str
        An importable module (``mypackage.uniloss``) or a Python file, a colon, and the
        name of a callable in it (dots allowed: ``module:Port.run``).

    Returns
    -------
    callable

    Raises
    ------
    ValueError
        If ``spec`` is malformed, or the module or name cannot be found.
    TypeError
        If ``spec`` is not a string, or the name is not callable.
    """
    if not isinstance(spec, str):
        raise TypeError(f"port must be a string MODULE:FUNCTION, got {type(spec).__name__}")
    if ":" not in spec:
        raise ValueError(
            f"port must be written MODULE:FUNCTION (e.g. mypackage.port:uniloss), got {spec!r}"
        )
    module_name, _, attribute = spec.rpartition(":")
    if not module_name or not attribute:
        raise ValueError(f"port must be written MODULE:FUNCTION, got {spec!r}")
    if module_name.endswith(".py"):
        module = _module_from_file(Path(module_name), spec)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ValueError(f"port {spec!r}: cannot import module {module_name!r}: {err}") from err
    try:
        function = functools.reduce(getattr, attribute.split("."), module)
    except AttributeError as err:
        raise ValueError(f"port {spec!r}: {module_name} has no attribute {attribute!r}") from err
    if not callable(function):
        raise TypeError(f"port {spec!r}: {attribute} is a {type(function).__name__}, not callable")
    return function


def _module_from_file(path: Path, spec: str) -> Any:
    if not path.is_file():
        raise ValueError(f"port {spec!r}: no such file {str(path)!r}")
    # The file name need not be an identifier (chapters start with digits), so the module
    # gets a private one. It is put in sys.modules before it runs because dataclasses and
    # typing look a module up there while its classes are being defined.
    name = "_uniloss_port_" + re.sub(r"\W", "_", path.stem)
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ValueError(f"port {spec!r}: {str(path)!r} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException as err:
        del sys.modules[name]  # a half-run module must not be found by the next attempt
        if isinstance(err, ImportError):
            raise ValueError(f"port {spec!r}: importing {str(path)!r} failed: {err}") from err
        raise
    return module
