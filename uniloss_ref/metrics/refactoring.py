"""A metric as a refactoring: scores -> comparisons -> binary variables -> metric.

Scores ``s`` (any shape, flattened to length ``n``) give comparisons ``c = z[i] - z[j]`` for
``l`` label-dependent pairs ``(i, j)`` over ``z = (s, t)``: the scores followed by the
refactoring's constants ``t`` (thresholds), so a pair may compare a score with a constant
(index ``n + k`` is ``t_k``). Each pair is oriented so that ``c > 0`` is the desired outcome
(the ground truth is all ``+1``); binary variables ``b = sign(c)``, a tie counting as ``-1``;
and the metric ``h(b)``, defined at *every* point of ``{-1, +1}^l``. A :class:`Metric` turns a
batch's labels into a :class:`Refactoring` (the pairs and ``h``), built and validated once per
batch. The refactoring is exact when ``h(sign(c(s))) == metric(s)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from autograd.extend import defjvp, defvjp, primitive

from .._arrays import array_module, like, to_numpy
from ..relaxation import standardised, standardised_constants

_INTEGER_PAIRS = ("ii", "iu", "ui", "uu")


def _joined(s: Any, t: Any) -> Any:
    """``z = (s.ravel(), t)``, shape ``(n + C,)``."""
    flat = s.reshape(-1)
    return flat if t.size == 0 else array_module(flat).concatenate([flat, t])


@primitive
def differences(s: Any, i: Any, j: Any, t: Any) -> Any:
    """``c = z[i] - z[j]``, ``z = (s.ravel(), t)``: shape ``(l,)``, linear in ``s`` and ``t``."""
    z = _joined(s, t)
    return z[i] - z[j]


@primitive
def scatter_differences(c: Any, i: Any, j: Any, size: int) -> Any:
    """The transpose of :func:`differences` onto ``z``: ``z_r = sum_{i_m = r} c_m - sum_{j_m =
    r} c_m``, shape ``(size,)`` with ``size = n + C``."""
    xp = array_module(c)
    scattered = xp.bincount(i, c, minlength=size) - xp.bincount(j, c, minlength=size)
    return scattered.astype(c.dtype, copy=False)  # float even when l = 0


def _to_scores(ans: Any, s: Any, i: Any, j: Any, t: Any) -> Callable[[Any], Any]:
    return lambda g: scatter_differences(g, i, j, s.size + t.size)[: s.size].reshape(s.shape)


def _to_constants(ans: Any, s: Any, i: Any, j: Any, t: Any) -> Callable[[Any], Any]:
    return lambda g: scatter_differences(g, i, j, s.size + t.size)[s.size :]


# A linear map's vector-Jacobian product is its transpose, its Jacobian-vector product itself:
# the scores take the first n entries of the transpose, the constants the rest. Constants are
# data and receive no gradient, unless they were standardised (divided by sd(s)).
defvjp(differences, _to_scores, _to_constants, argnums=(0, 3))
defvjp(scatter_differences, lambda ans, c, i, j, size: lambda g: differences(g, i, j, g[:0]))
defjvp(
    differences,
    lambda g, ans, s, i, j, t: differences(g, i, j, 0.0 * t),
    lambda g, ans, s, i, j, t: differences(0.0 * s, i, j, g),
    argnums=(0, 3),
)
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


@dataclass(frozen=True, eq=False)
class Refactoring:
    """Steps 2 and 4 of one batch: the pairs ``(i, j)``, how they group into rows, and ``h``.

    Parameters
    ----------
    shape : tuple of int
        The shape of the scores ``s``.
    i, j : ndarray of shape (l,), int
        Comparison ``m`` is ``c_m = z[i[m]] - z[j[m]]`` with ``z = (s.ravel(), constants)``:
        an index below ``n`` is a score, ``n + k`` the constant ``constants[k]``.
    h : callable, optional
        The metric at ``K`` binary configurations: ``h(won)`` takes booleans ``won`` of shape
        ``(K, l)``, True where ``b = +1`` (the comparison came out as desired), and returns
        shape ``(K,)``.
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
    row_length : int, optional
        When every row holds ``row_length`` comparisons (a grid, row after row), ``h_rows``
        also receives how many comparisons each column loses: ``h_rows(lost, lost_columns)``
        with ``lost_columns`` of shape ``(K, row_length)``.
    constants : ndarray of shape (C,), float, optional
        Constants the scores are compared with, such as a threshold ``t`` (``s_m - t`` is the
        pair ``(m, n)``). They are data: no gradient flows to them. With standardised scores
        they are divided by ``sd(s)`` too (:meth:`comparisons`), so ``(s_m - t) / sd(s)``
        keeps its sign and the threshold stays in the units of the raw scores. Empty by
        default.
    """

    shape: tuple[int, ...]
    i: np.ndarray
    j: np.ndarray
    h: Callable[[np.ndarray], np.ndarray] | None = None
    row_starts: np.ndarray | None = None
    h_rows: Callable[..., np.ndarray] | None = None
    row_length: int | None = None
    constants: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def built(
        cls, shape: tuple[int, ...], i: np.ndarray, j: np.ndarray, **rows: Any
    ) -> Refactoring:
        """What the package's metrics return: ``row_starts``, ``h_rows`` (and ``row_length``,
        ``constants``) valid by construction, so not checked again on every batch."""
        refactoring = object.__new__(cls)
        fields = {"shape": shape, "i": i, "j": j, "row_length": None, "constants": np.zeros(0)}
        fields.update(rows)
        for name, value in {**fields, "h": refactoring._h_from_rows}.items():
            object.__setattr__(refactoring, name, value)
        return refactoring

    def __post_init__(self) -> None:
        t = np.asarray(self.constants)
        if t.ndim != 1 or t.dtype.kind not in "iuf" or not np.isfinite(t).all():
            raise ValueError(f"constants must be finite numbers of shape (C,), got {t!r:.60}")
        n, t = int(np.prod(self.shape)), t.astype(float)
        i, j = (np.asarray(a) for a in (self.i, self.j))
        if i.ndim != 1 or i.shape != j.shape or i.dtype.kind + j.dtype.kind not in _INTEGER_PAIRS:
            raise ValueError(f"i and j must be int arrays of shape (l,), got {i.shape}, {j.shape}")
        if i.size and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n + t.size):
            raise ValueError(
                f"i and j must index the {n} scores and {t.size} constants, in [0, {n + t.size})"
            )
        starts = np.arange(i.size + 1) if self.row_starts is None else np.asarray(self.row_starts)
        ends_right = starts.ndim == 1 and starts[0] == 0 and starts[-1] == i.size
        if not (ends_right and (np.diff(starts) >= 0).all()):
            raise ValueError(f"row_starts must rise from 0 to l = {i.size}, got {starts}")
        h, h_rows, row_length = self.h, self.h_rows, self.row_length
        if row_length is not None and not (np.diff(starts) == row_length).all():
            raise ValueError(f"row_length must be the length of every row, got {row_length}")
        if h is None and h_rows is not None and callable(h_rows):
            h = self._h_from_rows
        if not callable(h) or not (h_rows is None or callable(h_rows)):
            raise TypeError(f"h must be callable, h(won: (K, l) bool) -> (K,), got {h!r:.60}")
        object.__setattr__(self, "i", i)
        object.__setattr__(self, "j", j)
        object.__setattr__(self, "constants", t)
        object.__setattr__(self, "row_starts", starts)
        object.__setattr__(self, "h", h)

    def _h_from_rows(self, won: np.ndarray) -> np.ndarray:
        return self.h_rows(*self.lost_counts(won))

    def lost_counts(self, won: np.ndarray) -> tuple[np.ndarray, ...]:
        """What :attr:`h_rows` takes: the lost comparisons of each row (and each column)."""
        rows = lost_per_row(won, self.row_starts)
        if self.row_length is None:
            return (rows,)
        return rows, lost_per_column(won, self.row_length)

    @property
    def length(self) -> int:
        """``l``, the number of comparisons."""
        return self.i.size

    def comparisons(self, scores: Any, standardise: bool = False) -> Any:
        """``c = z[i] - z[j]`` of shape ``(l,)``, differentiable in ``scores``.

        ``z`` is the scores ``s`` followed by the constants ``t``; with ``standardise``, both
        divided by ``sd(s)`` (:func:`uniloss_ref.relaxation.standardised`), so that
        ``c = (s_i - s_j) / sd(s)`` or ``(s_i - t) / sd(s)``.
        """
        t = like(self.constants, scores)
        if standardise:
            scores, t = standardised(scores), standardised_constants(t, scores)
        return differences(scores, like(self.i, scores), like(self.j, scores), t)

    def batch_metric(self, c: Any) -> float:
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

    def length(self, shape: tuple[int, ...], targets: Any) -> int:
        """``l``, the number of comparisons of a batch, without building them.

        The built-in metrics count them from the labels; this default builds the refactoring.
        """
        return self.refactor(shape, targets).length

    def refactored_value(self, scores: Any, targets: Any) -> float:
        """``h(sign(c(s)))``: the metric through the refactoring; equals :meth:`evaluate`."""
        scores = to_numpy(scores)
        refactoring = self.refactor(scores.shape, targets)
        return refactoring.batch_metric(refactoring.comparisons(scores))
