"""The conformance cases: their inputs, fixed anchors, and the reference's expected outputs.

Each case is a batch for one metric (scores and targets), the anchor configurations to
interpolate from (written out, so a port needs no random generator identical to NumPy's),
the temperature ``tau`` and the IDW power ``p``. :func:`build_cases` runs
:func:`uniloss_ref.conformance.reference.reference_port` over the inputs to fill in
``expected``.

Inputs are drawn from fixed seeds and rounded to three decimals, so the file stays short
and readable and its numbers parse to the same doubles everywhere. Every tie-free case is
checked to be tie-free, and every PCK case to have no pixel within ``1e-6`` of the
threshold radius unless it lies on it exactly (``pck/radius-and-border``), so no case
hinges on a last-bit rounding that a port may do differently.

The cases after the first of each family were added to catch wrong ports that the first
ones let through (``tests/wrong_ports.py`` holds them): non-square heatmaps, pixels on the
radius and joints on the image border, degenerate joints mixed with ordinary ones, several
samples with several joints, ties only with higher-index classes, a relaxed point about
``1e-10`` from an anchor, and ``tau != 1``, ``p != 1`` for every metric. They draw from
their own seeds, so the earlier cases keep their values.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..anchors import AnchorSampler
from ..metrics import (
    PCK,
    Accuracy,
    AveragePrecision,
    FScore,
    KeypointTargets,
    Metric,
    Precision,
    PrecisionAtK,
    Recall,
    RecallAtK,
    RocAuc,
)
from .reference import case_inputs, reference_port
from .tolerances import case_tolerances

# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------


def _scores(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """Normal scores rounded to three decimals, redrawn until no two are equal."""
    while True:
        scores = np.round(scale * rng.normal(size=shape), 3)
        if np.unique(scores).size == scores.size:
            return scores


def _labels(n: int, positives: int, rng: np.random.Generator) -> np.ndarray:
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.choice(n, size=positives, replace=False)] = 1
    return labels


def _sampled(
    metric: Metric, scores: np.ndarray, targets: Any, rng: np.random.Generator, current: int = 1
) -> np.ndarray:
    """The paper's anchors (1 truth, 16 good, 16 nearby, 16 bad) plus ``current`` copies of
    ``sign(c)`` and the metric's row anchors, drawn around this batch."""
    sampler = AnchorSampler(current=current, **metric.default_anchors)
    refactoring = metric.refactor(scores.shape, targets)
    return sampler(refactoring.comparisons(scores), refactoring, rng).configurations


def every_configuration(length: int) -> np.ndarray:
    """All ``2^l`` points of ``{-1, +1}^l``: realisable or not, each gets a value."""
    return np.array(list(itertools.product((-1.0, 1.0), repeat=length)))


def _keypoints(xy: list, visible: list, scale: list, hw: tuple[int, int]) -> KeypointTargets:
    return KeypointTargets(
        np.array(xy, dtype=float), np.array(visible, dtype=bool), np.array(scale, dtype=float), hw
    )


def radius_margin_ok(targets: KeypointTargets, threshold: float) -> bool:
    """Whether no pixel sits within 1e-6 of a visible joint's radius unless exactly on it.

    A pixel on the radius is allowed only where every way a port may write the test gives
    the same answer: ``d^2 == r^2``, ``sqrt(d^2) == r`` and ``hypot(dx, dy) == r`` all hold
    exactly (small integer or half-integer offsets, a radius that is a float exactly).
    """
    height, width = targets.heatmap_shape
    yy, xx = np.divmod(np.arange(height * width), width)
    dx, dy = xx - targets.xy[..., :1], yy - targets.xy[..., 1:]
    d2 = dx**2 + dy**2
    radius = threshold * targets.scale[:, None, None]
    near = (np.abs(d2 - radius**2) < 1e-6) & targets.visible[..., None]
    exact = (d2 == radius**2) & (np.sqrt(d2) == radius) & (np.hypot(dx, dy) == radius)
    return not (near & ~exact).any()


def _check_radius_margin(targets: KeypointTargets, threshold: float) -> None:
    if not radius_margin_ok(targets, threshold):
        raise RuntimeError("a PCK case has a pixel next to the threshold radius; move its keypoint")


Draft = dict[str, Any]


def draft(
    name: str,
    description: str,
    metric: Metric,
    params: dict[str, Any],
    scores: np.ndarray,
    targets: Any,
    anchors: np.ndarray,
    temperature: float = 1.0,
    power: float = 1.0,
    standardise: bool = False,
) -> Draft:
    """A case without its expected outputs, as a vectors file writes it."""
    constants = metric.refactor(scores.shape, targets).constants
    own = case_tolerances(scores, temperature, standardise, constants)
    if isinstance(targets, KeypointTargets):
        _check_radius_margin(targets, metric.threshold)
        encoded: Any = {
            "xy": targets.xy.tolist(),
            "visible": targets.visible.tolist(),
            "scale": targets.scale.tolist(),
            "heatmap_shape": list(targets.heatmap_shape),
        }
    else:
        encoded = np.asarray(targets).astype(int).tolist()
    return {
        "name": name,
        "description": description,
        "metric": type(metric).__name__,
        "params": params,
        "temperature": float(temperature),
        "power": float(power),
        "scores": scores.tolist(),
        "targets": encoded,
        "standardise": standardise,
        # Anchors are +-1; integers keep the file short and are exact in any reader.
        "anchors": np.asarray(anchors).astype(int).tolist(),
        # Where the case's scale or standardisation calls for tolerances of its own.
        **({"tolerances": own} if own else {}),
    }


_AP = {"interpolated": False, "unrealisable": "zero"}


def _temperature_and_power_case(
    prefix: str, metric: Metric, params: dict[str, Any], rng: np.random.Generator
) -> Draft:
    """An ordinary binary batch (9 samples, 3 positives) at tau = 0.5 and p = 2."""
    scores, labels = _scores(rng, (9,)), _labels(9, 3, rng)
    return draft(
        f"{prefix}/temperature-and-power",
        "An ordinary batch at tau = 0.5 and p = 2.",
        metric,
        params,
        scores,
        labels,
        _sampled(metric, scores, labels, rng),
        temperature=0.5,
        power=2.0,
    )


def _every_configuration_case(
    prefix: str, metric: Metric, params: dict[str, Any], rng: np.random.Generator, note: str = ""
) -> Draft:
    return draft(
        f"{prefix}/every-configuration",
        "2 positives, 2 negatives; the anchors are all 16 configurations, including the "
        "two cycles (rows [-1, +1], [+1, -1] and its mirror) that no ranking produces." + note,
        metric,
        params,
        _scores(rng, (4,)),
        np.array([1, 0, 1, 0]),
        every_configuration(4),
    )


def _binary_ranking_cases(
    prefix: str, kind: type[Metric], params: dict[str, Any], seed: int
) -> list[Draft]:
    rng = np.random.default_rng(seed)
    metric = kind(**params)
    drafts = []

    scores, labels = _scores(rng, (10,)), _labels(10, 4, rng)
    drafts.append(
        draft(
            f"{prefix}/ordinary",
            "10 samples, 4 positives: l = 24; the paper's anchors plus the current one.",
            metric,
            params,
            scores,
            labels,
            _sampled(metric, scores, labels, rng),
        )
    )

    drafts.append(_every_configuration_case(prefix, metric, params, rng))

    scores = np.array([0.5, 0.5, -0.25, 0.5, -0.25, 1.0, -0.25, 0.0])
    labels = np.array([1, 0, 1, 0, 0, 1, 1, 0])
    drafts.append(
        draft(
            f"{prefix}/ties",
            "Positives tied with negatives: c = 0 is -1 (not achieved) and b~ = 0.",
            metric,
            params,
            scores,
            labels,
            _sampled(metric, scores, labels, rng),
        )
    )

    scores = np.array([4e6, -1e6, 2e6, -3e6, 1e6, -2e6])
    labels = np.array([1, 0, 0, 1, 1, 0])
    drafts.append(
        draft(
            f"{prefix}/extreme-on-anchor",
            "Scores of order 1e6: b~ = sign(c) exactly, which is an anchor (the current one), "
            "so h~ is that anchor's value exactly and the gradient is zero.",
            metric,
            params,
            scores,
            labels,
            _sampled(metric, scores, labels, rng),
        )
    )
    drafts.append(
        draft(
            f"{prefix}/extreme-off-anchor",
            "The same scores without the current anchor: b~ is saturated but on no anchor; "
            "h~ is a proper average and the gradient is zero because 1 - b~^2 = 0.",
            metric,
            params,
            scores,
            labels,
            _sampled(metric, scores, labels, rng, current=0),
        )
    )

    # One class at +16, the other at 0 and -16: every |c| is within 1 of 16, so b~ is
    # within 1e-6 of sign(c), the current anchor. Expanding ||b~ - a||^2 as
    # ||b~||^2 - 2 a.b~ + l would lose most digits of these distances.
    labels = np.array([1, 1, 0, 0, 1, 0, 1])
    centres = np.array([16.0, 16.0, 0.0, 0.0, -16.0, 0.0, -16.0])
    scores = centres + np.round(rng.uniform(-0.5, 0.5, size=7), 3)
    drafts.append(
        draft(
            f"{prefix}/near-anchor",
            "Every |c| is about 16, so b~ is within 1e-6 of the current anchor: distances "
            "must be computed without cancellation.",
            metric,
            params,
            scores,
            labels,
            _sampled(metric, scores, labels, rng),
        )
    )

    drafts.append(_temperature_and_power_case(prefix, metric, params, rng))

    for situation, labels, text in (
        ("no-positives", np.zeros(5, dtype=int), "No positives: l = 0, value 1, zero gradient."),
        ("one-class", np.ones(5, dtype=int), "Only positives: l = 0, value 1, zero gradient."),
        ("single-sample", np.ones(1, dtype=int), "A single (positive) sample: l = 0."),
    ):
        scores = _scores(rng, labels.shape)
        drafts.append(
            draft(
                f"{prefix}/{situation}",
                text,
                metric,
                params,
                scores,
                labels,
                _sampled(metric, scores, labels, rng),
            )
        )
    return drafts


def _very_near_anchor(
    prefix: str,
    metric: Metric,
    params: dict[str, Any],
    scores: np.ndarray,
    targets: Any,
    rng: np.random.Generator,
) -> Draft:
    """One comparison of 23.5, all others of 100 or more: ``b~`` is ``+-1`` exactly but for
    one entry ``1.2e-10`` from it, so the current anchor is at ``d ~ 1.2e-10``."""
    return draft(
        f"{prefix}/very-near-anchor",
        "All |c| >= 100 (b~ = +-1 exactly) but one c = 23.5: b~ is 1.2e-10 from the current "
        "anchor. h~ differs from its value by about 1e-10 and the gradient is about 1e-10: "
        "an exact-hit test with a tolerance (d < 1e-9) gets both wrong.",
        metric,
        params,
        scores,
        targets,
        _sampled(metric, scores, targets, rng),
    )


def _binary_ranking_more_cases(
    prefix: str, kind: type[Metric], params: dict[str, Any], seed: int, tau_p: bool = False
) -> list[Draft]:
    rng = np.random.default_rng(seed)
    metric = kind(**params)
    drafts = []
    if tau_p:
        drafts.append(_temperature_and_power_case(prefix, metric, params, rng))
    # Positives at 0, 300, -500; negatives at -23.5, 150, -800: one pair 23.5 apart.
    scores = np.array([0.0, -23.5, 300.0, 150.0, -500.0, -800.0])
    labels = np.array([1, 0, 1, 0, 1, 0])
    drafts.append(_very_near_anchor(prefix, metric, params, scores, labels, rng))
    return drafts


def _accuracy_cases(seed: int) -> list[Draft]:
    rng = np.random.default_rng(seed)
    top1, top3 = Accuracy(), Accuracy(top_k=3)
    drafts = []

    def add(name, text, metric, scores, targets, anchors=None, **kwargs):
        if anchors is None:
            anchors = _sampled(metric, scores, targets, rng)
        params = {"top_k": metric.top_k}
        drafts.append(draft(name, text, metric, params, scores, targets, anchors, **kwargs))

    scores, targets = _scores(rng, (6, 5)), rng.integers(5, size=6)
    add("accuracy/ordinary", "6 samples, 5 classes: l = 24.", top1, scores, targets)
    scores = np.array([[0.5, 0.5, -1.0, 0.25], [0.0, 1.0, 1.0, 1.0], [2.0, -1.0, 0.0, 2.0]])
    add(
        "accuracy/ties",
        "Targets tied with other classes: a tie counts against the target.",
        top1,
        scores,
        np.array([1, 2, 3]),
    )
    scores, targets = _scores(rng, (1, 4)), np.array([2])
    add(
        "accuracy/single-sample",
        "One sample of 4 classes; the anchors are all 8 configurations.",
        top1,
        scores,
        targets,
        anchors=every_configuration(3),
    )
    scores = _scores(rng, (4, 1))
    add(
        "accuracy/one-class",
        "C = 1: l = 0, every sample correct.",
        top1,
        scores,
        np.zeros(4, dtype=int),
    )
    scores = 1e6 * rng.permuted(np.tile([-2.0, -1.0, 1.0, 2.0], (5, 1)), axis=1)
    add(
        "accuracy/extreme-on-anchor",
        "Scores of order 1e6, the current configuration among the anchors.",
        top1,
        scores,
        np.array([0, 1, 2, 3, 0]),
    )
    scores, targets = _scores(rng, (5, 6)), rng.integers(6, size=5)
    add(
        "accuracy-top3/ordinary",
        "Top-3 accuracy, 5 samples, 6 classes, tau = 2.",
        top3,
        scores,
        targets,
        temperature=2.0,
    )
    scores, targets = _scores(rng, (4, 3)), rng.integers(3, size=4)
    add(
        "accuracy-top3/three-classes",
        "top_k = C = 3: every configuration scores 1, so h~ = 1 and the gradient is zero "
        "up to rounding.",
        top3,
        scores,
        targets,
    )
    return drafts


def _accuracy_more_cases(seed: int) -> list[Draft]:
    rng = np.random.default_rng(seed)
    top1, top3 = Accuracy(), Accuracy(top_k=3)
    drafts = []

    def add(name, text, metric, scores, targets, **kwargs):
        anchors = _sampled(metric, scores, targets, rng)
        params = {"top_k": metric.top_k}
        drafts.append(draft(name, text, metric, params, scores, targets, anchors, **kwargs))

    scores = np.array(
        [
            [1.0, 0.25, 1.0, -0.5],
            [0.5, 2.0, 2.0, 2.0],
            [-1.0, 0.75, 0.0, 0.75],
            [0.3, -0.2, 1.5, 0.1],
        ]
    )
    add(
        "accuracy/ties-with-higher-classes",
        "Targets tied only with classes of a higher index (and one untied, correct sample): "
        "a tie counts against the target, whatever the index order; argmax, which returns "
        "the first maximum, would call the first three samples correct.",
        top1,
        scores,
        np.array([0, 1, 1, 2]),
    )
    scores = np.array(
        [
            [1.0, 3.0, 2.0, 1.0, 0.0],
            [0.0, 1.0, -1.0, 2.0, 1.0],
            [2.0, 0.5, 0.5, 0.5, 1.0],
            [0.25, 1.0, -0.5, 0.75, 0.5],
        ]
    )
    add(
        "accuracy-top3/ties-with-higher-classes",
        "Top-3 with the target tied at the third place with higher-index classes: not in the "
        "top 3 (a stable sort by score would put it there).",
        top3,
        scores,
        np.array([0, 1, 1, 4]),
    )
    scores, targets = _scores(rng, (5, 4)), rng.integers(4, size=5)
    add(
        "accuracy/temperature-and-power",
        "An ordinary batch at tau = 0.25 and p = 1.5.",
        top1,
        scores,
        targets,
        temperature=0.25,
        power=1.5,
    )
    scores, targets = _scores(rng, (4, 6)), rng.integers(6, size=4)
    add(
        "accuracy-top3/temperature-and-power",
        "Top-3 at tau = 0.5 and p = 3.",
        top3,
        scores,
        targets,
        temperature=0.5,
        power=3.0,
    )
    scores = np.array([[0.0, -23.5, -200.0, 150.0], [400.0, -100.0, 0.0, -300.0]])
    targets = np.array([0, 2])
    drafts.append(_very_near_anchor("accuracy", top1, {"top_k": 1}, scores, targets, rng))
    return drafts


def _pck_cases(seed: int) -> list[Draft]:
    rng = np.random.default_rng(seed)
    metric = PCK(threshold=0.5)
    params = {"threshold": 0.5}
    drafts = []

    def add(name, text, scores, targets):
        anchors = _sampled(metric, scores, targets, rng)
        drafts.append(draft(name, text, metric, params, scores, targets, anchors))

    targets = _keypoints([[[1.3, 2.1], [3.4, 0.8]]], [[True, True]], [2.4], (5, 5))
    scores = _scores(rng, (1, 2, 5, 5))
    scores[0, 0, 2, 1] = scores.max() + 0.5  # the pixel nearest joint 0 wins: it is correct
    add(
        "pck/ordinary",
        "One sample, 2 joints on 5x5 heatmaps, radius 1.2 px; joint 0 is correct.",
        scores,
        targets,
    )
    targets = _keypoints(
        [
            [[1.2, 1.1], [0.4, 2.6], [5.0, 1.0]],
            [[2.3, 0.9], [1.5, 1.5], [2.1, 2.2]],
        ],
        [[True, False, True], [True, True, True]],
        [1.6, 0.8],
        (4, 4),
    )
    add(
        "pck/uncounted-joints",
        "An invisible joint and one outside the heatmap (not counted), and a joint whose "
        "radius (0.4 px) contains no pixel centre (counted, never correct).",
        _scores(rng, (2, 3, 4, 4)),
        targets,
    )
    targets = _keypoints([[[1.0, 1.0], [2.2, 0.7]]], [[True, True]], [20.0], (3, 3))
    add(
        "pck/no-negatives",
        "Radius 10 px covers every pixel: each joint is always correct and has no pairs.",
        _scores(rng, (1, 2, 3, 3)),
        targets,
    )
    targets = _keypoints([[[1.0, 1.0]]], [[False]], [2.0], (3, 3))
    add(
        "pck/nothing-counted",
        "No visible joint: l = 0 and the value is 1 by convention.",
        _scores(rng, (1, 1, 3, 3)),
        targets,
    )
    scores = np.round(rng.normal(size=(1, 1, 4, 4)), 3)
    scores[0, 0, 3, 3] = scores[0, 0, 1, 1] = scores.max() + 1.0
    targets = _keypoints([[[1.2, 0.9]]], [[True]], [1.6], (4, 4))
    add(
        "pck/ties",
        "A far negative pixel ties with the best positive: the joint is not correct.",
        scores,
        targets,
    )
    return drafts


def _pck_more_cases(seed: int) -> list[Draft]:
    rng = np.random.default_rng(seed)
    metric = PCK(threshold=0.5)
    params = {"threshold": 0.5}
    drafts = []

    def add(name, text, scores, targets, **kwargs):
        anchors = _sampled(metric, scores, targets, rng)
        drafts.append(draft(name, text, metric, params, scores, targets, anchors, **kwargs))

    # H = 4, W = 6. Sample 0's joint 2 has x = 4.6, in [H - 0.5, W - 0.5): counted only by a
    # port that bounds x by the width. Every joint has pairs, so the order of the joints'
    # blocks (sample-major) shows.
    targets = _keypoints(
        [
            [[1.3, 2.2], [3.1, 0.6], [4.6, 2.7]],
            [[0.7, 0.4], [2.2, 2.9], [5.2, 1.3]],
        ],
        [[True, True, True], [True, True, True]],
        [2.4, 3.0],
        (4, 6),
    )
    scores = _scores(rng, (2, 3, 4, 6))
    scores[0, 0, 2, 1] = scores.max() + 0.5  # sample 0, joint 0: the argmax is its nearest pixel
    scores[1, 2, 1, 5] = scores.max() + 0.5
    add(
        "pck/non-square",
        "2 samples, 3 joints each on 4x6 (H x W) heatmaps, every joint with pairs; one joint "
        "at x = 4.6, inside the width but beyond the height.",
        scores,
        targets,
    )
    # H = 5, W = 4. Sample 0 (radius 1): joint 0 at (2, 2) has 4 pixels exactly on the
    # radius; joint 1 at x = -0.5 is on the left border (counted); joint 2 at x = W - 0.5 on
    # the right one (not counted). Sample 1 (radius 5): joint 0 at (0, 0) reaches pixel
    # (3, 4) exactly at distance 5, so it has no negative pixel; joint 1 at y = -0.5 is on
    # the top border (counted), joint 2 at y = H - 0.5 on the bottom one (not counted).
    targets = _keypoints(
        [
            [[2.0, 2.0], [-0.5, 1.0], [3.5, 2.0]],
            [[0.0, 0.0], [1.0, -0.5], [1.0, 4.5]],
        ],
        [[True, True, True], [True, True, True]],
        [2.0, 10.0],
        (5, 4),
    )
    add(
        "pck/radius-and-border",
        "Pixels exactly on the radius (distance 1 and the 3-4-5 triangle) are positive; "
        "joints at x or y = -0.5 are counted, at x = W - 0.5 or y = H - 0.5 they are not.",
        _scores(rng, (2, 3, 5, 4)),
        targets,
    )
    # Sample 0 (radius 6): every pixel is positive. Sample 1 (radius 1): ordinary joints.
    # Sample 2 (radius 0.3): joint 0 at (1.5, 1.5) has no pixel centre within 0.3, joint 1 a
    # single positive pixel.
    targets = _keypoints(
        [
            [[1.0, 1.0], [2.0, 1.0]],
            [[1.2, 0.9], [2.6, 1.7]],
            [[1.5, 1.5], [2.1, 0.9]],
        ],
        [[True, True], [True, True], [True, True]],
        [12.0, 2.0, 0.6],
        (3, 4),
    )
    scores = _scores(rng, (3, 2, 3, 4))
    scores[1, 0, 1, 1] = scores.max() + 0.5
    add(
        "pck/mixed-degenerate",
        "Joints with no negative pixel (always correct), with no positive pixel (never), and "
        "ordinary ones in one batch: each kind counts once in the denominator.",
        scores,
        targets,
    )
    targets = _keypoints(
        [[[1.3, 2.1], [3.4, 0.8]], [[2.2, 1.7], [0.6, 3.1]]],
        [[True, True], [True, True]],
        [2.4, 2.0],
        (5, 5),
    )
    add(
        "pck/temperature-and-power",
        "2 samples, 2 joints on 5x5 heatmaps at tau = 2 and p = 0.5.",
        _scores(rng, (2, 2, 5, 5)),
        targets,
        temperature=2.0,
        power=0.5,
    )
    # One joint, radius 0.5 on a 2x2 heatmap: one positive pixel and 3 negatives. The
    # comparisons are 23.5, 150 and 300.
    targets = _keypoints([[[0.1, 0.2]]], [[True]], [1.0], (2, 2))
    scores = np.array([[[[0.0, -23.5], [-150.0, -300.0]]]])
    drafts.append(_very_near_anchor("pck", metric, params, scores, targets, rng))
    return drafts


# ---------------------------------------------------------------------------------------
# Expected outputs
# ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A float, or nested lists of floats, ready for JSON."""
    value = np.asarray(value, dtype=np.float64)
    return float(value) if value.ndim == 0 else value.tolist()


def _standardised_cases(seed: int) -> list[Draft]:
    """Standardised scores ``s / sd(s)``: large raw scores at tau 3, so a port that compares
    raw scores saturates every comparison and fails everywhere."""
    rng = np.random.default_rng(seed)
    ap, top1, pck = AveragePrecision(), Accuracy(), PCK(threshold=0.5)
    drafts = []
    scores, labels = _scores(rng, (10,), scale=40.0), _labels(10, 3, rng)
    drafts.append(
        draft(
            "ap/standardised",
            "10 samples, 3 positives, scores of size about 40, standardised, tau = 3.",
            ap,
            _AP,
            scores,
            labels,
            _sampled(ap, scores, labels, rng),
            temperature=3.0,
            standardise=True,
        )
    )
    scores, targets = _scores(rng, (6, 4), scale=25.0), rng.integers(4, size=6)
    drafts.append(
        draft(
            "accuracy/standardised",
            "6 samples, 4 classes, scores of size about 25, standardised over all 24 entries, "
            "tau = 1 and p = 2.",
            top1,
            {"top_k": 1},
            scores,
            targets,
            _sampled(top1, scores, targets, rng),
            power=2.0,
            standardise=True,
        )
    )
    targets = _keypoints(
        [[[1.3, 2.1], [3.4, 0.8]], [[2.2, 1.7], [0.6, 3.1]]],
        [[True, True], [True, False]],
        [2.4, 2.0],
        (5, 5),
    )
    scores = _scores(rng, (2, 2, 5, 5), scale=30.0)
    drafts.append(
        draft(
            "pck/standardised",
            "2 samples, 2 joints (one invisible) on 5x5 heatmaps, scores of size about 30, "
            "standardised over every pixel of every map, tau = 3.",
            pck,
            {"threshold": 0.5},
            scores,
            targets,
            _sampled(pck, scores, targets, rng),
            temperature=3.0,
            standardise=True,
        )
    )
    return drafts


def _threshold_cases(seed: int) -> list[Draft]:
    """F-score, precision and recall at a threshold: each sample compared with ``t``."""
    rng = np.random.default_rng(seed)
    drafts = []

    def add(name, text, metric, scores, labels, anchors=None, **kwargs):
        params = {"threshold": metric.threshold}
        if isinstance(metric, FScore):
            params = {"beta": metric.beta, **params}
        if anchors is None:
            anchors = _sampled(metric, scores, labels, rng)
        if (scores == metric.threshold).any() != ("ties" in name):
            raise RuntimeError(f"{name}: only the ties case may have a score equal to t")
        drafts.append(draft(name, text, metric, params, scores, labels, anchors, **kwargs))

    f1 = FScore(threshold=0.25)
    scores, labels = _scores(rng, (10,)), _labels(10, 4, rng)
    add("f1/ordinary", "10 samples, 4 positives, t = 0.25: l = 10.", f1, scores, labels)
    add(
        "f1/every-configuration",
        "2 positives, 2 negatives; the anchors are all 16 configurations (every one is "
        "realisable: each sample on its own side of t), among them TP + FP + FN = 0 (F = 1) "
        "and TP = 0 (F = 0).",
        f1,
        _scores(rng, (4,)),
        np.array([1, 0, 0, 1]),
        every_configuration(4),
    )
    scores, labels = np.array([0.25, 0.25, 0.5, -0.5, 0.75, 0.0]), np.array([1, 0, 1, 0, 0, 1])
    add(
        "f1/ties",
        "A positive and a negative exactly at t: c = 0 is -1 for both (a false negative and "
        "a false positive), b~ = 0.",
        f1,
        scores,
        labels,
    )
    scores = _scores(rng, (6,))
    add(
        "f1/no-positives",
        "No positive: F is 1 at a configuration with no false positive, 0 otherwise.",
        f1,
        scores,
        np.zeros(6, dtype=int),
    )
    scores = np.array([3e6, -1e6, 2e6, -4e6, -2e6, 1e6])
    add(
        "f1/extreme-on-anchor",
        "Scores of order 1e6: b~ = sign(c) exactly, the current anchor.",
        f1,
        scores,
        np.array([1, 0, 0, 1, 1, 0]),
    )
    scores = np.array([23.75, -150.0, 300.0, -400.0, 200.0, 125.0])
    add(
        "f1/very-near-anchor",
        "Every |c| >= 100 but one c = 23.5 (t = 0.25): b~ is 1.2e-10 from the current anchor.",
        f1,
        scores,
        np.array([1, 0, 1, 0, 0, 1]),
    )
    scores, labels = np.round(20.0 + _scores(rng, (10,), scale=30.0), 3), _labels(10, 4, rng)
    add(
        "f1/standardised",
        "Scores of size about 30 around 20, threshold t = 20, standardised, tau = 3: the "
        "comparisons are (s - t) / sd(s). A port that compares s / sd(s) with t itself, or "
        "subtracts the mean, fails.",
        FScore(threshold=20.0),
        scores,
        labels,
        temperature=3.0,
        standardise=True,
    )
    scores, labels = _scores(rng, (9,)), _labels(9, 3, rng)
    add(
        "f2/temperature-and-power",
        "F_2 (recall weighs 4 times as much), t = -0.5, tau = 0.5, p = 2.",
        FScore(beta=2.0, threshold=-0.5),
        scores,
        labels,
        temperature=0.5,
        power=2.0,
    )
    scores, labels = _scores(rng, (8,)), _labels(8, 3, rng)
    add("precision/ordinary", "Precision at t = 0.1, 8 samples.", Precision(0.1), scores, labels)
    scores = -1.0 - np.abs(_scores(rng, (5,)))
    add(
        "precision/nothing-predicted",
        "Every score below t: nothing is predicted positive, precision 1 (TP + FP = 0).",
        Precision(0.0),
        scores,
        np.array([1, 0, 0, 1, 0]),
    )
    scores, labels = _scores(rng, (8,)), _labels(8, 5, rng)
    add(
        "recall/ordinary",
        "Recall at t = -0.2: only the 5 positives are compared (l = 5).",
        Recall(-0.2),
        scores,
        labels,
    )
    add(
        "recall/no-positives",
        "No positive: l = 0 and recall 1.",
        Recall(0.0),
        _scores(rng, (4,)),
        np.zeros(4, dtype=int),
    )
    add(
        "f1/ties-standardised",
        "Standardised, with a positive and a negative exactly at t = 1.5: t / sd(s) must be "
        "computed as the scores are (divided by max|s|, then by the spread), so that the ties "
        "stay exact (c = 0, hard -1); t / (max|s| spread) is an ulp off and breaks them.",
        FScore(threshold=1.5),
        np.array([1.5, 1.5, 3.25, -0.75, 2.0, 0.5, -2.5]),
        np.array([1, 0, 1, 0, 0, 1, 0]),
        temperature=2.0,
        standardise=True,
    )
    return drafts


def significant(values: np.ndarray, digits: int = 4) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (short in the file at any scale)."""
    rounded = [float(f"{v:.{digits - 1}e}") for v in np.ravel(values)]
    return np.array(rounded, dtype=float).reshape(np.shape(values))


def _standardisation_guard_cases(seed: int) -> list[Draft]:
    """Standardised batches at the edges of ``s / sd(s)``: ``sd = 0``, ``max|s| = 0``, an
    ``sd`` below the smallest normal float, scores whose squares overflow or underflow, and
    scores that are all negative."""
    rng = np.random.default_rng(seed)
    ap, voc, auc, top1 = (
        AveragePrecision(),
        AveragePrecision(interpolated=True),
        RocAuc(),
        Accuracy(),
    )
    drafts = []

    def add(name, text, metric, params, scores, targets, **settings):
        anchors = _sampled(metric, scores, targets, rng)
        drafts.append(
            draft(
                name, text, metric, params, scores, targets, anchors, standardise=True, **settings
            )
        )

    labels = np.array([1, 0, 0, 1, 0, 1, 0])
    add(
        "roc-auc/standardised-equal",
        "Every score 0.625: sd = 0, so the batch stays as it is (no 0 / 0); every c = 0.",
        auc,
        {},
        np.full(7, 0.625),
        labels,
    )
    add(
        "accuracy/standardised-zeros",
        "Every score 0: max|s| = 0 and sd = 0, so the batch stays as it is; every c = 0.",
        top1,
        {"top_k": 1},
        np.zeros((4, 3)),
        np.array([0, 2, 1, 2]),
    )
    # One score of 6e-308 among 24 zeros: sd = 1.2e-308 is below the smallest normal float
    # (2.2e-308), where 1 / sd overflows, so the batch stays as it is. Every c and b~ is a
    # normal float or 0, so a platform that flushes subnormals to zero computes the same.
    scores = np.zeros(24)
    scores[5] = 6e-308
    labels = np.zeros(24, dtype=int)
    labels[[1, 5, 17]] = 1
    add(
        "roc-auc/standardised-subnormal-sd",
        "One score 6e-308, 23 zeros: sd = 1.2e-308 is below 2.2e-308 (subnormal), so the "
        "batch stays as it is; a guard on sd > 0 alone standardises it. tau = 0.5.",
        auc,
        {},
        scores,
        labels,
        temperature=0.5,
    )
    scores, labels = significant(1e200 * rng.normal(size=9)), _labels(9, 4, rng)
    add(
        "ap/standardised-huge",
        "Scores of order 1e200, standardised: their squares overflow unless divided by "
        "max|s| first.",
        ap,
        _AP,
        scores,
        labels,
    )
    scores, labels = significant(1e-200 * rng.normal(size=9)), _labels(9, 3, rng)
    add(
        "ap-voc/standardised-tiny",
        "Scores of order 1e-200, standardised: their squares underflow to 0 unless divided by "
        "max|s| first.",
        voc,
        {**_AP, "interpolated": True},
        scores,
        labels,
        temperature=0.5,
    )
    scores = -3.0 - np.abs(_scores(rng, (5, 4)))
    add(
        "accuracy/standardised-negative",
        "Every score negative, standardised: dividing by max(s) instead of max|s| flips the "
        "sign of every comparison.",
        top1,
        {"top_k": 1},
        scores,
        rng.integers(4, size=5),
        power=2.0,
    )
    return drafts


def _at_k_cases(seed: int) -> list[Draft]:
    """Precision and recall at k: the pairs of AP, valued by the positives in the top k."""
    rng = np.random.default_rng(seed)
    drafts = _binary_ranking_cases("precision-at-3", PrecisionAtK, {"k": 3}, seed)
    recall = [d for d in _binary_ranking_cases("recall-at-3", RecallAtK, {"k": 3}, seed + 1)
              if d["name"].split("/")[1] in ("ordinary", "every-configuration", "ties",
                                             "no-positives", "one-class")]  # fmt: skip
    scores, labels = _scores(rng, (5,)), np.array([1, 0, 0, 1, 0])
    metric = PrecisionAtK(8)
    beyond = draft(
        "precision-at-8/k-beyond-batch",
        "k = 8 > n = 5: the top k is the whole batch, P@k = P / n = 0.4 at every configuration.",
        metric,
        {"k": 8},
        scores,
        labels,
        _sampled(metric, scores, labels, rng),
    )
    return [*drafts, *recall, beyond]


def _parameter_cases(seed: int) -> list[Draft]:
    """A large power next to an anchor, PCK at another threshold, a PCK batch with counted
    joints but no comparisons, and VOC AP with cycles valued by their counts."""
    rng = np.random.default_rng(seed)
    drafts = []
    ap, top1 = AveragePrecision(), Accuracy()
    labels = np.array([1, 1, 0, 0, 1, 0, 1])
    centres = np.array([16.0, 16.0, 0.0, 0.0, -16.0, 0.0, -16.0])
    scores = centres + np.round(rng.uniform(-0.5, 0.5, size=7), 3)
    drafts.append(
        draft(
            "ap/large-power",
            "The near-anchor batch (b~ within 1e-6 of the current anchor) at p = 64: "
            "d_k^-p overflows, weights relative to the nearest anchor do not.",
            ap,
            _AP,
            scores,
            labels,
            _sampled(ap, scores, labels, rng),
            power=64.0,
        )
    )
    scores = np.array([[0.0, -23.5, -200.0, 150.0], [400.0, -100.0, 0.0, -300.0]])
    targets = np.array([0, 2])
    drafts.append(
        draft(
            "accuracy/large-power",
            "The very-near-anchor batch (the current anchor at d = 1.2e-10) at p = 40: "
            "d_k^-p is 1e397.",
            top1,
            {"top_k": 1},
            scores,
            targets,
            _sampled(top1, scores, targets, rng),
            power=40.0,
        )
    )
    pck = PCK(threshold=0.75)
    targets = _keypoints(
        [[[1.3, 2.1], [3.4, 0.8]], [[2.2, 1.7], [0.6, 2.9]]],
        [[True, True], [True, True]],
        [2.0, 1.6],
        (4, 5),
    )
    scores = _scores(rng, (2, 2, 4, 5))
    drafts.append(
        draft(
            "pck/threshold",
            "PCK at threshold 0.75 (radii 1.5 and 1.2 px): 2 samples, 2 joints on 4x5 maps.",
            pck,
            {"threshold": 0.75},
            scores,
            targets,
            _sampled(pck, scores, targets, rng),
        )
    )
    pck = PCK(threshold=0.5)
    # Sample 0 (radius 0.3): two joints between pixel centres, with no positive pixel.
    # Sample 1 (radius 10): one joint with no negative pixel, one invisible.
    targets = _keypoints(
        [[[1.5, 1.5], [0.5, 2.5]], [[1.0, 2.0], [2.0, 1.0]]],
        [[True, True], [True, False]],
        [0.6, 20.0],
        (4, 3),
    )
    scores = _scores(rng, (2, 2, 4, 3))
    drafts.append(
        draft(
            "pck/no-comparisons",
            "No comparisons (l = 0), but three counted joints: two with no positive pixel "
            "(never correct) and one with no negative pixel (always correct): PCK 1/3, not 1.",
            pck,
            {"threshold": 0.5},
            scores,
            targets,
            _sampled(pck, scores, targets, rng),
        )
    )
    params = {"interpolated": True, "unrealisable": "counts"}
    drafts.append(
        _every_configuration_case(
            "ap-voc-counts",
            AveragePrecision(**params),
            params,
            rng,
            " VOC AP with a cycle valued by the AP formula applied to its rows' counts.",
        )
    )
    return drafts


def build_cases() -> list[dict[str, Any]]:
    """Every conformance case with its expected outputs, computed by this package.

    Returns
    -------
    list of dict
        JSON-ready cases in a fixed order; the same on every call (fixed seeds).
    """
    voc, counts = {**_AP, "interpolated": True}, {**_AP, "unrealisable": "counts"}
    drafts = [
        *_binary_ranking_cases("ap", AveragePrecision, _AP, seed=1),
        *_binary_ranking_more_cases("ap", AveragePrecision, _AP, seed=11),
        *_binary_ranking_cases("ap-voc", AveragePrecision, voc, seed=2),
        *_binary_ranking_more_cases("ap-voc", AveragePrecision, voc, seed=12),
        _every_configuration_case(
            "ap-counts",
            AveragePrecision(unrealisable="counts"),
            counts,
            np.random.default_rng(6),
            " Here a cycle is not 0: the AP formula is applied to its rows' counts.",
        ),
        *_binary_ranking_more_cases("ap-counts", AveragePrecision, counts, seed=16, tau_p=True),
        *_binary_ranking_cases("roc-auc", RocAuc, {}, seed=3),
        *_binary_ranking_more_cases("roc-auc", RocAuc, {}, seed=13),
        *_accuracy_cases(seed=4),
        *_accuracy_more_cases(seed=14),
        *_pck_cases(seed=5),
        *_pck_more_cases(seed=15),
        *_standardised_cases(seed=17),
        *_standardisation_guard_cases(seed=18),
        *_parameter_cases(seed=19),
        *_threshold_cases(seed=18),
        *_at_k_cases(seed=19),
    ]
    return [with_expected(d) for d in drafts]


def with_expected(case: Draft) -> dict[str, Any]:
    """A drafted case with the reference's ``expected`` outputs, ready for JSON."""
    expected = reference_port(case_inputs(case))
    return {**case, "expected": {key: _plain(v) for key, v in expected.items()}}
