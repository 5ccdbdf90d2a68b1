"""Chapter 11's solutions: every cell marked yours, written out."""

import torch


def relaxed(c, temperature):
    return 2.0 * torch.sigmoid(c / temperature) - 1.0
