"""Command line: ``python -m uniloss_ref conformance {generate,verify}``."""

from __future__ import annotations

import argparse
import os
import sys

from ..experiments.console import one_line
from . import vectors
from .fresh import MAX_FRESH
from .verify import (
    DEFAULT_LOAD_TIMEOUT,
    DEFAULT_TIMEOUT,
    MAX_REPEAT,
    MAX_SEED,
    MAX_TIMEOUT,
    check_seconds,
    new_seed,
    verify,
)

#: Fresh cases ``verify`` adds to the file's by default: what a port's CI should run.
DEFAULT_FRESH = 100


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``conformance`` command (``generate`` and ``verify``) to the command line."""
    parser = commands.add_parser(
        "conformance",
        help="conformance vectors for ports: regenerate them, or check a port against them",
        description="Conformance vectors for ports of UniLoss to other frameworks.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    generate = actions.add_parser(
        "generate",
        help="regenerate the vectors from the reference (deterministic)",
        description="Regenerate the conformance vectors from this reference implementation.",
    )
    generate.add_argument(
        "--output", metavar="PATH", help="where to write them (default: the packaged file)"
    )
    generate.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing file at --output (the packaged file is always replaced)",
    )
    generate.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the file at --output (or the packaged one) differs",
    )
    generate.add_argument(
        "--fresh",
        metavar="N",
        type=_count(MAX_FRESH),
        help=f"write N fresh cases instead (at most {MAX_FRESH}; needs --output), for a port "
        "in another language: new batches drawn from --seed, expected values from the reference",
    )
    generate.add_argument(
        "--seed", metavar="S", type=_count(MAX_SEED), help="the fresh cases' seed (default: new)"
    )
    generate.set_defaults(func=_generate)

    check = actions.add_parser(
        "verify",
        help="run a port over every case and report each quantity's worst error",
        description=(
            "Run PORT, a function port(case: dict) -> dict, over the conformance cases (the "
            "packaged ones and 100 fresh ones drawn here from a new seed) and compare what it "
            "returns with the reference. The port runs in its own process, with a time limit "
            "per case. By default every quantity of every case must be returned: that is the "
            "check a CI should run. Exit status 0 if the port conforms, 1 if not, 2 on a "
            "usage error or a port that cannot be loaded. See docs/porting.md for the "
            "signature."
        ),
    )
    check.add_argument(
        "port", metavar="MODULE:FUNCTION", help="e.g. mypackage.port:uniloss or chapter.py:port"
    )
    check.add_argument("--vectors", metavar="PATH", help="a vectors file (default: packaged)")
    check.add_argument(
        "--cases", metavar="GLOB", action="append", help="only cases matching GLOB (repeatable)"
    )
    check.add_argument(
        "--fresh",
        metavar="N",
        type=_count(MAX_FRESH),
        default=DEFAULT_FRESH,
        help=f"also check N fresh cases, drawn here from --seed (default {DEFAULT_FRESH}; "
        f"at most {MAX_FRESH}; 0: the file's cases only)",
    )
    check.add_argument(
        "--seed",
        metavar="S",
        type=_count(MAX_SEED),
        help="the fresh cases' seed (default: a new one, printed in the report)",
    )
    check.add_argument(
        "--repeat",
        metavar="R",
        type=_count(MAX_REPEAT, least=1),
        default=1,
        help=f"run each case R times and fail a quantity that differs between runs by more "
        f"than its tolerance (default 1, at most {MAX_REPEAT})",
    )
    check.add_argument(
        "--allow-partial",
        action="store_true",
        help="while porting: skip missing quantities and NotImplementedError cases instead of "
        "failing them (the verdict then says PARTIAL PASS); never in CI",
    )
    # The default since skips became failures; still accepted so older scripts keep working.
    check.add_argument("--require-all", action="store_true", help=argparse.SUPPRESS)
    check.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"time limit for each case, in seconds (default {DEFAULT_TIMEOUT:g})",
    )
    check.add_argument(
        "--load-timeout",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_LOAD_TIMEOUT,
        help=f"time limit to import the port (default {DEFAULT_LOAD_TIMEOUT:g})",
    )
    check.set_defaults(func=_verify)


def _count(top: int, least: int = 0):
    """An argparse type: a whole number from ``least`` to ``top``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not least <= value <= top:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {least} to {top}, got {text!r}"
            )
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        return check_seconds(float(text), "the time limit")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of seconds, at most {MAX_TIMEOUT:g} (a day), got {text!r}"
        ) from None


def _error(message: str) -> int:
    print(f"python -m uniloss_ref conformance: error: {message}", file=sys.stderr)
    return 2


def _generate(args: argparse.Namespace) -> int:
    if args.fresh is not None or args.seed is not None:
        return _generate_fresh(args)
    if args.check:
        try:
            committed = vectors.load(args.output)
        except (OSError, ValueError) as err:
            return _error(one_line(err))
        differences = vectors.compare(committed, vectors.generate())
        for line in differences:
            print(line)
        print("the vectors match the reference" if not differences else "the vectors differ")
        return 1 if differences else 0
    if args.output is not None and not args.overwrite and os.path.lexists(args.output):
        return _error(
            f"{args.output} exists; pass --overwrite to replace it, or choose another path"
        )
    try:
        path = vectors.write(args.output, overwrite=args.output is None or args.overwrite)
    except OSError as err:
        return _error(f"cannot write {args.output or vectors.default_path()}: {one_line(err)}")
    print(f"wrote {path}")
    return 0


def _generate_fresh(args: argparse.Namespace) -> int:
    if args.fresh is None:
        return _error("--seed goes with --fresh N")
    if args.check:
        return _error("--check compares the packaged cases; it does not go with --fresh")
    if args.output is None:
        return _error("--fresh needs --output: the packaged file holds the fixed cases")
    if not args.overwrite and os.path.lexists(args.output):
        return _error(
            f"{args.output} exists; pass --overwrite to replace it, or choose another path"
        )
    seed = new_seed() if args.seed is None else args.seed
    try:
        path = vectors.write(args.output, fresh=args.fresh, seed=seed)
    except OSError as err:
        return _error(f"cannot write {args.output}: {one_line(err)}")
    print(f"wrote {path}: {args.fresh} fresh cases drawn with --seed {seed}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    if args.allow_partial and args.require_all:
        return _error("--allow-partial and --require-all contradict each other")
    try:
        report = verify(
            args.port,
            vectors=vectors.load(args.vectors) if args.vectors else None,
            cases=args.cases,
            require_all=not args.allow_partial,
            timeout=args.timeout,
            load_timeout=args.load_timeout,
            fresh=args.fresh,
            seed=args.seed,
            repeat=args.repeat,
        )
    except (OSError, ValueError, TypeError) as err:
        return _error(one_line(err))
    print(report.format())
    return 0 if report.passed else 1
