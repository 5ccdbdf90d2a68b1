"""Metrics written as refactorings: scores -> comparisons -> binary variables -> metric.

Each metric offers ``evaluate(scores, targets)`` (the ordinary computation),
``comparisons(scores, targets)`` (``c``, differentiable), ``from_binary(b, targets)``
(``h`` at configurations of shape ``(K, l)``), ``pairs`` and ``rows``.
"""

from .accuracy import Accuracy
from .average_precision import AveragePrecision
from .base import Metric
from .pck import PCK, KeypointTargets
from .roc_auc import RocAuc

__all__ = ["PCK", "Accuracy", "AveragePrecision", "KeypointTargets", "Metric", "RocAuc"]
