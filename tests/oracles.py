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
    return ranking_producing(config, positives, negatives) is not None


def ranking_producing(config, positives, negatives):
    """Scores ``(P + N,)`` (positives first, then negatives) of an ordering that produces a
    (P, N) configuration of +-1, found by trying every ordering; None if there is none."""
    items = [("p", p) for p in range(positives)] + [("n", q) for q in range(negatives)]
    for order in itertools.permutations(items):
        place = {item: rank for rank, item in enumerate(order)}
        if all(
            (place[("p", p)] < place[("n", q)]) == (config[p][q] > 0)
            for p in range(positives)
            for q in range(negatives)
        ):
            scores = [0.0] * (positives + negatives)
            for item, rank in place.items():
                scores[item[1] + (positives if item[0] == "n" else 0)] = float(-rank)
            return scores
    return None


def ranking_with_counts(counts, negatives):
    """Scores (positives first, then negatives) of a ranking in which positive ``p`` has
    exactly ``counts[p]`` negatives above it: negative ``q`` at ``N - q``, positive ``p`` at
    ``N - counts[p] + 0.5``."""
    return [negatives - c + 0.5 for c in counts] + [float(negatives - q) for q in range(negatives)]


def top_k_hits(scores, labels, k) -> int:
    """How many positives the ``k`` highest scores hold, by sorting; among equal scores a
    negative comes first (a tie is not achieved)."""
    ranked = sorted(range(len(scores)), key=lambda m: (-scores[m], labels[m]))
    return sum(labels[m] for m in ranked[:k])


def precision_at_k(scores, labels, k) -> float:
    """Positives among the top ``min(k, n)``, over ``min(k, n)``."""
    return top_k_hits(scores, labels, k) / min(k, len(scores))


def recall_at_k(scores, labels, k) -> float:
    """Positives among the top ``k``, over all positives; 1 with none."""
    positives = sum(labels)
    return top_k_hits(scores, labels, k) / positives if positives else 1.0


def confusion_counts(scores, labels, threshold) -> tuple[int, int, int]:
    """``(TP, FP, FN)`` of the predictions ``s > t``, a score equal to ``t`` counting against
    its sample: a positive at ``t`` is missed, a negative at ``t`` predicted positive."""
    tp = fp = fn = 0
    for s, y in zip(scores, labels, strict=True):
        if y == 1 and s > threshold:
            tp += 1
        elif y == 1:
            fn += 1
        elif s >= threshold:
            fp += 1
    return tp, fp, fn


def f_score(tp, fp, fn, beta=1.0) -> float:
    """F_beta from the counts, as its textbook harmonic mean of precision and recall; 1 when
    there is nothing to find and nothing was found, 0 when no true positive."""
    if tp + fp + fn == 0:
        return 1.0
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


def scores_with_predictions(configuration, labels, threshold):
    """Scores whose comparisons with ``t`` are ``configuration`` (one +-1 per sample): one
    above ``t`` for a positive with +1 or a negative with -1, one below it otherwise."""
    return [
        threshold + (1.0 if (b > 0) == (y == 1) else -1.0)
        for b, y in zip(configuration, labels, strict=True)
    ]


def inverse_distance_weighting(b, anchors, values, power) -> float:
    """IDW straight from the definition, one anchor at a time."""
    weights = []
    for anchor, value in zip(anchors, values, strict=True):
        distance = math.sqrt(sum((bi - ai) ** 2 for bi, ai in zip(b, anchor, strict=True)))
        if distance == 0:
            return float(value)
        weights.append(distance**-power)
    return sum(w * v for w, v in zip(weights, values, strict=True)) / sum(weights)
