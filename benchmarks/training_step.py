"""Cost of one training step: UniLoss against the task's loss, and the step three ways.

Run: ``python benchmarks/training_step.py [--repeats 30] [--part ratio|ways|both]``

A training step is the forward pass, the loss, the gradient with respect to every parameter
and one SGD update (momentum 0.9), on a fixed batch of random inputs. Each row is the median
CPU time over ``--repeats`` steps after two warm-up steps (CPU time, not wall time: on a
shared machine wall time measures the neighbours); the steps of a row alternate step by
step. One BLAS thread, as each ``reproduce`` run has.

``ratio``: the package's training step (:func:`step`, as :mod:`uniloss_ref.experiments.training`
takes it) with UniLoss over the same step with the task's loss:

* the paper's MNIST MLP, 784-500-300-1, batch 128 with 13 positives: UniLoss on average
  precision against binary cross-entropy;
* the small CNN on 28x28 images (as :func:`uniloss_ref.experiments.tasks.build_model` builds
  it for accuracy), batch 128, 10 classes: UniLoss on accuracy against softmax cross-entropy;
* the PCK task's heatmap network, batch 8 of 32x32 images with 16x16 heatmaps: UniLoss on
  PCK against MSE on Gaussian heatmaps (not a cross-entropy, but the same question);
* the same network on 64x64 images, whose heatmaps are 32x32.

``ways``: the same step computed three ways, for the MLP (AP, batches of 16 and 128) and the
CNN (accuracy, batches of 32 and 128), float64 and float32 networks, BCE / cross-entropy and
UniLoss:

* ``hand``: the MLP back-propagated by hand in NumPy, autograd differentiating only the
  loss in the network's output (the plainest correct step; none for the CNN);
* ``package``: one backward pass over the list of parameter arrays
  (:func:`uniloss_ref.experiments.nn.backward.grads_and_aux`);
* ``tuple``: ``autograd.grad`` with respect to the tuple of parameter arrays, which
  materialises a zero gradient for every parameter first: the training step before the
  package took one backward pass over the list.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import autograd
import numpy as np
from autograd.tracer import getval

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.baselines import bce, cross_entropy
from uniloss_ref.experiments.data import Dataset, make_keypoints
from uniloss_ref.experiments.heatmaps import to_heatmap_grid
from uniloss_ref.experiments.nn import mlp
from uniloss_ref.experiments.nn.backward import grads_and_aux
from uniloss_ref.experiments.nn.optim import SGD, tree_leaves, tree_rebuild
from uniloss_ref.experiments.tasks import (
    HEATMAP_STRIDE,
    TASKS,
    build_model,
    make_loss,
    make_metric,
    task_scores,
)


def _objective(model, task, loss, params):
    """``(arrays, x, y) -> (loss, its value)`` on float64 scores, as the training loop has it."""

    def objective(arrays, x, y):
        output = model.apply(tree_rebuild(params, arrays), x)
        if getval(output).dtype != np.float64:
            output = output.astype(np.float64)
        value = loss(task_scores(task, output), y)
        return value, getval(value)

    return objective


def step(model, task, loss, params):
    """The package's step: one backward pass over the parameter list, then SGD."""
    gradients = grads_and_aux(_objective(model, task, loss, params))
    optimizer = SGD(0.01, momentum=0.9)

    def one(params, x, y):
        grads, _ = gradients(tree_leaves(params), x, y)
        return optimizer.step(params, tree_rebuild(params, grads))

    return one


def tuple_step(model, task, loss, params):
    """The step before: ``autograd.grad`` with respect to the tuple of parameter arrays."""
    gradient = autograd.grad_and_aux(_objective(model, task, loss, params))
    optimizer = SGD(0.01, momentum=0.9)

    def one(params, x, y):
        grads, _ = gradient(tuple(tree_leaves(params)), x, y)
        return optimizer.step(params, tree_rebuild(params, grads))

    return one


def hand_step(model, task, loss, params):
    """The MLP back-propagated by hand; autograd differentiates the loss in the output only."""
    head = autograd.grad(lambda z, y: loss(z.astype(np.float64), y))
    optimizer = SGD(0.01, momentum=0.9)

    def one(params, x, y):
        h, inputs = x.reshape(len(x), -1), []
        for layer in params:
            inputs.append(h)
            h = h @ layer["w"] + layer["b"]
            if len(inputs) < len(params):
                h = np.maximum(h, 0)
        g = head(h.reshape(-1), y).reshape(-1, 1)
        grads = [None] * len(params)
        for k in reversed(range(len(params))):
            grads[k] = {"w": inputs[k].T @ g, "b": g.sum(axis=0)}
            if k:
                g = (g @ params[k]["w"].T) * (inputs[k] > 0)
        return optimizer.step(params, grads)

    return one


def time_steps(steps, params, x, y, repeats: int) -> list[float]:
    """Median seconds per step of each step function, alternating between them."""
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(2):
        for one in steps:
            one(params, x, y)
    for _ in range(repeats):
        for one, record in zip(steps, times, strict=True):
            start = time.process_time()
            one(params, x, y)
            record.append(time.process_time() - start)
    return [statistics.median(record) for record in times]


def _labels(rng, n, positives):
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.choice(n, positives, replace=False)] = 1
    return labels


def _images(n, classes, rng, dtype=np.float64):
    images = rng.random((n, 1, 28, 28)).astype(dtype)
    targets = rng.integers(classes, size=n)
    data = Dataset.from_train_test("random", images, targets, images, targets, tuple("0123456789"))
    return images, targets, data


def ratio_cases(rng: np.random.Generator):
    """(name, model, task, inputs, targets, baseline loss, baseline name)."""
    yield (
        "MLP 784-500-300-1, AP, batch 128",
        mlp((784, 500, 300, 1)),
        TASKS["ap"],
        rng.random((128, 784)),
        _labels(rng, 128, 13),
        bce,
        "binary cross-entropy (logaddexp)",
    )
    images, classes, data = _images(128, 10, rng)
    yield (
        "small CNN 28x28, accuracy, batch 128",
        build_model(TASKS["accuracy"], data),
        TASKS["accuracy"],
        images,
        classes,
        cross_entropy,
        "softmax cross-entropy (logsumexp)",
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


def ratios(rng: np.random.Generator, repeats: int) -> None:
    print(f"{'case':<48} {'UniLoss':>10} {'baseline':>10} {'ratio':>6}  baseline loss")
    for name, model, task, x, y, baseline, baseline_name in ratio_cases(rng):
        params = model.init_params(rng)
        uniloss = make_loss(task, "uniloss", make_metric(task), rng)
        steps = [step(model, task, uniloss, params), step(model, task, baseline, params)]
        uni, base = time_steps(steps, params, x, y, repeats)
        print(
            f"{name:<48} {1e3 * uni:>8.2f}ms {1e3 * base:>8.2f}ms {uni / base:>6.2f}  "
            f"{baseline_name}"
        )


def way_cases(rng: np.random.Generator):
    """(name, task, model, inputs, targets, whether a hand-written step exists)."""
    for dtype in (np.float64, np.float32):
        for batch in (16, 128):
            x = rng.random((batch, 784)).astype(dtype)
            y = _labels(rng, batch, max(2, batch // 10))
            name = f"MLP, AP, batch {batch}, {np.dtype(dtype).name}"
            yield name, TASKS["ap"], mlp((784, 500, 300, 1), dtype=dtype), x, y, True
        for batch in (32, 128):
            images, classes, data = _images(batch, 10, rng, dtype)
            model = build_model(TASKS["accuracy"], data, np.dtype(dtype).name)
            name = f"CNN, accuracy, batch {batch}, {np.dtype(dtype).name}"
            yield name, TASKS["accuracy"], model, images, classes, False


def ways(rng: np.random.Generator, repeats: int) -> None:
    print(f"{'case':<36} {'loss':<8} {'hand':>8} {'package':>8} {'tuple':>8}  tuple / package")
    for name, task, model, x, y, by_hand in way_cases(rng):
        params = model.init_params(rng)
        for loss_name in ("uniloss", task.baseline):
            loss = make_loss(task, loss_name, make_metric(task), np.random.default_rng(1))
            makers = [hand_step] * by_hand + [step, tuple_step]
            steps = [make(model, task, loss, params) for make in makers]
            times = time_steps(steps, params, x, y, repeats)
            hand = f"{1e3 * times[0]:>6.2f}ms" if by_hand else f"{'-':>8}"
            package, before = times[-2:]
            print(
                f"{name:<36} {loss_name:<8} {hand} {1e3 * package:>6.2f}ms "
                f"{1e3 * before:>6.2f}ms  {before / package:.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", choices=("ratio", "ways", "both"), default="both")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"{platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}, ", end="")
    print(f"OPENBLAS_NUM_THREADS={threads}, median of {args.repeats} steps")
    if args.part in ("ratio", "both"):
        ratios(rng, args.repeats)
    if args.part in ("ways", "both"):
        ways(rng, args.repeats)


if __name__ == "__main__":
    main()
