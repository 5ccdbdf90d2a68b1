"""A memory of recent scores: earlier batches' samples as extra comparison partners.

A mini-batch of 16 with 10% positives gives average precision's refactoring one or two
positives, each ranked against about 14 negatives: each row of comparisons is short, and
the batch's AP moves in large steps. :class:`ScoreMemory` keeps the scores ``s`` of the
last ``M`` samples seen, with their labels, and appends them to every batch before the loss
is taken: each positive of the batch is then also compared with about ``0.9 M`` remembered
negatives, and each negative with the remembered positives.

The remembered scores are constants. They were computed by earlier parameters, so they are
stored detached (plain arrays, never autograd boxes) and receive no gradient: the gradient
reaches the batch's scores only, through their comparisons with each other and with the
memory. The loss of the extended batch is the wrapped loss itself, so every law of UniLoss
holds for it (``h~`` is exact at the anchors of the extended batch, its gradient is
autograd's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.tracer import getval

from ._arrays import like, to_numpy
from ._validation import count, flag
from .relaxation import standardised

__all__ = ["ScoreMemory"]


class ScoreMemory:
    """``loss(s ++ remembered s, targets ++ remembered targets)``, then remember the batch.

    Parameters
    ----------
    loss : callable ``(scores, targets) -> scalar``
        A :class:`~uniloss_ref.UniLoss`, or any loss of a batch whose first axis indexes
        samples and whose targets are one label per sample.
    size : int
        ``M``, how many of the most recent samples to remember; 0 remembers nothing (the
        wrapped loss alone).
    labels : sequence, optional
        Remember only samples with one of these labels (all by default). For AP, remembering
        the negatives only (``labels=(0,)``) adds no comparison between two remembered
        samples: every pair of the extended batch holds a sample of the batch, and each of
        the batch's positives is ranked against its negatives and the ``M`` remembered ones.
    standardise : bool, default False
        Compare and remember each batch's scores standardised within the batch,
        ``z = (s - mean s) / sd(s)`` (differentiated through). A remembered score was
        computed by earlier parameters; raw, it can be beaten by moving every score of the
        current batch up (or by scaling them), without ranking anything better. Comparisons
        between z-scores do not change when the network shifts or rescales all its outputs.

    Notes
    -----
    A call with scores of shape ``(n, ...)`` evaluates ``loss`` on the ``n + m`` samples
    ``concatenate([s, memory])`` (the batch first, then the remembered samples from the most
    recent), ``m <= M``, and then stores ``s`` (detached) and ``targets`` in front of the
    memory, dropping the oldest entries beyond ``M``. Within :meth:`frozen` calls use the
    memory without adding to it (for evaluation or a gradient check). With standardised
    scores (``UniLoss(..., standardise=True)``) the batch and the memory are standardised
    together.

    Examples
    --------
    >>> import autograd, numpy as np
    >>> from uniloss_ref import UniLoss
    >>> from uniloss_ref.memory import ScoreMemory
    >>> from uniloss_ref.metrics import AveragePrecision
    >>> loss = ScoreMemory(UniLoss(AveragePrecision(), seed=0), size=64)
    >>> gradient = autograd.grad(loss)(np.array([0.3, -1.2, 0.8]), np.array([1, 0, 0]))
    >>> len(loss)
    3
    """

    def __init__(
        self,
        loss: Callable[[Any, Any], Any],
        size: int,
        labels: Sequence[Any] | None = None,
        standardise: bool = False,
    ) -> None:
        if not callable(loss):
            raise TypeError(f"loss must be callable as loss(scores, targets), got {loss!r:.60}")
        self.loss = loss
        self.size = count(size, "size")
        self.labels = None if labels is None else np.asarray(labels).reshape(-1)
        self.standardise = flag(standardise, "standardise")
        self._scores: Any = None  # (m, ...) remembered scores, most recent first
        self._targets: np.ndarray | None = None  # (m,) their labels
        self._frozen = False

    def __repr__(self) -> str:
        kept = "" if self.labels is None else f", labels={self.labels.tolist()}"
        z = ", standardise=True" if self.standardise else ""
        return f"ScoreMemory({self.loss!r}, size={self.size}{kept}{z})"

    def __len__(self) -> int:
        """``m``, the number of samples remembered now."""
        return 0 if self._targets is None else len(self._targets)

    @property
    def scores(self) -> Any:
        """The remembered scores, shape ``(m, ...)``, most recent first (None when empty)."""
        return self._scores

    @property
    def targets(self) -> np.ndarray | None:
        """Their labels, shape ``(m,)`` (None when empty)."""
        return self._targets

    def __call__(self, scores: Any, targets: Any) -> Any:
        """The loss of the batch extended by the memory; then the batch is remembered."""
        scores = self._standardised(scores)
        value = self.loss(*self._extend(scores, targets))
        if not self._frozen:
            self._remember(scores, targets)
        return value

    def extend(self, scores: Any, targets: Any) -> tuple[Any, np.ndarray]:
        """``(concatenate([s, memory]), concatenate([targets, memory's targets]))``.

        The scores stay differentiable in ``s`` (standardised first, with ``standardise``);
        the memory enters as constants.
        """
        return self._extend(self._standardised(scores), targets)

    def remember(self, scores: Any, targets: Any) -> None:
        """Put the batch (detached; only ``labels`` if given; standardised with
        ``standardise``) in front of the memory and keep the ``M`` most recent."""
        self._remember(self._standardised(scores), targets)

    def _standardised(self, scores: Any) -> Any:
        """``(s - mean s) / sd(s)`` with ``standardise``, else ``s``."""
        return standardised(scores - anp.mean(scores)) if self.standardise else scores

    def _extend(self, scores: Any, targets: Any) -> tuple[Any, np.ndarray]:
        labels = self._labels(scores, targets)
        if not len(self):
            return scores, labels
        if np.shape(scores)[1:] != np.shape(self._scores)[1:]:
            raise ValueError(
                f"scores must have shape (n, *{np.shape(self._scores)[1:]}) like the ones "
                f"remembered, got {np.shape(scores)}"
            )
        remembered = like(self._scores, scores)
        return anp.concatenate([scores, remembered]), np.concatenate([labels, self._targets])

    def _remember(self, scores: Any, targets: Any) -> None:
        if not self.size:
            return
        labels = self._labels(scores, targets)
        value = to_numpy(getval(scores))
        if self.labels is not None:
            kept = np.isin(labels, self.labels)
            value, labels = value[kept], labels[kept]
        if len(self):
            value = np.concatenate([value, self._scores])
            labels = np.concatenate([labels, self._targets])
        self._scores, self._targets = value[: self.size].copy(), labels[: self.size].copy()

    def clear(self) -> None:
        """Forget every remembered sample."""
        self._scores = self._targets = None

    @contextmanager
    def frozen(self) -> Iterator[ScoreMemory]:
        """Within the block, calls use the memory but do not add to it."""
        before, self._frozen = self._frozen, True
        try:
            yield self
        finally:
            self._frozen = before

    @staticmethod
    def _labels(scores: Any, targets: Any) -> np.ndarray:
        """``targets`` on the host, checked to be one label per sample of ``scores``."""
        try:
            labels = to_numpy(targets)
        except (TypeError, ValueError, AttributeError):
            labels = np.empty(0, dtype=object)
        if labels.dtype.kind not in "biuf":
            raise TypeError(
                f"targets must be an array of labels, one per sample, got {type(targets).__name__}"
            )
        n = np.shape(scores)[0] if np.ndim(scores) else None
        if labels.shape != (n,):
            raise ValueError(
                f"targets must hold one label per sample, shape ({n},), got shape {labels.shape}"
            )
        return labels
