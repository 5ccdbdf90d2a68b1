# %% [markdown]
# # 3. Anchors: where the interpolation looks
#
# Chapter 2 interpolated the metric `h` from its exact values `v_k = h(a_k)` at a few
# corners `a_k` of the cube `{-1, +1}^l`, the **anchors**, by inverse distance
# weighting:
#
#     d_k = || b~ - a_k ||,    w_k = d_k ** (-p),    h~ = sum_k w_k v_k / sum_k w_k,
#
# where `b~ = tanh(c / (2 tau))` are the relaxed comparisons of the batch, `tau` the
# temperature and `p` the power. With two comparisons every corner could be an anchor.
# A real batch has hundreds or thousands of comparisons and `2^l` corners, so UniLoss
# draws a few dozen anchors afresh at every training step. Which corners it draws
# decides what the gradient says. This chapter looks at each kind of anchor, measures
# what it adds to the gradient, and shows why random anchors carry no information for
# PCK (keypoint accuracy) and what "row" anchors do instead.
#
# Run it as `python chapters/03_anchors.py` or open it as a notebook.

# %%
from __future__ import annotations

from pathlib import Path
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from uniloss_ref import UniLoss, surrogate
from uniloss_ref.anchors import KINDS
from uniloss_ref.interpolation import squared_distances
from uniloss_ref.metrics import PCK, AveragePrecision, KeypointTargets, Metric
from uniloss_ref.relaxation import relaxed_binary

# %% [markdown]
# ## The kinds of anchor
#
# Two configurations serve as landmarks. The **ground truth** is all `+1`: every
# comparison comes out as desired, the best the batch can do. The **current
# configuration** is `sign(c)` for the scores as they are now (chapter 1's `b`). The
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
# among the anchors, `h~` approaches the true batch metric as `tau -> 0`. `row` sets a
# whole *row* of the current configuration to `+1`. A row is the group of comparisons
# that decides one unit of the metric: for AP, one positive's comparisons against every
# negative (setting its row moves that positive above all negatives); for PCK below, one
# candidate pixel's comparisons against every pixel outside the target radius.
#
# `UniLoss(metric, current=1, rows=4).inspect(scores, labels)` draws one set of anchors
# as a training step would (here the paper's 49, one `current` and four `row` anchors,
# as many as the batch below has positives) and returns every intermediate: the
# anchors, their `kinds`, values, distances and normalised weights `w_k / sum_j w_j`.

# %%
AP = AveragePrecision()


def ap_batch(rng: np.random.Generator, n: int = 16, positives: int = 4) -> tuple:
    """A random AP batch: normal scores and ``positives`` positives among ``n``.

    Parameters
    ----------
    rng : numpy.random.Generator
    n, positives : int

    Returns
    -------
    scores : ndarray of shape (n,)
    labels : ndarray of shape (n,)
    """
    labels = np.zeros(n, dtype=int)
    labels[rng.choice(n, size=positives, replace=False)] = 1
    return rng.normal(size=n), labels


def kind_table(evaluation: Any) -> dict[str, dict[str, float]]:
    """Per kind: how many anchors, their mean value, mean distance and total weight.

    Parameters
    ----------
    evaluation : uniloss_ref.Evaluation
        The result of ``UniLoss.inspect``.

    Returns
    -------
    dict
        ``kind -> {"count", "value", "distance", "weight"}`` for the kinds drawn.
    """
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
# ## The gradient is a sum of pulls, one per anchor
#
# Differentiate `h~` with respect to `b~` (`W = sum_k w_k`; the quotient rule, then
# `sum_k w_k (v_k - h~) = 0`):
#
#     grad h~ = sum_k (v_k - h~) * grad(w_k) / W,     grad(w_k) = p * w_k * (a_k - b~) / d_k^2.
#
# `grad(w_k)` points from `b~` towards `a_k`. So each anchor **pulls `b~` towards itself
# when its value is above the current estimate `h~`, and pushes it away when below**,
# more strongly the closer it is. The gradient with respect to the scores follows by the
# chain rule through `b~(s)`, which is linear in the pull, so the contributions of the
# anchors of each kind add up to the full gradient exactly. We compute each kind's term
# with autograd (only the anchors of that kind kept in the sum; `h~` and `W` held at
# their current values) and check that the kinds add up to autograd's full gradient.


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
    normaliser = float(np.sum(squared_distances(b0, anchors) ** (-power / 2)))

    def full_h(s):
        return surrogate(s, targets, metric, anchors, values=values, power=power)

    def pull(b, mask):
        w = squared_distances(b, anchors) ** (-power / 2)  # w_k = d_k ** -p
        return anp.sum(((values - h0) * w)[mask]) / normaliser

    def to_scores(g_b):
        # The chain rule through b~(s): the vector-Jacobian product of g_b.
        relaxed = lambda s: anp.dot(g_b, relaxed_binary(metric.comparisons(s, targets)))
        return autograd.grad(relaxed)(scores)

    parts = {}
    for kind in np.unique(evaluation.kinds):
        parts[str(kind)] = to_scores(autograd.grad(pull)(b0, evaluation.kinds == kind))
    return autograd.grad(full_h)(scores), parts


# %% [markdown]
# ## What each kind adds to the gradient (average precision)
#
# On many random AP batches (16 samples, 4 positives, `l = 48` comparisons; 49 paper
# anchors plus one `current` and four `row` anchors) we measure for each kind:
#
# * **share**: the part of the full gradient `g` along its contribution `g_kind`,
#   `<g_kind, g> / <g, g>` (the shares of all kinds sum to 1);
# * **cosine** of `g_kind` with `g`;
# * **up / down**: how often a step of length 0.5 along `g_kind` alone raises or lowers
#   the batch's true AP.


# %%
def ap_study(batches: int, seed: int = 0) -> dict:
    """Per-kind statistics of the gradient over random AP batches.

    Parameters
    ----------
    batches : int
        How many random batches.
    seed : int, default 0

    Returns
    -------
    dict
        ``kinds`` (the kind -> statistics table: share, cosine, up, down, value,
        value_positive), ``sum_error`` (largest relative error of the kinds' sum against
        the full gradient) and ``example`` (the :func:`kind_table` of the first batch,
        with its ``surrogate`` and ``batch_metric``).
    """
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {}
    sum_error, example = 0.0, None
    for _ in range(batches):
        scores, labels = ap_batch(rng)
        evaluation = UniLoss(AP, current=1, rows=4, seed=rng).inspect(scores, labels)
        if example is None:
            example = {
                "table": kind_table(evaluation),
                "surrogate": evaluation.surrogate,
                "batch_metric": evaluation.batch_metric,
            }
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
    return {"kinds": _averages(rows, names), "sum_error": sum_error, "example": example}


# %% [markdown]
# What the numbers say (see the printout):
#
# * **`truth` and `good`** carry most of the gradient (together about 85% of it) and
#   point almost exactly along it (cosine about 0.96): all of them sit at or next to the
#   goal, with values near 1, above `h~`. A step along their pull alone raises AP in
#   almost every batch.
# * **`bad`** anchors are all worth exactly **0** here. With 48 comparisons, a random
#   configuration is one that no ranking produces (chapter 1), and AP scores those 0
#   (the authors' convention). They are below `h~`, so they push `b~` away from random
#   corners: a small share, at an angle to the gradient (negative cosine), and a step
#   along it alone is a coin flip for AP.
# * **`nearby`** anchors are meant to be one step up from the current configuration.
#   But setting one comparison right often gives a configuration that no ranking
#   produces, worth 0: about half of them here. (The positive now beats a negative that
#   still beats a positive ranked above it: a cycle, as in chapter 1.) And `h~` sits
#   above the current AP (the `truth` and `good` anchors lift it), so even the others
#   are mostly below `h~` and push. Their term alone lowers AP more often than it
#   raises it.
# * **`row`** anchors, one positive moved above every negative, are never worth less
#   than the current AP (the configuration stays one a ranking produces); a step along
#   their pull alone raises AP in most batches (about 90%).
# * **`current`** adds little: its value is the batch's AP, close to `h~`.

# %% [markdown]
# ## PCK: why random anchors carry nothing, and what rows do instead
#
# PCK scores keypoint heatmaps (one image of scores per joint): a joint is correct when
# its heatmap's highest pixel lies within a radius of the true location. Per joint, the
# pixels within the radius are the positives and all others the negatives, and the
# comparisons are every (positive pixel, negative pixel) pair. The joint is correct iff
# *some* positive pixel beats *every* negative one, i.e. iff some row of its `b` matrix
# is all `+1`.
#
# With 8x8 heatmaps a row has about 55 comparisons. A random configuration completes one
# with probability `2^-55`: never. So every `bad` anchor scores PCK = 0 and says nothing
# about which way is up. A `nearby` anchor sets one comparison right, which almost never
# completes a row either, so its value is the current PCK: no information. A `row`
# anchor sets one candidate pixel's whole row right, making its joint correct: its value
# is one joint above the current PCK (unless that joint was already correct), and it is
# as close to the current configuration as the `nearby` ones. PCK therefore asks for 16
# row anchors by default (`PCK.row_anchors`).


# %%
def pck_batch(rng: np.random.Generator) -> tuple[np.ndarray, KeypointTargets]:
    """Random 8x8 heatmaps for 2 samples x 3 joints, with true keypoints inside.

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    scores : ndarray of shape (2, 3, 8, 8)
    targets : KeypointTargets
        Radius ``0.5 * 3`` pixels around each keypoint.
    """
    targets = KeypointTargets(
        xy=rng.uniform(1.0, 6.0, size=(2, 3, 2)),
        visible=np.ones((2, 3), dtype=bool),
        scale=np.full(2, 3.0),
        heatmap_shape=(8, 8),
    )
    return rng.normal(size=(2, 3, 8, 8)), targets


def pck_study(batches: int, seed: int = 1) -> dict:
    """Per-kind anchor values and distances for PCK, over random heatmap batches.

    Parameters
    ----------
    batches : int
    seed : int, default 1

    Returns
    -------
    dict
        ``kinds``: kind -> ``{"value_positive", "above_current", "distance", "share"}``
        (fractions of anchors with value > 0 and with value above the batch's PCK, mean
        distance, mean share of the gradient); ``goal_signs``: the fraction of batches in
        which the pull of ``truth`` + ``good`` raises every positive pixel and lowers
        every negative one; ``example``: the first batch's scores, targets, full
        gradient and per-kind contributions.
    """
    rng = np.random.default_rng(seed)
    metric = PCK()
    rows: dict[str, list] = {}
    example, goal_signs = None, []
    for _ in range(batches):
        scores, targets = pck_batch(rng)
        evaluation = UniLoss(metric, current=1, seed=rng).inspect(scores, targets)
        full, parts = kind_contributions(metric, scores, targets, evaluation)
        if example is None:
            example = {"scores": scores, "targets": targets, "full": full, "parts": parts}
        # Does the goal's pull raise every positive pixel and lower every negative one?
        goal = (parts["truth"] + parts["good"]).ravel()
        positive, negative = metric.pairs(scores, targets)
        goal_signs.append(bool((goal[positive] > 0).all() and (goal[negative] < 0).all()))
        for kind, part in parts.items():
            mask = evaluation.kinds == kind
            values = evaluation.values[mask]
            rows.setdefault(kind, []).append(
                (
                    (values > 0).mean(),
                    (values > evaluation.batch_metric).mean(),
                    evaluation.distances[mask].mean(),
                    part.ravel() @ full.ravel() / (full.ravel() @ full.ravel()),
                )
            )
    names = ("value_positive", "above_current", "distance", "share")
    return {"kinds": _averages(rows, names), "goal_signs": float(np.mean(goal_signs)),
            "example": example}  # fmt: skip


def _averages(rows: dict[str, list], names: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Per kind (in the order of ``KINDS``), the mean of each named statistic over batches."""
    return {
        kind: dict(zip(names, map(float, np.mean(rows[kind], axis=0)), strict=True))
        for kind in KINDS
        if kind in rows
    }


# %% [markdown]
# ## Figures
#
# `03_anchor_kinds.png`: for AP, each kind's share of the gradient and its cosine with
# it; for PCK, the fraction of each kind's anchors whose value is above the current PCK,
# and their mean distance from `b~`.
#
# `03_pck_pulls.png`: one joint's heatmap with the target radius drawn (the pixels
# inside are its positives), and the ascent direction `d h~ / d s` (red: raise the
# score, blue: lower it) that three kinds of anchor contribute. The `truth` and `good`
# anchors raise every positive pixel and lower every other one. The `row` anchors act
# on the few candidate pixels they picked: one worth more than `h~` raises its pixel,
# one worth less pushes it down. The `bad` anchors' push also lands on the positive
# pixels (each takes part in many comparisons), with signs that follow the random
# draws, not the metric.


# %%
def draw_kinds(ap: dict, pck: dict, path: Path) -> None:
    """Save the per-kind summary figure.

    Parameters
    ----------
    ap, pck : dict
        Outputs of :func:`ap_study` and :func:`pck_study`.
    path : Path
    """
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    share, cosine, above, distance = fig.subplots(1, 4)
    kinds = [kind for kind in KINDS if kind in ap["kinds"]]
    x = np.arange(len(kinds))
    for axes, key, title in ((share, "share", "AP: share of the gradient"),
                             (cosine, "cosine", "AP: cosine with the gradient")):  # fmt: skip
        axes.bar(x, [ap["kinds"][kind][key] for kind in kinds], color="tab:blue")
        axes.axhline(0.0, color="black", lw=0.8)
        axes.set_xticks(x, kinds, rotation=30)
        axes.set_title(title)
    share.set_ylabel("<g_kind, g> / <g, g>")
    kinds = [kind for kind in KINDS if kind in pck["kinds"]]
    x = np.arange(len(kinds))
    above.bar(x, [pck["kinds"][kind]["above_current"] for kind in kinds], color="tab:green")
    above.set(ylim=(0, 1.05), ylabel="fraction of the kind's anchors")
    above.set_title("PCK: worth more than the current PCK")
    distance.bar(x, [pck["kinds"][kind]["distance"] for kind in kinds], color="tab:green")
    distance.set(title="PCK: mean distance d_k from b~", ylabel="d_k")
    for axes in (above, distance):
        axes.set_xticks(x, kinds, rotation=30)
    fig.savefig(path, dpi=100)


def draw_pulls(example: dict, path: Path) -> None:
    """Save one joint's heatmap and three kinds' ascent directions.

    Parameters
    ----------
    example : dict
        ``pck_study(...)["example"]``.
    path : Path
    """
    scores, targets, parts = example["scores"], example["targets"], example["parts"]
    x, y = targets.xy[0, 0]
    radius = PCK().threshold * targets.scale[0]
    fig = Figure(figsize=(13, 3.4), layout="constrained")
    panels = fig.subplots(1, 4)
    maps = [
        ("scores of sample 0, joint 0", scores[0, 0], "viridis"),
        ("pull of truth + good", parts["truth"][0, 0] + parts["good"][0, 0], "RdBu_r"),
        ("pull of row anchors", parts["row"][0, 0], "RdBu_r"),
        ("pull of bad anchors", parts["bad"][0, 0], "RdBu_r"),
    ]
    for axes, (title, image, cmap) in zip(panels, maps, strict=True):
        limit = np.abs(image).max()
        bounds = {} if cmap == "viridis" else {"vmin": -limit, "vmax": limit}
        axes.imshow(image, cmap=cmap, **bounds)
        axes.add_patch(Circle((x, y), radius, fill=False, color="black", lw=1.5))
        axes.set(title=title, xticks=[], yticks=[])
    fig.savefig(path, dpi=100)


# %% [markdown]
# ## Running the chapter
#
# What you should see (AP over 200 batches, PCK over 40; `quick=True` uses fewer):
#
# * The kinds' terms add up to autograd's gradient (relative error below `1e-9`).
# * AP: `truth` + `good` carry about 85% of the gradient with cosine about 0.96 and
#   raise AP in at least 95% of batches; every `bad` anchor is worth **0**; about half
#   the `nearby` anchors are worth 0 and their term alone lowers AP more often than it
#   raises it; the `row` term raises it in most batches (at least 80%).
# * PCK: **no** `bad` anchor has a value above 0, **no** `nearby` anchor is worth more
#   than the current PCK, and most `row` anchors are (over 75%). `row` and `nearby`
#   anchors are about as far from `b~` as the current configuration; `truth`, `good` and
#   `bad` are much farther (more than 1.4 times). In every batch the pull of `truth` and
#   `good` raises every positive pixel and lowers every other one.


# %%
def main(quick: bool = False, out_dir: str | Path = "out/chapters/03") -> dict[str, Any]:
    """Run chapter 3: the kinds of anchor and what each adds to the gradient.

    Parameters
    ----------
    quick : bool, default False
        Fewer random batches (50 AP, 20 PCK instead of 200 and 40).
    out_dir : str or Path, default "out/chapters/03"
        Folder for the figures (created if missing).

    Returns
    -------
    dict
        Every number the chapter's text states.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    ap = ap_study(50 if quick else 200)
    example = ap["example"]
    print("One AP batch (16 samples, 4 positives, l = 48): the anchors drawn")
    print(f"  h~ = {example['surrogate']:.4f}, true batch AP = {example['batch_metric']:.4f}")
    print("  kind     count  mean v_k  mean d_k  total weight")
    for kind, row in example["table"].items():
        print(
            f"  {kind:<8} {row['count']:>5}  {row['value']:8.3f}  {row['distance']:8.2f}"
            f"  {row['weight']:12.3f}"
        )
    print(f"\nKinds add up to the full gradient: largest relative error {ap['sum_error']:.1e}")
    print("AP, averaged over batches:")
    print("  kind      share  cosine  step raises AP  lowers AP  mean v_k  v_k > 0")
    for kind, row in ap["kinds"].items():
        print(
            f"  {kind:<8} {row['share']:+.3f}  {row['cosine']:+.3f}  {row['up']:14.0%}  "
            f"{row['down']:9.0%}  {row['value']:8.3f}  {row['value_positive']:7.0%}"
        )

    pck = pck_study(20 if quick else 40)
    print("\nPCK (2 x 3 heatmaps of 8 x 8): kind, value > 0, value > current PCK, mean d_k")
    for kind, row in pck["kinds"].items():
        print(
            f"  {kind:<8} {row['value_positive']:5.0%}  {row['above_current']:5.0%}  "
            f"{row['distance']:6.1f}"
        )

    print(
        f"  the pull of truth + good raises every positive pixel and lowers every other "
        f"one in {pck['goal_signs']:.0%} of batches"
    )

    draw_kinds(ap, pck, out / "03_anchor_kinds.png")
    draw_pulls(pck["example"], out / "03_pck_pulls.png")
    print(f"\nfigures: {out / '03_anchor_kinds.png'}, {out / '03_pck_pulls.png'}")
    kinds = ap["kinds"]
    return {
        "sum_error": ap["sum_error"],
        "goal_share": kinds["truth"]["share"] + kinds["good"]["share"],
        "good_cosine": kinds["good"]["cosine"],
        "good_up": kinds["good"]["up"],
        "bad_value": kinds["bad"]["value"],
        "nearby_up": kinds["nearby"]["up"],
        "nearby_positive": kinds["nearby"]["value_positive"],
        "nearby_down": kinds["nearby"]["down"],
        "row_up": kinds["row"]["up"],
        "pck_bad_positive": pck["kinds"]["bad"]["value_positive"],
        "pck_nearby_above": pck["kinds"]["nearby"]["above_current"],
        "pck_row_above": pck["kinds"]["row"]["above_current"],
        "pck_distance": {kind: row["distance"] for kind, row in pck["kinds"].items()},
        "pck_goal_signs": pck["goal_signs"],
    }


# %%
if __name__ == "__main__":
    main()
