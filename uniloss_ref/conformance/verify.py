"""The checker: run a port over every conformance case and report how far off it is.

A port is any callable ``port(case: dict) -> dict`` (see
:data:`uniloss_ref.conformance.vectors.PORT_SIGNATURE`). Each quantity it returns is
compared elementwise with the reference, ``|got - expected| <= atol + rtol * |expected|``
with the tolerances stated in the vectors file.

A port named by ``"MODULE:FUNCTION"`` is run in a child process
(:mod:`uniloss_ref.conformance.isolation`): a port that exits, crashes or hangs, at import
or in a case, is then a failure of that port with a time limit per case, never a stopped or
fooled checker. The command line always does this. A callable is run in this process,
which is convenient for tests and notebooks and catches everything but a hang or a hard
exit (``os._exit``, a crash in native code).

By default every quantity of every selected case must be returned (``require_all``); with
``require_all=False`` missing quantities, and cases for which the port raises
``NotImplementedError``, are skipped, so a port can be checked step by step, and the
report says that it is partial.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import functools
import importlib
import importlib.util
import json
import math
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import vectors as _vectors
from .reference import case_inputs
from .report import Check, Report

Port = Callable[[dict[str, Any]], Mapping[str, Any]]

#: Seconds a port run in a child process may take for one case.
DEFAULT_TIMEOUT = 60.0
#: Seconds it may take to load (importing a framework on a busy machine takes a while).
DEFAULT_LOAD_TIMEOUT = 120.0
#: The longest time limit accepted (a day): a longer one is a typo, and beyond about 1e9
#: seconds the platform's timers overflow.
MAX_TIMEOUT = 86400.0
#: The most runs of each case ``repeat`` may ask for.
MAX_REPEAT = 10
#: The largest seed for fresh cases.
MAX_SEED = 2**63 - 1
#: How many failing fresh cases a report prints whole (the seed gives them all).
SHOWN_CASES = 5


def check_seconds(value: Any, name: str) -> float:
    """A time limit: a real number of seconds in ``(0, MAX_TIMEOUT]``.

    Raises
    ------
    ValueError
        Naming ``name``, for anything else (NaN, infinity, 0, negative, above a day).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value <= MAX_TIMEOUT
    ):
        raise ValueError(
            f"{name} must be a positive number of seconds, at most {MAX_TIMEOUT:g} (a day), "
            f"got {value!r}"
        )
    return float(value)


# ---------------------------------------------------------------------------------------
# What a port returned for one case, reduced to plain arrays
# ---------------------------------------------------------------------------------------


def to_numpy(value: Any) -> np.ndarray:
    """A port's output as a float64 NumPy array, whatever framework produced it.

    PyTorch tensors refuse conversion while they require gradients or live on a GPU, so
    ``detach()`` and ``cpu()`` are called when present; a CuPy array is copied to the
    host with ``get()``; anything else is read through ``__array__`` (NumPy, JAX, PyTorch,
    TensorFlow) or, lacking it, its ``numpy()`` method (tensors of frameworks that offer
    only that). These are duck-typed so that no framework is ever imported here.

    Raises
    ------
    TypeError
        If the value is not real numbers: strings, complex numbers, objects, ragged lists.
    """
    for method in ("detach", "cpu"):
        convert = getattr(value, method, None)
        if callable(convert):
            value = convert()
    if hasattr(value, "__cuda_array_interface__") and callable(getattr(value, "get", None)):
        value = value.get()
    if not hasattr(value, "__array__") and callable(getattr(value, "numpy", None)):
        value = value.numpy()
    try:
        array = np.asarray(value)
    except ValueError as err:  # a ragged nested list
        raise TypeError(f"not an array of numbers ({err})") from err
    # Strings would parse ("0.5") and complex numbers would lose their imaginary part, so
    # only booleans, integers and real floats are read as numbers.
    if array.dtype.kind not in "biuf":
        raise TypeError(f"not real numbers: {type(value).__name__} of dtype {array.dtype}")
    return array.astype(np.float64)


@dataclass(frozen=True)
class Outcome:
    """What one call of a port on one case came to.

    ``kind`` is ``"values"`` (``values`` maps each returned quantity to a float64 array,
    or to a message if it was not numbers; ``dtypes`` the framework's dtype; ``unknown``
    the keys that are not quantities), ``"skip"`` (the port raised ``NotImplementedError``)
    or ``"error"`` (it raised, exited, hung, crashed, or returned no dict); ``detail`` says
    which. ``changed`` names the inputs the port modified in place.
    """

    kind: Literal["values", "skip", "error"]
    detail: str = ""
    values: dict[str, np.ndarray | str] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""


def describe_exception(err: BaseException, doing: str = "the port") -> str:
    """One line for an exception a port raised (or ``sys.exit`` it called)."""
    if isinstance(err, SystemExit):
        return f"{doing} called sys.exit({err.code!r})"
    return f"{doing} raised {type(err).__name__}: {_first_line(err)}".rstrip(": ")


def call_port(port: Port, inputs: dict[str, Any]) -> Outcome:
    """Run ``port`` on one case's inputs and reduce what it returns to plain arrays.

    Nothing the port raises escapes, ``SystemExit`` included; only ``KeyboardInterrupt``
    does, so that a person can stop a run. The inputs are compared with a copy taken
    before the call, and any the port modified are named in ``changed``.
    """
    before = copy.deepcopy(inputs)
    outcome = _call_port(port, inputs)
    changed = tuple(_changed(before, inputs))
    return dataclasses.replace(outcome, changed=changed) if changed else outcome


def _changed(before: Any, after: Any, where: str = "") -> Iterator[str]:
    """The keys (``targets.xy`` for nested ones) whose values differ between two inputs."""
    if isinstance(before, Mapping):
        if not isinstance(after, Mapping) or set(before) != set(after):
            yield f"the keys of {where}" if where else "the keys of the case"
            return
        for key in before:
            yield from _changed(before[key], after[key], f"{where}.{key}" if where else key)
    elif isinstance(before, np.ndarray):
        same = (
            isinstance(after, np.ndarray)
            and after.dtype == before.dtype
            and after.shape == before.shape
            and bool(np.array_equal(after, before, equal_nan=before.dtype.kind in "fc"))
        )
        if not same:
            yield where
    elif type(after) is not type(before) or after != before:
        yield where


def _call_port(port: Port, inputs: dict[str, Any]) -> Outcome:
    try:
        result = port(inputs)
    except NotImplementedError as err:
        reason = f"NotImplementedError: {err}" if str(err) else "NotImplementedError"
        return Outcome("skip", reason)
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # a port's exception is a finding to report, not a crash
        return Outcome("error", describe_exception(err))
    if not isinstance(result, Mapping):
        return Outcome(
            "error", f"the port returned {type(result).__name__}, expected a dict of quantities"
        )
    values: dict[str, np.ndarray | str] = {}
    dtypes: dict[str, str] = {}
    try:
        items = list(result.items())
    except Exception as err:
        return Outcome("error", describe_exception(err, "reading the port's result"))
    unknown = tuple(str(key) for key, _ in items if key not in _vectors.QUANTITIES)
    for key, value in items:
        if key not in _vectors.QUANTITIES or value is None:
            continue
        dtype = getattr(value, "dtype", None)
        if dtype is not None:
            dtypes[key] = str(dtype)
        try:
            values[key] = to_numpy(value)
        except Exception as err:
            values[key] = f"not convertible to float64: {_first_line(err)}"
    return Outcome("values", values=values, dtypes=dtypes, unknown=unknown)


# ---------------------------------------------------------------------------------------
# Comparing one quantity
# ---------------------------------------------------------------------------------------


def _format_index(index: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(int(i)) for i in index) + ")"


#: For quantities with one value per comparison or per anchor: what they count.
_COUNTS = {
    "comparisons": ("comparisons", "comparisons (l)"),
    "hard": ("hard binaries", "comparisons (l)"),
    "relaxed": ("relaxed binaries", "comparisons (l)"),
    "distances": ("distances", "anchors (K)"),
    "anchor_values": ("anchor values", "anchors (K)"),
}


def _shape_message(quantity: str, got: tuple[int, ...], want: tuple[int, ...]) -> str:
    """Why a returned shape is wrong, in the case's own terms (l comparisons, K anchors)."""
    plain = f"shape {got}, expected {want}"
    if quantity in _COUNTS and len(want) == 1:
        things, per = _COUNTS[quantity]
        size = math.prod(got)
        return f"the port returned {size} {things}, the case has {want[0]} {per}: {plain}"
    if quantity == "gradient":
        return f"{plain} (the gradient has the scores' shape)"
    if not want:
        return f"{plain} (a scalar)"
    return plain


def compare_quantity(
    case: str,
    quantity: str,
    value: Any,
    expected: Any,
    rtol: float,
    atol: float,
    dtype: str | None = None,
) -> Check:
    """Compare one returned quantity with the expected values.

    Parameters
    ----------
    case, quantity : str
        Names, for the report.
    value : array_like or str
        What the port returned (any framework's array, nested lists, a float), or a
        message saying why it could not be read as numbers.
    expected : float or nested lists of float
        The reference's values.
    rtol, atol : float
        The check is ``|got - expected| <= atol + rtol * |expected|`` elementwise.
    dtype : str, optional
        The dtype the port's framework used, named in a failure when not 64-bit.

    Returns
    -------
    Check
    """
    if isinstance(value, str):
        return Check(case, quantity, "error", detail=value)
    if dtype is None and getattr(value, "dtype", None) is not None:
        dtype = str(value.dtype)
    try:
        got = to_numpy(value)
    except Exception as err:
        return Check(case, quantity, "error", detail=f"not convertible to float64: {err}")
    want = np.asarray(expected, dtype=np.float64)
    if want.ndim == 0 and got.size == 1:
        got = got.reshape(())
    if got.shape != want.shape:
        detail = _shape_message(quantity, got.shape, want.shape)
        return Check(case, quantity, "fail", math.inf, math.inf, detail)
    if want.size == 0:
        return Check(case, quantity, "pass", 0.0, 0.0)
    if not np.isfinite(got).all():
        index = np.unravel_index(int(np.argmin(np.isfinite(got))), got.shape)
        where = f" at index {_format_index(index)}" if index else ""
        detail = f"{float(got[index])!r}{where}, expected {float(want[index])!r} (must be finite)"
        return Check(case, quantity, "fail", math.inf, math.inf, detail)
    with np.errstate(over="ignore"):  # a huge error over a tiny tolerance: the ratio is inf
        diff = np.abs(got - want)
        bound = atol + rtol * np.abs(want)
        # A zero tolerance means "equal bits": any difference is infinitely over it.
        ratio = np.divide(diff, bound, out=np.full_like(diff, np.inf), where=bound > 0)
    ratio[diff == 0] = 0.0
    index = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    worst, error = float(ratio[index]), float(diff.max())
    if worst <= 1.0:
        return Check(case, quantity, "pass", error, worst)
    note = "" if dtype is None or "64" in dtype else f"; the port returned {dtype}"
    where = f"at index {_format_index(index)}: " if index else ""
    detail = (
        f"{where}expected {float(want[index])!r}, got "
        f"{float(got[index])!r} (|err| {float(diff[index]):.3g} > atol {atol:g} + "
        f"rtol {rtol:g} * |expected|){note}"
    )
    return Check(case, quantity, "fail", error, worst, detail)


def case_context(case: Mapping[str, Any]) -> str:
    """``l``, ``K`` and the scores' shape of a case, to put a port's exception in context."""
    anchors = case["anchors"]
    k = len(anchors)
    length = len(anchors[0]) if k else 0
    shape = tuple(np.shape(case["scores"]))
    return f"this case has l = {length} comparisons, K = {k} anchors, scores of shape {shape}"


def checks_of(
    case: Mapping[str, Any],
    outcome: Outcome,
    quantities: Mapping[str, Any],
    again: Sequence[Outcome] = (),
) -> list[Check]:
    """One :class:`Check` per quantity for what the port did on ``case``.

    ``again`` holds the outcomes of running the same case again: a quantity that differs
    from the first run by more than its tolerance fails, and so does an input the port
    changed in place (the check ``inputs``).
    """
    name = case["name"]
    changed = dict.fromkeys(key for o in (outcome, *again) for key in o.changed)
    inputs = []
    if changed:
        detail = (
            f"the port changed its inputs in place: {', '.join(changed)}; a port must leave "
            "them as they are"
        )
        inputs.append(Check(name, "inputs", "error", detail=detail))
    if outcome.kind == "skip":
        return inputs + [Check(name, q, "skip", detail=outcome.detail) for q in quantities]
    if outcome.kind == "error":
        detail = outcome.detail
        if detail.startswith("the port raised"):  # often a shape clash: say what to expect
            detail = f"{detail} ({case_context(case)})"
        return inputs + [Check(name, q, "error", detail=detail) for q in quantities]
    expected = ", ".join(quantities)
    checks = inputs + [
        Check(name, key, "error", detail=f"unknown quantity {key!r}; expected one of {expected}")
        for key in outcome.unknown
    ]
    for quantity in quantities:
        if quantity not in outcome.values:
            checks.append(Check(name, quantity, "skip"))
            continue
        rtol, atol = _vectors.tolerance(case, quantity, quantities)
        check = compare_quantity(
            name,
            quantity,
            outcome.values[quantity],
            case["expected"][quantity],
            rtol,
            atol,
            outcome.dtypes.get(quantity),
        )
        for run, later in enumerate(again, start=2):
            if check.status != "pass":
                break
            check = _same_again(check, outcome, later, run, case["expected"][quantity], rtol, atol)
        checks.append(check)
    return checks


def _same_again(
    check: Check, first: Outcome, later: Outcome, run: int, expected: Any, rtol: float, atol: float
) -> Check:
    """``check`` of the first run, failed if run ``run`` returned something else."""
    quantity = check.quantity
    if later.kind != "values":
        return dataclasses.replace(check, status="error", detail=f"run {run}: {later.detail}")
    a, b = first.values[quantity], later.values.get(quantity)
    if isinstance(b, str) or b is None or np.shape(b) != np.shape(a):
        what = "nothing" if b is None else "something else"
        return dataclasses.replace(
            check, status="fail", detail=f"run {run} returned {what} for it (run 1 did)"
        )
    assert not isinstance(a, str)  # a passed check was read as numbers
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(b - a)
        bound = atol + rtol * np.abs(np.asarray(expected, dtype=np.float64))
        over = ~(diff <= bound)  # NaN counts as over
    if not over.any():
        return check
    index = np.unravel_index(int(np.argmax(over)), over.shape) if over.ndim else ()
    where = f"at index {_format_index(index)}: " if index else ""
    detail = (
        f"{where}run 1 returned {float(a[index])!r}, run {run} {float(b[index])!r} "
        f"(|diff| {float(diff[index]):.3g} > atol {atol:g} + rtol {rtol:g} * |expected|): "
        "the port does not give the same answer twice"
    )
    return dataclasses.replace(check, status="fail", ratio=math.inf, detail=detail)


# ---------------------------------------------------------------------------------------
# Running a port over the cases
# ---------------------------------------------------------------------------------------


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


def _in_process(port: Port, cases: Iterable[Mapping[str, Any]]) -> Iterator[Outcome]:
    for case in cases:
        yield call_port(port, case_inputs(case))  # each call its own copy of the inputs


def check_count(value: Any, name: str, top: int) -> int:
    """A whole number in ``[0, top]`` (not a bool); ValueError or TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if not 0 <= value <= top:
        raise ValueError(f"{name} must be from 0 to {top}, got {value}")
    return int(value)


def new_seed() -> int:
    """A seed for fresh cases, from the operating system's entropy (never NumPy's global
    generator), short enough to read and type."""
    return secrets.randbelow(10**9)


def verify(
    port: Port | str,
    *,
    vectors: Mapping[str, Any] | str | Path | None = None,
    cases: str | Sequence[str] | None = None,
    require_all: bool = True,
    timeout: float | None = None,
    load_timeout: float | None = None,
    fresh: int = 0,
    seed: int | None = None,
    repeat: int = 1,
) -> Report:
    """Run ``port`` over the conformance cases and compare every quantity it returns.

    Parameters
    ----------
    port : callable or str
        ``port(case: dict) -> dict`` (see ``docs/porting.md``), run in this process; or
        ``"MODULE:FUNCTION"`` (or ``"path/to/file.py:FUNCTION"``), loaded and run in a child
        process with a time limit, so that an exit, a crash or a hang is reported as a
        failure of the port.
    vectors : mapping, str or Path, optional
        A parsed vectors document or a path to one; by default the packaged file. It is
        validated (:func:`uniloss_ref.conformance.vectors.validate`).
    cases : str or sequence of str, optional
        Glob patterns of case names to run (``"ap/*"``); all cases by default.
    require_all : bool, default True
        Count a skipped quantity or case as a failure. False checks a partial port; its
        report is labelled partial.
    timeout : float, optional
        Seconds the port may take per case (default :data:`DEFAULT_TIMEOUT`); only for a
        port given as a string.
    load_timeout : float, optional
        Seconds its process may take to import it (default :data:`DEFAULT_LOAD_TIMEOUT`).
    fresh : int, default 0
        How many fresh cases to draw here from ``seed`` and add to the file's
        (:mod:`uniloss_ref.conformance.fresh`), at most
        :data:`~uniloss_ref.conformance.fresh.MAX_FRESH`.
    seed : int, optional
        Their seed; by default a new one, which the report gives.
    repeat : int, default 1
        Run each case this many times (at most :data:`MAX_REPEAT`); a quantity that differs
        between runs by more than its tolerance fails.

    Returns
    -------
    Report
        ``report.passed`` says whether the port conforms; ``print(report)`` shows why.

    Raises
    ------
    TypeError
        If ``port`` is neither callable nor a string.
    ValueError
        If ``vectors`` is not a valid vectors file, a ``cases`` pattern matches nothing,
        a time limit is not a positive number of seconds up to :data:`MAX_TIMEOUT` or is
        given with a callable, ``fresh``, ``seed`` or ``repeat`` is out of range, or a port
        given as a string cannot be loaded
        (:class:`~uniloss_ref.conformance.isolation.PortLoadError`).
    """
    if isinstance(port, str):
        parse_spec(port)
    elif not callable(port):
        raise TypeError(
            "port must be a callable port(case: dict) -> dict or a 'MODULE:FUNCTION' string, "
            f"got {type(port).__name__}"
        )
    for name, limit in (("timeout", timeout), ("load_timeout", load_timeout)):
        if limit is None:
            continue
        if not isinstance(port, str):
            raise ValueError(
                f"{name} needs the port as a 'MODULE:FUNCTION' string: only a port run in "
                "its own process can be stopped"
            )
        check_seconds(limit, name)
    from .fresh import MAX_FRESH, draw_cases

    fresh = check_count(fresh, "fresh", MAX_FRESH)
    repeat = check_count(repeat, "repeat", MAX_REPEAT)
    if repeat < 1:
        raise ValueError(f"repeat must be from 1 to {MAX_REPEAT}, got 0")
    if seed is None:
        seed = new_seed()
    seed = check_count(seed, "seed", MAX_SEED)
    if isinstance(vectors, Mapping):
        document = _vectors.validate(vectors)
    else:
        document = _vectors.load(vectors)
    quantities = document["quantities"]
    drawn = draw_cases(fresh, seed)
    if drawn:  # checked like a file's: a case the generator got wrong must not pass unseen
        _vectors.validate({**document, "cases": drawn}, f"the fresh cases of seed {seed}")
    everything = [*document["cases"], *drawn]
    selected = select_cases(everything, cases)
    runs = [case for case in selected for _ in range(repeat)]
    if isinstance(port, str):
        from .isolation import run_isolated

        outcomes = run_isolated(
            port,
            runs,
            DEFAULT_TIMEOUT if timeout is None else timeout,
            DEFAULT_LOAD_TIMEOUT if load_timeout is None else load_timeout,
        )
        label = port
    else:
        outcomes = _in_process(port, runs)
        name = getattr(port, "__qualname__", None) or type(port).__name__
        module = getattr(port, "__module__", None)
        label = f"{module}:{name}" if module else name
    checks: list[Check] = []
    try:
        for case in selected:
            first, *again = [next(outcomes) for _ in range(repeat)]
            checks.extend(checks_of(case, first, quantities, again))
    finally:
        outcomes.close()  # ends the port's process, if it has one
    failing = {c.case for c in checks if c.status in ("fail", "error")}
    fresh_names = {case["name"] for case in drawn}
    shown = [case for case in selected if case["name"] in failing & fresh_names]
    return Report(
        tuple(checks),
        port=label,
        require_all=require_all,
        cases_total=len(everything),
        fresh=fresh,
        seed=seed if fresh else None,
        repeat=repeat,
        failing_fresh=tuple(json.dumps(case) for case in shown[:SHOWN_CASES]),
        failing_fresh_total=len(shown),
    )


# ---------------------------------------------------------------------------------------
# Loading a port by name
# ---------------------------------------------------------------------------------------


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``MODULE:FUNCTION`` and check what can be checked without importing anything.

    Raises
    ------
    TypeError
        If ``spec`` is not a string.
    ValueError
        If it is malformed, or names a ``.py`` file that does not exist.
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
    if module_name.endswith(".py") and not Path(module_name).is_file():
        raise ValueError(f"port {spec!r}: no such file {module_name!r}")
    return module_name, attribute


def load_port(spec: str) -> Port:
    """Import the function named by ``MODULE:FUNCTION`` (or ``path/to/file.py:FUNCTION``).

    This imports the port into the calling process; :func:`verify` given the string does
    it in a child process instead.

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
    module_name, attribute = parse_spec(spec)
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
