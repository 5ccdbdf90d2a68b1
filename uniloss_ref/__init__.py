"""uniloss_ref: a verified NumPy + autograd reference implementation of UniLoss.

UniLoss (Liu, Wang, Deng, ECCV 2020) turns a metric that gradient descent cannot optimise
into a surrogate loss, in the order of the modules here: the metric is refactored as
scores -> comparisons -> binary variables -> metric (:mod:`uniloss_ref.metrics`), the sign
is relaxed (:mod:`uniloss_ref.relaxation`), anchor configurations are sampled
(:mod:`uniloss_ref.anchors`), and the metric is interpolated from its exact values there
(:mod:`uniloss_ref.interpolation`). :class:`UniLoss` (:mod:`uniloss_ref.surrogate`) puts the
steps together; :mod:`uniloss_ref.check` verifies the laws they obey.
"""

from .anchors import Anchors, AnchorSampler
from .surrogate import Evaluation, UniLoss, inspect, surrogate, surrogate_steps

__all__ = [
    "AnchorSampler", "Anchors", "Evaluation", "UniLoss", "inspect", "surrogate", "surrogate_steps"
]
__version__ = "0.1.0"
