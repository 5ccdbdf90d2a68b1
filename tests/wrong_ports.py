"""A catalogue of wrong ports: plausible mistakes that the conformance vectors must reject.

:class:`Port` is a complete port in NumPy + autograd written from ``docs/porting.md`` and the
vectors' ``"metrics"`` entries alone, one method per decision a porter makes. Each wrong
port is a subclass that makes one of those decisions the wrong way, and names the quantity
the checker must blame: the first one, in the pipeline order of
:data:`uniloss_ref.conformance.QUANTITIES`, that the mistake shows in. :data:`RIGHT` holds
ports that are right but written differently (``2 sigmoid - 1``, other summation orders,
the direct distance formula): they must pass.

``tests/test_wrong_ports.py`` runs them all; any of them also runs from the command line,
e.g. ``python -m uniloss_ref conformance verify tests.wrong_ports:authors_gradient``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive
from autograd.scipy.special import expit
from autograd.tracer import getval

from uniloss_ref.experiments.authors_gradient import interpolate_with_authors_gradient

# ---------------------------------------------------------------------------------------
# A right port
# ---------------------------------------------------------------------------------------


@primitive
def tanh_half(c: Any, temperature: float) -> Any:
    """``tanh(c / (2 tau))``, differentiated through its output (no overflow in cosh)."""
    return np.tanh(c / (2.0 * temperature))


defvjp(tanh_half, lambda ans, c, t: lambda g: g * (1.0 - ans**2) / (2.0 * t))


class Port:
    """A right port. Subclasses change one method each; ``blame`` is where it shows."""

    blame: ClassVar[str | None] = None
    dtype: ClassVar[type] = np.float64

    def __call__(self, case: dict) -> dict:
        scores = np.asarray(case["scores"], dtype=self.dtype)
        anchors = np.asarray(case["anchors"], dtype=self.dtype)
        tau, p = self.settings(case)
        build = {
            "AveragePrecision": self.average_precision,
            "RocAuc": self.roc_auc,
            "Accuracy": self.accuracy,
            "PCK": self.pck,
            "FScore": self.f_score,
            "Precision": self.precision_at_threshold,
            "Recall": self.recall_at_threshold,
            "PrecisionAtK": self.precision_at_k,
            "RecallAtK": self.recall_at_k,
        }[case["metric"]]
        i, j, h, *t = build(scores.shape, case["targets"], **case["params"])
        t = np.asarray(t[0] if t else [], dtype=self.dtype)  # constants: index n + k is t_k
        values = np.asarray(self.anchor_values(h, anchors), dtype=self.dtype)

        def loss_of_comparisons(c: Any) -> Any:
            return self.loss(self.interpolate(self.relax(c, tau), anchors, values, p))

        def scaled(s: Any) -> tuple[Any, Any]:
            if not case["standardise"]:
                return s, t
            return self.standardise(s), self.standardise_constants(t, s)

        def loss_of_scores(s: Any) -> Any:
            return loss_of_comparisons(self.comparisons(*scaled(s), i, j))

        c = self.comparisons(*scaled(scores), i, j)
        hard = self.hard(c)
        b = self.relax(c, tau)
        h_tilde = self.interpolate(b, anchors, values, p)
        return {
            "comparisons": c,
            "hard": hard,
            "relaxed": b,
            "distances": self.distances(b, anchors),
            "anchor_values": values,
            "batch_metric": self.batch_metric(h, hard, case),
            "surrogate": h_tilde,
            "loss": self.loss(h_tilde),
            "gradient": self.gradient(loss_of_scores, loss_of_comparisons, scores, c),
        }

    def settings(self, case: dict) -> tuple[float, float]:
        """The temperature ``tau`` and the power ``p``."""
        return case["temperature"], case["power"]

    # --- pairs and h, one method per metric -----------------------------------------------

    def ranking_pairs(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
        pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
        return np.repeat(pos, neg.size), np.tile(neg, pos.size), pos.size, neg.size

    def no_pairs_value(self, k: int) -> np.ndarray:
        return np.ones(k)

    def negatives_above(self, b: np.ndarray, p: int, n: int) -> np.ndarray:
        return (b <= 0).reshape(len(b), p, n)

    def precision(self, counts: np.ndarray, interpolated: bool) -> np.ndarray:
        rank = np.arange(1, counts.shape[1] + 1)
        precision = rank / (rank + np.sort(counts, axis=1))
        if interpolated:
            precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        return precision

    def mean(self, x: np.ndarray) -> np.ndarray:
        return x.mean(axis=1)

    def nested(self, above: np.ndarray, counts: np.ndarray) -> np.ndarray:
        order = np.argsort(counts, axis=1, kind="stable")
        chain = np.take_along_axis(above, order[:, :, None], axis=1)
        return (chain[:, :-1] <= chain[:, 1:]).all(axis=(1, 2))

    def unrealisable_is_zero(self, unrealisable: str) -> bool:
        return unrealisable == "zero"

    def average_precision(self, shape, labels, *, interpolated, unrealisable):
        i, j, positives, negatives = self.ranking_pairs(labels)

        def h(b):
            if positives == 0 or negatives == 0:
                return self.no_pairs_value(len(b))
            above = self.negatives_above(b, positives, negatives)
            counts = above.sum(axis=2)
            ap = self.mean(self.precision(counts, interpolated))
            if self.unrealisable_is_zero(unrealisable):
                ap = np.where(self.nested(above, counts), ap, 0.0)
            return ap

        return i, j, h

    def roc_auc(self, shape, labels):
        i, j, _, _ = self.ranking_pairs(labels)

        def h(b):
            return self.mean((b > 0) * 1.0) if b.shape[1] else self.no_pairs_value(len(b))

        return i, j, h

    def accuracy_pairs(self, n: int, classes: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = np.arange(n * classes).reshape(n, classes)
        others = np.arange(classes)[None, :] != t[:, None]
        return np.repeat(flat[np.arange(n), t], classes - 1), flat[others]

    def right_at_top_k(self, lost: np.ndarray, top_k: int) -> np.ndarray:
        return lost < top_k

    def accuracy(self, shape, targets, *, top_k):
        n, classes = shape
        i, j = self.accuracy_pairs(n, classes, np.asarray(targets))
        others = len(i) // n if n else 0

        def h(b):
            if b.shape[1] == 0:
                return self.no_pairs_value(len(b))
            lost = (b <= 0).reshape(len(b), n, others).sum(axis=2)
            return self.mean(self.right_at_top_k(lost, top_k) * 1.0)

        return i, j, h

    def pixel_centres(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of pixel ``k = y * W + x``."""
        y, x = np.divmod(np.arange(height * width), width)
        return x, y

    def keypoints(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return xy[..., 0], xy[..., 1]

    def inside(self, x, y, height: int, width: int) -> np.ndarray:
        return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)

    def counted(self, visible, inside) -> np.ndarray:
        return visible & inside

    def radius(self, threshold: float, scale: np.ndarray) -> np.ndarray:
        return threshold * scale[:, None, None]

    def within(self, d2: np.ndarray, radius: np.ndarray) -> np.ndarray:
        return d2 <= radius**2

    def joint_order(self, counted: np.ndarray) -> list[tuple[int, int]]:
        return [tuple(rj) for rj in np.argwhere(counted)]  # sample-major, then joint

    def joint_correct(self, block: np.ndarray) -> np.ndarray:
        """``(K, P, N)`` -> ``(K,)``: some positive pixel beats every negative one."""
        return (block > 0).all(axis=2).any(axis=1)

    def pck_value(self, right, counted, npos, pixels) -> np.ndarray:
        """PCK ``(K,)`` from ``right (K, n, J)``, set for the joints with pairs."""
        if not counted.any():
            return self.no_pairs_value(len(right))
        right = right | (npos == pixels)  # no negative pixel: always correct
        return right[:, counted].mean(axis=1)

    def pck(self, shape, targets, *, threshold):
        n, joints, height, width = shape
        px, py = self.pixel_centres(height, width)
        x, y = self.keypoints(np.asarray(targets["xy"]))
        counted = self.counted(targets["visible"], self.inside(x, y, height, width))
        d2 = (px - x[..., None]) ** 2 + (py - y[..., None]) ** 2
        positive = self.within(d2, self.radius(threshold, np.asarray(targets["scale"])))
        i, j, blocks = [], [], []
        for r, joint in self.joint_order(counted):
            pos = np.flatnonzero(positive[r, joint])
            neg = np.flatnonzero(~positive[r, joint])
            if pos.size and neg.size:
                offset = (r * joints + joint) * height * width
                i.append(offset + np.repeat(pos, neg.size))
                j.append(offset + np.tile(neg, pos.size))
                blocks.append((r, joint, pos.size, neg.size))
        npos = positive.sum(axis=-1)

        def h(b):
            right = np.zeros((len(b), n, joints), dtype=bool)
            start = 0
            for r, joint, p, q in blocks:
                block = b[:, start : start + p * q].reshape(len(b), p, q)
                right[:, r, joint] = self.joint_correct(block)
                start += p * q
            return self.pck_value(right, counted, npos, height * width)

        empty = np.zeros(0, dtype=np.intp)
        return (np.concatenate(i) if i else empty), (np.concatenate(j) if j else empty), h

    def threshold_pairs(self, labels, negatives=True):
        """Each sample (positives only for recall) against ``t`` (index n), in order."""
        labels = np.asarray(labels)
        samples = np.flatnonzero((labels == 1) | negatives)
        positive, n = labels[samples] == 1, labels.size
        return np.where(positive, samples, n), np.where(positive, n, samples), positive

    def confusion(self, b, positive):
        """``(TP, FP, FN)``: a lost positive is missed, a lost negative a false positive."""
        lost = b <= 0
        fn, fp = lost[:, positive].sum(axis=1), lost[:, ~positive].sum(axis=1)
        return positive.sum() - fn, fp, fn

    def ratio(self, numerator, denominator):
        """``0 / 0 = 1``: nothing to find, nothing found wrongly."""
        some = denominator > 0
        return np.where(some, numerator / np.where(some, denominator, 1), 1.0)

    def f_value(self, tp, fp, fn, beta):
        weight = 1.0 + beta**2
        return self.ratio(weight * tp, weight * tp + beta**2 * fn + fp)

    def f_score(self, shape, labels, *, beta, threshold):
        i, j, positive = self.threshold_pairs(labels)
        return i, j, lambda b: self.f_value(*self.confusion(b, positive), beta), [threshold]

    def precision_at_threshold(self, shape, labels, *, threshold):
        i, j, positive = self.threshold_pairs(labels)

        def h(b):
            tp, fp, _ = self.confusion(b, positive)
            return self.ratio(tp, tp + fp)

        return i, j, h, [threshold]

    def recall_negatives(self) -> bool:
        return False

    def recall_at_threshold(self, shape, labels, *, threshold):
        i, j, positive = self.threshold_pairs(labels, self.recall_negatives())

        def h(b):
            tp, _, fn = self.confusion(b, positive)
            return self.ratio(tp, tp + fn)

        return i, j, h, [threshold]

    def hits(self, b, positives, negatives, k):
        """Positives in the top k: the j-th positive sits at place ``j + n_(j)``."""
        above = self.negatives_above(b, positives, negatives).sum(axis=2)
        return (np.arange(1, positives + 1) + np.sort(above, axis=1) <= k).sum(axis=1)

    def top(self, k, n):
        return min(k, n)

    def precision_at_k(self, shape, labels, *, k):
        i, j, positives, negatives = self.ranking_pairs(np.asarray(labels))
        n = positives + negatives
        return i, j, lambda b: self.hits(b, positives, negatives, k) / self.top(k, n)

    def recall_at_k(self, shape, labels, *, k):
        i, j, positives, negatives = self.ranking_pairs(np.asarray(labels))

        def h(b):
            if positives == 0:
                return self.no_pairs_value(len(b))
            return self.hits(b, positives, negatives, k) / positives

        return i, j, h

    # --- the surrogate ------------------------------------------------------------------

    def standardise(self, s: Any) -> Any:
        """``s / sd(s)``, population sd over every entry; a batch whose sd is 0 or below the
        smallest normal float stays as it is."""
        scale = self.scale(s)
        return s if scale is None else s / scale[0] / scale[1]

    def scale(self, s: Any) -> tuple[float, Any] | None:
        """``(top, spread)`` with ``sd = top spread``, the spread that of ``s / top``; None
        where the batch stays as it is."""
        top = self.prescale(getval(s))
        if top == 0:
            return None
        sd = self.spread(s / top)
        return (top, sd) if self.keeps(getval(sd) * abs(top)) else None

    def prescale(self, s: np.ndarray) -> float:
        """The constant the scores are divided by first, so that no square overflows."""
        return float(np.max(np.abs(s)))

    def keeps(self, sd: float) -> bool:
        """Whether a batch of standard deviation ``sd`` is standardised."""
        return sd >= np.finfo(float).tiny

    def spread(self, unit: Any) -> Any:
        return anp.sqrt(anp.mean((unit - anp.mean(unit)) ** 2))

    def standardise_constants(self, t: Any, s: Any) -> Any:
        """``t / sd(s)``: a threshold compared with standardised scores keeps its units; as
        it is where the scores are."""
        scale = self.scale(s)
        return t if scale is None else self.divide_constants(t, *scale)

    def divide_constants(self, t: Any, top: float, sd: Any) -> Any:
        """As the scores are divided: by ``max|s|``, then by the spread."""
        return t / top / sd

    def comparisons(self, s: Any, t: Any, i: np.ndarray, j: np.ndarray) -> Any:
        """``z[i] - z[j]`` over ``z = (s, t)``: the scores, then the constants."""
        flat = anp.concatenate([anp.reshape(s, -1), t])
        return flat[i] - flat[j]

    def hard(self, c: np.ndarray) -> np.ndarray:
        return np.where(c > 0, 1.0, -1.0)

    def relax(self, c: Any, tau: float) -> Any:
        return tanh_half(c, tau)

    def squared_distances(self, b: Any, anchors: np.ndarray) -> Any:
        plus = (anchors > 0) * 1.0
        return anp.dot(plus, (1.0 - b) ** 2) + anp.dot(1.0 - plus, (1.0 + b) ** 2)

    def distances(self, b: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        return np.sqrt(self.squared_distances(b, anchors))

    def hit(self, d2: np.ndarray) -> int | None:
        on = np.flatnonzero(d2 == 0)
        return int(on[0]) if on.size else None

    def weights(self, d2: Any, power: float) -> Any:
        log_w = -0.5 * power * anp.log(d2)
        return anp.exp(log_w - np.max(getval(log_w)))  # the shift cancels: held constant

    def normalise(self, w: Any, values: np.ndarray) -> Any:
        return anp.dot(w, values) / anp.sum(w)

    def interpolate(self, b: Any, anchors: np.ndarray, values: np.ndarray, power: float) -> Any:
        d2 = self.squared_distances(b, anchors)
        k = self.hit(getval(d2))
        if k is not None:
            return values[k] + 0.0 * anp.sum(b)
        return self.normalise(self.weights(d2, power), values)

    def anchor_values(self, h, anchors: np.ndarray) -> np.ndarray:
        return h(anchors)

    def batch_metric(self, h, hard: np.ndarray, case: dict) -> float:
        return float(h(hard[None, :])[0])

    def loss(self, h_tilde: Any) -> Any:
        return 1.0 - h_tilde

    def gradient(self, loss_of_scores, loss_of_comparisons, scores, c) -> np.ndarray:
        return autograd.grad(loss_of_scores)(scores)


# ---------------------------------------------------------------------------------------
# Right ports written differently: they must pass
# ---------------------------------------------------------------------------------------


class SigmoidRelaxation(Port):
    """``b~ = 2 sigmoid(c / tau) - 1`` with a stable sigmoid instead of ``tanh``."""

    def relax(self, c, tau):
        return 2.0 * expit(c / tau) - 1.0


class OtherSummationOrders(Port):
    """Every sum in another order: distances per anchor from the last comparison back,
    means from the last element, the weighted mean normalised before the dot product."""

    def squared_distances(self, b, anchors):
        terms = anp.where(anchors > 0, (1.0 - b) ** 2, (1.0 + b) ** 2)
        return anp.sum(terms[:, ::-1], axis=1)

    def mean(self, x):
        return x[:, ::-1].sum(axis=1) / x.shape[1]

    def normalise(self, w, values):
        return anp.sum((w / anp.sum(w)) * values)


class DirectDistances(Port):
    """``d_k^2 = sum (b~ - a_k)^2`` as written: also free of cancellation."""

    def squared_distances(self, b, anchors):
        return anp.sum((b[None, :] - anchors) ** 2, axis=1)


class ShiftDifferentiated(Port):
    """The log-domain shift left in the graph: it cancels, so the gradient is the same."""

    def weights(self, d2, power):
        log_w = -0.5 * power * anp.log(d2)
        return anp.exp(log_w - anp.max(log_w))


class CentredOnBothSides(Port):
    """z-scores ``(s - mean) / sd`` compared with ``(t - mean) / sd``: the mean cancels in
    every comparison, of two scores or of a score and the threshold."""

    def standardise(self, s):
        scale = self.scale(s)
        return s if scale is None else (s / scale[0] - anp.mean(s / scale[0])) / scale[1]

    def standardise_constants(self, t, s):
        scale = self.scale(s)
        return t if scale is None else (t / scale[0] - anp.mean(s / scale[0])) / scale[1]


RIGHT: list[type[Port]] = [
    Port,
    SigmoidRelaxation,
    OtherSummationOrders,
    DirectDistances,
    ShiftDifferentiated,
    CentredOnBothSides,
]


# ---------------------------------------------------------------------------------------
# Wrong ports
# ---------------------------------------------------------------------------------------

CATALOGUE: list[type[Port]] = []


def wrong(blame: str):
    """Register a wrong port and the quantity the checker must blame first."""

    def register(cls: type[Port]) -> type[Port]:
        cls.blame = blame
        CATALOGUE.append(cls)
        return cls

    return register


class _Quiet(Port):
    """Runs with floating-point warnings off: the mistake, not a warning, must fail it."""

    def __call__(self, case):
        with np.errstate(all="ignore"):
            return super().__call__(case)


# --- pairs: which comparisons, in which order -----------------------------------------------


@wrong("comparisons")
class PairsNegativeMajor(Port):
    """AP / ROC AUC pairs negative-major: for each negative, every positive."""

    def ranking_pairs(self, labels):
        pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
        return np.tile(pos, neg.size), np.repeat(neg, pos.size), pos.size, neg.size


@wrong("comparisons")
class PairsReversed(Port):
    """Every comparison the wrong way round: ``s[j] - s[i]``."""

    def comparisons(self, s, t, i, j):
        return super().comparisons(s, t, j, i)


@wrong("comparisons")
class CentredScores(Port):
    """The scores centred before they are compared, ``(s_i - m) - (s_j - m)``: equal in exact
    arithmetic, a few ulps off in floating point, where raw comparisons must be exact."""

    def comparisons(self, s, i, j):
        flat = anp.reshape(s, -1)
        return super().comparisons(flat - anp.mean(flat), i, j)


@wrong("comparisons")
class LabelsSwapped(Port):
    """Label 0 taken as the positive class."""

    def ranking_pairs(self, labels):
        return super().ranking_pairs(1 - np.asarray(labels))


@wrong("comparisons")
class AccuracyClassMajor(Port):
    """Accuracy pairs class-major: the first other class of every sample, then the second."""

    def accuracy_pairs(self, n, classes, t):
        i, j = super().accuracy_pairs(n, classes, t)
        order = np.arange(len(i)).reshape(n, classes - 1).T.ravel()
        return i[order], j[order]


@wrong("comparisons")
class AccuracyTargetAgainstItself(Port):
    """The target compared with every class, itself included (``l = n C``)."""

    def accuracy_pairs(self, n, classes, t):
        flat = np.arange(n * classes).reshape(n, classes)
        return np.repeat(flat[np.arange(n), t], classes), flat.ravel()


@wrong("comparisons")
class AccuracyClassesDescending(Port):
    """The other classes of a sample in decreasing index order."""

    def accuracy_pairs(self, n, classes, t):
        i, j = super().accuracy_pairs(n, classes, t)
        return i, j.reshape(n, classes - 1)[:, ::-1].ravel()


@wrong("comparisons")
class PckJointMajor(Port):
    """PCK blocks joint-major (joint 0 of every sample, then joint 1, ...)."""

    def joint_order(self, counted):
        return [(r, joint) for joint, r in np.argwhere(counted.T)]


@wrong("comparisons")
class PckPixelsFromHeight(Port):
    """Pixel coordinates split with the height: ``y, x = divmod(k, H)``."""

    def pixel_centres(self, height, width):
        y, x = np.divmod(np.arange(height * width), height)
        return x, y


@wrong("comparisons")
class PckBoundsSwapped(Port):
    """The inside test bounds x by the height and y by the width."""

    def inside(self, x, y, height, width):
        return super().inside(x, y, width, height)


@wrong("comparisons")
class PckKeypointsAsYX(Port):
    """Keypoints read as ``(y, x)``."""

    def keypoints(self, xy):
        return xy[..., 1], xy[..., 0]


@wrong("comparisons")
class PckHalfPixelCentres(Port):
    """Pixel centres at ``(x + 0.5, y + 0.5)``: the corner convention."""

    def pixel_centres(self, height, width):
        x, y = super().pixel_centres(height, width)
        return x + 0.5, y + 0.5


@wrong("comparisons")
class PckStrictRadius(Port):
    """A pixel exactly on the radius taken as outside: ``d < r``."""

    def within(self, d2, radius):
        return d2 < radius**2


@wrong("comparisons")
class PckRadiusNotSquared(Port):
    """``d^2 <= r``: the square of the radius forgotten."""

    def within(self, d2, radius):
        return d2 <= radius


@wrong("comparisons")
class PckScalePerJoint(Port):
    """The per-sample scale broadcast along the joints."""

    def radius(self, threshold, scale):
        return threshold * scale[None, :, None]


@wrong("comparisons")
class PckBorderFromZero(Port):
    """The heatmap taken to cover ``[0, W) x [0, H)``."""

    def inside(self, x, y, height, width):
        return (x >= 0) & (x < width) & (y >= 0) & (y < height)


@wrong("comparisons")
class PckBorderInclusive(Port):
    """The far border counted as inside: ``x <= W - 0.5``."""

    def inside(self, x, y, height, width):
        return (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)


@wrong("comparisons")
class PckThresholdFixed(Port):
    """PCKh's threshold 0.5 whatever ``threshold`` says."""

    def radius(self, threshold, scale):
        return super().radius(0.5, scale)


@wrong("comparisons")
class PckInvisibleCounted(Port):
    """Invisible joints counted."""

    def counted(self, visible, inside):
        return inside


@wrong("comparisons")
class PckOutsideCounted(Port):
    """Joints outside the heatmap counted (one on the far border has pairs)."""

    def counted(self, visible, inside):
        return np.asarray(visible)


# --- degenerate batches ----------------------------------------------------------------------


@wrong("anchor_values")
class PckNoNegativeNotCounted(Port):
    """A joint whose radius covers the heatmap left out of the denominator."""

    def pck_value(self, right, counted, npos, pixels):
        return super().pck_value(right, counted & (npos < pixels), npos, pixels)


@wrong("anchor_values")
class PckNoNegativeIncorrect(Port):
    """A joint with no negative pixel counted as incorrect (it has no row to win)."""

    def pck_value(self, right, counted, npos, pixels):
        if not counted.any():
            return self.no_pairs_value(len(right))
        return right[:, counted].mean(axis=1)


@wrong("anchor_values")
class PckNoPositiveNotCounted(Port):
    """A joint whose radius contains no pixel centre left out of the denominator."""

    def pck_value(self, right, counted, npos, pixels):
        return super().pck_value(right, counted & (npos > 0), npos, pixels)


@wrong("anchor_values")
class PckNothingCountedIsZero(Port):
    """A batch with no counted joint scored 0."""

    def pck_value(self, right, counted, npos, pixels):
        if not counted.any():
            return np.zeros(len(right))
        return super().pck_value(right, counted, npos, pixels)


@wrong("anchor_values")
class PckNoPairsIsOne(Port):
    """A PCK batch with no comparisons valued 1, like an empty AP batch, even where a counted
    joint has no positive pixel (and so is never correct)."""

    def pck_value(self, right, counted, npos, pixels):
        if not ((npos > 0) & (npos < pixels) & counted).any():
            return self.no_pairs_value(len(right))
        return super().pck_value(right, counted, npos, pixels)


@wrong("anchor_values")
class PckMeanOfSampleMeans(Port):
    """PCK as the mean over samples of each sample's fraction of correct joints."""

    def pck_value(self, right, counted, npos, pixels):
        if not counted.any():
            return self.no_pairs_value(len(right))
        right = right | (npos == pixels)
        samples = counted.any(axis=1)
        per_sample = (right & counted).sum(axis=2)[:, samples] / counted.sum(axis=1)[samples]
        return per_sample.mean(axis=1)


@wrong("anchor_values")
class NoPairsIsZero(Port):
    """A batch without pairs (no positive, one class) scored 0 instead of 1."""

    def no_pairs_value(self, k):
        return np.zeros(k)


@wrong("anchor_values")
class RocAucNoPairsIsHalf(Port):
    """ROC AUC of a batch without pairs taken as 0.5, the chance level."""

    def roc_auc(self, shape, labels):
        i, j, h = super().roc_auc(shape, labels)
        return i, j, (lambda b: h(b) if b.shape[1] else np.full(len(b), 0.5))


# --- h: the metric at a configuration --------------------------------------------------------


@wrong("anchor_values")
class ApCountsWins(Port):
    """``n_p`` counted as the +1 entries of a row instead of the -1 ones."""

    def negatives_above(self, b, p, n):
        return (b > 0).reshape(len(b), p, n)


@wrong("anchor_values")
class ApCountsUnsorted(Port):
    """The rows' counts used in row order, not sorted."""

    def precision(self, counts, interpolated):
        rank = np.arange(1, counts.shape[1] + 1)
        return rank / (rank + counts)


@wrong("anchor_values")
class ApAlwaysInterpolated(Port):
    """The VOC interpolated AP (the authors' code) whatever ``interpolated`` says."""

    def precision(self, counts, interpolated):
        return super().precision(counts, True)


@wrong("anchor_values")
class ApCyclesNotZero(Port):
    """``unrealisable="zero"`` ignored: cycles scored by the counts."""

    def unrealisable_is_zero(self, unrealisable):
        return False


@wrong("anchor_values")
class ApCountsVariantZero(Port):
    """``unrealisable="counts"`` ignored: cycles scored 0."""

    def unrealisable_is_zero(self, unrealisable):
        return True


@wrong("anchor_values")
class ApNestedRowsUnsorted(Port):
    """Realisability tested on the rows in their own order instead of sorted by count."""

    def nested(self, above, counts):
        return (above[:, :-1] <= above[:, 1:]).all(axis=(1, 2))


@wrong("anchor_values")
class ApVocRunningMaxFromAbove(Port):
    """VOC interpolation with the running maximum taken from the top of the ranking."""

    def precision(self, counts, interpolated):
        rank = np.arange(1, counts.shape[1] + 1)
        precision = rank / (rank + np.sort(counts, axis=1))
        return np.maximum.accumulate(precision, axis=1) if interpolated else precision


@wrong("anchor_values")
class TopKInclusive(Port):
    """A sample right at top-k when at most ``k`` classes beat it (``<=`` for ``<``)."""

    def right_at_top_k(self, lost, top_k):
        return lost <= top_k


@wrong("anchor_values")
class PckEveryRow(Port):
    """A joint correct only when every positive pixel beats every negative one."""

    def joint_correct(self, block):
        return (block > 0).all(axis=(1, 2))


# --- the batch's metric and the hard binaries -----------------------------------------------


@wrong("batch_metric")
class RocAucTiesHalf(Port):
    """The batch's ROC AUC from the scores with a tie worth 1/2 (the library convention)."""

    def batch_metric(self, h, hard, case):
        if case["metric"] != "RocAuc" or hard.size == 0:
            return super().batch_metric(h, hard, case)
        i, j = self.ranking_pairs(case["targets"])[:2]
        c = self.comparisons(np.asarray(case["scores"]), np.zeros(0), i, j)
        return float(np.mean((c > 0) + 0.5 * (c == 0)))


@wrong("batch_metric")
class AccuracyByArgmax(Port):
    """The batch's top-1 accuracy as ``argmax(scores) == target``: a tie with a class of
    higher index goes to the target."""

    def batch_metric(self, h, hard, case):
        if case["metric"] != "Accuracy" or case["params"]["top_k"] != 1:
            return super().batch_metric(h, hard, case)
        return float(np.mean(np.argmax(case["scores"], axis=1) == case["targets"]))


@wrong("batch_metric")
class TopKByStableSort(Port):
    """The batch's top-k accuracy from a stable sort by score: ties broken by index."""

    def batch_metric(self, h, hard, case):
        if case["metric"] != "Accuracy":
            return super().batch_metric(h, hard, case)
        order = np.argsort(-np.asarray(case["scores"]), axis=1, kind="stable")
        top = order[:, : case["params"]["top_k"]]
        return float(np.mean((top == np.asarray(case["targets"])[:, None]).any(axis=1)))


@wrong("batch_metric")
class PckByArgmax(Port):
    """The batch's PCK from each heatmap's argmax (the first maximum in raster order)."""

    def batch_metric(self, h, hard, case):
        if case["metric"] != "PCK":
            return super().batch_metric(h, hard, case)
        targets, scores = case["targets"], np.asarray(case["scores"])
        n, joints, height, width = scores.shape
        x, y = self.keypoints(np.asarray(targets["xy"]))
        counted = self.counted(targets["visible"], self.inside(x, y, height, width))
        if not counted.any():
            return 1.0
        best_y, best_x = np.divmod(scores.reshape(n, joints, -1).argmax(axis=2), width)
        radius = case["params"]["threshold"] * np.asarray(targets["scale"])[:, None]
        right = (best_x - x) ** 2 + (best_y - y) ** 2 <= radius**2
        return float(right[counted].mean())


@wrong("hard")
class TiesAsWins(Port):
    """``sign(c)`` with a tie counted as +1 (``c >= 0``)."""

    def hard(self, c):
        return np.where(c >= 0, 1.0, -1.0)


@wrong("hard")
class SignOfZeroIsZero(Port):
    """``numpy.sign(c)``: a tie is 0."""

    def hard(self, c):
        return np.sign(c)


# --- relaxation --------------------------------------------------------------------------


@wrong("relaxed")
class TanhWithoutHalf(Port):
    """``b~ = tanh(c / tau)``: the 2 of ``2 sigmoid - 1 = tanh(x / 2)`` lost."""

    def relax(self, c, tau):
        return tanh_half(c, tau / 2.0)


@wrong("relaxed")
class TemperatureMultiplied(Port):
    """``tanh(c tau / 2)``: the temperature multiplies instead of dividing."""

    def relax(self, c, tau):
        return tanh_half(c, 1.0 / tau)


@wrong("relaxed")
class TemperatureIgnored(Port):
    """``tau`` left at the paper's 1."""

    def relax(self, c, tau):
        return tanh_half(c, 1.0)


@wrong("relaxed")
class TemperatureAndPowerSwapped(Port):
    """``tau`` and ``p`` passed in each other's place."""

    def settings(self, case):
        return case["power"], case["temperature"]


@wrong("gradient")
class NaiveSigmoid(_Quiet):
    """``2 / (1 + exp(-c / tau)) - 1``: right values, but its derivative at ``c = -2e6`` is
    ``inf / inf``."""

    def relax(self, c, tau):
        return 2.0 / (1.0 + anp.exp(-c / tau)) - 1.0


@wrong("gradient")
class DerivativeWithoutTemperature(Port):
    """A hand-written derivative ``1 - b~^2``, the factor ``1 / (2 tau)`` forgotten."""

    def relax(self, c, tau):
        return _tanh_half_wrong_derivative(c, tau)


@primitive
def _tanh_half_wrong_derivative(c, temperature):
    return np.tanh(c / (2.0 * temperature))


defvjp(_tanh_half_wrong_derivative, lambda ans, c, t: lambda g: g * (1.0 - ans**2))


# --- distances -----------------------------------------------------------------------------


@wrong("distances")
class ExpandedDistances(Port):
    """``||b~||^2 - 2 a.b~ + l``: cancels near an anchor."""

    def squared_distances(self, b, anchors):
        d2 = anp.sum(b**2) - 2.0 * anp.dot(anchors, b) + anchors.shape[1]
        return anp.maximum(d2, 0.0)


@wrong("distances")
class SquaredDistancesReturned(Port):
    """``d_k^2`` returned as the distances."""

    def distances(self, b, anchors):
        return self.squared_distances(b, anchors)


@wrong("distances")
class EpsilonInDistances(Port):
    """``d = sqrt(d^2 + 1e-12)``, an epsilon for a safe gradient of the square root."""

    def squared_distances(self, b, anchors):
        return super().squared_distances(b, anchors) + 1e-12


@wrong("distances")
class Float32Distances(Port):
    """Distances reported from ``b~`` and the anchors rounded to float32 (a port that keeps
    its intermediates in half the memory)."""

    def distances(self, b, anchors):
        d2 = self.squared_distances(b.astype(np.float32), anchors.astype(np.float32))
        return np.sqrt(d2)


# --- interpolation -------------------------------------------------------------------------


@wrong("surrogate")
class EpsilonInWeights(_Quiet):
    """``w_k = (d_k^2 + 1e-16)^(-p/2)`` instead of a branch on ``d_k = 0``."""

    def hit(self, d2):
        return None

    def weights(self, d2, power):
        return (d2 + 1e-16) ** (-0.5 * power)


@wrong("surrogate")
class HitWithTolerance(Port):
    """The exact-hit test done with a tolerance: ``d_k < 1e-9``."""

    def hit(self, d2):
        on = np.flatnonzero(np.sqrt(d2) < 1e-9)
        return int(on[0]) if on.size else None


@wrong("surrogate")
class HitWithIsClose(Port):
    """The exact-hit test as ``numpy.isclose(d_k^2, 0)`` (whose default atol is 1e-8)."""

    def hit(self, d2):
        on = np.flatnonzero(np.isclose(d2, 0.0))
        return int(on[0]) if on.size else None


@wrong("surrogate")
class NoExactHit(_Quiet):
    """No branch for ``d_k = 0``: ``0^-p`` makes ``h~`` NaN on an anchor."""

    def hit(self, d2):
        return None


@wrong("surrogate")
class HitReturnsFirstAnchor(Port):
    """On an anchor, the first anchor's value instead of that anchor's."""

    def hit(self, d2):
        return 0 if (d2 == 0).any() else None


@wrong("surrogate")
class WeightsNotNormalised(Port):
    """``sum_k w_k v_k`` without dividing by ``sum_k w_k``."""

    def normalise(self, w, values):
        return anp.dot(w, values)


@wrong("surrogate")
class PowerIgnored(Port):
    """``p`` left at the paper's 1."""

    def weights(self, d2, power):
        return super().weights(d2, 1.0)


@wrong("surrogate")
class PowerOnSquaredDistance(Port):
    """``w_k = (d_k^2)^-p``: the power applied to the squared distance."""

    def weights(self, d2, power):
        return super().weights(d2, 2.0 * power)


@wrong("surrogate")
class PowerInverted(Port):
    """``w_k = d_k^(-1/p)``."""

    def weights(self, d2, power):
        return super().weights(d2, 1.0 / power)


@wrong("surrogate")
class DirectWeights(_Quiet):
    """``w_k = d_k^-p`` as written, without the log domain: with a large power next to an
    anchor (``p = 40``, ``d = 1e-10``) it overflows, and ``inf / inf`` is NaN."""

    def weights(self, d2, power):
        return d2 ** (-0.5 * power)


@wrong("surrogate")
class LogWeightsUnshifted(_Quiet):
    """``exp(-(p/2) log d_k^2)`` without subtracting the largest log weight first: the same
    overflow."""

    def weights(self, d2, power):
        return anp.exp(-0.5 * power * anp.log(d2))


@wrong("loss")
class LossIsNegatedSurrogate(Port):
    """The loss as ``-h~`` (the same gradient, another value)."""

    def loss(self, h_tilde):
        return -h_tilde


# --- the gradient --------------------------------------------------------------------------


@wrong("gradient")
class AuthorsGradient(Port):
    """The authors' closed-form IDW gradient, whose normaliser term has the wrong sign."""

    def interpolate(self, b, anchors, values, power):
        return interpolate_with_authors_gradient(b, anchors, values, power)


@wrong("gradient")
class AscentGradient(Port):
    """The gradient of ``h~`` returned as that of the loss ``1 - h~``: a sign flip."""

    def gradient(self, loss_of_scores, loss_of_comparisons, scores, c):
        return -super().gradient(loss_of_scores, loss_of_comparisons, scores, c)


@wrong("gradient")
class SlightlyWrongGradient(Port):
    """A gradient 0.1% too large: the tolerance must not be too loose to notice."""

    def gradient(self, loss_of_scores, loss_of_comparisons, scores, c):
        return 1.001 * super().gradient(loss_of_scores, loss_of_comparisons, scores, c)


@wrong("gradient")
class GradientOfComparisons(Port):
    """The gradient with respect to the comparisons ``c``, not the scores."""

    def gradient(self, loss_of_scores, loss_of_comparisons, scores, c):
        return autograd.grad(loss_of_comparisons)(c)


# --- standardised scores ---------------------------------------------------------------------


@wrong("comparisons")
class StandardiseIgnored(Port):
    """Raw scores compared where the case asks for standardised ones."""

    def standardise(self, s):
        return s


@wrong("comparisons")
class SampleStandardDeviation(Port):
    """``sd`` with ``n - 1`` in the denominator (NumPy's ``ddof=1``, PyTorch's default)."""

    def spread(self, unit):
        n = anp.size(unit)
        return anp.sqrt(anp.sum((unit - anp.mean(unit)) ** 2) / (n - 1))


@wrong("comparisons")
class StandardisedPerRow(Port):
    """Each sample's scores standardised on their own instead of over the whole batch."""

    def standardise(self, s):
        if anp.ndim(s) == 1:
            return super().standardise(s)
        rows = anp.reshape(s, (anp.shape(s)[0], -1))
        centred = rows - anp.mean(rows, axis=1, keepdims=True)
        sd = anp.sqrt(anp.mean(centred**2, axis=1, keepdims=True))
        return anp.reshape(rows / sd, anp.shape(s))


@wrong("comparisons")
class StandardiseWithoutZeroGuard(_Quiet):
    """Every batch divided by its sd, even when it is 0: equal scores give ``1 / 0``, and
    their comparisons ``inf - inf = NaN``."""

    def keeps(self, sd):
        return True


@wrong("comparisons")
class StandardiseGuardOnZeroOnly(_Quiet):
    """The guard ``sd > 0`` instead of ``sd >= 2.2e-308``: a batch whose sd is subnormal (one
    score of 6e-308 among zeros) is standardised, where ``1 / sd`` overflows."""

    def keeps(self, sd):
        return sd > 0


@wrong("comparisons")
class StandardiseWithoutPrescale(_Quiet):
    """``sd`` of the raw scores, not of ``s / max|s|``: squares of 1e200 overflow (every
    ``z`` is 0) and squares of 1e-200 underflow (``sd = 0``, the batch left raw)."""

    def prescale(self, s):
        return 1.0


@wrong("comparisons")
class StandardisePrescaleByMax(Port):
    """The scores divided first by ``max(s)`` instead of ``max|s|``: where every score is
    negative, every comparison changes sign."""

    def prescale(self, s):
        return float(np.max(s))


@wrong("gradient")
class StandardDeviationHeldConstant(Port):
    """``sd`` treated as a constant in the gradient (detached): right values, wrong slope."""

    def spread(self, unit):
        return super().spread(getval(unit))


# --- metrics at a threshold and at k ---------------------------------------------------------


@wrong("comparisons")
class ThresholdNotStandardised(Port):
    """Standardised scores compared with the raw threshold: ``s / sd - t``."""

    def standardise_constants(self, t, s):
        return t


@wrong("hard")
class ThresholdOverSdInOneStep(Port):
    """``t / (max|s| sd)`` where the scores are ``(s / max|s|) / sd``: an ulp apart, so a
    score equal to ``t`` is no longer tied with it."""

    def divide_constants(self, t, top, sd):
        # Only where there is a threshold: the slope of 1 / (top sd) squares top, which
        # overflows for scores of 1e200.
        return t / (top * sd) if anp.size(t) else t


@wrong("comparisons")
class ScoresCentred(CentredOnBothSides):
    """The scores standardised as z-scores, ``(s - mean) / sd``, the threshold as ``t / sd``:
    a mean subtracted from one side of ``s - t`` only."""

    def standardise_constants(self, t, s):
        return Port.standardise_constants(self, t, s)


@wrong("comparisons")
class NegativesOrientedLikePositives(Port):
    """Every sample compared as ``s_m - t``: a negative's ``c > 0`` is then its error."""

    def threshold_pairs(self, labels, negatives=True):
        i, j, positive = super().threshold_pairs(labels, negatives)
        return np.minimum(i, j), np.maximum(i, j), positive


@wrong("comparisons")
class RecallComparesNegatives(Port):
    """Recall with a comparison for every sample, the negatives' unused by ``h``."""

    def recall_negatives(self):
        return True


@wrong("anchor_values")
class FScoreZeroDivisionZero(Port):
    """F = 0 when ``TP + FP + FN = 0`` (scikit-learn's default, with a warning)."""

    def f_value(self, tp, fp, fn, beta):
        return np.where(tp + fp + fn > 0, super().f_value(tp, fp, fn, beta), 0.0)


@wrong("anchor_values")
class PrecisionZeroDivisionZero(Port):
    """Precision 0 when nothing is predicted positive."""

    def precision_at_threshold(self, shape, labels, *, threshold):
        i, j, positive = self.threshold_pairs(labels)

        def h(b):
            tp, fp, _ = self.confusion(b, positive)
            return np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)

        return i, j, h, [threshold]


@wrong("anchor_values")
class FBetaOnFalsePositives(Port):
    """``beta^2`` weighting the false positives instead of the false negatives."""

    def f_value(self, tp, fp, fn, beta):
        return super().f_value(tp, fn, fp, beta)


@wrong("anchor_values")
class FBetaNotSquared(Port):
    """``beta`` where the formula has ``beta^2``."""

    def f_value(self, tp, fp, fn, beta):
        return super().f_value(tp, fp, fn, np.sqrt(beta))


@wrong("anchor_values")
class AtKOverK(Port):
    """Precision at k over ``k`` even when ``k > n``."""

    def top(self, k, n):
        return k


@wrong("anchor_values")
class AtKStrictPlace(Port):
    """A positive in the top k only at a place below ``k`` (``<`` for ``<=``)."""

    def hits(self, b, positives, negatives, k):
        return super().hits(b, positives, negatives, k - 1)


@wrong("batch_metric")
class AtKTiesToThePositive(Port):
    """The batch's precision / recall at k by a stable sort of the scores: a positive tied
    with a negative of higher index goes first."""

    def batch_metric(self, h, hard, case):
        if case["metric"] not in ("PrecisionAtK", "RecallAtK"):
            return super().batch_metric(h, hard, case)
        scores, labels = np.asarray(case["scores"]), np.asarray(case["targets"])
        k, positives = case["params"]["k"], int(labels.sum())
        found = labels[np.argsort(-scores, kind="stable")[:k]].sum()
        if case["metric"] == "PrecisionAtK":
            return float(found / min(k, labels.size))
        return float(found / positives) if positives else 1.0


# --- precision -----------------------------------------------------------------------------


@wrong("comparisons")
class Float32(Port):
    """The whole port in float32: even the scores round (0.123 is not a float32)."""

    dtype = np.float32


# ---------------------------------------------------------------------------------------
# Ports that compute nothing: they look the answers up, and pass every fixed case
# ---------------------------------------------------------------------------------------


def _expected_by(key) -> dict:
    from uniloss_ref.conformance import case_inputs, load

    return {key(case_inputs(case)): case["expected"] for case in load()["cases"]}


class LookupByName:
    """Answers each case with the packaged file's expected values for its name."""

    @staticmethod
    def key(case: dict) -> str:
        return case["name"]

    def __call__(self, case: dict) -> dict:
        if not hasattr(self, "answers"):  # read the file on the first call, not on import
            self.answers = _expected_by(self.key)
        return self.answers[self.key(case)]


def inputs_key(case: dict) -> str:
    """A digest of everything a case gives a port except its name."""
    import hashlib
    import json

    arrays = {k: np.asarray(v).tolist() for k, v in case.items() if isinstance(v, np.ndarray)}
    targets = case["targets"]
    if isinstance(targets, dict):
        targets = {k: np.asarray(v).tolist() for k, v in targets.items()}
    else:
        targets = np.asarray(targets).tolist()
    plain = {k: v for k, v in case.items() if k not in ("name", "targets", *arrays)}
    text = json.dumps([plain, arrays, targets], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class LookupByInputs(LookupByName):
    """Answers each case with the packaged file's expected values for the same inputs (a
    digest of scores, targets, anchors and settings), whatever the case is called."""

    key = staticmethod(inputs_key)


DODGES: list[type] = [LookupByName, LookupByInputs]


# ---------------------------------------------------------------------------------------
# Command-line entry points for the examples in docs/porting.md
# ---------------------------------------------------------------------------------------

right = Port()
authors_gradient = AuthorsGradient()
expanded_distances = ExpandedDistances()
epsilon_at_anchors = EpsilonInWeights()
ties_as_wins = TiesAsWins()
hit_with_tolerance = HitWithTolerance()
lookup_by_name = LookupByName()
lookup_by_inputs = LookupByInputs()
