"""Where anchors are sampled: the binary configurations at which ``h`` is known exactly.

An anchor is a configuration ``a`` in ``{-1, +1}^l``. The paper's four kinds lie around the
ground truth, all ``+1`` (the authors' counts in brackets): ``truth`` [1], ``good`` [16],
``nearby`` [16] and ``bad`` [16]; two more are optional, ``current`` and ``row``. Each kind is
one function below, which draws its anchors as a base configuration (the truth, ``sign(c)``,
or random bits) and the positions flipped from it, the way
:class:`uniloss_ref.anchor_sets.Anchors` stores them. :class:`AnchorSampler` draws the kinds
in the order of :data:`KINDS` from one explicit generator, so a seed fixes every anchor;
:func:`uniloss_ref.plain.draw_anchors` draws the same ones written out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._validation import count
from .anchor_sets import Anchors
from .metrics.refactoring import Refactoring

KINDS = ("truth", "good", "nearby", "bad", "current", "row")

_NONE = np.zeros(0, dtype=np.intp)


class Drawn(NamedTuple):
    """One kind's anchors: each is the configuration ``base`` (``"truth"``, ``"current"``,
    or ``"random"``: its own row of ``random``) with positions ``flips[f]`` flipped in anchor
    ``anchor[f]``."""

    base: str
    flips: np.ndarray
    anchor: np.ndarray
    random: np.ndarray | None = None


def truth(n: int, c: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> Drawn:
    """The ground truth itself, all ``+1``."""
    return Drawn("truth", _NONE, _NONE)


def good(n: int, c: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> Drawn:
    """The ground truth with one random bit flipped."""
    flips = rng.integers(c.size, size=n) if c.size else _NONE
    return Drawn("truth", flips, np.arange(flips.size))


def nearby(
    n: int, c: np.ndarray, rows: np.ndarray, rng: np.random.Generator, rule: str = "random"
) -> Drawn:
    """The current configuration ``sign(c)`` with one wrong bit (a ``-1``) set right; when
    nothing is wrong, a ``good`` anchor instead.

    ``rule="random"``, the paper's, picks any wrong bit; for AP about half of those anchors
    are then configurations no ranking produces. ``"margin"`` picks a row that has a wrong
    bit and sets right its wrong comparison of smallest margin ``|c|``: for AP the negative
    ranked just above the positive, so the anchor is a ranking (the positive moves up one),
    unless rounding ties two comparisons of the row whose negatives differ (scores apart by
    less than an ulp of the comparison): then one of them is set right.
    """
    wrong = np.flatnonzero(c <= 0)
    if not wrong.size:
        return good(n, c, rows, rng)
    choices = wrong if rule == "random" else smallest_margins(c, wrong, rows)
    return Drawn("current", choices[rng.integers(choices.size, size=n)], np.arange(n))


def bad(n: int, c: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> Drawn:
    """Uniformly random configurations, each a base of its own (random bytes, 8 bits each)."""
    bits = np.frombuffer(rng.bytes(-(-n * c.size // 8)), dtype=np.uint8)
    random = np.unpackbits(bits, count=n * c.size).reshape(n, c.size).view(bool)  # 0/1 bytes
    return Drawn("random", _NONE, _NONE, random)


def current(n: int, c: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> Drawn:
    """``sign(c)`` itself: with it, ``h~`` tends to the batch's metric as ``tau -> 0``."""
    return Drawn("current", _NONE, _NONE)


def row(n: int, c: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> Drawn:
    """``sign(c)`` with one random row (:class:`~uniloss_ref.metrics.Refactoring`) set right:
    one unit of the metric above the current state. Random anchors almost never complete a
    row, which is why PCK needs these."""
    picked = rng.integers(len(rows) - 1, size=n) if c.size else _NONE
    wrong = np.flatnonzero(c <= 0)
    bounds = np.searchsorted(wrong, rows)  # row r's wrong ones: wrong[bounds[r]:bounds[r + 1]]
    flips = [wrong[bounds[r] : bounds[r + 1]] for r in picked]
    anchor = np.repeat(np.arange(len(flips)), [f.size for f in flips])
    return Drawn("current", np.concatenate([_NONE, *flips]), anchor)


def smallest_margins(c: np.ndarray, wrong: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """In every row that has wrong comparisons, the one closest to being right: ``max c``
    (the first of equals), rows in order."""
    row_of = np.searchsorted(rows, wrong, side="right") - 1
    order = np.lexsort((-c[wrong], row_of))  # by row, then the largest (least negative) c
    first = np.r_[True, row_of[order][1:] != row_of[order][:-1]]
    return wrong[order][first]


DRAWS = {"truth": truth, "good": good, "nearby": nearby, "bad": bad, "current": current, "row": row}
"""Each kind's draw, ``(n, c, row_starts, rng) -> Drawn``."""


@dataclass(frozen=True)
class AnchorSampler:
    """The paper's anchor scheme with configurable counts (defaults: the authors').

    A sampler is any callable ``(c, refactoring, rng) -> Anchors`` (or ``DenseAnchors``);
    this is the default one.

    Parameters
    ----------
    truth, good, nearby, bad, current, row : int
        How many anchors of each kind (the functions of the same names) to draw per call.
    nearby_rule : {"random", "margin"}, default "random"
        Which wrong bit a ``nearby`` anchor sets right (:func:`nearby`).
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

    def __call__(
        self, c: np.ndarray, refactoring: Refactoring, rng: np.random.Generator
    ) -> Anchors:
        """``K`` anchors around ``sign(c)``, kind by kind in the order of :data:`KINDS`.

        ``c`` holds the batch's comparisons ``(l,)`` on the host; the refactoring's rows
        place the margin-nearby and row anchors.
        """
        counts, rows = [getattr(self, kind) for kind in KINDS], refactoring.row_starts
        rule = {"nearby": {"rule": self.nearby_rule}}
        drawn = [
            DRAWS[kind](n, c, rows, rng, **rule.get(kind, {}))
            for kind, n in zip(KINDS, counts, strict=True)
        ]
        first = np.cumsum([0, *counts])  # each kind's first anchor
        bases = [np.ones((1, c.size), bool), (c > 0)[None, :]]  # the truth and sign(c)
        base_of = np.repeat([int(d.base == "current") for d in drawn], counts)
        for k, d in enumerate(drawn):
            if d.base == "random":  # each anchor its own base, after those already kept
                base_of[first[k] : first[k + 1]] = sum(map(len, bases)) + np.arange(counts[k])
                bases.append(d.random)
        return Anchors(
            bases=np.concatenate(bases),
            base_of=base_of,
            flips=np.concatenate([d.flips for d in drawn]),
            flip_anchor=np.concatenate([d.anchor + first[k] for k, d in enumerate(drawn)]),
            kinds=np.repeat(np.array(KINDS), counts),
        )
