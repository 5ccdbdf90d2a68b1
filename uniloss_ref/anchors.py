"""Where anchors are sampled: the binary configurations at which ``h`` is known exactly.

An anchor is a configuration ``a`` in ``{-1, +1}^l``. The paper's four kinds lie around the
ground truth, the all-``+1`` configuration (the authors' counts in brackets):

- ``truth`` [1]: the ground truth itself;
- ``good`` [16]: the ground truth with one random bit flipped;
- ``nearby`` [16]: the current configuration ``sign(c)`` with one wrong bit (a ``-1``) set
  right; when nothing is wrong, a ``good`` anchor instead. The paper picks the bit at
  random (``nearby_rule="random"``); for AP half of those anchors are then configurations
  no ranking produces. ``"margin"`` picks a row that has a wrong bit and sets right its
  wrong comparison of smallest margin ``|c|``: for AP the negative ranked just above the
  positive, so the anchor is always a ranking (the positive moves up one place);
- ``bad`` [16]: uniformly random configurations.

Two more are optional:

- ``current``: ``sign(c)`` itself; with it, ``h~`` tends to the batch's metric as
  ``tau -> 0``;
- ``row``: ``sign(c)`` with one whole row (:class:`uniloss_ref.metrics.Refactoring`) set
  right, one unit of the metric above the current state. Random anchors almost never
  complete a row, which is why PCK needs these.

Anchors are stored as drawn: a *base* configuration (the truth, ``sign(c)`` or a random one)
and the few positions where the anchor differs from it, which the distances
(:mod:`uniloss_ref.interpolation`) exploit. Draws come from an explicit generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import configurations, count
from .metrics.refactoring import lost_per_column, lost_per_row

KINDS = ("truth", "good", "nearby", "bad", "current", "row")


@dataclass(frozen=True, eq=False)
class Anchors:
    """``K`` anchors ``a_k``, each a base configuration with some positions flipped.

    Attributes
    ----------
    bases : ndarray of shape (B, l), bool
        The base configurations, True where ``+1``.
    base : ndarray of shape (K,), int
        The base of each anchor.
    flips, owner : ndarray of shape (F,), int
        Anchor ``owner[f]`` differs from its base at position ``flips[f]`` (at most once).
    kinds : ndarray of shape (K,), str
        Each anchor's kind, one of :data:`KINDS` (``"given"`` for anchors passed in).
    """

    bases: np.ndarray
    base: np.ndarray
    flips: np.ndarray
    owner: np.ndarray
    kinds: np.ndarray

    def __post_init__(self) -> None:
        if len(self.base) == 0:
            raise ValueError("anchors must hold at least one configuration (K >= 1), got K = 0")

    @classmethod
    def from_configurations(cls, a: Any, length: int | None = None) -> Anchors:
        """Anchors written out: ``a`` of shape ``(K, l)``, entries ``+-1`` (or booleans)."""
        won = configurations(a, np.shape(a)[-1] if length is None else length, "anchors")
        none = np.zeros(0, dtype=np.intp)
        return cls(won, np.arange(len(won)), none, none, np.full(len(won), "given"))

    @classmethod
    def from_flips(cls, bases: np.ndarray, drawn: list[tuple[int, Any]], kinds: Any) -> Anchors:
        """Anchors from ``(base index, flipped positions)`` pairs, one per anchor."""
        flips = [np.asarray(f, dtype=np.intp) for _, f in drawn]
        return cls(
            bases=bases,
            base=np.array([b for b, _ in drawn], dtype=np.intp),
            flips=np.concatenate(flips) if flips else np.zeros(0, dtype=np.intp),
            owner=np.repeat(np.arange(len(drawn)), [f.size for f in flips]),
            kinds=np.asarray(kinds),
        )

    def __len__(self) -> int:
        return len(self.base)

    @property
    def length(self) -> int:
        """``l``, the number of comparisons."""
        return self.bases.shape[1]

    def won(self, k: Any = slice(None)) -> np.ndarray:
        """Anchors ``k`` (a slice or mask; all by default) written out as booleans ``(K, l)``."""
        k = np.arange(len(self))[k]
        won = self.bases[self.base[k]]
        mine = (self.owner >= k[0]) & (self.owner <= k[-1]) if k.size else self.owner < 0
        if k.size and k.size != k[-1] - k[0] + 1:  # not a contiguous range: a mask
            mine &= np.isin(self.owner, k)
        won[np.searchsorted(k, self.owner[mine]), self.flips[mine]] ^= True
        return won

    @property
    def configurations(self) -> np.ndarray:
        """Every anchor written out, ``+-1.0`` of shape ``(K, l)``."""
        return np.where(self.won(), 1.0, -1.0)

    def lost_counts(self, refactoring: Any) -> tuple[np.ndarray, ...]:
        """:meth:`Refactoring.lost_counts` of every anchor, from its base's counts and flips."""
        change = np.where(self.bases[self.base[self.owner], self.flips], 1, -1)  # won -> lost
        rows = lost_per_row(self.bases, refactoring.row_starts)[self.base]
        row = np.searchsorted(refactoring.row_starts, self.flips, side="right") - 1
        np.add.at(rows, (self.owner, row), change)
        if refactoring.columns is None:
            return (rows,)
        columns = lost_per_column(self.bases, refactoring.columns)[self.base]
        np.add.at(columns, (self.owner, self.flips % max(refactoring.columns, 1)), change)
        return rows, columns

    def values(self, metric: Any) -> np.ndarray:
        """``v_k = h(a_k)`` of shape ``(K,)`` for a refactoring (or a function ``h``).

        With the refactoring's ``h_rows`` no anchor is written out; otherwise ``h`` is
        evaluated a few anchors at a time, so memory stays bounded.
        """
        if getattr(metric, "h_rows", None) is not None:
            values = np.asarray(metric.h_rows(*self.lost_counts(metric)), dtype=float)
        else:
            h, step = getattr(metric, "h", metric), max(1, 2**21 // max(self.length, 1))
            parts = [h(self.won(slice(k, k + step))) for k in range(0, len(self), step)]
            values = np.concatenate([np.asarray(p, dtype=float).reshape(-1) for p in parts])
        if values.shape != (len(self),) or not np.isfinite(values).all():
            raise ValueError(
                f"h must return {len(self)} finite values, one per anchor, got {values[:5]}..."
            )
        return values


@dataclass(frozen=True)
class AnchorSampler:
    """The paper's anchor scheme with configurable counts (defaults: the authors').

    A sampler is any callable ``(c, refactoring, rng) -> Anchors``; this is the default.

    Parameters
    ----------
    truth, good, nearby, bad, current, row : int
        How many anchors of each kind (see the module docstring) to draw per call.
    nearby_rule : {"random", "margin"}, default "random"
        Which wrong bit a ``nearby`` anchor sets right (see the module docstring).
    """

    truth: int = 1
    good: int = 16
    nearby: int = 16
    bad: int = 16
    current: int = 0
    row: int = 0
    nearby_rule: str = "random"

    def __post_init__(self) -> None:
        for kind in KINDS:
            count(getattr(self, kind), kind)
        if self.nearby_rule not in ("random", "margin"):
            raise ValueError(f'nearby_rule must be "random" or "margin", got {self.nearby_rule!r}')
        if self.total == 0:
            raise ValueError(
                "the anchor counts (truth, good, nearby, bad, current, row) sum to 0; "
                "the interpolation needs at least one anchor (K >= 1)"
            )

    @property
    def total(self) -> int:
        """``K``, the number of anchors per call."""
        return sum(getattr(self, kind) for kind in KINDS)

    def __call__(self, c: np.ndarray, refactoring: Any, rng: np.random.Generator) -> Anchors:
        """Draw ``K`` anchors around the current configuration ``sign(c)``.

        Parameters
        ----------
        c : ndarray of shape (l,)
            The batch's comparisons (on the host).
        refactoring : Refactoring
            The batch's refactoring; its rows place the row anchors.
        rng : numpy.random.Generator

        Returns
        -------
        Anchors
            On the bases: 0 the truth, 1 ``sign(c)``, then one per random anchor.
        """
        won, length = c > 0, c.size
        wrong = np.flatnonzero(~won)  # the comparisons not yet right, in increasing order
        counts = [getattr(self, kind) for kind in KINDS]
        first = np.cumsum([0, *counts])  # the first anchor of each kind
        truth, current = 0, 1  # the bases: the truth, sign(c), then one per random anchor
        good = rng.integers(length, size=self.good) if length else np.zeros(0, np.intp)
        if wrong.size:  # nearby: one wrong bit of sign(c) set right, else a good anchor
            choices = wrong
            if self.nearby_rule == "margin":
                choices = _smallest_margins(c, wrong, refactoring.row_starts)
            nearby_base, nearby = current, choices[rng.integers(choices.size, size=self.nearby)]
        else:
            nearby_base = truth
            nearby = rng.integers(length, size=self.nearby) if length else np.zeros(0, np.intp)
        bases = np.empty((2 + self.bad, length), dtype=bool)
        bases[truth], bases[current] = True, won
        bits = np.frombuffer(rng.bytes(-(-self.bad * length // 8)), dtype=np.uint8)
        bases[2:] = np.unpackbits(bits, count=self.bad * length).reshape(self.bad, length)
        rows = rng.integers(len(refactoring.row_starts) - 1, size=self.row) if length else []
        bounds = np.searchsorted(wrong, refactoring.row_starts)  # row r: wrong[bounds[r:r + 2]]
        row_flips = [wrong[bounds[r] : bounds[r + 1]] for r in rows]
        flips = [good, nearby, *row_flips]
        owner = [first[1] + np.arange(good.size), first[2] + np.arange(nearby.size)]
        owner += [np.full(f.size, first[5] + k) for k, f in enumerate(row_flips)]
        base = np.repeat([truth, truth, nearby_base, 2, current, current], counts)
        base[first[3] : first[4]] += np.arange(self.bad)  # each random anchor is its own base
        return Anchors(
            bases=bases,
            base=base,
            flips=np.concatenate(flips).astype(np.intp),
            owner=np.concatenate(owner).astype(np.intp),
            kinds=np.repeat(np.array(KINDS), counts),
        )


def _smallest_margins(c: np.ndarray, wrong: np.ndarray, row_starts: np.ndarray) -> np.ndarray:
    """In every row that has wrong comparisons, the one closest to being right: ``max c``."""
    row = np.searchsorted(row_starts, wrong, side="right") - 1
    order = np.lexsort((-c[wrong], row))  # by row, then the largest (least negative) c first
    first = np.r_[True, row[order][1:] != row[order][:-1]]
    return wrong[order][first]
