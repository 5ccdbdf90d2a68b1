"""Framework-free small networks: layers, initialisation and models over parameter pytrees.

Everything here is plain NumPy, differentiated by autograd. Convolution and pooling share one
primitive, :func:`~uniloss_ref.experiments.nn.windows.sliding_windows`, whose hand-written
vector-Jacobian
product keeps their gradients as fast as their forward passes.
"""

from uniloss_ref.experiments.nn.init import (
    conv_params,
    dense_params,
    fan_in_fan_out,
    glorot_uniform,
    he_normal,
)
from uniloss_ref.experiments.nn.layers import (
    avg_pool2d,
    conv2d,
    dense,
    flatten,
    max_pool2d,
    relu,
    upsample_nearest,
)
from uniloss_ref.experiments.nn.models import Model, heatmap_net, mlp, small_cnn
from uniloss_ref.experiments.nn.windows import sliding_windows

__all__ = [
    "Model",
    "avg_pool2d",
    "conv2d",
    "conv_params",
    "dense",
    "dense_params",
    "fan_in_fan_out",
    "flatten",
    "glorot_uniform",
    "he_normal",
    "heatmap_net",
    "max_pool2d",
    "mlp",
    "relu",
    "sliding_windows",
    "small_cnn",
    "upsample_nearest",
]
