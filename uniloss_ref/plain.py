"""UniLoss in one page: the method as the paper states it, dense and direct.

Every anchor is written out as a row of a ``(K, l)`` matrix of ``+-1`` and every step is
computed as its formula reads. The package computes the same numbers faster
(:class:`uniloss_ref.UniLoss`): each step below has a fast version of the same name one level
down, and the tests hold the two equal at the same seed. Read top to bottom:

1. comparisons ``c = z[i] - z[j]`` from the metric's refactoring, ``z`` the scores ``s`` and
   then its constants ``t`` (thresholds), both over ``sd(s)`` if asked (:func:`standardised`;
   fast: :mod:`uniloss_ref.relaxation`);
2. ``b~ = tanh(c / 2 tau)`` (:func:`relaxed_binary`; :mod:`uniloss_ref.relaxation`);
3. ``K`` anchors around the truth and ``sign(c)`` (:func:`draw_anchors`;
   :class:`uniloss_ref.anchors.AnchorSampler`) and their values ``v_k = h(a_k)``
   (:meth:`uniloss_ref.anchor_sets.Anchors.values`);
4. ``d_k^2 = ||b~ - a_k||^2`` (:func:`squared_distances`;
   :meth:`uniloss_ref.anchor_sets.Anchors.squared_distances`), IDW weights ``w_k = d_k^-p``
   in the log domain (:func:`weights`) and ``h~ = sum w v / sum w`` (:func:`interpolate`;
   :mod:`uniloss_ref.interpolation`);
5. the loss ``1 - h~`` (:func:`loss`; :meth:`uniloss_ref.UniLoss.__call__`).

:func:`uniloss` answers a conformance case, so this module is the package's own reference
port: ``python -m uniloss_ref conformance verify uniloss_ref.plain:uniloss``.
"""

from itertools import pairwise

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from . import metrics


def standardised(z, n=None):
    """``z / sd(s)``, ``s = z[:n]`` the scores (all of ``z`` by default) and any constants
    ``t`` after them, so ``(s_i - t) / sd`` keeps its sign: population sd over the batch,
    differentiated through ``sd``. Divided by ``max|s|`` first (a constant that cancels), so
    no square overflows; a batch whose ``sd`` is 0 or subnormal is left unchanged."""
    top = np.max(np.abs(getval(z[:n])))
    if not top > 0:
        return z
    unit = z[:n] / top  # the constants are divided only once the guard passes (no overflow)
    spread = anp.sqrt(anp.mean((unit - anp.mean(unit)) ** 2))
    return z / top / spread if getval(spread) * top >= np.finfo(float).tiny else z


@primitive
def relaxed_binary(c, temperature):
    """``b~ = tanh(c / 2 tau)``; its derivative, ``(1 - b~^2) / 2 tau``, cannot overflow."""
    return np.tanh(c / (2.0 * temperature))


defvjp(relaxed_binary, lambda b, c, t: lambda g: g * (1.0 - b**2) / (2.0 * t))


def draw_anchors(c, row_starts, rng, truth=1, good=16, nearby=16, bad=16, current=0, row=0,
                 nearby_rule="random"):  # fmt: skip
    """``K`` anchors ``(K, l)`` of ``+-1``, kind by kind in the order of the arguments (which
    fixes what a seed draws; :mod:`uniloss_ref.anchors` describes each kind)."""
    length, now = c.size, np.where(c > 0, 1.0, -1.0)
    wrong, everywhere = np.flatnonzero(c <= 0), np.arange(length)

    def flipped(base, n, choices):  # n anchors, each the base with one of `choices` flipped
        a = np.tile(base, (n, 1))
        if choices.size:
            a[np.arange(n), choices[rng.integers(choices.size, size=n)]] *= -1.0
        return a

    anchors = [np.ones((truth, length)), flipped(np.ones(length), good, everywhere)]
    if wrong.size and nearby_rule == "margin":  # in each row, the wrong one closest to right
        in_rows = [wrong[(wrong >= a) & (wrong < b)] for a, b in pairwise(row_starts)]
        wrong = np.array([w[np.argmax(c[w])] for w in in_rows if w.size])
    if wrong.size:
        anchors.append(flipped(now, nearby, wrong))
    else:  # nothing is wrong: nearby anchors are good ones
        anchors.append(flipped(np.ones(length), nearby, everywhere))
    bits = np.unpackbits(np.frombuffer(rng.bytes(-(-bad * length // 8)), np.uint8))  # 8 a byte
    anchors.append(np.where(bits[: bad * length].reshape(bad, length), 1.0, -1.0))
    anchors.append(np.tile(now, (current, 1)))
    rows = np.tile(now, (row, 1))
    picked = rng.integers(len(row_starts) - 1, size=row if length else 0)
    for a, r in zip(rows, picked, strict=False):  # (no comparisons: nothing to pick or set)
        a[row_starts[r] : row_starts[r + 1]] = 1.0  # one whole row set right
    anchors.append(rows)
    return np.concatenate(anchors)


def squared_distances(b, anchors):
    """``d_k^2 = ||b~ - a_k||^2``, summed as non-negative terms: exactly 0 on an anchor."""
    plus = (anchors > 0).astype(float)
    return anp.dot(plus, (1.0 - b) ** 2) + anp.dot(1.0 - plus, (1.0 + b) ** 2)


def weights(d2, power):
    """IDW weights ``w_k = d_k^-p`` up to a common factor, from ``log w_k = -(p/2) log d_k^2``
    less its maximum (a constant that cancels). On an anchor the first one takes it all."""
    hit = np.flatnonzero(getval(d2) == 0)
    if hit.size:
        return 1.0 * (np.arange(len(getval(d2))) == hit[0]) + 0.0 * d2  # zero slope
    log_w = -0.5 * power * anp.log(d2)
    return anp.exp(log_w - np.max(getval(log_w)))


def interpolate(b, anchors, values, power=1.0):
    """``h~(b~) = sum_k w_k v_k / sum_k w_k``: between the smallest and largest ``v_k``, and
    exactly ``v_k`` on anchor ``k``."""
    w = weights(squared_distances(b, anchors), power)
    return anp.sum(w * values) / anp.sum(w)


def comparisons(scores, refactoring, standardise=False):
    """``c = z[i] - z[j]``, ``z`` the flattened scores then the constants, standardised or not."""
    z = anp.concatenate([anp.reshape(scores, -1), refactoring.constants])
    z = standardised(z, np.size(scores)) if standardise else z
    return z[refactoring.i] - z[refactoring.j]


def loss(scores, targets, metric, rng, temperature=1.0, power=1.0, standardise=False,
         sampler=None):  # fmt: skip
    """``1 - h~`` of one batch, anchors drawn from ``rng``: ``UniLoss(metric,
    sampler=AnchorSampler(**sampler), ...)`` (``sampler``: counts and ``nearby_rule``; by
    default the metric's ``default_anchors``)."""
    refactoring = metric.refactor(np.shape(scores), targets)
    c = comparisons(scores, refactoring, standardise)
    sampler = metric.default_anchors if sampler is None else sampler
    anchors = draw_anchors(getval(c), refactoring.row_starts, rng, **sampler)
    values = refactoring.h(anchors > 0)
    return 1.0 - interpolate(relaxed_binary(c, temperature), anchors, values, power)


def uniloss(case):
    """Every quantity of a conformance case (``docs/porting.md``): the reference as a port."""
    metric = getattr(metrics, case["metric"])(**case["params"])
    keypoints = isinstance(metric, metrics.PCK)
    targets = metrics.KeypointTargets(**case["targets"]) if keypoints else case["targets"]
    refactoring = metric.refactor(case["scores"].shape, targets)
    anchors, tau, power = case["anchors"], case["temperature"], case["power"]
    values = refactoring.h(anchors > 0)

    def surrogate(s):
        b = relaxed_binary(comparisons(s, refactoring, case["standardise"]), tau)
        return interpolate(b, anchors, values, power)

    c = comparisons(case["scores"], refactoring, case["standardise"])
    b, hard = relaxed_binary(c, tau), np.where(c > 0, 1.0, -1.0)
    h = surrogate(case["scores"])
    return {
        "comparisons": c,
        "hard": hard,
        "relaxed": b,
        "distances": np.sqrt(squared_distances(b, anchors)),
        "anchor_values": values,
        "batch_metric": refactoring.h(hard[None, :] > 0)[0],
        "surrogate": h,
        "loss": 1.0 - h,
        "gradient": autograd.grad(lambda s: 1.0 - surrogate(s))(case["scores"]),
    }
