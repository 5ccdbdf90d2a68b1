"""Fresh conformance cases: new batches drawn from a seed when a port is checked.

The packaged cases are fixed, so a port could store their answers; fresh ones are drawn in
the checker's own process, their expected values computed by the reference there, and the
port never sees a case it could have stored. Case ``k`` of seed ``S`` is drawn from its own
generator, ``default_rng([S, k])``, so the same seed gives the same cases (with the same
NumPy), and asking for more cases adds to the end of the list.

A case is one batch of one metric, from that metric's entry in :data:`FRESH` (its
parameters, the scores' shape, the targets, degenerate ones included), with scores of one
*regime* (:data:`REGIMES`: ordinary, tied, saturated, next to an anchor, of size 1e200 or
1e-200, all negative, all equal, a subnormal ``sd``), standardised or not, a temperature
and a power over their useful range (``p`` up to 64), and anchors of a random mix of kinds
(or all ``2^l`` configurations when ``l`` is small), in a random order.

A case is kept only when its answer does not hinge on rounding a correct port may do
differently (:func:`stable`): no ``|c| / 2 tau`` in ``[15, 25]``, where one library's tanh
rounds to 1 and another's does not, and every quantity moves by at most half its tolerance
when ``b~`` moves by up to 6 ulps (the largest difference measured between NumPy's and
XLA's tanh), ``z = s / sd(s)`` (and a threshold ``t / sd(s)``) by up to 4 ulps of the
largest, or the package's fast path is replaced by :mod:`uniloss_ref.plain`. Any other
case is drawn again.

A metric added to the package joins the fresh cases with one entry in :data:`FRESH`: a
function ``draw(rng) -> Batch`` (and, to be drawn more or less often than 1, a weight in
:data:`WEIGHTS`). The metrics at a threshold draw ``t`` among values that the tied, equal
and all-negative scores meet or miss exactly (ties with ``t``, nothing predicted
positive), or place it on one of the scores; those at ``k`` draw ``k`` beyond ``n`` or at
the edge of a tie between a positive and a negative.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np

from .. import plain
from ..anchors import KINDS, AnchorSampler
from ..metrics import KeypointTargets
from ..relaxation import _standardise
from .cases import draft, every_configuration, radius_margin_ok, significant, with_expected
from .reference import METRICS, case_inputs, decode_targets, reference_metric
from .tolerances import QUANTITIES, tolerance

#: The most fresh cases one run may ask for (each is up to ~100 kB of JSON).
MAX_FRESH = 1000

#: A fresh case has at most this many comparisons, and ``K l`` at most ``MAX_ENTRIES``.
MAX_LENGTH = 300
MAX_ENTRIES = 20000

#: ``|c| / 2 tau`` in this band is refused: tanh rounds to 1 there in some libraries only.
SATURATION_BAND = (15.0, 25.0)

#: How far the screen moves ``b~`` (ulps) and ``z`` (ulps of ``max |z|``).
RELAXED_ULPS, STANDARDISED_ULPS = 6, 4

#: A case is kept when no variant moves a quantity by more than this part of its tolerance.
SCREEN_RATIO = 0.5

_TINY = float(np.finfo(np.float64).tiny)


# ---------------------------------------------------------------------------------------
# One entry per metric: its parameters, the scores' shape and the targets of one batch
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """What a metric's entry draws: everything of a case but the scores and the settings.

    ``family`` is the start of the case's name (``"ap-voc"``, ``"accuracy-top2"``);
    ``metric`` a key of :data:`~uniloss_ref.conformance.reference.METRICS`; ``targets`` as a
    vectors file writes them (a list of integers, or for PCK an object of lists).
    ``on_scores``, where given, is called with the generator and the drawn scores and
    returns parameters that replace some of ``params`` (a threshold placed on a score);
    ``standardise``, a smallest chance that the case standardises, in a regime that does.
    """

    family: str
    metric: str
    params: dict[str, Any]
    shape: tuple[int, ...]
    targets: Any
    on_scores: Callable[[np.random.Generator, np.ndarray], dict[str, Any]] | None = None
    standardise: float = 0.0


def _binary_labels(rng: np.random.Generator, largest: int, one_class: float = 0.07) -> list[int]:
    """0/1 labels of 1 to ``largest`` samples; sometimes a single sample, and with chance
    ``one_class`` each no positive or no negative."""
    n = 1 if rng.random() < 0.05 else int(rng.integers(2, largest + 1))
    roll = rng.random()
    some = n if roll < 2 * one_class else int(rng.integers(1, max(n, 2)))
    positives = 0 if roll < one_class else some
    labels = np.zeros(n, dtype=int)
    labels[rng.choice(n, size=min(positives, n), replace=False)] = 1
    return labels.tolist()


def average_precision(rng: np.random.Generator) -> Batch:
    """AP, interpolated or not, cycles valued 0 or by their counts."""
    interpolated, counts = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    params = {"interpolated": interpolated, "unrealisable": "counts" if counts else "zero"}
    labels = _binary_labels(rng, 14)
    family = "ap" + "-voc" * interpolated + "-counts" * counts
    return Batch(family, "AveragePrecision", params, (len(labels),), labels)


def roc_auc(rng: np.random.Generator) -> Batch:
    """ROC AUC."""
    labels = _binary_labels(rng, 16)
    return Batch("roc-auc", "RocAuc", {}, (len(labels),), labels)


def accuracy(rng: np.random.Generator) -> Batch:
    """Top-k accuracy, ``k`` from 1 to ``C + 1``; one class or one sample sometimes."""
    n, classes = int(rng.integers(1, 9)), int(rng.integers(1, 8))
    top_k = 1 if rng.random() < 0.5 else int(rng.integers(2, classes + 2))
    family = "accuracy" if top_k == 1 else f"accuracy-top{top_k}"
    targets = rng.integers(classes, size=n).tolist()
    return Batch(family, "Accuracy", {"top_k": top_k}, (n, classes), targets)


def _coordinates(
    rng: np.random.Generator, size: tuple[int, ...], high: int, grid: int
) -> np.ndarray:
    """Keypoint coordinates in ``[-1, high]``: multiples of ``1 / grid`` (1: pixel centres;
    2: also the borders at -0.5 and ``high - 0.5``), or anywhere to two decimals (0)."""
    if grid:
        return rng.integers(-grid, grid * high + 1, size=size) / grid
    return np.round(rng.uniform(-1.0, high, size=size), 2)


def _radius(rng: np.random.Generator, n: int) -> tuple[float, np.ndarray]:
    """A threshold and the samples' scales: radii that reach no pixel centre or cover the
    whole map; radii of 0.5 to 3 px exactly, which pixels reach exactly (distance 1, the
    3-4-5 triangle); or any radius to a few decimals."""
    roll = rng.random()
    if roll < 0.15:
        return 0.5, rng.choice([0.2, 0.4, 40.0], size=n)
    if roll < 0.6:
        threshold = float(rng.choice([0.25, 0.5, 0.75, 1.0, 1.5]))
        radii = rng.choice([0.5, 1.0, 1.5, 2.0, 2.5, 3.0], size=n)
        scale = radii / threshold
        return threshold, np.where(threshold * scale == radii, scale, np.round(scale, 1))
    return round(float(rng.uniform(0.2, 1.6)), 3), np.round(rng.uniform(0.2, 8.0, size=n), 2)


def pck(rng: np.random.Generator) -> Batch:
    """PCK on heatmaps of 1 to 7 pixels a side, at thresholds other than PCKh's 0.5 too;
    invisible joints, joints outside the map or on its border, pixels exactly on the
    radius, radii that cover no pixel centre or every pixel."""
    while True:
        n, joints = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        height, width = (int(v) for v in rng.integers(1, 8, size=2))
        threshold, scale = _radius(rng, n)
        grid = int(rng.choice([0, 1, 2]))
        xy = np.stack(
            [
                _coordinates(rng, (n, joints), width, grid),
                _coordinates(rng, (n, joints), height, grid),
            ],
            axis=-1,
        )
        visible = rng.random((n, joints)) < 0.85
        targets = KeypointTargets(xy, visible, scale.astype(float), (height, width))
        metric = METRICS["PCK"](threshold=threshold)
        shape = (n, joints, height, width)
        if radius_margin_ok(targets, threshold) and metric.length(shape, targets) <= MAX_LENGTH:
            break
    encoded = {
        "xy": xy.tolist(),
        "visible": visible.tolist(),
        "scale": scale.astype(float).tolist(),
        "heatmap_shape": [height, width],
    }
    return Batch("pck", "PCK", {"threshold": threshold}, shape, encoded)


def _threshold(rng: np.random.Generator) -> float:
    """``t``: 0 or a multiple of 0.5 in ``[-1, 1]`` (which the tied and equal scores meet
    exactly, and the all-negative scores lie below), or any value in ``[-3, 3]``."""
    roll = rng.random()
    if roll < 0.35:
        return 0.0
    if roll < 0.7:
        return float(rng.integers(-2, 3)) * 0.5
    return round(float(rng.uniform(-3.0, 3.0)), 3)


def _t_on_a_score(labels: list[int]) -> Callable[[np.random.Generator, np.ndarray], dict]:
    """``t`` equal to one of the scores: a tie with ``t`` at any scale, and, standardised,
    ``t / sd`` that must be rounded as that score is. Where the batch is standardised, a
    score whose tie a one-step division, ``t / (max|s| spread)``, would break if there is
    one: a negative's where that rounds above ``t / max|s| / spread``, a positive's where it
    rounds below."""

    def choose(rng: np.random.Generator, scores: np.ndarray) -> dict[str, Any]:
        flat = np.ravel(scores)
        values = np.unique(flat)
        _, moved, _, top, spread = _standardise(np.asarray(flat, dtype=float))
        if moved is not None:
            breaking = []
            for value in values:
                classes = {labels[m] for m in np.flatnonzero(flat == value)}
                one, two = value / (top * spread), value / top / spread
                if (one > two and 0 in classes) or (one < two and 1 in classes):
                    breaking.append(value)
            values = np.array(breaking) if breaking else values
        return {"threshold": float(rng.choice(values))}

    return choose


def _at_threshold(
    rng: np.random.Generator, family: str, metric: str, params: dict[str, Any]
) -> Batch:
    """A batch of 1 to 16 samples at a threshold, one class only 30% of the time (where the
    ratios' denominators can be 0); half the time ``t`` is placed on a score, and then the
    case standardises at least 70% of the time (where the regime standardises at all)."""
    labels = _binary_labels(rng, 16, one_class=0.15)
    params = {**params, "threshold": _threshold(rng)}
    if rng.random() < 0.5:
        return Batch(family, metric, params, (len(labels),), labels, _t_on_a_score(labels), 0.7)
    return Batch(family, metric, params, (len(labels),), labels)


def f_score(rng: np.random.Generator) -> Batch:
    """F-score at a threshold: ``beta`` 1 (F1), 0.5, 2 or any from 0.25 to 4."""
    roll = rng.random()
    if roll < 0.5:
        beta = 1.0
    elif roll < 0.8:
        beta = float(rng.choice([0.5, 2.0]))
    else:
        beta = round(10 ** rng.uniform(math.log10(0.25), math.log10(4.0)), 2)
    return _at_threshold(rng, "f1" if beta == 1 else "f-beta", "FScore", {"beta": beta})


def precision(rng: np.random.Generator) -> Batch:
    """Precision at a threshold."""
    return _at_threshold(rng, "precision", "Precision", {})


def recall(rng: np.random.Generator) -> Batch:
    """Recall at a threshold."""
    return _at_threshold(rng, "recall", "Recall", {})


def _at_k(rng: np.random.Generator, family: str, metric: str) -> Batch:
    """A batch of 1 to 14 samples and ``k``: beyond the batch, from ``n + 1`` to ``n + 3``,
    40% of the time (the top ``k`` is the whole batch), else from 1 to ``n``, moved to the
    edge of a tie between a positive and a negative where there is one
    (:func:`_k_in_a_tie`)."""
    labels = _binary_labels(rng, 14)
    n = len(labels)
    if rng.random() < 0.4:
        return Batch(family, metric, {"k": int(rng.integers(n + 1, n + 4))}, (n,), labels)
    k = int(rng.integers(1, n + 1))
    return Batch(family, metric, {"k": k}, (n,), labels, _k_in_a_tie(labels))


def _k_in_a_tie(labels: list[int]) -> Callable[[np.random.Generator, np.ndarray], dict]:
    """A ``k`` whose top ``k`` ends inside a group of tied scores holding both classes, so
    that the tie rule (a negative above a positive) decides who is in it; a group where a
    positive comes before a negative in sample order if there is one, where ordering the
    tied samples by index would decide otherwise. None: ``k`` is kept."""

    def choose(rng: np.random.Generator, scores: np.ndarray) -> dict[str, Any]:
        flat = np.ravel(scores)
        ranked = np.sort(flat)[::-1]
        edges, telling = [], []
        for k in range(1, ranked.size):
            if ranked[k - 1] != ranked[k]:
                continue
            group = [labels[m] for m in np.flatnonzero(flat == ranked[k])]
            if 0 in group and 1 in group:
                edges.append(k)
                if group.index(1) < len(group) - 1 - group[::-1].index(0):
                    telling.append(k)
        chosen = telling or edges
        return {"k": int(rng.choice(chosen))} if chosen else {}

    return choose


def precision_at_k(rng: np.random.Generator) -> Batch:
    """Precision at k."""
    return _at_k(rng, "precision-at-k", "PrecisionAtK")


def recall_at_k(rng: np.random.Generator) -> Batch:
    """Recall at k."""
    return _at_k(rng, "recall-at-k", "RecallAtK")


#: Each metric's entry, by the name a case's ``"metric"`` holds.
FRESH: dict[str, Callable[[np.random.Generator], Batch]] = {
    "AveragePrecision": average_precision,
    "RocAuc": roc_auc,
    "Accuracy": accuracy,
    "PCK": pck,
    "FScore": f_score,
    "Precision": precision,
    "Recall": recall,
    "PrecisionAtK": precision_at_k,
    "RecallAtK": recall_at_k,
}

#: How often each metric is drawn, relative to 1 (a metric not named here): the metrics with
#: the most ways to be ported wrong (PCK's geometry, AP's variants, top-k accuracy) more often,
#: so that 200 fresh cases hold enough of each to catch every wrong port of the catalogue.
WEIGHTS: dict[str, float] = {
    "AveragePrecision": 2.0,
    "RocAuc": 1.5,
    "Accuracy": 2.5,
    "PCK": 2.5,
    "FScore": 0.8,
    "Precision": 0.5,
    "Recall": 0.5,
    "PrecisionAtK": 0.8,
    "RecallAtK": 0.6,
}

#: The largest ``|t / sd(s)|`` a standardised fresh case may have: a threshold thousands of
#: ``sd`` from the scores saturates every comparison, and its rounding outgrows any tolerance.
MAX_STANDARDISED_CONSTANT = 100.0


def _threshold_in_range(scores: np.ndarray, constants: np.ndarray, standardise: bool) -> bool:
    """Whether every constant lies within :data:`MAX_STANDARDISED_CONSTANT` standardised
    units of 0 where the case standardises (raw comparisons are exact at any size)."""
    if not standardise or constants.size == 0:
        return True
    _, moved, sd, _, _ = _standardise(np.asarray(scores, dtype=float))
    return moved is None or bool(np.abs(constants).max() / sd <= MAX_STANDARDISED_CONSTANT)


# ---------------------------------------------------------------------------------------
# Scores, settings and anchors, the same for every metric
# ---------------------------------------------------------------------------------------


def _normal(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return significant(scale * rng.normal(size=shape))


def _tied(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Scores from three or five values: many ties, with the target class, across rows."""
    top = int(rng.integers(1, 3))
    return rng.integers(-top, top + 1, size=shape) * 0.5


def _sparse(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray | None:
    """Zeros but one or two entries of a few times 2.2e-308: an ``sd`` below the smallest
    normal float (a batch standardisation leaves as it is), every ``c`` and ``b~`` normal
    or 0 (a platform that flushes subnormals to zero computes the same)."""
    size = math.prod(shape)
    if size < 16:
        return None
    scores = np.zeros(size)
    picked = rng.choice(size, size=int(rng.integers(1, 3)), replace=False)
    # With m equal entries x among N, sd = x sqrt(m (N - m)) / N; keep it below tiny / 2.
    largest = 0.5 * _TINY * size / math.sqrt(len(picked) * (size - len(picked)))
    scores[picked] = float(f"{rng.uniform(2.0, max(2.0, largest / _TINY)):.2f}") * _TINY
    scores *= rng.choice([-1.0, 1.0])
    return scores.reshape(shape)


@dataclass(frozen=True)
class Regime:
    """A kind of scores: how to draw them (None: not for this shape), how often the case
    standardises, how the temperature is chosen (``"spread"``: around the typical ``|c|``;
    ``"near"``: so that the smallest ``|c| / 2 tau`` lies in ``near``, ``b~`` next to
    ``sign(c)``; ``"any"``: anywhere in ``[0.1, 10]``), the chance that ``sign(c)`` is an
    anchor, and the range of ``p`` (None: :func:`_power`)."""

    name: str
    weight: float
    scores: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray | None]
    standardise: float
    temperature: str
    current: float = 0.3
    near: tuple[float, float] = (6.0, 14.0)
    power: tuple[float, float] | None = None


#: The regimes of scores a fresh case is drawn from, with their weights.
REGIMES: tuple[Regime, ...] = (
    Regime("ordinary", 0.2, lambda r, s: _normal(r, s, 10 ** r.uniform(-1, 1)), 0.35, "spread"),
    Regime("ties", 0.18, lambda r, s: _tied(r, s), 0.3, "spread"),
    Regime("saturated", 0.12, lambda r, s: r.integers(-3, 4, size=s) * 1e6, 0, "any", current=0.5),
    Regime("near-anchor", 0.12, lambda r, s: _normal(r, s), 0.3, "near", current=0.85),
    # b~ 1e-12 to 1e-9 from sign(c) at p near 1: h~ is 1e-12 to 1e-9 from that anchor's value.
    Regime(
        "very-near-anchor",
        0.06,
        lambda r, s: _normal(r, s),
        0.3,
        "near",
        current=1.0,
        near=(10.5, 13.5),
        power=(0.5, 1.25),
    ),
    Regime("huge", 0.06, lambda r, s: _normal(r, s, 10.0 ** r.integers(150, 251)), 0.75, "any"),
    Regime("tiny", 0.06, lambda r, s: _normal(r, s, 10.0 ** -r.integers(150, 251)), 0.75, "any"),
    Regime(
        "negative", 0.07, lambda r, s: -significant(3 + np.abs(r.normal(size=s))), 0.75, "spread"
    ),
    Regime("equal", 0.05, lambda r, s: np.full(s, r.choice([0.0, 0.625, -2.5])), 0.75, "any"),
    Regime("subnormal-sd", 0.1, _sparse, 0.9, "any"),
)


def _temperature(rng: np.random.Generator, c: np.ndarray, regime: Regime) -> float | None:
    """``tau`` as ``regime`` says, to four digits, or None if every choice put some
    ``|c| / 2 tau`` in :data:`SATURATION_BAND`."""
    sizes, rule = np.abs(c[c != 0]), regime.temperature
    for _ in range(10):
        if rule == "near" and sizes.size:
            tau = sizes.min() / (2 * rng.uniform(*regime.near))
        elif rule == "spread" and sizes.size:
            tau = float(np.median(sizes)) * 10 ** rng.uniform(-1.5, 1.5) / 2
        else:
            tau = 10 ** rng.uniform(-1, 1)
        tau = float(f"{tau:.3e}")
        if not in_saturation_band(sizes, tau):
            return tau
    return None


def _power(rng: np.random.Generator) -> float:
    """``p``: 1, or from 0.25 to 4, or a large power from 8 to 64."""
    roll = rng.random()
    if roll < 0.15:
        return 1.0
    if roll < 0.7:
        return float(f"{10 ** rng.uniform(math.log10(0.25), math.log10(4.0)):.2e}")
    return float(round(rng.uniform(8.0, 64.0), 1))


def _anchors(
    rng: np.random.Generator, c: np.ndarray, refactoring: Any, current: float
) -> tuple[np.ndarray, str]:
    """``(K, l)`` anchors and how they were made: every configuration where ``l <= 6``
    sometimes, else a random count of each kind (``current`` the chance of at least one
    ``sign(c)``), shuffled half the time."""
    if c.size <= 6 and rng.random() < 0.15:
        anchors, text = every_configuration(c.size), f"all {2**c.size} configurations"
    else:
        counts = {kind: 0 if rng.random() < 0.35 else int(rng.integers(1, 13)) for kind in KINDS}
        counts["current"] = max(counts["current"], int(rng.random() < current))
        counts["truth"] = max(counts["truth"], int(sum(counts.values()) == 0))
        rule = str(rng.choice(["random", "margin"]))
        anchors = AnchorSampler(**counts, nearby_rule=rule)(c, refactoring, rng).configurations
        text = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) + f" ({rule} nearby)"
    if rng.random() < 0.5:
        anchors = rng.permutation(anchors)
        text += ", shuffled"
    return anchors, text


def _case(seed: int, index: int, stats: Counter | None) -> dict[str, Any]:
    rng = np.random.default_rng([seed, index])
    regimes = [r.weight for r in REGIMES]
    names = sorted(FRESH)
    metrics = [WEIGHTS.get(name, 1.0) for name in names]
    while True:
        batch = FRESH[str(rng.choice(names, p=np.divide(metrics, sum(metrics))))](rng)
        regime = REGIMES[int(rng.choice(len(REGIMES), p=np.divide(regimes, sum(regimes))))]
        scores = regime.scores(rng, batch.shape)
        if scores is None:
            continue
        placed = batch.on_scores is not None
        if placed:
            params = {**batch.params, **batch.on_scores(rng, scores)}
            batch = replace(batch, params=params, on_scores=None)
        chance = max(regime.standardise, batch.standardise) if regime.standardise else 0.0
        standardise = bool(rng.random() < chance)
        decoded = decode_targets(batch.metric, batch.targets)
        metric, targets = reference_metric({**vars(batch), "targets": decoded})
        refactoring = metric.refactor(batch.shape, targets)
        c = np.asarray(refactoring.comparisons(np.asarray(scores, dtype=float), standardise))
        tau = _temperature(rng, c, regime)
        if regime.name == "subnormal-sd" and tau is not None and c.any():
            # b~ = tanh(c / 2 tau) stays a normal float: tau at most min |c| / (4 tiny).
            tau = min(tau, float(f"{np.abs(c[c != 0]).min() / (4 * _TINY):.2e}"))
        anchors, made = _anchors(rng, c, refactoring, regime.current)
        if tau is None or c.size > MAX_LENGTH or anchors.size > MAX_ENTRIES:
            _count(stats, "redrawn: saturation band or size")
            continue
        if not _threshold_in_range(scores, refactoring.constants, standardise):
            _count(stats, "redrawn: threshold far outside the scores")
            continue
        power = _power(rng) if regime.power is None else round(rng.uniform(*regime.power), 3)
        name = f"{batch.family}/fresh-{seed}-{index:03d}-{regime.name}"
        text = (
            f"Fresh case {index} of seed {seed}: {regime.name} scores"
            + (", the threshold on one of them" if placed else "")
            + (", standardised" if standardise else "")
            + f", tau {tau:g}, p {power:g}; anchors: {made}."
        )
        drafted = draft(
            name, text, metric, batch.params, scores, targets, anchors, tau, power, standardise
        )
        case = with_expected(drafted)
        if stable(case, rng):
            _count(stats, f"kept: {regime.name}")
            return case
        _count(stats, "redrawn: unstable under another port's rounding")


def _count(stats: Counter | None, key: str) -> None:
    if stats is not None:
        stats[key] += 1


def draw_cases(count: int, seed: int, stats: Counter | None = None) -> list[dict[str, Any]]:
    """``count`` fresh cases drawn from ``seed``, each with its expected outputs.

    Parameters
    ----------
    count : int
        How many, from 0 to :data:`MAX_FRESH`.
    seed : int
        A non-negative integer; case ``k`` comes from ``numpy.random.default_rng([seed, k])``.
    stats : collections.Counter, optional
        Filled with how many cases of each regime were kept and how many were drawn again.

    Returns
    -------
    list of dict
        Cases as a vectors file holds them, named ``FAMILY/fresh-SEED-INDEX-REGIME``.

    Raises
    ------
    ValueError
        If ``count`` or ``seed`` is out of range.
    """
    for name, value, top in (("count", count, MAX_FRESH), ("seed", seed, 2**63 - 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if not 0 <= value <= top:
            raise ValueError(f"{name} must be in [0, {top}], got {value}")
    return [_case(int(seed), k, stats) for k in range(count)]


# ---------------------------------------------------------------------------------------
# The screen: a case must not hinge on rounding a correct port may do differently
# ---------------------------------------------------------------------------------------


def _interpolate_other_order(b: Any, anchors: np.ndarray, values: np.ndarray, power: float) -> Any:
    """``h~`` with every sum in another order: each distance from its last term back, the
    weights normalised before they are applied."""
    terms = anp.where(anchors > 0, (1.0 - b) ** 2, (1.0 + b) ** 2)
    d2 = anp.sum(terms[:, ::-1], axis=1)
    w = plain.weights(d2, power)
    return anp.sum((w / anp.sum(w)) * values)


def _nudged(case: Mapping[str, Any], rng: np.random.Generator, coherent: bool) -> dict[str, Any]:
    """The quantities of :func:`uniloss_ref.plain.uniloss` with ``b~`` moved by up to
    :data:`RELAXED_ULPS` ulps and ``z`` by up to :data:`STANDARDISED_ULPS` ulps of ``max |z|``
    (equal scores alike, so ties stay ties). When ``coherent``, every ``b~`` moves by the
    most towards 0, which moves every distance to a saturated anchor the same way, and the
    sums of the interpolation run in another order."""
    metric, targets = reference_metric(case)
    scores, anchors = case["scores"], case["anchors"]
    refactoring = metric.refactor(scores.shape, targets)
    values = refactoring.h(anchors > 0)
    tau, power, standardise = case["temperature"], case["power"], case["standardise"]
    # z = (s, t): the scores, then the constants they are compared with (thresholds).
    joined = np.concatenate([scores.ravel(), refactoring.constants])
    shift = np.zeros(joined.shape)
    _, moved, _, top, spread = _standardise(scores)
    if standardise and moved is not None:
        _, same = np.unique(joined, return_inverse=True)
        steps = rng.integers(-STANDARDISED_ULPS, STANDARDISED_ULPS + 1, size=same.size)
        largest = np.abs(joined).max() / top / spread
        shift = steps[same.ravel()] * np.finfo(float).eps * largest

    def comparisons(s: Any) -> Any:
        return plain.comparisons(s, refactoring, standardise) + (
            shift[refactoring.i] - shift[refactoring.j]
        )

    b0 = plain.relaxed_binary(comparisons(scores), tau)
    if coherent:
        steps = -RELAXED_ULPS * np.sign(b0)
    else:
        steps = rng.integers(-RELAXED_ULPS, RELAXED_ULPS + 1, size=b0.shape)
    nudge = steps * np.spacing(np.abs(b0))
    nudge[(b0 == 0) | (np.abs(b0) == 1) | (np.abs(b0 + nudge) >= 1)] = 0.0

    interpolate = _interpolate_other_order if coherent else plain.interpolate

    def surrogate(s: Any) -> Any:
        b = plain.relaxed_binary(comparisons(s), tau) + nudge
        return interpolate(b, anchors, values, power)

    c = comparisons(scores)
    b, hard = b0 + nudge, np.where(c > 0, 1.0, -1.0)
    h = surrogate(scores)
    return {
        "comparisons": c,
        "hard": hard,
        "relaxed": b,
        "distances": np.sqrt(plain.squared_distances(b, anchors)),
        "anchor_values": values,
        "batch_metric": refactoring.h(hard[None, :] > 0)[0],
        "surrogate": h,
        "loss": 1.0 - h,
        "gradient": autograd.grad(lambda s: 1.0 - surrogate(s))(scores),
    }


def in_saturation_band(c: Any, temperature: float) -> bool:
    """Whether some ``|c| / 2 tau`` lies in :data:`SATURATION_BAND`, where one library's
    ``tanh`` rounds to exactly 1 and another's does not (NumPy's from 19.0, PyTorch's from
    19.06, XLA's from 20.0)."""
    ratio = np.abs(np.asarray(c, dtype=float)) / (2 * temperature)
    return bool(((ratio >= SATURATION_BAND[0]) & (ratio <= SATURATION_BAND[1])).any())


def stable(case: Mapping[str, Any], rng: np.random.Generator) -> bool:
    """Whether ``case`` (with its expected values) stays clear of :data:`SATURATION_BAND` and
    every quantity within :data:`SCREEN_RATIO` of its tolerance under :mod:`uniloss_ref.plain`
    and under two nudged versions of it (:func:`_nudged`)."""
    if in_saturation_band(case["expected"]["comparisons"], case["temperature"]):
        return False
    inputs = case_inputs(case)
    with np.errstate(all="ignore"):
        variants = [plain.uniloss(inputs), _nudged(inputs, rng, False), _nudged(inputs, rng, True)]
        for out in variants:
            for quantity in QUANTITIES:
                rtol, atol = tolerance(case, quantity)
                got = np.asarray(out[quantity], dtype=float)
                want = np.asarray(case["expected"][quantity], dtype=float)
                if not np.isfinite(got).all():
                    return False
                excess = np.abs(got - want) - SCREEN_RATIO * (atol + rtol * np.abs(want))
                if (excess > 0).any():
                    return False
    return True
