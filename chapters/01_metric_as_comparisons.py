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
# $$\text{scores } s \;\to\; \text{comparisons } c \;\to\; \text{binary variables } b
#   \;\to\; \text{metric } h(b),$$
#
# and check that the two agree. Then we look at the two places where the four-step view
# needs a decision: ties, and configurations of $b$ that no scores can produce.
#
# Run it cell by cell in Jupyter: `python -m uniloss_ref tutorial --notebooks DIR` writes
# every chapter as a notebook whose first cell sets quick mode (`chapters/README.md`).
# Or run it as a script: `python chapters/01_metric_as_comparisons.py` (`--quick` for quick
# mode, `--help` for the options).
#
# ## The symbols of this tutorial
#
# The chapters use the paper's symbols; each is introduced where it first matters, and
# this table collects them.
#
# | symbol | what it is | chapter |
# | --- | --- | --- |
# | $s$ | the model's scores for a batch | 1 |
# | $(i_m, j_m)$ | the $m$-th pair of scores the metric compares | 1 |
# | $c$ | the comparisons $c_m = s_{i_m} - s_{j_m}$; $c_m > 0$ is desired | 1 |
# | $l$ | how many comparisons a batch has | 1 |
# | $b$ | a **configuration**: $b = \mathrm{sign}(c) \in \{-1, +1\}^l$, ties as $-1$ | 1 |
# | $h(b)$ | the metric as a function of a configuration | 1 |
# | $P$, $N$, $n_p$ | positives, negatives, negatives ranked above positive $p$ | 1 |
# | $\tau$ | the temperature of the relaxation | 2 |
# | $\tilde b$ | the relaxed binaries $\tanh(c / 2\tau) \in (-1, 1)^l$ | 2 |
# | $a_k$, $K$ | the anchors: $K$ configurations where $h$ is known exactly | 2, 3 |
# | $v_k$ | the anchors' values $h(a_k)$ | 2 |
# | $d_k$ | the distance $\lVert \tilde b - a_k \rVert$ | 2 |
# | $p$ | the power of inverse distance weighting | 2 |
# | $w_k$ | the weights $d_k^{-p}$ | 2 |
# | $\tilde h$ | the surrogate $\sum_k w_k v_k / \sum_k w_k$; the loss is $1 - \tilde h$ | 2 |

# %%
import itertools

import numpy as np
from matplotlib.figure import Figure

from uniloss_ref import exercises, tutorial
from uniloss_ref.metrics import Accuracy, AveragePrecision, RocAuc
from uniloss_ref.relaxation import hard_binary

lesson = tutorial.setup(__name__, "01", "Chapter 1: a metric is a function of comparisons.")

# %% [markdown]
# ## The batch
#
# A binary classifier gives every sample a real **score** $s$: higher means "more likely
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
        precision = None
        if labels[k]:
            hits += 1
            precision = hits / rank
            precisions.append(precision)
        table.append((rank, int(k), float(scores[k]), int(labels[k]), precision))
    return float(np.mean(precisions)), table


# %% [markdown]
# You should see AP = **0.7222**: the positives come at ranks 1, 3 and 6, with precisions
# 1, 2/3 and 1/2.

# %%
ap_by_hand, ranked = average_precision_by_hand(SCORES, LABELS)
for rank, sample, score, label, precision in ranked:
    note = f"precision {precision:.4f}" if precision is not None else ""
    print(f"rank {rank}  sample {sample}  s = {score:+.1f}  label {label}  {note}")
print(f"AP = {ap_by_hand:.4f}")

# %% [markdown]
# ## AP as comparisons
#
# AP only depends on the *order* of positives and negatives, and the order is decided by
# comparisons of one positive's score with one negative's. A metric in this package
# **refactors** a batch: `AveragePrecision().refactor(shape, labels)` looks at the labels
# once and returns the batch's `Refactoring`, which holds two index arrays `i` and `j`
# (every (positive, negative) pair; with $P$ positives and $N$ negatives there are
# $l = PN$ of them) and the function `h`.
#
# * **Comparisons** $c_m = s_{i_m} - s_{j_m}$, one number per pair
#   (`refactoring.comparisons(s)`). Each pair is oriented so that $c_m > 0$ is what we
#   *want*: the positive above the negative.
# * **Binary variables** $b = \mathrm{sign}(c)$, one $+1$ or $-1$ per pair: did this pair
#   come out right? A vector of $l$ such signs is called a **configuration**. The ideal
#   one, every pair right, is $b = (+1, \dots, +1)$; we call it the *ground truth*. In
#   code, `hard_binary(c)` is this sign, with the package's rule for ties (see below).
# * **The metric from binaries** $h(b)$. Lay $b$ out as a $P \times N$ matrix: row $p$
#   holds positive $p$'s comparisons, and its number of $-1$ entries, $n_p$, is how many
#   negatives are ranked above that positive. The positive with the fewest negatives
#   above it is the highest-ranked positive, and so on: sort the counts,
#   $n_{(1)} \le n_{(2)} \le \dots \le n_{(P)}$, and the $j$-th best positive sits at rank
#   $j + n_{(j)}$ with $j$ positives at or above it. Its precision is $j / (j + n_{(j)})$,
#   and
#
# $$h(b) = \frac{1}{P} \sum_{j=1}^{P} \frac{j}{j + n_{(j)}}.$$
#
# `refactoring.h` is this $h$. It evaluates a whole stack of $K$ configurations at once
# (shape `(K, l)` in, `(K,)` out), because chapter 2 will need it at many, and takes each
# as booleans, True where $b = +1$ (the comparison came out as desired); for one
# configuration we pass `b[None, :] > 0` and take element 0. The claim of this chapter:
# $h(\mathrm{sign}(c(s)))$ equals AP computed by hand, for any scores.
#
# Notice what the rewriting achieves: the scores enter only through the differences $c$,
# which are smooth (linear) in $s$, and everything that makes AP a staircase sits in two
# places, $\mathrm{sign}$ and $h$. Chapter 2 replaces exactly those two by smooth
# stand-ins.
#
# You should see the 12 pairs, $b$ as a $3 \times 4$ matrix with $n_p = 1, 0, 3$ for the
# positives in batch order (samples 0, 2, 5), and the same AP three times: **0.7222** from
# the counts, from $h$, and by hand.

# %%
refactoring = AveragePrecision().refactor(SCORES.shape, LABELS)
c = refactoring.comparisons(SCORES)
b = hard_binary(c)
positives, negatives = np.flatnonzero(LABELS), np.flatnonzero(LABELS == 0)
ap_matrix = b.reshape(positives.size, negatives.size)
counts = (ap_matrix < 0).sum(axis=1)
rank = np.arange(1, positives.size + 1)
ap_from_counts = float(np.mean(rank / (rank + np.sort(counts))))
ap_h = float(refactoring.h(b[None, :] > 0)[0])

print(f"l = P * N = {refactoring.length} pairs (i, j)")
print(f"i = {refactoring.i}\nj = {refactoring.j}")
print(f"c = s[i] - s[j] = {np.round(c, 2)}")
print(f"b = sign(c) as a P x N matrix:\n{ap_matrix}")
print(f"n_p (negatives above each positive) = {counts}")
print(f"formula on the counts = {ap_from_counts:.4f}, h(b) = {ap_h:.4f}")
print(f"AP by hand = {ap_by_hand:.4f}")

# %% [markdown]
# ## Accuracy as comparisons
#
# Accuracy of a multi-class classifier fits the same mould. Now each sample has one score
# per class, $s$ of shape $(n, C)$, and the prediction is the class with the highest
# score. A sample $r$ is classified correctly iff its target class $t_r$ beats every other
# class, so its comparisons are $s_{r, t_r} - s_{r, k}$ for each other class $k$: $C - 1$
# per sample, $l = n(C - 1)$ in all. Laid out as an $n \times (C - 1)$ matrix, row $r$ is
# sample $r$'s comparisons, and
#
# $$h(b) = \text{the fraction of rows that are all } +1.$$
#
# (Top-$k$ accuracy would instead allow up to $k - 1$ entries of $-1$ per row.) The
# refactoring records the rows too: `refactoring.row_starts` marks where each row begins,
# and chapter 3 will use them.
#
# You should see accuracy **0.5** both ways: samples 0 and 2 are right, and theirs are
# the two rows of all $+1$.

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

accuracy_by_hand = float(np.mean(np.argmax(CLASS_SCORES, axis=1) == CLASS_TARGETS))
accuracy_refactoring = Accuracy().refactor(CLASS_SCORES.shape, CLASS_TARGETS)
accuracy_b = hard_binary(accuracy_refactoring.comparisons(CLASS_SCORES))
accuracy_matrix = accuracy_b.reshape(len(CLASS_SCORES), -1)
accuracy_h = float(accuracy_refactoring.h(accuracy_b[None, :] > 0)[0])

print(f"accuracy by argmax = {accuracy_by_hand:.2f}")
print(f"rows start at {accuracy_refactoring.row_starts}")
print(f"b as an n x (C - 1) matrix:\n{accuracy_matrix}")
print(f"h(b) = fraction of all-(+1) rows = {accuracy_h:.2f}")

# %% [markdown]
# ## A picture of the batch
#
# Left: the ranked list, positives in orange, with the precision at each positive.
# Middle: AP's $b$ as a $P \times N$ matrix ($+1$ green, $-1$ red) and each row's $n_p$.
# Right: accuracy's $b$ as an $n \times (C - 1)$ matrix; a row of all $+1$ is a correct
# sample.
# You should see the figure below the cell.

# %%
fig = Figure(figsize=(13.5, 4), layout="constrained")
left, middle, right = fig.subplots(1, 3, width_ratios=[1.3, 1, 0.7])
for rank_, _, score, label, precision in ranked:
    left.barh(rank_, score, color="tab:orange" if label else "tab:blue")
    if precision is not None:
        left.text(1.0, rank_, f"precision {precision:.3f}", va="center", fontsize=9)
left.set_yticks([row[0] for row in ranked], [f"{row[0]}: sample {row[1]}" for row in ranked])
left.set(ylim=(len(ranked) + 0.6, 0.4), xlim=(-1.3, 1.8), xlabel="score s")
left.set_title("ranked batch (orange = positive)")
for axes, matrix in ((middle, ap_matrix), (right, accuracy_matrix)):
    axes.imshow(matrix, cmap="RdYlGn", vmin=-1.5, vmax=1.5)
    for (r, q), value in np.ndenumerate(matrix):
        axes.text(q, r, f"{value:+.0f}", ha="center", va="center")
middle.set_xticks(range(negatives.size), [f"sample {q}" for q in negatives])
middle.set_yticks(
    range(positives.size),
    [f"sample {p}: n_p = {n}" for p, n in zip(positives, counts, strict=True)],
)
middle.set(xlabel="negative", ylabel="positive")
middle.set_title(f"AP: b as P x N\nh = {ap_h:.4f}")
right.set_xticks(range(accuracy_matrix.shape[1]), ["1st other", "2nd other"])
right.set_yticks(
    range(len(CLASS_TARGETS)), [f"sample {r} (t = {t})" for r, t in enumerate(CLASS_TARGETS)]
)
right.set_title(f"accuracy: b as n x (C-1)\nh = {accuracy_h:.2f}")
lesson.show(fig, "01_comparisons.png")

# %% [markdown]
# ## Ties: a comparison that is exactly zero
#
# $\mathrm{sign}(0)$ has to be something. This package counts a tie as **not achieved**
# ($b = -1$), in $h$ and in every metric's direct `evaluate` alike, so the two always
# agree. The pessimistic choice is the safe one: under the optimistic rule (a tie counts
# as $+1$) a
# model that gives *every* sample the same score would have all its comparisons tied,
# hence all "right", and a perfect AP and accuracy. Below, one negative is moved onto a
# positive's score, and then every score is made equal.
#
# You should see, with one tie, AP **0.6667** under the package's rule where the
# optimistic rule keeps 0.7222; with every score equal, AP **0.3206** (every negative
# counted above every positive) where the optimistic rule claims a perfect 1. The
# package's direct `evaluate` agrees with $h$ both times.


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
        package's direct computation).
    """
    metric = AveragePrecision()
    batch = metric.refactor(scores.shape, labels)
    c = batch.comparisons(scores)
    optimistic_b = np.where(c >= 0, 1.0, -1.0)
    return {
        "ties": int((c == 0).sum()),
        "pessimistic": float(batch.h(hard_binary(c)[None, :] > 0)[0]),
        "optimistic": float(batch.h(optimistic_b[None, :] > 0)[0]),
        "evaluate": metric.evaluate(scores, labels),
    }


tied = SCORES.copy()
tied[6] = tied[0]  # the negative at 0.3 moves onto the positive at 0.4
one_tie = tie_rules(tied, LABELS)
all_tied = tie_rules(np.zeros_like(SCORES), LABELS)
for name, result in (("one tie", one_tie), ("all scores equal", all_tied)):
    print(
        f"{name}: {result['ties']} tied comparisons, AP = {result['pessimistic']:.4f} "
        f"(evaluate: {result['evaluate']:.4f}); the optimistic rule would give "
        f"{result['optimistic']:.4f}"
    )

# %% [markdown]
# ## A configuration that no ranking can produce
#
# $h$ takes any vector of $\pm 1$, not just the ones that come from scores. Chapter 2 will
# evaluate $h$ at made-up configurations (the "anchors"), so $h$ must have a value at
# every one of the $2^l$ points, including impossible ones. Take two positives $p_1, p_2$
# and two negatives $q_1, q_2$, and the configuration
#
# $$p_1 \text{ beats } q_1, \quad q_2 \text{ beats } p_1, \quad q_1 \text{ beats } p_2,
#   \quad p_2 \text{ beats } q_2,$$
#
# i.e. $q_2 > p_1 > q_1 > p_2 > q_2$: a cycle, which no list of four numbers can produce.
# We check that by trying all $4! = 24$ orders. AP's formula above still gives a number
# (each positive has one negative above it), but no ranking has that AP. The package
# scores such configurations 0 by default, as the paper's authors did
# (`AveragePrecision(unrealisable="counts")` uses the formula instead).
#
# Such configurations are common. The package tells them apart without trying orders: a
# configuration comes from a ranking iff the sets "negatives above positive $p$" are
# nested, each inside the next when the positives are sorted by $n_p$; two positives each
# beating a negative that the other loses to, as in the cycle, is exactly what breaks the
# nesting. Every configuration a ranking produces has an AP above 0, so the configurations
# that the default $h$ scores above 0 should be exactly those that some ranking produces.
# We check that on the 3-positive, 4-negative batch above, against brute force over all
# $7! = 5040$ orders.
#
# You should see that none of the 24 orders produces the cycle, $h$ = **0** for it (or
# **0.5833** with `unrealisable="counts"`), and that of the 4096 configurations of a
# 3 + 4 batch only **1066** (26%) come from a ranking: the same 1066 that $h$ scores above
# 0.


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


square = np.array([1, 1, 0, 0])
cycle = np.array([+1.0, -1.0, -1.0, +1.0])  # rows: (p1 vs q1, q2), (p2 vs q1, q2)
cycle_reachable = tuple(cycle) in configurations_from_rankings(2, 2)
cycle_h_zero = float(AveragePrecision().refactor((4,), square).h(cycle[None, :] > 0)[0])
counts_rule = AveragePrecision(unrealisable="counts")
cycle_h_counts = float(counts_rule.refactor((4,), square).h(cycle[None, :] > 0)[0])

realisable = configurations_from_rankings(3, 4)
every = np.array(list(itertools.product([-1.0, 1.0], repeat=12)))
h_every = AveragePrecision().refactor((7,), np.array([1, 1, 1, 0, 0, 0, 0])).h(every > 0)
scored_above_zero = {tuple(row) for row in every[h_every > 0]}

print(f"the cycle q2 > p1 > q1 > p2 > q2 as b = {cycle}")
print(f"some order of the four samples produces it: {cycle_reachable}")
print(f"h = {cycle_h_zero:.4f} (default), {cycle_h_counts:.4f} (unrealisable='counts')")
print(
    f"configurations of a 3 + 4 batch that some ranking produces: {len(realisable)} of 4096 "
    f"({len(realisable) / 4096:.0%}; {4096 - len(realisable)} do not); h scores "
    f"{len(scored_above_zero)} above 0, the same ones: {scored_above_zero == realisable}"
)

# %% [markdown]
# ## Exercises: predict, then run
#
# Write down your prediction before you run each cell; then open the answer. The last
# exercise asks you to write code: a cell marked **✎ yours** holds a function whose body
# is `...`; write it, and the cell after it checks it and says, with a hint, where it
# differs.
#
# **Exercise 1.** Raise the positive sample 5 from $-0.5$ to $0.5$, just above the
# negative at 0.3 and below the negative at 0.8. What are the new counts $n_p$ (in batch
# order) and the new AP? How many of the 12 comparisons change?

# %%
raised = SCORES.copy()
raised[5] = 0.5
raised_batch = AveragePrecision().refactor(raised.shape, LABELS)
raised_b = hard_binary(raised_batch.comparisons(raised))
exercise_1_counts = (raised_b.reshape(3, 4) < 0).sum(axis=1)
exercise_1_ap = float(raised_batch.h(raised_b[None, :] > 0)[0])
exercise_1_changed = int((raised_b != b).sum())
print(f"n_p = {exercise_1_counts}, AP = {exercise_1_ap:.4f} (up {exercise_1_ap - ap_h:.3f})")
print(f"{exercise_1_changed} comparisons changed, {b.size - exercise_1_changed} stayed")

# %% [markdown]
# <details><summary>Answer</summary>
#
# Only sample 5's row changes: the one negative still above it is sample 3 (0.8), so
# $n_p = 1, 0, 1$. Sorted, $0, 1, 1$: precisions $1/1$, $2/3$ and $3/4$, AP
# $(1 + 2/3 + 3/4) / 3 = 29/36 =$ **0.8056**. One positive moving up past two negatives
# flipped 2 comparisons (its pairs with those two negatives) and raised AP by 0.083; the
# other 10 comparisons stayed as they were.
#
# </details>
#
# **Exercise 2.** The same pairs serve ROC AUC, whose $h$ is the fraction of $+1$ entries
# of $b$. From the matrix printed above (without running anything), what is the AUC of
# the original batch? Then check it with `RocAuc`.

# %%
auc_batch = RocAuc().refactor(SCORES.shape, LABELS)
exercise_2_auc = float(auc_batch.h(hard_binary(auc_batch.comparisons(SCORES))[None, :] > 0)[0])
exercise_2_direct = RocAuc().evaluate(SCORES, LABELS)
print(f"AUC from h = {exercise_2_auc:.4f}, evaluated directly = {exercise_2_direct:.4f}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# The matrix has $1 + 0 + 3 = 4$ entries of $-1$ among 12, so AUC $= 8/12 =$ **0.6667**,
# and the direct computation agrees. Same comparisons, another $h$: that is all a new
# ranking metric needs (chapter 9 builds one).
#
# </details>
#
# **Exercise 3.** With top-2 accuracy (`Accuracy(top_k=2)`), a sample is right when at
# most one entry of its row is $-1$. What is the top-2 accuracy of the four-sample batch?

# %%
top2 = Accuracy(top_k=2).refactor(CLASS_SCORES.shape, CLASS_TARGETS)
exercise_3_top2 = float(top2.h(accuracy_b[None, :] > 0)[0])
print(f"top-2 accuracy = {exercise_3_top2:.2f}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# **1.0**. The two wrong samples each lose to exactly one class (sample 1 to class 1,
# sample 3 to class 0), so every row has at most one $-1$. The configuration $b$ is the
# same as for top-1; only $h$ changed.
#
# </details>
#
# **Exercise 4 (code).** Write the package's test of whether a configuration comes from a
# ranking, from the rule above: `from_a_ranking(b, P, N)` takes a stack of $K$
# configurations of a batch with $P$ positives and $N$ negatives, a `(K, P * N)` array of
# $\pm 1$ in the package's pair order (row $p$ of the $P \times N$ matrix is positive
# $p$'s comparisons), and returns $K$ booleans: True iff the sets "negatives above
# positive $p$" (the $-1$ entries of row $p$) are nested once the rows are sorted by
# $n_p$. The check compares your answer with the brute force above on all 4096
# configurations of the 3 + 4 batch, and on the 16 of the 2 + 2 batch.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def from_a_ranking(b, P, N):
    """``(K, P * N)`` configurations of +-1 -> ``(K,)`` booleans: True iff some ranking
    produces it."""
    ...


# %%
exercise_4 = {}
for positives, negatives in ((3, 4), (2, 2)):
    ranked = configurations_from_rankings(positives, negatives)
    stack = np.array(list(itertools.product([-1.0, 1.0], repeat=positives * negatives)))
    truth = np.array([tuple(row) in ranked for row in stack])
    exercise_4[positives, negatives] = exercises.agree(
        f"from_a_ranking on every configuration of {positives} + {negatives}",
        from_a_ranking(stack, positives, negatives),
        truth,
        hint="sort the rows by their number of -1 entries (a stable sort); each row's -1 "
        "positions must include every -1 position of the row before it",
        required=False,
    )

# %% [markdown]
# <details><summary>Answer</summary>
#
# The shipped solution (`chapters/solutions/01_metric_as_comparisons.py`) sorts the rows
# of each $P \times N$ matrix by $n_p$ and checks that every row's $-1$ entries include the
# previous row's, which for booleans "is above" is `earlier <= later` entry by entry.
# Counting alone is not enough: the cycle has $n_p = 1, 1$, the counts of a ranking, and
# its sets $\{q_2\}$ and $\{q_1\}$ are not nested. That one comparison of sets is all
# that tells the 1066 configurations from the other 3030.
#
# </details>
#
# ## What you learned
#
# * AP, ROC AUC and accuracy are functions of pairwise comparisons $c = s_i - s_j$ through
#   their signs: $\text{metric}(s) = h(\mathrm{sign}(c(s)))$, exactly.
# * A metric is its pairs $(i, j)$ (fixed by the labels, once per batch), its rows and
#   its $h$; the scores enter only through $c$, linearly.
# * Ties count as not achieved, so a constant model earns nothing.
# * $h$ is defined at every configuration, including those no ranking produces; for AP
#   most of them, which it scores 0 by default.
#
# **Next**, chapter 2 replaces $\mathrm{sign}$ and $h$ by smooth stand-ins, the relaxation
# $\tilde b$ and the interpolation $\tilde h$, so that the metric gets a useful gradient.
