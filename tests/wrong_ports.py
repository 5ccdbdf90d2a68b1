"""Deliberately wrong ports: each repeats one mistake a real port could make.

Each is the reference port with one quantity computed the wrong way, so a test can check
both that the checker rejects it and that it blames the right quantity. They are also
usable from the command line, e.g.
``python -m uniloss_ref conformance verify tests.wrong_ports:authors_gradient``.
"""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np

from uniloss_ref.conformance import reference_port
from uniloss_ref.conformance.reference import reference_metric
from uniloss_ref.experiments.authors_gradient import interpolate_with_authors_gradient
from uniloss_ref.relaxation import relaxed_binary


def _loss_gradient(case, interpolate):
    """The gradient of ``1 - interpolate(b~, anchors, values, p)`` with respect to the scores."""
    metric, targets = reference_metric(case)
    refactoring = metric.refactor(case["scores"].shape, targets)
    anchors, power = case["anchors"], case["power"]
    values = refactoring.h(anchors > 0)

    def loss(scores):
        b = relaxed_binary(refactoring.comparisons(scores), case["temperature"])
        return 1.0 - interpolate(b, anchors, values, power)

    return loss, autograd.grad(loss)(case["scores"])


def authors_gradient(case: dict) -> dict:
    """The authors' closed-form IDW gradient, whose normaliser term has the wrong sign."""
    out = reference_port(case)
    out["gradient"] = _loss_gradient(case, interpolate_with_authors_gradient)[1]
    return out


def ascent_gradient(case: dict) -> dict:
    """The gradient of ``h~`` returned as the gradient of the loss ``1 - h~``: a sign flip."""
    out = reference_port(case)
    out["gradient"] = -out["gradient"]
    return out


def slightly_wrong_gradient(case: dict) -> dict:
    """A gradient 0.1% too large: the checker must not be too loose to notice."""
    out = reference_port(case)
    out["gradient"] = 1.001 * out["gradient"]
    return out


def _expanded_interpolate(b, anchors, values, power):
    # ||b - a||^2 written as ||b||^2 - 2 a.b + ||a||^2: cancels when b is near a.
    d2 = anp.maximum(anp.sum(b**2) - 2.0 * anp.dot(anchors, b) + anchors.shape[1], 0.0)
    hit = np.flatnonzero(d2 == 0)
    if hit.size:
        return values[hit[0]] + 0.0 * anp.sum(b)
    w = d2 ** (-0.5 * power)
    return anp.dot(w, values) / anp.sum(w)


def expanded_distances(case: dict) -> dict:
    """Distances from the expanded square, which loses its digits near an anchor."""
    out = reference_port(case)
    loss, out["gradient"] = _loss_gradient(case, _expanded_interpolate)
    b = out["relaxed"]
    anchors = case["anchors"]
    out["distances"] = np.sqrt(np.maximum(np.sum(b**2) - 2.0 * anchors @ b + anchors.shape[1], 0.0))
    out["loss"] = float(loss(case["scores"]))
    out["surrogate"] = 1.0 - out["loss"]
    return out


def _epsilon_interpolate(b, anchors, values, power):
    # An epsilon instead of a branch on d == 0: finite, but no longer exact at anchors.
    d2 = anp.sum((b[None, :] - anchors) ** 2, axis=1)
    w = (d2 + 1e-16) ** (-0.5 * power)
    return anp.dot(w, values) / anp.sum(w)


def epsilon_at_anchors(case: dict) -> dict:
    """``w_k = (d_k^2 + 1e-16)^(-p/2)``: at an anchor h~ misses v_k by about 1e-8."""
    out = reference_port(case)
    loss, out["gradient"] = _loss_gradient(case, _epsilon_interpolate)
    out["loss"] = float(loss(case["scores"]))
    out["surrogate"] = 1.0 - out["loss"]
    return out


def ties_as_wins(case: dict) -> dict:
    """``sign(c)`` with a tie counted as +1 (``c >= 0``): the batch metric is too high."""
    out = reference_port(case)
    metric, targets = reference_metric(case)
    out["hard"] = np.where(out["comparisons"] >= 0, 1.0, -1.0)
    h = metric.refactor(case["scores"].shape, targets).h
    out["batch_metric"] = float(h(out["hard"][None, :] > 0)[0])
    return out
