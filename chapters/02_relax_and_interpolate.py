# %% [markdown]
# # 2. Relaxing the sign and interpolating h
#
# Chapter 1 wrote a metric as
#
#     scores s  ->  comparisons c = s[i] - s[j]  ->  binaries b = sign(c)  ->  metric h(b),
#
# exactly. Two of those steps are the reason a metric has no useful gradient: `sign` is
# flat except for a jump at 0, and `h` is only defined at the `2^l` points of
# `{-1, +1}^l` (every `b` is a vector of `l` signs), the corners of the cube
# `[-1, 1]^l`. UniLoss replaces each by a smooth stand-in:
#
# 1. **Relax the sign.** Instead of `b = sign(c)` use
#
#        b~ = tanh(c / (2 tau))       (equal to 2 * sigmoid(c / tau) - 1,
#                                      with sigmoid(x) = 1 / (1 + exp(-x))),
#
#    a number in `(-1, 1)` that slides smoothly from `-1` to `+1` as `c` crosses 0. The
#    **temperature** `tau > 0` sets how sharp the slide is; the paper uses `tau = 1`.
#    We write `b~` ("b tilde") for the relaxed binaries.
# 2. **Interpolate h.** `b~` now lies *inside* the cube, where `h` has no value. Pick a
#    few corners `a_1, ..., a_K` (the **anchors**; `K` of them), where `h` is known
#    exactly: `v_k = h(a_k)`. Estimate `h` at `b~` from them by **inverse distance
#    weighting (IDW)**: each anchor votes with its value, nearer anchors louder,
#
#        d_k = || b~ - a_k ||            Euclidean distance from b~ to anchor k
#        w_k = d_k ** (-p)               its weight; the power p > 0 (p = 1 in the paper)
#        h~(b~) = sum_k w_k v_k / sum_k w_k.
#
# `h~` ("h tilde") is a weighted average of the `v_k`, so it always lies between the
# smallest and largest anchor value, and it is smooth in `b~` away from the anchors. The
# loss to minimise is `1 - h~`. Chapter 3 is about choosing the anchors; this chapter uses
# a problem small enough to take *every* corner as an anchor and look at the whole
# picture.
#
# Run it as `python chapters/02_relax_and_interpolate.py` or open it as a notebook.

# %%
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import autograd
import numpy as np
from matplotlib.figure import Figure

from uniloss_ref import surrogate
from uniloss_ref.interpolation import interpolate
from uniloss_ref.metrics import AveragePrecision
from uniloss_ref.relaxation import relaxed_binary

# %% [markdown]
# ## A problem with two comparisons
#
# One positive and two negatives: AP has `l = 2` comparisons, positive minus each
# negative, and the four corners of the square `{-1, +1}^2` are all its configurations.
# From chapter 1, AP with one positive is `1 / (1 + n)` where `n` is the number of
# negatives above it (the number of `-1` entries), so
#
#     h(+1, +1) = 1,   h(+1, -1) = h(-1, +1) = 1/2,   h(-1, -1) = 1/3.
#
# We take all four corners as anchors. `surrogate(scores, labels, metric, anchors)` runs
# comparisons -> `b~` -> `h~` with the anchors held fixed.

# %%
LABELS = np.array([1, 0, 0])
METRIC = AveragePrecision()
ANCHORS = np.array(list(itertools.product([1.0, -1.0], repeat=2)))  # the four corners


def anchor_values() -> np.ndarray:
    """``v_k = h(a_k)`` at the four corners, shape (4,)."""
    return METRIC.from_binary(ANCHORS, LABELS)


def h_tilde_on_grid(power: float, points: int) -> tuple[np.ndarray, np.ndarray]:
    """``h~`` over a ``points x points`` grid of the square ``[-1, 1]^2`` of ``b~``.

    Parameters
    ----------
    power : float
        The IDW power ``p``.
    points : int
        Grid points per side.

    Returns
    -------
    axis : ndarray of shape (points,)
        The grid's coordinates along each side.
    surface : ndarray of shape (points, points)
        ``surface[r, q] = h~(b~ = (axis[q], axis[r]))``.
    """
    axis = np.linspace(-1.0, 1.0, points)
    values = anchor_values()
    surface = np.array(
        [[interpolate(np.array([x, y]), ANCHORS, values, power) for x in axis] for y in axis]
    )
    return axis, surface


# %% [markdown]
# ## Exact at the anchors, bounded in between
#
# At an anchor one distance is 0 and its weight `0 ** (-p)` is infinite; the package
# handles that case so that `h~(a_k)` is `v_k` *exactly*, not approximately. A point a
# small distance `delta` away from an anchor gets a value about `delta ** p` away from
# `v_k`: with `p = 1` the surface has a cone at each anchor, with larger `p` it is flat
# there (see `02_surface.png` below). At the centre of the square, `b~ = (0, 0)`, all
# four anchors are equally far, so `h~` is their plain mean
# `(1 + 1/2 + 1/2 + 1/3) / 4 = 0.5833`, whatever the power.


# %%
def exactness(power: float = 1.0) -> dict:
    """``h~`` at each anchor, next to an anchor and at the centre.

    Parameters
    ----------
    power : float, default 1.0

    Returns
    -------
    dict
        ``at_anchors`` (the largest ``|h~(a_k) - v_k|``), ``near_anchor`` (that error a
        distance ``1e-9`` from the all-``+1`` anchor) and ``centre`` (``h~(0, 0)``).
    """
    values = anchor_values()
    at_anchors = np.array([interpolate(a, ANCHORS, values, power) for a in ANCHORS])
    near = interpolate(np.array([1.0 - 1e-9, 1.0]), ANCHORS, values, power)
    return {
        "at_anchors": float(np.max(np.abs(at_anchors - values))),
        "near_anchor": float(abs(near - values[0])),
        "centre": float(interpolate(np.zeros(2), ANCHORS, values, power)),
    }


# %% [markdown]
# ## Temperature and power along a path of scores
#
# Now move the positive's score `s_pos` from -4 to 4 while the negatives stay at -1 and
# +1. The true AP is a staircase: 1/3 while the positive is below both negatives, 1/2
# between them, 1 above both. Its slope is 0 everywhere it exists, which is the whole
# problem. `h~` along the same path is smooth, and how closely it follows the staircase
# depends on `tau` and `p`:
#
# * A **small temperature** makes `b~` almost `sign(c)`: `h~` hugs the staircase, but
#   the slope in the middle of each step vanishes again. Worse, `b~` then travels along
#   the edges of the square from corner to corner, and the cones get in the way. Close
#   to a corner (with `p = 1`), `h~` is about that corner's value plus the distance
#   times how much the other anchors' values exceed it on average, nearer ones counting
#   more. When the positive passes the lower negative, `b~` runs from `(-1, -1)` to
#   `(+1, -1)` (value 1/2); the other three corners (values 1/3, 1 and 1/2) average more
#   than 1/2, so `h~` is above 1/2 just before the corner and falls to exactly 1/2 on
#   it: the slope turns *negative*,
#   and the gradient would say "lower the positive". With `tau = 0.1` or `0.3` the slope
#   dips below 0 along this path; with `tau = 1` or `3` it never does.
# * A **large temperature** keeps `b~` near the centre of the square, where `h~` is near
#   the mean anchor value: smooth, but far from the metric and with a small slope.
# * A **larger power** `p` makes the nearest anchor dominate, so `h~` follows the
#   staircase more closely at a fixed `tau`.
#
# We measure three numbers per setting: the mean gap `|h~ - h|` along the path, the
# slope `d h~ / d s_pos` at `s_pos = 0` (the middle of the middle step), and the
# smallest slope along the path.

# %%
PATH = np.linspace(-4.0, 4.0, 401)
NEGATIVES = np.array([-1.0, 1.0])
TEMPERATURES = (0.1, 0.3, 1.0, 3.0)
POWERS = (0.5, 1.0, 2.0, 4.0)


def along_path(temperature: float, power: float) -> dict:
    """``h``, ``h~`` and ``d h~ / d s_pos`` as the positive's score moves along :data:`PATH`.

    Parameters
    ----------
    temperature : float
        ``tau``.
    power : float
        ``p``.

    Returns
    -------
    dict
        Arrays ``h``, ``h_tilde``, ``slope`` of shape ``(len(PATH),)``, and the numbers
        ``gap`` (mean ``|h~ - h|``), ``slope_at_0`` and ``min_slope``.
    """
    values = anchor_values()

    def h_tilde(positive_score):
        # Written as start + t * direction so that autograd differentiates in one number.
        scores = np.concatenate([[0.0], NEGATIVES]) + positive_score * np.array([1.0, 0.0, 0.0])
        return surrogate(
            scores, LABELS, METRIC, ANCHORS, temperature=temperature, power=power, values=values
        )

    value_and_slope = autograd.value_and_grad(h_tilde)
    pairs = np.array([value_and_slope(x) for x in PATH])
    h = np.array([METRIC.evaluate(np.concatenate([[x], NEGATIVES]), LABELS) for x in PATH])
    return {
        "h": h,
        "h_tilde": pairs[:, 0],
        "slope": pairs[:, 1],
        "gap": float(np.mean(np.abs(pairs[:, 0] - h))),
        "slope_at_0": float(value_and_slope(0.0)[1]),
        "min_slope": float(pairs[:, 1].min()),
    }


# %% [markdown]
# ## When there are too many corners
#
# With `l` comparisons there are `2^l` corners, far too many to use as anchors beyond a
# dozen comparisons. With fewer anchors `h~` is still exact at the anchors, but only an
# estimate at every other corner, and it can never go below the smallest anchor value.
# One positive and three negatives (`l = 3`, eight corners), with four anchors: the
# ground truth `(+1, +1, +1)` and the three corners one flip away from it. At the four
# corners that are not anchors, `h~` is far from `h`. Chapter 3 is about which corners
# to pick.


# %%
def few_anchors(power: float = 1.0) -> dict:
    """``h~`` against ``h`` at every corner of ``{-1, +1}^3`` with four anchors.

    Parameters
    ----------
    power : float, default 1.0

    Returns
    -------
    dict
        ``corners`` (8, 3), ``h`` and ``h_tilde`` (8,), ``is_anchor`` (8,) bool, and the
        largest errors ``anchor_error`` and ``other_error``.
    """
    labels = np.array([1, 0, 0, 0])
    anchors = np.array([[1.0, 1.0, 1.0], [-1.0, 1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])
    values = METRIC.from_binary(anchors, labels)
    corners = np.array(list(itertools.product([1.0, -1.0], repeat=3)))
    h = METRIC.from_binary(corners, labels)
    h_tilde = np.array([interpolate(b, anchors, values, power) for b in corners])
    is_anchor = (corners[:, None, :] == anchors[None]).all(axis=2).any(axis=1)
    error = np.abs(h_tilde - h)
    return {
        "corners": corners,
        "h": h,
        "h_tilde": h_tilde,
        "is_anchor": is_anchor,
        "anchor_error": float(error[is_anchor].max()),
        "other_error": float(error[~is_anchor].max()),
    }


# %% [markdown]
# ## Figures
#
# `02_surface.png`: `h~` over the square of `b~` for `p = 1` and `p = 4`, with the four
# anchors and their values. With `p = 1` each anchor sits at the tip of a cone; with
# `p = 4` the surface is flat near each anchor and changes in between.
#
# `02_temperature_power.png`: `b~` against `c` for each temperature; `h~` along the path
# for each temperature (`p = 1`) and for each power (`tau = 1`), over the true staircase;
# and the slope along the path for each temperature.


# %%
def draw_surfaces(points: int, path: Path) -> None:
    """Save the two IDW surfaces.

    Parameters
    ----------
    points : int
        Grid points per side.
    path : Path
        Where the PNG goes.
    """
    fig = Figure(figsize=(11, 5), layout="constrained")
    values = anchor_values()
    for column, power in enumerate((1.0, 4.0)):
        axes = fig.add_subplot(1, 2, column + 1, projection="3d")
        axis, surface = h_tilde_on_grid(power, points)
        x, y = np.meshgrid(axis, axis)
        axes.plot_surface(x, y, surface, cmap="viridis", alpha=0.8, linewidth=0)
        axes.scatter(ANCHORS[:, 0], ANCHORS[:, 1], values, color="red", s=40, depthshade=False)
        for (a1, a2), v in zip(ANCHORS, values, strict=True):
            axes.text(a1, a2, v + 0.08, f"v = {v:.2f}", color="red", ha="center")
        axes.set(xlabel="b~ 1", ylabel="b~ 2", zlabel="h~", zlim=(0.3, 1.05))
        axes.set_title(f"IDW with p = {power:g}: anchors in red")
        axes.view_init(elev=25, azim=-120)
    fig.savefig(path, dpi=100)


def draw_paths(by_temperature: dict, by_power: dict, path: Path) -> None:
    """Save the temperature and power figure.

    Parameters
    ----------
    by_temperature : dict
        ``tau -> along_path(tau, 1.0)``.
    by_power : dict
        ``p -> along_path(1.0, p)``.
    path : Path
        Where the PNG goes.
    """
    fig = Figure(figsize=(15, 3.8), layout="constrained")
    relax, tau_axes, power_axes, slope_axes = fig.subplots(1, 4)
    c = np.linspace(-6.0, 6.0, 601)
    relax.plot(c, np.where(c > 0, 1.0, -1.0), color="black", lw=1, label="sign(c)")
    for tau in TEMPERATURES:
        relax.plot(c, relaxed_binary(c, tau), label=f"tau = {tau:g}")
    relax.set(xlabel="comparison c", ylabel="b~", title="b~ = tanh(c / 2 tau)")
    relax.legend(fontsize=8)
    for axes, runs, name in ((tau_axes, by_temperature, "tau"), (power_axes, by_power, "p")):
        first = next(iter(runs.values()))
        axes.plot(PATH, first["h"], color="black", lw=1.5, label="true AP h")
        for key, run in runs.items():
            axes.plot(PATH, run["h_tilde"], label=f"{name} = {key:g}")
        axes.set(xlabel="positive's score s_pos", ylabel="h~", ylim=(0.3, 1.02))
        axes.legend(fontsize=8)
    tau_axes.set_title("h~ for each temperature (p = 1)")
    power_axes.set_title("h~ for each power (tau = 1)")
    slope_axes.axhline(0.0, color="black", lw=1)
    for tau, run in by_temperature.items():
        slope_axes.plot(PATH, run["slope"], label=f"tau = {tau:g}")
    slope_axes.set(xlabel="positive's score s_pos", ylabel="d h~ / d s_pos", ylim=(-0.2, 0.5))
    slope_axes.set_title("slope of h~ (p = 1)")
    slope_axes.legend(fontsize=8)
    fig.savefig(path, dpi=100)


# %% [markdown]
# ## Running the chapter
#
# What you should see:
#
# * `h~` at the anchors equals `v_k` with error exactly **0** for every power. A distance
#   `1e-9` from an anchor the error is about `(1e-9) ** p`: **3.5e-5** for `p = 0.5`,
#   **7.4e-10** for `p = 1`, below rounding (0) for `p = 2` and `4`. At the centre
#   `h~ = 0.5833` for every power.
# * Along the path (`p = 1`) the mean gap `|h~ - h|` grows with the temperature, from
#   **0.016** at `tau = 0.1` to **0.218** at `tau = 3`. The slope in the middle of the
#   middle step is 0 to four decimals at `tau = 0.1` and largest, **0.045**, at
#   `tau = 1` among the four. The slope's minimum along the path is negative for
#   `tau = 0.1` and `0.3` and positive for `tau = 1` and `3`.
# * At `tau = 1` the gap shrinks as the power grows: **0.200, 0.135, 0.067, 0.031** for
#   `p = 0.5, 1, 2, 4`.
# * With four anchors out of eight corners, `h~` is exact at the anchors (error 0) and
#   off by up to **0.36** at the other corners.


# %%
def main(quick: bool = False, out_dir: str | Path = "out/chapters/02") -> dict[str, Any]:
    """Run chapter 2: the relaxation, IDW on a two-comparison toy, temperature and power.

    Parameters
    ----------
    quick : bool, default False
        A coarser grid for the surface figure; every stated number is the same.
    out_dir : str or Path, default "out/chapters/02"
        Folder for the figures (created if missing).

    Returns
    -------
    dict
        Every number the chapter's text states.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    print("Anchors a_k (all four corners) and their values v_k = h(a_k):")
    for a, v in zip(ANCHORS, anchor_values(), strict=True):
        print(f"  a = {a}  v = {v:.4f}")
    c = METRIC.comparisons(np.array([0.5, 0.0, 1.0]), LABELS)
    print(f"\nscores (0.5, 0, 1): c = {c}, b~ (tau = 1) = {np.round(relaxed_binary(c), 4)}")

    exact = {power: exactness(power) for power in POWERS}
    print("\nExactness (p: largest |h~(a_k) - v_k|, error 1e-9 from an anchor, h~ at centre)")
    for power, result in exact.items():
        print(
            f"  p = {power:g}: {result['at_anchors']:.1e}  {result['near_anchor']:.1e}  "
            f"{result['centre']:.4f}"
        )

    by_temperature = {tau: along_path(tau, 1.0) for tau in TEMPERATURES}
    by_power = {power: along_path(1.0, power) for power in POWERS}
    print("\nAlong the path, p = 1 (tau: mean gap |h~ - h|, slope at s_pos = 0, min slope)")
    for tau, run in by_temperature.items():
        print(
            f"  tau = {tau:g}: gap {run['gap']:.3f}  slope {run['slope_at_0']:.4f}  "
            f"min slope {run['min_slope']:+.4f}"
        )
    print("Along the path, tau = 1 (p: mean gap)")
    for power, run in by_power.items():
        print(f"  p = {power:g}: gap {run['gap']:.3f}")

    corners = few_anchors()
    print("\nl = 3 with four anchors: corner, anchor?, h, h~")
    for b, anchor, h, h_tilde in zip(
        corners["corners"], corners["is_anchor"], corners["h"], corners["h_tilde"], strict=True
    ):
        print(f"  {b}  {'anchor' if anchor else '      '}  {h:.4f}  {h_tilde:.4f}")
    print(
        f"  largest error: {corners['anchor_error']:.1e} at anchors, "
        f"{corners['other_error']:.4f} elsewhere"
    )

    draw_surfaces(21 if quick else 41, out / "02_surface.png")
    draw_paths(by_temperature, by_power, out / "02_temperature_power.png")
    print(f"\nfigures: {out / '02_surface.png'}, {out / '02_temperature_power.png'}")
    return {
        "anchor_error": max(result["at_anchors"] for result in exact.values()),
        "near_anchor_error": [result["near_anchor"] for result in exact.values()],
        "centre": [result["centre"] for result in exact.values()],
        "gap_by_temperature": [run["gap"] for run in by_temperature.values()],
        "slope_at_0_by_temperature": [run["slope_at_0"] for run in by_temperature.values()],
        "min_slope_by_temperature": [run["min_slope"] for run in by_temperature.values()],
        "gap_by_power": [run["gap"] for run in by_power.values()],
        "few_anchors_anchor_error": corners["anchor_error"],
        "few_anchors_other_error": corners["other_error"],
    }


# %%
if __name__ == "__main__":
    main()
