# %% [markdown]
# # 6. Keypoints with PCK: heatmaps from both losses, PCK over the threshold
#
# The third task of the paper is pose estimation: find the joints (head, shoulders,
# elbows, ...) of a figure in an image. The network outputs one **heatmap** per joint, a
# grid of scores, and the predicted joint is the grid's highest pixel. The metric is
# **PCK** (percentage of correct keypoints): a joint is correct when its prediction lies
# within `threshold x torso length` of the truth.
#
# The data are synthetic stick figures (`uniloss_ref.experiments.data`), 32x32 images with 11
# joints,
# drawn afresh from the seed, so the chapter needs no download. The network is a small
# encoder-decoder giving 16x16 heatmaps (`uniloss_ref.experiments.tasks.build_model`). Two losses:
#
# * **MSE on Gaussian heatmaps**, the usual recipe: paint a Gaussian bump (sigma one
#   heatmap pixel) at every true joint and regress every pixel of the output onto it. It
#   asks for a particular *shape* of heatmap, everywhere, though PCK only reads the
#   argmax.
# * **UniLoss on PCK.** PCK as comparisons: a joint is correct iff some pixel inside the
#   radius beats every pixel outside it, so the comparisons are (pixel inside, pixel
#   outside) pairs, one row per inside pixel. Nothing asks for a shape; only the order of
#   the pixels matters. As for accuracy (chapter 5), the task's defaults add row anchors
#   and use `tau = 0.3`.
#
# Both train through the package's code (`uniloss_ref.experiments.training`) from the same seed:
# same
# images, initial network and batches.

# %%
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from uniloss_ref.experiments.data import SKELETON
from uniloss_ref.experiments.heatmaps import from_heatmap_grid, heatmap_argmax
from uniloss_ref.experiments.plots import LOSS_COLOURS
from uniloss_ref.experiments.tasks import HEATMAP_STRIDE, PCK_THRESHOLD, get_task
from uniloss_ref.experiments.training import Run, TrainConfig, fit, prepare
from uniloss_ref.metrics import PCK

LOSSES = ("uniloss", "mse")
NAMES = {"uniloss": "UniLoss", "mse": "MSE"}
THRESHOLDS = np.round(np.arange(1, 21) * 0.05, 2)
"""PCK thresholds in torso lengths, 0.05 to 1.0; the task's 0.3 is among them."""

# %% [markdown]
# ## Training
#
# The full reproduction trains on 3600 images for 8 epochs, several minutes on a laptop.
# This chapter keeps the task's network, optimiser (Adam, learning rate 0.003), batch of 8
# and threshold (0.3 torso lengths, about 1.1 heatmap pixels), and trains on fewer images
# for fewer epochs: 800 images (10% of them held out for validation) for 5 epochs, or 240
# for 2 with `quick=True`, and tests on 300 (100).


# %%
def train_both(epochs: int, n_train: int, n_test: int, seed: int = 0) -> dict[str, Run]:
    """Train the PCK task with UniLoss and with heatmap MSE from the same seed.

    Returns
    -------
    dict of str to Run
        ``loss -> run``.
    """
    runs = {}
    for loss in LOSSES:
        config = TrainConfig(
            task="pck", loss=loss, epochs=epochs, n_train=n_train, n_test=n_test, seed=seed
        )
        runs[loss] = fit(prepare(config), show_progress=False)
    return runs


# %% [markdown]
# ## PCK as a function of the threshold
#
# Training fixes the threshold at 0.3, but the same heatmaps can be scored at any radius:
# a tight one asks for the exact pixel, a loose one only for the right region. We score
# the test heatmaps with `PCK(threshold=t)` for `t` from 0.05 to 1 torso lengths. A larger
# radius can only add pixels to a joint's inside set, so **PCK never decreases as the
# threshold grows**, and at `t = 0.3` the curve is exactly the test PCK reported by
# training.


# %%
def pck_curve(run: Run) -> np.ndarray:
    """Test PCK of a run's heatmaps at each of :data:`THRESHOLDS`."""
    targets = run.setup.data.y_test
    return np.array([PCK(threshold=t).evaluate(run.test_scores, targets) for t in THRESHOLDS])


def draw_heatmaps(runs: dict[str, Run], path: Path, shown: int = 4) -> None:
    """Test images with true and predicted joints, and each loss's heatmaps (max over joints)."""
    data = runs["uniloss"].setup.data
    targets = data.y_test[:shown]
    truth = from_heatmap_grid(targets.xy, HEATMAP_STRIDE)
    fig = Figure(figsize=(2.3 * shown, 7))
    axes = fig.subplots(3, shown)
    for k in range(shown):
        ax = axes[0, k]
        ax.imshow(data.X_test[k, 0], cmap="gray", vmin=0, vmax=1)
        seen = targets.visible[k]
        for a, b in SKELETON:
            if seen[a] and seen[b]:
                ax.plot(truth[k, [a, b], 0], truth[k, [a, b], 1], color="lime", lw=1)
        for loss, marker in (("uniloss", "x"), ("mse", "+")):
            guess = from_heatmap_grid(heatmap_argmax(runs[loss].test_scores[k : k + 1]), 2)[0]
            ax.scatter(
                guess[seen, 0], guess[seen, 1], s=24, marker=marker, color=LOSS_COLOURS[loss]
            )
        for row, loss in enumerate(LOSSES, start=1):
            maps = runs[loss].test_scores[k]
            # Each joint's map scaled to [0, 1] before the maximum, so that every joint shows.
            low = maps.min(axis=(1, 2), keepdims=True)
            high = maps.max(axis=(1, 2), keepdims=True)
            axes[row, k].imshow(((maps - low) / (high - low + 1e-12)).max(axis=0), cmap="magma")
    for ax in axes.ravel():
        ax.set_axis_off()
    axes[0, 0].set_title("truth (green), UniLoss x, MSE +", fontsize=8, loc="left")
    for row, loss in enumerate(LOSSES, start=1):
        axes[row, 0].set_title(f"{NAMES[loss]} heatmaps", fontsize=8, loc="left")
    fig.suptitle("test images: joints and heatmaps (each joint scaled to [0, 1], then max)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def draw_curves(curves: dict[str, np.ndarray], path: Path) -> None:
    """Test PCK against the threshold for both losses."""
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    for loss, curve in curves.items():
        ax.plot(THRESHOLDS, curve, marker=".", color=LOSS_COLOURS[loss], label=NAMES[loss])
    ax.axvline(PCK_THRESHOLD, color="gray", ls=":", label="training threshold")
    ax.set(xlabel="threshold (torso lengths)", ylabel="test PCK", ylim=(0, 1.02))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


# %% [markdown]
# ## What you should see
#
# Both losses find the joints, far above chance (a joint's radius covers a few of the 256
# heatmap pixels): **test PCK at 0.3 above 0.3 for both** even with `quick=True` (above
# 0.5 by default), and **above 0.7 at 1 torso length** (printed below). The heatmaps
# are trained towards different things: MSE towards one round bump per joint, with every
# pixel of the map counted; UniLoss only towards the right pixel being on top, so nothing
# in its loss asks for a bump or for low values far from the joint. The first figure
# shows what each learned on four test images.
#
# PCK rises with the threshold for both and is exactly the reported test PCK at 0.3. On
# the full schedule (`docs/reproduction.md`, 3600 images, 8 epochs, three seeds) UniLoss
# ends about half a point above MSE at 0.3; this shorter run is not meant to settle which
# is ahead, and the chapter does not claim either.


# %%
def main(quick: bool = False, out_dir: str | Path = "out/chapters/06") -> dict[str, Any]:
    """Train both losses, print test PCK over the threshold and draw both figures.

    Parameters
    ----------
    quick : bool, default False
        240 training and 100 test images for 2 epochs, instead of 800 and 300 for 5.
    out_dir : str or path-like, default "out/chapters/06"
        Folder for the figures (created if missing).

    Returns
    -------
    dict
        Every number the chapter's text states.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    epochs, n_train, n_test = (2, 240, 100) if quick else (5, 800, 300)
    task = get_task("pck")
    print(f"PCK task: stick figures, {n_train} training images, {epochs} epochs, "
          f"batch {task.batch_size}, threshold {PCK_THRESHOLD}")  # fmt: skip

    runs = train_both(epochs, n_train, n_test)
    curves, test_pck = {}, {}
    for loss, run in runs.items():
        test_pck[loss] = run.results["test_metric"]
        curves[loss] = pck_curve(run)
        print(f"  {NAMES[loss]:>12}: test PCK@{PCK_THRESHOLD} {test_pck[loss]:.4f}  "
              f"({run.results['seconds']:.1f} s)")  # fmt: skip
    print("\n  threshold " + " ".join(f"{t:5.2f}" for t in THRESHOLDS[1::2]))
    for loss, curve in curves.items():
        print(f"  {NAMES[loss]:>9} " + " ".join(f"{v:5.3f}" for v in curve[1::2]))
    at = int(np.flatnonzero(THRESHOLDS == PCK_THRESHOLD)[0])

    heatmap_figure = out / "06_heatmaps.png"
    curve_figure = out / "06_pck_threshold.png"
    draw_heatmaps(runs, heatmap_figure)
    draw_curves(curves, curve_figure)
    print(f"\nfigures: {heatmap_figure}, {curve_figure}")
    return {
        "epochs": epochs,
        "n_train": n_train,
        "test_pck": test_pck,
        "thresholds": THRESHOLDS.tolist(),
        "pck_curve": {loss: curve.tolist() for loss, curve in curves.items()},
        "pck_curve_at_training_threshold": {loss: float(c[at]) for loss, c in curves.items()},
    }


# %%
if __name__ == "__main__":
    main()
