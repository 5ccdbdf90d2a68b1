# %% [markdown]
# # 4. Build it yourself: UniLoss from scratch
#
# Chapters 1 to 3 used the package. In this chapter you write the whole method again, from
# nothing but NumPy and autograd, one piece at a time: the metric as pairs and $h$, the
# standardised scores, the relaxation, the anchors, the distances, the weights, the
# interpolation and the loss. Each piece is a cell marked **✎ yours**: its function's
# docstring says what it takes and returns, and its body is `...` until you write it. The
# cell right after it checks your function against the package's one-page statement of the
# method, `uniloss_ref.plain`, on the **conformance cases** of that step (the named batches
# that every port of UniLoss must pass, degenerate ones included), and prints `✓` with the
# largest difference it saw (relative for values above 1) or the first case where yours
# differs, with a hint. Every rule you need is stated in the prose
# above the cell.
#
# The pieces compose as the method does (chapters 1 to 3):
#
# $$s \;\to\; z = s / \mathrm{sd}(s) \text{ (optional)} \;\to\; c = z_i - z_j \;\to\;
#   \tilde b = \tanh\frac{c}{2\tau} \;\to\; d_k^2 = \lVert \tilde b - a_k \rVert^2
#   \;\to\; w_k = d_k^{-p} \;\to\; \tilde h = \frac{\sum_k w_k v_k}{\sum_k w_k},
#   \quad v_k = h(a_k), \qquad \text{loss} = 1 - \tilde h.$$
#
# Stuck? The solutions are in `chapters/solutions/04_build_it_yourself.py`; as a script,
# `python chapters/04_build_it_yourself.py --solutions` runs the chapter with them in place
# of your cells (the tests do the same), and in a notebook the first cell has a line that
# does it. Run as a script without `--solutions`, the chapter stops at the first check your
# code does not pass yet.

# %%
import warnings

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive
from autograd.tracer import getval  # noqa: F401 (the cells marked yours use it)

from uniloss_ref import exercises as check
from uniloss_ref import tutorial

lesson = tutorial.setup(__name__, "04", "Chapter 4: UniLoss from scratch, checked step by step.")

# %% [markdown]
# ## 1. The metric: pairs $(i, j)$, rows and $h$
#
# A metric looks at a batch's labels once and returns four things, `(i, j, row_starts, h)`:
#
# * `i` and `j`, index arrays of length $l$ into the **flattened** scores: comparison $m$ is
#   $c_m = s_{i_m} - s_{j_m}$, oriented so that $c_m > 0$ is what we want;
# * `row_starts`, where each row begins: row $r$ is comparisons `row_starts[r]` to
#   `row_starts[r + 1] - 1`, the group that decides one unit of the metric (one positive,
#   one sample, one candidate pixel). It has one more entry than there are rows, the last
#   being $l$;
# * `h`, which takes $K$ configurations as a `(K, l)` array of $\pm 1$ (a tie already
#   counted as $-1$) and returns their $K$ values. (The package's `h` of chapter 1 takes
#   booleans instead; yours takes $\pm 1$, as the anchors of section 4 are written.)
#
# The **order of the pairs** is part of the contract: the anchors' columns refer to it.
#
# ### 1a. Ranking pairs (average precision and ROC AUC)
#
# The rules:
#
# * the positives are the samples labelled 1 and the negatives those labelled 0, each list
#   in increasing index; $P$ and $N$ are their numbers and $l = PN$;
# * the pairs go **positive-major**: comparison $m = pN + q$ compares positive $p$ with
#   negative $q$, so `i` repeats each positive $N$ times and `j` lists the negatives once
#   per positive;
# * row $p$ holds positive $p$'s $N$ comparisons: `row_starts` is $0, N, 2N, \dots, PN$.
#
# (`np.flatnonzero`, `np.repeat` and `np.tile` do most of it.)


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def ranking_pairs(labels):
    """``labels`` (n,) of 0/1 -> ``(i, j, row_starts)``: int arrays (l,), (l,) and (P + 1,)."""
    ...


# %%
check.check_pairs(ranking_pairs)

# %% [markdown]
# ### 1b. ROC AUC
#
# ROC AUC is the fraction of (positive, negative) pairs ranked right, so its $h$ is the
# fraction of $+1$ entries of each configuration. A batch with no comparisons ($l = 0$: no
# positive or no negative) has nothing ranked wrong and scores 1.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def roc_auc(shape, labels):
    """Scores of shape ``shape`` (n,), ``labels`` (n,) -> ``(i, j, row_starts, h)``."""
    ...


# %%
check.check_metric("RocAuc", roc_auc)

# %% [markdown]
# ### 1c. Average precision
#
# Chapter 1's rules. Lay a configuration out as a $P \times N$ matrix; $n_p$ is the number
# of $-1$ entries in row $p$ (negatives ranked above positive $p$). Sort the counts,
# $n_{(1)} \le \dots \le n_{(P)}$; the $j$-th best positive sits at rank $j + n_{(j)}$, so
#
# $$h(b) = \frac{1}{P} \sum_{j=1}^{P} \frac{j}{j + n_{(j)}}.$$
#
# Three more rules, each with its own conformance cases:
#
# * with no positive or no negative ($P = 0$ or $N = 0$), $h = 1$;
# * `interpolated=True` (VOC AP) replaces each precision $j / (j + n_{(j)})$ by the
#   largest precision at or after it, $\max_{j' \ge j}$, before the mean;
# * `unrealisable="zero"` (the default, as in the authors' code) scores 0 a configuration
#   that no ranking produces: sort the rows by $n_p$ (a stable sort, so equal counts keep
#   their order); the configuration comes from a ranking iff each row's set of $-1$
#   positions contains the previous row's. `unrealisable="counts"` applies the formula
#   anyway.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def average_precision(shape, labels, interpolated=False, unrealisable="zero"):
    """Scores (n,), ``labels`` (n,) -> ``(i, j, row_starts, h)``; ``h``: (K, l) of +-1 -> (K,)."""
    ...


# %%
check.check_metric("AveragePrecision", average_precision)

# %% [markdown]
# ### 1d. Accuracy
#
# Scores of shape $(n, C)$, one row per sample, and a target class $t_r$ per sample. Sample
# $r$ is compared with each other class: comparison $s_{r, t_r} - s_{r, k}$ for every
# $k \neq t_r$ in increasing $k$, so `i` and `j` are flat indices $rC + t_r$ and $rC + k$,
# samples in order, $l = n(C - 1)$, and row $r$ is sample $r$'s $C - 1$ comparisons.
# Sample $r$ is right when its row has at most `top_k - 1` entries $-1$ (top-1: none), and
# $h$ is the fraction of samples that are right. (A batch always has a sample: the package
# refuses an empty one, so no case asks for it.)


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def accuracy(shape, targets, top_k=1):
    """Scores (n, C), ``targets`` (n,) of classes -> ``(i, j, row_starts, h)``."""
    ...


# %%
check.check_metric("Accuracy", accuracy)

# %% [markdown]
# ### 1e. PCK
#
# Heatmap scores of shape $(n, J, H, W)$: one $H \times W$ map per sample and joint.
# `targets` is a dict: `xy` of shape $(n, J, 2)$, each joint's $(x, y)$ in heatmap pixels,
# `visible` $(n, J)$ booleans, and `scale` $(n,)$, each sample's size (a torso length);
# the radius of sample $r$ is `threshold * scale[r]`. Pixel $k = yW + x$ of a map has its
# centre at $(x, y)$. The rules:
#
# * a joint **counts** iff it is visible and inside the map: $-0.5 \le x < W - 0.5$ and
#   $-0.5 \le y < H - 0.5$. A joint that does not count is in neither numerator nor
#   denominator;
# * a pixel is **positive** for a joint iff its squared distance to the joint is at most
#   the squared radius, $\le$, so a pixel exactly on the circle is positive; every other
#   pixel is negative;
# * for each counted joint with at least one positive and one negative pixel, in order
#   (sample-major, then joint), the pairs are (positive pixel, negative pixel),
#   positive-major, pixels in increasing $k$; the flat index of pixel $k$ of joint $j$ of
#   sample $r$ is $(rJ + j)HW + k$; each positive pixel's comparisons form one row;
# * a counted joint with no negative pixel is **always correct** and one with no positive
#   pixel **never** (neither has pairs);
# * a joint with pairs is correct iff some positive pixel beats every negative one: some
#   row of its block is all $+1$. $h$ = (always-correct joints + correct joints with pairs)
#   / counted joints, and 1 when no joint counts.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def pck(shape, targets, threshold=0.5):
    """Heatmaps (n, J, H, W), ``targets`` {xy, visible, scale} -> ``(i, j, row_starts, h)``."""
    ...


# %%
check.check_metric("PCK", pck)

# %% [markdown]
# Your metrics on chapter 1's batch: you should see 12 pairs and AP **0.7222** from $h$.

# %%
scores_1 = np.array([0.4, -1.1, 0.9, 0.8, -0.2, -0.5, 0.3])
i_1, j_1, rows_1, h_1 = average_precision(scores_1.shape, np.array([1, 0, 1, 0, 0, 1, 0]))
ap_1 = float(h_1(np.where(scores_1[i_1] - scores_1[j_1] > 0, 1.0, -1.0)[None, :])[0])
print(f"{i_1.size} pairs, rows start at {rows_1}, AP = h(sign(c)) = {ap_1:.4f}")

# %% [markdown]
# ## 2. Standardised scores
#
# The paper compares raw scores. The package can compare **standardised** ones instead,
# $z = s / \mathrm{sd}(s)$, and its AP task does (chapter 5 shows why): the comparisons
# are then in units of the batch's spread, which the network cannot inflate. The rules:
#
# * $\mathrm{sd}$ is the population standard deviation (divide by $n$) over **every entry**
#   of the batch, whatever the shape of $s$; the result has the shape of $s$;
# * compute it on $s / \max|s|$ so that no square overflows for huge scores. The factor
#   cancels in the ratio, so take $\max|s|$ from `getval(s)`, a constant to autograd:
#   differentiating through it would square it, and overflow again;
# * leave $s$ unchanged when $\max|s| = 0$, or when $\mathrm{sd}(s) =
#   \mathrm{sd}(s / \max|s|) \cdot \max|s|$ (the product, never $\mathrm{sd}(s)$ itself) is below
#   `np.finfo(float).tiny` (all scores equal, or a spread so small that $1/\mathrm{sd}$
#   overflows);
# * write it with `autograd.numpy` (imported as `anp`): the gradient flows through
#   $\mathrm{sd}$ too. Use `getval(x)` (imported above from `autograd.tracer`) for a plain
#   number from a traced value, in a test such as `if` or for a constant as above.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def standardised(s):
    """``s / sd(s)`` over the whole batch, any shape; ``s`` unchanged when sd is 0 or tiny."""
    ...


# %%
check.check_standardised(standardised)

# %% [markdown]
# ## 3. The relaxation
#
# $\tilde b = \tanh(c / 2\tau)$, elementwise. **Trap:** autograd differentiates `tanh` as
# $1 / \cosh^2$, which overflows (with a warning) once $|c| / \tau$ passes 710, as it does
# for a confident network. Written through its output, the slope
# $d\tilde b / dc = (1 - \tilde b^2) / 2\tau$ cannot overflow. So write the value with
# NumPy's `np.tanh`, and the slope as a function of $\tilde b$; the cell after yours makes
# them one autograd primitive, whose vector-Jacobian product multiplies the incoming
# gradient by your slope.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def relaxed_binary(c, temperature):
    """``b~ = tanh(c / (2 tau))`` for comparisons ``c`` (l,) (plain NumPy: not traced)."""
    ...


@lesson.yours
def relaxed_binary_slope(b, temperature):
    """``d b~ / d c`` written through ``b~`` (l,): no cosh, so no overflow."""
    ...


# %%
relax = primitive(relaxed_binary)
defvjp(relax, lambda b, c, temperature: lambda g: g * relaxed_binary_slope(b, temperature))
check.check_relaxation(relax)

# %% [markdown]
# You should see $\tilde b = (-1, 0.2449, 1)$ and the slopes $(0, 0.47, 0)$, with no
# warning.

# %%
c_demo = np.array([-1e6, 0.5, 1e6])
relaxed_demo = relax(c_demo, 1.0)
slope_demo = autograd.grad(lambda c: anp.sum(relax(c, 1.0)))(c_demo)
print(f"b~ = {np.round(relaxed_demo, 4)}, d b~ / d c = {np.round(slope_demo, 4)}")

# %% [markdown]
# ## 4. The anchors
#
# The anchors are drawn around the ground truth (all $+1$) and the **current
# configuration**, $\mathrm{sign}(c)$ with a tie as $-1$ (chapter 3), as a `(K, l)` array of
# $\pm 1$, kind by kind in this order, with the counts given:
#
# * `truth`: all $+1$;
# * `good`: the truth with one entry, drawn at random, set to $-1$;
# * `nearby`: the current configuration with one of its $-1$ entries, drawn at random,
#   set to $+1$; when none is $-1$, a `good` anchor instead;
# * `bad`: every entry $+1$ or $-1$ with probability 1/2;
# * `current`: the current configuration;
# * `row`: the current configuration with one row, drawn at random, set all $+1$.
#
# Every random draw comes from the generator `rng` (a `numpy.random.Generator`: e.g.
# `rng.integers(l)`, `rng.choice(...)`), so the same seed draws the same anchors. With no
# comparisons ($l = 0$) every anchor is empty: return a `(K, 0)` array. The anchors are
# constants: they are drawn from the comparisons' values, not from anything autograd
# traces. The check cannot compare your draws with the package's bit for bit (that
# depends on the order of the draws); it checks that each anchor is what its kind must be.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def draw_anchors(c, row_starts, rng, truth=1, good=16, nearby=16, bad=16, current=0, row=0):
    """``K = truth + good + ... + row`` anchors, a (K, l) array of +-1, kind by kind."""
    ...


# %%
check.check_anchors(draw_anchors)

# %% [markdown]
# On chapter 1's batch (with one `current` and two `row` anchors): you should see 52
# anchors of 12 comparisons: the truth worth 1, every `good` anchor worth 0.9167 (with
# 3 positives, $(2 + 3/4) / 3$), some `nearby` and `bad` ones worth 0 (no ranking
# produces them), the `current` one worth the batch's AP, 0.7222, and the `row` anchors
# at least that. (Which `nearby`, `bad` and `row` values appear depends on your random
# draws and their order; the kinds' rules, not these values, are what the check holds.)

# %%
c_1 = scores_1[i_1] - scores_1[j_1]
anchors_1 = draw_anchors(c_1, rows_1, np.random.default_rng(0), current=1, row=2)
values_1 = h_1(anchors_1)
kinds_1 = np.repeat(["truth", "good", "nearby", "bad", "current", "row"], [1, 16, 16, 16, 1, 2])
print(f"{anchors_1.shape[0]} anchors of {anchors_1.shape[1]} comparisons; values by kind:")
for kind in dict.fromkeys(kinds_1):
    print(f"  {kind:<8}", np.unique(values_1[kinds_1 == kind]).round(4))

# %% [markdown]
# ## 5. Distances
#
# $d_k^2 = \lVert \tilde b - a_k \rVert^2$ for every anchor: a `(K,)` array. **Trap:**
# expanded as $\lVert \tilde b \rVert^2 - 2 a_k \cdot \tilde b + l$ it subtracts numbers of
# size $l$ to get one near 0 when $\tilde b$ is close to an anchor, and loses every digit.
# Every entry of $a_k$ is $\pm 1$, so sum non-negative terms instead: $(1 - \tilde b_m)^2$
# where $a_{km} = +1$ and $(1 + \tilde b_m)^2$ where $a_{km} = -1$, exactly 0 on the
# anchor. Two matrix products of the anchors' $+1$ and $-1$ masks with those squares do it,
# in `anp` so the gradient flows.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def squared_distances(b, anchors):
    """``d_k^2 = ||b~ - a_k||^2`` for ``b`` (l,) and ``anchors`` (K, l): shape (K,)."""
    ...


# %%
check.check_distances(squared_distances)

# %% [markdown]
# ## 6. Weights
#
# Inverse distance weighting gives anchor $k$ the weight $w_k = d_k^{-p}$. Only the
# ratios $w_k / \sum_j w_j$ matter, so return the weights **up to a common factor**, and
# mind two traps:
#
# * **In the log domain.** $d_k^{-p}$ overflows for a tiny $d_k$. Compute
#   $\log w_k = -\frac{p}{2} \log d_k^2$, subtract its largest value, then exponentiate.
#   The shift cancels in the ratios, so hold it constant for the gradient: take the
#   maximum of `getval(log_w)`.
# * **Exact at an anchor by a branch, not an epsilon.** Where some $d_k^2$ is exactly 0,
#   $\tilde h$ must be that anchor's value: give the **first** such anchor weight 1 and
#   every other anchor 0. Add `0.0 * d2` to that array so it stays a function of the
#   distances, with an honest zero slope.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def weights(d2, power):
    """IDW weights ``w_k = d_k^-p`` (K,) up to a common factor, from ``d2`` (K,) = ``d_k^2``."""
    ...


# %%
check.check_weights(weights)

# %% [markdown]
# ## 7. The interpolation
#
# $\tilde h(\tilde b) = \sum_k w_k v_k / \sum_k w_k$, the weights being your `weights` of
# your `squared_distances`: a weighted mean of the anchors' values, so it lies between the
# smallest and the largest, and equals $v_k$ on anchor $k$.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def interpolate(b, anchors, values, power=1.0):
    """``h~`` at ``b`` (l,) from ``anchors`` (K, l) and their ``values`` (K,): a number."""
    ...


# %%
check.check_interpolation(interpolate)

# %% [markdown]
# You should see $\tilde h$ exactly 1 on the truth anchor, with a gradient of exactly zero,
# and between the smallest and largest anchor value at the batch's relaxed $\tilde b$.

# %%
on_truth = interpolate(anchors_1[0], anchors_1, values_1)
on_truth_gradient = autograd.grad(interpolate)(anchors_1[0], anchors_1, values_1)
at_batch = interpolate(relax(c_1, 1.0), anchors_1, values_1)
print(f"h~(truth) = {on_truth}, gradient {on_truth_gradient.tolist()}")
print(f"h~(b~) = {at_batch:.4f}, anchor values from {values_1.min():.4f} to {values_1.max():.4f}")

# %% [markdown]
# ## 8. The loss
#
# All together, for given anchors: the scores, standardised when `standardise` is true;
# the comparisons $c = z_i - z_j$ of the **flattened** scores (`anp.reshape(z, -1)`); the
# relaxation `relax(c, temperature)` of section 3; the anchors' values $v_k = h(a_k)$ from
# the metric's `h`; and $1 - \tilde h$. Everything the scores touch goes through `anp`, so
# `autograd.grad(loss)` is the gradient a training step needs.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def loss(scores, metric, anchors, temperature=1.0, power=1.0, standardise=False):
    """``1 - h~`` of ``scores`` for ``metric = (i, j, row_starts, h)`` and ``anchors`` (K, l)."""
    ...


# %%
check.check_loss(loss, {"AveragePrecision": average_precision, "RocAuc": roc_auc,
                        "Accuracy": accuracy, "PCK": pck})  # fmt: skip

# %% [markdown]
# That is the whole method. The shipped solutions of the cells marked yours hold about 100
# lines of code.
#
# ## Check: the conformance vectors
#
# A port of UniLoss is a function `port(case) -> dict`: it receives one case's inputs
# (metric name and parameters, scores, targets, anchors, temperature, power, whether to
# standardise) and returns every intermediate quantity. `uniloss_ref.conformance.verify`
# runs it over every case and compares each quantity with its tolerance
# (`docs/porting.md`). Ours is a thin wrapper around your functions; `make_port` takes the
# interpolation and the distances as arguments so that the exercises can break one.
#
# You should see every quantity pass on every case of the four metrics, **72** cases, the
# degenerate ones included (no positives, one class, ties, scores of $10^6$, $\tilde b$
# exactly on an anchor and $10^{-6}$ from one), each quantity's worst error a small
# fraction of its tolerance.

# %%
from uniloss_ref.conformance import load, verify

METRICS = {"AveragePrecision": average_precision, "RocAuc": roc_auc, "Accuracy": accuracy,
           "PCK": pck}  # fmt: skip


def make_port(interpolate=interpolate, squared_distances=squared_distances):
    def port(case):
        scores, anchors = case["scores"], case["anchors"]
        tau, p = case["temperature"], case["power"]
        i, j, _, h = METRICS[case["metric"]](scores.shape, case["targets"], **case["params"])
        scale = standardised if case["standardise"] else (lambda s: s)
        values = h(anchors)

        def surrogate(s):
            z = anp.reshape(scale(s), -1)
            return interpolate(relax(z[i] - z[j], tau), anchors, values, p)

        z = np.ravel(scale(scores))
        c = z[i] - z[j]
        hard, b, h_tilde = np.where(c > 0, 1.0, -1.0), relax(c, tau), surrogate(scores)
        return {
            "comparisons": c,
            "hard": hard,
            "relaxed": b,
            "distances": np.sqrt(squared_distances(b, anchors)),
            "anchor_values": values,
            "batch_metric": h(hard[None, :])[0],
            "surrogate": h_tilde,
            "loss": 1.0 - h_tilde,
            "gradient": autograd.grad(lambda s: 1.0 - surrogate(s))(scores),
        }

    return port


OURS = [case["name"] for case in load()["cases"] if case["metric"] in METRICS]
report = verify(make_port(), cases=OURS)
print(report)

# %% [markdown]
# ## Your sampler in the package
#
# A sampler is any function `(c, refactoring, rng) -> Anchors`, so the package's
# `UniLoss` can train with yours (`DenseAnchors` holds a `(K, l)` configuration array,
# as booleans, True where $a = +1$). Here on an AP batch at chapter 5's settings
# (standardised scores, $\tau = 3$; its rule for the nearby anchors is chapter 3's
# exercise): given the same seed, the package with your sampler and your own `loss` with
# your `draw_anchors` use the same anchors and agree. You should see the two losses equal
# to rounding (difference below **1e-12**), and your anchors' values: `truth` worth 1, every
# `good` anchor worth 0.95 (chapter 3, exercise 1: 4 positives), and `bad` ones worth 0
# (these positions in the array hold if you drew the kinds in the order of section 4).

# %%
from uniloss_ref import DenseAnchors, UniLoss
from uniloss_ref.metrics import AveragePrecision


def our_sampler(c, refactoring, rng):
    anchors = draw_anchors(c, refactoring.row_starts, rng)
    return DenseAnchors(anchors > 0, np.full(len(anchors), "ours"))


ap_scores = np.random.default_rng(0).normal(size=16)
ap_labels = (np.arange(16) % 4 == 0).astype(int)
package = UniLoss(AveragePrecision(), sampler=our_sampler, standardise=True, temperature=3.0,
                  seed=7)  # fmt: skip
package_loss = float(package(ap_scores, ap_labels))
ours_ap = average_precision(ap_scores.shape, ap_labels)
z_ap = np.ravel(standardised(ap_scores))
c_ap = z_ap[ours_ap[0]] - z_ap[ours_ap[1]]
our_anchors = draw_anchors(c_ap, ours_ap[2], np.random.default_rng(7))
our_loss = float(loss(ap_scores, ours_ap, our_anchors, 3.0, 1.0, True))
our_values = ours_ap[3](our_anchors)
sampler_difference = abs(package_loss - our_loss)
print(f"the package with your sampler: loss {package_loss:.6f}; yours: {our_loss:.6f} "
      f"(difference {sampler_difference:.1e})")  # fmt: skip
print(f"values: truth {our_values[0]:.2f}, good {np.unique(our_values[1:17])}, "
      f"bad {np.unique(our_values[33:49])}")  # fmt: skip

# %% [markdown]
# ## Exercises: break a step, predict, then run
#
# Each exercise breaks one trap on purpose, in a port that is otherwise yours; predict
# which conformance quantities fail before you run it.
#
# **Exercise 1.** Replace the exact-hit branch by the usual epsilon:
# $w_k = 1 / (d_k + 10^{-12})^p$. Which quantities fail, and on which cases?


# %%
def interpolate_with_epsilon(b, anchors, values, power=1.0):
    w = 1.0 / (anp.sqrt(squared_distances(b, anchors)) + 1e-12) ** power
    return anp.dot(w, values) / anp.sum(w)


def failures(port):
    """A port's report and its failing (case, quantity) pairs (broken versions may warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checks = verify(port, cases=OURS)
    failed = checks.by_status("fail") + checks.by_status("error")
    return checks, sorted({(c.case, c.quantity) for c in failed})


epsilon_report, exercise_1 = failures(make_port(interpolate=interpolate_with_epsilon))
exercise_1_cases = sorted({case for case, _ in exercise_1})
for case in exercise_1_cases:
    print(f"{case:<26} fails:", *(quantity for name, quantity in exercise_1 if name == case))
print(f"{len(exercise_1_cases)} cases fail")
exercise_1_near = {
    c.case: c.ratio
    for c in epsilon_report.checks
    if c.case.endswith("/very-near-anchor") and c.quantity == "surrogate"
}
print("surrogate error / tolerance on the very-near-anchor cases:",
      ", ".join(f"{case} {ratio:.2f}" for case, ratio in exercise_1_near.items()))  # fmt: skip

# %% [markdown]
# <details><summary>Answer</summary>
#
# 14 cases fail. The **surrogate**, the **loss** and the **gradient** fail where
# $\tilde b$ lies exactly on an anchor (the `*/extreme-on-anchor` cases), and where it
# lies next to one at a large power (`*/large-power`, $p = 64$ and 40), where
# $(d_k + 10^{-12})^{-p}$ overflows and makes them NaN. On an anchor the epsilon
# leaves the other anchors a weight of about $10^{-12}$ of the nearest one's, enough to
# move $\tilde h$ by more than its tolerance, and the gradient, which should be exactly
# zero there, is differentiated through $\sqrt{d^2}$ at $d = 0$. The surrogate and the
# loss fail where $\tilde b$ lies $10^{-6}$ from an anchor (`*/near-anchor`), where the
# epsilon is no longer small next to $d_k$. On the `*/very-near-anchor` cases the error
# is about the size of the tolerance, from 0.50 to 3.68 times it, so it depends on the
# anchors' values whether a case fails: `ap-counts/very-near-anchor` passes at half the
# tolerance, the other five fail. The exact branch has none of these problems.
#
# </details>
#
# **Exercise 2.** Expand the distance the textbook way,
# $d_k^2 = \lVert \tilde b \rVert^2 - 2 a_k \cdot \tilde b + l$. Which quantities fail?


# %%
def squared_distances_expanded(b, anchors):
    return anp.sum(b**2) - 2.0 * anp.dot(anchors, b) + b.size


def interpolate_expanded(b, anchors, values, power=1.0):
    w = weights(squared_distances_expanded(b, anchors), power)
    return anp.dot(w, values) / anp.sum(w)


_, exercise_2 = failures(make_port(interpolate_expanded, squared_distances_expanded))
for case in sorted({case for case, _ in exercise_2}):
    print(f"{case:<26} fails:", *(quantity for name, quantity in exercise_2 if name == case))

# %% [markdown]
# <details><summary>Answer</summary>
#
# The **distances** fail where $\tilde b$ comes close to an anchor (the `*/near-anchor`,
# `*/very-near-anchor` and `*/large-power` cases, $10^{-6}$ and about $10^{-10}$ away),
# and, except on the two large-power cases (at so large a power the nearest anchor takes
# nearly all the weight either way), the surrogate, loss and gradient with them: the
# expanded form subtracts numbers of size $l$ to get one of size $10^{-12}$ and keeps
# almost none of its digits. Far from every anchor it is accurate enough, which is why a
# port can look right on ordinary batches and still be wrong.
#
# </details>
#
# **Exercise 3.** Use autograd's own `anp.tanh` for the relaxation. Does anything fail?

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    tanh_relaxation = lambda c: anp.tanh(c / 2.0)
    exercise_3_gradient = autograd.grad(lambda c: anp.sum(tanh_relaxation(c)))(
        np.array([0.5, 1e6, -1e6])
    )
exercise_3_warnings = sorted({str(w.message) for w in caught})
print(f"gradient {exercise_3_gradient}; warnings: {exercise_3_warnings}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# The numbers are right (the gradient at $c = \pm 10^6$ is 0, as it should be), but NumPy
# warns: **overflow encountered in cosh**. autograd differentiates $\tanh x$ as
# $1 / \cosh^2 x$, and $\cosh(5 \cdot 10^5)$ overflows to infinity. A test suite that
# treats warnings as errors, as this package's does, fails there; a framework that traps
# floating-point errors stops. Writing the derivative through the output,
# $(1 - \tilde b^2) / 2\tau$, never forms the huge number.
#
# </details>
#
# ## What you learned
#
# * The whole of UniLoss is a few short functions: a metric's pairs and $h$, the optional
#   standardisation, $\tilde b = \tanh(c / 2\tau)$, the anchors, the distances, the
#   weights, the weighted mean and $1 - \tilde h$; autograd differentiates it.
# * Four traps decide whether a port is right, and the conformance cases catch each: a
#   slope that overflows, distances that cancel, weights that overflow, and exactness at
#   an anchor, which needs a branch, not an epsilon.
# * Random steps (the anchors) are checked by what each draw must be; deterministic steps
#   by their numbers, on every case at once.
#
# **Next**, chapter 5 trains a real network with the package's version of what you just
# wrote: the paper's MLP on the digits, ranked by AP, against binary cross-entropy.
