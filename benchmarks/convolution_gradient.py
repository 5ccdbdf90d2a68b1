"""Time of autograd's gradient through one small convolution layer.

Run: ``python benchmarks/convolution_gradient.py [--repeats 20] [--budget 0.02]``

The gradient of ``sum(conv2d(params, x) ** 2)`` with respect to the input and the
parameters, for a batch of 2 inputs of 3 x 7 x 7 and 4 filters of 3 x 3. A gradient that
goes through ``sliding_window_view`` on autograd boxes element by element took 0.38 s
here; the windowing primitive's own vector-Jacobian product takes about a millisecond.
The script prints the median over ``--repeats`` calls after a warm-up and exits 1 if it
is above ``--budget`` seconds, so a slow regression is visible without a wall-clock
assertion in the test suite (a busy machine would make such a test fail at random).
Set ``OPENBLAS_NUM_THREADS=1`` for stable numbers.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import autograd.numpy as anp
import numpy as np
from autograd import grad

from uniloss_ref.experiments.nn import conv2d, conv_params


def median_seconds(repeats: int) -> float:
    """Median wall time of one gradient evaluation over ``repeats`` calls."""
    rng = np.random.default_rng(0)
    x, params = rng.standard_normal((2, 3, 7, 7)), conv_params(rng, 3, 4, 3)
    gradient = grad(lambda x, p: anp.sum(conv2d(p, x) ** 2), argnum=(0, 1))
    gradient(x, params)  # warm-up
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        gradient(x, params)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--budget", type=float, default=0.02, help="seconds (default 0.02)")
    args = parser.parse_args(argv)
    seconds = median_seconds(args.repeats)
    print(f"{platform.processor() or platform.machine()}, NumPy {np.__version__}")
    print(f"conv2d gradient, 2 x 3 x 7 x 7 input, 4 filters 3 x 3: median {1e3 * seconds:.2f} ms")
    if seconds > args.budget:
        print(f"slower than the budget of {1e3 * args.budget:.0f} ms", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
