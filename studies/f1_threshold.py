"""F1 at a threshold, Fashion-MNIST shirt against the rest: UniLoss trained on F1 at t = 0
against binary cross-entropy read at the threshold best on validation.

Protocol (``docs/reproduction.md``, "F1 at a threshold"):

1. ``screen``: each loss gets six settings, the same budget: UniLoss tau in {0.5, 1, 2} x
   learning rate in {0.01, 0.03}; BCE learning rate in {0.001, 0.003, 0.01, 0.03, 0.1, 0.3}.
   12,000 training images (10,800 to train, 1,200 to validate), seeds 0 and 1 (paired: the
   same data, initialisation and batches for both losses), 10 epochs. A setting's score is
   its mean validation F1 (UniLoss at t = 0, BCE at its validation-best t); the best is kept.
   The test split is not read: screening runs evaluate 100 test images and drop the number.
2. ``heldout``: the kept settings at full size (54,000 / 6,000 validation / 10,000 test),
   held-out seeds from 20 on, the test split read once per run.
3. ``table``: the markdown table of ``docs/reproduction.md`` from the held-out log.
4. ``batch`` (added after the table, so not part of the plan above): the chosen settings on
   batches of 64 and 256, screening size and seeds, validation only: does F1 on a batch of
   16 (one or two shirts) stand in for F1 on the dataset? Each loss then has eight settings.
5. ``heldout-batch``: each loss's best of its eight on validation, held-out seeds as in 2
   (a run already in the held-out log is reused); ``table-batch`` prints its table.
6. ``heldout-fresh``: the same settings on seeds never read before (``--first-seed 25``),
   because the batch stage was added after the first held-out table was read;
   ``table-fresh`` prints its table.

Every run is one JSON line in ``studies/logs/f1_<stage>.jsonl`` (its configuration, status,
validation curve and readings); a run already logged is skipped, so a stage resumes where
it stopped. One process, one BLAS thread::

    export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 PYTHONPATH=.
    nice -n 10 python -m studies.f1_threshold screen
    nice -n 10 python -m studies.f1_threshold heldout --seeds 10
    python -m studies.f1_threshold table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from uniloss_ref.experiments.outputs import write_text
from uniloss_ref.experiments.training import Diverged, TrainConfig, train

LOGS = Path(__file__).resolve().parent / "logs"
FASHION = {"task": "ap", "metric": "f1", "data": "fashion-mnist", "positive": 6, "epochs": 10}
SCREEN = {"n_train": 12_000, "n_test": 100}
SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "uniloss": {
        f"tau {tau:g}, lr {lr:g}": {"temperature": tau, "lr": lr}
        for tau in (0.5, 1.0, 2.0)
        for lr in (0.01, 0.03)
    },
    "bce": {f"lr {lr:g}": {"lr": lr} for lr in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)},
}
READINGS = ("threshold", "val_metric", "tuned_threshold", "val_metric_tuned")


def logged(stage: str) -> list[dict[str, Any]]:
    path = LOGS / f"f1_{stage}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def log(stage: str, record: dict[str, Any]) -> None:
    """Append one line, by rewriting the file atomically: never half a line."""
    path = LOGS / f"f1_{stage}.jsonl"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    write_text(path, old + json.dumps(record, allow_nan=False) + "\n")


def run(stage: str, loss: str, setting: str, seed: int, options: dict[str, Any]) -> None:
    done = {(r["loss"], r["setting"], r["seed"]) for r in logged(stage)}
    if (loss, setting, seed) in done:
        return
    config = TrainConfig(loss=loss, seed=seed, **FASHION, **options)
    started = time.perf_counter()
    try:
        results = train(config, show_progress=False).results
    except Diverged as err:
        results = err.run.results
    keep = READINGS + (("test_metric", "test_metric_tuned") if "heldout" in stage else ())
    record = {
        "stage": stage,
        "loss": loss,
        "setting": setting,
        "seed": seed,
        "status": results["status"],
        **{key: results.get(key) for key in keep},
        "val_curve": [epoch["val_metric"] for epoch in results["history"]],
        "config": results["config"],
        "data": results["data"],
        "seconds": time.perf_counter() - started,
    }
    log(stage, record)
    shown = {key: record[key] for key in keep if record[key] is not None}
    print(loss, setting, seed, record["status"], shown, f"{record['seconds']:.0f} s", flush=True)


def options_of(loss: str, setting: str) -> dict[str, Any]:
    """A setting's training options from its name (``"<screened>, batch <size>"``)."""
    name, _, size = setting.partition(", batch ")
    return {**SETTINGS[loss][name], **({"batch_size": int(size)} if size else {})}


def chosen(stages: tuple[str, ...] = ("screen",)) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each loss's setting with the best mean validation F1 over the screening seeds."""
    scores: dict[tuple[str, str], list[float]] = {}
    for r in (r for stage in stages for r in logged(stage)):
        value = r["val_metric"] if r["status"] == "completed" else float("-inf")
        scores.setdefault((r["loss"], r["setting"]), []).append(value)
    best = {}
    for loss in SETTINGS:
        means = {name: np.mean(v) for (kind, name), v in scores.items() if kind == loss}
        name = max(means, key=means.get)
        best[loss] = (name, options_of(loss, name))
    return best


def table(stage: str = "heldout") -> str:
    """Held-out test F1 in points, mean +- sd over seeds, and UniLoss - BCE paired by seed."""
    runs = [r for r in logged(stage) if r["status"] == "completed"]
    by = {(r["loss"], r["seed"]): r for r in runs}
    seeds = sorted({seed for loss, seed in by if (("bce", seed) in by and ("uniloss", seed) in by)})
    rows = [
        ("UniLoss on F1, read at t = 0", "uniloss", "test_metric"),
        ("UniLoss on F1, t chosen on validation", "uniloss", "test_metric_tuned"),
        ("BCE, t chosen on validation", "bce", "test_metric"),
    ]
    lines = [
        f"Test F1 in points over held-out seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} seeds).",
        "",
        "| loss, reading | setting | mean ± sd | min – max |",
        "| --- | --- | ---: | ---: |",
    ]
    for label, loss, key in rows:
        values = 100 * np.array([by[(loss, s)][key] for s in seeds])
        setting = by[(loss, seeds[0])]["setting"]
        lines.append(
            f"| {label} | {setting} | {values.mean():.2f} ± {values.std(ddof=1):.2f} | "
            f"{values.min():.2f} – {values.max():.2f} |"
        )
    lines.append("")
    for label, key in (("t = 0", "test_metric"), ("validation t", "test_metric_tuned")):
        diff = 100 * np.array([by[("uniloss", s)][key] - by[("bce", s)]["test_metric"]
                               for s in seeds])  # fmt: skip
        lines.append(
            f"UniLoss ({label}) − BCE (validation t), paired by seed: {diff.mean():+.2f} ± "
            f"{diff.std(ddof=1):.2f} points, UniLoss below on {int((diff < 0).sum())} of "
            f"{len(seeds)} seeds."
        )
    return "\n".join(lines)


def batch_table() -> str:
    """Mean validation F1 (points) of the chosen settings by batch size, seeds 0-1."""
    rows = [r for r in logged("screen") + logged("batch") if r["status"] == "completed"]
    best = {loss: name for loss, (name, _) in chosen().items()}
    lines = ["| loss | batch | val F1, as read | val F1, t tuned |", "| --- | ---: | ---: | ---: |"]
    for loss, name in best.items():
        for size in (16, 64, 256):
            setting = name if size == 16 else f"{name}, batch {size}"
            got = [r for r in rows if r["loss"] == loss and r["setting"] == setting]
            if got:
                read = 100 * np.mean([r["val_metric"] for r in got])
                tuned = 100 * np.mean([r["val_metric_tuned"] for r in got])
                lines.append(f"| {loss} ({name}) | {size} | {read:.2f} | {tuned:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stages = (
        "screen",
        "heldout",
        "table",
        "batch",
        "heldout-batch",
        "table-batch",
        "heldout-fresh",
        "table-fresh",
    )
    parser.add_argument("stage", choices=stages)
    parser.add_argument("--seeds", type=int, default=10, help="held-out seeds (10)")
    parser.add_argument("--first-seed", type=int, default=20, help="the first held-out seed")
    args = parser.parse_args(argv)
    LOGS.mkdir(exist_ok=True)
    if args.stage == "screen":
        for seed in (0, 1):
            for loss, settings in SETTINGS.items():
                for name, options in settings.items():
                    run("screen", loss, name, seed, {**SCREEN, **options})
        for loss, (name, _) in chosen().items():
            print(f"chosen for {loss}: {name}")
    elif args.stage == "heldout":
        best = chosen()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for loss, (name, options) in best.items():
                run("heldout", loss, name, seed, options)
    elif args.stage in ("heldout-batch", "heldout-fresh"):
        # heldout-batch reuses the runs of "heldout" that share its setting and seed
        reusable = logged("heldout") if args.stage == "heldout-batch" else []
        reused = {(r["loss"], r["setting"], r["seed"]): r for r in reusable}
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for loss, (name, options) in chosen(("screen", "batch")).items():
                done = {(r["loss"], r["setting"], r["seed"]) for r in logged(args.stage)}
                if (loss, name, seed) in reused and (loss, name, seed) not in done:
                    log(args.stage, reused[(loss, name, seed)])
                run(args.stage, loss, name, seed, options)
    elif args.stage in ("table-batch", "table-fresh"):
        print(table(args.stage.replace("table", "heldout")))
    elif args.stage == "batch":
        for seed in (0, 1):
            for loss, (name, options) in chosen().items():
                for size in (64, 256):
                    setting = f"{name}, batch {size}"
                    run("batch", loss, setting, seed, {**SCREEN, **options, "batch_size": size})
        print(batch_table())
    else:
        print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
