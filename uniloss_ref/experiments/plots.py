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
from matplotlib.ticker import MaxNLocator

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


def _save(fig: Figure, path: str | os.PathLike) -> None:
    for ax in fig.axes:
        if ax.get_xlabel() == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    write_atomically(path, lambda file: fig.savefig(file, format="png", dpi=100))


def training_curves(
    history: Sequence[Mapping[str, Any]], path: str | os.PathLike, title: str
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
    """
    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(9, 3.5))
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
    metric_ax.legend()
    fig.suptitle(title)
    _save(fig, path)


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
    """One panel per experiment (per task when runs name none): a history entry per epoch,
    mean over seeds, band from min to max.

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
        for loss in dict.fromkeys(run["config"]["loss"] for run in of_task):
            curves = np.array(
                [
                    [r[key] for r in run["history"]]
                    for run in of_task
                    if run["config"]["loss"] == loss
                ]
            )
            epochs = np.arange(1, curves.shape[1] + 1)
            colour = LOSS_COLOURS.get(loss)
            ax.plot(epochs, curves.mean(axis=0), marker=".", color=colour, label=loss)
            ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), color=colour, alpha=0.2)
        ax.set(xlabel="epoch", ylabel=f"validation {of_task[0]['metric']}", title=task)
        ax.legend()
    _save(fig, path)
