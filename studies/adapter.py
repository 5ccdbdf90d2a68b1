"""The one place where the studies build a UniLoss or a custom anchor sampler.

Everything else in ``studies/`` calls :func:`make_uniloss` and :func:`inspect`; when the
core API changes (pluggable interpolation instead of ``gradient=``, ``row=`` instead of
``rows=``, samplers that receive the comparisons ``c``), only this file needs porting.

Sampler variants (``nearby=`` of :func:`make_uniloss`):

``"random"``  the package's scheme: the current hard configuration with one uniformly chosen
              wrong bit set right (for AP about half of these are configurations no ranking
              produces).
``"margin"``  pick a row (one positive for AP, one sample for accuracy) that has a wrong
              comparison, uniformly among such rows, and set right its wrong comparison of
              smallest margin ``|c|``. For AP that is the negative ranked just above the
              positive; the result is always a valid ranking (the positive moves up one
              negative). For accuracy it is the class just above the target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from autograd.tracer import getval

from uniloss_ref.anchors import (
    Anchors,
    AnchorSampler,
    bad_anchors,
    current_anchors,
    good_anchors,
    nearby_anchors,
    row_anchors,
    truth_anchors,
)
from uniloss_ref.metrics import Accuracy, AveragePrecision
from uniloss_ref.surrogate import UniLoss

KINDS = ("truth", "good", "nearby", "bad", "current", "row")


def margin_nearby(c: np.ndarray, rows: np.ndarray, number: int, rng: np.random.Generator,
                  out: np.ndarray) -> np.ndarray:
    """Nearby anchors that set right the smallest-margin wrong comparison of a random row."""
    hard = np.where(c > 0, 1.0, -1.0)
    wrong = hard < 0
    if not wrong.any():
        return good_anchors(c.size, number, rng, out=out)
    # For every row with a wrong comparison, the index of its wrong comparison nearest 0.
    idx = np.flatnonzero(wrong)
    r = rows[idx]
    order = np.lexsort((-c[idx], r))  # by row, then by c descending (c<0: nearest 0 first)
    idx, r = idx[order], r[order]
    first = np.r_[True, r[1:] != r[:-1]]
    candidates = idx[first]
    out[...] = hard
    out[np.arange(number), rng.choice(candidates, size=number)] = 1.0
    return out


class _Sampler:
    """The package's anchor kinds, with a choice of nearby scheme; reads ``c`` from a cell."""

    def __init__(self, counts: dict[str, int], nearby: str) -> None:
        self.counts = {k: int(counts.get(k, 0)) for k in KINDS}
        self.nearby = nearby
        self.c: np.ndarray | None = None

    def __call__(self, hard: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> Anchors:
        counts = [self.counts[k] for k in KINDS]
        conf = np.empty((sum(counts), hard.size))
        truth, good, near, bad, cur, row = np.split(conf, np.cumsum(counts)[:-1])
        truth_anchors(hard.size, counts[0], out=truth)
        good_anchors(hard.size, counts[1], rng, out=good)
        if counts[2]:
            if self.nearby == "margin":
                margin_nearby(self.c, rows, counts[2], rng, near)
            else:
                nearby_anchors(hard, counts[2], rng, out=near)
        bad_anchors(hard.size, counts[3], rng, out=bad)
        current_anchors(hard, counts[4], out=cur)
        row_anchors(hard, rows, counts[5], rng, out=row)
        return Anchors(conf, np.repeat(np.array(KINDS), counts))


class StudyLoss:
    """``(scores, targets) -> 1 - h~``; wraps a package UniLoss and feeds ``c`` to the sampler."""

    def __init__(self, inner: UniLoss, sampler: _Sampler) -> None:
        self.inner, self.sampler, self.metric = inner, sampler, inner.metric

    def _set_c(self, scores: Any, targets: Any) -> None:
        self.sampler.c = np.asarray(getval(self.metric.comparisons(getval(scores), targets)))

    def __call__(self, scores: Any, targets: Any) -> Any:
        self._set_c(scores, targets)
        return self.inner(scores, targets)

    def inspect(self, scores: Any, targets: Any):
        self._set_c(scores, targets)
        return self.inner.inspect(getval(scores), targets)


def make_metric(task: str, unrealisable: str = "zero"):
    """AP (scikit-learn's, non-interpolated) or top-1 accuracy."""
    return AveragePrecision(unrealisable=unrealisable) if task == "ap" else Accuracy()


def make_uniloss(
    task: str,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    anchors: dict[str, int] | None = None,
    nearby: str = "random",
    unrealisable: str = "zero",
    gradient: str = "autograd",
    power: float = 1.0,
) -> StudyLoss:
    """A UniLoss for ``task`` ('ap' or 'accuracy').

    ``anchors``: counts per kind (truth, good, nearby, bad, current, row); missing kinds take
    the paper's defaults 1/16/16/16 and 0 for current and row.
    """
    counts = {"truth": 1, "good": 16, "nearby": 16, "bad": 16, "current": 0, "row": 0}
    counts.update(anchors or {})
    sampler = _Sampler(counts, nearby)
    AnchorSampler(**counts)  # validates the counts
    inner = UniLoss(make_metric(task, unrealisable), temperature=temperature, seed=rng,
                    sampler=sampler, gradient=gradient, power=power)
    return StudyLoss(inner, sampler)


def pull_shares(ev, power: float = 1.0) -> dict[str, float]:
    """How much of the ascent direction of ``h~`` in ``b~`` comes from each anchor kind.

    ``dh~/db~ = sum_k g_k`` with ``g_k = -p w_k (v_k - h~) (b~ - a_k) / d_k^2`` (normalised
    weights ``w_k``). The share of kind K is ``<sum_{k in K} g_k, g> / ||g||^2`` (shares sum
    to 1; a negative share opposes the total). Also returned: the cosine of ``g`` with the
    direction to the ground truth, ``1 - b~``, the largest normalised weight and its kind.
    """
    b, a, v, w, d = ev.relaxed, ev.anchors, ev.values, ev.weights, ev.distances
    out: dict[str, float] = {}
    if b.size == 0:
        return out
    k = int(np.argmax(w))
    out["max_weight"] = float(w[k])
    out["max_kind"] = str(ev.kinds[k])
    if np.any(d == 0):  # b~ rounds onto an anchor: h~ = v_k there and its gradient is zero
        out["on_anchor"] = 1.0
        return out
    out["on_anchor"] = 0.0
    g_k = -power * (w * (v - ev.surrogate) / d**2)[:, None] * (b[None] - a)
    g = g_k.sum(axis=0)
    norm2 = float(g @ g)
    for kind in np.unique(ev.kinds):
        pull = g_k[ev.kinds == kind].sum(axis=0)
        out[f"share_{kind}"] = float(pull @ g / norm2) if norm2 else 0.0
    t = 1.0 - b
    out["cos_truth"] = float(g @ t / np.sqrt(norm2 * (t @ t))) if norm2 and t @ t else 0.0
    return out
