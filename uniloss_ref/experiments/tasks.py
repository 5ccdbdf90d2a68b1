"""The paper's three tasks: what data each trains on, which network, which metric, which losses.

===========  ==============================  ==================  ======================
task         data (default)                  network             losses
===========  ==============================  ==================  ======================
``ap``       one digit vs the rest (digits)  MLP, one output     uniloss, bce, hinge
``accuracy`` 10 classes (digits)             small CNN           uniloss, ce
``pck``      synthetic stick figures         heatmap network     uniloss, mse
===========  ==============================  ==================  ======================

Every task also takes ``uniloss-authors``: UniLoss with the authors' closed-form IDW gradient
(which has a sign error, see :mod:`uniloss_ref.experiments.authors_gradient`), for comparison.

Choices made here, and why:

* AP uses digit 8 as the positive class: it is the digit a linear classifier separates worst
  from the rest (5-fold average precision 0.83, against 0.93 to 1.00 for the others), so AP is
  not saturated. The network is the paper's MNIST MLP (hidden widths 500 and 300).
* PCK heatmaps are 16x16 for 32x32 images (one 3x3 convolution and a 2x2 max pool before the
  encoder-decoder) and the threshold is 0.3 torso lengths, about 1.1 heatmap pixels. UniLoss
  compares every (positive pixel, negative pixel) pair of every joint, so its cost grows with
  (pixels)^2: a sample has about 10,800 comparisons at 16x16 and 173,000 at 32x32 (same
  threshold). At 16x16 a UniLoss training step on 8 images takes about three times as long
  as an MSE step (``benchmarks/training_step.py``). A radius under 0.71 heatmap pixels could
  leave a joint with no positive pixel at all (a keypoint midway between four pixel
  centres); 0.3 keeps one for every figure, whose torso is 3.2 to 4.3 heatmap pixels long.

* AP compares standardised scores ``s / sd(s)`` at ``tau = 3``, with "margin" nearby
  anchors, no current anchor, and batches that always hold positives (for every loss);
  UniLoss trains on batches of 64 at rate 0.03, BCE on batches of 16 at rate 0.03.
  With raw scores UniLoss grows the score scale until ``tanh(c / 2 tau)`` saturates and the
  misranked positives get no gradient; on Fashion-MNIST's hardest class that left it 21
  validation AP points behind BCE with a validation curve that fell by up to 30 points in
  one epoch. Chosen on validation (``docs/reproduction.md``).

* Accuracy and PCK: UniLoss at tau 0.3 (accuracy, with three times the paper's good,
  nearby and bad anchors) and 0.1 (PCK), with the current configuration and 16 row
  anchors; cross-entropy at rate 0.03 with weight decay 1e-3; MSE as first chosen.

Every setting was chosen on validation data only, by an equal-budget search (the same
configurations for UniLoss and for each task's own loss): the AP settings on a 10,000-image
Fashion-MNIST validation split and by five-fold cross-validation inside the digits training
split; the accuracy settings by five-fold and the PCK settings by three-fold
cross-validation inside the training split, seeds 0-2. The reproduction reports seeds from
20 on, which no choice has seen. ``docs/reproduction.md`` lists what was tried and what it
measured.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import autograd.numpy as anp
import numpy as np

from ..anchors import KINDS, AnchorSampler
from ..metrics import PCK, Accuracy, AveragePrecision, FScore, Metric
from ..surrogate import UniLoss
from .authors_gradient import AuthorsUniLoss
from .data import Dataset, KeypointTargets, load_dataset, one_vs_rest
from .heatmaps import to_heatmap_grid
from .nn import Model, conv2d, conv_params, heatmap_net, max_pool2d, mlp, relu, small_cnn
from .nn.losses import (
    bce_with_logits,
    gaussian_heatmaps,
    heatmap_mse,
    hinge_loss,
    softmax_cross_entropy,
)

UNILOSS_VARIANTS = ("uniloss", "uniloss-authors")
"""The two UniLoss rows: autograd's (correct) gradient and the authors' closed form."""

HYBRID = "uniloss-hybrid"
"""UniLoss plus a small multiple of the task's pointwise loss (:mod:`.variants`): a hybrid,
trained only when asked for by name and reported as one."""

ANCHOR_KINDS = KINDS
"""Anchor counts a task may set (the counts of :class:`uniloss_ref.AnchorSampler`)."""

POSITIVE_DIGIT = 8
"""The default positive class of the AP task (see the module docstring)."""

BATCHES = ("random", "stratified", "balanced")
"""How mini-batches are drawn: a random permutation; every class spread evenly over the
epoch's batches (so that every AP batch holds positives); or every class equally often in
every batch, the rarer classes' samples repeated (for AP half of each batch is positives)."""

PCK_THRESHOLD = 0.3
"""PCK radius in torso lengths."""

HEATMAP_STRIDE = 2
"""Input pixels per heatmap pixel along each axis."""

HEAD_INIT_SCALE = 0.01
"""Factor on the Glorot initialisation of the heatmap network's last layer (see
:func:`build_model`)."""

HEATMAP_SIGMA = 1.0
"""Standard deviation, in heatmap pixels, of the Gaussian targets of the MSE baseline."""


@dataclass(frozen=True)
class Task:
    """One of the paper's three tasks and its default training set-up.

    Attributes
    ----------
    name : str
        ``'ap'``, ``'accuracy'`` or ``'pck'``.
    metric_name : str
        The evaluation metric, for tables and plots.
    baselines : tuple of str
        The task-specific losses; the first is the one the paper compares against.
    data : str
        Default data source for :func:`uniloss_ref.experiments.data.load_dataset`.
    epochs, batch_size : int
        Default length of training and mini-batch size.
    lr : mapping of str to float
        Default learning rate of each loss (UniLoss and the baselines differ in scale).
    optimizer : {"sgd", "adam", "rmsprop"}
        Optimiser (SGD with momentum 0.9 when ``"sgd"``).
    temperature : float
        Default ``tau`` of UniLoss's relaxation.
    anchors : mapping of str to int
        Default anchor counts of UniLoss (keys from :data:`ANCHOR_KINDS`).
    standardise : bool
        Whether UniLoss compares the batch's standardised scores ``s / sd(s)``.
    nearby_rule : {"random", "margin"}
        Which wrong comparison a UniLoss nearby anchor sets right.
    batches : {"random", "stratified", "balanced"}
        How mini-batches are drawn (:data:`BATCHES`), for every loss.
    weight_decay : float
        L2 weight decay of the optimiser, for every loss.
    memory : int
        Samples UniLoss remembers as extra comparison partners (:mod:`.variants`).
    memory_of : {"all", "negatives", "positives"}
        Which of them (AP).
    memory_standardise : bool
        Whether the memory holds z-scores of each batch (:class:`~uniloss_ref.memory.ScoreMemory`).
    margin : float
        Margin UniLoss asks of every comparison (:mod:`.variants`).
    hybrid_weight : float
        Weight of the pointwise term of ``uniloss-hybrid``.
    pos_weight : float
        Weight of BCE's positive samples.
    per_loss : mapping of str to mapping
        Defaults of one loss that differ from the task's, by loss name (``"uniloss"``
        covers every UniLoss row); see :meth:`default`.
    """

    name: str
    metric_name: str
    baselines: tuple[str, ...]
    data: str
    epochs: int
    batch_size: int
    lr: Mapping[str, float]
    optimizer: str
    temperature: float = 1.0
    anchors: Mapping[str, int] = field(default_factory=dict)
    standardise: bool = False
    nearby_rule: str = "random"
    batches: str = "random"
    weight_decay: float = 0.0
    memory: int = 0
    memory_of: str = "all"
    memory_standardise: bool = False
    margin: float = 0.0
    hybrid_weight: float = 0.1
    pos_weight: float = 1.0
    per_loss: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def default(self, name: str, loss: str) -> Any:
        """The default of setting ``name`` (a field above) for ``loss``.

        ``per_loss[loss]`` first, then for the UniLoss rows ``per_loss["uniloss"]``, then
        the task's own field.
        """
        for key in setting_owners(loss):
            if name in self.per_loss.get(key, {}):
                return self.per_loss[key][name]
        return getattr(self, name)

    @property
    def losses(self) -> tuple[str, ...]:
        """Every loss this task accepts: the UniLoss variants, the hybrid, the baselines."""
        return (*UNILOSS_VARIANTS, HYBRID, *self.baselines)

    @property
    def baseline(self) -> str:
        """The task-specific loss that UniLoss is compared against."""
        return self.baselines[0]


def setting_owners(loss: str) -> tuple[str, ...]:
    """Whose ``per_loss`` settings ``loss`` takes, first the one that wins: its own, then for
    every UniLoss row (the authors' gradient, the hybrid) UniLoss's."""
    return (loss, "uniloss") if loss.startswith("uniloss") and loss != "uniloss" else (loss,)


TASKS: dict[str, Task] = {
    "ap": Task(
        name="ap",
        metric_name="average precision",
        baselines=("bce", "hinge"),
        data="digits",
        epochs=60,
        batch_size=16,
        # The hinge loss is offered by `train` but not part of the reproduction: its rate
        # was not tuned.
        lr={"uniloss": 0.03, "uniloss-authors": 0.03, "bce": 0.03, "hinge": 0.01},
        optimizer="sgd",
        temperature=3.0,
        standardise=True,
        nearby_rule="margin",
        batches="stratified",
        hybrid_weight=0.3,
        # The equal-budget search: UniLoss at batch 64 and rate 0.03 (docs/reproduction.md).
        per_loss={"uniloss": {"batch_size": 64}},
    ),
    "accuracy": Task(
        name="accuracy",
        metric_name="accuracy",
        baselines=("ce",),
        data="digits",
        epochs=60,
        batch_size=32,
        # Five-fold cross-validation on the digits, two stages (docs/reproduction.md): the
        # shared rate and batch, then four options of each loss's own. UniLoss kept its rate
        # and batch and took three times the anchors (+0.07); cross-entropy took rate 0.03
        # (+0.07) and weight decay 1e-3 (+0.21). Every gain is within the seeds' spread;
        # the same two options won on Fashion-MNIST.
        lr={"uniloss": 0.01, "uniloss-authors": 0.01, "ce": 0.03},
        optimizer="sgd",
        temperature=0.3,
        anchors={"current": 1, "row": 16, "good": 48, "nearby": 48, "bad": 48},
        per_loss={"ce": {"weight_decay": 1e-3}},
    ),
    "pck": Task(
        name="pck",
        metric_name=f"PCK@{PCK_THRESHOLD} (torso)",
        baselines=("mse",),
        data="keypoints",
        epochs=8,
        batch_size=8,
        # Three-fold cross-validation, two stages (docs/reproduction.md): both losses kept
        # their rate and batch (every other shared setting lost); UniLoss took tau 0.1
        # (+0.12 over 0.3, within the seeds' spread), MSE's weight decay lost.
        lr={"uniloss": 3e-3, "uniloss-authors": 3e-3, "mse": 3e-3},
        optimizer="adam",
        temperature=0.1,
        anchors={"current": 1, "row": 16},
    ),
}


def get_task(name: str) -> Task:
    """The task called ``name``; a ``ValueError`` lists the choices otherwise."""
    if name not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    return TASKS[name]


def check_loss(task: Task, loss: str) -> str:
    """Return ``loss`` if the task accepts it; a ``ValueError`` names the allowed ones otherwise."""
    if loss not in task.losses:
        raise ValueError(
            f"loss {loss!r} is not meant for task {task.name!r}; "
            f"choose one of {', '.join(task.losses)}"
        )
    return loss


@dataclass(frozen=True)
class BinaryMetric:
    """A metric the binary task may be evaluated with and UniLoss trained on (``--metric``).

    Attributes
    ----------
    title : str
        Its name in tables.
    make : callable
        Builds the metric.
    temperature : float, optional
        UniLoss's ``tau`` for it, where the task's does not suit it.
    lr : mapping of str to float
        Learning rates for it per loss, where the task's do not suit it.
    """

    title: str
    make: Callable[[], Metric]
    temperature: float | None = None
    lr: Mapping[str, float] = field(default_factory=dict)


BINARY_METRICS: dict[str, BinaryMetric] = {
    "ap": BinaryMetric("average precision", AveragePrecision),
    # Chosen on Fashion-MNIST validation (shirt vs rest, docs/reproduction.md): tau 3, the
    # AP default, predicted every sample negative; tau 2 too.
    "f1": BinaryMetric(
        "F1 at threshold 0",
        FScore,
        temperature=0.5,
        lr={"uniloss": 0.03, "uniloss-authors": 0.03, "bce": 0.01},
    ),
}
"""What the binary task (``ap``) may be evaluated with and UniLoss trained on (``--metric``).
F1 predicts positive where the score is above 0; a loss without a threshold of its own is
read at the one best on validation (:mod:`uniloss_ref.experiments.thresholds`)."""


def make_metric(task: Task, name: str | None = None) -> Metric:
    """The metric the task is evaluated with (and UniLoss optimises): the task's own, or
    for the binary task one of :data:`BINARY_METRICS` by ``name``."""
    if name is not None and name != "ap":
        if task.name != "ap" or name not in BINARY_METRICS:
            raise ValueError(
                f"metric {name!r} is not one of task {task.name!r}; the binary task 'ap' takes "
                f"{', '.join(BINARY_METRICS)}"
            )
        return BINARY_METRICS[name].make()
    if task.name == "ap":
        return AveragePrecision()
    if task.name == "accuracy":
        return Accuracy()
    return PCK(threshold=PCK_THRESHOLD)


def load_task_data(
    task: Task,
    source: str | os.PathLike | None = None,
    *,
    seed: int,
    data_dir: str | os.PathLike | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    positive: int | None = None,
    dtype: str = "float64",
) -> Dataset:
    """Load a dataset and shape its targets for the task.

    Parameters
    ----------
    task : Task
    source : str or path-like, optional
        As for :func:`uniloss_ref.experiments.data.load_dataset`; the task's default when omitted.
    seed : int
        Seed of the splits (and of the synthetic images).
    data_dir, n_train, n_test
        As for :func:`uniloss_ref.experiments.data.load_dataset`.
    positive : int, optional
        The positive class of the AP task (a class label of the data); by default
        :data:`POSITIVE_DIGIT`, or the last class of data with fewer classes.
    dtype : {"float64", "float32"}, default "float64"
        Element type of the inputs (that of the network, see :func:`build_model`).

    Returns
    -------
    Dataset
        ``ap``: 0/1 labels, 1 for the positive class. ``accuracy``: class labels.
        ``pck``: :class:`KeypointTargets` on the heatmap grid (see
        :func:`uniloss_ref.experiments.heatmaps.to_heatmap_grid`).

    Raises
    ------
    ValueError
        If the data does not fit the task (keypoints for a classification task, too few
        classes, no positive class).
    """
    data = load_dataset(
        task.data if source is None else source,
        data_dir,
        seed=seed,
        n_train=n_train,
        n_test=n_test,
        dtype=dtype,
    )
    if task.name == "pck":
        if not data.is_keypoints:
            raise ValueError(f"task 'pck' needs keypoint data ('keypoints'), got {data.name!r}")
        height, width = data.input_shape[1:]
        if height % (4 * HEATMAP_STRIDE) or width % (4 * HEATMAP_STRIDE):
            raise ValueError(f"task 'pck' needs images a multiple of 8 pixels, got {data.name!r}")
        return Dataset(
            data.name,
            data.X_train,
            to_heatmap_grid(data.y_train, HEATMAP_STRIDE),
            data.X_val,
            to_heatmap_grid(data.y_val, HEATMAP_STRIDE),
            data.X_test,
            to_heatmap_grid(data.y_test, HEATMAP_STRIDE),
        )
    if data.is_keypoints:
        raise ValueError(f"task {task.name!r} needs class labels; {data.name!r} has keypoints")
    if data.n_classes < 2:
        raise ValueError(f"task {task.name!r} needs at least 2 classes, {data.name!r} has one")
    if positive is not None and task.name != "ap":
        raise ValueError(f"positive chooses the class of the AP task, not of {task.name!r}")
    if task.name == "accuracy":
        return data
    if positive is None:
        positive = POSITIVE_DIGIT if data.n_classes > POSITIVE_DIGIT else data.n_classes - 1
    elif isinstance(positive, bool) or not isinstance(positive, int | np.integer):
        raise TypeError(f"positive must be a class label (an int), got {positive!r:.40}")
    elif not 0 <= positive < data.n_classes:
        raise ValueError(
            f"positive must be a class of {data.name!r}, 0 to {data.n_classes - 1}, got {positive}"
        )
    splits = [one_vs_rest(y, positive) for y in (data.y_train, data.y_val, data.y_test)]
    if min(int(y.sum()) for y in splits) == 0:
        raise ValueError(f"{data.name!r} has no sample of class {positive} in some split")
    names = ("rest", data.class_names[positive])
    return Dataset(
        data.name, data.X_train, splits[0], data.X_val, splits[1], data.X_test, splits[2], names
    )


def build_model(task: Task, data: Dataset, dtype: str = "float64") -> Model:
    """The task's network for inputs shaped like ``data``'s, with parameters of ``dtype``.

    Returns
    -------
    Model
        ``ap``: MLP ``d-500-300-1`` (the paper's widths). ``accuracy``: a small CNN with two
        [conv, ReLU, pool] stages of 16 and 32 channels and a 64-unit hidden layer for
        images (an MLP ``d-500-300-C`` for feature vectors). ``pck``: a 3x3 stem convolution
        (16 channels), ReLU and 2x2 max pool, then :func:`uniloss_ref.experiments.nn.heatmap_net`
        with
        channels (16, 32, 32), giving one heatmap per joint at half the image resolution.
        Its last layer starts at :data:`HEAD_INIT_SCALE` times Glorot's scale: with outputs
        of order 1 at the start, MSE spent its first steps flattening every map towards the
        targets' zeros (95% of pixels) and stayed there (test PCK 0.00 after 6 epochs); with
        small initial outputs it learns the peaks at once.
    """
    shape = data.input_shape
    features = int(np.prod(shape))
    dtype = np.dtype(dtype).type
    if task.name == "ap":
        return mlp((features, 500, 300, 1), dtype=dtype)
    if task.name == "accuracy":
        if len(shape) == 3 and min(shape[1:]) >= 4:
            return small_cnn(
                shape, channels=(16, 32), hidden=64, n_classes=data.n_classes, dtype=dtype
            )
        return mlp((features, 500, 300, data.n_classes), dtype=dtype)
    return _keypoint_model(data.y_train.xy.shape[1], shape[0], dtype=dtype)


def _keypoint_model(
    n_joints: int, in_channels: int, stem: int = 16, dtype: type = np.float64
) -> Model:
    body = heatmap_net(n_joints, in_channels=stem, channels=(16, 32, 32), dtype=dtype)

    def init_params(rng: np.random.Generator) -> dict[str, Any]:
        stem_params = conv_params(rng, in_channels, stem, dtype=dtype)
        params = {"stem": stem_params, "body": body.init_params(rng)}
        head = params["body"]["head"]
        head["w"] = HEAD_INIT_SCALE * head["w"]
        return params

    def apply(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
        return body.apply(params["body"], max_pool2d(relu(conv2d(params["stem"], x, padding=1))))

    return Model(init_params, apply)


def task_scores(task: Task, output: Any) -> Any:
    """The network output in the shape the metric takes (``(n, 1) -> (n,)`` for AP)."""
    return anp.reshape(output, (-1,)) if task.name == "ap" else output


Loss = Callable[[Any, Any], Any]


def make_loss(
    task: Task,
    loss: str,
    metric: Metric,
    rng: np.random.Generator,
    *,
    temperature: float | None = None,
    anchors: Mapping[str, int] | None = None,
    standardise: bool | None = None,
    nearby_rule: str | None = None,
) -> Loss:
    """The training loss ``(scores, targets) -> scalar`` called ``loss`` for this task.

    Parameters
    ----------
    task : Task
    loss : str
        One of ``task.losses``.
    metric : Metric
        The metric UniLoss interpolates (the task's, from :func:`make_metric`).
    rng : numpy.random.Generator
        Source of UniLoss's anchors (unused by the baselines).
    temperature : float, optional
        UniLoss's ``tau``; the task's default when omitted.
    anchors : mapping of str to int, optional
        UniLoss's anchor counts, overriding the task's defaults kind by kind.
    standardise : bool, optional
        Whether UniLoss compares standardised scores; the task's default when omitted.
    nearby_rule : {"random", "margin"}, optional
        UniLoss's nearby anchors; the task's default when omitted.

    Returns
    -------
    callable
        Differentiable in the scores with autograd.
    """
    check_loss(task, loss)
    if loss in UNILOSS_VARIANTS:
        counts = {**task.anchors, **(anchors or {})}
        unknown = sorted(set(counts) - set(ANCHOR_KINDS))
        if unknown:
            raise ValueError(
                f"anchors has unknown kinds {unknown}; expected some of {', '.join(ANCHOR_KINDS)}"
            )
        rule = task.nearby_rule if nearby_rule is None else nearby_rule
        kind = AuthorsUniLoss if loss == "uniloss-authors" else UniLoss
        return kind(
            metric,
            sampler=AnchorSampler(**{**metric.default_anchors, **counts}, nearby_rule=rule),
            temperature=task.temperature if temperature is None else temperature,
            standardise=task.standardise if standardise is None else standardise,
            seed=rng,
        )
    if loss == "bce":
        return bce_with_logits
    if loss == "hinge":
        return hinge_loss
    if loss == "ce":
        return softmax_cross_entropy
    return _heatmap_mse


def _heatmap_mse(heatmaps: Any, targets: KeypointTargets) -> Any:
    height, width = targets.heatmap_shape
    wanted = gaussian_heatmaps(targets.xy, targets.visible, height, width, sigma=HEATMAP_SIGMA)
    return heatmap_mse(heatmaps, wanted, targets.visible)
