"""Chapter 10's solutions: every cell marked yours, written out."""

import numpy as np

from uniloss_ref import device as backend
from uniloss_ref.experiments.nn.optim import tree_map


def largest_difference(first, second):
    gaps = []
    gap = lambda a, b: gaps.append(np.abs(backend.to_numpy(a) - backend.to_numpy(b)).max())
    tree_map(gap, first, second)
    return float(max(gaps, default=0.0))
