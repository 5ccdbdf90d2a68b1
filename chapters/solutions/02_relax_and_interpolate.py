"""Chapter 2's solutions: every cell marked yours, written out."""

import numpy as np


def idw(b, anchors, values, power):
    w = np.linalg.norm(anchors - b, axis=1) ** -power
    return np.sum(w * values) / np.sum(w)
