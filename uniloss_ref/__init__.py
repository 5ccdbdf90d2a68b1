"""uniloss_ref: a verified NumPy + autograd reference implementation of UniLoss.

UniLoss (Liu, Wang, Deng, ECCV 2020) turns a metric that gradient descent cannot optimise
into a surrogate loss: the metric is refactored as scores -> comparisons -> binary
variables -> metric (:mod:`uniloss_ref.metrics`), the sign is relaxed
(:mod:`uniloss_ref.relaxation`), and the metric is interpolated
(:mod:`uniloss_ref.interpolation`) from its exact values at sampled anchor configurations
(:mod:`uniloss_ref.anchors`). :class:`UniLoss` (:mod:`uniloss_ref.surrogate`) puts the
steps together.
"""

from .anchors import Anchors, AnchorSampler
from .surrogate import Evaluation, UniLoss, surrogate

__all__ = ["AnchorSampler", "Anchors", "Evaluation", "UniLoss", "surrogate"]
__version__ = "0.1.0"
