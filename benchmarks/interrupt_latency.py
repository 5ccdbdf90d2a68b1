"""Seconds from a signal to the exit of ``train`` and ``reproduce``, partial results saved.

Run: ``python benchmarks/interrupt_latency.py [--repeats 3]``

``train``: a long AP run (BCE, 60 training samples) is sent SIGINT, then SIGTERM, once it
has printed its second epoch; the time runs until the process has exited, which includes
saving the partial run (``curves.png`` and ``results.json``) and renaming it into place.
``reproduce``: a reproduction of the AP task over two seeds, one run at a time, is sent
SIGINT after its first run finished; the time includes stopping the running ``train``
(which saves its own partial run) and writing ``results.md``, ``results.json`` and
``validation_curves.png``. Each row is the median and the maximum over ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ["train", "--task", "ap", "--loss", "bce", "--epochs", "100000", "--n-train", "60"]
REPRODUCE = ["reproduce", "--tasks", "ap", "--seeds", "2", "--jobs", "1", "--epochs", "1"]


def latency(argv: list[str], ready: str, signum: int) -> float:
    """Start ``python -m uniloss_ref argv``; signal it once ``ready`` starts a line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        process = subprocess.Popen(
            [sys.executable, "-m", "uniloss_ref", *argv, "--out", str(Path(tmp) / "out")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for line in process.stderr:
            if line.startswith(ready):
                break
        sent = time.perf_counter()
        process.send_signal(signum)
        process.communicate(timeout=120)
        elapsed = time.perf_counter() - sent
        if not (Path(tmp) / "out" / "results.json").is_file():
            raise RuntimeError(f"{argv[0]} saved no results after {signum!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    cases = [
        ("train, SIGINT", [*TRAIN, "--n-test", "40"], "epoch 2/", signal.SIGINT),
        ("train, SIGTERM", [*TRAIN, "--n-test", "40"], "epoch 2/", signal.SIGTERM),
        (
            "reproduce, SIGINT",
            [*REPRODUCE, "--n-train", "100", "--n-test", "50"],
            "[1/",
            signal.SIGINT,
        ),
    ]
    for name, argv, ready, signum in cases:
        times = [latency(argv, ready, signum) for _ in range(args.repeats)]
        print(f"{name:<20} median {statistics.median(times):.2f} s, max {max(times):.2f} s")


if __name__ == "__main__":
    main()
