# %% [markdown]
# # 3. Anchors: where the interpolation looks
#
# Chapter 2 interpolated the metric $h$ from its exact values $v_k = h(a_k)$ at a few
# corners $a_k$ of the cube $\{-1, +1\}^l$, the **anchors**, by inverse distance
# weighting:
#
# $$d_k = \lVert \tilde b - a_k \rVert, \qquad w_k = d_k^{-p}, \qquad
#   \tilde h = \frac{\sum_k w_k v_k}{\sum_k w_k},$$
#
# where $\tilde b = \tanh(c / 2\tau)$ are the relaxed comparisons of the batch, $\tau$ the
# temperature and $p$ the power. With two comparisons every corner could be an anchor. A
# real batch has hundreds or thousands of comparisons and $2^l$ corners, so UniLoss draws
# a few dozen anchors afresh at every training step. Which corners it draws decides what
# the gradient says. This chapter looks at each kind of anchor, measures what it adds to
# the gradient, and then looks at PCK (keypoint accuracy), where random anchors carry no
# information about which way is up and are still needed: a short training run shows what
# happens without them.
#
# Run it cell by cell as a notebook (`python -m uniloss_ref tutorial --notebooks DIR`), or
# as a script: `python chapters/03_anchors.py` (`--quick` for fewer random batches,
# `--help` for the options).

# %%
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from uniloss_ref import AnchorSampler, UniLoss, exercises, surrogate, tutorial
from uniloss_ref.anchors import KINDS, smallest_margins
from uniloss_ref.interpolation import squared_distances
from uniloss_ref.metrics import PCK, Accuracy, AveragePrecision, KeypointTargets, Metric, RocAuc
from uniloss_ref.relaxation import relaxed_binary

lesson = tutorial.setup(__name__, "03", "Chapter 3: anchors, where the interpolation looks.")

# %% [markdown]
# ## The kinds of anchor
#
# Two configurations serve as landmarks. The **ground truth** is all $+1$: every
# comparison comes out as desired, the best the batch can do. The **current
# configuration** is $\mathrm{sign}(c)$ for the scores as they are now (chapter 1's $b$). The
# paper draws four kinds of anchor around them (its default counts in brackets):
#
# | kind | the configuration | why |
# | --- | --- | --- |
# | `truth` [1] | the ground truth | the goal |
# | `good` [16] | the ground truth, one random comparison flipped | near-perfect corners |
# | `nearby` [16] | the current one, one wrong comparison set right | a step from here |
# | `bad` [16] | uniformly random | what "worse" looks like |
#
# The package offers two more. `current` is the current configuration itself; with it
# among the anchors, $\tilde h$ approaches the true batch metric as $\tau \to 0$. `row` sets a
# whole *row* of the current configuration to $+1$. A row is the group of comparisons
# that decides one unit of the metric: for AP, one positive's comparisons against every
# negative (setting its row moves that positive above all negatives); for PCK below, one
# candidate pixel's comparisons against every pixel outside the target radius.
#
# `UniLoss(metric, sampler=AnchorSampler(current=1, row=4)).inspect(scores, labels)`
# draws one set of anchors as a training step would (here the paper's 49, one `current`
# and four `row` anchors, as many as the batch below has positives) and returns every
# intermediate: the anchors, their `kinds`, values, distances and normalised weights
# $w_k / \sum_j w_j$.

# %%
AP = AveragePrecision()


def ap_batch(rng: np.random.Generator, n: int = 16, positives: int = 4) -> tuple:
    """A random AP batch: normal scores ``(n,)`` and 0/1 labels ``(n,)`` with ``positives``."""
    labels = np.zeros(n, dtype=int)
    labels[rng.choice(n, size=positives, replace=False)] = 1
    return rng.normal(size=n), labels


def kind_table(evaluation: Any) -> dict[str, dict[str, float]]:
    """Per kind drawn: how many anchors, their mean value, mean distance and total weight."""
    table = {}
    for kind in KINDS:
        mask = evaluation.kinds == kind
        if mask.any():
            table[kind] = {
                "count": int(mask.sum()),
                "value": float(evaluation.values[mask].mean()),
                "distance": float(evaluation.distances[mask].mean()),
                "weight": float(evaluation.weights[mask].sum()),
            }
    return table


# %% [markdown]
# You should see one batch's anchors, kind by kind: `truth` worth 1, `bad` worth **0**,
# and the `nearby` and `current` anchors about half as far from $\tilde b$ as `truth` and
# `good` (the `row` and `bad` ones in between). The `nearby` anchors, close and numerous,
# take the largest share of the weight of any kind (**0.436** of it), but not most of it:
# with the `current` anchor, **0.465**; the far kinds keep the rest between them.
# $\tilde h$ lies above the batch's true AP: the anchors near the goal lift it.

# %%
example_scores, example_labels = ap_batch(np.random.default_rng(0))
with_rows = AnchorSampler(current=1, row=4)  # the paper's 49, one current, four row anchors
example = UniLoss(AP, sampler=with_rows, seed=0).inspect(example_scores, example_labels)
print(f"h~ = {example.surrogate:.4f}, true batch AP = {example.batch_metric:.4f}")
print("kind     count  mean v_k  mean d_k  total weight")
example_table = kind_table(example)
for kind, row in example_table.items():
    print(
        f"{kind:<8} {row['count']:>5}  {row['value']:8.3f}  {row['distance']:8.2f}"
        f"  {row['weight']:12.3f}"
    )
near_weight = example_table["nearby"]["weight"] + example_table["current"]["weight"]
print(f"nearby + current: total weight {near_weight:.3f}")

# %% [markdown]
# ## The gradient is a sum of pulls, one per anchor
#
# Differentiate $\tilde h$ with respect to $\tilde b$ (write $W = \sum_k w_k$; the quotient
# rule, then $\sum_k w_k (v_k - \tilde h) = 0$):
#
# $$\nabla \tilde h = \sum_k (v_k - \tilde h)\, \frac{\nabla w_k}{W}, \qquad
#   \nabla w_k = p\, w_k\, \frac{a_k - \tilde b}{d_k^2}.$$
#
# $\nabla w_k$ points from $\tilde b$ towards $a_k$. So each anchor **pulls $\tilde b$
# towards itself when its value is above the current estimate $\tilde h$, and pushes it
# away when below**, more strongly the closer it is. The gradient with respect to the
# scores follows by the chain rule through $\tilde b(s)$, which is linear in the pull, so
# the contributions of the anchors of each kind add up to the full gradient exactly. We
# compute each kind's term with autograd (only the anchors of that kind kept in the sum;
# $\tilde h$ and $W$ held at their current values) and check that the kinds add up to
# autograd's full gradient.


# %%
def kind_contributions(
    metric: Metric, scores: np.ndarray, targets: Any, evaluation: Any, power: float = 1.0
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The full gradient of ``h~`` with respect to the scores, and each kind's share of it.

    Parameters
    ----------
    metric : Metric
    scores : ndarray
        The batch's scores ``s``.
    targets : array_like
        The batch's labels.
    evaluation : uniloss_ref.Evaluation
        ``UniLoss(..., power=power).inspect(scores, targets)`` (temperature 1).
    power : float, default 1.0
        The IDW power ``p`` that ``evaluation`` used.

    Returns
    -------
    full : ndarray, shape of ``scores``
        ``d h~ / d s`` with the anchors fixed (autograd).
    parts : dict
        ``kind -> d h~ / d s`` restricted to the pulls of that kind's anchors; they sum to
        ``full``.
    """
    anchors, values, h0 = evaluation.anchors, evaluation.values, evaluation.surrogate
    b0 = evaluation.relaxed
    batch = metric.refactor(scores.shape, targets)
    normaliser = float(np.sum(squared_distances(b0, anchors) ** (-power / 2)))

    def pull(b, mask):
        w = squared_distances(b, anchors) ** (-power / 2)  # w_k = d_k ** -p
        return anp.sum(((values - h0) * w)[mask]) / normaliser

    def to_scores(g_b):
        # The chain rule through b~(s): the vector-Jacobian product of g_b.
        relaxed = lambda s: anp.dot(g_b, relaxed_binary(batch.comparisons(s)))
        return autograd.grad(relaxed)(scores)

    parts = {}
    for kind in np.unique(evaluation.kinds):
        parts[str(kind)] = to_scores(autograd.grad(pull)(b0, evaluation.kinds == kind))
    full_h = lambda s: surrogate(s, targets, metric, anchors, power=power)
    return autograd.grad(full_h)(scores), parts


def _averages(rows: dict[str, list], names: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Per kind (in the order of ``KINDS``), the mean of each named statistic over batches."""
    return {
        kind: dict(zip(names, map(float, np.mean(rows[kind], axis=0)), strict=True))
        for kind in KINDS
        if kind in rows
    }


# %% [markdown]
# ## What each kind adds to the gradient (average precision)
#
# On many random AP batches (16 samples, 4 positives, $l = 48$ comparisons; 49 paper
# anchors plus one `current` and four `row` anchors) we measure for each kind:
#
# * **share**: the part of the full gradient $g$ along its contribution $g_{\text{kind}}$,
#   `<g_kind, g> / <g, g>` (the shares of all kinds sum to 1);
# * **cosine** of $g_{\text{kind}}$ with $g$;
# * **up / down**: how often a step of length 0.5 along $g_{\text{kind}}$ alone raises or lowers
#   the batch's true AP.


# %%
def ap_study(batches: int, seed: int = 0) -> dict:
    """Per-kind statistics of the gradient over random AP batches.

    Returns
    -------
    dict
        ``kinds`` (kind -> share, cosine, up, down, value, value_positive) and
        ``sum_error`` (the largest relative error of the kinds' sum against the full
        gradient).
    """
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {}
    sum_error = 0.0
    for _ in range(batches):
        scores, labels = ap_batch(rng)
        evaluation = UniLoss(AP, sampler=with_rows, seed=rng).inspect(scores, labels)
        full, parts = kind_contributions(AP, scores, labels, evaluation)
        total = sum(parts.values())
        sum_error = max(sum_error, float(np.abs(total - full).max() / np.abs(full).max()))
        before = AP.evaluate(scores, labels)
        for kind, part in parts.items():
            step = AP.evaluate(scores + 0.5 * part / np.linalg.norm(part), labels) - before
            values = evaluation.values[evaluation.kinds == kind]
            rows.setdefault(kind, []).append(
                (
                    part @ full / (full @ full),
                    part @ full / np.linalg.norm(part) / np.linalg.norm(full),
                    step > 0,
                    step < 0,
                    values.mean(),
                    (values > 0).mean(),
                )
            )
    names = ("share", "cosine", "up", "down", "value", "value_positive")
    return {"kinds": _averages(rows, names), "sum_error": sum_error}


# %% [markdown]
# You should see (over 200 batches, 50 with `--quick`) the kinds' terms add up to
# autograd's gradient (relative error below `1e-9`), and:
#
# * **`truth` and `good`** carry most of the gradient (together more than 75% of it) and
#   point almost exactly along it (cosine above 0.93): all of them sit at or next to the
#   goal, with values near 1, above $\tilde h$. A step along their pull alone raises AP in
#   almost every batch (at least 95%).
# * **`bad`** anchors are worth **0** here, all but a handful. With dozens of comparisons a
#   random configuration is almost never one that a ranking produces (chapter 1), and AP
#   scores those 0 (the authors' convention); only in a batch with a single positive is
#   every configuration a ranking. They are below $\tilde h$, so they push $\tilde b$ away
#   from random corners: a small share, at an angle to the gradient, and a step along it
#   alone is a coin flip for AP.
# * **`nearby`** anchors are meant to be one step up from the current configuration. But
#   setting one comparison right often gives a configuration that no ranking produces,
#   worth 0: about half of them here. (The positive now beats a negative that still beats
#   a positive ranked above it: a cycle, as in chapter 1.) And $\tilde h$ sits above the
#   current AP (the `truth` and `good` anchors lift it), so even the others are mostly
#   below $\tilde h$ and push. Their term alone lowers AP more often than it raises it.
#   The next section shows a rule for the nearby anchors that avoids the cycles.
# * **`row`** anchors, one positive moved above every negative, are never worth less than
#   the current AP (the configuration stays one a ranking produces); a step along their
#   pull alone raises AP in most batches (at least 80%).
# * **`current`** adds little: its value is the batch's AP, close to $\tilde h$.

# %%
ap = ap_study(50 if lesson.quick else 200)
print(f"kinds add up to the full gradient: largest relative error {ap['sum_error']:.1e}")
print("kind      share  cosine  step raises AP  lowers AP  mean v_k  v_k > 0")
for kind, row in ap["kinds"].items():
    print(
        f"{kind:<8} {row['share']:+.3f}  {row['cosine']:+.3f}  {row['up']:14.0%}  "
        f"{row['down']:9.0%}  {row['value']:8.3f}  {row['value_positive']:7.0%}"
    )
goal_share = ap["kinds"]["truth"]["share"] + ap["kinds"]["good"]["share"]
print(f"truth + good: share {goal_share:.3f}")

# %% [markdown]
# ## PCK: random anchors say nothing about which way is up
#
# PCK scores keypoint heatmaps (one image of scores per joint): a joint is correct when
# its heatmap's highest pixel lies within a radius of the true location. Per joint, the
# pixels within the radius are the positives and all others the negatives, and the
# comparisons are every (positive pixel, negative pixel) pair. The joint is correct iff
# *some* positive pixel beats *every* negative one, i.e. iff some row of its $b$ matrix
# is all $+1$.
#
# With 8x8 heatmaps a row has about 55 comparisons. A random configuration completes one
# with probability $2^{-55}$: never. So every `bad` anchor scores PCK = 0 and says nothing
# about which way is up. A `nearby` anchor sets one comparison right, which almost never
# completes a row either, so its value is the current PCK: no information. A `row`
# anchor sets one candidate pixel's whole row right, making its joint correct: its value
# is one joint above the current PCK (unless that joint was already correct), and it is
# as close to the current configuration as the `nearby` ones. PCK therefore asks for 16
# row anchors by default (`PCK.default_anchors`).
#
# That the `bad` anchors carry no information about the *direction* does not make them
# useless. They are worth less than $\tilde h$, so they push $\tilde b$ away from themselves, and
# they lie in every direction around the centre of the cube: on average they push $\tilde b$
# outwards, making each comparison more decided in whichever way it currently goes. For
# a heatmap that means more contrast. The anchors close to the current configuration
# (`current`, `nearby`) are worth less than $\tilde h$ too, and they push $\tilde b$ away from
# $\mathrm{sign}(c)$, towards the centre: less contrast, flatter heatmaps. We measure, per kind,
# the **contrast** of its pull: the cosine between its ascent direction and the scores'
# deviations from their heatmap's mean (positive: sharpens the heatmaps, negative:
# flattens them).


# %%
def pck_batch(rng: np.random.Generator, n: int = 2) -> tuple[np.ndarray, KeypointTargets]:
    """Random 8x8 heatmaps ``(n, 3, 8, 8)`` for 3 joints, radius ``0.5 * 3`` pixels."""
    targets = KeypointTargets(
        xy=rng.uniform(1.0, 6.0, size=(n, 3, 2)),
        visible=np.ones((n, 3), dtype=bool),
        scale=np.full(n, 3.0),
        heatmap_shape=(8, 8),
    )
    return rng.normal(size=(n, 3, 8, 8)), targets


def contrast(direction: np.ndarray, scores: np.ndarray) -> float:
    """Cosine of ``direction`` with the scores' deviations from each heatmap's mean."""
    centred = scores - scores.mean(axis=(-2, -1), keepdims=True)
    return float(np.sum(direction * centred) / np.linalg.norm(direction) / np.linalg.norm(centred))


def pck_study(batches: int, seed: int = 1) -> dict:
    """Per-kind anchor values, distances and contrast for PCK, over random heatmap batches.

    Returns
    -------
    dict
        ``kinds``: kind -> ``value_positive``, ``above_current`` (fractions of anchors with
        value > 0 and above the batch's PCK), ``distance`` (mean ``d_k``), ``share`` and
        ``contrast``; ``goal_signs``: the fraction of batches in which the pull of
        ``truth`` + ``good`` raises every positive pixel and lowers every negative one;
        ``example``: the first batch's scores, targets and per-kind contributions.
    """
    rng = np.random.default_rng(seed)
    metric = PCK()
    rows: dict[str, list] = {}
    example, goal_signs = None, []
    for _ in range(batches):
        scores, targets = pck_batch(rng)
        sampler = AnchorSampler(current=1, **metric.default_anchors)
        evaluation = UniLoss(metric, sampler=sampler, seed=rng).inspect(scores, targets)
        full, parts = kind_contributions(metric, scores, targets, evaluation)
        if example is None:
            example = {"scores": scores, "targets": targets, "parts": parts}
        goal = (parts["truth"] + parts["good"]).ravel()
        batch = metric.refactor(scores.shape, targets)
        goal_signs.append(bool((goal[batch.i] > 0).all() and (goal[batch.j] < 0).all()))
        for kind, part in parts.items():
            mask = evaluation.kinds == kind
            values = evaluation.values[mask]
            rows.setdefault(kind, []).append(
                (
                    (values > 0).mean(),
                    (values > evaluation.batch_metric).mean(),
                    evaluation.distances[mask].mean(),
                    part.ravel() @ full.ravel() / (full.ravel() @ full.ravel()),
                    contrast(part, scores),
                )
            )
    names = ("value_positive", "above_current", "distance", "share", "contrast")
    return {"kinds": _averages(rows, names), "goal_signs": float(np.mean(goal_signs)),
            "example": example}  # fmt: skip


# %% [markdown]
# You should see (over 40 batches of 2 x 3 heatmaps, 20 with `--quick`): **no** `bad`
# anchor worth more than 0, **no** `nearby` anchor worth more than the current PCK, and
# most `row` anchors worth more (over 75%). `row`, `nearby` and `current` anchors are
# about as far from $\tilde b$ as each other; `truth`, `good` and `bad` are much farther (more
# than 1.4 times). In every batch the pull of `truth` and `good` raises every positive
# pixel and lowers every other one. And the contrast column: **positive** for `bad`
# (their pull sharpens the heatmaps), **negative** for `current`, `nearby` and `row`
# (theirs flattens them), and slightly negative for `truth` and `good`.

# %%
pck = pck_study(20 if lesson.quick else 40)
print("kind     value > 0  value > current PCK  mean d_k  contrast")
for kind, row in pck["kinds"].items():
    print(
        f"{kind:<8} {row['value_positive']:9.0%}  {row['above_current']:19.0%}  "
        f"{row['distance']:8.1f}  {row['contrast']:+8.3f}"
    )
print(
    f"the pull of truth + good raises every positive pixel and lowers every other one in "
    f"{pck['goal_signs']:.0%} of batches"
)

# %% [markdown]
# The summary figure: for AP, each kind's share of the gradient and its cosine with it;
# for PCK, the fraction of each kind's anchors worth more than the current PCK, their
# mean distance from $\tilde b$, and the contrast of their pull.

# %%
fig = Figure(figsize=(15, 3.8), layout="constrained")
share_axes, cosine_axes, above_axes, distance_axes, contrast_axes = fig.subplots(1, 5)
ap_kinds = list(ap["kinds"])
for axes, key, title in ((share_axes, "share", "AP: share of the gradient"),
                         (cosine_axes, "cosine", "AP: cosine with the gradient")):  # fmt: skip
    axes.bar(range(len(ap_kinds)), [ap["kinds"][kind][key] for kind in ap_kinds])
    axes.axhline(0.0, color="black", lw=0.8)
    axes.set_xticks(range(len(ap_kinds)), ap_kinds, rotation=30)
    axes.set_title(title)
share_axes.set_ylabel("<g_kind, g> / <g, g>")
pck_kinds = list(pck["kinds"])
panels = (
    (above_axes, "above_current", "PCK: worth more than now", "fraction of anchors"),
    (distance_axes, "distance", "PCK: mean distance from b~", "d_k"),
    (contrast_axes, "contrast", "PCK: contrast of the pull", "cosine"),
)
for axes, key, title, label in panels:
    axes.bar(range(len(pck_kinds)), [pck["kinds"][kind][key] for kind in pck_kinds],
             color="tab:green")  # fmt: skip
    axes.axhline(0.0, color="black", lw=0.8)
    axes.set_xticks(range(len(pck_kinds)), pck_kinds, rotation=30)
    axes.set(title=title, ylabel=label)
lesson.show(fig, "03_anchor_kinds.png")

# %% [markdown]
# And one joint's heatmap, with the target radius drawn (the pixels inside are its
# positives), next to the ascent direction $d \tilde h / d s$ (red: raise the score, blue:
# lower it) that three kinds of anchor contribute, each with its own colour scale. The
# `truth` and `good` anchors raise every positive pixel and lower every other one. The
# `row` anchors act on the few candidate pixels they picked: one worth more than $\tilde h$
# raises its pixel, one worth less pushes it down. The `bad` anchors' push lands mostly
# around the target too (those pixels take part in the most comparisons), raising what
# already scores high and lowering what scores low: the positive contrast measured above.

# %%
pulls = pck["example"]
x, y = pulls["targets"].xy[0, 0]
radius = PCK().threshold * pulls["targets"].scale[0]
fig = Figure(figsize=(15, 3.6), layout="constrained")
maps = [
    ("scores\n(sample 0, joint 0)", pulls["scores"][0, 0], "viridis"),
    (
        "pull of\ntruth + good",
        pulls["parts"]["truth"][0, 0] + pulls["parts"]["good"][0, 0],
        "RdBu_r",
    ),
    ("pull of\nrow anchors", pulls["parts"]["row"][0, 0], "RdBu_r"),
    ("pull of\nbad anchors", pulls["parts"]["bad"][0, 0], "RdBu_r"),
]
for axes, (title, image, cmap) in zip(fig.subplots(1, 4), maps, strict=True):
    limit = np.abs(image).max()
    bounds = {} if cmap == "viridis" else {"vmin": -limit, "vmax": limit}
    shown = axes.imshow(image, cmap=cmap, **bounds)
    axes.add_patch(Circle((x, y), radius, fill=False, color="black", lw=1.5))
    axes.set(title=title, xticks=[], yticks=[])
    fig.colorbar(shown, ax=axes, shrink=0.85, format="%.0e" if cmap != "viridis" else None)
lesson.show(fig, "03_pck_pulls.png")

# %% [markdown]
# ## Random anchors are needed all the same: a training run
#
# Does the contrast matter? We train heatmaps directly: the scores of 4 images x 3
# joints are the parameters, updated by Adam (learning rate 0.05) on the UniLoss of PCK
# at $\tau = 0.3$, with PCK's default anchors plus the current configuration, once with
# the 16 `bad` anchors and once without them; fresh anchors at every step. We record PCK
# after 25 and 100 steps and the contrast of the maps (the standard deviation of each
# heatmap's scores, averaged; it starts near 1).


# %%
def train_heatmaps(bad: int, seed: int, steps: int = 100) -> dict:
    """Adam on free heatmap scores against the UniLoss of PCK; PCK and contrast on the way.

    Parameters
    ----------
    bad : int
        How many random anchors per step.
    seed : int
        The batch, and the anchors' draws.
    steps : int, default 100

    Returns
    -------
    dict
        ``pck_25``, ``pck`` (after 25 and ``steps`` steps), ``contrast_0`` and ``contrast``
        (mean standard deviation of a heatmap's scores, before and after).
    """
    scores, targets = pck_batch(np.random.default_rng(seed), n=4)
    metric = PCK()
    sampler = AnchorSampler(current=1, bad=bad, row=16)  # PCK's 16 row anchors, as by default
    loss = UniLoss(metric, sampler=sampler, temperature=0.3, seed=seed)
    gradient = autograd.grad(loss)
    spread = lambda s: float(s.reshape(-1, 64).std(axis=1).mean())
    first, second, record = np.zeros_like(scores), np.zeros_like(scores), {}
    record["contrast_0"] = spread(scores)
    for step in range(1, steps + 1):
        g = gradient(scores, targets)
        first, second = 0.9 * first + 0.1 * g, 0.999 * second + 0.001 * g**2
        scores = scores - 0.05 * (first / (1 - 0.9**step)) / (
            np.sqrt(second / (1 - 0.999**step)) + 1e-8
        )
        if step == 25:
            record["pck_25"] = metric.evaluate(scores, targets)
    record["pck"], record["contrast"] = metric.evaluate(scores, targets), spread(scores)
    return record


# %% [markdown]
# You should see, on every seed, the contrast **grow** with the `bad` anchors (above 1.3)
# and **shrink** without them (below 0.6), and PCK after 25 steps higher with them (on
# average above 0.6, against below 0.35 without). After 100 steps the maps without them
# have mostly caught up (PCK about 0.7 on average against about 0.8, though a seed can
# stay behind): free heatmaps can be sharpened pixel by pixel later. A network cannot: its
# weights are shared by every pixel and every image, and `docs/reproduction.md` measured
# the flattening run to the end there. Training the keypoint network without the 16
# random anchors ($\tau = 0.3$, 4 epochs) gave flat heatmaps and PCK **0.00**, against
# 90.49 with them. So the random anchors carry no information about which way is up for
# PCK, but they keep the maps from going flat, and the default keeps them.

# %%
heatmap_runs = {
    bad: [train_heatmaps(bad, seed) for seed in range(3 if lesson.quick else 5)] for bad in (16, 0)
}
for bad, records in heatmap_runs.items():
    for seed, record in enumerate(records):
        print(
            f"bad = {bad:>2}, seed {seed}: PCK after 25 steps {record['pck_25']:.2f}, after 100 "
            f"{record['pck']:.2f}; contrast {record['contrast_0']:.2f} -> {record['contrast']:.2f}"
        )
    means = {key: np.mean([r[key] for r in records]) for key in ("pck_25", "pck", "contrast")}
    print(f"bad = {bad:>2}, mean: PCK after 25 steps {means['pck_25']:.2f}, after 100 "
          f"{means['pck']:.2f}; contrast {means['contrast']:.2f}")  # fmt: skip

# %% [markdown]
# ## Exercises: predict, then run
#
# Write down your prediction before you run each cell; then open the answer. The last
# exercise asks you to write code in a cell marked **✎ yours**.
#
# **Exercise 1.** The `good` anchors above, with 4 positives, are all worth 0.95. What is
# a `good` anchor worth in a batch of 2 positives and 14 negatives? A `good` anchor is
# the ground truth with one comparison flipped.

# %%
scores, labels = ap_batch(np.random.default_rng(3), positives=2)
seen = UniLoss(AP, seed=3).inspect(scores, labels)
exercise_1 = np.unique(seen.values[seen.kinds == "good"])
print(f"values of the good anchors: {exercise_1}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# **0.8333** each. Flipping one comparison puts one negative above one positive; a
# ranking produces that configuration (that positive just below that negative, above all
# others), so it keeps its AP: one positive at rank 1 (precision 1) and one at rank 3
# with 2 positives up to it (precision 2/3), $(1 + 2/3) / 2 = 0.8333$. With $P$
# positives it is `(P - 1 + P / (P + 1)) / P`, whichever comparison is flipped: 0.95 for
# $P = 4$. The fewer the positives, the more one mistake costs, and the steeper the pull
# of the `good` anchors.
#
# </details>
#
# **Exercise 2.** For ROC AUC, whose $h$ is the fraction of $+1$ entries and counts
# every configuration, what is the mean value of the `bad` anchors (uniformly random
# configurations)?

# %%
auc_values = []
rng = np.random.default_rng(2)
for _ in range(20):
    scores, labels = ap_batch(rng)
    seen = UniLoss(RocAuc(), seed=rng).inspect(scores, labels)
    auc_values.append(seen.values[seen.kinds == "bad"])
exercise_2 = float(np.mean(auc_values))
print(f"mean value of the bad anchors for ROC AUC: {exercise_2:.3f}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# About **0.5**: each of the 48 entries is $+1$ with probability 1/2. Unlike AP's, these
# random anchors are not all worth 0, so for AUC they do say something about which way
# is up: a random configuration with more $+1$ entries is worth more.
#
# </details>
#
# **Exercise 3.** Accuracy on a batch of 8 samples of 4 classes, 3 of them right
# (accuracy 0.375). A `row` anchor sets one sample's whole row right. What values can
# the `row` anchors take?

# %%
accuracy_scores = np.tile([0.0, 1.0, 2.0, 3.0], (8, 1))  # class 3 wins every sample
accuracy_targets = np.array([3, 3, 3, 0, 1, 2, 0, 1])  # so samples 0, 1 and 2 are right
row_anchors = UniLoss(Accuracy(), sampler=AnchorSampler(row=16), seed=0)
seen = row_anchors.inspect(accuracy_scores, accuracy_targets)
exercise_3 = np.unique(seen.values[seen.kinds == "row"])
print(f"batch accuracy {seen.batch_metric:.3f}; values of the row anchors: {exercise_3}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# **0.375 or 0.5**. A row anchor on one of the 5 wrong samples makes it right:
# $4/8 = 0.5$. A row anchor on a sample that is already right changes nothing: 0.375.
# Row anchors are never worth less than the current configuration.
#
# </details>
#
# **Exercise 4 (code): change a sampler.** For AP, about half the `nearby` anchors are
# worth 0: setting a random wrong comparison right often makes a cycle. A better rule,
# which the AP task uses (`AnchorSampler(nearby_rule="margin")`), sets right in each row
# the wrong comparison of **smallest margin**: among the row's comparisons with
# $c_m \le 0$, the one with the largest $c_m$ (the first of equals). For AP that moves the
# positive up past the one negative just above it, which a ranking can always do. Write
# `margin_choices(c, row_starts)`: the index of that comparison in every row that has a
# wrong one, rows in order (an empty array when none is wrong). The check compares it with
# the package's rule on 200 random AP and accuracy batches, ties included; the cell after
# it counts how many nearby anchors are worth more than 0 under each rule.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def margin_choices(c, row_starts):
    """Per row with a wrong comparison (``c <= 0``), the index of its largest wrong ``c``."""
    ...


# %%
margin_rng = np.random.default_rng(5)
margin_inputs = {}
for k in range(100):
    scores, labels = ap_batch(margin_rng)
    scores = np.round(scores, 1)  # ties: equal scores give c = 0, a wrong comparison
    batch = AP.refactor(scores.shape, labels)
    margin_inputs[f"AP batch {k}"] = (batch.comparisons(scores), batch.row_starts)
    class_scores = np.round(margin_rng.normal(size=(6, 4)), 1)
    batch = Accuracy().refactor(class_scores.shape, margin_rng.integers(0, 4, size=6))
    margin_inputs[f"accuracy batch {k}"] = (batch.comparisons(class_scores), batch.row_starts)
exercise_4 = exercises.agree_on(
    "margin_choices",
    margin_choices,
    lambda c, rows: smallest_margins(c, np.flatnonzero(c <= 0), rows),
    margin_inputs,
    hint="for each row r, the wrong ones are c[row_starts[r]:row_starts[r + 1]] <= 0; take "
    "the largest of them (np.argmax gives the first of equals) as an index into c",
    required=False,
)

# %% [markdown]
# With the rule in place: on 50 random AP batches (16 samples, 4 positives), the share of
# nearby anchors worth more than 0 under each rule. You should see about half under the
# random rule and **100%** under the margin rule.

# %%
rule_rng = np.random.default_rng(6)
worth_something = {"random": [], "margin": []}
for _ in range(50):
    scores, labels = ap_batch(rule_rng)
    for rule, shares in worth_something.items():
        seen = UniLoss(AP, sampler=AnchorSampler(nearby_rule=rule), seed=rule_rng).inspect(
            scores, labels
        )
        shares.append(np.mean(seen.values[seen.kinds == "nearby"] > 0))
exercise_4_worth = {rule: float(np.mean(shares)) for rule, shares in worth_something.items()}
for rule, share in exercise_4_worth.items():
    print(f"nearby_rule={rule!r}: {share:.0%} of the nearby anchors are worth more than 0")

# %% [markdown]
# <details><summary>Answer</summary>
#
# The shipped solution (`chapters/solutions/03_anchors.py`) walks the rows: for each, the
# wrong comparisons of that row, and the index of the largest. With the margin rule every
# nearby anchor of an AP batch is a configuration some ranking produces, so none is worth
# 0, and each is worth at least the batch's AP: a step up, which is what a nearby anchor
# was meant to be. The package draws its margin anchors from the same choices, one row at
# random per anchor.
#
# </details>
#
# ## What you learned
#
# * The anchors are corners drawn around two landmarks, the ground truth and the current
#   configuration $\mathrm{sign}(c)$: `truth`, `good`, `nearby` and `bad` (the paper's
#   49), and the package's `current` and `row`.
# * The gradient of $\tilde h$ is a sum of pulls, one per anchor: towards anchors worth
#   more than $\tilde h$, away from those worth less, stronger when closer. For AP the
#   anchors at the goal carry most of it.
# * A kind of anchor can matter without carrying direction: for PCK the random anchors
#   are all worth 0, yet they keep heatmaps sharp; without them the maps flatten.
# * A sampler is a rule you can change: the margin rule makes every nearby anchor of AP a
#   real step up.
#
# **Next**, chapter 4 has you write the whole method yourself, from the metric's pairs to
# the loss, each step checked against the package.
