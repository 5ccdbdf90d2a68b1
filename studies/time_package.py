"""Wall time of the package's own ``train`` runs, for planning ``reproduce`` (question 5).

Runs one ``python -m uniloss_ref train`` per line below, one at a time, one BLAS thread,
and prints seconds per run and per epoch. Fashion-MNIST AP uses shirt vs rest as an
``.npz`` of the full training set (the package's AP task cannot choose its class yet).

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python -m studies.time_package \\
        > studies/logs/time_package.log
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from uniloss_ref.experiments.data import load_idx

NPZ = Path("/tmp/uniloss_study_cache/shirt_full.npz")

RUNS = [
    ("ap digits uniloss 60 ep", ["--task", "ap", "--loss", "uniloss"]),
    ("ap digits bce 60 ep", ["--task", "ap", "--loss", "bce"]),
    ("ap digits uniloss-authors 60 ep", ["--task", "ap", "--loss", "uniloss-authors"]),
    ("accuracy digits uniloss 60 ep", ["--task", "accuracy", "--loss", "uniloss"]),
    ("accuracy digits ce 60 ep", ["--task", "accuracy", "--loss", "ce"]),
    ("pck uniloss 1000 images 8 ep", ["--task", "pck", "--loss", "uniloss", "--n-train",
                                       "1000", "--n-test", "300"]),
    ("pck mse 1000 images 8 ep", ["--task", "pck", "--loss", "mse", "--n-train", "1000",
                                   "--n-test", "300"]),
    ("ap fashion shirt uniloss 1 ep", ["--task", "ap", "--loss", "uniloss", "--data", str(NPZ),
                                        "--epochs", "1"]),
    ("ap fashion shirt bce 1 ep", ["--task", "ap", "--loss", "bce", "--data", str(NPZ),
                                    "--epochs", "1"]),
    ("accuracy fashion uniloss 1 ep", ["--task", "accuracy", "--loss", "uniloss", "--data",
                                        "fashion-mnist", "--epochs", "1"]),
    ("accuracy fashion ce 1 ep", ["--task", "accuracy", "--loss", "ce", "--data",
                                   "fashion-mnist", "--epochs", "1"]),
]


def _fashion_arrays() -> dict[str, np.ndarray]:
    """Fashion-MNIST's four arrays (images as float32 in [0, 1], shape (n, 1, 28, 28))."""
    data = load_idx("fashion-mnist", dtype=np.float32)
    return {k: getattr(data, k) for k in ("X_train", "y_train", "X_test", "y_test")}


def main() -> None:
    if not NPZ.exists():
        a = _fashion_arrays()
        np.savez(NPZ.with_suffix(".tmp.npz"), X_train=a["X_train"],
                 y_train=(a["y_train"] == 6).astype(np.int64), X_test=a["X_test"],
                 y_test=(a["y_test"] == 6).astype(np.int64))
        NPZ.with_suffix(".tmp.npz").replace(NPZ)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    for name, argv in RUNS:
        out = Path("/tmp/uniloss_study_cache/time") / name.replace(" ", "_")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "uniloss_ref", "train", *argv, "--seed", "0",
                        "--out", str(out), "--quiet"], check=True, env=env)
        wall = time.perf_counter() - started
        r = json.loads((out / "results.json").read_text())
        per_epoch = np.median([h["seconds"] for h in r["history"]])
        print(f"| {name} | {wall:.0f} | {per_epoch:.1f} | {r['data']['n_train']} |", flush=True)


if __name__ == "__main__":
    main()
