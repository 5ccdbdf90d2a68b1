"""Checks for the code a learner writes in the chapters, each with a hint where it differs.

Every check prints one line starting with ``✓`` when the learner's function does what the
chapter asks, and otherwise raises :class:`~uniloss_ref.tutorial.CheckFailed`: the first case
where it differs, what it returned against what was expected, and a hint (in Jupyter the
message shows without a traceback; a chapter run as a script ends with it).

Chapter 4's steps are checked against :mod:`uniloss_ref.plain`, the package's one-page
statement of the method, on the conformance cases (:mod:`uniloss_ref.conformance`) that
exercise that step: the pairs and ``h`` of each metric (plain's metrics are the package's
refactorings), the standardisation, the relaxation, the anchors, the distances, the
weights, the interpolation and the loss. :func:`agree` and :func:`agree_on` check anything
else against a reference the chapter names.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np

from . import plain
from .conformance import QUANTITIES, case_inputs, load
from .conformance.reference import reference_metric
from .tutorial import CheckFailed

__all__ = [
    "CheckFailed",
    "Passed",
    "agree",
    "agree_on",
    "check_anchors",
    "check_distances",
    "check_interpolation",
    "check_loss",
    "check_metric",
    "check_pairs",
    "check_relaxation",
    "check_standardised",
    "check_weights",
    "written",
]

ANCHOR_COUNTS = {"truth": 1, "good": 16, "nearby": 16, "bad": 16, "current": 1, "row": 4}
"""The anchors :func:`check_anchors` asks for (the paper's 49, one current, four row)."""


@dataclass(frozen=True)
class Passed:
    """A check that passed: what, on how many cases, and the largest difference seen."""

    name: str
    cases: int
    worst: float = 0.0


# ---------------------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------------------


NOT_WRITTEN = "returned None (the cell still holds `...`: write its body)"


def _fail(name: str, where: str, what: str, hint: str) -> CheckFailed:
    return CheckFailed(f"✗ {' '.join(filter(None, (name, where)))}: {what}\n  hint: {hint}")


def _short(value: Any) -> str:
    value = np.asarray(value)
    if value.ndim == 0:
        return f"{float(value):.10g}"
    text = np.array2string(value, precision=6, threshold=12, edgeitems=3)
    return " ".join(text.split())


def _difference(got: Any, expected: Any, rtol: float, atol: float) -> tuple[float, str | None]:
    """The largest difference, relative where ``|expected| > 1`` (so a value of 1e300 that is
    right to the last digits shows as a small number) and, when ``got`` is outside
    ``atol + rtol |expected|``, what is wrong with it."""
    if got is None:
        return np.inf, NOT_WRITTEN
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return np.inf, f"returned {type(got).__name__}, not numbers"
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        return np.inf, f"has shape {got.shape}, expected {expected.shape}"
    if not np.isfinite(got).all() and not np.array_equal(got, expected):
        return np.inf, f"is not finite: {_short(got)}"
    gap = np.abs(got - expected)
    allowed = atol + rtol * np.abs(expected)
    if not np.all(gap <= allowed):
        first = np.unravel_index(np.argmax(gap - allowed), gap.shape) if gap.ndim else ()
        at = f" (first at index {tuple(map(int, first))})" if gap.ndim else ""
        return np.inf, f"is {_short(got)}, expected {_short(expected)}{at}"
    return float((gap / np.maximum(np.abs(expected), 1.0)).max(initial=0.0)), None


def written(name: str, got: Any) -> bool:
    """Whether an exercise's function was written: False, saying so, when it returned None
    (its cell still holds ``...``). An exercise left for later does not stop the chapter."""
    if got is None:
        print(f"· {name}: not written yet; write the cell marked yours to check it")
    return got is not None


def agree(
    name: str,
    got: Any,
    expected: Any,
    *,
    hint: str,
    rtol: float = 0.0,
    atol: float = 0.0,
    required: bool = True,
) -> Passed | None:
    """Check one result against its expected value (within ``atol + rtol |expected|``).

    ``required=False`` (an exercise) lets an unwritten function pass by with a note
    (:func:`written`) and None; anything it does return is checked.

    Raises
    ------
    CheckFailed
        With what ``got`` is, what was expected, and ``hint``.
    """
    if not required and not written(name, got):
        return None
    worst, wrong = _difference(got, expected, rtol, atol)
    if wrong is not None:
        raise _fail(name, "", wrong, hint) from None
    print(f"✓ {name}: as expected (largest difference {worst:.1e})")
    return Passed(name, 1, worst)


def agree_on(
    name: str,
    function: Callable,
    reference: Callable,
    inputs: Mapping[str, tuple] | Iterable[tuple],
    *,
    hint: str,
    rtol: float = 0.0,
    atol: float = 0.0,
    required: bool = True,
) -> Passed | None:
    """Check ``function(*args)`` against ``reference(*args)`` on every input.

    Parameters
    ----------
    name : str
        What is checked, for the messages.
    function, reference : callable
    inputs : mapping of str to tuple, or iterable of tuple
        The arguments, by a label the failure message names (or numbered).
    hint : str
    rtol, atol : float
    required : bool, default True
        False for an exercise: a function that returns None (not written yet) passes by
        with a note and None.

    Raises
    ------
    CheckFailed
        At the first input where the two differ (or the function raises).
    """
    labelled = inputs.items() if isinstance(inputs, Mapping) else enumerate(inputs)
    worst, count = 0.0, 0
    for label, args in labelled:
        try:
            got = function(*args)
        except Exception as err:  # the learner's code: say where it broke
            raise _fail(name, f"on input {label}", f"raised {err!r}", hint) from None
        if not required and count == 0 and not written(name, got):
            return None
        gap, wrong = _difference(got, reference(*args), rtol, atol)
        if wrong is not None:
            raise _fail(name, f"on input {label}", wrong, hint) from None
        worst, count = max(worst, gap), count + 1
    print(f"✓ {name}: matches on all {count} inputs (largest difference {worst:.1e})")
    return Passed(name, count, worst)


# ---------------------------------------------------------------------------------------
# Chapter 4: each step against uniloss_ref.plain on the conformance cases
# ---------------------------------------------------------------------------------------


def _cases(*metrics: str) -> list[dict[str, Any]]:
    """The conformance cases of the named metrics (all when none), as a port receives them,
    each with its ``expected`` outputs as arrays."""
    chosen = []
    for case in load()["cases"]:
        if not metrics or case["metric"] in metrics:
            inputs = case_inputs(case)
            inputs["expected"] = {
                k: np.asarray(v, dtype=float) for k, v in case["expected"].items()
            }
            chosen.append(inputs)
    return chosen


def _tolerance(quantity: str) -> dict[str, float]:
    return {"rtol": QUANTITIES[quantity]["rtol"], "atol": QUANTITIES[quantity]["atol"]}


def _call(name: str, case: str, hint: str, function: Callable, *args: Any, **kwargs: Any) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an overflow is a failure, not a warning
            return function(*args, **kwargs)
    except Exception as err:  # the learner's code: say where it broke
        raise _fail(name, f"on case {case}", f"raised {err!r}", hint) from None


def _compare(name: str, case: str, got: Any, expected: Any, hint: str, **tolerance: float) -> float:
    gap, wrong = _difference(got, expected, tolerance.get("rtol", 0.0), tolerance.get("atol", 0.0))
    if wrong is not None:
        raise _fail(name, f"on case {case}", wrong, hint) from None
    return gap


def _slopes(name: str, case: str, hint: str, mine: Callable, theirs: Callable, x: Any,
            **tolerance: float) -> float:  # fmt: skip
    """Compare the gradients of two scalar functions at ``x``."""
    slope = _call(name, case, hint, autograd.grad(mine), x)
    return _compare(f"{name} (gradient)", case, slope, autograd.grad(theirs)(x), hint, **tolerance)


def _done(name: str, reference: str, count: int, worst: float) -> Passed:
    print(f"✓ {name} matches {reference} on all {count} cases (largest difference {worst:.1e})")
    return Passed(name, count, worst)


PAIR_HINT = (
    "positives are the samples labelled 1 and negatives those labelled 0, each in increasing "
    "index; the pairs go positive-major: i repeats each positive N times, j lists the "
    "negatives once per positive, and row p (positive p's comparisons) starts at p * N"
)


def check_pairs(ranking_pairs: Callable) -> Passed:
    """``ranking_pairs(labels) -> (i, j, row_starts)`` on every AP and ROC AUC case."""
    name, worst, cases = "ranking_pairs", 0.0, _cases("AveragePrecision", "RocAuc")
    for case in cases:
        metric, targets = reference_metric(case)
        reference = metric.refactor(case["scores"].shape, targets)
        got = _call(name, case["name"], PAIR_HINT, ranking_pairs, case["targets"])
        if got is None or len(got) != 3:
            what = NOT_WRITTEN if got is None else "should return (i, j, row_starts)"
            raise _fail(name, f"on case {case['name']}", what, PAIR_HINT)
        for part, mine, theirs in zip(
            ("i", "j", "row_starts"),
            got,
            (reference.i, reference.j, reference.row_starts),
            strict=True,
        ):
            worst = max(worst, _compare(f"{name} ({part})", case["name"], mine, theirs, PAIR_HINT))
    return _done(name, "the package's pairs", len(cases), worst)


METRIC_HINTS = {
    "AveragePrecision": (
        "n_p = the number of -1 in positive p's row; sort them, n_(1) <= ... <= n_(P); "
        "h = mean over j of j / (j + n_(j)); with unrealisable='zero', h = 0 unless each "
        "row's set of -1, rows sorted by n_p, contains the previous row's (nested)"
    ),
    "RocAuc": "h = the fraction of +1 entries of b; with no comparisons (l = 0) h = 1",
    "Accuracy": (
        "pairs: for sample r, s[r, t_r] - s[r, k] for every other class k in increasing k; "
        "h = the fraction of samples whose row has at most top_k - 1 entries -1"
    ),
    "PCK": (
        "a joint counts iff visible and -0.5 <= x < W - 0.5 and -0.5 <= y < H - 0.5; a pixel "
        "(x, y) is positive iff its squared distance to the joint is <= (threshold * scale)^2; "
        "pairs per counted joint with both kinds of pixel, sample-major then joint, "
        "positive-major, pixels in increasing y * W + x"
    ),
}

CASE_HINTS = {
    "every-configuration": (
        "a configuration no ranking produces scores 0 (unrealisable='zero'): sort the rows by "
        "n_p; each row's set of -1 must contain the previous row's, else h = 0. With "
        "unrealisable='counts' the formula applies anyway"
    ),
    "ap-voc": "interpolated AP replaces each precision by the largest precision at or after it",
    "no-positives": "with no positive or no negative there is nothing to rank: h = 1",
    "one-class": "with no positive or no negative (one class) h = 1",
    "single-sample": "with one sample there are no pairs: h = 1",
    "top3": "top_k = 3: a sample is right when at most 2 entries of its row are -1",
    "three-classes": "top_k = 3 of 3 classes: every sample is right",
    "uncounted-joints": (
        "an invisible joint, or one outside -0.5 <= x < W - 0.5, -0.5 <= y < H - 0.5, does "
        "not count at all (not in the denominator); a counted joint with no positive pixel is "
        "never correct"
    ),
    "no-negatives": (
        "a counted joint whose radius covers every pixel has no pairs and is always correct"
    ),
    "nothing-counted": "with no counted joint PCK is 1 (and there are no pairs)",
    "radius-and-border": (
        "a pixel exactly on the radius is positive (<=, not <); a joint at x = -0.5 counts, "
        "at x = W - 0.5 it does not"
    ),
    "mixed-degenerate": (
        "joints with no negative pixel count as correct, joints with no positive pixel as "
        "wrong, and both are in the denominator"
    ),
    "non-square": "pixel (x, y) is index y * W + x of the flattened H x W heatmap",
}


def _case_hint(metric: str, case: str) -> str:
    specific = [hint for key, hint in CASE_HINTS.items() if key in case]
    return "; ".join([*specific, METRIC_HINTS[metric]])


def check_metric(metric: str, function: Callable) -> Passed:
    """``function(shape, targets, **params) -> (i, j, row_starts, h)`` on the metric's cases.

    Parameters
    ----------
    metric : {"AveragePrecision", "RocAuc", "Accuracy", "PCK"}
    function : callable
        ``h`` takes a ``(K, l)`` array of ``+-1`` and returns ``(K,)`` values; PCK's targets
        come as the dict of the conformance cases.
    """
    if metric not in METRIC_HINTS:
        raise ValueError(f"metric must be one of {sorted(METRIC_HINTS)}, got {metric!r}")
    name, worst, cases = metric, 0.0, _cases(metric)
    for case in cases:
        label, hint = case["name"], _case_hint(metric, case["name"])
        reference_object, targets = reference_metric(case)
        reference = reference_object.refactor(case["scores"].shape, targets)
        got = _call(
            name, label, hint, function, case["scores"].shape, case["targets"], **case["params"]
        )
        if got is None or len(got) != 4 or not callable(got[3]):
            what = NOT_WRITTEN if got is None else "should return (i, j, row_starts, h)"
            raise _fail(name, f"on case {label}", what, hint)
        i, j, rows, h = got
        for part, mine, theirs in (("i", i, reference.i), ("j", j, reference.j),
                                   ("row_starts", rows, reference.row_starts)):  # fmt: skip
            worst = max(worst, _compare(f"{name} ({part})", label, mine, theirs, hint))
        anchors = case["anchors"]
        values = _call(name, label, hint, h, anchors)
        expected = reference.h(anchors > 0)  # plain's values: the package's refactoring
        worst = max(worst, _compare(f"{name} (h at the anchors)", label, values, expected, hint,
                                    **_tolerance("anchor_values")))  # fmt: skip
        hard = case["expected"]["hard"][None, :]
        batch = _call(name, label, hint, h, hard)
        expected = reference.h(hard > 0)
        tolerance = _tolerance("batch_metric")
        worst = max(
            worst, _compare(f"{name} (h of sign(c))", label, batch, expected, hint, **tolerance)
        )
    return _done(name, "uniloss_ref.plain's values", len(cases), worst)


STANDARDISED_HINT = (
    "z = s / sd(s), sd the population standard deviation over the whole batch; divide by "
    "max|s| first (it cancels) so no square overflows, and leave s unchanged when max|s| is 0 "
    "or sd * max|s| is below np.finfo(float).tiny; write it with autograd.numpy so that the "
    "gradient flows through sd"
)


def check_standardised(standardised: Callable) -> Passed:
    """``standardised(s)`` against :func:`uniloss_ref.plain.standardised`, value and gradient,
    on every case's scores and on scores that are equal, huge or tiny."""
    name, worst = "standardised", 0.0
    inputs = {case["name"]: case["scores"] for case in _cases()}
    rng = np.random.default_rng(0)
    inputs |= {
        "equal scores": np.full(5, 2.5),
        "all zero": np.zeros(4),
        "huge scores": rng.normal(size=6) * 1e300,
        "tiny scores": rng.normal(size=6) * 1e-300,
        "subnormal spread": np.array([0.0, 5e-324]),
    }
    for label, scores in inputs.items():
        got = _call(name, label, STANDARDISED_HINT, standardised, scores)
        worst = max(worst, _compare(name, label, got, plain.standardised(scores), STANDARDISED_HINT,
                                    rtol=1e-12, atol=1e-15))  # fmt: skip
        r = np.linspace(-1.0, 1.0, scores.size).reshape(scores.shape)
        mine = lambda s, r=r: anp.sum(r * standardised(s))
        theirs = lambda s, r=r: anp.sum(r * plain.standardised(s))
        gap = _slopes(name, label, STANDARDISED_HINT, mine, theirs, scores, rtol=1e-9, atol=1e-12)
        worst = max(worst, gap)
    return _done(name, "uniloss_ref.plain.standardised", len(inputs), worst)


RELAXATION_HINT = (
    "b~ = tanh(c / (2 tau)) with NumPy's tanh; its slope written through the output, "
    "(1 - b~^2) / (2 tau), never forms cosh(c / 2 tau)^2, which overflows past |c| / tau = 710"
)


def check_relaxation(relax: Callable) -> Passed:
    """``relax(c, temperature)`` (an autograd primitive) against
    :func:`uniloss_ref.plain.relaxed_binary`: values and slopes on every case's comparisons,
    with no warning, at ``c = +-1e6`` too."""
    name, worst, cases = "relaxation", 0.0, _cases()
    extreme = {"name": "c = +-1e6", "temperature": 1.0,
               "expected": {"comparisons": np.array([-1e6, -3.0, 0.0, 0.5, 1e6])}}  # fmt: skip
    for case in [*cases, extreme]:
        c, tau, label = case["expected"]["comparisons"], case["temperature"], case["name"]
        got = _call(name, label, RELAXATION_HINT, relax, c, tau)
        worst = max(worst, _compare(name, label, got, plain.relaxed_binary(c, tau),
                                    RELAXATION_HINT, **_tolerance("relaxed")))  # fmt: skip
        mine = lambda x, tau=tau: anp.sum(relax(x, tau))
        theirs = lambda x, tau=tau: anp.sum(plain.relaxed_binary(x, tau))
        gap = _slopes(name, label, RELAXATION_HINT, mine, theirs, c, rtol=1e-12, atol=1e-15)
        worst = max(worst, gap)
    return _done(name, "uniloss_ref.plain.relaxed_binary", len(cases) + 1, worst)


ANCHOR_HINT = (
    "rows in the order truth, good, nearby, bad, current, row; truth = all +1; good = truth "
    "with one random entry flipped; nearby = sign(c) (a tie as -1) with one of its -1 "
    "entries set to +1 (a good anchor when none is -1); bad = each entry +1 or -1 at random; "
    "current = sign(c); row = sign(c) with one random row set all +1; every draw from rng"
)


def check_anchors(draw_anchors: Callable) -> Passed:
    """``draw_anchors(c, row_starts, rng, truth=, good=, nearby=, bad=, current=, row=)`` on
    every case's comparisons: each kind what it must be, the same seed drawing the same
    anchors, and the random kinds random.

    A random draw cannot match :func:`uniloss_ref.plain.draw_anchors` bit for bit (it depends
    on the order of the draws), so each anchor is checked for what its kind must be, and the
    shape against plain's.
    """
    name, counts, plus, total = "draw_anchors", ANCHOR_COUNTS, 0, 0
    cases = _cases()
    for case in cases:
        label = case["name"]
        metric, targets = reference_metric(case)
        rows = metric.refactor(case["scores"].shape, targets).row_starts
        c = case["expected"]["comparisons"]
        got = _call(
            name, label, ANCHOR_HINT, draw_anchors, c, rows, np.random.default_rng(0), **counts
        )
        if got is None:
            raise _fail(name, f"on case {label}", NOT_WRITTEN, ANCHOR_HINT)
        expected_shape = plain.draw_anchors(c, rows, np.random.default_rng(0), **counts).shape
        _compare(f"{name} (shape)", label, np.shape(got), expected_shape, ANCHOR_HINT)
        got = np.asarray(got, dtype=float)
        if not np.isin(got, (-1.0, 1.0)).all():
            raise _fail(name, f"on case {label}", "has entries other than +1 and -1", ANCHOR_HINT)
        again = _call(
            name, label, ANCHOR_HINT, draw_anchors, c, rows, np.random.default_rng(0), **counts
        )
        if not np.array_equal(got, np.asarray(again, dtype=float)):
            raise _fail(
                name, f"on case {label}", "drew other anchors from the same seed", ANCHOR_HINT
            )
        wrong = _anchor_kinds_wrong(got, c, rows, counts)
        if wrong:
            raise _fail(name, f"on case {label}", wrong, ANCHOR_HINT)
        bad = got[sum(counts[k] for k in ("truth", "good", "nearby")) :][: counts["bad"]]
        plus, total = plus + int((bad > 0).sum()), total + bad.size
    if total and not 0.4 < plus / total < 0.6:
        what = f"{plus / total:.0%} of the bad anchors' entries are +1"
        raise _fail(name, "over all cases", what, "bad: each entry +1 or -1 with probability 1/2")
    return _done(name, "the kinds of uniloss_ref.plain.draw_anchors", len(cases), 0.0)


def _anchor_kinds_wrong(anchors: np.ndarray, c: np.ndarray, rows: np.ndarray,
                        counts: Mapping[str, int]) -> str | None:  # fmt: skip
    """What is wrong with the anchors of each kind, or None."""
    now = np.where(c > 0, 1.0, -1.0)
    start, length = 0, c.size
    for kind, n in counts.items():
        block, start = anchors[start : start + n], start + n
        for k, a in enumerate(block):
            flipped_truth = np.flatnonzero(a < 0)
            changed = np.flatnonzero(a != now)
            if kind == "truth" and flipped_truth.size:
                return f"truth anchor {k} has -1 entries"
            if kind == "good" and length and flipped_truth.size != 1:
                return (
                    f"good anchor {k} differs from the truth in {flipped_truth.size} places, not 1"
                )
            if kind == "nearby" and length:
                if (now < 0).any():
                    if changed.size != 1 or now[changed[0]] > 0:
                        return f"nearby anchor {k} is not sign(c) with one -1 entry set to +1"
                elif flipped_truth.size != 1:
                    return f"nearby anchor {k}: nothing is wrong, so it should be a good anchor"
            if kind == "current" and changed.size:
                return f"current anchor {k} differs from sign(c) in {changed.size} places"
            if kind == "row" and length:
                row_of = np.searchsorted(rows, changed, side="right") - 1
                if (a[changed] < 0).any() or np.unique(row_of).size > 1:
                    return f"row anchor {k} changes more than one row of sign(c)"
                if changed.size:
                    r = row_of[0]
                    if (a[rows[r] : rows[r + 1]] < 0).any():
                        return f"row anchor {k} does not set its whole row to +1"
    return None


DISTANCE_HINT = (
    "d_k^2 = sum over m of (1 - b~_m)^2 where a_km = +1 and (1 + b~_m)^2 where a_km = -1: "
    "non-negative terms, exactly 0 on an anchor. The expanded |b~|^2 - 2 a.b~ + l cancels "
    "near an anchor and loses every digit"
)


def check_distances(squared_distances: Callable) -> Passed:
    """``squared_distances(b, anchors)`` against :func:`uniloss_ref.plain.squared_distances`
    on every case, value and gradient."""
    name, worst, cases = "squared_distances", 0.0, _cases()
    for case in cases:
        label, b, anchors = case["name"], case["expected"]["relaxed"], case["anchors"]
        got = _call(name, label, DISTANCE_HINT, squared_distances, b, anchors)
        expected = plain.squared_distances(b, anchors)
        tolerance = {"rtol": 2 * QUANTITIES["distances"]["rtol"], "atol": 1e-30}
        worst = max(worst, _compare(name, label, got, expected, DISTANCE_HINT, **tolerance))
        r = np.linspace(0.5, 1.5, len(anchors))
        mine = lambda x, r=r, a=anchors: anp.dot(r, squared_distances(x, a))
        theirs = lambda x, r=r, a=anchors: anp.dot(r, plain.squared_distances(x, a))
        gap = _slopes(name, label, DISTANCE_HINT, mine, theirs, b, rtol=1e-10, atol=1e-12)
        worst = max(worst, gap)
    return _done(name, "uniloss_ref.plain.squared_distances", len(cases), worst)


WEIGHT_HINT = (
    "w_k = d_k^-p up to a common factor: log w_k = -(p/2) log d_k^2, less its largest value "
    "(held constant with getval) before exp, so nothing overflows; where some d_k^2 is "
    "exactly 0 the first such anchor takes all the weight (1, the others 0) and the slope is 0"
)


def check_weights(weights: Callable) -> Passed:
    """``weights(d2, power)`` against :func:`uniloss_ref.plain.weights`: the normalised
    weights ``w / sum w`` and the gradient of ``sum w v / sum w`` on every case, and on
    squared distances of ``1e-300`` and exactly 0."""
    name, worst = "weights", 0.0
    inputs = {}
    for case in _cases():
        d2 = plain.squared_distances(case["expected"]["relaxed"], case["anchors"])
        if d2.size:
            inputs[case["name"]] = (d2, case["power"])
    inputs |= {
        "tiny distances": (np.array([1e-300, 4e-300, 2.0]), 1.0),
        "on an anchor": (np.array([3.0, 0.0, 1.0, 0.0]), 1.0),
        "power 4": (np.array([1e-200, 1.0, 7.0]), 4.0),
    }
    for label, (d2, power) in inputs.items():
        got = _call(name, label, WEIGHT_HINT, weights, d2, power)
        reference = plain.weights(d2, power)
        if got is None:
            raise _fail(name, f"on case {label}", NOT_WRITTEN, WEIGHT_HINT)
        shares = np.asarray(got, dtype=float) / np.sum(got)
        expected = reference / reference.sum()
        gap = _compare(f"{name} (w / sum w)", label, shares, expected, WEIGHT_HINT, rtol=1e-12)
        v = np.linspace(0.0, 1.0, d2.size)

        def mean(x, w=weights, p=power, v=v):  # sum w v / sum w
            return anp.sum(w(x, p) * v) / anp.sum(w(x, p))

        theirs = lambda x, p=power, v=v: mean(x, plain.weights, p, v)
        worst = max(worst, gap, _slopes(name, label, WEIGHT_HINT, mean, theirs, d2, rtol=1e-9))
    return _done(name, "uniloss_ref.plain.weights", len(inputs), worst)


INTERPOLATION_HINT = (
    "h~ = sum_k w_k v_k / sum_k w_k with your weights of your squared distances: a weighted "
    "mean, exactly v_k on anchor k"
)


def check_interpolation(interpolate: Callable) -> Passed:
    """``interpolate(b, anchors, values, power)`` against :func:`uniloss_ref.plain.interpolate`
    on every case: ``h~`` and its gradient with respect to ``b~``."""
    name, worst, cases = "interpolate", 0.0, _cases()
    for case in cases:
        label, b, anchors, power = (
            case["name"],
            case["expected"]["relaxed"],
            case["anchors"],
            case["power"],
        )
        values = case["expected"]["anchor_values"]
        got = _call(name, label, INTERPOLATION_HINT, interpolate, b, anchors, values, power)
        worst = max(worst, _compare(name, label, got, plain.interpolate(b, anchors, values, power),
                                    INTERPOLATION_HINT, **_tolerance("surrogate")))  # fmt: skip
        slope = _call(
            name, label, INTERPOLATION_HINT, autograd.grad(interpolate), b, anchors, values, power
        )
        expected = autograd.grad(plain.interpolate)(b, anchors, values, power)
        # Next to an anchor the slope in b~ is ill-conditioned (terms in d_k^(-p-2)): two
        # right summation orders differ there by about 1e-6 relative, plain itself by as
        # much from the exact value, so the slope is held to 1e-5.
        worst = max(worst, _compare(f"{name} (gradient)", label, slope, expected,
                                    INTERPOLATION_HINT, rtol=1e-5, atol=1e-12))  # fmt: skip
    return _done(name, "uniloss_ref.plain.interpolate", len(cases), worst)


LOSS_HINT = (
    "z = standardised(s) if standardise else s; c = z.ravel()[i] - z.ravel()[j]; "
    "b~ = relax(c, tau); v = h(anchors); loss = 1 - interpolate(b~, anchors, v, p)"
)


def check_loss(loss: Callable, metrics: Mapping[str, Callable]) -> Passed:
    """``loss(scores, metric, anchors, temperature, power, standardise)``, ``metric`` being
    the learner's ``(i, j, row_starts, h)``, against the loss and gradient of every case.

    Parameters
    ----------
    loss : callable
    metrics : mapping of str to callable
        The learner's metric function for each metric name; the cases of these metrics are
        checked.
    """
    name, worst, cases = "loss", 0.0, _cases(*metrics)
    for case in cases:
        label = case["name"]
        metric = metrics[case["metric"]](case["scores"].shape, case["targets"], **case["params"])
        settings = (case["anchors"], case["temperature"], case["power"], case["standardise"])
        got = _call(name, label, LOSS_HINT, loss, case["scores"], metric, *settings)
        worst = max(worst, _compare(name, label, got, case["expected"]["loss"], LOSS_HINT,
                                    **_tolerance("loss")))  # fmt: skip
        slope = _call(
            name, label, LOSS_HINT, autograd.grad(loss), case["scores"], metric, *settings
        )
        worst = max(worst, _compare(f"{name} (gradient)", label, slope,
                                    case["expected"]["gradient"], LOSS_HINT,
                                    **_tolerance("gradient")))  # fmt: skip
    return _done(name, "the conformance vectors (uniloss_ref.plain's port)", len(cases), worst)
