"""Command line: ``python -m uniloss_ref COMMAND``.

Commands
--------
check
    Verify the method's laws for every metric on random batches and print a table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m uniloss_ref", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser("check", help="verify the method's laws on random batches")
    check.add_argument("--cases", type=_positive_int, default=20, help="batches per metric (20)")
    check.add_argument("--seed", type=int, default=0, help="seed of the random batches (0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        from .check import format_table, run

        rows = run(cases=args.cases, seed=args.seed)
        print(format_table(rows))
        return 0 if all(row.passed for row in rows) else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
