"""NumPy (CPU) against CuPy (GPU): UniLoss at the pose size, and a CNN training step.

Run: ``python benchmarks/device_speed.py [--repeats 5]``

* surrogate loss + gradient for PCK at the pose size of the README: 8 images x 16 joints,
  64 x 64 heatmaps, one positive pixel per joint (keypoints on pixel centres, radius 0.5),
  so l = 128 * 4095 = 524,160 comparisons, with the paper's anchors plus PCK's 16 row
  anchors (K = 65);
* one SGD step of the small CNN on a batch of 128 28 x 28 images with cross-entropy.

Each row gives the median wall time of ``--repeats`` calls after a warm-up; the GPU rows
synchronise the device before reading the clock. Without a working CuPy the GPU rows say so.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import autograd
import numpy as np

from uniloss_ref import UniLoss
from uniloss_ref.experiments.nn.losses import softmax_cross_entropy
from uniloss_ref.experiments.nn.models import small_cnn
from uniloss_ref.experiments.nn.optim import SGD, tree_map
from uniloss_ref.metrics import PCK, KeypointTargets


def pose_batch(rng: np.random.Generator) -> tuple[np.ndarray, KeypointTargets]:
    n, joints, size = 8, 16, 64
    xy = rng.integers(0, size, size=(n, joints, 2)).astype(float)
    targets = KeypointTargets(xy, np.ones((n, joints), bool), np.ones(n), (size, size))
    return rng.normal(size=(n, joints, size, size)), targets


def median_seconds(step: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> float:
    step()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cupy_or_none():
    try:
        import cupy

        float(cupy.arange(3).sum())
    except Exception as error:  # a missing package, driver or device
        print(f"# no working CuPy ({type(error).__name__}: {error}); GPU rows skipped")
        return None
    from uniloss_ref.device import get_array_module

    get_array_module(cupy.zeros(1))  # registers cupy.ndarray with autograd
    return cupy


def time_backend(xp, sync, heat, targets, model, params, images, labels, repeats):
    """Median seconds of (PCK surrogate + gradient, CNN training step) on one backend."""
    grad = autograd.value_and_grad(UniLoss(PCK(), seed=0))
    device_heat = xp.asarray(heat)
    pose = median_seconds(lambda: grad(device_heat, targets), repeats, sync)

    state = {"params": tree_map(xp.asarray, params)}
    device_images, optimiser = xp.asarray(images), SGD(0.01, momentum=0.9)
    ce = lambda p: softmax_cross_entropy(model.apply(p, device_images), labels)

    def train_step():
        state["params"] = optimiser.step(state["params"], autograd.grad(ce)(state["params"]))

    return pose, median_seconds(train_step, repeats, sync)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    heat, targets = pose_batch(rng)
    model = small_cnn(in_shape=(1, 28, 28))
    params = model.init_params(rng)
    images, labels = rng.random((128, 1, 28, 28)), rng.integers(10, size=128)
    length = PCK().refactor(heat.shape, targets).length
    print(f"# PCK pose size: l = {length} comparisons")

    cupy = cupy_or_none()
    backends = [("cpu (numpy)", np, lambda: None)]
    if cupy is not None:
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        backends.append((f"gpu ({name})", cupy, cupy.cuda.Device().synchronize))

    for label, xp, sync in backends:
        pose, cnn = time_backend(
            xp, sync, heat, targets, model, params, images, labels, args.repeats
        )
        print(f"{label:<32} PCK surrogate+grad {1e3 * pose:9.1f} ms   CNN step {1e3 * cnn:8.1f} ms")


if __name__ == "__main__":
    main()
