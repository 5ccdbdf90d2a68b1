"""Chapter 8's solutions: every cell marked yours, written out."""

import numpy as np


def idw_gradient(b, anchors, values, power):
    d2 = np.sum((b - anchors) ** 2, axis=1)  # (K,)
    w = d2 ** (-power / 2)
    h = w @ values / w.sum()
    grad_w = -power * w[:, None] * (b - anchors) / d2[:, None]  # (K, l)
    return (values @ grad_w - h * grad_w.sum(axis=0)) / w.sum()
