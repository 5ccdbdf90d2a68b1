"""Chapter 6's solutions: every cell marked yours, written out."""

import numpy as np


def balanced_accuracy_h(b, targets, classes):
    right = (np.asarray(b) > 0).reshape(len(b), len(targets), classes - 1).all(axis=2)
    present = np.unique(targets)
    return np.mean([right[:, targets == k].mean(axis=1) for k in present], axis=0)
