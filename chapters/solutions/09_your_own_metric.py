"""Chapter 9's solutions: every cell marked yours, written out."""

import numpy as np


def normalised_precision_h(b, P, N, k):
    above = (np.asarray(b) <= 0).reshape(len(b), P, N).sum(axis=2)
    rank = np.arange(1, P + 1) + np.sort(above, axis=1)
    return (rank <= k).sum(axis=1) / min(k, P)
