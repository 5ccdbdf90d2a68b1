"""A metric as a refactoring: scores -> comparisons -> binary variables -> metric.

Evaluating a metric on a mini-batch takes four steps:

1. scores ``s`` (any shape, flattened to length ``n``);
2. comparisons ``c = s[i] - s[j]`` for ``l`` label-dependent pairs ``(i, j)``, each oriented
   so that ``c > 0`` is the desired outcome (the ground truth is all ``+1``);
3. binary variables ``b = sign(c)`` in ``{-1, +1}^l``, a tie ``c = 0`` counting as ``-1``;
4. the metric ``h(b)``, defined at *every* point of ``{-1, +1}^l``.

A :class:`Metric` turns a batch's labels into a :class:`Refactoring`, which holds steps 2 and
4 for that batch. It is built and validated once per batch; the relaxation, the anchors, the
interpolation, :meth:`uniloss_ref.UniLoss.inspect` and the conformance vectors all read it.
The refactoring is exact when ``h(sign(c(s))) == metric(s)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from autograd.extend import defjvp, defvjp, primitive

from .._arrays import array_module, like, to_numpy

_INTEGER_PAIRS = ("ii", "iu", "ui", "uu")


@primitive
def differences(s: Any, i: Any, j: Any) -> Any:
    """``c = s.ravel()[i] - s.ravel()[j]``: shape ``(l,)``, linear in ``s``."""
    return s.reshape(-1)[i] - s.reshape(-1)[j]


@primitive
def scatter_differences(c: Any, i: Any, j: Any, shape: tuple[int, ...]) -> Any:
    """The transpose of :func:`differences`: ``s_r = sum_{i_m = r} c_m - sum_{j_m = r} c_m``."""
    xp, n = array_module(c), int(np.prod(shape))
    scattered = xp.bincount(i, c, minlength=n) - xp.bincount(j, c, minlength=n)
    return scattered.astype(c.dtype, copy=False).reshape(shape)  # float even when l = 0


# A linear map's vector-Jacobian product is its transpose, its Jacobian-vector product itself.
defvjp(differences, lambda ans, s, i, j: lambda g: scatter_differences(g, i, j, np.shape(s)))
defvjp(scatter_differences, lambda ans, c, i, j, shape: lambda g: differences(g, i, j))
defjvp(differences, lambda g, ans, s, i, j: differences(g, i, j))
defjvp(scatter_differences, lambda g, ans, c, *rest: scatter_differences(g, *rest))


def lost_per_row(won: np.ndarray, row_starts: np.ndarray) -> np.ndarray:
    """How many comparisons each configuration loses in each row: ``(K, l) -> (K, R)`` ints."""
    lost = np.zeros((len(won), len(row_starts) - 1), dtype=np.intp)
    filled, step = np.diff(row_starts) > 0, max(1, 2**20 // max(won.shape[1], 1))
    for k in range(0, len(won) if filled.any() else 0, step):  # reduceat casts all it gets
        chunk = ~won[k : k + step]
        lost[k : k + step, filled] = np.add.reduceat(chunk, row_starts[:-1][filled], 1, np.intp)
    return lost


def lost_per_column(won: np.ndarray, columns: int) -> np.ndarray:
    """For comparisons laid out in rows of ``columns``: each column's lost ones ``(K, columns)``."""
    lost = np.zeros((len(won), columns), dtype=np.intp)
    step, rows = max(1, 2**20 // max(won.shape[1], 1)), won.shape[1] // max(columns, 1)
    for k in range(0, len(won) if columns else 0, step):
        chunk = ~won[k : k + step]
        lost[k : k + step] = chunk.reshape(len(chunk), rows, columns).sum(axis=1)
    return lost


def _on_booleans(h: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``h`` that also takes configurations of numbers ``+-1``, read as ``won = b > 0``."""
    if getattr(h, "takes_numbers", False):
        return h

    def on_booleans(b: np.ndarray) -> np.ndarray:
        b = np.asarray(b)
        return h(b if b.dtype == bool else b > 0)

    on_booleans.takes_numbers = True  # type: ignore[attr-defined]
    return on_booleans


@dataclass(frozen=True, eq=False)
class Refactoring:
    """Steps 2 and 4 of one batch: the pairs ``(i, j)``, how they group into rows, and ``h``.

    Parameters
    ----------
    shape : tuple of int
        The shape of the scores ``s``.
    i, j : ndarray of shape (l,), int
        Comparison ``m`` is ``c_m = s.ravel()[i[m]] - s.ravel()[j[m]]``.
    h : callable, optional
        The metric at ``K`` binary configurations: ``h(won)`` takes booleans ``won`` of shape
        ``(K, l)``, True where ``b = +1`` (the comparison came out as desired), and returns
        shape ``(K,)``. The refactoring's ``h`` also accepts numbers ``+-1``.
    row_starts : ndarray of shape (R + 1,), int, optional
        Row ``r`` is the comparisons ``row_starts[r]:row_starts[r + 1]``: the comparisons
        that together decide one unit of the metric (one positive's for AP, one sample's for
        accuracy, one candidate pixel's for PCK); row anchors set a whole row right. By
        default every comparison is a row of its own.
    h_rows : callable, optional
        For a metric that depends on a configuration only through how many comparisons it
        loses in each row: ``h_rows(lost)`` with ``lost`` of shape ``(K, R)``, giving
        ``(K,)``. Then ``h`` follows from it, and anchors are valued without being written
        out. Give ``h``, ``h_rows`` or both.
    columns : int, optional
        When every row holds ``columns`` comparisons (a grid, row after row), ``h_rows`` also
        receives how many each column loses: ``h_rows(lost, lost_columns)``.
    """

    shape: tuple[int, ...]
    i: np.ndarray
    j: np.ndarray
    h: Callable[[np.ndarray], np.ndarray] | None = None
    row_starts: np.ndarray | None = None
    h_rows: Callable[..., np.ndarray] | None = None
    columns: int | None = None

    def __post_init__(self) -> None:
        n = int(np.prod(self.shape))
        i, j = (np.asarray(a) for a in (self.i, self.j))
        if i.ndim != 1 or i.shape != j.shape or i.dtype.kind + j.dtype.kind not in _INTEGER_PAIRS:
            raise ValueError(f"i and j must be int arrays of shape (l,), got {i.shape}, {j.shape}")
        if i.size and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n):
            raise ValueError(f"i and j must index the {n} scores, in [0, {n})")
        starts = np.arange(i.size + 1) if self.row_starts is None else np.asarray(self.row_starts)
        ends_right = starts.ndim == 1 and starts[0] == 0 and starts[-1] == i.size
        if not (ends_right and (np.diff(starts) >= 0).all()):
            raise ValueError(f"row_starts must rise from 0 to l = {i.size}, got {starts}")
        h, h_rows, columns = self.h, self.h_rows, self.columns
        if columns is not None and not (columns >= 0 and (np.diff(starts) == columns).all()):
            raise ValueError(f"columns must be the length of every row, got {columns}")
        if h is None and h_rows is not None and callable(h_rows):
            h = lambda won: h_rows(*self.lost_counts(won))
        if not callable(h) or not (h_rows is None or callable(h_rows)):
            raise TypeError(f"h must be callable, h(won: (K, l) bool) -> (K,), got {h!r:.60}")
        object.__setattr__(self, "i", i)
        object.__setattr__(self, "j", j)
        object.__setattr__(self, "row_starts", starts)
        object.__setattr__(self, "h", _on_booleans(h))

    def lost_counts(self, won: np.ndarray) -> tuple[np.ndarray, ...]:
        """What :attr:`h_rows` takes: the lost comparisons of each row (and each column)."""
        rows = lost_per_row(won, self.row_starts)
        return (rows,) if self.columns is None else (rows, lost_per_column(won, self.columns))

    @property
    def length(self) -> int:
        """``l``, the number of comparisons."""
        return self.i.size

    def comparisons(self, scores: Any) -> Any:
        """``c = s[i] - s[j]`` of shape ``(l,)``, differentiable in ``scores``."""
        return differences(scores, like(self.i, scores), like(self.j, scores))

    def batch_value(self, c: Any) -> float:
        """``h(sign(c))``: the metric of the batch whose comparisons are ``c``."""
        return float(self.h(to_numpy(c)[None, :] > 0)[0])


class Metric(ABC):
    """A metric written as a refactoring; higher is better.

    A subclass states the refactoring of a batch (:meth:`refactor`) and the ordinary, direct
    computation (:meth:`evaluate`) that the refactoring must reproduce.

    Attributes
    ----------
    score_ndim : int
        The number of dimensions of the scores.
    default_anchors : mapping of str to int
        Anchor counts this metric needs beyond the paper's (see :mod:`uniloss_ref.anchors`).
    """

    score_ndim: int = 1
    default_anchors: Mapping[str, int] = MappingProxyType({})

    @abstractmethod
    def refactor(self, shape: tuple[int, ...], targets: Any) -> Refactoring:
        """The refactoring of a batch: scores of ``shape`` with labels ``targets``.

        Raises
        ------
        TypeError, ValueError
            If ``shape`` or ``targets`` do not fit the metric (the message says why).
        """

    @abstractmethod
    def evaluate(self, scores: Any, targets: Any) -> float:
        """The metric computed directly from the scores (a tie counts as not achieved)."""

    def batch_value(self, scores: Any, targets: Any) -> float:
        """``h(sign(c(s)))``: the metric through the refactoring; equals :meth:`evaluate`."""
        scores = to_numpy(scores)
        refactoring = self.refactor(scores.shape, targets)
        return refactoring.batch_value(refactoring.comparisons(scores))
