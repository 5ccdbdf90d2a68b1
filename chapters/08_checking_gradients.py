# %% [markdown]
# # 8. Checking a gradient
#
# UniLoss's loss is $1 - \tilde h$, where $\tilde h$ interpolates the metric from its values $v_k$
# at anchor configurations $a_k$ (chapters 2-4):
#
# $$d_k = \lVert \tilde b - a_k \rVert, \qquad w_k = d_k^{-p}, \qquad W = \sum_k w_k,
#   \qquad \tilde h = \frac{1}{W} \sum_k w_k v_k.$$
#
# Training needs the gradient of $\tilde h$ with respect to the relaxed binaries $\tilde b$ (and,
# by the chain rule, the scores). There are three ways to get it:
#
# 1. **Finite differences**: nudge one coordinate of $\tilde b$ by $\pm\varepsilon$ and
#    divide the change in $\tilde h$ by $2\varepsilon$. Slow (two evaluations per
#    coordinate) and only accurate to about $\varepsilon^2$ plus rounding, but it needs no
#    calculus, so it is the referee.
# 2. **Automatic differentiation**: this package writes $\tilde h$ in `autograd.numpy` and
#    lets `autograd.grad` apply the chain rule. It is exact up to rounding.
# 3. **A closed form** by hand. The quotient rule gives
#
#    $$\nabla \tilde h = \frac{1}{W} \Bigl(\sum_k v_k \nabla w_k - \tilde h \sum_k
#      \nabla w_k\Bigr), \qquad \nabla w_k = -p\, w_k\, \frac{\tilde b - a_k}{d_k^2}.$$
#
#    The authors' MNIST and CIFAR scripts write the second term with a $+$ instead of
#    the $-$; theirs equals the true gradient plus $2 \tilde h \nabla \log W$.
#    `uniloss_ref.experiments.authors_gradient` holds both versions,
#    `corrected_idw_gradient` and `authors_idw_gradient`.
#
# This chapter checks all of them against finite differences, measures how far the
# authors' formula is from the truth, and shows what training with each does: on a
# linear scorer and on the paper's network.
#
# Run it cell by cell as a notebook (`python -m uniloss_ref tutorial --notebooks DIR`), or
# as a script: `python chapters/08_checking_gradients.py` (`--quick` for a short run,
# `--help` for the options).

# %%
from collections.abc import Callable
from dataclasses import replace

import autograd
import autograd.numpy as anp
import numpy as np
from matplotlib.figure import Figure

from uniloss_ref import UniLoss, exercises, tutorial
from uniloss_ref.experiments.authors_gradient import (
    AuthorsUniLoss,
    authors_idw_gradient,
    corrected_idw_gradient,
    interpolate_with_authors_gradient,
)
from uniloss_ref.experiments.training import TrainConfig, fit, prepare
from uniloss_ref.interpolation import interpolate, squared_distances
from uniloss_ref.metrics import AveragePrecision
from uniloss_ref.relaxation import relaxed_binary

lesson = tutorial.setup(
    __name__, "08", "Chapter 8: checking a gradient, and the authors' sign error."
)

# %% [markdown]
# ## Finite differences
#
# Central differences, one coordinate at a time. The error of the formula is of order
# $\varepsilon^2$ times the third derivative; rounding adds about $10^{-16} / \varepsilon$.
# $\varepsilon = 10^{-6}$ balances the two, so a correct gradient agrees to about
# $10^{-9}$.
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
# First, problems with no structure at all, as a unit test would draw them: $l = 30$
# relaxed binaries uniform in `[-0.5, 0.5]`, $K = 49$ random anchors (the paper's
# number), values uniform in `[0, 1]`. For each we compare the gradients with finite
# differences and check the identity $authors = true + 2 \tilde h \nabla(\log W)$.
#
# A true gradient also has one guarantee: a small enough step along it raises the
# function. The authors' formula has none; a step along it raises $\tilde h$ only when its
# angle with the true gradient is below 90 degrees. So we also take ten steps of gradient
# ascent on $\tilde h$ with each (anchors fixed, $\tilde b$ kept inside the cube, every step of
# length 0.05 so that only the direction matters) and record whether $\tilde h$ went up.


# %%
def compare_gradients(b: np.ndarray, a: np.ndarray, v: np.ndarray) -> dict:
    """Every gradient of ``h~`` at ``b~`` (shape ``(l,)``; anchors ``a`` ``(K, l)``, values
    ``v`` ``(K,)``), measured against finite differences.

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


def ascent(b: np.ndarray, a: np.ndarray, v: np.ndarray, gradient: Callable, steps: int) -> float:
    """``h~(after) - h~(before)`` for ``steps`` steps of length 0.05 along ``gradient(b, a, v)``."""
    x = b.copy()
    for _ in range(steps):
        g = gradient(x, a, v)
        x = np.clip(x + 0.05 * g / np.linalg.norm(g), -0.999, 0.999)
    return float(interpolate(x, a, v) - interpolate(b, a, v))


# %% [markdown]
# You should see (300 problems; 60 in quick mode):
#
# * autograd and the corrected closed form agree with finite differences: every cosine
#   is 1 to at least nine decimals, and the largest difference, relative to the
#   gradient's largest entry, is **below `1e-6`** (finite differences are the less
#   accurate side). The identity
#   $\text{authors} = \text{true} + 2 \tilde h \nabla \log W$ holds to `1e-12`.
# * the authors' formula fails the check: its cosine with the true gradient has a median
#   of about **0.15** and is negative in about **one problem in six**. Ten ascent steps
#   along the true gradient raise $\tilde h$ in **every** problem; along the authors' formula,
#   only in about **80%**.

# %%
rng = np.random.default_rng(1)
random_cases: dict[str, list] = {}
for _ in range(60 if lesson.quick else 300):
    a = rng.choice([-1.0, 1.0], size=(49, 30))
    b, v = rng.uniform(-0.5, 0.5, size=30), rng.random(49)
    result = compare_gradients(b, a, v)
    result["rise_ours"] = ascent(b, a, v, corrected_idw_gradient, 10)
    result["rise_authors"] = ascent(b, a, v, authors_idw_gradient, 10)
    for key, value in result.items():
        random_cases.setdefault(key, []).append(value)
random_cases = {key: np.array(values) for key, values in random_cases.items()}

autograd_min_cosine = float(random_cases["autograd"].min())
corrected_min_cosine = float(random_cases["corrected"].min())
autograd_max_error = float(random_cases["autograd_error"].max())
identity_max_error = float(random_cases["identity_error"].max())
authors_median_cosine = float(np.median(random_cases["authors"]))
authors_negative_fraction = float(np.mean(random_cases["authors"] < 0))
random_ours_rise_fraction = float(np.mean(random_cases["rise_ours"] > 0))
random_authors_rise_fraction = float(np.mean(random_cases["rise_authors"] > 0))
print(f"{random_cases['authors'].size} random problems (l = 30, K = 49)")
print(f"  smallest cosine with finite differences: autograd {autograd_min_cosine:.12f}, "
      f"corrected closed form {corrected_min_cosine:.12f}")  # fmt: skip
print(f"  autograd against finite differences: largest relative difference "
      f"{autograd_max_error:.1e}")  # fmt: skip
print(f"  authors = true + 2 h~ grad(log W): largest error {identity_max_error:.1e}")
print(f"  authors' formula: median cosine {authors_median_cosine:.3f}, negative in "
      f"{authors_negative_fraction:.0%} of problems")  # fmt: skip
print(f"  ten ascent steps raise h~: ours in {random_ours_rise_fraction:.0%}, authors' in "
      f"{random_authors_rise_fraction:.0%} of problems")  # fmt: skip

# %% [markdown]
# ## With UniLoss's own anchors
#
# Random anchors are the worst case. In UniLoss the anchors are not random: a third of them sit at
# or next to the ground truth (all $+1$) and have high values (chapter 3). The error term $2 \tilde
# h \nabla \log W$ pulls $\tilde b$ towards the anchors, the nearer ones more, and so largely
# towards the ground truth, which is also uphill. So on real batches we expect the authors' formula,
# though still wrong, to point uphill more often. We check that on AP batches (16 samples, 4
# positives), now differentiating with respect to the *scores*: `interpolate_with_authors_gradient`
# is `interpolate` with the authors' formula as its gradient, what `AuthorsUniLoss` (UniLoss with
# their gradient) uses.
#
# You should see (100 batches; 30 in quick mode) the authors' score gradient much closer
# to the truth than on random problems, **median cosine about 0.8**, and ascent along it
# raise $\tilde h$ in almost every batch (**at least 90%**); along the true gradient, in every
# batch.

# %%
rng = np.random.default_rng(2)
metric = AveragePrecision()
ap_cases: dict[str, list] = {"authors": [], "rise_ours": [], "rise_authors": []}
for _ in range(30 if lesson.quick else 100):
    labels = np.zeros(16, dtype=int)
    labels[rng.choice(16, size=4, replace=False)] = 1
    scores = rng.normal(size=16)
    refactoring = metric.refactor(scores.shape, labels)
    anchors = UniLoss(metric, seed=rng).draw_anchors(scores, labels)
    values = anchors.values(refactoring)

    def ours(s, anchors=anchors, values=values, refactoring=refactoring):
        return interpolate(relaxed_binary(refactoring.comparisons(s)), anchors, values)

    def theirs(s, anchors=anchors, values=values, refactoring=refactoring):
        b = relaxed_binary(refactoring.comparisons(s))
        return interpolate_with_authors_gradient(b, anchors, values)

    ap_cases["authors"].append(cosine(autograd.grad(theirs)(scores), autograd.grad(ours)(scores)))
    for key, h in (("rise_ours", ours), ("rise_authors", theirs)):
        s = scores.copy()
        for _ in range(10):
            g = autograd.grad(h)(s)
            s = s + 0.1 * g / np.linalg.norm(g)  # a fixed length: only the direction counts
        ap_cases[key].append(float(ours(s) - ours(scores)))
ap_cases = {key: np.array(values) for key, values in ap_cases.items()}

ap_authors_median_cosine = float(np.median(ap_cases["authors"]))
ap_ours_rise_fraction = float(np.mean(ap_cases["rise_ours"] > 0))
ap_authors_rise_fraction = float(np.mean(ap_cases["rise_authors"] > 0))
print(f"{ap_cases['authors'].size} AP batches with UniLoss's anchors")
print(f"  authors' score gradient: median cosine with the true one {ap_authors_median_cosine:.3f}")
print(f"  ten ascent steps raise h~: ours in {ap_ours_rise_fraction:.0%}, authors' in "
      f"{ap_authors_rise_fraction:.0%} of batches")  # fmt: skip

fig = Figure(figsize=(12, 3.6), layout="constrained")
cosines_ax, random_ax, ap_ax = fig.subplots(1, 3)
bins = np.linspace(-1.0, 1.0, 41)
cosines_ax.hist(random_cases["autograd"], bins=bins, color="tab:blue", label="autograd (ours)")
cosines_ax.hist(random_cases["authors"], bins=bins, color="tab:gray", alpha=0.8,
                label="authors' formula")  # fmt: skip
cosines_ax.set(xlabel="cosine with finite differences", ylabel="problems",
               title="random problems: angle to the truth")  # fmt: skip
cosines_ax.legend(fontsize=8)
for ax, cases, title in ((random_ax, random_cases, "random problems"),
                         (ap_ax, ap_cases, "AP batches, scores")):  # fmt: skip
    ax.axhline(0.0, color="black", lw=0.8)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.scatter(cases["rise_ours"], cases["rise_authors"], s=8, color="tab:gray")
    ax.set(xlabel="change in h~ along ours", ylabel="change in h~ along authors'",
           title=f"{title}: ten ascent steps")  # fmt: skip
lesson.show(fig, "08_angles.png")

# %% [markdown]
# ## Training with each: a linear scorer
#
# What would the authors have seen? First the smallest model: a linear scorer $s = X w$
# on generated data (10 features, 20% positives, shifted by 1 in three features), trained
# with `UniLoss(AveragePrecision())` on mini-batches of 32 by plain gradient descent, once
# with the true gradient and once with the authors', tracking AP on held-out data.


# %%
def make_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``X (n, 10)`` and ``y (n,)``: 20% positives, shifted by 1 in the first three features."""
    y = (rng.random(n) < 0.2).astype(int)
    shift = np.zeros(10)
    shift[:3] = 1.0
    return rng.normal(size=(n, 10)) + np.outer(y, shift), y


# %% [markdown]
# You should see (300 steps; 150 in quick mode) **both gradients train the linear
# scorer** to a similar held-out AP, about 0.7 from 0.16 at the start, and the authors'
# run end with **weights several times larger** (more than 3x): the error term keeps
# pulling $\tilde b$ towards the corners of the cube, which means larger scores.

# %%
LOSSES = {"true": UniLoss, "authors'": AuthorsUniLoss}
linear_runs = {}
for name, uniloss in LOSSES.items():
    rng = np.random.default_rng(3)  # the same data, start and batches for both
    X, y = make_data(rng, 2000)
    X_test, y_test = make_data(rng, 2000)
    loss = uniloss(metric, seed=int(rng.integers(2**32)))
    step_gradient = autograd.grad(lambda w, Xb, yb, loss=loss: loss(Xb @ w, yb))
    w = 0.1 * rng.normal(size=10)
    history = [(0, metric.evaluate(X_test @ w, y_test))]
    for step in range(1, (150 if lesson.quick else 300) + 1):
        batch = rng.choice(len(y), size=32, replace=False)
        w = w - 1.0 * step_gradient(w, X[batch], y[batch])
        if step % 10 == 0:
            history.append((step, metric.evaluate(X_test @ w, y_test)))
    linear_runs[name] = {"history": np.array(history), "weight_norm": float(np.linalg.norm(w))}
    ap = linear_runs[name]["history"][:, 1]
    print(f"{name:>9} gradient: held-out AP {ap[0]:.3f} -> {ap[-1]:.3f}, "
          f"|w| = {linear_runs[name]['weight_norm']:.2f}")  # fmt: skip
start_ap = float(linear_runs["true"]["history"][0, 1])
linear_final_ap = {name: float(run["history"][-1, 1]) for name, run in linear_runs.items()}
linear_weight_norm = {name: run["weight_norm"] for name, run in linear_runs.items()}

# %% [markdown]
# ## Training with each: the paper's network
#
# Now the paper's network for AP, the task of chapter 5: the MLP 64-500-300-1 on the
# digits, digit 8 against the rest, through the package's training code. The training
# code's loss `uniloss-authors` is UniLoss with the authors' formula; everything else is
# shared. Two set-ups: the paper's comparisons of **raw scores** at $\tau = 1$ (with the
# current anchor, random batches), and the AP task's default, **standardised scores**
# $s / \mathrm{sd}(s)$ at $\tau = 3$ (chapter 5).
#
# You should see, with raw scores, the true gradient reach a test AP **above 0.8** and the
# authors' stay **below 0.4**, near the 0.1 that a random ranking scores (60 epochs; 3 in
# quick mode, where it has already fallen behind); the authors' network's test scores
# spread far wider. With standardised scores you should see the authors' gradient train
# too, **above 0.8**.

# %%
mlp_epochs = 3 if lesson.quick else 60
raw_scores = dict(standardise=False, temperature=1.0, nearby_rule="random", batches="random",
                  anchors={"current": 1})  # fmt: skip
mlp_configs = {
    "true": TrainConfig(task="ap", loss="uniloss", **raw_scores),
    "authors'": TrainConfig(task="ap", loss="uniloss-authors", **raw_scores),
    "authors', standardised": TrainConfig(task="ap", loss="uniloss-authors"),
}
mlp_runs = {
    name: fit(prepare(replace(config, epochs=mlp_epochs, seed=0)), show_progress=False)
    for name, config in mlp_configs.items()
}
mlp_test_ap = {name: run.results["test_metric"] for name, run in mlp_runs.items()}
mlp_score_spread = {name: float(np.std(run.test_scores)) for name, run in mlp_runs.items()}
for name, run in mlp_runs.items():
    print(f"{name:>22} gradient: test AP {mlp_test_ap[name]:.3f}, sd of the raw "
          f"test scores {mlp_score_spread[name]:.1f} ({run.results['seconds']:.1f} s)")  # fmt: skip

fig = Figure(figsize=(10, 3.6), layout="constrained")
linear_ax, mlp_ax = fig.subplots(1, 2)
colours = {"true": "tab:blue", "authors'": "tab:gray", "authors', standardised": "tab:olive"}
for name, run in linear_runs.items():
    linear_ax.plot(run["history"][:, 0], run["history"][:, 1], color=colours[name],
                   label=f"{name} gradient, |w| = {run['weight_norm']:.1f}")  # fmt: skip
linear_ax.set(xlabel="training step", ylabel="held-out AP", ylim=(0, 1),
              title="a linear scorer: both train")  # fmt: skip
linear_ax.legend(fontsize=8)
for name, run in mlp_runs.items():
    records = run.results["history"]
    mlp_ax.plot([r["epoch"] for r in records], [r["val_metric"] for r in records], marker=".",
                color=colours[name], label=f"{name} gradient")  # fmt: skip
mlp_ax.set(xlabel="epoch", ylabel="validation AP", ylim=(0, 1),
           title="the paper's MLP on digits")  # fmt: skip
mlp_ax.legend(fontsize=8)
lesson.show(fig, "08_training.png")

# %% [markdown]
# ## What holds
#
# A hand-written gradient with a sign error **can still train a small, well-conditioned
# model**: the linear scorer has ten weights, its scores are a fixed linear function of
# them, and the error term mostly inflates their size. **With raw scores it fails on the
# paper's network** (and, per `docs/reproduction.md`, on accuracy and PCK too): the error
# term is a pull toward whichever anchors are nearest, which raw scores obey by growing,
# and a network with about 180 thousand weights follows it: its scores blow up (the spread
# printed above) and the ranking is lost. **With standardised scores it trains**: the
# scores have no scale left to grow, so the pull has little to act on. (On the authors'
# own MNIST set-up, sigmoid outputs, `reproduce` measured their formula *above* the true
# gradient of that set-up.) So a training curve cannot tell a right gradient from a wrong
# one, in either direction; the finite-difference check can, on any problem, in a second.
#
# ## Exercises: predict, then run
#
# Write down your prediction before you run each cell; then open the answer. The last
# exercise asks you to write code in a cell marked **✎ yours**.
#
# **Exercise 1.** Give every anchor the same value, $v_k = 0.5$. What is the true
# gradient of $\tilde h$? What is the authors'?

# %%
rng = np.random.default_rng(4)
a = rng.choice([-1.0, 1.0], size=(49, 30))
b = rng.uniform(-0.5, 0.5, size=30)
flat_values = np.full(49, 0.5)
exercise_1_true = float(np.abs(autograd.grad(lambda x: interpolate(x, a, flat_values))(b)).max())
exercise_1_authors = float(np.linalg.norm(authors_idw_gradient(b, a, flat_values)))
print(f"largest entry of the true gradient: {exercise_1_true:.1e}; "
      f"length of the authors': {exercise_1_authors:.3f}")  # fmt: skip

# %% [markdown]
# <details><summary>Answer</summary>
#
# With equal values $\tilde h = 0.5$ everywhere, so the true gradient is **0** (to rounding).
# The authors' is $2 \tilde h \nabla \log W$, which does not depend on the values at all: it is
# **not zero**, and points toward the nearest anchors. A gradient that pushes when the
# function is flat is the error in its plainest form.
#
# </details>
#
# **Exercise 2.** Suppose a gradient is wrong by only 0.1%: the true one times 1.001.
# Would the finite-difference check of this chapter notice?

# %%
a, b, v = rng.choice([-1.0, 1.0], size=(49, 30)), rng.uniform(-0.5, 0.5, size=30), rng.random(49)
h = lambda x: interpolate(x, a, v)
slightly_off = 1.001 * autograd.grad(h)(b)
reference = finite_difference_gradient(h, b)
exercise_2_error = float(np.abs(slightly_off - reference).max() / np.abs(slightly_off).max())
exercise_2_cosine = cosine(slightly_off, reference)
print(f"largest relative difference {exercise_2_error:.1e}; cosine {exercise_2_cosine:.12f}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# **Yes, by the size of the difference, not by the angle.** The relative difference is
# about `1e-3`, a million times what a correct gradient shows (about `1e-9` here); the
# cosine stays 1, because a scaled gradient points the same way. So a check must compare
# values, not only directions (the package's tests also prove their checker fails on such
# a gradient).
#
# </details>
#
# **Exercise 3.** With power $p = 2$ instead of 1, does the identity
# $\text{authors} = \text{true} + 2 \tilde h \nabla \log W$ still hold (now with
# $W = \sum_k d_k^{-2}$)?

# %%
h2 = lambda x: interpolate(x, a, v, 2.0)
log_w2 = lambda x: anp.log(anp.sum(squared_distances(x, a) ** -1.0))
predicted = autograd.grad(h2)(b) + 2.0 * h2(b) * autograd.grad(log_w2)(b)
exercise_3_error = float(np.abs(authors_idw_gradient(b, a, v, 2.0) - predicted).max())
print(f"largest |authors - (true + 2 h~ grad log W)| at p = 2: {exercise_3_error:.1e}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# **Yes**, to rounding. The quotient rule's second term is
# $\tilde h \nabla W / W = \tilde h \nabla \log W$ for any weights; flipping its sign adds
# twice that, whatever $p$ is.
#
# </details>
#
# **Exercise 4 (code): break and repair a step.** Write the closed-form gradient yourself,
# from the quotient rule above: `idw_gradient(b, anchors, values, power)` returns
# $\nabla \tilde h$ at $\tilde b$ (on no anchor) as a vector of shape `(l,)`. The check
# compares it with autograd's gradient of `interpolate` on 50 random problems. Then break
# it as the authors did (flip the sign of the second term) and run the check again to see
# it fail; put it back before you go on.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def idw_gradient(b, anchors, values, power):
    """``grad h~`` (l,) at ``b`` (l,) for ``anchors`` (K, l) and ``values`` (K,)."""
    ...


# %%
gradient_rng = np.random.default_rng(8)
gradient_inputs = {}
for k in range(50):
    b = gradient_rng.uniform(-0.5, 0.5, 30)
    a = gradient_rng.choice([-1.0, 1.0], size=(49, 30))
    gradient_inputs[f"problem {k}"] = (b, a, gradient_rng.random(49), [1.0, 2.0][k % 2])
exercise_4 = exercises.agree_on(
    "idw_gradient",
    idw_gradient,
    lambda b, a, v, p: autograd.grad(interpolate)(b, a, v, p),
    gradient_inputs,
    hint="with d2 = squared distances, w = d2 ** (-p / 2), W = sum(w), h = w.v / W and "
    "grad w_k = -p w_k (b - a_k) / d2_k: return (sum_k v_k grad w_k - h sum_k grad w_k) / W",
    rtol=1e-9,
    atol=1e-12,
    required=False,
)

# %% [markdown]
# <details><summary>Answer</summary>
#
# The shipped solution (`chapters/solutions/08_checking_gradients.py`) is the quotient
# rule in five lines. With the sign of its second term flipped it is the authors'
# formula, and the check fails on the first problem: the difference is
# $2 \tilde h \nabla \log W$, no small error. The package keeps both versions side by side
# in `uniloss_ref.experiments.authors_gradient`.
#
# </details>
#
# ## What you learned
#
# * Finite differences are the referee: slow, approximate to about $10^{-9}$ here, and
#   independent of the calculus they check; compare values, not only directions.
# * The authors' closed-form gradient has a sign error: it adds
#   $2 \tilde h \nabla \log W$, which points towards the nearest anchors whatever their
#   values.
# * Training curves cannot certify a gradient: the wrong one trains a linear scorer and,
#   with standardised scores, the paper's network; with raw scores it fails.
#
# **Next**, chapter 9 adds a metric the package does not have, and chooses $\tau$ and the
# anchors for it.
