"""uniloss_ref: a verified NumPy + autograd reference implementation of UniLoss.

UniLoss (Liu, Wang, Deng, ECCV 2020) makes a surrogate loss of a metric that gradient descent
cannot optimise, in the order of the modules here: the metric refactored as scores ->
comparisons -> binaries -> metric (``metrics``), the sign relaxed (``relaxation``), anchors
sampled (``anchors``, stored by ``anchor_sets``) and the metric interpolated from its values
there (``interpolation``); :class:`UniLoss` (``surrogate``) puts the steps together.
:mod:`uniloss_ref.plain` states the whole method in one page; ``check`` verifies its laws.
"""

import sys

try:
    from .anchor_sets import Anchors, DenseAnchors
    from .anchors import AnchorSampler
    from .surrogate import Evaluation, UniLoss, inspect, surrogate
except KeyboardInterrupt:  # Ctrl-C while NumPy and autograd load
    if sys.argv[:1] != ["-m"]:  # only `python -m uniloss_ref`, which imports this first
        raise
    print("python -m uniloss_ref: interrupted while starting", file=sys.stderr)
    sys.exit(130)

__all__ = [
    "AnchorSampler", "Anchors", "DenseAnchors", "Evaluation", "UniLoss", "inspect", "surrogate"
]
__version__ = "0.1.0"
