"""The plainest correct task losses, the denominators of the benchmarks' speed ratios.

The package's own ``bce_with_logits`` and ``softmax_cross_entropy`` check their inputs and
guard against overflow by hand; dividing by them would flatter UniLoss. These are the
textbook one-liners with autograd's ``logaddexp`` and ``logsumexp``, which are already
stable, and nothing else.
"""

import autograd.numpy as anp
from autograd.scipy.special import logsumexp


def bce(logits, labels):
    """Binary cross-entropy of ``sigmoid(s)``: ``mean(log(1 + e^s) - y s)``."""
    return anp.mean(anp.logaddexp(0.0, logits) - labels * logits)


def cross_entropy(logits, targets):
    """Softmax cross-entropy: ``mean(logsumexp(s_r) - s_r[t_r])`` over rows ``r``."""
    return anp.mean(logsumexp(logits, axis=1) - logits[anp.arange(len(targets)), targets])
