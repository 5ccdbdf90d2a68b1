"""CPU time per step of the package's own training loop on Fashion-MNIST, one epoch.

Run: ``python benchmarks/training_loop.py TASK LOSS N_TRAIN DTYPE``, e.g.
``python benchmarks/training_loop.py ap uniloss 8000 float32``; ``DTYPE`` ``default``
leaves the option out, so that the same command times a checkout from before networks
could be float32::

    git archive 99b65fc | tar -x -C /tmp/before      # the training loop before
    PYTHONPATH=/tmp/before python benchmarks/training_loop.py ap uniloss 8000 default
    PYTHONPATH=. python benchmarks/training_loop.py ap uniloss 8000 float32

One epoch of :func:`uniloss_ref.experiments.training.fit` (AP: shirt against the rest),
validation and a 100-image test split included, divided by its steps: what a step of a
real run costs (CPU time, one BLAS thread). Prints one JSON line.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json
import sys
import time

from uniloss_ref.experiments.training import TrainConfig, fit, prepare


def main(task: str, loss: str, n_train: int, dtype: str) -> None:
    options = {"task": task, "loss": loss, "data": "fashion-mnist", "n_train": n_train}
    options |= {"n_test": 100, "epochs": 1} | ({"positive": 6} if task == "ap" else {})
    if dtype != "default":
        options["dtype"] = dtype
    setup = prepare(TrainConfig(**options))
    steps = -(-len(setup.data.X_train) // setup.config.batch_size)
    start = time.process_time()
    fit(setup, show_progress=False)
    cpu = time.process_time() - start
    row = {"task": task, "loss": loss, "dtype": dtype, "batch": setup.config.batch_size}
    print(json.dumps(row | {"steps": steps, "ms_per_step": round(1000 * cpu / steps, 2)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
