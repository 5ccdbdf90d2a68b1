"""Variants of the training losses, each an explicit option that is off unless asked for.

The UniLoss rows (``uniloss``, ``uniloss-authors``, ``uniloss-hybrid``) take:

* ``memory = M``: the batch is also compared with the scores of the last ``M`` samples,
  remembered as constants (:class:`uniloss_ref.memory.ScoreMemory`); ``memory_of`` keeps
  AP's negatives or positives only, ``memory_standardise`` compares in each batch's
  z-scores;
* ``margin = m``: comparisons ask for a margin. UniLoss is taken of the scores with each
  sample's target score lowered by ``m`` (``s - m onehot(t)`` for accuracy, ``s - m y`` for
  AP), so every comparison becomes ``c - m``: the surrogate interpolates the metric of
  comparisons won by at least ``m``, which is never above the metric and equals it for a
  batch whose every comparison is won by ``m``. Where the plain surrogate stops pushing a
  sample once it is right, this one keeps pushing until it is right by ``m``, as
  cross-entropy does. With standardised scores the margin is in units of the batch's
  spread (the scores are standardised first, then shifted).

``uniloss-hybrid`` is UniLoss plus ``hybrid_weight`` times the task's pointwise loss (BCE
for AP, cross-entropy for accuracy) on the same batch: a hybrid, reported as one.

BCE takes ``pos_weight``: each positive sample's term weighted by it (its "own weighting",
tuned like UniLoss's options).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..memory import ScoreMemory
from ..metrics import Metric
from ..relaxation import standardised
from .nn.losses import bce_with_logits
from .tasks import HYBRID, Loss, Task, make_loss


def make_training_loss(
    task: Task,
    loss: str,
    metric: Metric,
    rng: np.random.Generator,
    *,
    temperature: float,
    anchors: dict[str, int],
    standardise: bool,
    nearby_rule: str,
    memory: int = 0,
    memory_of: str = "all",
    memory_standardise: bool = False,
    margin: float = 0.0,
    hybrid_weight: float = 0.0,
    pos_weight: float = 1.0,
) -> Loss:
    """The loss ``loss`` of ``task`` with the variants asked for (see the module docstring).

    Parameters
    ----------
    task, loss, metric, rng, temperature, anchors, standardise, nearby_rule
        As for :func:`uniloss_ref.experiments.tasks.make_loss` (``loss`` may also be
        ``"uniloss-hybrid"``).
    memory : int, default 0
        ``M``, remembered samples (UniLoss rows).
    memory_of : {"all", "negatives", "positives"}, default "all"
        Which samples are remembered (AP's labels 0 or 1 only, or every one).
    memory_standardise : bool, default False
        Whether the memory compares and keeps each batch's z-scores.
    margin : float, default 0
        ``m >= 0`` asked of every comparison (UniLoss rows, AP and accuracy).
    hybrid_weight : float, default 0
        Weight of the pointwise term of ``uniloss-hybrid``.
    pos_weight : float, default 1
        Weight of the positive samples' terms of BCE.

    Returns
    -------
    callable
        ``(scores, targets) -> scalar``, differentiable in the scores.
    """
    if loss == "bce" and pos_weight != 1.0:
        return lambda scores, y: bce_with_logits(scores, y, pos_weight=pos_weight)
    if not loss.startswith("uniloss"):
        return make_loss(task, loss, metric, rng)
    inner = make_loss(
        task,
        "uniloss" if loss == HYBRID else loss,
        metric,
        rng,
        temperature=temperature,
        anchors=anchors,
        standardise=standardise and not margin,
        nearby_rule=nearby_rule,
    )
    if margin:
        inner = _with_margin(inner, margin, standardise)
    if memory:
        labels = MEMORY_LABELS[memory_of]
        inner = ScoreMemory(inner, memory, labels=labels, standardise=memory_standardise)
    if loss == HYBRID:
        pointwise = make_loss(task, task.baseline, metric, rng)
        return _hybrid(inner, pointwise, hybrid_weight)
    return inner


MEMORY_LABELS = {"all": None, "negatives": (0,), "positives": (1,)}


def _with_margin(uniloss: Loss, margin: float, standardise: bool) -> Loss:
    """UniLoss of the scores with every target score lowered by ``margin``: ``c -> c - m``."""

    def loss(scores: Any, targets: Any) -> Any:
        if standardise:
            scores = standardised(scores)
        labels = np.asarray(targets)
        if np.ndim(scores) == 1:
            shift = margin * (labels == 1)
        else:
            shift = margin * (np.arange(np.shape(scores)[1]) == labels[:, None])
        return uniloss(scores - shift.astype(float), targets)

    return loss


def _hybrid(uniloss: Loss, pointwise: Loss, weight: float) -> Loss:
    return lambda scores, targets: uniloss(scores, targets) + weight * pointwise(scores, targets)
