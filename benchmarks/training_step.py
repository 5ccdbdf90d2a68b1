"""Time of one UniLoss training step divided by one cross-entropy step, measured side by side.

Run: ``python benchmarks/training_step.py [--repeats 30]``

A training step is the forward pass, the loss, autograd's gradient with respect to every
parameter and one SGD update, on a fixed batch of random inputs. Cases (issue 3):

* the paper's MNIST MLP, 784-500-300-1, batch 128 with 13 positives: UniLoss on average
  precision against binary cross-entropy;
* the small CNN on 28x28 images (as :func:`uniloss_ref.experiments.tasks.build_model` builds it for
  accuracy), batch 128, 10 classes: UniLoss on accuracy against softmax cross-entropy;
* the PCK task's heatmap network, batch 8 of 32x32 images with 16x16 heatmaps: UniLoss on
  PCK against MSE on Gaussian heatmaps (not a cross-entropy, but the same question);
* the same network on 64x64 images, whose heatmaps are 32x32 (four times the pixels, and
  about sixteen times the comparisons of each joint).

UniLoss uses each task's default anchors (:data:`uniloss_ref.experiments.tasks.TASKS`). Each
row is the median CPU time over ``--repeats`` steps after two warm-up steps (CPU time, not
wall time: on a shared machine wall time measures the neighbours); both losses of a row
alternate step by step. The script runs one BLAS thread, as each ``reproduce`` run does.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import platform
import statistics
import time

import autograd
import numpy as np

from uniloss_ref.experiments.data import Dataset, make_keypoints
from uniloss_ref.experiments.heatmaps import to_heatmap_grid
from uniloss_ref.experiments.nn import mlp
from uniloss_ref.experiments.nn.losses import bce_with_logits, softmax_cross_entropy
from uniloss_ref.experiments.nn.optim import SGD
from uniloss_ref.experiments.tasks import (
    HEATMAP_STRIDE,
    TASKS,
    build_model,
    make_loss,
    make_metric,
    task_scores,
)


def make_step(model, task, loss):
    """One SGD step of ``loss`` on the task's scores of ``model``; returns the new params."""
    grad = autograd.grad(lambda p, x, y: loss(task_scores(task, model.apply(p, x)), y))
    optimizer = SGD(0.01, momentum=0.9)
    return lambda params, x, y: optimizer.step(params, grad(params, x, y))


def time_pair(steps, params, x, y, repeats: int) -> list[float]:
    """Median seconds per step of each step function, alternating between them."""
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(2):
        for step in steps:
            step(params, x, y)
    for _ in range(repeats):
        for step, record in zip(steps, times, strict=True):
            start = time.process_time()
            step(params, x, y)
            record.append(time.process_time() - start)
    return [statistics.median(record) for record in times]


def cases(rng: np.random.Generator):
    """(name, model, task, inputs, targets, baseline loss, baseline name)."""
    labels = np.zeros(128, dtype=np.int64)
    labels[rng.choice(128, 13, replace=False)] = 1
    yield (
        "MLP 784-500-300-1, AP, batch 128",
        mlp((784, 500, 300, 1)),
        TASKS["ap"],
        rng.random((128, 784)),
        labels,
        bce_with_logits,
        "binary cross-entropy",
    )
    images = rng.random((128, 1, 28, 28))
    classes = rng.integers(10, size=128)
    digits_like = Dataset.from_train_test(
        "random", images, classes, images, classes, tuple("0123456789")
    )
    yield (
        "small CNN 28x28, accuracy, batch 128",
        build_model(TASKS["accuracy"], digits_like),
        TASKS["accuracy"],
        images,
        classes,
        softmax_cross_entropy,
        "softmax cross-entropy",
    )
    task = TASKS["pck"]
    for size in (32, 64):
        figures, keypoints = make_keypoints(8, rng, size=size)
        targets = to_heatmap_grid(keypoints, HEATMAP_STRIDE)
        stick = Dataset.from_train_test("keypoints", figures, targets, figures, targets)
        yield (
            f"heatmap net {size}x{size} -> {size // 2}x{size // 2}, PCK, batch 8",
            build_model(task, stick),
            task,
            figures,
            targets,
            make_loss(task, "mse", make_metric(task), rng),
            "MSE on Gaussian heatmaps",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"{platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}, ", end="")
    print(f"OPENBLAS_NUM_THREADS={threads}, median of {args.repeats} steps")
    print(f"{'case':<42} {'UniLoss':>10} {'baseline':>10} {'ratio':>6}  baseline loss")
    for name, model, task, x, y, baseline, baseline_name in cases(rng):
        params = model.init_params(rng)
        uniloss = make_loss(task, "uniloss", make_metric(task), rng)
        steps = [make_step(model, task, uniloss), make_step(model, task, baseline)]
        uni, base = time_pair(steps, params, x, y, args.repeats)
        print(
            f"{name:<42} {1e3 * uni:>8.1f}ms {1e3 * base:>8.1f}ms {uni / base:>6.2f}  "
            f"{baseline_name}"
        )


if __name__ == "__main__":
    main()
