"""Chapter 5's solutions: every cell marked yours, written out."""

import numpy as np


def stratified_order(labels, rng):
    position = np.empty(len(labels))
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        position[members] = (np.arange(members.size) + rng.random()) / members.size
    return np.argsort(position, kind="stable")
