"""The conformance-vector file: its format, tolerances, writing, reading and comparing.

The file is JSON, so any language can read it. Floats are written in the shortest form
that reads back to the same double (Python's ``repr``): a correctly rounding JSON parser
recovers every float64 exactly. Anchors and ``hard`` are written as the integers ``+-1``.

Each quantity has a tolerance (:data:`QUANTITIES`); a case may replace some of them with its
own (its ``"tolerances"``): the standardised cases do, for the comparisons and the relaxed
binaries (:mod:`uniloss_ref.conformance.tolerances`). Version 2 of the format made raw
comparisons exact, added the per-case tolerances and writes ``"standardise"`` in every case.
"""

from __future__ import annotations

import errno
import importlib.resources
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..experiments.inputs import read_regular
from ..experiments.outputs import write_text
from ..relaxation import _standardise
from .cases import build_cases
from .reference import METRICS, case_inputs, reference_metric
from .tolerances import MAX_TOLERANCE, QUANTITIES, gradient_scale, tolerance

FORMAT = "uniloss-ref conformance vectors"
FORMAT_VERSION = 2

#: A larger file is refused before it is read (the packaged one is under 1 MiB).
MAX_FILE_BYTES = 64 << 20

DESCRIPTION = (
    "Inputs and expected outputs of the UniLoss surrogate (Liu, Wang, Deng, ECCV 2020) as "
    "computed by the uniloss_ref NumPy reference, for checking ports to other frameworks. "
    "Each case gives a metric (name and parameters), a batch (scores, targets), the anchor "
    "configurations a_k (so no random generator has to match), the temperature tau and the "
    "IDW power p. A port computes c = s[i] - s[j] over the metric's pairs, a pair of a score "
    "and a threshold t giving s[m] - t or t - s[m] (of z = s / sd(s) and t / sd(s), the "
    "population standard deviation over every entry of the batch, where a case has "
    "'standardise': true; a batch whose sd is 0 or below 2.2e-308 stays as it is), "
    "b~ = tanh(c / (2 tau)), "
    "d_k = ||b~ - a_k||, v_k = h(a_k), h~ = sum_k d_k^-p v_k / sum_k d_k^-p (exactly v_k "
    "where d_k = 0) and the gradient of the loss 1 - h~ with respect to the scores. All "
    "values are float64; a port is checked elementwise: |got - expected| <= atol + rtol * "
    "|expected|, with the quantity's tolerance, or the case's where it states one."
)

PORT_SIGNATURE = (
    "port(case: dict) -> dict. The argument holds 'name', 'metric' (str), 'params' (dict), "
    "'scores' (float64 array in the metric's shape), 'targets' (int64 array of shape (n,); "
    "for PCK a dict of 'xy' (n, J, 2), 'visible' bool (n, J), 'scale' (n,), 'heatmap_shape' "
    "(H, W)), 'anchors' (float64 (K, l) of +-1), 'temperature' and 'power' (float), "
    "'standardise' (bool: compare s / sd(s)). The "
    "result maps any of the quantity names to array-likes (NumPy, PyTorch, JAX, lists or "
    "floats); a missing or None entry is skipped. Raising NotImplementedError skips the case."
)

METRIC_LAYOUTS: dict[str, dict[str, str]] = {
    "AveragePrecision": {
        "params": "interpolated (bool): VOC all-point interpolated AP; unrealisable "
        "('zero' or 'counts'): the value of a configuration no ranking produces.",
        "scores": "(n,)",
        "targets": "(n,) of 0/1",
        "pairs": "pos = indices with target 1, neg = with target 0, both increasing; "
        "comparison p * N + q is s[pos[p]] - s[neg[q]] (l = P * N).",
        "h": "n_p = number of -1 in row p; sort n_(1) <= ... <= n_(P); precision_j = "
        "j / (j + n_(j)); interpolated: precision_j = max over j' >= j; AP = mean. "
        "'zero': 0 unless the rows' sets of -1 are nested (rows sorted by n_p, each row's "
        "set contains the previous one). P = 0 or N = 0: 1.",
    },
    "RocAuc": {
        "params": "none",
        "scores": "(n,)",
        "targets": "(n,) of 0/1",
        "pairs": "as AveragePrecision",
        "h": "the fraction of +1 entries; l = 0: 1.",
    },
    "Accuracy": {
        "params": "top_k (int >= 1)",
        "scores": "(n, C)",
        "targets": "(n,) of class indices in [0, C)",
        "pairs": "sample-major: for sample r, s[r, t_r] - s[r, j] for every j != t_r in "
        "increasing j (l = n * (C - 1)).",
        "h": "sample r is correct iff its row has at most top_k - 1 entries -1; h = mean.",
    },
    "PCK": {
        "params": "threshold (float > 0)",
        "scores": "(n, J, H, W) heatmaps; pixel [y, x] has its centre at (x, y)",
        "targets": "{'xy': (n, J, 2) as (x, y), 'visible': (n, J), 'scale': (n,), "
        "'heatmap_shape': [H, W]}",
        "pairs": "a joint is counted iff visible and -0.5 <= x < W - 0.5 and -0.5 <= y < "
        "H - 0.5; pixel k = y * W + x is positive iff (x - x_j)^2 + (y - y_j)^2 <= "
        "(threshold * scale_r)^2. For each counted joint (sample-major, then joint) with "
        "at least one positive and one negative pixel: s[r, j, pos[p]] - s[r, j, neg[q]], "
        "positive-major, pixels in increasing k.",
        "h": "(number of counted joints with no negative pixel + number of joints with "
        "pairs having some row all +1) / number of counted joints; none counted: 1.",
    },
    "FScore": {
        "params": "beta (float > 0), threshold (float t, in the units of the raw scores)",
        "scores": "(n,)",
        "targets": "(n,) of 0/1",
        "pairs": "one comparison per sample, in sample order, with the constant t: s[m] - t "
        "for a positive, t - s[m] for a negative (l = n). Where the case standardises, t is "
        "divided by the same sd(s) as the scores: c = (s[m] - t) / sd(s), keeping its sign.",
        "h": "FN = positives' entries -1, FP = negatives' entries -1, TP = P - FN; "
        "(1 + beta^2) TP / ((1 + beta^2) TP + beta^2 FN + FP), and 1 when TP + FP + FN = 0.",
    },
    "Precision": {
        "params": "threshold (float t)",
        "scores": "(n,)",
        "targets": "(n,) of 0/1",
        "pairs": "as FScore",
        "h": "TP / (TP + FP) with the counts of FScore; 1 when TP + FP = 0.",
    },
    "Recall": {
        "params": "threshold (float t)",
        "scores": "(n,)",
        "targets": "(n,) of 0/1",
        "pairs": "as FScore for the positives only, in sample order: s[m] - t (l = P).",
        "h": "TP / P with TP the +1 entries; 1 when P = 0.",
    },
    "PrecisionAtK": {
        "params": "k (int >= 1)",
        "scores": "(n,)",
        "targets": "(n,) of 0/1",
        "pairs": "as AveragePrecision",
        "h": "n_p = number of -1 in row p; sort n_(1) <= ... <= n_(P); hits = number of j "
        "with j + n_(j) <= k; hits / min(k, n) (so P / n when k >= n; 0 when P = 0).",
    },
    "RecallAtK": {
        "params": "k (int >= 1)",
        "scores": "(n,)",
        "targets": "(n,) of 0/1",
        "pairs": "as AveragePrecision",
        "h": "hits as PrecisionAtK; hits / P, and 1 when P = 0.",
    },
}


def default_path() -> Path:
    """Where the packaged vectors live (in the source tree, or the installed package)."""
    return Path(__file__).with_name("vectors.json")


def generate(fresh: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Build a vectors document from the reference (deterministic).

    By default it holds the packaged, fixed cases; with ``fresh``, that many fresh cases
    drawn from ``seed`` (:func:`uniloss_ref.conformance.fresh.draw_cases`) instead.
    """
    command = "python -m uniloss_ref conformance generate"
    if fresh is None:
        cases = build_cases()
    else:
        from .fresh import draw_cases

        cases, command = draw_cases(fresh, seed), f"{command} --fresh {fresh} --seed {seed}"
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "generated_by": command,
        "description": DESCRIPTION,
        "port_signature": PORT_SIGNATURE,
        "quantities": QUANTITIES,
        "metrics": METRIC_LAYOUTS,
        "cases": cases,
    }


def _dump(value: Any, indent: int) -> str:
    """JSON with one key per line and each innermost list of numbers on one line."""
    pad = "  " * indent
    if isinstance(value, dict) and value:
        items = (f"{pad}  {json.dumps(k)}: {_dump(v, indent + 1)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value and all(isinstance(v, (list, dict)) and v for v in value):
        items = (f"{pad}  {_dump(v, indent + 1)}" for v in value)
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, allow_nan=False)


def dumps(document: Mapping[str, Any]) -> str:
    """The document as the text written to the file (ends with a newline)."""
    return _dump(dict(document), 0) + "\n"


def write(
    path: str | Path | None = None,
    *,
    overwrite: bool = True,
    fresh: int | None = None,
    seed: int = 0,
) -> Path:
    """Regenerate the vectors and write them to ``path`` (default: the packaged file); with
    ``fresh``, that many fresh cases from ``seed`` instead (:func:`generate`).

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    path = default_path() if path is None else Path(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    # Atomically: a reader never sees half a file, and a failure leaves the old one.
    return write_text(path, dumps(generate() if fresh is None else generate(fresh, seed)))


def load(path: str | Path | None = None) -> dict[str, Any]:
    """Read and check a vectors file.

    Parameters
    ----------
    path : str or Path, optional
        A vectors file; by default the one shipped in this package.

    Returns
    -------
    dict
        The parsed document.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a regular file (a FIFO or a device would be read forever), is
        over :data:`MAX_FILE_BYTES`, or is not valid conformance vectors of a version this
        checker reads (:func:`validate`).
    """
    if path is None:
        text = (
            importlib.resources.files("uniloss_ref.conformance")
            .joinpath("vectors.json")
            .read_text(encoding="utf-8")
        )
        source = "the packaged vectors.json"
    else:
        source = f"vectors file {str(path)!r}"
        raw = read_regular(path, "vectors file", MAX_FILE_BYTES)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{source} is not UTF-8 text ({err})") from None
    try:
        document = json.loads(text)
        return validate(document, source)
    except json.JSONDecodeError as err:
        raise ValueError(f"{source} is not valid JSON: {err}") from err
    except RecursionError:
        raise ValueError(f"{source} is nested too deeply to be conformance vectors") from None


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(value: Any, where: str) -> np.ndarray:
    """Nested lists of finite real numbers as an array; ValueError naming ``where``."""
    try:
        array = np.array(value, dtype=object)
        if array.dtype == object and array.size and not all(map(_real, array.ravel())):
            raise ValueError
        numbers = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be nested lists of numbers of one shape") from None
    if not np.isfinite(numbers).all():
        raise ValueError(f"{where} must be finite")
    return numbers


def _check_case(case: Any, index: int, quantities: Mapping[str, Any]) -> str:
    if not isinstance(case, dict):
        raise ValueError(f"case {index} is a {type(case).__name__}, not an object")
    name = case.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"case {index} has no name")
    where = f"case {name!r}"
    missing = {
        "metric",
        "params",
        "temperature",
        "power",
        "standardise",
        "scores",
        "targets",
        "anchors",
        "expected",
    } - set(case)
    if missing:
        raise ValueError(f"{where} lacks {', '.join(sorted(missing))}")
    if case["metric"] not in METRICS:
        raise ValueError(f"{where}: unknown metric {case['metric']!r}; known: {', '.join(METRICS)}")
    if not isinstance(case["params"], dict):
        raise ValueError(f"{where}: params must be an object")
    try:
        METRICS[case["metric"]](**case["params"])
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{where}: params {case['params']!r:.80} do not fit {case['metric']}: {err}"
        ) from None
    for key in ("temperature", "power"):
        value = case[key]
        if not _real(value) or not 0 < value < float("inf"):
            raise ValueError(f"{where}: {key} must be a finite number > 0, got {value!r}")
    if not isinstance(case["standardise"], bool):
        raise ValueError(f"{where}: standardise must be true or false")
    scores = _numbers(case["scores"], f"{where}: scores")
    if "tolerances" in case:
        # A gradient's tolerance scales with 1 / (tau sd), and so does its ceiling.
        sd = _standardise(scores)[2] if case["standardise"] else 1.0
        ceiling = MAX_TOLERANCE * gradient_scale(case["temperature"], sd)
        _check_tolerances(case["tolerances"], f"{where}: tolerances", quantities, ceiling)
    if scores.ndim != METRICS[case["metric"]].score_ndim:
        raise ValueError(
            f"{where}: {case['metric']} scores have {METRICS[case['metric']].score_ndim} "
            f"dimensions, got shape {scores.shape}"
        )
    anchors = case["anchors"]
    if (
        not isinstance(anchors, list)
        or not anchors
        or not all(isinstance(a, list) for a in anchors)
    ):
        raise ValueError(f"{where}: anchors must be a non-empty list of lists")
    length = len(anchors[0])
    flat = [v for a in anchors for v in a]
    if any(len(a) != length for a in anchors) or any(
        not _real(v) or v not in (-1, 1) for v in flat
    ):
        raise ValueError(f"{where}: anchors must be K lists of the same length l of +-1")
    _check_targets(case, where, scores.shape, length)
    expected = case["expected"]
    if not isinstance(expected, dict) or set(expected) != set(quantities):
        raise ValueError(f"{where}: expected must give exactly {', '.join(quantities)}")
    shapes = {
        "comparisons": (length,),
        "hard": (length,),
        "relaxed": (length,),
        "distances": (len(anchors),),
        "anchor_values": (len(anchors),),
        "batch_metric": (),
        "surrogate": (),
        "loss": (),
        "gradient": scores.shape,
    }
    for quantity in quantities:
        got = _numbers(expected[quantity], f"{where}: expected {quantity}").shape
        if got != shapes[quantity]:
            raise ValueError(
                f"{where}: expected {quantity} has shape {got}, the case needs {shapes[quantity]}"
            )
    return name


def _integers(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


def _check_targets(
    case: Mapping[str, Any], where: str, shape: tuple[int, ...], length: int
) -> None:
    """The targets fit the metric and the scores, and give the ``l`` the anchors have."""
    targets = case["targets"]
    if case["metric"] == "PCK":
        keys = {"xy", "visible", "scale", "heatmap_shape"}
        if not isinstance(targets, dict) or set(targets) != keys:
            raise ValueError(
                f"{where}: PCK targets must be an object with {', '.join(sorted(keys))}"
            )
        _numbers(targets["xy"], f"{where}: targets xy")
        _numbers(targets["scale"], f"{where}: targets scale")
        visible = np.array(targets["visible"], dtype=object)
        if not all(isinstance(v, bool) for v in visible.ravel()):
            raise ValueError(f"{where}: targets visible must be nested lists of true/false")
        if not _integers(targets["heatmap_shape"]) or len(targets["heatmap_shape"]) != 2:
            raise ValueError(f"{where}: targets heatmap_shape must be two integers [H, W]")
    elif not _integers(targets):
        raise ValueError(f"{where}: targets must be a list of integers, one per sample")
    try:
        metric, checked = reference_metric(case_inputs(case))
        pairs = metric.refactor(shape, checked).length
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(
            f"{where}: targets do not fit the scores of shape {shape}: {err}"
        ) from None
    if pairs != length:
        raise ValueError(
            f"{where}: the targets give l = {pairs} comparisons, the anchors have {length}"
        )


def _check_tolerances(
    tolerances: Any,
    where: str,
    quantities: Mapping[str, Any],
    gradient_ceiling: float = MAX_TOLERANCE,
) -> None:
    """Each entry names a quantity and gives ``rtol`` and ``atol`` in ``[0, MAX_TOLERANCE]``
    (a gradient's ``atol`` in ``[0, gradient_ceiling]``)."""
    if not isinstance(tolerances, dict):
        raise ValueError(f"{where} must be an object")
    for quantity, bounds in tolerances.items():
        if quantity not in quantities:
            raise ValueError(f"{where}: unknown quantity {quantity!r}")
        for key in ("rtol", "atol"):
            value = bounds.get(key) if isinstance(bounds, dict) else None
            top = gradient_ceiling if (quantity, key) == ("gradient", "atol") else MAX_TOLERANCE
            if not _real(value) or not 0 <= value <= top:
                raise ValueError(
                    f"{where}: quantity {quantity!r} has {key} {value!r}; a tolerance must be "
                    f"a number in [0, {top:g}]"
                )


def validate(document: Any, source: str = "the vectors") -> dict[str, Any]:
    """Check that ``document`` is a vectors file this checker can trust, and return it.

    Checked: the format and version; the quantities are exactly :data:`QUANTITIES`, each
    with ``rtol`` and ``atol`` finite numbers in ``[0, MAX_TOLERANCE]``; every case has a
    unique name, a known metric with parameters it accepts, finite positive temperature and
    power, finite scores of the metric's number of dimensions, anchors ``(K, l)`` of ``+-1``
    with ``K >= 1``, targets of the metric's form that fit the scores and give those ``l``
    comparisons, and
    every expected quantity, finite and of the shape ``l``, ``K`` and the scores imply.
    Whether the expected values are right is ``generate --check``'s business.

    Raises
    ------
    ValueError
        Naming the first problem found.
    """
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        raise ValueError(f"{source} is not a {FORMAT!r} file")
    version = document.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ValueError(
            f"{source} has format version {version!r}; this checker reads version {FORMAT_VERSION}"
        )
    try:
        quantities = document.get("quantities")
        if not isinstance(quantities, dict) or set(quantities) != set(QUANTITIES):
            raise ValueError(f"its quantities must be exactly {', '.join(QUANTITIES)}")
        _check_tolerances(quantities, "its quantities", quantities)
        cases = document.get("cases")
        if not isinstance(cases, list) or not cases:
            raise ValueError("it has no list of cases")
        names = [_check_case(case, index, quantities) for index, case in enumerate(cases)]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"case names must be unique: {', '.join(duplicates)} repeat")
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    return dict(document)


def _close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return x.shape == y.shape and bool(np.all(np.abs(x - y) <= atol + rtol * np.abs(y)))


def compare(committed: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    """Where two vectors documents differ; empty when they agree.

    Everything but the expected outputs must be equal exactly. Expected outputs may differ
    by 1e-10 relative (1e-15 absolute), room for another platform's ``tanh`` or ``log``;
    quantities a case checks with zero tolerance (``hard``, raw ``comparisons``) must be
    equal.

    Returns
    -------
    list of str
        One line per difference.
    """
    differences = [
        f"top-level {key!r} differs"
        for key in sorted(set(committed) | set(fresh))
        if key != "cases" and committed.get(key) != fresh.get(key)
    ]
    old, new = committed.get("cases", []), fresh.get("cases", [])
    if [c["name"] for c in old] != [c["name"] for c in new]:
        return [*differences, "the lists of case names differ"]
    for a, b in zip(old, new, strict=True):
        for key in sorted((set(a) | set(b)) - {"expected"}):
            if a.get(key) != b.get(key):
                differences.append(f"case {a['name']}: input {key!r} differs")
        for quantity in QUANTITIES:
            exact = tolerance(a, quantity) == (0.0, 0.0)
            ea, eb = a["expected"].get(quantity), b["expected"].get(quantity)
            if exact or ea is None or eb is None:
                same = ea == eb
            else:
                same = _close(ea, eb, rtol=1e-10, atol=1e-15)
            if not same:
                differences.append(f"case {a['name']}: expected {quantity!r} differs")
    return differences
