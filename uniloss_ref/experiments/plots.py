"""PNG figures of training runs and of the reproduction, drawn with matplotlib's Agg renderer.

Figures are built as :class:`matplotlib.figure.Figure` objects and saved directly, without
``pyplot``: nothing here selects a backend or keeps a figure open, so importing this module
changes nothing for a user's own plotting (in a notebook, say). Every PNG is written
atomically (:func:`uniloss_ref.experiments.outputs.write_atomically`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from .data import SKELETON
from .outputs import write_atomically

LOSS_COLOURS = {
    "uniloss": "tab:blue",
    "uniloss-authors": "tab:gray",
    "bce": "tab:orange",
    "hinge": "tab:red",
    "ce": "tab:orange",
    "mse": "tab:orange",
}


def _save(fig: Figure, path: str | os.PathLike, bottom: float = 0.0) -> None:
    for ax in fig.axes:
        if ax.get_xlabel() == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout(rect=(0.0, bottom, 1.0, 1.0))
    write_atomically(path, lambda file: fig.savefig(file, format="png", dpi=100))


def training_curves(
    history: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    title: str,
    relaxation: tuple[float, bool] | None = None,
) -> None:
    """Loss, hard batch metric and validation metric per epoch.

    Parameters
    ----------
    history : sequence of dict
        One record per epoch with ``epoch``, ``train_loss``, ``train_batch_metric``,
        ``val_metric`` and, for UniLoss, ``train_surrogate``.
    path : path-like
        Where to write the PNG.
    title : str
    relaxation : (float, bool), optional
        UniLoss's temperature ``tau`` and whether it standardises the scores: a caption
        under the plot then says why ``h~`` and the batch metric differ
        (:func:`surrogate_caption`).
    """
    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(9, 4.1 if relaxation else 3.5))
    loss_ax, metric_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [r["train_loss"] for r in history], marker=".")
    loss_ax.set(xlabel="epoch", ylabel="training loss", title="loss (mean over batches)")
    if "train_surrogate" in history[0]:
        metric_ax.plot(
            epochs, [r["train_surrogate"] for r in history], marker=".", label="surrogate h~"
        )
    metric_ax.plot(
        epochs, [r["train_batch_metric"] for r in history], marker=".", label="batch metric"
    )
    metric_ax.plot(epochs, [r["val_metric"] for r in history], marker=".", label="validation")
    metric_ax.set(xlabel="epoch", ylabel="metric", title="metric")
    metric_ax.legend(fontsize=8)
    fig.suptitle(title)
    if relaxation is not None:
        fig.text(0.01, 0.01, surrogate_caption(*relaxation), fontsize=8, va="bottom", wrap=True)
        _save(fig, path, bottom=0.17)
    else:
        _save(fig, path)


def surrogate_caption(temperature: float, standardise: bool) -> str:
    """Why ``h~`` and the hard batch metric differ, with this run's ``tau`` in numbers."""
    unit = " (in units of the batch's sd)" if standardise else ""
    won = float(np.tanh(2.0 / (2.0 * temperature)))
    return (
        f"Why h~ and the batch metric differ: h~ interpolates the metric at the relaxed "
        f"b~ = tanh(c / 2 tau), tau = {temperature:g}, never at sign(c), where the metric is "
        f"exact. A comparison won by c = 2{unit} counts as b~ = {won:.2f}, not 1, so h~ stays "
        "below a batch metric near 1, and early on, when many comparisons are nearly won, "
        "it can sit above a low one. UniLoss follows the slope of h~, not its level."
    )


def precision_recall_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Precision and recall at every cut-off of the ranking by score.

    Parameters
    ----------
    scores : ndarray of shape (n,)
    labels : ndarray of shape (n,), 0/1 with at least one 1

    Returns
    -------
    recall, precision : ndarray of shape (n,)
        After the ``k`` highest-scored samples, ``k = 1..n`` (ties broken by order).
    """
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(np.asarray(labels)[order] == 1)
    return hits / hits[-1], hits / np.arange(1, len(scores) + 1)


def precision_recall(
    scores: np.ndarray, labels: np.ndarray, path: str | os.PathLike, title: str
) -> None:
    """The precision-recall curve of binary test scores (the curve whose area AP measures)."""
    recall, precision = precision_recall_points(scores, labels)
    fig = Figure(figsize=(4.5, 4))
    ax = fig.subplots()
    ax.step(np.concatenate([[0.0], recall]), np.concatenate([[1.0], precision]), where="post")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.02), title=title)
    _save(fig, path)


def keypoints(
    images: np.ndarray,
    true_xy: np.ndarray,
    predicted_xy: np.ndarray,
    visible: np.ndarray,
    path: str | os.PathLike,
    title: str,
) -> None:
    """Test images with their true skeleton (lines and dots) and predicted joints (crosses).

    Parameters
    ----------
    images : ndarray of shape (n, 1, H, W)
    true_xy, predicted_xy : ndarray of shape (n, J, 2)
        ``(x, y)`` in image pixels.
    visible : ndarray of shape (n, J), bool
        Joints to draw.
    path : path-like
    title : str
    """
    n = len(images)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = Figure(figsize=(2.2 * cols, 2.3 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, image, truth, guess, seen in zip(
        axes, images, true_xy, predicted_xy, visible, strict=False
    ):
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
        for a, b in SKELETON:
            if seen[a] and seen[b]:
                ax.plot(truth[[a, b], 0], truth[[a, b], 1], color="lime", lw=1)
        ax.scatter(truth[seen, 0], truth[seen, 1], s=8, color="lime")
        ax.scatter(guess[seen, 0], guess[seen, 1], s=20, marker="x", color="red")
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(f"{title}\ntrue (green) and predicted (red x) joints")
    _save(fig, path)


def comparison(
    runs: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    key: str = "val_metric",
) -> None:
    """One panel per experiment (per task when runs name none): ``1 - metric`` per epoch on a
    log scale, mean over seeds, band from min to max.

    A metric near 1 is drawn as its error, ``1 - metric``, on a log scale, so that 0.99
    and 0.999 are told apart where a linear axis shows every loss at the top. An error of
    exactly 0 (a perfect validation metric) is drawn at the panel's floor, which the panel
    says.

    Parameters
    ----------
    runs : sequence of dict
        ``results.json`` contents of the runs (``task``, ``metric``, ``config``, ``history``,
        optionally ``experiment``).
    path : path-like
    key : str, default "val_metric"
        The history entry to plot.
    """
    panel = lambda run: run.get("experiment", run["task"])
    tasks = list(dict.fromkeys(panel(run) for run in runs))
    fig = Figure(figsize=(4.5 * len(tasks), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(tasks)))
    for ax, task in zip(axes, tasks, strict=True):
        of_task = [run for run in runs if panel(run) == task]
        errors = {
            loss: 1.0
            - np.array(
                [
                    [r[key] for r in run["history"]]
                    for run in of_task
                    if run["config"]["loss"] == loss
                ]
            )
            for loss in dict.fromkeys(run["config"]["loss"] for run in of_task)
        }
        positive = np.concatenate([e[e > 0] for e in errors.values()])
        floor = 0.1 * positive.min() if positive.size else 1e-3  # a decade below the best
        for loss, error in errors.items():
            error = np.maximum(error, floor)
            epochs = np.arange(1, error.shape[1] + 1)
            colour = LOSS_COLOURS.get(loss)
            ax.plot(epochs, error.mean(axis=0), marker=".", color=colour, label=loss)
            ax.fill_between(epochs, error.min(axis=0), error.max(axis=0), color=colour, alpha=0.2)
        ax.set_yscale("log")
        plain = FuncFormatter(lambda y, _: f"{y:g}")
        low, high = ax.get_ylim()
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain if high < 10 * low else NullFormatter())
        metric = of_task[0]["metric"]
        ax.set(xlabel="epoch", ylabel=f"1 - validation {metric} (log scale)")
        ax.set_title(f"{task}: lower is better", fontsize=10)
        if any((e <= 0).any() for e in errors.values()):
            ax.axhline(floor, color="gray", ls=":", lw=1)
            ax.annotate("on this line: a perfect score (error 0)", (0.02, floor), fontsize=8,
                        color="gray", xycoords=("axes fraction", "data"), va="bottom")  # fmt: skip
        ax.legend(fontsize=8)
    _save(fig, path)
