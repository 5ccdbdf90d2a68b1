"""The tolerances a port is held to: one per quantity, and a case's own where it states one.

Each element is checked as ``|got - expected| <= atol + rtol * |expected|``. Raw comparisons
and the hard binaries are exact; the other quantities have the tolerances of
:data:`QUANTITIES`, each with the reason for it. A standardised case states its own for the
comparisons and the relaxed binaries (:func:`standardised_tolerances`), because
``s / sd(s)`` rounds differently in every framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..relaxation import _standardise

#: Standardised comparisons are compared to this many ulps of the largest standardised score.
STANDARDISED_ULPS = 32

#: The loosest tolerance a vectors file may state. The file's own tolerances are at most
#: 1e-8 relative; anything above 1e-6 would accept a gradient 0.0001% off, and a file that
#: says ``rtol: 1e300`` accepts everything, so the checker refuses it.
MAX_TOLERANCE = 1e-6

#: What a port may return, in the order a port is best written and checked in.
QUANTITIES: dict[str, dict[str, Any]] = {
    "comparisons": {
        "shape": "(l,)",
        "meaning": "c = s[i] - s[j] over the metric's pairs, in the documented order",
        "rtol": 0.0,
        "atol": 0.0,
        "why": "Exact: IEEE 754 subtraction is correctly rounded, so s[i] - s[j] of raw "
        "float64 scores has the same bits in every port; a difference means other pairs, "
        "another order or another formula. Standardised cases state their own tolerance "
        "(32 ulps of the largest |z|): z = s / sd(s) passes through a mean, a square root "
        "and a division, whose rounding differs by a few ulps between frameworks.",
    },
    "hard": {
        "shape": "(l,)",
        "meaning": "sign(c) with a tie (c == 0) as -1",
        "rtol": 0.0,
        "atol": 0.0,
        "why": "Entries are exactly +-1.",
    },
    "relaxed": {
        "shape": "(l,)",
        "meaning": "b~ = tanh(c / (2 tau)) = 2 sigmoid(c / tau) - 1",
        "rtol": 1e-12,
        "atol": 1e-15,
        "why": "Libraries' tanh differ by a few ulp; 2 sigmoid - 1 loses up to an ulp of 1 "
        "(2.2e-16) to cancellation near c = 0, hence the absolute term.",
    },
    "distances": {
        "shape": "(K,)",
        "meaning": "d_k = ||b~ - a_k||_2",
        "rtol": 1e-8,
        "atol": 1e-14,
        "why": "Near an anchor d_k is made of 1 -+ b~ terms as small as 1e-13, and a "
        "library's tanh may be a few ulps (up to 7e-16) from another's, so d_k is good to a "
        "few ulps of 1 absolute and 1e-9 relative; expanding the square as "
        "||b~||^2 - 2 a.b~ + l cancels and is wrong by far more, and d_k = 0 must be 0.",
    },
    "anchor_values": {
        "shape": "(K,)",
        "meaning": "v_k = h(a_k), the metric at each anchor",
        "rtol": 0.0,
        "atol": 1e-12,
        "why": "Means of at most a few hundred fractions: only the summation order may "
        "differ, by a few ulp, while two distinct values of these metrics on batches this "
        "small differ by more than 1e-10.",
    },
    "batch_metric": {
        "shape": "()",
        "meaning": "h(sign(c)), the metric of the batch through the refactoring",
        "rtol": 0.0,
        "atol": 1e-12,
        "why": "As anchor_values.",
    },
    "surrogate": {
        "shape": "()",
        "meaning": "h~ = sum_k w_k v_k / sum_k w_k with w_k = d_k^(-p); v_k where d_k = 0",
        "rtol": 0.0,
        "atol": 1e-12,
        "why": "A convex combination of values in [0, 1], computed to about 1e-15; the "
        "absolute bound catches an epsilon added to d_k, which moves h~ off v_k at anchors.",
    },
    "loss": {
        "shape": "()",
        "meaning": "1 - h~",
        "rtol": 0.0,
        "atol": 1e-12,
        "why": "As surrogate.",
    },
    "gradient": {
        "shape": "the scores' shape",
        "meaning": "d(1 - h~)/ds, anchors held constant",
        "rtol": 1e-8,
        "atol": 1e-13,
        "why": "Reverse-mode sums run in a different order in each framework, and near an "
        "anchor the weights are ill-conditioned in b~; a 0.1% error or a wrong sign in one "
        "term (the authors' closed form) is many orders of magnitude above this.",
    },
}


def case_tolerances(
    scores: Any, temperature: float, standardise: bool, constants: Any = ()
) -> dict[str, dict[str, float]]:
    """The tolerances a case states for itself, where they differ from :data:`QUANTITIES`.

    ``scores`` (any shape) are the case's, ``temperature`` its ``tau``, ``constants`` the
    ``(C,)`` constants its metric compares the scores with (thresholds ``t``; none by
    default). With ``sd`` the reference's ``sd(s)`` where the case standardises (1 where it
    does not, or where the batch stays as it is), ``z = s / sd`` and ``t / sd``:

    - ``gradient``: ``atol = 1e-13 / (tau sd)``. The gradient with respect to ``s`` is the
      one with respect to ``b~`` times ``db~/dc <= 1 / (2 tau)`` times ``dc/ds = 1 / sd``, and
      its rounding scales alike: at ``tau = 1e-4`` a correct port's gradient is off by
      1e-11, at ``|s| ~ 1e200`` an absolute 1e-13 would accept any gradient at all.
    - cases whose batch is standardised (not left as it is), ``comparisons``:
      :data:`STANDARDISED_ULPS` ulps of the largest ``|z|`` or ``|t / sd|``
      (``atol = 32 eps max(|z|, |t / sd|)``, ``rtol = 0``): the constants are divided by
      ``sd`` as the scores are and round alike; ``relaxed``: that times the largest slope of
      ``tanh(c / 2 tau)``, ``1 / (2 tau)`` (or its own ``atol`` if larger).
    """
    own: dict[str, dict[str, float]] = {}
    z, moved, sd, top, spread = _standardise(np.asarray(scores, dtype=np.float64))
    if not standardise or moved is None:  # raw scores, or a batch left as it is: exact
        sd = 1.0
    else:
        scaled = np.asarray(constants, dtype=np.float64) / top / spread
        largest = float(max(np.max(np.abs(z)), np.max(np.abs(scaled), initial=0.0)))
        atol = _two_digits(STANDARDISED_ULPS * float(np.finfo(np.float64).eps) * largest)
        relaxed = QUANTITIES["relaxed"]
        own["comparisons"] = {"rtol": 0.0, "atol": atol}
        own["relaxed"] = {
            "rtol": relaxed["rtol"],
            "atol": max(relaxed["atol"], _two_digits(atol / (2 * temperature))),
        }
    scale = gradient_scale(temperature, sd)
    if scale != 1.0:
        gradient = QUANTITIES["gradient"]
        own["gradient"] = {"rtol": gradient["rtol"], "atol": _two_digits(gradient["atol"] * scale)}
    return own


def gradient_scale(temperature: float, sd: float = 1.0) -> float:
    """``1 / (tau sd)``: the factor a case's gradient tolerance, and its ceiling, scale by."""
    return 1.0 / (float(temperature) * float(sd))


def _two_digits(value: float) -> float:
    """``value`` rounded up to two significant digits: short, and the same on every platform
    (an ulp of difference in ``max|z|`` does not change it)."""
    return float(f"{value * 1.05:.1e}")


def tolerance(
    case: Mapping[str, Any], quantity: str, quantities: Mapping[str, Any] | None = None
) -> tuple[float, float]:
    """``(rtol, atol)`` of ``quantity`` in ``case``: the case's own, else the file's."""
    own = case.get("tolerances", {}).get(quantity)
    chosen = own if own is not None else (quantities or QUANTITIES)[quantity]
    return float(chosen["rtol"]), float(chosen["atol"])
