"""The study runner: its data protocols, its log and its tables, on runs of a second."""

import io
import json

import numpy as np
import pytest

from uniloss_ref.experiments.study import (
    cv_fold,
    read_log,
    run_plan,
    split_options,
    table,
)
from uniloss_ref.experiments.training import TrainConfig

TINY = {"task": "accuracy", "protocol": "cv", "epochs": 1, "n_train": 300, "n_test": 50}


def test_folds_partition_the_training_split_stratified_and_hold_no_test():
    config = TrainConfig(task="ap", loss="bce", seed=3)
    folds = [cv_fold(config, k, 5) for k in range(5)]
    sizes = {len(f.X_train) + len(f.X_val) for f in folds}
    assert len(sizes) == 1  # every fold pools the same training split
    held = np.concatenate([f.X_val.reshape(len(f.X_val), -1) for f in folds])
    assert len(np.unique(held, axis=0)) == len(np.unique(held, axis=0, return_index=True)[1])
    assert len(held) == sizes.pop()  # the validation folds cover it once
    positives = [int(f.y_val.sum()) for f in folds]
    assert max(positives) - min(positives) <= 1  # stratified by label
    assert all(len(f.X_test) == 0 for f in folds)
    assert len(cv_fold(config, 0, 5, test=True).X_test) > 0
    with pytest.raises(ValueError, match=r"fold must be in 0\.\.4"):
        cv_fold(config, 5, 5)


def test_a_plan_logs_one_line_per_run_and_skips_runs_already_logged(tmp_path):
    log = tmp_path / "plan.jsonl"
    runs = [
        ("ce", dict(TINY, loss="ce", seed=0)),
        ("ce", dict(TINY, loss="ce", seed=1)),
        ("uniloss", dict(TINY, loss="uniloss", seed=0)),
        ("uniloss", dict(TINY, loss="uniloss", seed=1, test=True)),
    ]
    console = io.StringIO()
    assert run_plan(runs[:3], log, out=console) == 3
    assert run_plan(runs, log, out=console) == 1
    assert console.getvalue().count("val ") == 4
    records = read_log(log)
    assert [r["tag"] for r in records] == ["ce", "ce", "uniloss", "uniloss"]
    assert all(len(r["history"]) == 1 and 0 <= r["val"] <= 1 for r in records)
    assert "test" not in records[0] and 0 <= records[3]["test"] <= 1
    assert records[0]["data"]["n_test"] == 0 and records[3]["data"]["n_test"] == 50
    json.dumps(records, allow_nan=False)
    rows = table(records, reference="ce").splitlines()
    assert rows[2].startswith("| ce |") and rows[3].startswith("| uniloss |")
    paired = 100 * np.array([records[i]["val"] - records[i - 2]["val"] for i in (2, 3)])
    assert f"{paired.mean():+.2f} ± {paired.std(ddof=1):.2f}" in rows[3]
    assert "| 2 |" in rows[3]  # two runs of uniloss


def test_study_options_are_checked_by_name():
    config, protocol = split_options({"task": "ap", "loss": "bce", "positive": 6})
    assert config.data == "fashion-mnist" and protocol["n_val"] == 10_000
    with pytest.raises(ValueError, match=r"unknown study options \['learning_rate'\]"):
        split_options({"task": "ap", "loss": "bce", "learning_rate": 0.1})
    with pytest.raises(ValueError, match="protocol must be one of fashion, cv, package"):
        split_options({"task": "ap", "loss": "bce", "protocol": "holdout"})
