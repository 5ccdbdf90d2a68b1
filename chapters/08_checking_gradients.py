# %% [markdown]
# # 7. Checking a gradient
#
# UniLoss's loss is `1 - h~`, where `h~` interpolates the metric from its values `v_k` at
# anchor configurations `a_k` (chapters 2 and 3):
#
#     d_k = || b~ - a_k ||,    w_k = d_k ** (-p),    W = sum_k w_k,    h~ = sum_k w_k v_k / W.
#
# Training needs the gradient of `h~` with respect to the relaxed binaries `b~` (and,
# by the chain rule, the scores). There are three ways to get it:
#
# 1. **Finite differences**: nudge one coordinate of `b~` by `+-eps` and divide the
#    change in `h~` by `2 eps`. Slow (two evaluations per coordinate) and only accurate
#    to about `eps^2` plus rounding, but it needs no calculus, so it is the referee.
# 2. **Automatic differentiation**: this package writes `h~` in `autograd.numpy` and
#    lets `autograd.grad` apply the chain rule. It is exact up to rounding.
# 3. **A closed form** by hand. The quotient rule gives
#
#        grad h~ = (sum_k v_k grad w_k - h~ sum_k grad w_k) / W,
#        grad w_k = -p * w_k * (b~ - a_k) / d_k^2.
#
#    The authors' MNIST and CIFAR scripts write the second term with a `+` instead of
#    the `-`; theirs equals the true gradient plus `2 h~ grad(log W)`.
#    `uniloss_ref.experiments.authors_gradient` holds both versions, `corrected_idw_gradient` and
#    `authors_idw_gradient`.
#
# This chapter checks all of them against finite differences, measures how far the
# authors' formula is from the truth, and shows what following each does.
#
# Run it as `python chapters/07_checking_gradients.py` or open it as a notebook.

# %%
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
from matplotlib.figure import Figure

from uniloss_ref import UniLoss
from uniloss_ref.experiments.authors_gradient import (
    authors_idw_gradient,
    corrected_idw_gradient,
    interpolate_with_authors_gradient,
)
from uniloss_ref.interpolation import interpolate, squared_distances
from uniloss_ref.metrics import AveragePrecision
from uniloss_ref.relaxation import relaxed_binary

# %% [markdown]
# ## Finite differences
#
# Central differences, one coordinate at a time. The error of the formula is of order
# `eps^2` times the third derivative; rounding adds about `1e-16 / eps`. `eps = 1e-6`
# balances the two, so a correct gradient agrees to about `1e-9`.
#
# (The package's own tests use `autograd.test_util.check_grads`, which compares along
# random directions; here we want the whole vector, to measure angles.)


# %%
def finite_difference_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """The gradient of ``f`` at ``x`` by central differences, one coordinate at a time.

    Parameters
    ----------
    f : callable
        A scalar function of a vector.
    x : ndarray of shape (l,)
    eps : float, default 1e-6

    Returns
    -------
    ndarray of shape (l,)
    """
    steps = eps * np.eye(x.size)
    return np.array([(f(x + e) - f(x - e)) / (2.0 * eps) for e in steps])


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    """The cosine of the angle between two vectors."""
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


# %% [markdown]
# ## Random interpolation problems
#
# First, problems with no structure at all, as a unit test would draw them: `l = 30`
# relaxed binaries uniform in `[-0.5, 0.5]`, `K = 49` random anchors (the paper's
# number), values uniform in `[0, 1]`. For each we compare four gradients with finite
# differences and check the identity `authors = true + 2 h~ grad(log W)`.


# %%
def random_problem(rng: np.random.Generator, length: int = 30, anchors: int = 49) -> tuple:
    """``(b~, a, v)``: a random interpolation problem.

    Parameters
    ----------
    rng : numpy.random.Generator
    length : int, default 30
        ``l``.
    anchors : int, default 49
        ``K``.

    Returns
    -------
    b : ndarray of shape (l,)
    a : ndarray of shape (K, l)
    v : ndarray of shape (K,)
    """
    a = rng.choice([-1.0, 1.0], size=(anchors, length))
    return rng.uniform(-0.5, 0.5, size=length), a, rng.random(anchors)


def compare_gradients(b: np.ndarray, a: np.ndarray, v: np.ndarray) -> dict:
    """Every gradient of ``h~`` at ``b~``, measured against finite differences.

    Parameters
    ----------
    b : ndarray of shape (l,)
    a : ndarray of shape (K, l)
    v : ndarray of shape (K,)

    Returns
    -------
    dict
        Cosines with the finite-difference gradient (``autograd``, ``corrected``,
        ``authors``), ``autograd_error`` (largest difference from finite differences,
        relative to the gradient's largest entry) and ``identity_error`` (largest
        ``|authors - (true + 2 h~ grad log W)|``).
    """
    h = lambda x: interpolate(x, a, v)
    reference = finite_difference_gradient(h, b)
    ours = autograd.grad(h)(b)
    log_normaliser = lambda x: anp.log(anp.sum(squared_distances(x, a) ** -0.5))
    theirs = authors_idw_gradient(b, a, v)
    predicted = ours + 2.0 * h(b) * autograd.grad(log_normaliser)(b)
    return {
        "autograd": cosine(ours, reference),
        "corrected": cosine(corrected_idw_gradient(b, a, v), reference),
        "authors": cosine(theirs, reference),
        "autograd_error": float(np.abs(ours - reference).max() / np.abs(ours).max()),
        "identity_error": float(np.abs(theirs - predicted).max()),
    }


# %% [markdown]
# ## Following each gradient
#
# A true gradient has one guarantee: a small enough step along it raises the function.
# The authors' formula has none; a step along it raises `h~` only when its angle with the
# true gradient is below 90 degrees. We take ten steps of gradient ascent on `h~` with
# each (anchors fixed, `b~` kept inside the cube, every step of length 0.05 so that only
# the direction matters) and record whether `h~` went up.


# %%
def ascent(b: np.ndarray, a: np.ndarray, v: np.ndarray, gradient: Callable, steps: int) -> float:
    """The change in ``h~`` after ``steps`` steps of gradient ascent in ``b~``.

    Parameters
    ----------
    b, a, v : ndarray
        A problem from :func:`random_problem`.
    gradient : callable
        ``(b, a, v) -> ndarray of shape (l,)``.
    steps : int

    Returns
    -------
    float
        ``h~(after) - h~(before)``.
    """
    x = b.copy()
    for _ in range(steps):
        # Steps of a fixed length 0.05, so that only the direction matters.
        g = gradient(x, a, v)
        x = np.clip(x + 0.05 * g / np.linalg.norm(g), -0.999, 0.999)
    return float(interpolate(x, a, v) - interpolate(b, a, v))


def random_study(cases: int, seed: int = 1) -> dict:
    """Gradient checks and ascent on random problems.

    Parameters
    ----------
    cases : int
    seed : int, default 1

    Returns
    -------
    dict
        Arrays of per-case cosines (``autograd``, ``corrected``, ``authors``), errors, and
        the changes ``rise_ours`` and ``rise_authors`` after ten ascent steps.
    """
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {}
    for _ in range(cases):
        b, a, v = random_problem(rng)
        result = compare_gradients(b, a, v)
        result["rise_ours"] = ascent(b, a, v, corrected_idw_gradient, 10)
        result["rise_authors"] = ascent(b, a, v, authors_idw_gradient, 10)
        for key, value in result.items():
            rows.setdefault(key, []).append(value)
    return {key: np.array(values) for key, values in rows.items()}


# %% [markdown]
# ## With UniLoss's own anchors
#
# Random anchors are the worst case. In UniLoss the anchors are not random: a third of
# them sit at or next to the ground truth (all `+1`) and have high values (chapter 3).
# The error term `2 h~ grad(log W)` pulls `b~` towards the anchors, the nearer ones more,
# and so largely towards the ground truth, which is also uphill. So on real batches we
# expect the authors' formula, though still wrong, to point uphill more often.
# We check that on AP batches (16 samples, 4 positives), now differentiating with
# respect to the *scores*: `UniLoss(..., gradient="authors")` and
# `interpolate_with_authors_gradient` back-propagate the authors' formula through the
# relaxation, for comparison.


# %%
def ap_study(cases: int, seed: int = 2) -> dict:
    """Cosines and ascent in score space on AP batches, with the paper's anchors.

    Parameters
    ----------
    cases : int
    seed : int, default 2

    Returns
    -------
    dict
        Arrays ``authors`` (cosine of the authors' score gradient with the true one),
        ``rise_ours`` and ``rise_authors`` (change in ``h~`` after ten ascent steps of
        length 0.1 on the scores).
    """
    rng = np.random.default_rng(seed)
    metric = AveragePrecision()
    rows: dict[str, list] = {"authors": [], "rise_ours": [], "rise_authors": []}
    for _ in range(cases):
        labels = np.zeros(16, dtype=int)
        labels[rng.choice(16, size=4, replace=False)] = 1
        scores = rng.normal(size=16)
        evaluation = UniLoss(metric, seed=rng).inspect(scores, labels)
        a, v = evaluation.anchors, evaluation.values

        def ours(s, a=a, v=v, labels=labels):
            return interpolate(relaxed_binary(metric.comparisons(s, labels)), a, v)

        def theirs(s, a=a, v=v, labels=labels):
            b = relaxed_binary(metric.comparisons(s, labels))
            return interpolate_with_authors_gradient(b, a, v)

        rows["authors"].append(cosine(autograd.grad(theirs)(scores), autograd.grad(ours)(scores)))
        for key, h in (("rise_ours", ours), ("rise_authors", theirs)):
            s = scores.copy()
            for _ in range(10):
                g = autograd.grad(h)(s)
                s = s + 0.1 * g / np.linalg.norm(g)  # a fixed length: only the direction counts
            rows[key].append(float(ours(s) - ours(scores)))
    return {key: np.array(values) for key, values in rows.items()}


# %% [markdown]
# ## Training with each
#
# Finally, what the authors would have seen: train a linear scorer `s = X w` on
# generated data (10 features, 20% positives, shifted by 1 in three features) with
# `UniLoss(AveragePrecision())`, mini-batches of 32, plain gradient descent, once with
# the true gradient and once with `gradient="authors"`, and track the AP on held-out
# data.


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


def train(gradient: str, steps: int, seed: int = 3) -> dict:
    """Train a linear scorer on AP with UniLoss and the given gradient.

    Parameters
    ----------
    gradient : {"autograd", "authors"}
        Passed to :class:`uniloss_ref.UniLoss`.
    steps : int
    seed : int, default 3
        The same seed gives both runs the same data, start and batches.

    Returns
    -------
    dict
        ``steps`` and ``ap`` (held-out AP every 10 steps, from step 0), ``weight_norm``
        (``||w||`` at the end).
    """
    rng = np.random.default_rng(seed)
    X, y = make_data(rng, 2000)
    X_test, y_test = make_data(rng, 2000)
    metric = AveragePrecision()
    loss = UniLoss(metric, seed=rng.integers(2**32), gradient=gradient)
    step_gradient = autograd.grad(lambda w, Xb, yb: loss(Xb @ w, yb))
    w = 0.1 * rng.normal(size=10)
    history = [(0, metric.evaluate(X_test @ w, y_test))]
    for step in range(1, steps + 1):
        batch = rng.choice(len(y), size=32, replace=False)
        w = w - 1.0 * step_gradient(w, X[batch], y[batch])
        if step % 10 == 0:
            history.append((step, metric.evaluate(X_test @ w, y_test)))
    steps_done, ap = map(np.array, zip(*history, strict=True))
    return {"steps": steps_done, "ap": ap, "weight_norm": float(np.linalg.norm(w))}


# %% [markdown]
# ## Figure
#
# `07_gradients.png`: the cosines with finite differences on random problems (ours sits
# at 1, the authors' spreads around a small positive value); the change in `h~` after ten
# ascent steps with each, on random problems and on AP batches; and held-out AP while
# training with each.


# %%
def draw(random: dict, ap: dict, runs: dict, path: Path) -> None:
    """Save the chapter's figure.

    Parameters
    ----------
    random, ap : dict
        Outputs of :func:`random_study` and :func:`ap_study`.
    runs : dict
        ``gradient -> train(gradient, ...)``.
    path : Path
    """
    fig = Figure(figsize=(15, 3.8), layout="constrained")
    cosines, rises, ap_rises, curves = fig.subplots(1, 4)
    bins = np.linspace(-1.0, 1.0, 41)
    cosines.hist(random["autograd"], bins=bins, label="autograd (ours)")
    cosines.hist(random["authors"], bins=bins, alpha=0.7, label="authors' formula")
    cosines.set(xlabel="cosine with finite differences", ylabel="problems")
    cosines.set_title("random problems: angle to the truth")
    cosines.legend(fontsize=8)
    for axes, study, title in ((rises, random, "random problems"), (ap_rises, ap, "AP batches")):
        axes.axhline(0.0, color="black", lw=0.8)
        axes.axvline(0.0, color="black", lw=0.8)
        axes.scatter(study["rise_ours"], study["rise_authors"], s=8)
        axes.set(xlabel="change in h~, ours", ylabel="change in h~, authors'")
        axes.set_title(f"{title}: ten ascent steps")
    for name, run in runs.items():
        axes_label = "true gradient" if name == "autograd" else "authors' gradient"
        curves.plot(run["steps"], run["ap"], label=f"{axes_label}, |w| = {run['weight_norm']:.1f}")
    curves.set(xlabel="training step", ylabel="held-out AP", title="training a linear scorer")
    curves.legend(fontsize=8)
    fig.savefig(path, dpi=100)


# %% [markdown]
# ## Running the chapter
#
# What you should see (300 random problems and 100 AP batches by default; `quick=True`
# uses fewer, and trains for fewer steps):
#
# * Autograd and the corrected closed form agree with finite differences: every cosine
#   is 1 to at least nine decimals, and the largest difference, relative to the
#   gradient's largest entry, is below `1e-6` (finite differences are the less accurate
#   side). The identity `authors = true + 2 h~ grad(log W)` holds to `1e-12`.
# * The authors' formula fails the check: on random problems its cosine with the true
#   gradient has a median of about **0.15** and is negative in about one problem in six.
#   Ten ascent steps along the true gradient raise `h~` in **every** problem; along the
#   authors' formula, only in about 80%.
# * On AP batches with UniLoss's anchors, differentiated with respect to the scores, the
#   authors' gradient is much closer to the truth (median cosine about **0.8**), and
#   ascent along it raises `h~` in almost every batch (at least 90%): the error term
#   pulls towards the anchors, which sit near the ground truth.
# * Training a linear scorer, both gradients reach a similar held-out AP (about 0.7, from
#   0.16 at the start). The authors' run ends with weights several times larger (more
#   than 3x): the error term keeps pulling `b~` towards the corners of the cube, which
#   means larger scores.
#
# So a hand-written gradient can be wrong and still train, which is exactly why it must be
# checked against finite differences rather than judged by a training curve.


# %%
def main(quick: bool = False, out_dir: str | Path = "out/chapters/07") -> dict[str, Any]:
    """Run chapter 7: finite differences, autograd and the authors' closed form.

    Parameters
    ----------
    quick : bool, default False
        Fewer random problems (60 instead of 300), AP batches (30 instead of 100) and
        training steps (150 instead of 300).
    out_dir : str or Path, default "out/chapters/07"
        Folder for the figure (created if missing).

    Returns
    -------
    dict
        Every number the chapter's text states.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    random = random_study(60 if quick else 300)
    print(f"Random problems (l = 30, K = 49): {random['authors'].size} cases")
    print(
        f"  cosine with finite differences: autograd min {random['autograd'].min():.12f}, "
        f"corrected closed form min {random['corrected'].min():.12f}"
    )
    print(f"  autograd vs finite differences: largest relative difference "
          f"{random['autograd_error'].max():.1e}")  # fmt: skip
    print(
        f"  authors = true + 2 h~ grad(log W): largest error {random['identity_error'].max():.1e}"
    )
    print(
        f"  authors' formula: median cosine {np.median(random['authors']):.3f}, "
        f"negative in {np.mean(random['authors'] < 0):.0%} of problems"
    )
    print(
        f"  ten ascent steps raise h~: ours in {np.mean(random['rise_ours'] > 0):.0%}, "
        f"authors' in {np.mean(random['rise_authors'] > 0):.0%} of problems"
    )

    ap = ap_study(30 if quick else 100)
    print(f"\nAP batches with UniLoss's anchors: {ap['authors'].size} cases")
    print(
        f"  authors' score gradient: median cosine with the true one {np.median(ap['authors']):.3f}"
    )
    print(
        f"  ten ascent steps raise h~: ours in {np.mean(ap['rise_ours'] > 0):.0%}, "
        f"authors' in {np.mean(ap['rise_authors'] > 0):.0%} of batches"
    )

    steps = 150 if quick else 300
    runs = {gradient: train(gradient, steps) for gradient in ("autograd", "authors")}
    print(f"\nTraining a linear scorer for {steps} steps (held-out AP at start -> end, |w|):")
    for name, run in runs.items():
        ap_range = f"{run['ap'][0]:.3f} -> {run['ap'][-1]:.3f}"
        print(f"  {name:<8}: {ap_range}, |w| = {run['weight_norm']:.2f}")

    figure = out / "07_gradients.png"
    draw(random, ap, runs, figure)
    print(f"\nfigure: {figure}")
    return {
        "autograd_min_cosine": float(random["autograd"].min()),
        "corrected_min_cosine": float(random["corrected"].min()),
        "autograd_max_error": float(random["autograd_error"].max()),
        "identity_max_error": float(random["identity_error"].max()),
        "authors_median_cosine": float(np.median(random["authors"])),
        "authors_negative_fraction": float(np.mean(random["authors"] < 0)),
        "random_ours_rise_fraction": float(np.mean(random["rise_ours"] > 0)),
        "random_authors_rise_fraction": float(np.mean(random["rise_authors"] > 0)),
        "ap_authors_median_cosine": float(np.median(ap["authors"])),
        "ap_ours_rise_fraction": float(np.mean(ap["rise_ours"] > 0)),
        "ap_authors_rise_fraction": float(np.mean(ap["rise_authors"] > 0)),
        "start_ap": float(runs["autograd"]["ap"][0]),
        "final_ap": {name: float(run["ap"][-1]) for name, run in runs.items()},
        "weight_norm": {name: run["weight_norm"] for name, run in runs.items()},
    }


# %%
if __name__ == "__main__":
    main()
