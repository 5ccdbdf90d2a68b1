"""The reference as a port: a case's inputs decoded, and every quantity computed here.

:func:`case_inputs` turns one case of the vectors file into what a port receives;
:func:`reference_port` is this package answering it, which is how the expected outputs
are made (:mod:`uniloss_ref.conformance.cases`) and what every other port is held to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import autograd
import numpy as np

from ..metrics import (
    PCK,
    Accuracy,
    AveragePrecision,
    FScore,
    KeypointTargets,
    Metric,
    Precision,
    PrecisionAtK,
    Recall,
    RecallAtK,
    RocAuc,
)
from ..surrogate import inspect, surrogate

#: The metric classes a case may name; a case's "params" are their keyword arguments.
METRICS: dict[str, type[Metric]] = {
    "AveragePrecision": AveragePrecision,
    "RocAuc": RocAuc,
    "Accuracy": Accuracy,
    "PCK": PCK,
    "FScore": FScore,
    "Precision": Precision,
    "Recall": Recall,
    "PrecisionAtK": PrecisionAtK,
    "RecallAtK": RecallAtK,
}


def case_inputs(case: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a case a port receives, as fresh NumPy arrays.

    Parameters
    ----------
    case : mapping
        One entry of the vectors' ``"cases"`` list (as parsed from JSON).

    Returns
    -------
    dict
        ``name``, ``metric`` (str), ``params`` (dict), ``scores`` (float64 array in the
        metric's shape), ``targets`` (int64 array of shape ``(n,)``; for PCK a dict of
        ``xy`` float64 ``(n, J, 2)``, ``visible`` bool ``(n, J)``, ``scale`` float64
        ``(n,)``, ``heatmap_shape`` tuple ``(H, W)``), ``anchors`` (float64 ``(K, l)`` of
        ``+-1``), ``temperature`` and ``power`` (float) and ``standardise`` (bool: compare
        ``s / sd(s)``; false where the case does not say). ``expected`` is left out.
    """
    anchors = np.array(case["anchors"], dtype=np.float64)
    # A case with no comparisons (l = 0) still has K anchors, each of length zero.
    anchors = anchors.reshape(len(case["anchors"]), -1) if anchors.size == 0 else anchors
    return {
        "name": case["name"],
        "metric": case["metric"],
        "params": dict(case["params"]),
        "scores": np.array(case["scores"], dtype=np.float64),
        "targets": decode_targets(case["metric"], case["targets"]),
        "anchors": anchors,
        "temperature": float(case["temperature"]),
        "power": float(case["power"]),
        "standardise": bool(case.get("standardise", False)),
    }


def decode_targets(metric: str, targets: Any) -> Any:
    """A case's targets as a port receives them: int64 ``(n,)``, or for PCK a dict of
    ``xy`` float64 ``(n, J, 2)``, ``visible`` bool ``(n, J)``, ``scale`` float64 ``(n,)``
    and ``heatmap_shape`` ``(H, W)``."""
    if metric == "PCK":
        return {
            "xy": np.array(targets["xy"], dtype=np.float64),
            "visible": np.array(targets["visible"], dtype=bool),
            "scale": np.array(targets["scale"], dtype=np.float64),
            "heatmap_shape": tuple(int(v) for v in targets["heatmap_shape"]),
        }
    return np.array(targets, dtype=np.int64)


def reference_metric(inputs: Mapping[str, Any]) -> tuple[Metric, Any]:
    """This package's metric object and targets for a case's inputs."""
    metric = METRICS[inputs["metric"]](**inputs["params"])
    targets = inputs["targets"]
    if isinstance(metric, PCK):
        targets = KeypointTargets(**targets)
    return metric, targets


def reference_port(case: Mapping[str, Any]) -> dict[str, Any]:
    """This package as a port: every quantity of :data:`uniloss_ref.conformance.QUANTITIES`.

    Parameters
    ----------
    case : mapping
        A port's input, as built by :func:`case_inputs`.

    Returns
    -------
    dict
        ``comparisons``, ``hard``, ``relaxed`` (shape ``(l,)``), ``distances`` and
        ``anchor_values`` (``(K,)``), ``batch_metric``, ``surrogate``, ``loss`` (floats) and
        ``gradient`` (the scores' shape), all float64.
    """
    metric, targets = reference_metric(case)
    settings = {
        "temperature": case["temperature"],
        "power": case["power"],
        "standardise": case["standardise"],
    }
    seen = inspect(case["scores"], targets, metric, case["anchors"], **settings)

    def loss(s: Any) -> Any:
        return 1.0 - surrogate(s, targets, metric, case["anchors"], **settings)

    return {
        "comparisons": seen.comparisons,
        "hard": seen.hard,
        "relaxed": seen.relaxed,
        "distances": seen.distances,
        "anchor_values": seen.values,
        "batch_metric": seen.batch_metric,
        "surrogate": seen.surrogate,
        "loss": seen.loss,
        "gradient": autograd.grad(loss)(case["scores"]),
    }
