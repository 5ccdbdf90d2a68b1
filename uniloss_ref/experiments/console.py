"""The text side of the commands: one-line errors, signals, argument types, a progress bar."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TextIO

from .tasks import ANCHOR_KINDS

MAX_ANCHORS = 1024
"""Most anchors ``--anchors`` may ask for, all kinds together (the authors use 49)."""


def one_line(error: BaseException | str) -> str:
    """The message of ``error`` on one line (an ``OSError``'s file name and reason kept)."""
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror + (f": {error.filename}" if error.filename else "")
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def fail(
    command: str,
    error: BaseException | str,
    stream: TextIO | None = None,
    *,
    status: int = 2,
    debug: bool = False,
    cause: BaseException | None = None,
) -> int:
    """Report ``error`` as one line on standard error and return the exit status (2).

    For errors a user can fix (a bad argument, missing data); the message already says what
    was expected, so no traceback is shown, unless ``debug`` (``--debug``) asks for it: then
    the traceback of ``cause`` (by default ``error``, if an exception) comes above the line.
    """
    stream = stream or sys.stderr
    cause = cause if cause is not None else error
    if debug and isinstance(cause, BaseException):
        traceback.print_exception(cause, file=stream)
    print(f"python -m uniloss_ref {command}: error: {one_line(error)}", file=stream)
    return status


class Signals:
    """SIGINT, SIGTERM and SIGHUP as ``KeyboardInterrupt``, or held back during a write.

    While installed (``with signals:``, main thread only), each of these signals raises
    ``KeyboardInterrupt`` where the program is, so training stops after the operation in
    progress. Inside :meth:`held` a signal is only recorded: a result being written and
    committed is finished first, so an interrupt never leaves half a result. After
    :meth:`settle` (once the results are committed) signals are only recorded as well: a
    run saved as completed ends as completed.

    Attributes
    ----------
    received : int or None
        The last signal number received, for the exit status ``128 + received``.
    """

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self) -> None:
        self.received: int | None = None
        self.settled = False
        self._held = 0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        if not self._held and not self.settled:
            raise KeyboardInterrupt

    def __enter__(self) -> Signals:
        self.received, self.settled = None, False
        if threading.current_thread() is threading.main_thread():
            for name in self.NAMES:
                number = getattr(signal, name, None)
                if number is not None:
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Record signals without raising for the duration of the block."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1

    def settle(self) -> None:
        """The command's outcome is decided (its results committed): from now until the
        handlers are restored a signal is only recorded, so the exit status and the saved
        results cannot disagree."""
        self.settled = True

    def exit_status(self) -> int:
        """``128 +`` the signal received (130 for Ctrl-C when none was recorded)."""
        return 128 + (self.received or signal.SIGINT)


signals = Signals()
"""The command line's signal handling (installed by :func:`uniloss_ref.__main__.main`)."""


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
        self._drawn = False

    def step(self, epoch: int, step: int, loss: float) -> None:
        """Redraw the bar after ``step`` of ``epoch`` (both counted from 1), on a terminal."""
        now = time.monotonic()
        if not self.live or (now - self._last < 0.1 and step < self.steps):
            return
        self._last = now
        self._drawn = True
        done = round(30 * step / self.steps)
        self.stream.write(
            f"\repoch {epoch}/{self.epochs} [{'#' * done}{'.' * (30 - done)}] "
            f"{step}/{self.steps} loss {loss:.4f}"
        )
        self.stream.flush()

    def close(self) -> None:
        """End a half-drawn bar's line (before a message about why training stopped)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def epoch(self, record: dict[str, Any]) -> None:
        """Write the summary line of a finished epoch."""
        clear = "\r\033[K" if self.live else ""
        self._drawn = False
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


def non_negative_int(text: str) -> int:
    """An ``argparse`` type: an integer >= 0 (a seed), or a one-line reason."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def output_dir(text: str) -> str:
    """An ``argparse`` type: a non-empty directory name (``--out ""`` is refused)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a directory, got {text!r}")
    return text


def anchor_counts(text: str) -> dict[str, int]:
    """An ``argparse`` type: ``KIND=COUNT[,KIND=COUNT...]`` as a dict of anchor counts.

    Each count may be at most :data:`MAX_ANCHORS`, and so may their sum, so a typo such as
    ``bad=100000000`` is refused here instead of filling the memory; the total with the
    task's defaults for the kinds not given is checked when the run is configured
    (:meth:`uniloss_ref.experiments.training.TrainConfig.resolved`).
    """
    counts = {}
    for item in text.split(","):
        kind, _, number = item.partition("=")
        if kind.strip() not in ANCHOR_KINDS or not number.strip().isdigit():
            raise argparse.ArgumentTypeError(
                f"expected KIND=COUNT[,KIND=COUNT...] with KIND in {', '.join(ANCHOR_KINDS)}, "
                f"got {text!r}"
            )
        if kind.strip() in counts:
            raise argparse.ArgumentTypeError(f"{text!r} gives {kind.strip()} twice")
        counts[kind.strip()] = int(number)
    for kind, value in counts.items():
        if value > MAX_ANCHORS:
            raise argparse.ArgumentTypeError(
                f"{text!r} asks for {value} anchors of kind {kind}; at most {MAX_ANCHORS} in "
                "all (the authors use 49)"
            )
    if sum(counts.values()) > MAX_ANCHORS:
        raise argparse.ArgumentTypeError(
            f"{text!r} asks for {sum(counts.values())} anchors; at most {MAX_ANCHORS} in all "
            "(the authors use 49)"
        )
    return counts


def class_label(text: str) -> int:
    """An ``argparse`` type: an integer class label, as it appears in the data."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a class label (an integer), got {text!r}"
        ) from None


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
