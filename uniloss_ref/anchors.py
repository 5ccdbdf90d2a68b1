"""Where anchors are sampled: the binary configurations at which ``h`` is evaluated exactly.

An anchor is a configuration ``a`` in ``{-1, +1}^l``. The paper's scheme mixes four kinds
(the authors' default counts in brackets), all relative to the ground truth, the all-``+1``
configuration in which every comparison comes out as desired:

``truth`` [1]
    the ground truth itself;
``good`` [16]
    the ground truth with one random bit flipped;
``nearby`` [16]
    the current hard configuration ``sign(c)`` with one bit that disagrees with the ground
    truth flipped towards it (when none disagrees: one random bit of the ground truth
    flipped instead, i.e. a ``good`` anchor);
``bad`` [16]
    uniformly random configurations.

Two more kinds are optional:

``current``
    the current hard configuration itself. With it among the anchors, ``h~`` tends to the
    true batch metric as the temperature goes to zero.
``row``
    the current hard configuration with one whole *row* set to ``+1``. A row is a group of
    comparisons that together decide one unit of the metric (one positive's comparisons
    for AP, one sample's for accuracy, one candidate pixel's for PCK). Setting a row makes
    that unit right, so these anchors sit one step up the metric from the current state.
    The authors' pose code needed them: random anchors almost never make a keypoint
    correct, so their PCK is 0 and they carry no direction.

Every sampler draws from an explicit :class:`numpy.random.Generator`. No Python loop runs
over comparisons or anchors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._validation import count

KINDS = ("truth", "good", "nearby", "bad", "current", "row")


def _output(out: np.ndarray | None, number: int, length: int) -> np.ndarray:
    # The sampler fills one preallocated (K, l) array block by block: allocating a fresh
    # array per kind and concatenating doubled the cost of a call at l ~ 10^4.
    return np.empty((number, length)) if out is None else out


def truth_anchors(length: int, number: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """``number`` copies of the ground truth, the all-``+1`` configuration: shape (number, l)."""
    anchors = _output(out, number, length)
    anchors[...] = 1.0
    return anchors


def good_anchors(
    length: int, number: int, rng: np.random.Generator, *, out: np.ndarray | None = None
) -> np.ndarray:
    """The ground truth with one uniformly chosen bit flipped, per anchor: shape (number, l)."""
    anchors = truth_anchors(length, number, out=out)
    if length:
        anchors[np.arange(number), rng.integers(length, size=number)] = -1.0
    return anchors


def current_anchors(hard: np.ndarray, number: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """``number`` copies of the current hard configuration ``sign(c)``: shape (number, l)."""
    anchors = _output(out, number, hard.size)
    anchors[...] = hard
    return anchors


def nearby_anchors(
    hard: np.ndarray, number: int, rng: np.random.Generator, *, out: np.ndarray | None = None
) -> np.ndarray:
    """The current configuration with one wrong bit (a ``-1``) set right, per anchor.

    Parameters
    ----------
    hard : ndarray of shape (l,)
        The current hard configuration ``sign(c)``, entries ``+-1``.
    number : int
        How many anchors to draw.
    rng : numpy.random.Generator
    out : ndarray of shape (number, l), optional
        Where to write the anchors.

    Returns
    -------
    ndarray of shape (number, l)
        When ``hard`` has no ``-1`` (everything already right), ``good`` anchors instead.
    """
    wrong = np.flatnonzero(hard < 0)
    if wrong.size == 0:
        return good_anchors(hard.size, number, rng, out=out)
    anchors = current_anchors(hard, number, out=out)
    anchors[np.arange(number), rng.choice(wrong, size=number)] = 1.0
    return anchors


def bad_anchors(
    length: int, number: int, rng: np.random.Generator, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Uniformly random configurations: shape (number, l)."""
    anchors = _output(out, number, length)
    # Drawing bits as int8 is five times faster than rng.choice over {-1.0, 1.0}.
    np.multiply(rng.integers(0, 2, size=(number, length), dtype=np.int8), 2.0, out=anchors)
    anchors -= 1.0
    return anchors


def row_anchors(
    hard: np.ndarray,
    rows: np.ndarray,
    number: int,
    rng: np.random.Generator,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The current configuration with one uniformly chosen row set to ``+1``, per anchor.

    Parameters
    ----------
    hard : ndarray of shape (l,)
        The current hard configuration.
    rows : ndarray of shape (l,)
        Row id of every comparison (from ``metric.rows``), integers in ``[0, R)``.
    number : int
    rng : numpy.random.Generator
    out : ndarray of shape (number, l), optional
        Where to write the anchors.

    Returns
    -------
    ndarray of shape (number, l)
    """
    anchors = current_anchors(hard, number, out=out)
    if rows.size:
        chosen = rng.integers(rows.max() + 1, size=number)
        anchors[rows[None, :] == chosen[:, None]] = 1.0
    return anchors


class Anchors(NamedTuple):
    """A drawn set of anchors.

    Attributes
    ----------
    configurations : ndarray of shape (K, l)
        The anchors ``a_k``, entries ``+-1``.
    kinds : ndarray of shape (K,)
        The kind of each anchor, one of :data:`KINDS`.
    """

    configurations: np.ndarray
    kinds: np.ndarray


@dataclass(frozen=True)
class AnchorSampler:
    """The paper's anchor scheme with configurable counts.

    Parameters
    ----------
    truth, good, nearby, bad : int
        Counts of each kind; the paper's defaults are 1, 16, 16, 16.
    current : int, default 0
        Copies of the current hard configuration (one is enough; more only re-weights it).
    row : int, default 0
        Row anchors (see the module docstring).

    A sampler is any callable ``(hard, rows, rng) -> Anchors``; this class is the default.
    """

    truth: int = 1
    good: int = 16
    nearby: int = 16
    bad: int = 16
    current: int = 0
    row: int = 0

    def __post_init__(self) -> None:
        for kind in KINDS:
            count(getattr(self, kind), kind)
        if self.total == 0:
            raise ValueError(
                "the anchor counts (truth, good, nearby, bad, current, row) sum to 0; "
                "the interpolation needs at least one anchor (K >= 1)"
            )

    @property
    def total(self) -> int:
        """``K``, the number of anchors drawn per call."""
        return sum(getattr(self, kind) for kind in KINDS)

    def __call__(self, hard: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> Anchors:
        """Draw ``K`` anchors around the current hard configuration.

        Parameters
        ----------
        hard : ndarray of shape (l,)
            The current hard configuration ``sign(c)``.
        rows : ndarray of shape (l,)
            Row id of every comparison.
        rng : numpy.random.Generator

        Returns
        -------
        Anchors
        """
        counts = [getattr(self, kind) for kind in KINDS]
        configurations = np.empty((self.total, hard.size))
        blocks = np.split(configurations, np.cumsum(counts)[:-1])
        truth, good, nearby, bad, current, row = blocks
        truth_anchors(hard.size, self.truth, out=truth)
        good_anchors(hard.size, self.good, rng, out=good)
        nearby_anchors(hard, self.nearby, rng, out=nearby)
        bad_anchors(hard.size, self.bad, rng, out=bad)
        current_anchors(hard, self.current, out=current)
        row_anchors(hard, rows, self.row, rng, out=row)
        return Anchors(configurations, np.repeat(np.array(KINDS), counts))
