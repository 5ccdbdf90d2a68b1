# %% [markdown]
# # 8. Your own metric
#
# Any metric that can be written as scores -> comparisons -> binaries -> `h` can be
# trained with UniLoss: the relaxation, the anchors and the interpolation never look
# inside `h`. This chapter adds a metric the package does not have, **precision at k**
# (the fraction of positives among the `k` highest-scored samples, as in "how many of
# the top 10 search results are relevant"), in four steps:
#
# 1. write it as a refactoring, a subclass of `uniloss_ref.metrics.Metric`;
# 2. check it with the package's checker, `uniloss_ref.check.check_metric`;
# 3. check it again by brute force over every ranking of a small batch;
# 4. train a linear scorer with `UniLoss` on it and watch precision at k rise.
#
# Run it as `python chapters/08_your_own_metric.py` or open it as a notebook.

# %%
from __future__ import annotations

import itertools
import numbers
from pathlib import Path
from typing import Any

import autograd
import numpy as np
from matplotlib.figure import Figure

from uniloss_ref import UniLoss
from uniloss_ref.check import check_metric, format_table
from uniloss_ref.experiments.nn.losses import bce_with_logits
from uniloss_ref.metrics import Metric
from uniloss_ref.relaxation import hard_binary

# %% [markdown]
# ## 1. The refactoring
#
# Which comparisons decide precision at k? Only the order of positives against
# negatives matters (which positive comes first does not change the count), so the
# pairs are the same as average precision's: every (positive, negative) pair,
# `l = P * N`, oriented so that `c = s[positive] - s[negative] > 0` is desired, and
# laid out as a `P x N` matrix with one row per positive.
#
# `h` follows from chapter 1's counting argument. Let `n_p` be the number of `-1`
# entries in positive `p`'s row (negatives above it) and sort the counts
# `n_(1) <= ... <= n_(P)`. The `j`-th best positive sits at rank `j + n_(j)`, so
#
#     h(b) = (1/k) * #{ j : j + n_(j) <= k }.
#
# For a configuration no ranking produces (chapter 1), the same formula still gives a
# number in `[0, 1]`; we use it there too, so `h` is defined everywhere.
#
# A `Metric` subclass states, for already-validated inputs: the score dimensionality,
# how to validate targets, the pairs, the rows, `h` on a stack of configurations
# `(K, l)`, and the direct computation. The public methods (`comparisons`,
# `from_binary`, `evaluate`, ...) come from the base class. (The package's
# `uniloss_ref.metrics.ranking.BinaryRankingMetric` already has these pairs and rows; we
# write them out to show the whole interface.) The direct computation is written
# independently of `h`: sort, breaking ties pessimistically (a negative tied with a
# positive goes first, as `b = -1` does for a tie), and count positives in the top `k`.


# %%
class PrecisionAtK(Metric):
    """Precision at ``k`` of binary scores, as scores -> comparisons -> binaries -> h.

    Parameters
    ----------
    k : int
        How many of the highest-scored samples count; at most the batch size.

    Notes
    -----
    Scores ``(n,)``, targets 0/1 of shape ``(n,)``; ``l = P * N`` (positive, negative)
    comparisons, positive-major. With ``n_(1) <= ... <= n_(P)`` the sorted counts of
    negatives above each positive,

        h(b) = (1/k) * #{j : j + n_(j) <= k},

    applied to every configuration, realisable or not. Ties count against the positive.
    """

    score_ndim = 1

    def __init__(self, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"k must be a positive integer, got {k!r}")
        if k < 1:
            raise ValueError(f"k must be a positive integer, got {k}")
        self.k = int(k)

    def __repr__(self) -> str:
        return f"PrecisionAtK(k={self.k})"

    def _check_targets(self, shape: tuple[int, ...], targets: Any) -> np.ndarray:
        labels = np.asarray(targets)
        if labels.shape != (shape[0],) or not np.isin(labels, (0, 1)).all():
            raise ValueError(f"targets must be {shape[0]} labels in {{0, 1}}, got {labels!r}")
        if self.k > shape[0]:
            raise ValueError(f"k = {self.k} exceeds the batch size {shape[0]}")
        return labels.astype(bool)

    def _shape(self, targets: Any, length: int) -> tuple[int, ...]:
        return (len(targets),)

    def _pairs(self, shape: tuple[int, ...], targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        positives, negatives = np.flatnonzero(targets), np.flatnonzero(~targets)
        return np.repeat(positives, negatives.size), np.tile(negatives, positives.size)

    def _rows(self, shape: tuple[int, ...], targets: np.ndarray) -> np.ndarray:
        return np.repeat(np.arange(targets.sum()), (~targets).sum())

    def _from_binary(self, b: np.ndarray, shape, targets: np.ndarray) -> np.ndarray:
        positives, negatives = int(targets.sum()), int((~targets).sum())
        above = (b < 0).reshape(b.shape[0], positives, negatives).sum(axis=2)
        rank = np.arange(1, positives + 1) + np.sort(above, axis=1)
        return (rank <= self.k).sum(axis=1) / self.k

    def _evaluate(self, scores: np.ndarray, targets: np.ndarray) -> float:
        # Highest score first; among equal scores negatives first (labels False < True).
        order = np.lexsort((targets, -scores))
        return float(targets[order[: self.k]].sum() / self.k)


# %% [markdown]
# ## 2. The package's checker
#
# `check_metric(metric, cases, rng, extra=draw)` draws `cases` batches with `draw(rng)`
# and checks the laws every refactored metric must satisfy: the refactoring is exact
# (`h(sign(c(s)))` equals `evaluate(s)`), the surrogate `h~` is exact at its anchors and
# bounded by their values, its gradient matches finite differences, adding a constant
# to every score changes nothing, and huge scores give finite values. Each row reports
# the worst error seen against its tolerance.


# %%
def random_batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A batch for :class:`PrecisionAtK(k=3)`: 4 to 16 samples, both classes present.

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    scores : ndarray of shape (n,)
    labels : ndarray of shape (n,)
    """
    n = int(rng.integers(4, 17))
    labels = np.zeros(n, dtype=int)
    labels[rng.choice(n, size=int(rng.integers(1, n)), replace=False)] = 1
    return rng.normal(size=n), labels


# %% [markdown]
# ## 3. Brute force
#
# The checker draws random scores. For a small batch we can do better and try *every*
# ranking: for each of the `7! = 5040` orders of 3 positives and 4 negatives, compute
# precision at 3 straight from the order (the labels of the first three), build the
# configuration `b` that order produces, and compare with `h(b)`. We also feed `h`
# every one of the `2^12` configurations, realisable or not, to see that it always
# stays in `[0, 1]`.


# %%
def brute_force(metric: PrecisionAtK, positives: int = 3, negatives: int = 4) -> dict:
    """Compare ``h`` with precision at k from every order of a small batch.

    Parameters
    ----------
    metric : PrecisionAtK
    positives, negatives : int

    Returns
    -------
    dict
        ``orders`` (how many were tried), ``mismatches`` (orders where ``h`` differs from
        the direct count), ``configurations`` (``2^l``), ``h_min`` and ``h_max`` over
        all configurations.
    """
    labels = np.array([1] * positives + [0] * negatives)
    mismatches, orders = 0, 0
    for order in itertools.permutations(range(labels.size)):
        direct = labels[list(order[: metric.k])].sum() / metric.k
        # Scores that produce this order: the first sample gets the highest score.
        scores = np.empty(labels.size)
        scores[list(order)] = np.arange(labels.size, 0, -1)
        b = hard_binary(metric.comparisons(scores, labels))
        mismatches += metric.from_binary(b, labels) != direct
        orders += 1
    every = np.array(list(itertools.product([-1.0, 1.0], repeat=positives * negatives)))
    values = metric.from_binary(every, labels)
    return {
        "orders": orders,
        "mismatches": int(mismatches),
        "configurations": len(every),
        "h_min": float(values.min()),
        "h_max": float(values.max()),
    }


# %% [markdown]
# ## 4. Training with it
#
# Generated data: 10 features, 20% positives, positives shifted by 1 in the first three
# features, so a linear scorer `s = X w + w0` can rank them well but not perfectly. We
# train `(w, w0)` with `UniLoss(PrecisionAtK(k=5))` on mini-batches of 32 (top 5 of 32,
# somewhat below the share of positives), plain gradient descent, and measure precision
# at 100 on 1000 held-out samples (about 200 of them positive, so 1 is reachable in
# principle). As a yardstick the same model is trained with binary cross-entropy, the
# usual loss for this task. (The offset `w0` changes no ranking, so UniLoss ignores it;
# cross-entropy needs it to fit a 20% base rate.)


# %%
def make_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of 10 features; positives (20%) shifted by 1 in the first three.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int

    Returns
    -------
    X : ndarray of shape (n, 10)
    y : ndarray of shape (n,)
    """
    y = (rng.random(n) < 0.2).astype(int)
    shift = np.zeros(10)
    shift[:3] = 1.0
    return rng.normal(size=(n, 10)) + np.outer(y, shift), y


def train(loss_name: str, steps: int, seed: int = 0) -> dict:
    """Train a linear scorer and track held-out precision at 100.

    Parameters
    ----------
    loss_name : {"uniloss", "bce"}
    steps : int
    seed : int, default 0
        The same seed gives both losses the same data, start and batches.

    Returns
    -------
    dict
        ``steps`` and ``precision`` (held-out precision at 100 every 10 steps, from 0).
    """
    rng = np.random.default_rng(seed)
    X, y = make_data(rng, 2000)
    X_test, y_test = make_data(rng, 1000)
    at_100 = PrecisionAtK(k=100)
    anchor_seed = int(rng.integers(2**32))  # drawn for both losses, to keep their streams equal
    # A bias w[10] changes no ranking, but cross-entropy needs it to fit 20% positives.
    scores = lambda w, Xb: Xb @ w[:10] + w[10]
    if loss_name == "uniloss":
        uniloss = UniLoss(PrecisionAtK(k=5), seed=anchor_seed)
        loss = lambda w, Xb, yb: uniloss(scores(w, Xb), yb)
    else:
        loss = lambda w, Xb, yb: bce_with_logits(scores(w, Xb), yb)
    step_gradient = autograd.grad(loss)
    w = 0.1 * rng.normal(size=11)
    history = [(0, at_100.evaluate(scores(w, X_test), y_test))]
    for step in range(1, steps + 1):
        batch = rng.choice(len(y), size=32, replace=False)
        w = w - 0.5 * step_gradient(w, X[batch], y[batch])
        if step % 10 == 0:
            history.append((step, at_100.evaluate(scores(w, X_test), y_test)))
    steps_done, precision = map(np.array, zip(*history, strict=True))
    return {"steps": steps_done, "precision": precision}


def ideal_precision(seed: int = 0) -> float:
    """Held-out precision at 100 of the best direction, ``w = (1, 1, 1, 0, ..., 0)``.

    Parameters
    ----------
    seed : int, default 0
        As given to :func:`train`: the same held-out data.

    Returns
    -------
    float
    """
    rng = np.random.default_rng(seed)
    make_data(rng, 2000)  # the training set, drawn only to reach the same held-out set
    X_test, y_test = make_data(rng, 1000)
    w = np.zeros(10)
    w[:3] = 1.0  # the direction of the shift: no linear scorer ranks better on average
    return PrecisionAtK(k=100).evaluate(X_test @ w, y_test)


# %% [markdown]
# ## Running the chapter
#
# What you should see:
#
# * The checker passes every law on every batch (`refactoring exact` with error 0).
# * Brute force: `h` equals precision at 3 for all **5040** orders (0 mismatches), and
#   over all **4096** configurations it stays within `[0, 1]`.
# * Training: held-out precision at 100 rises from **0.29** (the random starting
#   weights) to about **0.8** with UniLoss, within 0.1 of the **0.84** that the ideal
#   direction `w = (1, 1, 1, 0, ..., 0)` reaches on the same data, and within 0.1 of
#   cross-entropy.
#
# `08_precision_at_k.png` shows both training curves.


# %%
def main(quick: bool = False, out_dir: str | Path = "out/chapters/08") -> dict[str, Any]:
    """Run chapter 8: a new metric, checked, then trained on.

    Parameters
    ----------
    quick : bool, default False
        Fewer checker batches (10 instead of 50) and training steps (100 instead of 300).
    out_dir : str or Path, default "out/chapters/08"
        Folder for the figure (created if missing).

    Returns
    -------
    dict
        Every number the chapter's text states.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metric = PrecisionAtK(k=3)

    scores, labels = np.array([0.9, 0.8, 0.4, 0.3, -0.2]), np.array([1, 0, 1, 1, 0])
    c = metric.comparisons(scores, labels)
    print(f"{metric}: scores {scores}, labels {labels}")
    print(f"  c = {c}, b = {hard_binary(c)}")
    print(f"  h(b) = {metric.from_binary(hard_binary(c), labels):.4f}, "
          f"evaluate = {metric.evaluate(scores, labels):.4f}")  # fmt: skip

    rows = check_metric(metric, 10 if quick else 50, np.random.default_rng(0), extra=random_batch)
    print("\nThe package's checker:")
    print(format_table(rows))

    brute = brute_force(metric)
    print(
        f"\nBrute force: {brute['mismatches']} mismatches in {brute['orders']} orders; "
        f"h over all {brute['configurations']} configurations in "
        f"[{brute['h_min']:.3f}, {brute['h_max']:.3f}]"
    )

    steps = 100 if quick else 300
    runs = {name: train(name, steps) for name in ("uniloss", "bce")}
    ideal = ideal_precision()
    print(f"\nHeld-out precision at 100, training for {steps} steps:")
    for name, run in runs.items():
        print(f"  {name:<8} {run['precision'][0]:.2f} -> {run['precision'][-1]:.2f}")
    print(f"  the ideal direction: {ideal:.2f}")

    fig = Figure(figsize=(6, 3.8), layout="constrained")
    axes = fig.subplots()
    for name, run in runs.items():
        label = "UniLoss(PrecisionAtK(5))" if name == "uniloss" else "binary cross-entropy"
        axes.plot(run["steps"], run["precision"], label=label)
    axes.axhline(ideal, color="black", ls="--", lw=1, label="ideal direction")
    axes.set(xlabel="training step", ylabel="held-out precision at 100", ylim=(0, 1))
    axes.set_title("a linear scorer trained on a new metric")
    axes.legend()
    figure = out / "08_precision_at_k.png"
    fig.savefig(figure, dpi=100)
    print(f"\nfigure: {figure}")
    return {
        "example_h": float(metric.from_binary(hard_binary(c), labels)),
        "example_evaluate": metric.evaluate(scores, labels),
        "check_passed": all(row.passed for row in rows),
        "check_refactoring_error": next(r.worst for r in rows if r.law.startswith("refactoring")),
        "brute_orders": brute["orders"],
        "brute_mismatches": brute["mismatches"],
        "brute_configurations": brute["configurations"],
        "brute_h_range": (brute["h_min"], brute["h_max"]),
        "start_precision": float(runs["uniloss"]["precision"][0]),
        "final_precision": {name: float(run["precision"][-1]) for name, run in runs.items()},
        "ideal_precision": ideal,
    }


# %%
if __name__ == "__main__":
    main()
