"""Metrics as refactorings: ``metric.refactor(shape, targets)`` gives a batch's pairs and
``h`` (a :class:`Refactoring`); ``metric.evaluate(scores, targets)`` the metric directly."""

from .accuracy import Accuracy
from .at_k import PrecisionAtK, RecallAtK
from .average_precision import AveragePrecision
from .pck import PCK, KeypointTargets
from .refactoring import Metric, Refactoring
from .roc_auc import RocAuc
from .threshold import FScore, Precision, Recall

__all__ = [
    "PCK",
    "Accuracy",
    "AveragePrecision",
    "FScore",
    "KeypointTargets",
    "Metric",
    "Precision",
    "PrecisionAtK",
    "Recall",
    "RecallAtK",
    "Refactoring",
    "RocAuc",
]
