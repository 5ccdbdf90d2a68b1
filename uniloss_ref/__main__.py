"""Command line: ``python -m uniloss_ref COMMAND [options]``.

Each command lives in its own module, which adds its parser with ``register(commands)``
and sets ``func``: a function of the parsed arguments returning the exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import check, conformance, tutorial
from .experiments import reproduce, training


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
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (check, conformance, training, reproduce, tutorial):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (0 on success)."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
