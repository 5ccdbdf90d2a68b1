# %% [markdown]
# # 1. A metric is a function of comparisons
#
# Average precision (AP) and accuracy are what we want a classifier to be good at, but
# neither can be trained on directly: change a model's outputs a little and the metric
# either stays the same or jumps, so its gradient is zero almost everywhere. UniLoss, the
# method this package implements, gets around that in two moves. This chapter is the
# first move, and it involves no approximation at all: **write the metric of a batch as a
# function of pairwise comparisons between the model's scores.** Chapter 2 then makes
# that function smooth.
#
# We compute AP and accuracy of a tiny batch twice: by hand, the way a textbook does, and
# through the four steps the rest of the package is built on,
#
#     scores s  ->  comparisons c  ->  binary variables b  ->  metric h(b),
#
# and check that the two agree. Then we look at the two places where the four-step view
# needs a decision: ties, and configurations of `b` that no scores can produce.
#
# Run it as `python chapters/01_metric_as_comparisons.py` or open it as a notebook.

# %%
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from uniloss_ref.metrics import Accuracy, AveragePrecision
from uniloss_ref.relaxation import hard_binary

# %% [markdown]
# ## The batch
#
# A binary classifier gives every sample a real **score** `s`: higher means "more likely
# positive". Here are seven samples, three of them positive (label 1). The scores are
# deliberately not sorted: sorting is the first thing AP does.

# %%
SCORES = np.array([0.4, -1.1, 0.9, 0.8, -0.2, -0.5, 0.3])
LABELS = np.array([1, 0, 1, 0, 0, 1, 0])


# %% [markdown]
# ## AP by hand
#
# Rank the samples by score, highest first. Walk down the list; each time a positive
# appears, note the **precision** so far (positives seen / samples seen). AP is the mean
# of those precisions. A perfect ranking puts every positive first and scores 1.


# %%
def average_precision_by_hand(scores: np.ndarray, labels: np.ndarray) -> tuple[float, list]:
    """AP the textbook way: sort, then average the precision at each positive.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Tie-free scores.
    labels : ndarray of shape (n,)
        0/1 labels with at least one positive.

    Returns
    -------
    ap : float
    table : list of (rank, sample, score, label, precision or None)
        The ranked list; ``sample`` is the index in the batch, and the precision is given
        at positives only.
    """
    order = np.argsort(-scores)
    table, hits, precisions = [], 0, []
    for rank, k in enumerate(order, start=1):
        if labels[k]:
            hits += 1
            precisions.append(hits / rank)
        precision = precisions[-1] if labels[k] else None
        table.append((rank, int(k), float(scores[k]), int(labels[k]), precision))
    return float(np.mean(precisions)), table


# %% [markdown]
# ## AP as comparisons
#
# AP only depends on the *order* of positives and negatives, and the order is decided by
# comparisons of one positive's score with one negative's. `AveragePrecision().pairs`
# lists every (positive, negative) pair as two index arrays `i` and `j`; with `P`
# positives and `N` negatives there are `l = P * N` pairs.
#
# * **Comparisons** `c = s[i] - s[j]`, one number per pair. Each pair is oriented so that
#   `c > 0` is what we *want* (the positive above the negative).
# * **Binary variables** `b = sign(c)`, one `+1` or `-1` per pair: did this pair come out
#   right? A vector of `l` such signs is called a **configuration**. The ideal one, every
#   pair right, is `b = (+1, ..., +1)`; we call it the *ground truth*. In code,
#   `hard_binary(c)` is this sign, with the package's rule for ties (see below).
# * **The metric from binaries** `h(b)`. Lay `b` out as a `P x N` matrix: row `p` holds
#   positive `p`'s comparisons, and its number of `-1` entries, `n_p`, is how many
#   negatives are ranked above that positive. The positive with the fewest negatives
#   above it is the highest-ranked positive, and so on: sort the counts,
#   `n_(1) <= n_(2) <= ... <= n_(P)`, and the `j`-th best positive sits at rank
#   `j + n_(j)` with `j` positives at or above it. Its precision is `j / (j + n_(j))`,
#   and
#
#       h(b) = (1/P) * sum_j  j / (j + n_(j)).
#
# The package's `AveragePrecision.from_binary` is this `h`. The claim of this chapter:
# `h(sign(c(s)))` equals AP computed by hand, for any scores.
#
# Notice what the rewriting achieves: the scores enter only through the differences `c`,
# which are smooth (linear) in `s`, and everything that makes AP a staircase sits in two
# places, `sign` and `h`. Chapter 2 replaces exactly those two by smooth stand-ins.


# %%
def average_precision_as_comparisons(scores: np.ndarray, labels: np.ndarray) -> dict:
    """AP through scores -> comparisons -> binaries -> h, with every intermediate.

    Parameters
    ----------
    scores : ndarray of shape (n,)
    labels : ndarray of shape (n,)

    Returns
    -------
    dict
        ``i``, ``j`` (pairs), ``c``, ``b`` (shape ``(l,)``), ``matrix`` (``b`` as ``(P, N)``),
        ``counts`` (``n_p``), ``from_counts`` (the formula above) and ``h`` (the package's).
    """
    metric = AveragePrecision()
    i, j = metric.pairs(scores, labels)
    c = metric.comparisons(scores, labels)
    b = hard_binary(c)
    positives, negatives = int(labels.sum()), int((labels == 0).sum())
    matrix = b.reshape(positives, negatives)
    counts = (matrix < 0).sum(axis=1)
    rank = np.arange(1, positives + 1)
    from_counts = float(np.mean(rank / (rank + np.sort(counts))))
    h = float(metric.from_binary(b, labels))
    return {"i": i, "j": j, "c": c, "b": b, "matrix": matrix, "counts": counts,
            "from_counts": from_counts, "h": h}  # fmt: skip


# %% [markdown]
# ## Accuracy as comparisons
#
# Accuracy of a multi-class classifier fits the same mould. Now each sample has one score
# per class, `s` of shape `(n, C)`, and the prediction is the class with the highest
# score. A sample is classified correctly iff its target class `t` beats every other
# class, so its comparisons are `c = s[r, t] - s[r, k]` for each other class `k`: `C - 1`
# per sample, `l = n * (C - 1)` in all. Laid out as an `n x (C - 1)` matrix, row `r` is
# sample `r`'s comparisons, and
#
#     h(b) = (fraction of rows that are all +1).
#
# (Top-k accuracy would instead allow up to `k - 1` entries of `-1` per row.)

# %%
CLASS_SCORES = np.array(
    [
        [2.0, 0.5, -1.0],  # target 0, top score: correct
        [0.2, 1.1, 0.9],  # target 2, but class 1 scores higher: wrong
        [-0.3, 0.4, 1.7],  # target 2: correct
        [1.2, 1.0, -0.4],  # target 1, class 0 is higher: wrong
    ]
)
CLASS_TARGETS = np.array([0, 2, 2, 1])


def accuracy_two_ways(scores: np.ndarray, targets: np.ndarray) -> dict:
    """Accuracy by argmax, and through comparisons -> binaries -> h.

    Parameters
    ----------
    scores : ndarray of shape (n, C)
    targets : ndarray of shape (n,)
        Integer classes in ``[0, C)``.

    Returns
    -------
    dict
        ``by_hand``, ``matrix`` (``b`` as ``(n, C - 1)``), ``h``.
    """
    by_hand = float(np.mean(np.argmax(scores, axis=1) == targets))
    metric = Accuracy()
    b = hard_binary(metric.comparisons(scores, targets))
    matrix = b.reshape(scores.shape[0], scores.shape[1] - 1)
    return {"by_hand": by_hand, "matrix": matrix, "h": float(metric.from_binary(b, targets))}


# %% [markdown]
# ## Ties: a comparison that is exactly zero
#
# `sign(0)` has to be something. This package counts a tie as **not achieved** (`b = -1`),
# in `h` and in every metric's direct `evaluate` alike, so the two always agree. The
# pessimistic choice is the safe one: under the optimistic rule (a tie counts as `+1`) a
# model that gives *every* sample the same score would have all its comparisons tied,
# hence all "right", and a perfect AP and accuracy. Below, one negative is moved onto a
# positive's score, and then every score is made equal.


# %%
def tie_rules(scores: np.ndarray, labels: np.ndarray) -> dict:
    """AP under the pessimistic (package) and optimistic tie rules.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Scores that may contain ties.
    labels : ndarray of shape (n,)

    Returns
    -------
    dict
        ``ties`` (number of zero comparisons), ``pessimistic`` (``h`` with ties as -1, the
        package's rule), ``optimistic`` (``h`` with ties as +1) and ``evaluate`` (the
        package's direct computation, which uses the pessimistic rule too).
    """
    metric = AveragePrecision()
    c = metric.comparisons(scores, labels)
    optimistic_b = np.where(c >= 0, 1.0, -1.0)
    return {
        "ties": int((c == 0).sum()),
        "pessimistic": float(metric.from_binary(hard_binary(c), labels)),
        "optimistic": float(metric.from_binary(optimistic_b, labels)),
        "evaluate": metric.evaluate(scores, labels),
    }


# %% [markdown]
# ## A configuration that no ranking can produce
#
# `h` takes any vector of `+-1`, not just the ones that come from scores. Chapter 2 will
# evaluate `h` at made-up configurations (the "anchors"), so `h` must have a value at
# every one of the `2^l` points, including impossible ones. Take two positives `p1, p2`
# and two negatives `q1, q2`, and the configuration
#
#     p1 beats q1,  q2 beats p1,  q1 beats p2,  p2 beats q2,
#
# i.e. `q2 > p1 > q1 > p2 > q2`: a cycle, which no list of four numbers can produce. We
# check that by trying all `4! = 24` orders. AP's formula above still gives a number
# (each positive has one negative above it), but no ranking has that AP. The package
# scores such configurations 0 by default, as the paper's authors did
# (`AveragePrecision(unrealisable="counts")` uses the formula instead). Such
# configurations are common: for the 3-positive, 4-negative batch above, we count by
# brute force how many of the `2^12` configurations some ranking produces.
#
# The package tells them apart without trying orders: a configuration comes from a
# ranking iff the sets "negatives above positive `p`" are nested, each inside the next
# when the positives are sorted by `n_p`. Two positives each beating a negative that the
# other loses to, as in the cycle, is exactly what breaks the nesting. We check that
# this test (`AveragePrecision.realisable`) counts the same configurations.


# %%
def configurations_from_rankings(positives: int, negatives: int) -> set[tuple[float, ...]]:
    """Every configuration ``b`` that some order of the batch produces (brute force).

    Parameters
    ----------
    positives, negatives : int
        ``P`` and ``N``; samples ``0..P-1`` are the positives.

    Returns
    -------
    set of tuple
        Each configuration as a tuple of ``P * N`` entries ``+-1.0``, positive-major (the
        package's pair order).
    """
    found = set()
    for order in itertools.permutations(range(positives + negatives)):
        place = {item: rank for rank, item in enumerate(order)}
        found.add(
            tuple(
                1.0 if place[p] < place[positives + q] else -1.0
                for p in range(positives)
                for q in range(negatives)
            )
        )
    return found


def impossible_configuration() -> dict:
    """The 2x2 cycle: is it reachable, and what does ``h`` say about it?

    Returns
    -------
    dict
        ``reachable`` (bool), ``zero`` and ``counts`` (``h`` under the two rules),
        ``realisable_fraction`` (for P = 3, N = 4, by brute force) and ``realisable_count``,
        and ``package_count`` (the same count from ``AveragePrecision.realisable``).
    """
    labels = np.array([1, 1, 0, 0])
    cycle = np.array([+1.0, -1.0, -1.0, +1.0])  # rows: (p1 vs q1, q2), (p2 vs q1, q2)
    reachable = tuple(cycle) in configurations_from_rankings(2, 2)
    realisable = configurations_from_rankings(3, 4)
    every = np.array(list(itertools.product([-1.0, 1.0], repeat=12)))
    above = (every < 0).reshape(-1, 3, 4)
    package_count = int(AveragePrecision.realisable(above, above.sum(axis=2)).sum())
    return {
        "reachable": reachable,
        "zero": float(AveragePrecision().from_binary(cycle, labels)),
        "counts": float(AveragePrecision(unrealisable="counts").from_binary(cycle, labels)),
        "realisable_count": len(realisable),
        "package_count": package_count,
        "realisable_fraction": len(realisable) / 2**12,
    }


# %% [markdown]
# ## A picture of the batch
#
# Left: the ranked list, positives in orange, with the precision at each positive.
# Middle: AP's `b` as a `P x N` matrix (`+1` green, `-1` red) and each row's `n_p`.
# Right: accuracy's `b` as an `n x (C - 1)` matrix; a row of all `+1` is a correct sample.


# %%
def draw(ranked: list, ap: dict, accuracy: dict, path: Path) -> None:
    """Save the figure of this chapter.

    Parameters
    ----------
    ranked : list of (rank, sample, score, label, precision or None)
    ap : dict
        Output of :func:`average_precision_as_comparisons`.
    accuracy : dict
        Output of :func:`accuracy_two_ways`.
    path : Path
        Where the PNG goes.
    """
    fig = Figure(figsize=(13.5, 4), layout="constrained")
    left, middle, right = fig.subplots(1, 3, width_ratios=[1.3, 1, 0.7])
    for rank, _, score, label, precision in ranked:
        left.barh(rank, score, color="tab:orange" if label else "tab:blue")
        if precision is not None:
            left.text(1.0, rank, f"precision {precision:.3f}", va="center", fontsize=9)
    left.set_yticks([row[0] for row in ranked], [f"{row[0]}: sample {row[1]}" for row in ranked])
    left.set(ylim=(len(ranked) + 0.6, 0.4), xlim=(-1.3, 1.8), xlabel="score s")
    left.set_title("ranked batch (orange = positive)")
    for axes, matrix in ((middle, ap["matrix"]), (right, accuracy["matrix"])):
        axes.imshow(matrix, cmap="RdYlGn", vmin=-1.5, vmax=1.5)
        for (r, q), value in np.ndenumerate(matrix):
            axes.text(q, r, f"{value:+.0f}", ha="center", va="center")
    positives, negatives = np.unique(ap["i"]), np.unique(ap["j"])
    middle.set_xticks(range(negatives.size), [f"sample {q}" for q in negatives])
    middle.set_yticks(
        range(positives.size),
        [f"sample {p}: n_p = {n}" for p, n in zip(positives, ap["counts"], strict=True)],
    )
    middle.set(xlabel="negative", ylabel="positive")
    middle.set_title(f"AP: b as P x N\nh = {ap['h']:.4f}")
    right.set_xticks(range(accuracy["matrix"].shape[1]), ["1st other", "2nd other"])
    right.set_yticks(
        range(accuracy["matrix"].shape[0]),
        [f"sample {r} (t = {t})" for r, t in enumerate(CLASS_TARGETS)],
    )
    right.set_title(f"accuracy: b as n x (C-1)\nh = {accuracy['h']:.2f}")
    fig.savefig(path, dpi=110)


# %% [markdown]
# ## Running the chapter
#
# `main` runs the steps above in order and prints each result. What you should see:
#
# * AP by hand is **0.7222** (precisions 1, 2/3 and 1/2 at the three positives), and
#   `h(sign(c))` gives the same number, as does the formula on the counts: in batch order
#   the positives (samples 0, 2, 5) have `n_p = 1, 0, 3` negatives above them.
# * Accuracy by argmax is **0.5** (samples 0 and 2 right), and so is `h(b)`.
# * With one tie between a positive and a negative, the package's pessimistic AP is
#   **0.6667** where the optimistic rule would keep 0.7222; with every score equal, AP is
#   **0.3206** (every negative counted above every positive) where the optimistic rule
#   would claim a perfect 1.
# * The cycle is reached by none of the 24 orders; `h` gives it 0 (or 0.5833 with
#   `unrealisable="counts"`). Of the 4096 configurations of a 3 + 4 batch, only **1066**
#   (26%) come from a ranking, and the package's nestedness test finds the same 1066.
#
# Next, chapter 2 replaces `sign` and `h` by smooth stand-ins, so that the metric gets a
# useful gradient.


# %%
def main(quick: bool = False, out_dir: str | Path = "out/chapters/01") -> dict[str, Any]:
    """Run chapter 1: AP and accuracy by hand and as comparisons.

    Parameters
    ----------
    quick : bool, default False
        Accepted for a uniform interface; this chapter is fast either way.
    out_dir : str or Path, default "out/chapters/01"
        Folder for the figure (created if missing).

    Returns
    -------
    dict
        Every number the chapter's text states.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    print("AP by hand: rank the batch, take the precision at each positive")
    ap_by_hand, ranked = average_precision_by_hand(SCORES, LABELS)
    for rank, sample, score, label, precision in ranked:
        note = f"precision {precision:.4f}" if precision is not None else ""
        print(f"  rank {rank}  sample {sample}  s = {score:+.1f}  label {label}  {note}")
    print(f"  AP = {ap_by_hand:.4f}")

    ap = average_precision_as_comparisons(SCORES, LABELS)
    print(f"\nAP as comparisons: l = P * N = {ap['c'].size} pairs (i, j)")
    print(f"  i = {ap['i']}\n  j = {ap['j']}")
    print(f"  c = s[i] - s[j] = {np.round(ap['c'], 2)}")
    print(f"  b = sign(c) as a P x N matrix:\n{ap['matrix']}")
    print(f"  n_p (negatives above each positive) = {ap['counts']}")
    print(f"  formula on the counts = {ap['from_counts']:.4f}   h(b) = {ap['h']:.4f}")
    print(f"  agrees with AP by hand: {bool(np.isclose(ap['h'], ap_by_hand, rtol=1e-12))}")

    accuracy = accuracy_two_ways(CLASS_SCORES, CLASS_TARGETS)
    print(f"\nAccuracy by argmax = {accuracy['by_hand']:.2f}")
    print(f"  b as an n x (C - 1) matrix:\n{accuracy['matrix']}")
    print(f"  h(b) = fraction of all-(+1) rows = {accuracy['h']:.2f}")

    tied = SCORES.copy()
    tied[6] = tied[0]  # the negative at 0.3 moves onto the positive at 0.4
    one_tie = tie_rules(tied, LABELS)
    all_tied = tie_rules(np.zeros_like(SCORES), LABELS)
    print("\nTies (pessimistic rule: a tie is -1)")
    for name, result in (("one tie", one_tie), ("all scores equal", all_tied)):
        print(
            f"  {name}: {result['ties']} tied comparisons, AP = {result['pessimistic']:.4f} "
            f"(evaluate: {result['evaluate']:.4f}); the optimistic rule would give "
            f"{result['optimistic']:.4f}"
        )

    impossible = impossible_configuration()
    print("\nThe cycle q2 > p1 > q1 > p2 > q2 as b = (+1, -1, -1, +1)")
    print(f"  some order of the four samples produces it: {impossible['reachable']}")
    print(f"  h = {impossible['zero']:.4f} (default), {impossible['counts']:.4f} (counts)")
    print(
        f"  configurations of a 3 + 4 batch that some ranking produces: "
        f"{impossible['realisable_count']} of 4096 ({impossible['realisable_fraction']:.0%}); "
        f"the package's test counts {impossible['package_count']}"
    )

    figure = out / "01_comparisons.png"
    draw(ranked, ap, accuracy, figure)
    print(f"\nfigure: {figure}")
    return {
        "ap_by_hand": ap_by_hand,
        "ap_from_counts": ap["from_counts"],
        "ap_h": ap["h"],
        "counts": ap["counts"].tolist(),
        "accuracy_by_hand": accuracy["by_hand"],
        "accuracy_h": accuracy["h"],
        "one_tie_pessimistic": one_tie["pessimistic"],
        "one_tie_evaluate": one_tie["evaluate"],
        "one_tie_optimistic": one_tie["optimistic"],
        "all_tied_pessimistic": all_tied["pessimistic"],
        "all_tied_evaluate": all_tied["evaluate"],
        "all_tied_optimistic": all_tied["optimistic"],
        "cycle_reachable": impossible["reachable"],
        "cycle_h_zero": impossible["zero"],
        "cycle_h_counts": impossible["counts"],
        "realisable_count": impossible["realisable_count"],
        "realisable_package_count": impossible["package_count"],
    }


# %%
if __name__ == "__main__":
    main()
