"""Re-run a plan of ``studies/plans.py`` with today's training loop, one run at a time.

Usage (from the repository root)::

    mkdir -p studies/logs/rerun
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. nohup python -m studies.queue PLAN \\
        > studies/logs/rerun/PLAN.log 2>&1 &

Results go to ``studies/logs/rerun/PLAN.jsonl`` (the original runs stay in
``studies/logs/PLAN.jsonl``); a run already there is skipped, so a plan can be resumed.
Runs that today's loop cannot run are listed first and skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

from studies import plans
from uniloss_ref.experiments.study import run_plan

RERUNS = Path(__file__).parent / "logs" / "rerun"


def main(name: str) -> None:
    if name not in plans.PLANS:
        raise SystemExit(f"unknown plan {name!r}; choose one of {', '.join(plans.PLANS)}")
    for tag, why in plans.left_out(name):
        print(f"left out: {tag}: {why}", flush=True)
    RERUNS.mkdir(parents=True, exist_ok=True)
    run_plan(plans.runnable(name), RERUNS / f"{name}.jsonl")


if __name__ == "__main__":
    main(sys.argv[1])
