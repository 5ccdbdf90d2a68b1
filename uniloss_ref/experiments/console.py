"""The text side of the commands: one-line errors, argument types, a progress bar."""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any, TextIO

from .tasks import ANCHOR_KINDS


def fail(command: str, error: BaseException, stream: TextIO | None = None) -> int:
    """Report ``error`` as one line on standard error and return the exit status 2.

    For errors a user can fix (a bad argument, missing data); the message already says what
    was expected, so no traceback is shown.
    """
    reason = " ".join(str(error).split())
    print(f"python -m uniloss_ref {command}: error: {reason}", file=stream or sys.stderr)
    return 2


class ProgressBar:
    """Training progress as text on a stream (standard error by default).

    On a terminal one line is redrawn in place (at most ten times a second) and each epoch
    leaves a summary line; on anything else (a log file, a pipe, a test's capture) only the
    summary lines are written, so logs stay readable.

    Parameters
    ----------
    epochs, steps : int
        Epochs in the run and steps per epoch.
    stream : text stream, optional
        Where to write; ``sys.stderr`` when omitted.
    """

    def __init__(self, epochs: int, steps: int, stream: TextIO | None = None) -> None:
        self.epochs, self.steps = epochs, steps
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())
        self._last = -math.inf

    def step(self, epoch: int, step: int, loss: float) -> None:
        """Redraw the bar after ``step`` of ``epoch`` (both counted from 1), on a terminal."""
        now = time.monotonic()
        if not self.live or (now - self._last < 0.1 and step < self.steps):
            return
        self._last = now
        done = round(30 * step / self.steps)
        self.stream.write(
            f"\repoch {epoch}/{self.epochs} [{'#' * done}{'.' * (30 - done)}] "
            f"{step}/{self.steps} loss {loss:.4f}"
        )
        self.stream.flush()

    def epoch(self, record: dict[str, Any]) -> None:
        """Write the summary line of a finished epoch."""
        clear = "\r\033[K" if self.live else ""
        self.stream.write(
            f"{clear}epoch {record['epoch']}/{self.epochs}: loss {record['train_loss']:.4f}, "
            f"batch metric {record['train_batch_metric']:.4f}, "
            f"validation {record['val_metric']:.4f} ({record['seconds']:.1f} s)\n"
        )
        self.stream.flush()


def positive_int(text: str) -> int:
    """An ``argparse`` type: a positive integer, or a one-line reason."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def anchor_counts(text: str) -> dict[str, int]:
    """An ``argparse`` type: ``KIND=COUNT[,KIND=COUNT...]`` as a dict of anchor counts."""
    counts = {}
    for item in text.split(","):
        kind, _, number = item.partition("=")
        if kind.strip() not in ANCHOR_KINDS or not number.strip().isdigit():
            raise argparse.ArgumentTypeError(
                f"expected KIND=COUNT[,KIND=COUNT...] with KIND in {', '.join(ANCHOR_KINDS)}, "
                f"got {text!r}"
            )
        counts[kind.strip()] = int(number)
    return counts


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that ``train`` and ``reproduce`` share: epochs and split sizes."""
    parser.add_argument("--epochs", type=positive_int, help="epochs (task default)")
    parser.add_argument("--n-train", type=positive_int, help="cap on training samples")
    parser.add_argument("--n-test", type=positive_int, help="cap on test samples")
    parser.add_argument(
        "--device",
        choices=("cpu", "gpu", "auto"),
        help="where the network runs: NumPy (cpu) or CuPy (gpu); default $UNILOSS_DEVICE or cpu",
    )
