"""Metrics written as refactorings: scores -> comparisons -> binary variables -> metric.

``metric.refactor(shape, targets)`` gives a batch's :class:`Refactoring`: the pairs ``(i,
j)`` of its comparisons, their rows, and ``h``. ``metric.evaluate(scores, targets)`` is the
ordinary computation the refactoring reproduces.
"""

from .accuracy import Accuracy
from .average_precision import AveragePrecision
from .pck import PCK, KeypointTargets
from .refactoring import Metric, Refactoring
from .roc_auc import RocAuc

__all__ = [
    "PCK", "Accuracy", "AveragePrecision", "KeypointTargets", "Metric", "Refactoring", "RocAuc"
]
