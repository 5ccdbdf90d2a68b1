"""Chapter 1's solutions: every cell marked yours, written out."""

import numpy as np


def from_a_ranking(b, P, N):
    above = (np.asarray(b) < 0).reshape(len(b), P, N)  # negative q above positive p
    order = np.argsort(above.sum(axis=2), axis=1, kind="stable")[:, :, None]
    chain = np.take_along_axis(above, order, axis=1)  # rows sorted by n_p
    return (chain[:, :-1] <= chain[:, 1:]).all(axis=(1, 2))  # each set inside the next
