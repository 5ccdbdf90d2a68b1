"""Slow, obviously correct implementations, independent of the library's code.

Each follows the textbook definition with explicit loops over the ranked list, samples,
joints or anchors. Where scikit-learn has the metric, the tests use scikit-learn instead.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def voc_average_precision(scores, labels) -> float:
    """PASCAL VOC (2010+) all-point interpolated AP from an explicit precision-recall walk."""
    order = sorted(range(len(scores)), key=lambda k: -scores[k])
    positives = sum(labels)
    if positives == 0:
        return 1.0
    hits, precisions, recalls = 0, [], []
    for rank, k in enumerate(order, start=1):
        hits += labels[k]
        precisions.append(hits / rank)
        recalls.append(hits / positives)
    ap, previous_recall = 0.0, 0.0
    for rank in range(len(order)):
        if recalls[rank] > previous_recall:
            interpolated = max(precisions[rank:])
            ap += (recalls[rank] - previous_recall) * interpolated
            previous_recall = recalls[rank]
    return ap


def pck(heatmaps, xy, visible, scale, threshold) -> float:
    """PCK: argmax of each visible, in-frame heatmap within ``threshold * scale`` of the truth."""
    n, joints, height, width = heatmaps.shape
    correct, counted = 0, 0
    for i in range(n):
        for j in range(joints):
            x, y = xy[i, j]
            inside = -0.5 <= x < width - 0.5 and -0.5 <= y < height - 0.5
            if not (visible[i, j] and inside):
                continue
            counted += 1
            row, col = divmod(int(np.argmax(heatmaps[i, j])), width)
            if math.hypot(col - x, row - y) <= threshold * scale[i]:
                correct += 1
    return correct / counted if counted else 1.0


def realisable_by_some_ranking(config, positives, negatives) -> bool:
    """Whether a (P, N) configuration of +-1 is produced by some ordering (brute force)."""
    items = [("p", p) for p in range(positives)] + [("n", q) for q in range(negatives)]
    for order in itertools.permutations(items):
        place = {item: rank for rank, item in enumerate(order)}
        if all(
            (place[("p", p)] < place[("n", q)]) == (config[p][q] > 0)
            for p in range(positives)
            for q in range(negatives)
        ):
            return True
    return False


def inverse_distance_weighting(b, anchors, values, power) -> float:
    """IDW straight from the definition, one anchor at a time."""
    weights = []
    for anchor, value in zip(anchors, values, strict=True):
        distance = math.sqrt(sum((bi - ai) ** 2 for bi, ai in zip(b, anchor, strict=True)))
        if distance == 0:
            return float(value)
        weights.append(distance**-power)
    return sum(w * v for w, v in zip(weights, values, strict=True)) / sum(weights)
