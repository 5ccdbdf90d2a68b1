"""The self-check: verify the method's laws for every metric on random batches, here and now.

``python -m uniloss_ref check`` runs, for each metric, on freshly drawn batches:

* refactoring exact: ``h(sign(c(s))) == metric(s)``;
* exact at anchors: ``h~(a_k) == v_k`` for every drawn anchor;
* bounded: ``min v <= h~ <= max v``;
* gradient: autograd's directional derivative of ``h~`` (anchors fixed) against a central
  finite difference in a random direction;
* shift invariant: adding a constant to every score (and to the refactoring's constants, the
  thresholds) leaves ``h~`` unchanged;
* finite at extremes: scores of magnitude ``1e6`` give a finite loss and gradient.

It prints one row per (metric, property) with the worst error seen and exits non-zero if
any fails. The test suite checks the same laws with hypothesis and independent oracles;
this command lets a user check them on their own machine, installed copy and NumPy. The
gradient row uses its own seeded finite difference rather than
``autograd.test_util.check_grads``, which only asserts and draws from NumPy's global
random state (library code never touches it).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import autograd
import numpy as np

from .anchors import AnchorSampler
from .interpolation import interpolate
from .metrics import (
    PCK,
    Accuracy,
    AveragePrecision,
    FScore,
    KeypointTargets,
    Metric,
    Precision,
    PrecisionAtK,
    Recall,
    RecallAtK,
    Refactoring,
    RocAuc,
)
from .metrics.at_k import RankingAtK
from .metrics.threshold import ThresholdMetric
from .surrogate import UniLoss, surrogate


@dataclass(frozen=True)
class CheckRow:
    """One line of the self-check table."""

    metric: str
    law: str
    cases: int
    worst: float
    tolerance: float

    @property
    def passed(self) -> bool:
        """Whether the worst error is within the tolerance (NaN fails)."""
        return bool(self.worst <= self.tolerance)


def random_batch(metric: Metric, rng: np.random.Generator) -> tuple[np.ndarray, Any]:
    """A random batch (scores, targets) of a size the metric takes; scores are tie-free."""
    if isinstance(metric, AveragePrecision | RocAuc | RankingAtK):
        n = int(rng.integers(2, 25))
        labels = np.zeros(n, dtype=int)
        labels[rng.choice(n, size=int(rng.integers(1, n)), replace=False)] = 1
        return rng.normal(size=n), labels
    if isinstance(metric, ThresholdMetric):  # any labels; scores on both sides of t
        n = int(rng.integers(1, 25))
        return metric.threshold + rng.normal(size=n), rng.integers(2, size=n)
    if isinstance(metric, Accuracy):
        n, classes = int(rng.integers(1, 17)), int(rng.integers(2, 13))
        return rng.normal(size=(n, classes)), rng.integers(classes, size=n)
    if isinstance(metric, PCK):
        n, joints, size = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(6, 11))
        targets = KeypointTargets(
            xy=rng.uniform(-1.0, size, size=(n, joints, 2)),
            visible=rng.random((n, joints)) < 0.8,
            scale=rng.uniform(1.0, 4.0, size=n),
            heatmap_shape=(size, size),
        )
        return rng.normal(size=(n, joints, size, size)), targets
    raise TypeError(f"no random batch is defined for {type(metric).__name__}")


def default_metrics() -> list[Metric]:
    """The metrics the self-check verifies by default."""
    return [
        AveragePrecision(),
        AveragePrecision(interpolated=True),
        RocAuc(),
        Accuracy(),
        Accuracy(top_k=3),
        PCK(threshold=0.5),
        FScore(),
        FScore(beta=2.0, threshold=0.5),
        Precision(threshold=-0.5),
        Recall(),
        PrecisionAtK(3),
        RecallAtK(3),
    ]


def _directional_error(f: Callable[[np.ndarray], float], x: np.ndarray, rng) -> float:
    direction = rng.normal(size=x.shape)
    eps = 1e-6
    numeric = (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)
    exact = float(np.sum(autograd.grad(f)(x) * direction))
    return abs(numeric - exact) / max(abs(exact), 1e-3)


def check_metric(
    metric: Metric, cases: int, rng: np.random.Generator, extra: Callable | None = None
) -> list[CheckRow]:
    """Check every law on ``cases`` random batches of one metric.

    Parameters
    ----------
    metric : Metric
    cases : int
        Batches drawn.
    rng : numpy.random.Generator
    extra : callable, optional
        ``rng -> (scores, targets)`` replacing :func:`random_batch` (for user metrics).

    Returns
    -------
    list of CheckRow
    """
    draw = extra or (lambda r: random_batch(metric, r))
    worst = dict.fromkeys(("refactoring", "anchors", "bounds", "gradient", "shift", "extreme"), 0.0)
    for _ in range(cases):
        scores, targets = draw(rng)
        refactoring = metric.refactor(scores.shape, targets)
        worst["refactoring"] = max(
            worst["refactoring"],
            abs(metric.refactored_value(scores, targets) - metric.evaluate(scores, targets)),
        )
        loss = UniLoss(metric, sampler=AnchorSampler(current=1, **metric.default_anchors), seed=rng)
        anchors = loss.draw_anchors(scores, targets)
        values = anchors.values(refactoring)
        at_anchors = np.array([interpolate(a, anchors, values) for a in anchors.configurations])
        worst["anchors"] = max(worst["anchors"], float(np.max(np.abs(at_anchors - values))))

        def h(s, anchors=anchors, targets=targets):
            return surrogate(s, targets, metric, anchors)

        value = h(scores)
        worst["bounds"] = max(worst["bounds"], values.min() - value, value - values.max())
        worst["gradient"] = max(worst["gradient"], _directional_error(h, scores, rng))
        shifted = _Shifted(metric, 3.0)
        moved = surrogate(scores + 3.0, targets, shifted, anchors)
        worst["shift"] = max(worst["shift"], abs(moved - value))
        extreme = 1e6 * np.sign(scores)
        if (
            np.isfinite(loss(extreme, targets))
            and np.isfinite(autograd.grad(loss)(extreme, targets)).all()
        ):
            continue
        worst["extreme"] = np.inf
    laws = {
        "refactoring": ("refactoring exact: h(sign c) = metric", 0.0),
        "anchors": ("surrogate exact at anchors", 0.0),
        "bounds": ("surrogate within anchor values", 1e-12),
        "gradient": ("gradient = finite differences", 1e-4),
        "shift": ("shift (thresholds too) changes nothing", 1e-9),
        "extreme": ("finite at scores of 1e6", 0.0),
    }
    return [
        CheckRow(repr(metric), laws[key][0], cases, float(worst[key]), laws[key][1]) for key in laws
    ]


class _Shifted(Metric):
    """``metric`` with every refactoring's constants (thresholds) moved by ``shift``."""

    def __init__(self, metric: Metric, shift: float) -> None:
        self.metric, self.shift, self.score_ndim = metric, shift, metric.score_ndim

    def refactor(self, shape: tuple[int, ...], targets: Any) -> Refactoring:
        r = self.metric.refactor(shape, targets)
        return Refactoring(r.shape, r.i, r.j, r.h, r.row_starts, constants=r.constants + self.shift)

    def evaluate(self, scores: Any, targets: Any) -> float:
        raise NotImplementedError("only the refactoring is shifted")


def run(cases: int = 20, seed: int = 0, metrics: Sequence[Metric] | None = None) -> list[CheckRow]:
    """Check every law for each metric; see :func:`check_metric`."""
    rng = np.random.default_rng(seed)
    rows: list[CheckRow] = []
    for metric in metrics if metrics is not None else default_metrics():
        rows.extend(check_metric(metric, cases, rng))
    return rows


def format_table(rows: Sequence[CheckRow]) -> str:
    """The rows as a fixed-width text table."""
    header = f"{'metric':<58} {'property':<38} {'cases':>5} {'worst error':>11}  result"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.metric:<58} {row.law:<38} {row.cases:>5} {row.worst:>11.2e}  "
            f"{'pass' if row.passed else 'FAIL'}"
        )
    failed = sum(not row.passed for row in rows)
    lines.append(f"{len(rows) - failed} passed, {failed} failed")
    return "\n".join(lines)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``check`` command to the command line."""
    parser = commands.add_parser(
        "check",
        help="verify the method's laws for every metric on random batches",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--cases", type=_positive, default=20, help="batches per metric (20)")
    parser.add_argument("--seed", type=_natural, default=0, help="seed of the random batches (0)")
    parser.set_defaults(func=_main)


def _positive(text: str) -> int:
    value = _natural(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _natural(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def _main(args: argparse.Namespace) -> int:
    rows = run(cases=args.cases, seed=args.seed)
    print(format_table(rows))
    return 0 if all(row.passed for row in rows) else 1
