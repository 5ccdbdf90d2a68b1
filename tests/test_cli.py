"""``python -m uniloss_ref train`` and ``reproduce``: files written, metrics in range, errors."""

import json
import subprocess
import sys

import pytest

from uniloss_ref.__main__ import main
from uniloss_ref.experiments import plots, reproduce
from uniloss_ref.experiments.tasks import TASKS, UNILOSS_VARIANTS

TINY_TRAIN = ["--n-train", "200", "--n-test", "100", "--epochs", "2", "--quiet"]


def test_train_writes_results_and_plots(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--task", "accuracy", "--loss", "uniloss", "--seed", "1", *TINY_TRAIN]
    assert main([*argv, "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert 0.0 <= results["test_metric"] <= 1.0
    assert results["config"]["seed"] == 1 and len(results["history"]) == 2
    assert (out / "curves.png").is_file()
    assert capsys.readouterr().out.startswith("test accuracy: ")


def test_train_takes_uniloss_options(tmp_path):
    out = tmp_path / "run"
    options = ["--temperature", "0.5", "--anchors", "bad=4,row=2", "--lr", "0.05"]
    options += ["--no-standardise", "--nearby", "random", "--batches", "random"]
    options += ["--momentum", "0.5", "--sigmoid-output", "--positive", "3"]
    argv = ["train", "--task", "ap", "--loss", "uniloss-authors", *TINY_TRAIN, *options]
    assert main([*argv, "--out", str(out)]) == 0
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["temperature"] == 0.5 and config["lr"] == 0.05
    assert config["anchors"] == {"bad": 4, "row": 2}
    assert config["standardise"] is False and config["nearby_rule"] == "random"
    assert config["batches"] == "random" and config["momentum"] == 0.5
    assert config["sigmoid_output"] is True and config["positive"] == 3


def test_train_takes_the_binary_metric_and_the_threshold_rule(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--task", "ap", "--loss", "uniloss", *TINY_TRAIN, "--metric", "f1"]
    assert main([*argv, "--tune-threshold", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["metric"] == "f1" and results["config"]["tune_threshold"] is True
    assert results["threshold"] == results["tuned_threshold"]
    assert capsys.readouterr().out.startswith("test F1 at threshold 0: ")


def test_a_tiny_reproduction_writes_tables_and_plots(tmp_path, capsys):
    out = tmp_path / "repro"
    tiny = ["--seeds", "1", "--epochs", "1", "--n-train", "200", "--n-test", "60", "--jobs", "2"]
    assert main(["reproduce", *tiny, "--out", str(out)]) == 0
    summary = json.loads((out / "results.json").read_text())
    rows = {(r["experiment"], r["loss"]): r for r in summary["rows"]}
    experiments = reproduce.PROFILES["digits"]
    assert set(rows) == {(e.name, loss) for e in experiments for loss in e.losses}
    for row in rows.values():
        assert 0.0 <= row["min"] <= row["mean"] <= row["max"] <= 100.0
        assert row["seeds"] == [reproduce.HELD_OUT_SEEDS]
    assert [d["experiment"] for d in summary["differences"]] == [e.name for e in experiments]
    for run in summary["runs"]:
        assert run["command"].startswith("python -m uniloss_ref train --task")
    table = (out / "results.md").read_text()
    assert table.count("\n| ") == (2 + 11) + (2 + 4)
    assert "(1 seed)" in table and "n/a" not in table
    for word in ("**goal**", "**met**", "**ap, authors' set-up**", "**uniloss-authors**"):
        assert word in table.split("Legend:")[1]
    printed = capsys.readouterr().out
    assert table in printed
    closing = printed.split(table)[1].strip().splitlines()
    assert closing[0] == f"Everything is in {out}/:"
    for name in ("results.md", "results.json", "validation_curves.png", "runs/"):
        assert any(line.strip().startswith(f"{out}/{name}") for line in closing[1:])
    assert (out / "validation_curves.png").is_file()
    assert (out / "runs" / "pck-mse-seed20" / "keypoints.png").is_file()
    authors = out / "runs" / "ap-authors-set-up-uniloss-authors-seed20" / "results.json"
    config = json.loads(authors.read_text())["config"]
    assert config["sigmoid_output"] and config["momentum"] == 0.5 and not config["standardise"]


def test_summary_pairs_seeds_and_checks_the_goal():
    def run(task, loss, seed, value):
        return {
            "task": task,
            "metric": "accuracy",
            "config": {"loss": loss, "seed": seed},
            "test_metric": value,
            "seconds": 1.0,
        }

    runs = [run("accuracy", "uniloss", 0, 0.97), run("accuracy", "ce", 0, 0.98)]
    runs += [run("accuracy", "uniloss", 1, 0.99), run("accuracy", "ce", 1, 0.985)]
    experiment = reproduce.Experiment("accuracy", "accuracy", ("uniloss", "ce"), target=1.0)
    rows, (difference,) = reproduce.summarise(runs, [experiment])
    assert [r["loss"] for r in rows] == ["uniloss", "ce"]
    assert rows[0]["mean"] == pytest.approx(98.0) and rows[0]["sd"] == pytest.approx(2**0.5)
    assert difference["mean"] == pytest.approx(-0.25)
    assert difference["met"] and difference["target"] == -1.0


def one_line_error(argv):
    """Run the module in a subprocess; return its exit status and standard error."""
    done = subprocess.run(
        [sys.executable, "-m", "uniloss_ref", *argv], capture_output=True, text=True, check=False
    )
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["train", "--task", "depth", "--loss", "uniloss"], "invalid choice: 'depth'"),
        (["train", "--task", "ap", "--loss", "mse"], "'mse' is not meant for task 'ap'"),
        (
            ["train", "--task", "pck", "--loss", "ce"],
            "choose one of uniloss, uniloss-authors, uniloss-hybrid, mse",
        ),
        (["train", "--task", "ap", "--loss", "bce", "--data", "missing.npz"], "missing.npz"),
        (["train", "--task", "accuracy", "--loss", "ce", "--data", "mnist"], "MNIST needs a data"),
        (["train", "--task", "ap", "--loss", "bce", "--epochs", "0"], "positive integer"),
        (["train", "--task", "ap", "--loss", "bce", "--anchors", "lots"], "KIND=COUNT"),
        (["train", "--task", "pck", "--loss", "mse", "--metric", "f1"], "not one of task 'pck'"),
        (["reproduce", "--seeds", "0"], "positive integer"),
        (["reproduce", "--tasks", "ap,depth"], "unknown task depth"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_line_and_no_traceback(argv, reason, tmp_path):
    status, stderr = one_line_error([*argv, "--out", str(tmp_path / "out")])
    assert status == 2
    assert stderr.count("\n") == 1, stderr
    assert reason in stderr
    assert "Traceback" not in stderr


def test_missing_scikit_learn_says_which_extra_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    argv = ["--out", str(tmp_path / "out")]
    assert main(["train", "--task", "ap", "--loss", "bce", *argv]) == 2
    assert main(["reproduce", "--tasks", "accuracy", *argv]) == 2
    for line in capsys.readouterr().err.splitlines():
        assert 'pip install -e ".[data]"' in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["train", "--task", "ap", "--loss", "bce"], ["reproduce"]])
def test_device_gpu_without_a_working_cupy_exits_with_one_line(command, tmp_path):
    try:
        import cupy

        float(cupy.arange(3).sum())
        pytest.skip("a GPU works here")
    except Exception:  # no CuPy, or no device: the case under test
        pass
    status, stderr = one_line_error([*command, "--device", "gpu", "--out", str(tmp_path)])
    assert status == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert "device 'gpu' needs CuPy" in stderr


def test_reproduce_refuses_quick_fashion_and_missing_fashion_data_in_one_line(
    monkeypatch, tmp_path, capsys
):
    from uniloss_ref.experiments.data import idx

    out = ["--out", str(tmp_path / "out")]
    assert main(["reproduce", "--profile", "fashion", "--quick", *out]) == 2
    assert "--quick is for the digits profile" in capsys.readouterr().err
    monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "nowhere")
    assert main(["reproduce", "--profile", "fashion", *out]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "dataset-fashion-mnist" in line
    assert not (tmp_path / "out").exists()


def test_reproduce_plans_held_out_seeds_and_the_authors_set_up(tmp_path):
    experiments = reproduce.PROFILES["fashion"] + reproduce.PROFILES["fashion-authors"]
    runs = reproduce.plan(experiments, [20, 21], tmp_path, overrides={"epochs": 2})
    assert len(runs) == 2 * sum(len(e.losses) for e in experiments)
    assert {r["seed"] for r in runs} == {20, 21}
    authors = [r for r in runs if r["experiment"] == "ap, authors' set-up"]
    assert len(authors) == 4  # two losses, two seeds
    assert all(e.name != "ap, authors' set-up" for e in reproduce.PROFILES["fashion"])
    for run in authors:
        argv = run["argv"]
        assert "--sigmoid-output" in argv and "--no-standardise" in argv
        assert argv[argv.index("--momentum") + 1] == "0.5"
        assert argv[argv.index("--positive") + 1] == str(reproduce.FASHION_POSITIVE)
        assert argv[argv.index("--epochs") + 1] == "2"  # an override wins
        assert argv[argv.index("--batch-size") + 1] == "16"  # their batch, not UniLoss's 64
    assert len({r["dir"] for r in runs}) == len(runs)
    ap = [r for r in runs if r["experiment"] == "ap"]
    for run in ap:  # BCE takes the setting chosen for it on this data, the others do not
        argv = run["argv"]
        assert ("--weight-decay" in argv) == (run["loss"] == "bce")
        if run["loss"] == "bce":
            assert argv[argv.index("--lr") + 1] == "0.01"
    assert {r["loss"] for r in ap} >= {"uniloss", "bce", "uniloss-hybrid"}


def test_every_uniloss_row_of_an_experiment_takes_the_setting_chosen_for_uniloss():
    experiment = reproduce.Experiment(
        "x",
        "accuracy",
        ("uniloss", "ce", "uniloss-authors"),
        {"epochs": 3},
        per_loss={"uniloss": {"lr": 0.1}, "uniloss-authors": {"lr": 0.2}, "ce": {"lr": 0.3}},
    )
    assert experiment.train_options(loss="uniloss") == {"epochs": 3, "lr": 0.1}
    assert experiment.train_options(loss="uniloss-authors")["lr"] == 0.2  # its own first
    assert experiment.train_options(loss="uniloss-hybrid")["lr"] == 0.1
    assert experiment.train_options(loss="ce")["lr"] == 0.3
    assert experiment.train_options() == {"epochs": 3}


def test_the_legend_describes_every_loss_a_task_trains():
    for task in TASKS.values():
        for loss in task.losses:
            assert loss in reproduce.LOSS_NAMES, loss
            assert reproduce.LOSS_NAMES[loss] != loss


def test_reproduce_starts_the_longest_tasks_first(tmp_path):
    assert sorted(reproduce.LONGEST_FIRST) == sorted(TASKS)
    runs = reproduce.plan(reproduce.PROFILES["digits"], [20, 21], tmp_path)
    started = [runs[i] for i in reproduce.start_order(runs)]
    assert sorted(map(id, started)) == sorted(map(id, runs))  # each run once
    tasks = [r["task"] for r in started]
    assert tasks == sorted(tasks, key=reproduce.LONGEST_FIRST.index)
    for task in reproduce.LONGEST_FIRST:  # UniLoss before the baseline within a task
        losses = [r["loss"] for r in started if r["task"] == task]
        assert losses.index("uniloss") < min(
            i for i, loss in enumerate(losses) if loss not in UNILOSS_VARIANTS
        )


def test_the_curves_caption_says_why_h_tilde_and_the_batch_metric_differ(tmp_path):
    caption = plots.surrogate_caption(3.0, True)
    assert "tau = 3" in caption and "b~ = 0.32" in caption and "units of the batch's sd" in caption
    assert "b~ = 0.76" in plots.surrogate_caption(1.0, False)  # tanh(1)
    history = [
        {"epoch": e, "train_loss": 0.5, "train_batch_metric": 0.9, "val_metric": 1.0,
         "train_surrogate": 0.6}
        for e in (1, 2)
    ]  # fmt: skip
    plots.training_curves(history, tmp_path / "curves.png", "ap", (3.0, True))
    runs = [
        {"task": "ap", "metric": "AP", "config": {"loss": loss}, "history": history}
        for loss in ("uniloss", "bce")
    ]
    plots.comparison(runs, tmp_path / "validation_curves.png")  # every score perfect: the floor
    for name in ("curves.png", "validation_curves.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
