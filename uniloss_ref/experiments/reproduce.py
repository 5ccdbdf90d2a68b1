"""The reproduction: UniLoss beside each task's own loss, over several seeds.

``python -m uniloss_ref reproduce`` trains, for every task and seed, three networks that
differ only in the loss: UniLoss, the task-specific loss the paper compares against (BCE for
AP, cross-entropy for accuracy, MSE on Gaussian heatmaps for PCK) and UniLoss with the
authors' closed-form gradient. It writes ``results.md`` and ``results.json`` (mean, sample
standard deviation and range of the test metric over seeds, and UniLoss minus the baseline
paired by seed), ``validation_curves.png``, and every run's own directory under ``runs/``.

Each run is one ``python -m uniloss_ref train`` process, so every row of the table can be
re-run alone with the command stored beside it in ``results.json``. Runs go in parallel,
one per core (``--jobs``), each with one BLAS thread: the matrices here are small, and BLAS
threads competing for the cores made a step several times slower (measured: 35 ms instead
of 3 ms for the AP network while a second process ran).

The whole ``--out`` directory is built in a staging directory and renamed into place at the
end (:class:`~uniloss_ref.experiments.outputs.OutputDir`), so it holds one complete
reproduction, never a mix of two. Ctrl-C or SIGTERM stops the queue: no further run starts,
the running ones are sent SIGTERM (each saves its partial run, marked ``interrupted``), and
``results.md`` and ``results.json`` are written for the runs that finished, with
``status: "interrupted"``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from ..device import resolve_device
from . import plots
from .console import add_training_options, fail, one_line, output_dir, positive_int, signals
from .outputs import OutputDir, write_json, write_text
from .tasks import TASKS, UNILOSS_VARIANTS, get_task, load_task_data

SETTINGS = {
    "full": {"ap": {}, "accuracy": {}, "pck": {}},
    "quick": {
        "ap": {"epochs": 20},
        "accuracy": {"epochs": 30},
        "pck": {"epochs": 2, "n_train": 1000, "n_test": 300},
    },
}
"""Options passed to ``train`` per task, beyond the task's defaults."""

TARGETS = {"ap": 0.5, "accuracy": 1.0, "pck": 2.0}
"""How many points UniLoss may trail the baseline on average (the goal set in issue 3)."""

SINGLE_THREADED = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

NOT_RUN = {"status": "not run", "error": "not started: the queue was interrupted"}

STOP_GRACE = 10.0
"""Seconds an interrupted run gets to save its partial results before it is killed."""


def losses(task: str) -> tuple[str, str, str]:
    """The three rows of a task: UniLoss, the task-specific loss, UniLoss (authors' gradient)."""
    return ("uniloss", get_task(task).baseline, "uniloss-authors")


def plan(
    tasks: Sequence[str], seeds: int, out: Path, options: dict[str, dict[str, int | str]]
) -> list[dict[str, Any]]:
    """Every run as ``{task, loss, seed, dir, argv}`` (``argv`` after ``python -m uniloss_ref``)."""
    runs = []
    for task in tasks:
        for seed in range(seeds):
            for loss in losses(task):
                directory = out / "runs" / f"{task}-{loss}-seed{seed}"
                argv = ["train", "--task", task, "--loss", loss, "--seed", str(seed)]
                for name, value in options[task].items():
                    argv += [f"--{name.replace('_', '-')}", str(value)]
                argv += ["--out", str(directory), "--quiet"]
                runs.append(
                    {"task": task, "loss": loss, "seed": seed, "dir": directory, "argv": argv}
                )
    return runs


def execute(
    runs: list[dict[str, Any]], jobs: int, root: Path | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Run every planned ``train`` in a subprocess, ``jobs`` at a time, until interrupted.

    Parameters
    ----------
    runs : list of dict
        From :func:`plan`.
    jobs : int
        Runs at once.
    root : pathlib.Path, optional
        Write the runs into ``root / "runs"`` instead of their planned directories (the
        staging directory of the reproduction); the recorded commands keep the planned ones.

    Returns
    -------
    outcomes : list of dict
        Per run, in plan order: the ``results.json`` of a completed run with ``command``
        added; otherwise ``{"status": ..., "error": ...}`` with status ``"failed"``,
        ``"diverged"``, ``"interrupted"`` or ``"not run"``.
    interrupted : bool
        Whether ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM under the command line) stopped
        the queue. Then no further run was started and the running ones were sent SIGTERM
        and waited for (killed after :data:`STOP_GRACE` seconds).
    """
    env = dict(os.environ)
    for name in SINGLE_THREADED:
        env.setdefault(name, "1")
    stop = threading.Event()
    lock = threading.Lock()
    live: dict[int, subprocess.Popen] = {}

    def one(i: int) -> dict[str, Any]:
        run = runs[i]
        directory = run["dir"] if root is None else root / "runs" / run["dir"].name
        argv = [*run["argv"][: run["argv"].index("--out")], "--out", str(directory), "--quiet"]
        with lock:
            if stop.is_set():
                return dict(NOT_RUN)
            # A session of its own: a terminal's Ctrl-C reaches this process only, which
            # then stops each run with SIGTERM.
            process = subprocess.Popen(
                [sys.executable, "-m", "uniloss_ref", *argv],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                start_new_session=True,
            )
            live[i] = process
        try:
            _, stderr = process.communicate()
        finally:
            with lock:
                live.pop(i, None)
        try:
            results = json.loads((directory / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            results = {}
        if process.returncode == 0 and results.get("status") == "completed":
            return {**results, "command": "python -m uniloss_ref " + " ".join(run["argv"])}
        code = process.returncode
        ended = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        lines = stderr.strip().splitlines() or [ended]
        status = results.get("status", "interrupted" if stop.is_set() else "failed")
        return {"status": status, "error": lines[-1]}

    # UniLoss on PCK takes three to five times as long as any other run; starting those runs
    # first keeps every core busy to the end instead of leaving one long run alone at the end.
    order = sorted(
        range(len(runs)),
        key=lambda i: (runs[i]["task"] != "pck", runs[i]["loss"] not in UNILOSS_VARIANTS),
    )
    outcomes: list[dict[str, Any]] = [{} for _ in runs]
    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = {}
    try:
        futures = {pool.submit(one, i): i for i in order}
        for finished, future in enumerate(as_completed(futures), start=1):
            i = futures[future]
            outcomes[i] = future.result()
            run, outcome = runs[i], outcomes[i]
            status = (
                f"{outcome['status']}: {outcome['error']}"
                if "error" in outcome
                else f"test {outcome['test_metric']:.4f} ({outcome['seconds']:.0f} s)"
            )
            name = f"{run['task']} {run['loss']} seed {run['seed']}"
            print(f"[{finished}/{len(runs)}] {name}: {status}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        with signals.held():
            _stop(stop, lock, live, pool)
            for future, i in futures.items():
                if not outcomes[i] and not future.cancelled():
                    outcomes[i] = future.result()
            for i, outcome in enumerate(outcomes):
                if not outcome:
                    outcomes[i] = dict(NOT_RUN)
        return outcomes, True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return outcomes, False


def _stop(
    stop: threading.Event,
    lock: threading.Lock,
    live: dict[int, subprocess.Popen],
    pool: ThreadPoolExecutor,
) -> None:
    """Start no further run; stop the running ones with SIGTERM, then SIGKILL if need be."""
    with lock:
        stop.set()
        processes = list(live.values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    """Mean, sample standard deviation (None for one value: it is undefined) and range."""
    values = np.asarray(values, dtype=float)
    return {
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
        "min": float(values.min()),
        "max": float(values.max()),
    }


def summarise(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The table rows (task, loss) and the paired differences (task), test metrics in points.

    Returns
    -------
    rows : list of dict
        ``task, metric, loss, seeds, mean, sd, min, max, seconds`` (mean seconds per run).
    differences : list of dict
        ``task, baseline, mean, sd, min, max`` of UniLoss minus the baseline over the seeds
        both finished, ``target`` (points UniLoss may trail) and ``met``.
    """
    rows, differences = [], []
    for task in dict.fromkeys(run["task"] for run in runs):
        by_loss = {
            loss: {
                r["config"]["seed"]: r
                for r in runs
                if r["task"] == task and r["config"]["loss"] == loss
            }
            for loss in losses(task)
        }
        for loss, done in by_loss.items():
            if done:
                points = [100 * r["test_metric"] for r in done.values()]
                seconds = float(np.mean([r["seconds"] for r in done.values()]))
                metric = next(iter(done.values()))["metric"]
                rows.append(
                    {"task": task, "metric": metric, "loss": loss, "seeds": sorted(done)}
                    | _spread(points)
                    | {"seconds": seconds}
                )
        baseline = get_task(task).baseline
        paired = sorted(set(by_loss["uniloss"]) & set(by_loss[baseline]))
        if paired:
            gaps = [
                100 * (by_loss["uniloss"][s]["test_metric"] - by_loss[baseline][s]["test_metric"])
                for s in paired
            ]
            spread = _spread(gaps)
            differences.append(
                {"task": task, "baseline": baseline, "seeds": paired}
                | spread
                | {"target": -TARGETS[task], "met": spread["mean"] >= -TARGETS[task]}
            )
    return rows, differences


def _plus_minus(mean: float, sd: float | None, sign: str = "") -> str:
    return f"{mean:{sign}.2f} ± {sd:.2f}" if sd is not None else f"{mean:{sign}.2f} (sd n/a)"


def markdown(
    rows: list[dict[str, Any]],
    differences: list[dict[str, Any]],
    command: str,
    quick: bool,
    interrupted: str | None = None,
) -> str:
    """The results as a Markdown document.

    ``interrupted``, when given, is a sentence saying which runs finished before the
    reproduction was interrupted; it goes above the tables. With one seed the standard
    deviation is undefined and shown as "sd n/a".
    """
    lines = [
        "# UniLoss against the task-specific losses",
        "",
        f"Command: `{command}`",
        "",
        *([f"**Interrupted.** {interrupted}", ""] if interrupted else []),
        *(
            [
                "A quick run: fewer epochs (and fewer PCK images); the goals are for the full run.",
                "",
            ]
            if quick
            else []
        ),
        "Test metric in points (x100): mean ± sample standard deviation over seeds, and the "
        "range. Every loss of a task trains the same network from the same initialisation on "
        "the same data and batches for a given seed.",
        "",
        "| task | metric | loss | mean ± sd | min – max | seeds | s per run |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['metric']} | {r['loss']} | {_plus_minus(r['mean'], r['sd'])} | "
            f"{r['min']:.2f} – {r['max']:.2f} | {len(r['seeds'])} | {r['seconds']:.0f} |"
        )
    lines += [
        "",
        "UniLoss minus the task-specific loss, paired by seed (points):",
        "",
        "| task | baseline | mean ± sd | min – max | goal | met |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for d in differences:
        lines.append(
            f"| {d['task']} | {d['baseline']} | {_plus_minus(d['mean'], d['sd'], '+')} | "
            f"{d['min']:+.2f} – {d['max']:+.2f} | ≥ {d['target']:+.1f} | "
            f"{'yes' if d['met'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` command to the command line."""
    parser = commands.add_parser(
        "reproduce",
        help="every task: UniLoss beside the task-specific loss over seeds; tables and plots",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--quick", action="store_true", help="short runs (under 3 minutes)")
    parser.add_argument("--seeds", type=positive_int, default=3, help="seeds 0..N-1 (3)")
    parser.add_argument(
        "--out", type=output_dir, default="reproduction", help="output directory (reproduction)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier reproduction in --out"
    )
    parser.add_argument(
        "--jobs", type=positive_int, default=os.cpu_count() or 1, help="runs at once (cores)"
    )
    parser.add_argument(
        "--tasks",
        type=_task_list,
        default=list(TASKS),
        help=f"comma-separated subset of {','.join(TASKS)}",
    )
    add_training_options(parser)
    parser.set_defaults(func=_main)


def _task_list(text: str) -> list[str]:
    tasks = [t.strip() for t in text.split(",")]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise argparse.ArgumentTypeError(
            f"unknown task {', '.join(unknown)}; expected some of {', '.join(TASKS)}"
        )
    return list(dict.fromkeys(tasks))


def _command(args: argparse.Namespace) -> str:
    """The command line that repeats this reproduction, every option spelled out."""
    words = ["python -m uniloss_ref reproduce"] + (["--quick"] if args.quick else [])
    words += [f"--seeds {args.seeds}", f"--tasks {','.join(args.tasks)}", f"--jobs {args.jobs}"]
    for name in ("epochs", "n_train", "n_test", "device"):
        if getattr(args, name) is not None:
            words.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    return " ".join([*words, f"--out {args.out}"])


def _main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    overrides = {
        "epochs": args.epochs,
        "n_train": args.n_train,
        "n_test": args.n_test,
        "device": args.device,
    }
    options = {
        task: SETTINGS["quick" if args.quick else "full"][task]
        | {k: v for k, v in overrides.items() if v is not None}
        for task in args.tasks
    }
    try:
        # Fail here, in one line, rather than in every run: e.g. digits without scikit-learn.
        for task in args.tasks:
            if get_task(task).data != "keypoints":
                load_task_data(get_task(task), seed=0)
        resolve_device(args.device)
        output = OutputDir(args.out, overwrite=args.overwrite)
    except (ValueError, OSError, ImportError, RuntimeError) as err:
        return fail("reproduce", err)
    with output:
        runs = plan(args.tasks, args.seeds, Path(args.out), options)
        outcomes, interrupted = execute(runs, args.jobs, root=output.path)
        with signals.held():
            finished = [o for o in outcomes if "error" not in o]
            note = (
                f"{len(finished)} of {len(runs)} runs finished; the tables cover those."
                if interrupted
                else None
            )
            rows, differences = summarise(finished)
            command = _command(args)
            document = markdown(rows, differences, command, args.quick, note)
            summary = {
                "status": "interrupted" if interrupted else "completed",
                "command": command,
                "quick": args.quick,
                "options": options,
                "rows": rows,
                "differences": differences,
                "runs": [
                    {"task": r["task"], "loss": r["loss"], "seed": r["seed"], "dir": str(r["dir"])}
                    | (
                        {"status": o["status"], "error": o["error"]}
                        if "error" in o
                        else {
                            "status": "completed",
                            "test_metric": o["test_metric"],
                            "command": o["command"],
                        }
                    )
                    for r, o in zip(runs, outcomes, strict=True)
                ],
                "wall_seconds": time.perf_counter() - started,
            }
            try:
                if finished:
                    plots.comparison(finished, output.path / "validation_curves.png")
                write_text(output.path / "results.md", document)
                write_json(output.path / "results.json", summary)
                out = output.commit()
            except OSError as err:
                reason = f"cannot save the results in {output.out}: {one_line(err)}"
                return fail("reproduce", reason)
    print(document)
    if interrupted:
        print(
            f"python -m uniloss_ref reproduce: interrupted; {len(finished)} of {len(runs)} runs "
            f"finished, their results are in {out}",
            file=sys.stderr,
        )
        return signals.exit_status()
    failed = len(outcomes) - len(finished)
    if failed:
        print(f"python -m uniloss_ref reproduce: {failed} run(s) failed", file=sys.stderr)
    return 1 if failed else 0
