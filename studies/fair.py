"""The equal-budget search of ``docs/reproduction.md``: its plans, run and tabulated.

Usage (from the repository root; one training process, one BLAS thread)::

    export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 PYTHONPATH=.
    nice -n 10 python -m studies.fair run PLAN       # appends to studies/logs/PLAN.jsonl
    python -m studies.fair table PLAN [--reference TAG] [--test]

Each plan is a function below returning ``[(tag, options), ...]`` for
:mod:`uniloss_ref.experiments.study`; a stage that starts from the best setting of the
previous one names that setting in ``BEST`` (filled in as the stages ran, each from the
table of the stage before).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from uniloss_ref.experiments.study import read_log, run_plan, table

LOGS = Path(__file__).parent / "logs"
SEEDS = (0, 1, 2)

AP = {"task": "ap", "positive": 6, "n_train": 6000, "epochs": 10, "dtype": "float32"}
ACCURACY = {"task": "accuracy", "n_train": 6000, "epochs": 10, "dtype": "float32"}


def _seeds(tag, seeds=SEEDS, **options):
    return [(tag, dict(options, seed=s)) for s in seeds]


def _grid(base, loss, **axes):
    """Every combination of the axes' values for one loss, tagged ``loss k=v k=v``."""
    runs = [({}, loss)]
    for name, values in axes.items():
        runs = [({**o, name: v}, f"{t} {name}={v}") for o, t in runs for v in values]
    return [run for options, tag in runs for run in _seeds(tag, **{**base, **options}, loss=loss)]


def ap_shared():
    """Stage 1 (AP): learning rate x batch size for both losses, stratified batches."""
    return [
        run
        for loss in ("uniloss", "bce")
        for run in _grid(AP, loss, lr=(0.003, 0.01, 0.03, 0.1), batch_size=(16, 64))
    ]


def accuracy_shared():
    """Stage 1 (accuracy): learning rate x batch size x weight decay for both losses."""
    return [
        run
        for loss in ("uniloss", "ce")
        for run in _grid(
            ACCURACY, loss, lr=(0.01, 0.03, 0.1), batch_size=(32, 128), weight_decay=(0.0, 1e-4)
        )
    ]


BEST = {
    # stage 1 (ap_shared): the highest mean validation AP of each loss's 8 settings
    "ap uniloss": {"lr": 0.03, "batch_size": 64},
    "ap bce": {"lr": 0.01, "batch_size": 16},
}


def _best(task, loss):
    base = AP if task == "ap" else ACCURACY
    return {**base, **BEST[f"{task} {loss}"]}


def _tagged(loss, tag, options):
    return _seeds(f"{loss} {tag}", **options, loss=loss)


def ap_sampler():
    """Stage 2 (AP): random and balanced batches at each loss's best shared setting."""
    return [
        run
        for loss in ("uniloss", "bce")
        for batches in ("random", "balanced")
        for run in _tagged(loss, f"batches={batches}", {**_best("ap", loss), "batches": batches})
    ]


def dtype_check():
    """The AP defaults of both losses in float64 beside float32 (not part of any budget)."""
    return [
        run
        for loss, lr in (("uniloss", 0.01), ("bce", 0.03))
        for run in _grid(AP, loss, lr=(lr,), batch_size=(16,), dtype=("float64",))
    ]


PLANS = {f.__name__: f for f in (ap_shared, ap_sampler, accuracy_shared, dtype_check)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("run", "table"))
    parser.add_argument("plan", choices=sorted(PLANS))
    parser.add_argument("--reference", help="tag the others are paired against")
    parser.add_argument("--test", action="store_true", help="tabulate the test metric")
    args = parser.parse_args(argv)
    log = LOGS / f"{args.plan}.jsonl"
    if args.action == "run":
        run_plan(PLANS[args.plan](), log)
        return 0
    field = "test" if args.test else "val"
    print(table(read_log(log), reference=args.reference, field=field), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
