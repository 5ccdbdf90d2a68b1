"""Chapter 3's solutions: every cell marked yours, written out."""

from itertools import pairwise

import numpy as np


def margin_choices(c, row_starts):
    chosen = []
    for start, stop in pairwise(row_starts):
        wrong = start + np.flatnonzero(c[start:stop] <= 0)
        if wrong.size:
            chosen.append(wrong[np.argmax(c[wrong])])
    return np.array(chosen, dtype=int)
