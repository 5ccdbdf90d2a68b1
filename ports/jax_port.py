"""UniLoss ported to JAX, verified against the reference's conformance vectors.

A complete port of the surrogate in one module: the pairs of each metric, ``h`` at binary
configurations, the relaxation, the distances, the interpolation and its gradient by
``jax.grad``. It passes every conformance case in float64::

    pip install "uniloss-ref[jax]"
    python -m uniloss_ref conformance verify ports/jax_port.py:uniloss

Three things a JAX port needs that a NumPy or PyTorch port does not (``docs/porting.md``
says more):

1. **float64 must be switched on.** JAX computes in float32 unless ``jax_enable_x64`` is
   set before the first array is made; ``jnp.asarray(x, dtype=jnp.float64)`` silently
   gives float32 otherwise. This module sets it when imported.
2. **Constants are held with** ``jax.lax.stop_gradient``, here the log-domain shift of the
   weights (it cancels in ``w / sum(w)``).
3. **The exact-hit branch cannot be a plain** ``jnp.where``. On an anchor ``d_k = 0``, and
   ``where(hit, v_k, sum(w v) / sum(w))`` evaluates both branches: the weights branch takes
   ``log(0)``, and although ``where`` discards its value, its gradient is
   ``0 * inf = NaN``, which ``where`` does not discard. The weights are therefore formed
   from a safe ``d^2`` (1 where it is 0): the discarded branch is finite and its zero
   cotangent stays zero (the "double where"). This also keeps the function traceable by
   ``jax.jit``, which a Python ``if`` on ``d == 0`` would not be.

The index arrays (which scores each comparison subtracts) depend only on the targets and
are built with NumPy on the host: in JAX they are static, like shapes. The metric ``h`` at
the anchors is discrete and never differentiated, so it runs on the host too, as in the
reference; what JAX computes is the differentiable chain scores -> comparisons -> ``b~``
-> distances -> ``h~`` and its gradient, compiled once per case with ``jax.jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402  (after float64 is on)

H = Callable[[np.ndarray], np.ndarray]
# (i, j, h), and fourth the constants t where a metric compares scores with thresholds: index
# n + k of the pairs is t_k.
Refactored = tuple[np.ndarray, np.ndarray, H] | tuple[np.ndarray, np.ndarray, H, list]


# ---------------------------------------------------------------------------------------
# The metrics: pairs and h at a stack of configurations (K, l), both on the host
# ---------------------------------------------------------------------------------------


def _ranking_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Every (positive, negative) pair, positive-major, indices increasing."""
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    return np.repeat(pos, neg.size), np.tile(neg, pos.size), pos.size, neg.size


def average_precision(
    shape: tuple[int, ...], labels: Any, *, interpolated: bool, unrealisable: str
) -> Refactored:
    """AP: ``n_p`` = negatives above positive p (its row's entries that are not +1)."""
    i, j, positives, negatives = _ranking_pairs(np.asarray(labels))

    def h(b: np.ndarray) -> np.ndarray:
        if positives == 0 or negatives == 0:
            return np.ones(b.shape[0])
        above = (b <= 0).reshape(b.shape[0], positives, negatives)
        counts = above.sum(axis=2)
        rank = np.arange(1, positives + 1)
        precision = rank / (rank + np.sort(counts, axis=1))
        if interpolated:  # VOC: the best precision at this rank or below
            precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        ap = precision.mean(axis=1)
        if unrealisable == "counts":
            return ap
        # Realisable iff the rows' "negatives above" sets are nested once sorted by size.
        order = np.argsort(counts, axis=1, kind="stable")
        chain = np.take_along_axis(above, order[:, :, None], axis=1)
        nested = (chain[:, :-1] <= chain[:, 1:]).all(axis=(1, 2))
        return np.where(nested, ap, 0.0)

    return i, j, h


def roc_auc(shape: tuple[int, ...], labels: Any) -> Refactored:
    """ROC AUC: the fraction of comparisons won."""
    i, j, _, _ = _ranking_pairs(np.asarray(labels))

    def h(b: np.ndarray) -> np.ndarray:
        return (b > 0).mean(axis=1) if b.shape[1] else np.ones(b.shape[0])

    return i, j, h


def accuracy(shape: tuple[int, ...], targets: Any, *, top_k: int) -> Refactored:
    """Top-k accuracy: sample-major, the target against every other class in order."""
    n, classes = shape
    targets = np.asarray(targets)
    flat = np.arange(n * classes).reshape(n, classes)
    others = np.arange(classes)[None, :] != targets[:, None]

    def h(b: np.ndarray) -> np.ndarray:
        lost = (b <= 0).reshape(b.shape[0], n, classes - 1).sum(axis=2)
        return (lost < top_k).mean(axis=1)

    return np.repeat(flat[np.arange(n), targets], classes - 1), flat[others], h


def pck(shape: tuple[int, ...], targets: dict, *, threshold: float) -> Refactored:
    """PCK: per counted joint, every (positive pixel, negative pixel), positive-major."""
    _, joints, height, width = shape
    xy = np.asarray(targets["xy"])
    x, y = xy[..., 0], xy[..., 1]
    inside = (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
    counted = np.asarray(targets["visible"]) & inside
    yy, xx = np.divmod(np.arange(height * width), width)  # pixel k = y * W + x
    d2 = (xx - x[..., None]) ** 2 + (yy - y[..., None]) ** 2
    positive = d2 <= (threshold * np.asarray(targets["scale"])[:, None, None]) ** 2
    i, j, blocks = [], [], []
    for r, joint in np.argwhere(counted):  # sample-major, then joint
        pos, neg = np.flatnonzero(positive[r, joint]), np.flatnonzero(~positive[r, joint])
        if pos.size and neg.size:
            offset = (r * joints + joint) * height * width
            i.append(offset + np.repeat(pos, neg.size))
            j.append(offset + np.tile(neg, pos.size))
            blocks.append((pos.size, neg.size))
    always = int((counted & positive.all(axis=-1)).sum())  # no negative pixel: correct
    total = int(counted.sum())

    def h(b: np.ndarray) -> np.ndarray:
        if total == 0:
            return np.ones(b.shape[0])
        correct = np.full(b.shape[0], float(always))
        start = 0
        for p, q in blocks:
            block = b[:, start : start + p * q].reshape(b.shape[0], p, q)
            correct = correct + (block > 0).all(axis=2).any(axis=1)  # some row all +1
            start += p * q
        return correct / total

    empty = np.zeros(0, dtype=np.int64)
    return (np.concatenate(i) if i else empty), (np.concatenate(j) if j else empty), h


def _threshold_pairs(labels: Any, negatives: bool = True) -> tuple[np.ndarray, ...]:
    """Each sample (positives only without ``negatives``) against t = index n, in order:
    ``s_m - t`` for a positive, ``t - s_m`` for a negative."""
    labels = np.asarray(labels)
    samples = np.flatnonzero((labels == 1) | negatives)
    positive = labels[samples] == 1
    n = labels.size
    return np.where(positive, samples, n), np.where(positive, n, samples), positive


def _counts(b: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(TP, FP, FN)`` of configurations ``(K, l)``: the -1 entries are the errors."""
    lost = b <= 0
    fn, fp = lost[:, positive].sum(axis=1), lost[:, ~positive].sum(axis=1)
    return positive.sum() - fn, fp, fn


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    some = denominator > 0  # 0 / 0 is 1: nothing to find, nothing found wrongly
    return np.where(some, numerator / np.where(some, denominator, 1), 1.0)


def f_score(shape: tuple[int, ...], labels: Any, *, beta: float, threshold: float) -> Refactored:
    i, j, positive = _threshold_pairs(labels)

    def h(b: np.ndarray) -> np.ndarray:
        tp, fp, fn = _counts(b, positive)
        weight = 1.0 + beta**2
        return _ratio(weight * tp, weight * tp + beta**2 * fn + fp)

    return i, j, h, [threshold]


def precision(shape: tuple[int, ...], labels: Any, *, threshold: float) -> Refactored:
    i, j, positive = _threshold_pairs(labels)

    def h(b: np.ndarray) -> np.ndarray:
        tp, fp, _ = _counts(b, positive)
        return _ratio(tp, tp + fp)

    return i, j, h, [threshold]


def recall(shape: tuple[int, ...], labels: Any, *, threshold: float) -> Refactored:
    i, j, positive = _threshold_pairs(labels, negatives=False)

    def h(b: np.ndarray) -> np.ndarray:
        tp, _, fn = _counts(b, positive)
        return _ratio(tp, tp + fn)

    return i, j, h, [threshold]


def _hits(b: np.ndarray, positives: int, negatives: int, k: int) -> np.ndarray:
    """Positives in the top k: the j-th positive down the ranking sits at j + n_(j)."""
    above = (b <= 0).reshape(b.shape[0], positives, negatives).sum(axis=2)
    return (np.arange(1, positives + 1) + np.sort(above, axis=1) <= k).sum(axis=1)


def precision_at_k(shape: tuple[int, ...], labels: Any, *, k: int) -> Refactored:
    i, j, positives, negatives = _ranking_pairs(np.asarray(labels))
    n = positives + negatives
    return i, j, lambda b: _hits(b, positives, negatives, k) / min(k, n)


def recall_at_k(shape: tuple[int, ...], labels: Any, *, k: int) -> Refactored:
    i, j, positives, negatives = _ranking_pairs(np.asarray(labels))

    def h(b: np.ndarray) -> np.ndarray:
        if positives == 0:
            return np.ones(b.shape[0])
        return _hits(b, positives, negatives, k) / positives

    return i, j, h


METRICS: dict[str, Callable[..., Refactored]] = {
    "AveragePrecision": average_precision,
    "RocAuc": roc_auc,
    "Accuracy": accuracy,
    "PCK": pck,
    "FScore": f_score,
    "Precision": precision,
    "Recall": recall,
    "PrecisionAtK": precision_at_k,
    "RecallAtK": recall_at_k,
}


# ---------------------------------------------------------------------------------------
# Relaxation and interpolation
# ---------------------------------------------------------------------------------------


def squared_distances(b: jax.Array, plus: jax.Array) -> jax.Array:
    """``d_k^2`` as a sum of non-negative terms: exact zero on an anchor, no cancellation.

    ``plus`` is the anchors' 0/1 mask of ``+1`` entries, shape ``(K, l)``.
    """
    return plus @ (1.0 - b) ** 2 + (1.0 - plus) @ (1.0 + b) ** 2


def interpolate(b: jax.Array, plus: jax.Array, values: jax.Array, power: float) -> jax.Array:
    """IDW ``h~``: exactly ``v_k`` on anchor k, with a gradient that is never NaN."""
    d2 = squared_distances(b, plus)
    on = d2 == 0
    # The weights branch never sees d^2 = 0 (see the module docstring, point 3).
    safe = jnp.where(on.any(), jnp.ones_like(d2), d2)
    log_w = -0.5 * power * jnp.log(safe)
    w = jnp.exp(log_w - jax.lax.stop_gradient(log_w.max()))  # the shift cancels
    weighted = (w @ values) / w.sum()
    # On an anchor: its value, plus zero times b~ so the gradient is an honest zero.
    on_anchor = values[jnp.argmax(on)] + 0.0 * b.sum()
    return jnp.where(on.any(), on_anchor, weighted)


# ---------------------------------------------------------------------------------------
# The port
# ---------------------------------------------------------------------------------------


def standardised(s: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(s / sd(s), t / sd(s))`` over the whole batch (population sd): the constants ``t``
    (thresholds) are divided by the scores' sd, so ``(s_m - t) / sd`` keeps its sign. A batch
    whose sd is 0 or below the smallest normal float (where ``1 / sd`` overflows) stays as it
    is, and so do the constants.

    Written with ``where`` on both sides of each division, so that neither the value nor
    the gradient of the branch not taken is ever NaN. The scores and the constants are
    divided as one array, by the same operations: XLA may rewrite ``x / top / spread`` as
    ``x / (top spread)``, an ulp apart, and must do it to both or to neither, or a score
    equal to ``t`` is no longer tied with it.
    """
    top = jax.lax.stop_gradient(jnp.max(jnp.abs(s)))  # no square overflows; it cancels
    top = jnp.where(top > 0, top, 1.0)
    unit = s / top
    variance = jnp.mean((unit - jnp.mean(unit)) ** 2)
    spread = jnp.sqrt(jnp.where(variance > 0, variance, 1.0))
    keep = (variance > 0) & (top * spread >= jnp.finfo(jnp.float64).tiny)
    joined = jnp.concatenate([s.reshape(-1), t])
    # Where the batch stays as it is, divide by top alone: top * spread is then subnormal,
    # which XLA flushes to 0, and a rewritten x / (top spread) would make the slope NaN.
    scaled = jnp.where(keep, joined / top / jnp.where(keep, spread, 1.0), joined)
    return scaled[: s.size].reshape(s.shape), scaled[s.size :]


def uniloss(case: dict) -> dict[str, Any]:
    """Every conformance quantity for one case (see ``docs/porting.md``)."""
    anchors = np.asarray(case["anchors"], dtype=np.float64)
    i, j, h, *constants = METRICS[case["metric"]](
        case["scores"].shape, case["targets"], **case["params"]
    )
    t = jnp.asarray(constants[0] if constants else [], dtype=jnp.float64)
    tau, power = case["temperature"], case["power"]
    scale = standardised if case.get("standardise", False) else (lambda s, t: (s, t))

    def joined(s: jax.Array) -> jax.Array:  # z = (s, t), both standardised where asked
        z, u = scale(s, t)
        return jnp.concatenate([z.reshape(-1), u])
    values = h(anchors)  # constants for the gradient, like the anchors

    # The differentiable part as one compiled function: JAX run op by op would compile
    # each operation anew for every new shape, and every case has its own shapes.
    @jax.jit
    def differentiable(s: jax.Array, plus: jax.Array, values: jax.Array) -> dict:
        def surrogate(s: jax.Array) -> jax.Array:
            z = joined(s)
            b = jnp.tanh((z[i] - z[j]) / (2.0 * tau))
            return interpolate(b, plus, values, power)

        z = joined(s)
        c = z[i] - z[j]
        b = jnp.tanh(c / (2.0 * tau))
        h_tilde, gradient = jax.value_and_grad(surrogate)(s)
        return {
            "comparisons": c,
            "relaxed": b,
            "distances": jnp.sqrt(squared_distances(b, plus)),
            "surrogate": h_tilde,
            "loss": 1.0 - h_tilde,
            "gradient": -gradient,  # of the loss 1 - h~
        }

    scores = jnp.asarray(case["scores"], dtype=jnp.float64)
    out = differentiable(scores, jnp.asarray(anchors > 0, dtype=jnp.float64), jnp.asarray(values))
    hard = np.where(np.asarray(out["comparisons"]) > 0, 1.0, -1.0)  # a tie is not a win
    return {**out, "hard": hard, "anchor_values": values, "batch_metric": h(hard[None, :])[0]}


if __name__ == "__main__":
    import sys

    from uniloss_ref.conformance import verify

    report = verify(uniloss)
    print(report)
    sys.exit(0 if report.passed else 1)
