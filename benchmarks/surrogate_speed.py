"""Time and memory of one UniLoss loss + gradient, beside plain cross-entropy on the same scores.

Run: ``python benchmarks/surrogate_speed.py [--repeats 200]``

Sizes (issue 2): AP batch 16 with 2 positives; AP batch 128 with 13 positives; accuracy
128 x 10; accuracy 128 x 100. Each row reports the median wall time of
``autograd.value_and_grad(loss)(scores, targets)`` over ``--repeats`` calls (after a
warm-up) and the peak of memory newly allocated during one call (tracemalloc, which NumPy
reports its buffers to). UniLoss uses the paper's anchors: 1 truth + 16 good + 16 nearby +
16 bad.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import tracemalloc

import autograd
import numpy as np

from uniloss_ref import UniLoss
from uniloss_ref.experiments.nn.losses import bce_with_logits, softmax_cross_entropy
from uniloss_ref.metrics import Accuracy, AveragePrecision


def median_ms(fun, scores, targets, repeats: int) -> float:
    value_and_grad = autograd.value_and_grad(fun)
    for _ in range(5):
        value_and_grad(scores, targets)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value_and_grad(scores, targets)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def peak_kib(fun, scores, targets) -> float:
    value_and_grad = autograd.value_and_grad(fun)
    tracemalloc.start()
    value_and_grad(scores, targets)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1024


def cases(rng: np.random.Generator):
    for n, positives in ((16, 2), (128, 13)):
        labels = np.zeros(n, dtype=int)
        labels[rng.choice(n, positives, replace=False)] = 1
        yield (
            f"AP n={n} P={positives}",
            AveragePrecision(),
            bce_with_logits,
            rng.normal(size=n),
            labels,
        )
    for classes in (10, 100):
        yield (
            f"accuracy 128x{classes}",
            Accuracy(),
            softmax_cross_entropy,
            rng.normal(size=(128, classes)),
            rng.integers(classes, size=128),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, numpy {np.__version__}")
    header = (
        f"{'case':<20} {'l':>6} {'UniLoss ms':>10} {'UniLoss KiB':>11} {'CE ms':>7} {'CE KiB':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, metric, baseline, scores, targets in cases(np.random.default_rng(0)):
        loss = UniLoss(metric, seed=0)
        length = metric.comparisons(scores, targets).size
        print(
            f"{name:<20} {length:>6} {median_ms(loss, scores, targets, args.repeats):>10.3f} "
            f"{peak_kib(loss, scores, targets):>11.0f} "
            f"{median_ms(baseline, scores, targets, args.repeats):>7.3f} "
            f"{peak_kib(baseline, scores, targets):>7.0f}"
        )


if __name__ == "__main__":
    main()
