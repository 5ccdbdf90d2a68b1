"""Training and evaluation of one (task, loss, seed), and the ``train`` command.

Each epoch walks the training split in mini-batches of a seeded order (a random
permutation, or stratified so that every batch holds each class in proportion), takes one
optimiser step per batch (the learning rate drops tenfold for the last quarter of the
epochs), and records the mean training loss beside the mean hard metric of the batches (for
UniLoss also the surrogate ``h~ = 1 - loss``, the interpolation of exactly that batch
metric), then the true metric on the held-out validation split. The network after the last
epoch is evaluated once on the test split; no epoch is picked by validation (the digits'
validation split holds 14 positives of the AP task, too few to pick one).

One seed fixes everything: it is split into independent streams for the data splits (and the
synthetic images), the initialisation, the batch order and UniLoss's anchors, so a run is
repeatable bit for bit and two losses trained with the same seed see the same data, the same
initial network and the same batches.

A run ends early in two ways, each raising an exception that carries the partial run
(``status`` ``"diverged"`` or ``"interrupted"`` in its results, the epochs completed so far
in its history, no test metric): :class:`Diverged` when the loss, the scores or the
parameters stop being finite (checked at every step, before the optimiser's update is
kept), and :class:`Interrupted` on ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM under the
command line). The ``train`` command saves such a partial run like a finished one.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from autograd.tracer import getval

from ..anchors import KINDS, AnchorSampler
from ..device import get_array_module, resolve_device, to_device, to_numpy
from ..metrics import Metric
from ..metrics.threshold import ThresholdMetric
from . import plots
from .console import (
    MAX_ANCHORS,
    ProgressBar,
    add_training_options,
    anchor_counts,
    class_label,
    fail,
    non_negative_int,
    one_line,
    output_dir,
    positive_int,
    signals,
)
from .data import Dataset, label_index
from .heatmaps import from_heatmap_grid, heatmap_argmax
from .nn import Model
from .nn.backward import grads_and_aux
from .nn.losses import sigmoid
from .nn.optim import SGD, Adam, RMSprop, multistep_lr, tree_leaves, tree_map, tree_rebuild
from .outputs import CommitRefused, OutputDir, write_json
from .tasks import (
    BATCHES,
    BINARY_METRICS,
    HEATMAP_STRIDE,
    TASKS,
    UNILOSS_VARIANTS,
    Loss,
    Task,
    build_model,
    check_loss,
    get_task,
    load_task_data,
    make_metric,
    task_scores,
)
from .thresholds import operating_point
from .variants import make_training_loss

DEFAULT_MOMENTUM = 0.9
"""SGD's momentum unless a run sets its own (the authors' MNIST script uses 0.5)."""

EVAL_CHUNK = 256
"""Samples per forward pass when evaluating a whole split."""

MIN_BATCH = {"ap": 2}
"""The smallest mini-batch that can hold a comparison, per task (others: 1). Average
precision ranks positives against negatives: a batch of one sample has no pair, so UniLoss
would train on a constant and the batch metric would always read 1."""

LR_DROP_AT = 0.75
"""Fraction of the epochs after which the learning rate is divided by 10 (the authors' CIFAR
schedule drops at 140 and 160 of 200 epochs). Without the drop the last epochs of UniLoss on
accuracy could swing by several points of validation accuracy from one epoch to the next."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; ``None`` fields take the task's default.

    Attributes
    ----------
    task : str
        ``'ap'``, ``'accuracy'`` or ``'pck'``.
    loss : str
        One of the task's losses (see :attr:`uniloss_ref.experiments.tasks.Task.losses`).
    data : str, optional
        Data source (dataset name or ``.npz`` path).
    data_dir : str, optional
        Directory of MNIST / Fashion-MNIST IDX files.
    epochs, batch_size : int, optional
    lr : float, optional
        Learning rate.
    seed : int, default 0
    n_train, n_test : int, optional
        Caps on the split sizes (sizes of the synthetic keypoint sets).
    temperature : float, optional
        UniLoss's ``tau``.
    anchors : dict of str to int
        UniLoss's anchor counts, overriding the task's defaults kind by kind; with the
        defaults of the kinds not given they may add up to at most
        :data:`~uniloss_ref.experiments.console.MAX_ANCHORS` per batch.
    positive : int, optional
        The positive class of the AP task: a class label as it appears in the data (for a
        ``.npz`` file, a value of its ``y``), not an index.
    standardise : bool, optional
        Whether UniLoss compares the batch's standardised scores ``s / sd(s)``.
    nearby_rule : {"random", "margin"}, optional
        UniLoss's nearby anchors.
    batches : {"random", "stratified"}, optional
        How mini-batches are drawn.
    momentum : float, optional
        SGD's momentum (0.9 when omitted); ignored by Adam and RMSprop.
    sigmoid_output : bool, default False
        End the network in a sigmoid, so UniLoss compares scores in (0, 1): the authors'
        MNIST network. For the UniLoss rows only.
    metric : {"ap", "f1"}, optional
        What the binary task is evaluated with and UniLoss trained on, with its own defaults
        of ``temperature`` and ``lr`` (:data:`~uniloss_ref.experiments.tasks.BINARY_METRICS`);
        the task's own when omitted.
    tune_threshold : bool, optional
        For a metric at a threshold (F1): read the run at the threshold that is best on the
        validation split instead of the metric's (``t = 0``). By default yes for the
        baselines, which have no threshold of their own, and no for UniLoss, which was
        trained at ``t``; ``results.json`` holds both readings.
    device : {"cpu", "gpu", "auto"}, optional
        Where the network and its scores live (see :mod:`uniloss_ref.device`); None reads
        ``UNILOSS_DEVICE`` (the CPU when unset). Labels, metrics and anchors stay on the host.
    dtype : {"float64", "float32"}, default "float64"
        Of the network's parameters and inputs. Its outputs are cast to float64 before any
        loss: UniLoss and the baselines always compute in float64 (:func:`fit`).
    weight_decay : float, optional
        The optimiser's L2 weight decay (the task's, 0, when omitted).
    memory, memory_of, memory_standardise, margin, hybrid_weight, pos_weight : optional
        Loss variants (:mod:`uniloss_ref.experiments.variants`); the task's defaults (off)
        when omitted.
    """

    task: str
    loss: str
    data: str | None = None
    data_dir: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    n_train: int | None = None
    n_test: int | None = None
    temperature: float | None = None
    anchors: dict[str, int] = field(default_factory=dict)
    positive: int | None = None
    standardise: bool | None = None
    nearby_rule: str | None = None
    batches: str | None = None
    momentum: float | None = None
    sigmoid_output: bool = False
    device: str | None = None
    dtype: str = "float64"
    weight_decay: float | None = None
    memory: int | None = None
    memory_of: str | None = None
    memory_standardise: bool | None = None
    margin: float | None = None
    hybrid_weight: float | None = None
    pos_weight: float | None = None
    metric: str | None = None
    tune_threshold: bool | None = None

    def resolved(self) -> TrainConfig:
        """This config with every default filled in from the task, after checking it."""
        task = get_task(self.task)
        check_loss(task, self.loss)
        make_metric(task, self.metric)  # a ValueError names the choices
        # The per-loss defaults were chosen for the task's own metric; another metric of the
        # binary task takes the task's fields and its own rate and temperature.
        own_metric = self.metric in (None, "ap")
        default = lambda name: task.default(name, self.loss) if own_metric else getattr(task, name)
        lr = task.lr.get(self.loss, task.lr["uniloss"])
        given = {name: getattr(self, name) for name in TASK_DEFAULTS}
        defaults = {k: default(k) for k, v in given.items() if v is None}
        if not own_metric:
            binary = BINARY_METRICS[self.metric]
            lr = binary.lr.get(self.loss, lr)
            if binary.temperature and self.temperature is None:
                defaults["temperature"] = binary.temperature
        config = replace(
            self,
            data=task.data if self.data is None else self.data,
            epochs=task.epochs if self.epochs is None else self.epochs,
            lr=lr if self.lr is None else self.lr,
            anchors={**default("anchors"), **self.anchors},
            momentum=DEFAULT_MOMENTUM if self.momentum is None else self.momentum,
            device=resolve_device(self.device),
            tune_threshold=(
                not self.loss.startswith("uniloss")
                if self.tune_threshold is None
                else self.tune_threshold
            ),
            **defaults,
        )
        if not isinstance(config.tune_threshold, bool):
            raise TypeError(f"tune_threshold must be True or False, got {config.tune_threshold!r}")
        _check_variants(config, task)
        if config.batches not in BATCHES:
            raise ValueError(f"batches must be one of {', '.join(BATCHES)}, got {config.batches!r}")
        if config.batches != "random" and task.name == "pck":
            raise ValueError(
                f"batches {config.batches!r} needs class labels; task 'pck' has keypoints"
            )
        if not (isinstance(config.momentum, int | float) and 0 <= config.momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), got {config.momentum!r}")
        if config.sigmoid_output and not config.loss.startswith("uniloss"):
            raise ValueError(
                "sigmoid_output is for the UniLoss rows (the authors' network); "
                f"{config.loss!r} takes the raw output"
            )
        for name in ("epochs", "batch_size"):
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        smallest = MIN_BATCH.get(task.name, 1)
        if config.batch_size < smallest:
            raise ValueError(
                f"batch_size must be at least {smallest} for task {task.name!r}, got "
                f"{config.batch_size}: {task.metric_name} compares a positive with a negative, "
                "and a smaller batch holds no such pair"
            )
        if config.loss.startswith("uniloss"):
            _check_anchor_total(task, config.anchors)
        if not (isinstance(config.seed, int) and config.seed >= 0):
            raise ValueError(f"seed must be a non-negative integer, got {config.seed!r}")
        for name in ("lr", "temperature"):
            value = getattr(config, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        return config


TASK_DEFAULTS = (
    "batch_size",
    "temperature",
    "standardise",
    "nearby_rule",
    "batches",
    "weight_decay",
    "memory",
    "memory_of",
    "memory_standardise",
    "margin",
    "hybrid_weight",
    "pos_weight",
)
"""The options of :class:`TrainConfig` whose defaults are the task's, per loss
(:meth:`~uniloss_ref.experiments.tasks.Task.default`)."""

DTYPES = ("float64", "float32")

MEMORY_OF = ("all", "negatives", "positives")
"""Which samples a UniLoss memory keeps (:class:`uniloss_ref.memory.ScoreMemory`)."""


def _check_variants(config: TrainConfig, task: Task) -> None:
    """Refuse values out of range and variants for losses or tasks that do not take them."""
    if config.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {config.dtype!r}")
    for name in ("weight_decay", "margin", "hybrid_weight", "pos_weight"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if isinstance(config.memory, bool) or not isinstance(config.memory, int) or config.memory < 0:
        raise ValueError(f"memory must be a non-negative integer, got {config.memory!r}")
    if config.memory_of not in MEMORY_OF:
        raise ValueError(
            f"memory_of must be one of {', '.join(MEMORY_OF)}, got {config.memory_of!r}"
        )
    if config.memory_of != "all" and task.name != "ap":
        raise ValueError("memory_of chooses between AP's positives and negatives; use 'all'")
    uniloss = config.loss.startswith("uniloss")
    for name in ("memory", "margin"):
        if getattr(config, name) and not uniloss:
            raise ValueError(f"{name} is a UniLoss option; {config.loss!r} does not take it")
        if getattr(config, name) and task.name == "pck":
            raise ValueError(f"{name} is for the AP and accuracy tasks, not 'pck'")
    if config.pos_weight != 1.0 and config.loss != "bce":
        raise ValueError(f"pos_weight weighs BCE's positives; {config.loss!r} does not take it")
    if config.pos_weight <= 0:
        raise ValueError(f"pos_weight must be > 0, got {config.pos_weight!r}")


def _check_anchor_total(task: Task, anchors: dict[str, int]) -> None:
    """Refuse anchor counts that, with the defaults of the kinds not given, exceed the cap."""
    counts = {**make_metric(task).default_anchors, **anchors}
    # Its defaults fill the kinds not given; unknown kinds are the loss's to refuse.
    sampler = AnchorSampler(**{kind: n for kind, n in counts.items() if kind in KINDS})
    if sampler.total > MAX_ANCHORS:
        kinds = ", ".join(
            f"{kind}={getattr(sampler, kind)}" for kind in KINDS if getattr(sampler, kind)
        )
        raise ValueError(
            f"anchors: the run would draw {sampler.total} anchors per batch ({kinds}, with "
            f"the task's defaults); at most {MAX_ANCHORS} (the authors use 49)"
        )


@dataclass
class Setup:
    """A resolved config with its data, network, metric and loss, ready to train."""

    config: TrainConfig
    task: Task
    data: Dataset
    model: Model
    metric: Metric
    loss: Loss
    streams: dict[str, np.random.Generator]


def prepare(config: TrainConfig, data: Dataset | None = None) -> Setup:
    """Check the config, load the data and build everything a run needs.

    ``data``, when given, replaces the config's data source: a dataset already split and
    shaped for the task (as :func:`~uniloss_ref.experiments.tasks.load_task_data` returns
    it), e.g. one fold of a cross-validation. A dataset with an empty test split trains and
    validates without ever touching a test split.

    Raises
    ------
    ValueError, TypeError
        For a bad config or data that does not fit the task.
    FileNotFoundError, ImportError
        For missing data; the message says how to get it.
    """
    config = config.resolved()
    task = get_task(config.task)
    names = ("data", "init", "order", "anchors")
    streams = dict(zip(names, np.random.default_rng(config.seed).spawn(len(names)), strict=True))
    positive = config.positive
    if positive is not None and task.name == "ap":  # the label, as the data has it
        positive = label_index(config.data, positive)
    if data is None:
        data = load_task_data(
            task,
            config.data,
            seed=streams["data"],
            data_dir=config.data_dir,
            n_train=config.n_train,
            n_test=config.n_test,
            positive=positive,
            dtype=config.dtype,
        )
    if len(data.X_val) == 0:
        raise ValueError(f"{data.name!r} left no validation samples; use more training data")
    metric = make_metric(task, config.metric)
    loss = make_training_loss(
        task,
        config.loss,
        metric,
        streams["anchors"],
        temperature=config.temperature,
        anchors=config.anchors,
        standardise=config.standardise,
        nearby_rule=config.nearby_rule,
        memory=config.memory,
        memory_of=config.memory_of,
        memory_standardise=config.memory_standardise,
        margin=config.margin,
        hybrid_weight=config.hybrid_weight,
        pos_weight=config.pos_weight,
    )
    model = build_model(task, data, config.dtype)
    return Setup(config, task, data, model, metric, loss, streams)


def make_optimizer(
    task: Task, lr: float, momentum: float = DEFAULT_MOMENTUM, weight_decay: float = 0.0
) -> SGD | Adam | RMSprop:
    """The task's optimiser at learning rate ``lr`` (SGD with ``momentum``, Adam or RMSprop)."""
    if task.optimizer == "sgd":
        return SGD(lr, momentum=momentum, weight_decay=weight_decay)
    if task.optimizer == "adam":
        return Adam(lr, weight_decay=weight_decay)
    return RMSprop(lr, weight_decay=weight_decay)


def predict(setup: Setup, params: Any, X: np.ndarray) -> np.ndarray:
    """Scores of the network on ``X`` of shape (n, ...), in the shape the metric takes."""
    device = setup.config.device or "cpu"
    outputs = [
        to_numpy(setup.model.apply(params, to_device(X[start : start + EVAL_CHUNK], device)))
        for start in range(0, len(X), EVAL_CHUNK)
    ]
    return _scores(setup, np.concatenate(outputs))


def _scores(setup: Setup, output: Any) -> Any:
    """The network's output as the metric's scores (through a sigmoid if the config asks).

    A float32 network's output is cast to float64 first (its gradient back to float32):
    every loss computes in float64. UniLoss's comparisons are differences of scores and its
    interpolation divides by squared distances to the anchors, which vanish next to one; in
    float64 the surrogate keeps the precision its tests and conformance vectors check, and
    it costs little beside the network.
    """
    if getval(output).dtype != np.float64:
        output = output.astype(np.float64)
    return task_scores(setup.task, sigmoid(output) if setup.config.sigmoid_output else output)


def batch_order(y: Any, how: str, rng: np.random.Generator) -> np.ndarray:
    """One epoch's order of the training samples, to be cut into consecutive mini-batches.

    ``"random"``: a random permutation. ``"stratified"``: each class's samples, in random
    order, are placed at evenly spaced positions of the epoch (with a random offset per
    class), so every batch holds each class in proportion to its share, up to one sample:
    with 10% positives and batches of 16, every batch holds one or two positives.
    ``"balanced"``: the same with every class given ``n / C`` places of the epoch, the
    rarer classes' samples repeated (a new permutation each round) and a random part of the
    commoner ones': every batch holds each class equally often (an AP batch of 16, eight
    positives), and the epoch has ``n`` samples as the others.
    """
    n = len(y)
    if how == "random":
        return rng.permutation(n)
    labels = np.asarray(y)
    if how == "balanced":
        classes = np.unique(labels)
        places = -(-n // classes.size)
        drawn, position = [], []
        for label in classes:
            members = np.flatnonzero(labels == label)
            rounds = [rng.permutation(members) for _ in range(-(-places // members.size))]
            drawn.append(np.concatenate(rounds)[:places])
            position.append((np.arange(places) + rng.random()) / places)
        drawn, position = np.concatenate(drawn), np.concatenate(position)
        return drawn[np.lexsort((rng.random(drawn.size), position))][:n]
    position = np.empty(n)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        position[members] = (np.arange(members.size) + rng.random()) / members.size
    return np.lexsort((rng.random(n), position))


@dataclass
class Run:
    """The outcome of :func:`fit`.

    Attributes
    ----------
    results : dict
        JSON-ready: ``status`` (``"completed"``, ``"diverged"`` or ``"interrupted"``),
        ``config``, ``task``, ``metric``, ``data`` (name and split sizes), ``history`` (one
        dict per completed epoch), ``val_metric`` and ``test_metric`` (of the final network;
        None when not measured), ``seconds``; a run that stopped early also has ``stopped``
        (``epoch``, ``step``, ``steps`` per epoch and ``reason``): where a diverged run
        failed, or the last step an interrupted run completed.
    params : pytree
        The final parameters (the last finite ones of a diverged run).
    test_scores : ndarray or None
        Their scores on the test split (for plots); None for a run that stopped early.
    setup : Setup
    """

    results: dict[str, Any]
    params: Any
    test_scores: np.ndarray | None
    setup: Setup


class Diverged(FloatingPointError):
    """Training met a non-finite loss, score or parameter; ``run`` holds the partial run."""

    def __init__(self, message: str, run: Run) -> None:
        super().__init__(message)
        self.run = run


class Interrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); ``run`` holds the partial run."""

    def __init__(self, message: str, run: Run) -> None:
        super().__init__(message)
        self.run = run


class _NonFinite(Exception):
    """Raised inside the training loop: ``args[0]`` names what became non-finite."""


def _all_finite(*arrays: Any) -> bool:
    return all(bool(get_array_module(a).isfinite(a).all()) for a in arrays)


def _tree_finite(tree: Any) -> bool:
    return _all_finite(*tree_leaves(tree))


def fit(setup: Setup, progress: TextIO | None = None, *, show_progress: bool = True) -> Run:
    """Train as described in the module docstring.

    Parameters
    ----------
    setup : Setup
        From :func:`prepare`.
    progress : text stream, optional
        Where the :class:`ProgressBar` writes (standard error when omitted).
    show_progress : bool, default True
        False for silence.

    Returns
    -------
    Run
        With ``status`` ``"completed"``.

    Raises
    ------
    Diverged
        When the loss, the network's scores or the updated parameters are not finite (too
        large a learning rate, or inputs of enormous magnitude). Its ``run`` has the epochs
        completed before, and the last finite parameters.
    Interrupted
        On ``KeyboardInterrupt``. Its ``run`` has the epochs completed before, and the
        parameters after the last completed step.
    """
    config, data, metric = setup.config, setup.data, setup.metric
    # 1 - loss is the surrogate h~ trained (of the batch with the memory, the margin's
    # comparisons); the hybrid's loss has a pointwise term besides.
    uniloss = config.loss in UNILOSS_VARIANTS

    # One backward pass gives each parameter array its gradient (nn.backward): differentiating
    # a container of them would first write a zero gradient for every parameter at each step.
    def objective(leaves, x, y):
        scores = _scores(setup, setup.model.apply(tree_rebuild(structure, leaves), x))
        if not _all_finite(getval(scores)):
            raise _NonFinite("the network's scores are not finite")
        value = setup.loss(scores, y)
        return value, (getval(value), getval(scores))

    step_fn = grads_and_aux(objective)
    device = config.device or "cpu"
    # Initialised on the host from the seed, so a seed gives the same network on every device.
    params = tree_map(
        lambda a: to_device(a, device), setup.model.init_params(setup.streams["init"])
    )
    structure = params
    optimizer = make_optimizer(setup.task, config.lr, config.momentum, config.weight_decay)
    schedule = multistep_lr(config.lr, [max(1, round(LR_DROP_AT * config.epochs))], 0.1)
    n = len(data.X_train)
    steps = math.ceil(n / config.batch_size)
    bar = ProgressBar(config.epochs, steps, progress) if show_progress else None
    history: list[dict[str, Any]] = []
    started = time.perf_counter()
    epoch = step = 0
    done = (0, 0)  # (epoch, step) of the last completed optimiser step
    test_scores = None
    try:
        # Overflow is caught, not warned about: every loss, score and update is checked.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(1, config.epochs + 1):
                epoch_start = time.perf_counter()
                optimizer.lr = schedule(epoch - 1)
                order = batch_order(data.y_train, config.batches, setup.streams["order"])
                losses, batch_metrics = [], []
                for step in range(1, steps + 1):
                    index = order[(step - 1) * config.batch_size : step * config.batch_size]
                    x, y = to_device(data.X_train[index], device), data.y_train[index]
                    grads, (value, scores) = step_fn(tree_leaves(params), x, y)
                    grads = tree_rebuild(structure, grads)
                    if not math.isfinite(float(value)):
                        raise _NonFinite(f"the loss is {float(value)}")
                    updated = optimizer.step(params, grads)
                    if not _tree_finite(updated):
                        raise _NonFinite("the updated parameters are not finite")
                    params = updated
                    done = (epoch, step)
                    losses.append(float(value))
                    batch_metrics.append(metric.evaluate(scores, y))
                    if bar:
                        bar.step(epoch, step, float(np.mean(losses)))
                val_scores = predict(setup, params, data.X_val)
                if not _all_finite(val_scores):
                    raise _NonFinite("the network's validation scores are not finite")
                val_metric = metric.evaluate(val_scores, data.y_val)
                record = {
                    "epoch": epoch,
                    "lr": optimizer.lr,
                    "train_loss": float(np.mean(losses)),
                    "train_batch_metric": float(np.mean(batch_metrics)),
                    "val_metric": val_metric,
                    "seconds": time.perf_counter() - epoch_start,
                }
                if uniloss:
                    record["train_surrogate"] = 1.0 - record["train_loss"]
                history.append(record)
                if bar:
                    bar.epoch(record)
            if len(data.X_test):
                test_scores = predict(setup, params, data.X_test)
                if not _all_finite(test_scores):
                    raise _NonFinite("the network's test scores are not finite")
    except _NonFinite as err:
        if bar:
            bar.close()
        where = f"epoch {epoch}, step {step} of {steps}"
        run = _partial(setup, params, history, started, "diverged", epoch, step, steps, str(err))
        raise Diverged(
            f"training diverged at {where}: {err}; lower the learning rate (--lr, now "
            f"{config.lr:g}) or rescale the inputs",
            run,
        ) from None
    except KeyboardInterrupt:
        if bar:
            bar.close()
        where = f"after epoch {done[0]}, step {done[1]} of {steps}" if done[0] else "at the start"
        reason = f"interrupted {where}"
        run = _partial(setup, params, history, started, "interrupted", *done, steps, reason)
        raise Interrupted(reason, run) from None
    results = _results(setup, history, started, "completed")
    if test_scores is not None:
        results["test_metric"] = metric.evaluate(test_scores, data.y_test)
        if isinstance(metric, ThresholdMetric):
            validation, test = (val_scores, data.y_val), (test_scores, data.y_test)
            results.update(operating_point(metric, validation, test, config.tune_threshold))
    return Run(results, params, test_scores, setup)


def _results(
    setup: Setup, history: list[dict[str, Any]], started: float, status: str
) -> dict[str, Any]:
    data = setup.data
    return {
        "status": status,
        "config": asdict(setup.config),
        "task": setup.task.name,
        "metric": BINARY_METRICS[setup.config.metric].title
        if setup.config.metric
        else setup.task.metric_name,
        "data": {
            "name": data.name,
            "n_train": len(data.X_train),
            "n_val": len(data.X_val),
            "n_test": len(data.X_test),
        },
        "history": history,
        "val_metric": history[-1]["val_metric"] if history else None,
        "test_metric": None,
        "seconds": time.perf_counter() - started,
    }


def _partial(
    setup: Setup,
    params: Any,
    history: list[dict[str, Any]],
    started: float,
    status: str,
    epoch: int,
    step: int,
    steps: int,
    reason: str,
) -> Run:
    results = _results(setup, history, started, status)
    results["stopped"] = {"epoch": epoch, "step": step, "steps": steps, "reason": reason}
    return Run(results, params, None, setup)


def train(
    config: TrainConfig, progress: TextIO | None = None, *, show_progress: bool = True
) -> Run:
    """:func:`prepare` then :func:`fit`: one complete training run."""
    return fit(prepare(config), progress, show_progress=show_progress)


def write_run(run: Run, out: str | os.PathLike) -> Path:
    """Write the plots and ``results.json`` of a run into the directory ``out``.

    Files: ``curves.png`` (loss, batch metric, validation metric per epoch; none before the
    first epoch is complete); for a completed run also ``precision_recall.png`` for ``ap``
    and ``keypoints.png`` for ``pck`` (the first eight test images with true and predicted
    joints); and ``results.json``, written last. Each file is written atomically; for the
    whole directory to appear at once, write into an :class:`~.outputs.OutputDir`'s staging
    directory and commit it, as the ``train`` command does.

    Returns
    -------
    pathlib.Path
        The path of ``results.json``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results, data = run.results, run.setup.data
    title = f"{results['task']}, {results['config']['loss']}, seed {results['config']['seed']}"
    if results["history"]:
        loss = run.setup.loss
        relaxation = None
        if "train_surrogate" in results["history"][0]:
            relaxation = (float(loss.temperature), bool(loss.standardise))
        plots.training_curves(results["history"], out / "curves.png", title, relaxation)
    if run.test_scores is not None and run.setup.task.name == "ap":
        plots.precision_recall(
            run.test_scores,
            data.y_test,
            out / "precision_recall.png",
            f"{title}: test AP {results['test_metric']:.4f}",
        )
    elif run.test_scores is not None and run.setup.task.name == "pck":
        shown = slice(0, 8)
        targets = data.y_test[shown]
        plots.keypoints(
            data.X_test[shown],
            from_heatmap_grid(targets.xy, HEATMAP_STRIDE),
            from_heatmap_grid(heatmap_argmax(run.test_scores[shown]), HEATMAP_STRIDE),
            targets.visible,
            out / "keypoints.png",
            f"{title}: test PCK {results['test_metric']:.4f}",
        )
    return write_json(out / "results.json", results)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``train`` command to the command line."""
    parser = commands.add_parser(
        "train",
        help="train one network with one loss and write results.json and plots",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--task", required=True, choices=list(TASKS), help="the task")
    parser.add_argument("--loss", required=True, help="uniloss, uniloss-authors, or the task's")
    parser.add_argument("--data", help="dataset name or .npz path (task default)")
    parser.add_argument("--data-dir", help="directory of MNIST / Fashion-MNIST IDX files")
    add_training_options(parser)
    parser.add_argument("--batch-size", type=positive_int, help="mini-batch size")
    parser.add_argument("--lr", type=float, help="learning rate (task and loss default)")
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of everything random (0)"
    )
    parser.add_argument("--temperature", type=float, help="UniLoss temperature tau")
    parser.add_argument(
        "--anchors", type=anchor_counts, default={}, help="UniLoss anchor counts, e.g. row=16"
    )
    parser.add_argument(
        "--positive",
        type=class_label,
        help="positive class of the AP task, a label as it appears in the data (8)",
    )
    parser.add_argument(
        "--standardise",
        action=argparse.BooleanOptionalAction,
        help="UniLoss compares s / sd(s) over the batch (task default; AP: yes)",
    )
    parser.add_argument(
        "--nearby", choices=("random", "margin"), help="UniLoss nearby anchors (task default)"
    )
    parser.add_argument("--batches", choices=BATCHES, help="mini-batches (task default)")
    parser.add_argument("--momentum", type=float, help="SGD momentum (0.9)")
    parser.add_argument(
        "--metric",
        choices=list(BINARY_METRICS),
        help="the binary task's metric, evaluated and trained on by UniLoss (ap)",
    )
    parser.add_argument(
        "--tune-threshold",
        action=argparse.BooleanOptionalAction,
        help="F1: read the run at the validation-best threshold (default: baselines only)",
    )
    parser.add_argument(
        "--sigmoid-output",
        action="store_true",
        help="end the network in a sigmoid (the authors' MNIST network; UniLoss only)",
    )
    parser.add_argument(
        "--dtype", choices=DTYPES, default="float64", help="of the network (float64)"
    )
    parser.add_argument("--weight-decay", type=float, help="L2 weight decay (task default: 0)")
    parser.add_argument(
        "--memory", type=non_negative_int, help="UniLoss: remembered samples compared too (0)"
    )
    parser.add_argument(
        "--memory-of", choices=MEMORY_OF, help="AP: which samples the memory keeps (all)"
    )
    parser.add_argument(
        "--memory-standardise",
        action=argparse.BooleanOptionalAction,
        help="UniLoss: compare with the memory in z-scores of each batch (no)",
    )
    parser.add_argument(
        "--margin", type=float, help="UniLoss: margin asked of every comparison (0)"
    )
    parser.add_argument(
        "--hybrid-weight", type=float, help="uniloss-hybrid: weight of the pointwise loss (0.1)"
    )
    parser.add_argument("--pos-weight", type=float, help="BCE: weight of the positives (1)")
    parser.add_argument(
        "--out", type=output_dir, required=True, help="directory for results.json and plots"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the files of an earlier run in --out"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    config = TrainConfig(
        task=args.task,
        loss=args.loss,
        data=args.data,
        data_dir=args.data_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        n_train=args.n_train,
        n_test=args.n_test,
        temperature=args.temperature,
        anchors=args.anchors,
        positive=args.positive,
        standardise=args.standardise,
        nearby_rule=args.nearby,
        batches=args.batches,
        momentum=args.momentum,
        sigmoid_output=args.sigmoid_output,
        device=args.device,
        dtype=args.dtype,
        weight_decay=args.weight_decay,
        memory=args.memory,
        memory_of=args.memory_of,
        memory_standardise=args.memory_standardise,
        margin=args.margin,
        hybrid_weight=args.hybrid_weight,
        pos_weight=args.pos_weight,
        metric=args.metric,
        tune_threshold=args.tune_threshold,
    )
    debug = args.debug
    try:
        output = OutputDir(args.out, overwrite=args.overwrite)
    except (ValueError, OSError) as err:
        return fail("train", err, debug=debug)
    with output:
        try:
            setup = prepare(config)
        except (ValueError, TypeError, OSError, ImportError, RuntimeError, MemoryError) as err:
            return fail("train", err, debug=debug)
        stopped: Diverged | Interrupted | None = None
        try:
            run = fit(setup, show_progress=not args.quiet)
        except (Diverged, Interrupted) as err:
            run, stopped = err.run, err
        with signals.held():
            try:
                write_run(run, output.path)
                out = output.commit()
            except CommitRefused as err:
                return fail("train", err, debug=debug)
            except OSError as err:
                reason = f"cannot save the run in {output.out}: {one_line(err)}"
                return fail("train", reason, debug=debug, cause=err)
            # Saved: whatever signal comes now, the exit status says what results.json says.
            signals.settle()
    if output.kept is not None:
        print(
            f"python -m uniloss_ref train: note: files that appeared in {out} while it was "
            f"replaced are kept in {output.kept}",
            file=sys.stderr,
        )
    if isinstance(stopped, Interrupted):
        print(
            f"python -m uniloss_ref train: {stopped}; the partial run is in {out} "
            "(status 'interrupted')",
            file=sys.stderr,
        )
        return signals.exit_status()
    if stopped is not None:
        message = f"{stopped}; the partial run is in {out} (status 'diverged')"
        return fail("train", message, status=1, debug=debug, cause=stopped)
    metric = f"{run.results['metric']}: {run.results['test_metric']:.4f}"
    print(f"test {metric}  ({out / 'results.json'})")
    return 0
