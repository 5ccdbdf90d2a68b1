"""Cost of one UniLoss loss + gradient: time, peak memory, and how both grow with ``l``.

Run: ``python benchmarks/surrogate_speed.py [--repeats 50] [--quick]``

Everything runs in one process with one BLAS thread (set below, before NumPy loads), so
the ratios compare like with like. Three tables:

1. **Ratios.** ``autograd.value_and_grad`` of UniLoss (the paper's 49 anchors) against
   the plainest binary or softmax cross-entropy (``benchmarks/baselines.py``: autograd's
   ``logaddexp`` and ``logsumexp``, no checks) on the same scores: AP batch 16 / 2 positives
   and 128 / 13, accuracy 128 x 10 and 128 x 100. Median CPU time of the process over
   ``--repeats`` calls (on a shared machine wall time measures the neighbours), the two
   losses alternating call by call so what remains of machine load affects both alike.
2. **Large batches.** AP with n = 4096 (10% positives, 1.5 M comparisons) and the pose size
   of the paper, 8 images x 16 joints x 64 x 64 heatmaps with PCK's anchors: time, peak
   memory (tracemalloc, to which NumPy reports its buffers) and bytes per comparison.
3. **Growth.** AP with 10% positives from about 10^3 to 10^6 comparisons: the exponent of
   a least-squares fit of log time and log peak memory against log ``l`` (from 10^4 up).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import autograd
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.baselines import bce, cross_entropy
from uniloss_ref import UniLoss
from uniloss_ref.metrics import PCK, Accuracy, AveragePrecision, KeypointTargets


def _labels(n: int, positives: int, rng: np.random.Generator) -> np.ndarray:
    labels = np.zeros(n, dtype=int)
    labels[rng.choice(n, positives, replace=False)] = 1
    return labels


def timed(fun, scores, targets) -> float:
    """CPU seconds of one call: unlike wall time, not inflated by other work on the machine."""
    start = time.process_time()
    fun(scores, targets)
    return time.process_time() - start


def paired_medians(first, second, scores, targets, repeats: int) -> tuple[float, float]:
    """Median seconds of two functions, called alternately ``repeats`` times after warm-up."""
    for _ in range(3):
        first(scores, targets), second(scores, targets)
    a, b = [], []
    for _ in range(repeats):
        a.append(timed(first, scores, targets))
        b.append(timed(second, scores, targets))
    return statistics.median(a), statistics.median(b)


def peak_bytes(fun, scores, targets) -> int:
    tracemalloc.start()
    fun(scores, targets)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def length_of(metric, scores, targets) -> int:
    return metric.refactor(scores.shape, targets).length


def ratios(repeats: int, rng: np.random.Generator) -> None:
    print("1. UniLoss against autograd cross-entropy on the same scores (one BLAS thread)")
    header = f"{'case':<22} {'l':>7} {'UniLoss ms':>10} {'baseline ms':>11} {'ratio':>6}"
    print(header + "\n" + "-" * len(header))
    cases = [
        ("AP 16 / 2 (BCE)", AveragePrecision(), bce, 16, 2),
        ("AP 128 / 13 (BCE)", AveragePrecision(), bce, 128, 13),
        ("accuracy 128x10 (CE)", Accuracy(), cross_entropy, 128, 10),
        ("accuracy 128x100 (CE)", Accuracy(), cross_entropy, 128, 100),
    ]
    for name, metric, baseline, n, k in cases:
        if isinstance(metric, AveragePrecision):
            scores, targets = rng.normal(size=n), _labels(n, k, rng)
        else:
            scores, targets = rng.normal(size=(n, k)), rng.integers(k, size=n)
        ours = autograd.value_and_grad(UniLoss(metric, seed=0))
        theirs = autograd.value_and_grad(baseline)
        t_ours, t_theirs = paired_medians(ours, theirs, scores, targets, repeats)
        length = length_of(metric, scores, targets)
        print(
            f"{name:<22} {length:>7} {1e3 * t_ours:>10.3f} {1e3 * t_theirs:>11.3f} "
            f"{t_ours / t_theirs:>6.1f}"
        )


def pose_batch(rng: np.random.Generator, n=8, joints=16, size=64):
    """The paper's pose size: one positive pixel per joint (radius 0.5 px), l = 524,160."""
    xy = rng.integers(0, size, size=(n, joints, 2)).astype(float)
    targets = KeypointTargets(xy, np.ones((n, joints), bool), np.ones(n), (size, size))
    return rng.normal(size=(n, joints, size, size)), targets


def large(repeats: int, rng: np.random.Generator) -> None:
    print("\n2. Large batches: time, peak memory, bytes per comparison")
    header = f"{'case':<34} {'l':>9} {'ms':>8} {'peak MB':>8} {'B/comp':>7}"
    print(header + "\n" + "-" * len(header))
    scores = rng.normal(size=4096)
    cases = [
        ("AP n=4096, 10% positives", AveragePrecision(), scores, _labels(4096, 410, rng)),
        ("pose 8x16x64x64, PCK (row anchors)", PCK(threshold=0.5), *pose_batch(rng)),
    ]
    for name, metric, scores, targets in cases:
        fun = autograd.value_and_grad(UniLoss(metric, seed=0))
        length = length_of(metric, scores, targets)
        fun(scores, targets)
        seconds = statistics.median(timed(fun, scores, targets) for _ in range(repeats))
        peak = peak_bytes(fun, scores, targets)
        print(
            f"{name:<34} {length:>9} {1e3 * seconds:>8.1f} {peak / 1e6:>8.1f} "
            f"{peak / length:>7.0f}"
        )


def growth(rng: np.random.Generator, quick: bool) -> None:
    print("\n3. Growth in l: AP, 10% positives")
    header = f"{'n':>6} {'l':>9} {'ms':>9} {'peak MB':>8} {'B/comp':>7}"
    print(header + "\n" + "-" * len(header))
    sizes = [110, 330, 1050, 3330] if quick else [110, 190, 330, 600, 1050, 1900, 3330]
    rows = []
    for n in sizes:
        scores, labels = rng.normal(size=n), _labels(n, n // 10, rng)
        fun = autograd.value_and_grad(UniLoss(AveragePrecision(), seed=0))
        fun(scores, labels)
        repeats = max(3, int(2e5 / n**2 * 10))
        seconds = statistics.median(timed(fun, scores, labels) for _ in range(repeats))
        peak = peak_bytes(fun, scores, labels)
        length = length_of(AveragePrecision(), scores, labels)
        rows.append((length, seconds, peak))
        print(f"{n:>6} {length:>9} {1e3 * seconds:>9.2f} {peak / 1e6:>8.2f} {peak / length:>7.0f}")
    fit = np.array([r for r in rows if r[0] >= 1e4])
    slope_t = np.polyfit(np.log(fit[:, 0]), np.log(fit[:, 1]), 1)[0]
    slope_m = np.polyfit(np.log(fit[:, 0]), np.log(fit[:, 2]), 1)[0]
    print(f"exponent in l (l >= 1e4): time {slope_t:.2f}, peak memory {slope_m:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=50, help="calls per timing (50)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    args = parser.parse_args()
    repeats = 10 if args.quick else args.repeats
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
        f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}"
    )
    rng = np.random.default_rng(0)
    ratios(repeats, rng)
    large(max(3, repeats // 10), rng)
    growth(rng, args.quick)


if __name__ == "__main__":
    main()
