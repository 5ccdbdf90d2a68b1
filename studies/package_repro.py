"""Question 1 with the package's own ``train`` command, as the issue ran it.

Fashion-MNIST shirt (class 6) vs the rest as a user's ``.npz`` (pixels in [0, 1]): a
6,000-image training subset and the 10,000 test images; ``train --task ap`` with every
default (MLP 784-500-300-1, batch 16, SGD momentum 0.9, UniLoss lr 0.01 / BCE lr 0.03,
tau 1, current anchor, lr / 10 for the last quarter). The package carves its validation
split (10%, about 60 positives) from the 6,000. Prints validation AP per epoch.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python -m studies.package_repro \
        > studies/logs/package_repro.log
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from uniloss_ref.experiments.data import load_idx

NPZ = Path("/tmp/uniloss_study_cache/shirt6000.npz")


def _fashion_arrays() -> dict[str, np.ndarray]:
    """Fashion-MNIST's four arrays (images as float32 in [0, 1], shape (n, 1, 28, 28))."""
    data = load_idx("fashion-mnist", dtype=np.float32)
    return {k: getattr(data, k) for k in ("X_train", "y_train", "X_test", "y_test")}


def main() -> None:
    if not NPZ.exists():
        a = _fashion_arrays()
        keep = np.random.default_rng(0).permutation(len(a["y_train"]))[:6000]
        np.savez(NPZ.with_suffix(".tmp.npz"), X_train=a["X_train"][keep],
                 y_train=(a["y_train"][keep] == 6).astype(np.int64),
                 X_test=a["X_test"], y_test=(a["y_test"] == 6).astype(np.int64))
        NPZ.with_suffix(".tmp.npz").replace(NPZ)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    for seed in (0, 1):
        for loss in ("uniloss", "bce"):
            out = Path(f"/tmp/uniloss_study_cache/pkg-{loss}-{seed}")
            subprocess.run([sys.executable, "-m", "uniloss_ref", "train", "--task", "ap",
                            "--loss", loss, "--data", str(NPZ), "--epochs", "10", "--seed",
                            str(seed), "--out", str(out), "--quiet"], check=True, env=env)
            r = json.loads((out / "results.json").read_text())
            curve = " ".join(f"{h['val_metric']:.2f}" for h in r["history"])
            print(f"seed {seed} {loss:8s} val/epoch: {curve} | test {r['test_metric']:.4f} "
                  f"({r['seconds']:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
