"""Selection studies: many training runs under one data protocol, logged one JSON line each.

A study is a *plan*, a list of runs ``(tag, options)``. ``options`` are the fields of
:class:`~uniloss_ref.experiments.training.TrainConfig` (``task``, ``loss``, ``seed``, ``lr``,
...) plus the protocol's own keys:

``protocol``
    ``"fashion"``: Fashion-MNIST's 60,000 training images are permuted by the seed; the first
    ``n_val`` (default 10,000, about 1,000 per class) are the validation split, the next
    ``n_train`` (default all the rest, 50,000) the training split. ``"cv"``: the task's data
    (``data``, default the task's) split as :func:`~uniloss_ref.experiments.tasks.load_task_data`
    splits it for the seed; its training and validation parts pooled and cut into ``folds``
    stratified folds, fold ``fold`` validating and the rest training (k-fold
    cross-validation inside the training split). ``"package"``: the data exactly as
    ``python -m uniloss_ref train`` splits it for the seed.
``test``
    False (default): the run has no test split at all, so selection cannot read one. True:
    the official test split (``"fashion"``) or the seeded split's test part (``"cv"``) is
    evaluated once, after the last epoch (``"package"``: the split's test part).

Every run trains with the package's own loop (:func:`~uniloss_ref.experiments.training.fit`)
and records its options, the resolved config, the split sizes, the validation metric after
every epoch (no epoch is picked: the metric reported is the last one), the test metric when
read, and its wall time. :func:`run_plan` runs a plan one run at a time in
this process and skips runs already in its log, so a plan can be extended or resumed;
:func:`table` turns a log into a Markdown table with differences paired by seed and fold.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .data import Dataset, KeypointTargets, load_idx
from .outputs import write_text
from .tasks import get_task, load_task_data
from .training import TrainConfig, fit, prepare

PROTOCOLS = ("fashion", "cv", "package")

PROTOCOL_DEFAULTS: dict[str, Any] = {
    "protocol": "fashion",
    "n_val": 10_000,
    "fold": 0,
    "folds": 5,
    "test": False,
}
"""The protocol's keys and their defaults (see the module docstring)."""

Run = tuple[str, dict[str, Any]]

_FASHION: dict[str, Dataset] = {}


def _fashion(dtype: str) -> Dataset:
    if dtype not in _FASHION:
        _FASHION[dtype] = load_idx("fashion-mnist", dtype=dtype)
    return _FASHION[dtype]


def _for_task(task_name: str, data: Dataset, positive: int | None) -> Dataset:
    """Class labels as the task wants them: 0/1 against ``positive`` for AP."""
    if task_name != "ap":
        return data
    if positive is None:
        raise ValueError("the AP task on Fashion-MNIST needs a positive class (options 'positive')")
    splits = [(y == positive).astype(np.int64) for y in (data.y_train, data.y_val, data.y_test)]
    names = ("rest", data.class_names[positive])
    return Dataset(
        data.name, data.X_train, splits[0], data.X_val, splits[1], data.X_test, splits[2], names
    )


def fashion_split(
    seed: int,
    task: str,
    *,
    n_train: int | None = None,
    n_val: int = 10_000,
    positive: int | None = None,
    test: bool = False,
    dtype: str = "float64",
) -> Dataset:
    """The ``"fashion"`` protocol's data for ``seed`` (see the module docstring)."""
    whole = _fashion(dtype)
    order = np.random.default_rng(seed).permutation(len(whole.y_train))
    val, rest = order[:n_val], order[n_val:]
    train = rest if n_train is None else rest[:n_train]
    X_test, y_test = (whole.X_test, whole.y_test) if test else (whole.X_test[:0], whole.y_test[:0])
    data = Dataset(
        whole.name,
        whole.X_train[train],
        whole.y_train[train],
        whole.X_train[val],
        whole.y_train[val],
        X_test,
        y_test,
        whole.class_names,
    )
    return _for_task(task, data, positive)


def cv_fold(config: TrainConfig, fold: int, folds: int, *, test: bool = False) -> Dataset:
    """Fold ``fold`` of ``folds`` of the task's training data for ``config.seed``."""
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}")
    task = get_task(config.task)
    whole = load_task_data(
        task,
        config.data,
        seed=config.seed,
        data_dir=config.data_dir,
        n_train=config.n_train,
        n_test=config.n_test,
        positive=config.positive,
        dtype=config.dtype,
    )
    X = np.concatenate([whole.X_train, whole.X_val])
    if whole.is_keypoints:
        a, b = whole.y_train, whole.y_val
        y = KeypointTargets(
            *(
                np.concatenate([x, z])
                for x, z in zip((a.xy, a.visible, a.scale), (b.xy, b.visible, b.scale), strict=True)
            ),
            a.heatmap_shape,
        )
        strata = np.zeros(len(X), dtype=np.int64)
    else:
        y = strata = np.concatenate([whole.y_train, whole.y_val])
    rng = np.random.default_rng([config.seed, folds])
    fold_of = np.empty(len(X), dtype=np.int64)
    for stratum in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == stratum))
        fold_of[members] = (np.arange(members.size) + rng.integers(folds)) % folds
    held = fold_of == fold
    keep = slice(None) if test else slice(0, 0)
    return Dataset(
        whole.name,
        X[~held],
        y[~held],
        X[held],
        y[held],
        whole.X_test[keep],
        whole.y_test[keep],
        whole.class_names,
    )


def split_options(options: dict[str, Any]) -> tuple[TrainConfig, dict[str, Any]]:
    """A run's options as its training config and its protocol (defaults filled in)."""
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(options) - names - set(PROTOCOL_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown study options {unknown}")
    protocol = PROTOCOL_DEFAULTS | {k: v for k, v in options.items() if k in PROTOCOL_DEFAULTS}
    if protocol["protocol"] not in PROTOCOLS:
        raise ValueError(
            f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol['protocol']!r}"
        )
    train = {k: v for k, v in options.items() if k in names}
    if protocol["protocol"] == "fashion":
        train.setdefault("data", "fashion-mnist")
    config = TrainConfig(**train)
    return config, protocol


def study_data(config: TrainConfig, protocol: dict[str, Any]) -> Dataset | None:
    """The dataset a run trains, validates (and, with ``test``, tests) on; None for the
    ``"package"`` protocol, whose data :func:`~uniloss_ref.experiments.training.prepare`
    loads."""
    if protocol["protocol"] == "package":
        return None
    if protocol["protocol"] == "fashion":
        return fashion_split(
            config.seed,
            config.task,
            n_train=config.n_train,
            n_val=protocol["n_val"],
            positive=config.positive,
            test=protocol["test"],
            dtype=config.dtype,
        )
    return cv_fold(config, protocol["fold"], protocol["folds"], test=protocol["test"])


def run_one(tag: str, options: dict[str, Any]) -> dict[str, Any]:
    """Train one run of a plan; its log record (JSON-ready)."""
    config, protocol = split_options(options)
    setup = prepare(config, study_data(config, protocol))
    data = setup.data
    if not protocol["test"] and len(data.X_test):
        data = replace(data, X_test=data.X_test[:0], y_test=data.y_test[:0])
        setup = replace(setup, data=data)
    started = time.perf_counter()
    run = fit(setup, show_progress=False)
    record = {
        "tag": tag,
        "options": options,
        "protocol": protocol,
        "config": asdict(setup.config),
        "data": {
            "n_train": len(data.X_train),
            "n_val": len(data.X_val),
            "n_test": len(data.X_test),
        },
        "history": [
            {"epoch": h["epoch"], "val": h["val_metric"], "train_loss": h["train_loss"]}
            for h in run.results["history"]
        ],
        "val": run.results["val_metric"],
        "seconds": time.perf_counter() - started,
    }
    if config.task == "ap":
        record["data"]["positives"] = {
            split: int(np.sum(getattr(data, f"y_{split}"))) for split in ("train", "val", "test")
        }
    if protocol["test"]:
        record["test"] = run.results["test_metric"]
    return record


def key(tag: str, options: dict[str, Any]) -> str:
    """What identifies a run in a log: its tag and options."""
    return tag + " " + json.dumps(options, sort_keys=True)


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of a log (none for a log not yet written)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run_plan(runs: Sequence[Run], log: str | os.PathLike, out: TextIO = sys.stdout) -> int:
    """Train every run of ``runs`` not yet in ``log``, one after another; how many ran.

    Each finished run is appended to ``log`` as one JSON line (the file is rewritten
    atomically, so an interrupted plan never leaves half a line); progress goes to ``out``.
    """
    log = Path(log)
    done = {key(r["tag"], r["options"]) for r in read_log(log)}
    started, ran = time.perf_counter(), 0
    for i, (tag, options) in enumerate(runs, 1):
        if key(tag, options) in done:
            continue
        print(
            f"[{i}/{len(runs)}] {tag} {json.dumps(options, sort_keys=True)}", file=out, flush=True
        )
        record = run_one(tag, options)
        old = log.read_text(encoding="utf-8") if log.exists() else ""
        write_text(log, old + json.dumps(record, allow_nan=False) + "\n")
        done.add(key(tag, options))
        ran += 1
        curve = " ".join(f"{100 * h['val']:.1f}" for h in record["history"])
        print(
            f"  val {100 * record['val']:.2f} [{curve}] ({record['seconds']:.0f} s, "
            f"{time.perf_counter() - started:.0f} s in all)",
            file=out,
            flush=True,
        )
    return ran


def _pair_key(record: dict[str, Any]) -> tuple[int, int]:
    return record["config"]["seed"], record["protocol"]["fold"]


def table(
    records: Iterable[dict[str, Any]],
    reference: str | None = None,
    field: str = "val",
    tags: Sequence[str] | None = None,
) -> str:
    """A Markdown table: per tag, ``field`` in points over its runs, paired differences.

    Parameters
    ----------
    records : iterable of dict
        Log records (:func:`read_log`).
    reference : str, optional
        The tag every other is compared with, paired by seed and fold: mean ± sample sd of
        the differences and how many pairs fall below the reference.
    field : {"val", "test"}, default "val"
    tags : sequence of str, optional
        The rows and their order (default: every tag, in the order of first appearance).
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if field in r:
            groups.setdefault(r["tag"], []).append(r)
    base = {_pair_key(r): r[field] for r in groups.get(reference, [])}
    head = f"| setting | {field} | runs | paired vs reference | below | s / run |"
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for tag in tags or list(groups):
        runs = groups.get(tag, [])
        if not runs:
            continue
        points = 100 * np.array([r[field] for r in runs])
        pairs = [100 * (r[field] - base[_pair_key(r)]) for r in runs if _pair_key(r) in base]
        paired = below = "–"
        if pairs and tag != reference:
            paired, below = _plus_minus(np.array(pairs), "+"), str(sum(p < 0 for p in pairs))
        seconds = np.mean([r["seconds"] for r in runs])
        lines.append(
            f"| {tag} | {_plus_minus(points)} | {len(runs)} | {paired} | {below} | {seconds:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _plus_minus(values: np.ndarray, sign: str = "") -> str:
    sd = f" ± {values.std(ddof=1):.2f}" if values.size > 1 else ""
    return f"{values.mean():{sign}.2f}{sd}"
