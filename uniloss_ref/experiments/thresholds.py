"""Operating thresholds chosen on validation, for metrics of the predictions ``s > t``.

A loss such as binary cross-entropy ranks the samples but has no threshold of its own (its
natural one, a logit of 0, is arbitrary for F1). Comparing it fairly with UniLoss trained on
F1 at ``t = 0`` means choosing its ``t`` where it does best on the validation split, and
reading the test split at that ``t``. :func:`tuned_threshold` does that choice exactly: it
tries every cut of the sorted validation scores.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..metrics.threshold import ThresholdMetric


def tuned_threshold(metric: ThresholdMetric, scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold at which ``metric`` is highest on ``scores`` (n,) with 0/1 ``labels``.

    Every cut of the sorted scores is tried: the top ``m`` predicted positive, for ``m = 0 ..
    n`` between distinct scores. The threshold returned is the midpoint between the two
    scores a cut separates (one above the highest score for ``m = 0``, one below the lowest
    for ``m = n``), so no validation score ties with it unless the two are adjacent doubles;
    among equally good cuts, the one predicting the fewest positives.
    """
    s, y = np.asarray(scores, dtype=float).reshape(-1), np.asarray(labels).astype(bool)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    distinct = np.flatnonzero(s[1:] < s[:-1]) + 1  # cuts between a score and a lower one
    cuts = np.concatenate([[0], distinct, [s.size]])
    tp = np.concatenate([[0], np.cumsum(y)])[cuts]
    fp = cuts - tp
    best = int(np.argmax(metric.value(tp, fp, int(y.sum()) - tp)))
    above = s[cuts[best] - 1] if cuts[best] > 0 else s[0] + 1.0
    below = s[cuts[best]] if cuts[best] < s.size else s[-1] - 1.0
    return float(0.5 * (above + below))


def at_threshold(metric: ThresholdMetric, threshold: float) -> ThresholdMetric:
    """The same metric at another threshold."""
    moved = copy.copy(metric)
    moved.threshold = float(threshold)
    return moved


def operating_point(
    metric: ThresholdMetric,
    validation: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    tune: bool,
) -> dict[str, Any]:
    """The results of a run at its operating threshold, JSON-ready.

    Parameters
    ----------
    metric : ThresholdMetric
        At the threshold the run was trained for (UniLoss's ``t``).
    validation, test : tuple of ndarray
        ``(scores, labels)`` of the final network on each split.
    tune : bool
        Whether the run is read at the threshold chosen on validation (a loss without a
        threshold of its own) instead of the metric's.

    Returns
    -------
    dict
        ``threshold`` (the one ``val_metric`` and ``test_metric`` are read at),
        ``val_metric``, ``test_metric``, and ``tuned_threshold``, ``val_metric_tuned``,
        ``test_metric_tuned`` (at the validation-best threshold, for every run).
    """
    t = tuned_threshold(metric, *validation)
    tuned = at_threshold(metric, t)
    point = {
        "tuned_threshold": t,
        "val_metric_tuned": tuned.evaluate(*validation),
        "test_metric_tuned": tuned.evaluate(*test),
    }
    read = tuned if tune else metric
    return {
        "threshold": read.threshold,
        "val_metric": point["val_metric_tuned"] if tune else metric.evaluate(*validation),
        "test_metric": point["test_metric_tuned"] if tune else metric.evaluate(*test),
        **point,
    }
