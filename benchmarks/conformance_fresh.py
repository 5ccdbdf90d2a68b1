"""Fresh conformance cases: how many wrong ports they reject, and how long a run takes.

Run: ``python benchmarks/conformance_fresh.py [--seeds 1,2,3] [--fresh 200] [--time PORT ...]``

Kill counts: every port of ``tests/wrong_ports.py``'s catalogue (and the two ports that look
answers up) is run over the packaged, fixed cases alone, and over ``--fresh`` fresh cases
alone for each seed; a port is killed when some quantity of some case fails. For the fresh
cases the index of the first case that kills each port is kept, so the table says how many
fresh cases each class of mistake needs. Every right port of the catalogue must pass the
same fresh cases.

Timings (``--time``): the wall-clock time of ``python -m uniloss_ref conformance verify PORT
--fresh N --seed S`` (the fixed cases and N fresh ones, the port in its own process), per
port and seed. Run it on an idle machine with ``OPENBLAS_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import wrong_ports  # noqa: E402
from uniloss_ref.conformance import QUANTITIES, case_inputs, load  # noqa: E402
from uniloss_ref.conformance.fresh import draw_cases  # noqa: E402
from uniloss_ref.conformance.verify import call_port, checks_of  # noqa: E402


def first_kill(port: object, cases: list[dict]) -> int | None:
    """The index of the first case on which ``port`` fails, or None."""
    for index, case in enumerate(cases):
        checks = checks_of(case, call_port(port, case_inputs(case)), QUANTITIES)
        if any(c.status in ("fail", "error") for c in checks):
            return index
    return None


def kills(seeds: list[int], fresh: int) -> None:
    fixed = load()["cases"]
    drawn = {seed: draw_cases(fresh, seed) for seed in seeds}
    ports = [*wrong_ports.CATALOGUE, *wrong_ports.DODGES]
    print(f"{'wrong port':<32} fixed  " + "  ".join(f"seed {s:>3}" for s in seeds))
    killed_fixed, killed = 0, dict.fromkeys(seeds, 0)
    firsts = []
    for cls in ports:
        on_fixed = first_kill(cls(), fixed) is not None
        killed_fixed += on_fixed
        row = []
        for seed in seeds:
            index = first_kill(cls(), drawn[seed])
            killed[seed] += index is not None
            if index is not None:
                firsts.append(index)
            row.append(f"{'-' if index is None else index:>8}")
        print(f"{cls.__name__:<32} {'yes' if on_fixed else 'NO':>5}  " + "  ".join(row))
    print(
        f"\n{len(wrong_ports.CATALOGUE)} wrong ports and {len(wrong_ports.DODGES)} look-ups; "
        f"rejected by the fixed cases alone: {killed_fixed} of {len(ports)}"
    )
    for seed in seeds:
        print(f"rejected by {fresh} fresh cases of seed {seed}: {killed[seed]} of {len(ports)}")
    print(
        f"fresh cases up to the first rejection: median {statistics.median(firsts)}, "
        f"90th percentile {sorted(firsts)[int(0.9 * len(firsts))]}, largest {max(firsts)}"
    )
    for cls in wrong_ports.RIGHT:
        for seed in seeds:
            index = first_kill(cls(), drawn[seed])
            if index is not None:
                print(f"RIGHT PORT {cls.__name__} FAILS fresh case {index} of seed {seed}")


def timings(ports: list[str], seeds: list[int], fresh: int) -> None:
    for spec in ports:
        for seed in seeds:
            argv = [sys.executable, "-m", "uniloss_ref", "conformance", "verify", spec]
            start = time.perf_counter()
            done = subprocess.run(
                [*argv, "--fresh", str(fresh), "--seed", str(seed)],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            seconds = time.perf_counter() - start
            verdict = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
            print(f"{spec:<40} seed {seed:>3}: {seconds:7.1f} s  exit {done.returncode}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    parser.add_argument("--fresh", type=int, default=200, help="fresh cases per seed")
    parser.add_argument("--time", nargs="*", default=None, metavar="PORT", help="ports to time")
    parser.add_argument("--no-kills", action="store_true", help="only the timings")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    warnings.simplefilter("ignore")  # the wrong ports overflow on purpose
    if not args.no_kills:
        kills(seeds, args.fresh)
    if args.time:
        timings(args.time, seeds, args.fresh)


if __name__ == "__main__":
    main()
