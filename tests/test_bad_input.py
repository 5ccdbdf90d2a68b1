"""Bad input raises TypeError/ValueError naming the argument and what was expected."""

import numpy as np
import pytest

from uniloss_ref import Anchors, AnchorSampler, UniLoss, surrogate
from uniloss_ref.anchor_sets import anchor_set
from uniloss_ref.interpolation import interpolate
from uniloss_ref.metrics import (
    PCK,
    Accuracy,
    AveragePrecision,
    KeypointTargets,
    Refactoring,
    RocAuc,
)

S4, Y4 = np.array([0.1, 0.4, -0.2, 0.3]), np.array([1, 0, 0, 1])
S23, T2 = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]), np.array([0, 2])
HEAT = np.zeros((1, 1, 4, 4))
KP = KeypointTargets(np.array([[[1.0, 1.0]]]), np.array([[True]]), np.array([2.0]), (4, 4))


def _empty_sampler(c, refactoring, rng):
    return Anchors(np.zeros((0, c.size), bool), *[np.zeros(0, int)] * 3, np.zeros(0, str))


def _wrong_sampler(c, refactoring, rng):
    return np.ones((3, c.size))


CASES = {
    "scores with two dims for a binary metric": (
        lambda: AveragePrecision().evaluate(S4[:, None], Y4),
        ValueError,
        "scores must have 1 dim",
    ),
    "integer scores": (lambda: RocAuc().evaluate(np.arange(4), Y4), TypeError, "floating-point"),
    "string scores": (lambda: RocAuc().evaluate(np.array(["a"] * 4), Y4), TypeError, "scores"),
    "NaN score": (
        lambda: AveragePrecision().evaluate(np.array([0.1, np.nan, 0, 1]), Y4),
        ValueError,
        "NaN or infinite",
    ),
    "infinite score in a loss": (
        lambda: UniLoss(Accuracy())(np.array([[np.inf, 0.0]]), [0]),
        ValueError,
        "NaN or infinite",
    ),
    "empty batch": (
        lambda: AveragePrecision().evaluate(np.zeros(0), np.zeros(0, int)),
        ValueError,
        "empty",
    ),
    "labels not 0/1": (
        lambda: AveragePrecision().evaluate(S4, np.array([0, 1, 2, 1])),
        ValueError,
        "only 0 and 1",
    ),
    "labels of the wrong length": (
        lambda: RocAuc().refactor(S4.shape, np.array([0, 1])),
        ValueError,
        r"targets must have shape \(4,\)",
    ),
    "labels of strings": (
        lambda: RocAuc().evaluate(S4, np.array(list("abab"))),
        TypeError,
        "targets",
    ),
    "class label out of range": (
        lambda: Accuracy().evaluate(S23, np.array([0, 3])),
        ValueError,
        r"targets must lie in \[0, 3\)",
    ),
    "negative class label": (
        lambda: Accuracy().evaluate(S23, np.array([-1, 0])),
        ValueError,
        "targets must lie",
    ),
    "float class labels": (
        lambda: Accuracy().evaluate(S23, np.array([0.0, 1.0])),
        TypeError,
        "integer class labels",
    ),
    "one-dimensional scores for accuracy": (
        lambda: Accuracy().evaluate(S4, Y4),
        ValueError,
        "scores must have 2 dim",
    ),
    "top_k zero": (lambda: Accuracy(top_k=0), ValueError, "top_k"),
    "top_k fractional": (lambda: Accuracy(top_k=1.5), TypeError, "top_k"),
    "unknown unrealisable rule": (
        lambda: AveragePrecision(unrealisable="skip"),
        ValueError,
        "unrealisable",
    ),
    "interpolated not a bool": (
        lambda: AveragePrecision(interpolated="yes"),
        TypeError,
        "interpolated",
    ),
    "negative temperature": (
        lambda: UniLoss(RocAuc(), temperature=-1.0),
        ValueError,
        "temperature",
    ),
    "temperature as text": (lambda: UniLoss(RocAuc(), temperature="1"), TypeError, "temperature"),
    "zero power": (lambda: UniLoss(RocAuc(), power=0.0), ValueError, "power"),
    "K = 0 anchors": (
        lambda: UniLoss(RocAuc(), sampler=AnchorSampler(truth=0, good=0, nearby=0, bad=0)),
        ValueError,
        r"K >= 1",
    ),
    "K = 0 anchors given": (
        lambda: interpolate(np.zeros(3), np.zeros((0, 3)), np.zeros(0)),
        ValueError,
        "K >= 1",
    ),
    "sampler returning an array, not Anchors": (
        lambda: UniLoss(RocAuc(), sampler=_wrong_sampler)(S4, Y4),
        TypeError,
        "must return Anchors or DenseAnchors, K >= 1 anchors of 4 comparisons",
    ),
    "shape that is not a shape": (
        lambda: RocAuc().refactor("four", Y4),
        TypeError,
        "tuple of ints",
    ),
    "h returning NaN": (
        lambda: anchor_set(np.ones((2, 3)), 3).values(
            Refactoring((4,), np.arange(3), np.arange(3) + 1, h=lambda won: won.sum(1) * np.nan)
        ),
        ValueError,
        "finite values",
    ),
    "unknown anchor kind": (lambda: AnchorSampler(rows=3), TypeError, "rows"),
    "scores as a Python list": (
        lambda: UniLoss(RocAuc())([0.1, 0.4, -0.2, 0.3], Y4),
        TypeError,
        "scores must be an array of floats, got list",
    ),
    "PCK targets with complex coordinates": (
        lambda: KeypointTargets(KP.xy + 0j, KP.visible, KP.scale, (4, 4)),
        TypeError,
        "xy and scale must be real numbers",
    ),
    "PCK targets with a complex scale": (
        lambda: KeypointTargets(KP.xy, KP.visible, KP.scale + 0j, (4, 4)),
        TypeError,
        "xy and scale must be real numbers",
    ),
    "batch whose loss would exceed the memory limit": (
        lambda: UniLoss(RocAuc(), sampler=AnchorSampler(bad=100), memory_limit=2**19)(
            np.zeros(100), np.arange(100) % 2
        ),
        ValueError,
        r"2,500 comparisons: .* above memory_limit \(0.0 GiB\)",
    ),
    "absurd number of random anchors": (
        lambda: UniLoss(RocAuc(), sampler=AnchorSampler(bad=10**8))(S4, Y4),
        ValueError,
        "above memory_limit",
    ),
    "batch with more comparisons than any batch may have": (
        lambda: AveragePrecision().refactor((40_000,), np.arange(40_000) % 2),
        ValueError,
        "20000 positives and 20000 negatives gives 400,000,000 comparisons",
    ),
    "heatmaps with more comparisons than any batch may have": (
        lambda: PCK().refactor(
            (1, 1, 200, 200),
            KeypointTargets(np.full((1, 1, 2), 100.0), np.ones((1, 1), bool), [200.0], (200, 200)),
        ),
        ValueError,
        "these heatmaps give",
    ),
    "sampler drawing no anchor": (
        lambda: UniLoss(RocAuc(), sampler=_empty_sampler)(S4, Y4),
        TypeError,
        "K >= 1 anchors",
    ),
    "anchors of the wrong length": (
        lambda: surrogate(S4, Y4, RocAuc(), np.ones((2, 3))),
        ValueError,
        r"anchors must have shape \(K, 4\)",
    ),
    "anchor entries not +-1": (
        lambda: surrogate(S4, Y4, RocAuc(), np.zeros((1, 4))),
        ValueError,
        r"only -1 and \+1",
    ),
    "metric that is not a Metric": (lambda: UniLoss("ap"), TypeError, "metric must be"),
    "negative seed": (lambda: UniLoss(RocAuc(), seed=-3), ValueError, "seed"),
    "sampler not callable": (lambda: UniLoss(RocAuc(), sampler="idw"), TypeError, "sampler"),
    "anchor count not an int": (lambda: AnchorSampler(good=1.0), TypeError, "good"),
    "PCK targets as a plain array": (
        lambda: PCK().evaluate(HEAT, np.zeros((1, 1, 2))),
        TypeError,
        "KeypointTargets",
    ),
    "PCK heatmap shape mismatch": (
        lambda: PCK().evaluate(np.zeros((1, 1, 5, 5)), KP),
        ValueError,
        r"of heatmaps \(4, 4\), the scores \(1, 1\) of \(5, 5\)",
    ),
    "PCK negative threshold": (lambda: PCK(threshold=-0.5), ValueError, "threshold"),
    "PCK visibility not bool": (
        lambda: PCK().evaluate(HEAT, KeypointTargets(KP.xy, np.array([[1]]), KP.scale, (4, 4))),
        TypeError,
        "visible",
    ),
    "PCK zero scale": (
        lambda: PCK().evaluate(HEAT, KeypointTargets(KP.xy, KP.visible, np.array([0.0]), (4, 4))),
        ValueError,
        "scale",
    ),
    "PCK targets whose fields disagree": (
        lambda: KeypointTargets(np.zeros((1, 2, 2)), KP.visible, KP.scale, (4, 4)),
        ValueError,
        r"visible must have shape \(1, 2\)",
    ),
    "PCK targets for another number of joints": (
        lambda: PCK().evaluate(np.zeros((1, 2, 4, 4)), KP),
        ValueError,
        r"targets hold \(1, 1\) \(samples, joints\) .* the scores \(1, 2\)",
    ),
    "PCK NaN location of a visible joint": (
        lambda: PCK().evaluate(
            HEAT, KeypointTargets(np.full((1, 1, 2), np.nan), KP.visible, KP.scale, (4, 4))
        ),
        ValueError,
        "finite",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_raises_a_clear_error(case):
    call, error, match = CASES[case]
    with pytest.raises(error, match=match):
        call()


def test_a_batch_over_the_memory_limit_is_refused_before_its_pairs_are_built():
    # 10,000 positives and 10,000 negatives: 1e8 comparisons, 1.6 GB of pairs alone, about
    # 14 GB for a loss and gradient. The refusal must come from counting, not building.
    import tracemalloc

    scores, labels = np.zeros(20_000), np.arange(20_000) % 2
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"100,000,000 comparisons: .* above memory_limit"):
        UniLoss(AveragePrecision())(scores, labels)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 2**20
