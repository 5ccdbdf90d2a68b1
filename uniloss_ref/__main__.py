"""Command line: ``python -m uniloss_ref COMMAND [options]``.

Each command lives in its own module, which adds its parser with ``register(commands)``
and sets ``func``: a function of the parsed arguments returning the exit status.

Whatever goes wrong, the command line ends with one line on standard error and a non-zero
exit status, never a traceback (``--debug`` shows it): 2 for a user error (a bad argument,
missing or malformed data, an unwritable ``--out``), 1 for a failed run or check, and
``128 +`` the signal number after Ctrl-C (130), SIGTERM (143) or SIGHUP (129). An error that
is not a user's (a bug) says so and asks for a report. Ctrl-C while the commands are
still being imported is one line and status 130 too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

try:
    from . import check, conformance, tutorial
    from .experiments import reproduce, training
    from .experiments.children import die_with_parent
    from .experiments.console import fail, one_line, signals
except KeyboardInterrupt:  # Ctrl-C while the commands load (about half a second)
    if __name__ != "__main__":
        raise
    print("python -m uniloss_ref: interrupted while starting", file=sys.stderr)
    sys.exit(130)

USER_ERRORS = (ValueError, TypeError, OSError, ImportError, MemoryError)
"""Exceptions reported as a user's error (exit status 2); any other is reported as a bug."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the reason), not the usage text too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser with every command registered."""
    parser = _Parser(
        prog="python -m uniloss_ref",
        description="UniLoss reference implementation: verify, train, reproduce, port.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error or interrupt"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (check, conformance, training, reproduce, tutorial):
        module.register(commands)
    for command in commands.choices.values():
        # Also accepted after the command's name; SUPPRESS keeps a --debug given before it.
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (0 on success)."""
    args = build_parser().parse_args(argv)
    with signals:
        try:
            return int(args.func(args))
        except KeyboardInterrupt as err:
            if args.debug:
                raise
            reason = str(err) or "interrupted"
            print(f"python -m uniloss_ref {args.command}: {reason}", file=sys.stderr)
            return signals.exit_status()
        except USER_ERRORS as err:
            if args.debug:
                raise
            return fail(args.command, err)
        except Exception as err:
            if args.debug:
                raise
            return fail(
                args.command,
                f"internal error ({type(err).__name__}: {one_line(err)}); please report it "
                "with the traceback that --debug shows",
                status=1,
            )


if __name__ == "__main__":
    die_with_parent()  # a train started by reproduce ends with it, even if it is killed
    sys.exit(main())
