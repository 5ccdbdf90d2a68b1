"""Instructions per loss + gradient, counted by valgrind: a measure the machine's load cannot move.

Run: ``python benchmarks/instruction_counts.py`` (needs ``valgrind``; takes a few minutes)

Wall and CPU times on a shared machine move with the neighbours; the number of instructions
a call executes does not. For each case this runs a child Python under
``valgrind --tool=callgrind`` twice, with 0 and with ``--calls`` calls after the same
warm-up, and reports the difference per call: UniLoss (the paper's 49 anchors) beside the
plainest cross-entropy (``benchmarks/baselines.py``) on the same scores; UniLoss on AP with
10% positives from 10^4 to 10^6 comparisons, with the exponent of a least-squares fit of log
instructions against log ``l``; and the heatmap network's training step with UniLoss on PCK
beside the same step with MSE (``benchmarks/training_step.py``'s cases). Instructions are not
time (memory stalls cost no instructions), so the time ratios of
``benchmarks/surrogate_speed.py`` and ``benchmarks/training_step.py`` stay the figures of
record; these confirm them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

import numpy as np

CHILD = """
import os, sys
os.environ["OPENBLAS_NUM_THREADS"] = "1"
import autograd, numpy as np
from uniloss_ref import UniLoss
from uniloss_ref.metrics import AveragePrecision, Accuracy
sys.path.insert(0, os.getcwd())
from benchmarks.baselines import bce, cross_entropy
kind, size, which, calls = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = np.random.default_rng(0)
if kind == "ap":
    positives = max(1, size // 10) if size != 128 else 13
    scores, targets = rng.normal(size=size), np.zeros(size, dtype=int)
    targets[rng.choice(size, positives, replace=False)] = 1
    metric, baseline = AveragePrecision(), bce
else:
    scores, targets = rng.normal(size=(128, size)), rng.integers(size, size=128)
    metric, baseline = Accuracy(), cross_entropy
loss = UniLoss(metric, seed=0) if which == "uniloss" else baseline
step = autograd.value_and_grad(loss)
for _ in range(3 + calls):
    step(scores, targets)
"""


STEP = """
import os, sys
os.environ["OPENBLAS_NUM_THREADS"] = "1"
sys.path.insert(0, sys.argv[1])
import numpy as np
from training_step import cases, make_step
from uniloss_ref.experiments.tasks import make_loss, make_metric
rng = np.random.default_rng(0)
name, model, task, x, y, baseline, _ = list(cases(rng))[int(sys.argv[2])]
params = model.init_params(rng)
loss = make_loss(task, "uniloss", make_metric(task), rng) if sys.argv[3] == "uniloss" else baseline
step = make_step(model, task, loss)
for _ in range(2 + int(sys.argv[4])):
    step(params, x, y)
"""


def instructions(case: tuple, calls: int, child: str = CHILD) -> int:
    """Instructions per call of one case: the difference of two valgrind runs."""

    def total(n: int) -> int:
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        command += [sys.executable, "-c", child, *map(str, case), str(n)]
        stderr = subprocess.run(command, capture_output=True, text=True, check=True).stderr
        return int(re.search(r"Collected : (\d+)", stderr).group(1))

    return (total(calls) - total(0)) // calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="calls counted per case (20)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("benchmarks/instruction_counts.py: error: valgrind is not installed")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    print("1. Instructions per loss + gradient, UniLoss against autograd cross-entropy")
    for name, kind, size in (
        ("AP 128 / 13 (BCE)", "ap", 128),
        ("accuracy 128x10 (CE)", "accuracy", 10),
        ("accuracy 128x100 (CE)", "accuracy", 100),
    ):
        ours = instructions((kind, size, "uniloss"), args.calls)
        theirs = instructions((kind, size, "baseline"), args.calls)
        print(f"{name:<24} {ours / 1e6:8.2f} M {theirs / 1e6:8.2f} M   ratio {ours / theirs:.2f}")
    print("\n2. Growth in l: AP, 10% positives")
    rows = []
    for n in (330, 600, 1050, 1900, 3330):
        length = (n // 10) * (n - n // 10)
        count = instructions(("ap", n, "uniloss"), max(2, args.calls // 10))
        rows.append((length, count))
        print(f"n = {n:>5}  l = {length:>9,}  {count / 1e6:9.1f} M instructions")
    fit = np.array(rows, dtype=float)
    slope = np.polyfit(np.log(fit[:, 0]), np.log(fit[:, 1]), 1)[0]
    print(f"exponent in l (l from 1e4 to 1e6): {slope:.2f}")
    print("\n3. Training step of the heatmap network, 32x32 images (16x16 heatmaps), batch 8")
    here = os.path.dirname(os.path.abspath(__file__))
    ours = instructions((here, 2, "uniloss"), 5, STEP)
    theirs = instructions((here, 2, "mse"), 5, STEP)
    print(f"UniLoss on PCK {ours / 1e6:.1f} M, MSE {theirs / 1e6:.1f} M: ratio {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
