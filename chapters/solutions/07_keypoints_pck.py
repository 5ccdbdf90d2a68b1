"""Chapter 7's solutions: every cell marked yours, written out."""

import numpy as np


def gaussian_heatmap(x, y, height, width, sigma):
    rows, columns = np.indices((height, width))
    return np.exp(-((columns - x) ** 2 + (rows - y) ** 2) / (2.0 * sigma**2))
