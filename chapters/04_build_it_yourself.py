# %% [markdown]
# # 4. Build it yourself: UniLoss from scratch
#
# Chapters 1 to 3 used the package. This chapter writes the whole method again from
# nothing but NumPy and autograd, in about 100 lines, and then checks it twice: against
# the package (same anchors, same values and gradients to rounding) and against the
# **conformance vectors** that every port of UniLoss must pass. If you are porting UniLoss
# to another framework, this is the text to read first: each piece below is one function
# to translate, and the traps are marked where they occur.
#
# The five pieces, in the order of the method:
#
# 1. **the metric as pairs and `h`** (chapter 1): label-dependent pairs `(i, j)`, the
#    rows they form, and `h` on a stack of configurations;
# 2. **the relaxation** `b~ = tanh(c / 2 tau)` (chapter 2), with a gradient that cannot
#    overflow;
# 3. **the anchors** (chapter 3): truth, good, nearby, bad, current and row;
# 4. **inverse distance weighting** (chapter 2): distances without cancellation, the
#    exact-hit branch, weights in the log domain;
# 5. **the loss** `1 - h~`, differentiated by autograd.
#
# Run it cell by cell as a notebook, or `python chapters/04_build_it_yourself.py`.

# %%
import warnings

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from uniloss_ref import tutorial

lesson = tutorial.setup(__name__, "04", "Chapter 4: UniLoss from scratch, checked.")

# %% [markdown]
# ## 1. The metric: pairs `(i, j)` and `h`
#
# A metric is a function that looks at a batch's labels once and returns four things:
# the index arrays `i` and `j` into the flattened scores (comparison `m` is
# `c_m = s[i_m] - s[j_m]`, oriented so that `c_m > 0` is what we want), the row starts
# (row `r` is comparisons `rows[r]:rows[r + 1]`, the group that decides one unit of the
# metric), and `h`, which takes `K` configurations `b` of shape `(K, l)` (entries `+-1`;
# a tie counted as `-1` before it gets here) and returns `K` values.
#
# AP and ROC AUC compare every positive with every negative, positive-major. AP's `h`
# counts, per positive, the negatives above it (chapter 1), and scores 0 a configuration
# that no ranking produces (the rows' "negatives above" sets are not nested).
# Accuracy compares each sample's target class with every other class. PCK compares,
# per joint, every pixel within the radius with every pixel outside it; a joint is
# correct iff some positive pixel's row is all `+1`. The **order of the pairs** is part
# of the contract: the anchors' columns refer to it.


# %%
def ranking_pairs(labels):
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    return np.repeat(pos, neg.size), np.tile(neg, pos.size), np.arange(pos.size + 1) * neg.size


def average_precision(shape, labels, interpolated=False, unrealisable="zero"):
    i, j, rows = ranking_pairs(labels)
    P, N = len(rows) - 1, int((labels == 0).sum())

    def h(b):
        if P == 0 or N == 0:
            return np.ones(len(b))
        above = (b <= 0).reshape(len(b), P, N)  # negative q is ranked above positive p
        counts = above.sum(axis=2)
        k = np.arange(1, P + 1)
        precision = k / (k + np.sort(counts, axis=1))
        if interpolated:  # VOC all-point AP: precision replaced by its running max from below
            precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        ap = precision.mean(axis=1)
        if unrealisable == "zero":  # a ranking exists iff the "above" sets are nested
            order = np.argsort(counts, axis=1, kind="stable")[:, :, None]
            chain = np.take_along_axis(above, order, axis=1)
            ap[~(chain[:, :-1] <= chain[:, 1:]).all(axis=(1, 2))] = 0.0
        return ap

    return i, j, rows, h


def roc_auc(shape, labels):
    i, j, rows = ranking_pairs(labels)
    return i, j, rows, lambda b: (b > 0).mean(axis=1) if b.shape[1] else np.ones(len(b))


def accuracy(shape, targets, top_k=1):
    n, classes = shape
    flat = np.arange(n * classes).reshape(n, classes)
    others = np.arange(classes)[None, :] != targets[:, None]
    i, j = np.repeat(flat[np.arange(n), targets], classes - 1), flat[others]
    h = lambda b: ((b <= 0).reshape(len(b), n, classes - 1).sum(axis=2) < top_k).mean(axis=1)
    return i, j, np.arange(n + 1) * (classes - 1), h


def pck(shape, targets, threshold=0.5):
    _, _, height, width = shape
    x, y = targets["xy"][..., 0], targets["xy"][..., 1]
    inside = (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
    counted = (targets["visible"] & inside).ravel()  # joints, sample-major
    yy, xx = np.divmod(np.arange(height * width), width)
    radius = threshold * targets["scale"][:, None, None]
    near = ((xx - x[..., None]) ** 2 + (yy - y[..., None]) ** 2 <= radius**2).reshape(-1, xx.size)
    i, j, blocks, rows, always = [], [], [], [0], 0
    for joint in np.flatnonzero(counted):
        pos, neg = np.flatnonzero(near[joint]), np.flatnonzero(~near[joint])
        if pos.size and neg.size:
            i.append(joint * xx.size + np.repeat(pos, neg.size))
            j.append(joint * xx.size + np.tile(neg, pos.size))
            blocks.append((pos.size, neg.size))
            rows += list(rows[-1] + neg.size * np.arange(1, pos.size + 1))
        else:  # no negative pixel: always correct; no positive pixel: never
            always += int(pos.size > 0)

    def h(b):
        if not counted.any():
            return np.ones(len(b))
        correct, start = np.full(len(b), float(always)), 0
        for p, q in blocks:
            correct += (b[:, start : start + p * q] > 0).reshape(len(b), p, q).all(2).any(1)
            start += p * q
        return correct / counted.sum()

    empty = np.zeros(0, dtype=int)
    return np.concatenate([empty, *i]), np.concatenate([empty, *j]), np.array(rows), h


# %% [markdown]
# A check on chapter 1's batch: you should see 12 pairs and AP **0.7222** from `h`.

# %%
scores_1 = np.array([0.4, -1.1, 0.9, 0.8, -0.2, -0.5, 0.3])
i_1, j_1, rows_1, h_1 = average_precision(scores_1.shape, np.array([1, 0, 1, 0, 0, 1, 0]))
ap_1 = float(h_1(np.where(scores_1[i_1] - scores_1[j_1] > 0, 1.0, -1.0)[None, :])[0])
print(f"{i_1.size} pairs, rows start at {rows_1}, AP = h(sign(c)) = {ap_1:.4f}")

# %% [markdown]
# ## 2. The relaxation
#
# `b~ = tanh(c / 2 tau)`. **Trap:** autograd's rule for `tanh` divides by `cosh(x)^2`,
# which overflows (with a warning) once `|c| / tau > 710`, as it does for a confident
# network. Written through the output, the derivative `(1 - b~^2) / 2 tau` cannot
# overflow; we declare the relaxation a primitive with that vector-Jacobian product.


# %%
@primitive
def relax(c, temperature):
    return np.tanh(c / (2.0 * temperature))


defvjp(relax, lambda b, c, temperature: lambda g: g * (1.0 - b**2) / (2.0 * temperature))

# %% [markdown]
# You should see `b~ = (-1, 0.2449, 1)` and the slopes `(0, 0.47, 0)`, with no warning.

# %%
c_demo = np.array([-1e6, 0.5, 1e6])
relaxed_demo = relax(c_demo, 1.0)
slope_demo = autograd.grad(lambda c: anp.sum(relax(c, 1.0)))(c_demo)
print(f"b~ = {np.round(relaxed_demo, 4)}, d b~ / d c = {np.round(slope_demo, 4)}")


# %% [markdown]
# ## 3. The anchors
#
# Around the ground truth (all `+1`) and the current configuration `sign(c)` (chapter 3):
# `truth` itself, `good` (truth with one random bit flipped), `nearby` (`sign(c)` with one
# wrong bit set right; a `good` one when nothing is wrong), `bad` (uniformly random),
# `current` (`sign(c)` itself) and `row` (`sign(c)` with one whole row set right). The
# anchors are constants: they are drawn from the comparisons' values, not from anything
# autograd traces.


# %%
def draw_anchors(c, rows, rng, truth=1, good=16, nearby=16, bad=16, current=0, row=0):
    goal, now = np.ones(c.size), np.where(c > 0, 1.0, -1.0)
    wrong = np.flatnonzero(now < 0)

    def flip(base, m):
        a = base.copy()
        a[m] = -a[m]
        return a

    anchors = [goal] * truth + [flip(goal, rng.integers(c.size)) for _ in range(good)]
    anchors += [flip(now, rng.choice(wrong)) if wrong.size else flip(goal, rng.integers(c.size))
                for _ in range(nearby)]  # fmt: skip
    anchors += list(rng.choice([-1.0, 1.0], size=(bad, c.size))) + [now] * current
    for r in rng.integers(len(rows) - 1, size=row):
        anchors.append(now.copy())
        anchors[-1][rows[r] : rows[r + 1]] = 1.0
    return np.array(anchors).reshape(-1, c.size)


# %% [markdown]
# On chapter 1's batch (with one `current` and two `row` anchors): you should see 52
# anchors of 12 comparisons: the truth worth 1, every `good` anchor worth 0.9167 (with
# 3 positives, `(2 + 3/4) / 3`), some `nearby` and `bad` ones worth 0 (no ranking
# produces them), the `current` one worth the batch's AP, 0.7222, and the `row` anchors
# at least that.

# %%
c_1 = scores_1[i_1] - scores_1[j_1]
anchors_1 = draw_anchors(c_1, rows_1, np.random.default_rng(0), current=1, row=2)
values_1 = h_1(anchors_1)
kinds_1 = np.repeat(["truth", "good", "nearby", "bad", "current", "row"], [1, 16, 16, 16, 1, 2])
print(f"{anchors_1.shape[0]} anchors of {anchors_1.shape[1]} comparisons; values by kind:")
for kind in dict.fromkeys(kinds_1):
    print(f"  {kind:<8}", np.unique(values_1[kinds_1 == kind]).round(4))


# %% [markdown]
# ## 4. Inverse distance weighting
#
# Three traps, each of which the conformance vectors catch:
#
# * **Distances without cancellation.** `||b~ - a||^2` expanded as `|b~|^2 - 2 a.b~ + l`
#   subtracts numbers of size `l` to get one near 0 when `b~` is close to an anchor, and
#   loses every digit. Every `a_m` is `+-1`, so sum `(1 - b~_m)^2` where `a_m = +1` and
#   `(1 + b~_m)^2` where `a_m = -1`: non-negative terms, exactly zero on the anchor.
# * **Exact at an anchor by a branch, not an epsilon.** Where some `d_k` is exactly 0,
#   `h~` is that anchor's value. Adding `0 * sum(b~)` keeps `h~` a function of `b~`, so
#   its gradient is an honest zero.
# * **Weights in the log domain.** `w_k = d_k^-p` overflows for a tiny `d_k`. With
#   `log w_k = -p/2 log d_k^2`, subtract the largest before exponentiating; the shift
#   cancels in `w_k / sum w`, so it is held constant for the gradient (`getval`).


# %%
def squared_distances(b, anchors):
    plus = (anchors > 0).astype(float)
    return anp.dot(plus, (1.0 - b) ** 2) + anp.dot(1.0 - plus, (1.0 + b) ** 2)


def interpolate(b, anchors, values, power=1.0):
    d2 = squared_distances(b, anchors)
    hit = np.flatnonzero(getval(d2) == 0)
    if hit.size:
        return values[hit[0]] + 0.0 * anp.sum(b)
    log_w = -0.5 * power * anp.log(d2)
    w = anp.exp(log_w - np.max(getval(log_w)))
    return anp.dot(w, values) / anp.sum(w)


# %% [markdown]
# You should see `h~` exactly 1 on the truth anchor, with a gradient of exactly zero, and
# between the smallest and largest anchor value at the batch's relaxed `b~`.

# %%
on_truth = interpolate(anchors_1[0], anchors_1, values_1)
on_truth_gradient = autograd.grad(interpolate)(anchors_1[0], anchors_1, values_1)
at_batch = interpolate(relax(c_1, 1.0), anchors_1, values_1)
print(f"h~(truth) = {on_truth}, gradient {on_truth_gradient.tolist()}")
print(f"h~(b~) = {at_batch:.4f}, anchor values from {values_1.min():.4f} to {values_1.max():.4f}")

# %% [markdown]
# ## 5. The loss
#
# Comparisons, relaxation, anchor values, interpolation: `1 - h~`. For training, draw
# fresh anchors from the current comparisons at every step.


# %%
def uniloss(scores, metric, anchors, temperature=1.0, power=1.0):
    i, j, _, h = metric
    flat = anp.reshape(scores, (-1,))
    b = relax(flat[i] - flat[j], temperature)
    return 1.0 - interpolate(b, anchors, h(anchors), power)


def uniloss_step(scores, metric, rng, temperature=1.0, power=1.0, **counts):
    i, j, rows, _ = metric
    flat = np.ravel(getval(scores))
    anchors = draw_anchors(flat[i] - flat[j], rows, rng, **counts)
    return uniloss(scores, metric, anchors, temperature, power)


# %% [markdown]
# That is the whole method: the code cells above hold about 100 lines (and a few more to
# try each piece). Its gradient,
# `autograd.grad(uniloss_step)`, is what a training loop needs.
#
# ## Check 1: the same numbers as the package
#
# The package draws anchors for a batch (`UniLoss(...).draw_anchors`; `.configurations`
# writes them out as a `(K, l)` array of `+-1`), and then both implementations compute
# the anchor values, the loss and its gradient at those same anchors. We do it for an AP
# batch, an accuracy batch and a PCK batch, at the temperature and anchor mix each
# chapter trains with. You should see every difference below **1e-12**.

# %%
from uniloss_ref import AnchorSampler, UniLoss, inspect, surrogate
from uniloss_ref.metrics import PCK, Accuracy, AveragePrecision, KeypointTargets

rng = np.random.default_rng(0)
keypoints = {
    "xy": rng.uniform(1.0, 6.0, size=(2, 3, 2)),
    "visible": np.array([[True, True, False], [True, True, True]]),
    "scale": np.array([3.0, 2.0]),
}
batches = {  # name: package metric, ours, scores, labels, temperature, anchor counts
    "AP": (AveragePrecision(), average_precision, rng.normal(size=16),
           (np.arange(16) % 4 == 0).astype(int), 1.0, {"current": 1}),
    "accuracy": (Accuracy(), accuracy, rng.normal(size=(8, 5)), rng.integers(0, 5, size=8),
                 0.3, {"current": 1, "row": 16}),
    "PCK": (PCK(), pck, rng.normal(size=(2, 3, 8, 8)), keypoints, 0.3, {"current": 1}),
}  # fmt: skip
package_differences = {}
for name, (metric, ours, scores, labels, tau, counts) in batches.items():
    theirs = KeypointTargets(**labels, heatmap_shape=(8, 8)) if name == "PCK" else labels
    anchors = UniLoss(metric, sampler=AnchorSampler(**counts), seed=1).draw_anchors(scores, theirs)
    anchors = anchors.configurations
    reference = inspect(scores, theirs, metric, anchors, temperature=tau)

    def reference_loss(s, theirs=theirs, metric=metric, anchors=anchors, tau=tau):
        return 1.0 - surrogate(s, theirs, metric, anchors, temperature=tau)

    mine = ours(scores.shape, labels)
    package_differences[name] = {
        "values": np.abs(mine[3](anchors) - reference.values).max(),
        "loss": abs(uniloss(scores, mine, anchors, tau) - reference.loss),
        "gradient": np.abs(
            autograd.grad(uniloss)(scores, mine, anchors, tau)
            - autograd.grad(reference_loss)(scores)
        ).max(),
    }
    print(
        f"{name:<8} l = {mine[0].size:>4}, K = {len(anchors)}: largest difference in "
        + ", ".join(f"{key} {value:.1e}" for key, value in package_differences[name].items())
    )

# %% [markdown]
# The sampler is the one piece that cannot match bit for bit: it draws from the random
# generator in its own order. It plugs into the package all the same. A sampler is any
# function `(c, refactoring, rng) -> Anchors`, so the package's `UniLoss` can train with
# ours (`DenseAnchors` holds a `(K, l)` array written out). Given the same seed, the
# package's loss with our sampler and our own `uniloss_step` draw the same anchors and
# agree. You should see the two losses equal to rounding (difference below **1e-12**),
# and our anchors' values: `truth` worth 1, every `good` anchor worth 0.95 (chapter 3's
# exercise), and `bad` ones worth 0.

# %%
from uniloss_ref import DenseAnchors


def our_sampler(c, refactoring, rng):
    anchors = draw_anchors(c, refactoring.row_starts, rng, current=1)
    return DenseAnchors(anchors > 0, np.full(len(anchors), "ours"))


metric, ours, scores, labels, _, _ = batches["AP"]
package_loss = UniLoss(metric, sampler=our_sampler, seed=7)(scores, labels)
our_loss = uniloss_step(scores, ours(scores.shape, labels), np.random.default_rng(7), current=1)
our_anchors = draw_anchors(
    scores[ours(scores.shape, labels)[0]] - scores[ours(scores.shape, labels)[1]],
    ours(scores.shape, labels)[2],
    np.random.default_rng(7),
    current=1,
)
our_values = ours(scores.shape, labels)[3](our_anchors)
sampler_difference = abs(package_loss - our_loss)
print(f"the package with our sampler: loss {package_loss:.6f}; ours: {our_loss:.6f}")
print(f"values: truth {our_values[0]:.2f}, good {np.unique(our_values[1:17])}, "
      f"bad {np.unique(our_values[33:49])}")  # fmt: skip

# %% [markdown]
# ## Check 2: the conformance vectors
#
# The package ships named cases for every metric, with the anchors written out and every
# intermediate quantity the reference computes (`docs/porting.md` describes the file). A
# port is a function `port(case) -> dict`: it receives one case's inputs (metric name and
# parameters, scores, targets, anchors, temperature, power) and returns the quantities.
# `uniloss_ref.conformance.verify(port)` runs it over every case and compares each
# quantity with its tolerance. Ours is a thin wrapper around the functions above.

# %%
from uniloss_ref.conformance import verify

METRICS = {"AveragePrecision": average_precision, "RocAuc": roc_auc, "Accuracy": accuracy,
           "PCK": pck}  # fmt: skip


def standardised(s):
    """``s / sd(s)`` over the whole batch: the one step the package adds to the paper."""
    top = np.max(np.abs(getval(s)))  # divide by it first so no square overflows
    unit = s / top if top > 0 else s
    sd = anp.sqrt(anp.mean((unit - anp.mean(unit)) ** 2))
    # Equal scores (sd = 0), or an sd so small that 1 / sd overflows, stay as they are.
    return unit / sd if getval(sd) * top >= np.finfo(float).tiny else s


def port(case):
    scores, anchors, tau, p = case["scores"], case["anchors"], case["temperature"], case["power"]
    metric = METRICS[case["metric"]](scores.shape, case["targets"], **case["params"])
    i, j, _, h = metric
    scale = standardised if case["standardise"] else (lambda s: s)
    loss_of = lambda s: uniloss(scale(s), metric, anchors, tau, p)
    z = scale(scores)
    c = z.ravel()[i] - z.ravel()[j]
    hard = np.where(c > 0, 1.0, -1.0)
    b = relax(c, tau)
    loss = loss_of(scores)
    return {
        "comparisons": c,
        "hard": hard,
        "relaxed": b,
        "distances": np.sqrt(squared_distances(b, anchors)),
        "anchor_values": h(anchors),
        "batch_metric": h(hard[None, :])[0],
        "surrogate": 1.0 - loss,
        "loss": loss,
        "gradient": autograd.grad(loss_of)(scores),
    }


# %% [markdown]
# You should see every quantity pass on all **72** cases, the degenerate ones included
# (no positives, one class, ties, scores of `1e6`, `b~` exactly on an anchor and `1e-6`
# from one), each quantity's worst error a small fraction of its tolerance. Nine cases
# compare standardised scores `s / sd(s)`, which the AP task uses (chapter 5); the port
# below adds that one step.

# %%
report = verify(port)
print(report)

# %% [markdown]
# ## Check 3: the package's own plain statement
#
# The package keeps a page like this one, `uniloss_ref/plain.py`: the method written
# directly, every anchor a row of a `(K, l)` matrix, which its fast path is tested equal
# to. Its sampler draws the package's anchors from a seed, so here both versions take
# the same anchors: `plain.draw_anchors` draws them, and our `uniloss` and `plain.loss`
# (which draws them itself, from a generator seeded alike) compute the loss and its
# gradient. You should see both differences below **1e-12**: two independent texts of the
# method, one number.

# %%
from uniloss_ref import plain

metric, ours, scores, labels, _, _ = batches["AP"]
mine = ours(scores.shape, labels)
c_ap = scores[mine[0]] - scores[mine[1]]
plain_anchors = plain.draw_anchors(c_ap, mine[2], np.random.default_rng(11), current=1)
plain_loss = lambda s: plain.loss(s, labels, metric, np.random.default_rng(11),
                                  sampler={"current": 1})  # fmt: skip
plain_differences = {
    "loss": abs(uniloss(scores, mine, plain_anchors) - plain_loss(scores)),
    "gradient": np.abs(
        autograd.grad(uniloss)(scores, mine, plain_anchors) - autograd.grad(plain_loss)(scores)
    ).max(),
}
print(", ".join(f"{key} differs by {value:.1e}" for key, value in plain_differences.items()))

# %% [markdown]
# ## Exercises: predict, then run
#
# Each exercise breaks one trap on purpose; predict which conformance quantities fail.
#
# **Exercise 1.** Replace the exact-hit branch by the usual epsilon: `w_k = 1 /
# (d_k + 1e-12)`. Which quantities fail, and on which cases?


# %%
def interpolate_with_epsilon(b, anchors, values, power=1.0):
    w = 1.0 / (anp.sqrt(squared_distances(b, anchors)) + 1e-12) ** power
    return anp.dot(w, values) / anp.sum(w)


def failures(broken):
    """The failing (case, quantity) pairs of our port with ``interpolate`` replaced."""
    global interpolate
    kept, interpolate = interpolate, broken
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the broken versions may overflow on purpose
            checks = verify(port).by_status("fail") + verify(port).by_status("error")
    finally:
        interpolate = kept
    return sorted({(check.case, check.quantity) for check in checks})


exercise_1 = failures(interpolate_with_epsilon)
for case in dict.fromkeys(case for case, _ in exercise_1):
    print(f"{case:<26} fails:", *(quantity for name, quantity in exercise_1 if name == case))

# %% [markdown]
# <details><summary>Answer</summary>
#
# The **surrogate** and the **loss** fail where `b~` lies exactly on an anchor (the
# `*/extreme-on-anchor` cases) and where it lies `1e-6` or `1e-10` from one
# (`*/near-anchor`, `*/very-near-anchor`, and `*/large-power`, the same at p = 64 and 40,
# where `(d + 1e-12)^-p` overflows), and the **gradient** fails on the first and the last. On an
# anchor the epsilon leaves the other anchors a weight of about `1e-12` of the nearest
# one's, enough to move `h~` by more than the
# tolerance of `1e-12`, and the gradient, which should be exactly zero there, is
# differentiated through `sqrt(d^2)` at `d = 0`. Near an anchor the epsilon is no longer
# small next to `d_k`. The exact branch has neither problem: on an anchor `h~` is the
# anchor's value and its gradient zero; elsewhere no epsilon touches the weights.
#
# </details>
#
# **Exercise 2.** Expand the distance the textbook way, `d_k^2 = |b~|^2 - 2 a_k.b~ + l`.
# Which quantities fail?


# %%
def squared_distances_expanded(b, anchors):
    return anp.sum(b**2) - 2.0 * anp.dot(anchors, b) + b.size


def failures_of_distances(broken):
    global squared_distances
    kept, squared_distances = squared_distances, broken
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            checks = verify(port).by_status("fail") + verify(port).by_status("error")
    finally:
        squared_distances = kept
    return sorted({(check.case, check.quantity) for check in checks})


exercise_2 = failures_of_distances(squared_distances_expanded)
for case in dict.fromkeys(case for case, _ in exercise_2):
    print(f"{case:<26} fails:", *(quantity for name, quantity in exercise_2 if name == case))

# %% [markdown]
# <details><summary>Answer</summary>
#
# The **distances** fail where `b~` comes close to an anchor (the `*/near-anchor`,
# `*/very-near-anchor` and `*/large-power` cases, `1e-6` and `1e-10` away), and the
# surrogate, loss and gradient with them: the expanded form
# subtracts numbers of size `l` to get one of size `1e-12` and keeps almost none of its
# digits. Far from every anchor it is accurate enough, which is why a port can look
# right on ordinary batches and still be wrong.
#
# </details>
#
# **Exercise 3.** Use autograd's own `anp.tanh` for the relaxation. Does anything fail?

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    plain = lambda s: anp.tanh(s / 2.0)
    exercise_3_gradient = autograd.grad(lambda c: anp.sum(plain(c)))(np.array([0.5, 1e6, -1e6]))
exercise_3_warnings = sorted({str(w.message) for w in caught})
print(f"gradient {exercise_3_gradient}; warnings: {exercise_3_warnings}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# The numbers are right (the gradient at `c = +-1e6` is 0, as it should be), but NumPy
# warns: **overflow encountered in cosh**. autograd differentiates `tanh(x)` as
# `1 / cosh(x)^2`, and `cosh(5e5)` overflows to infinity. A test suite that treats
# warnings as errors, as this package's does, fails there; a framework that traps
# floating-point errors stops. Writing the derivative through the output,
# `(1 - b~^2) / 2 tau`, never forms the huge number.
#
# </details>
