"""Optimisers and learning-rate schedules over parameter pytrees.

A pytree is an array (or Python number) at a leaf, or a dict, list or tuple of pytrees: exactly
what :mod:`uniloss_ref.experiments.nn` models use for parameters and what ``autograd.grad`` returns
for
them. The tree walk is written out here instead of borrowing ``autograd.misc.flatten``, which
concatenates every leaf into one vector with ``anp.concatenate`` and so ties the optimiser to
NumPy; these optimisers touch each leaf only with arithmetic operators, so they run unchanged on
any array type that has them.

Each optimiser keeps its own state and updates out of place::

    opt = SGD(lr=0.01, momentum=0.5)
    for x, y in batches:
        params = opt.step(params, grad(loss)(params, x, y))

The update rules and defaults are PyTorch's (``torch.optim.SGD``, ``Adam``, ``RMSprop``), so
hyperparameters from the authors' scripts carry over unchanged. Weight decay is the classic L2
form: ``weight_decay * p`` is added to the gradient before anything else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

__all__ = [
    "SGD",
    "Adam",
    "RMSprop",
    "multistep_lr",
    "step_lr",
    "tree_leaves",
    "tree_map",
    "tree_rebuild",
]

PyTree = Any


def tree_map(fn: Callable[..., Any], tree: PyTree, *rest: PyTree) -> PyTree:
    """Apply ``fn`` leaf by leaf to one or more pytrees of the same structure.

    Parameters
    ----------
    fn : callable
        Called as ``fn(leaf, *leaves_of_rest)`` for every leaf.
    tree : pytree
        Nested dicts, lists and tuples (named tuples included); anything else is a leaf.
    *rest : pytree
        Further trees with the same structure (same dict keys, same sequence lengths).

    Returns
    -------
    pytree
        Same structure as ``tree``, with ``fn``'s results at the leaves. Tuples stay tuples.

    Raises
    ------
    ValueError
        If the structures differ; the message gives the path where they do.
    """
    return _map(fn, tree, rest, "tree")


def _map(fn, tree, rest, path):
    if isinstance(tree, dict):
        for other in rest:
            if not isinstance(other, dict) or other.keys() != tree.keys():
                raise ValueError(
                    f"pytrees differ at {path}: dict with keys {sorted(tree)} vs "
                    f"{sorted(other) if isinstance(other, dict) else type(other).__name__}"
                )
        return {k: _map(fn, v, [o[k] for o in rest], f"{path}[{k!r}]") for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        for other in rest:
            if not isinstance(other, list | tuple) or len(other) != len(tree):
                raise ValueError(
                    f"pytrees differ at {path}: sequence of length {len(tree)} vs "
                    f"{len(other) if isinstance(other, list | tuple) else type(other).__name__}"
                )
        mapped = [_map(fn, v, [o[i] for o in rest], f"{path}[{i}]") for i, v in enumerate(tree)]
        if isinstance(tree, list):
            return mapped
        # A NamedTuple takes its fields as separate arguments, a plain tuple one iterable.
        return type(tree)(*mapped) if hasattr(tree, "_fields") else type(tree)(mapped)
    for other in rest:
        if isinstance(other, dict | list | tuple):
            raise ValueError(f"pytrees differ at {path}: leaf vs {type(other).__name__}")
    return fn(tree, *rest)


def tree_leaves(tree: PyTree) -> list:
    """The leaves of ``tree`` in the order :func:`tree_map` visits them."""
    found: list = []
    tree_map(found.append, tree)
    return found


def tree_rebuild(tree: PyTree, leaves: Iterable) -> PyTree:
    """A pytree shaped like ``tree`` whose leaves, in visiting order, are ``leaves``."""
    supply = iter(leaves)
    return tree_map(lambda _: next(supply), tree)


def _check_grads_match(params: PyTree, grads: PyTree) -> None:
    try:
        tree_map(lambda p, g: None, params, grads)
    except ValueError as err:
        raise ValueError(f"grads must have the structure of params: {err}") from None
    for p, g in zip(tree_leaves(params), tree_leaves(grads), strict=True):
        if getattr(p, "shape", ()) != getattr(g, "shape", ()):
            raise ValueError(
                f"grads must have the shapes of params; got a gradient of shape "
                f"{getattr(g, 'shape', ())} for a parameter of shape {getattr(p, 'shape', ())}"
            )


def _real(value: float, name: str, low: float = 0.0, high: float | None = None) -> float:
    """Validate a hyperparameter in ``[low, high)`` (``[low, inf)`` without ``high``)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
    ):
        raise TypeError(f"{name} must be a finite real number, got {value!r}")
    if value < low or (high is not None and value >= high):
        bound = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be in {bound}, got {value!r}")
    return float(value)


def _positive(value: float, name: str) -> float:
    value = _real(value, name)
    if value == 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


class _Optimizer:
    """What every optimiser shares: the learning rate, L2 weight decay, a step count, and one
    state per parameter leaf. Subclasses supply ``_init_leaf`` and ``_update_leaf``."""

    def __init__(self, lr: float, weight_decay: float) -> None:
        self.lr = lr
        self.weight_decay = _real(weight_decay, "weight_decay")
        self.t = 0
        self._states: list | None = None

    @property
    def lr(self) -> float:
        """Learning rate; assign to it between steps to follow a schedule."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _real(value, "lr")

    def step(self, params: PyTree, grads: PyTree) -> PyTree:
        """Take one update step.

        Parameters
        ----------
        params : pytree
            Current parameters.
        grads : pytree
            Gradient of the loss with respect to ``params``: same structure and shapes.

        Returns
        -------
        pytree
            The new parameters, same structure; ``params`` itself is not modified.

        Raises
        ------
        ValueError
            If ``grads`` does not match ``params``, or ``params`` has a different number of
            leaves than at the first step.
        """
        _check_grads_match(params, grads)
        ps, gs = tree_leaves(params), tree_leaves(grads)
        if self._states is None:
            self._states = [self._init_leaf(p) for p in ps]
        if len(self._states) != len(ps):
            raise ValueError(
                f"params has {len(ps)} leaves but this optimiser was started on "
                f"{len(self._states)}; use a new optimiser for a new model"
            )
        self.t += 1
        new = [
            self._update_leaf(p, g + self.weight_decay * p if self.weight_decay else g, s)
            for p, g, s in zip(ps, gs, self._states, strict=True)
        ]
        self._states = [state for _, state in new]
        return tree_rebuild(params, [p for p, _ in new])

    def _init_leaf(self, p):
        raise NotImplementedError

    def _update_leaf(self, p, g, state):
        raise NotImplementedError


class SGD(_Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum and L2 weight decay.

    Parameters
    ----------
    lr : float
        Learning rate, >= 0.
    momentum : float, default 0
        In [0, 1).
    weight_decay : float, default 0
        L2 coefficient, >= 0.

    Notes
    -----
    With :math:`g_t = \\nabla L(p_{t-1}) + \\lambda p_{t-1}` and :math:`v_0 = 0`:

    .. math:: v_t = \\mu v_{t-1} + g_t, \\qquad p_t = p_{t-1} - \\eta v_t

    (PyTorch's form, without dampening or Nesterov).
    """

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.momentum = _real(momentum, "momentum", 0.0, 1.0)

    def _init_leaf(self, p):
        return np.zeros_like(p) if self.momentum else None

    def _update_leaf(self, p, g, velocity):
        if self.momentum:  # the velocity is this optimiser's own array: updated in place
            velocity *= self.momentum
            velocity += g
            g = velocity
        new = g * -self.lr  # p - lr g with one new array: the same rounding as written
        new += p
        return new, velocity


class Adam(_Optimizer):
    """Adam with bias correction and L2 weight decay (coupled, as in PyTorch's ``Adam``).

    Parameters
    ----------
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the root of the second moment, > 0.
    weight_decay : float, default 0

    Notes
    -----
    .. math::

        m_t = \\beta_1 m_{t-1} + (1 - \\beta_1) g_t, \\quad
        v_t = \\beta_2 v_{t-1} + (1 - \\beta_2) g_t^2, \\quad
        p_t = p_{t-1} - \\frac{\\eta}{1 - \\beta_1^t}
              \\frac{m_t}{\\sqrt{v_t / (1 - \\beta_2^t)} + \\epsilon}
    """

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay)
        if not isinstance(betas, Sequence) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of floats, got {betas!r}")
        self.betas = (_real(betas[0], "betas[0]", 0.0, 1.0), _real(betas[1], "betas[1]", 0.0, 1.0))
        self.eps = _positive(eps, "eps")

    def _init_leaf(self, p):
        return np.zeros_like(p), np.zeros_like(p)

    def _update_leaf(self, p, g, moments):
        b1, b2 = self.betas
        m, v = moments
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denom = (v / (1 - b2**self.t)) ** 0.5 + self.eps
        return p - self.lr / (1 - b1**self.t) * m / denom, (m, v)


class RMSprop(_Optimizer):
    """RMSprop (PyTorch's form: eps outside the root, optional momentum, L2 weight decay).

    Parameters
    ----------
    lr : float, default 1e-2
    alpha : float, default 0.99
        Decay rate of the running mean of squared gradients, in [0, 1).
    eps : float, default 1e-8
        Added to the root of that mean, > 0.
    momentum : float, default 0
        In [0, 1).
    weight_decay : float, default 0

    Notes
    -----
    .. math::

        s_t = \\alpha s_{t-1} + (1 - \\alpha) g_t^2, \\quad
        v_t = \\mu v_{t-1} + \\frac{g_t}{\\sqrt{s_t} + \\epsilon}, \\quad
        p_t = p_{t-1} - \\eta v_t

    with :math:`v_t = g_t / (\\sqrt{s_t} + \\epsilon)` when :math:`\\mu = 0`. The authors
    trained their hourglass network with RMSprop at ``lr = 2.5e-4``.
    """

    def __init__(
        self,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay)
        self.alpha = _real(alpha, "alpha", 0.0, 1.0)
        self.eps = _positive(eps, "eps")
        self.momentum = _real(momentum, "momentum", 0.0, 1.0)

    def _init_leaf(self, p):
        return np.zeros_like(p), (np.zeros_like(p) if self.momentum else None)

    def _update_leaf(self, p, g, state):
        square_avg, velocity = state
        square_avg = self.alpha * square_avg + (1 - self.alpha) * g * g
        direction = g / (square_avg**0.5 + self.eps)
        if self.momentum:
            velocity = self.momentum * velocity + direction
            direction = velocity
        return p - self.lr * direction, (square_avg, velocity)


def _check_epoch(epoch: int) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
    return int(epoch)


def step_lr(base_lr: float, step_size: int, gamma: float = 0.1) -> Callable[[int], float]:
    """Learning rate multiplied by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    base_lr : float
        Rate for epochs ``0 .. step_size - 1``.
    step_size : int
        Epochs between decays, >= 1.
    gamma : float, default 0.1
        Decay factor, >= 0.

    Returns
    -------
    callable ``(epoch: int) -> float``
        ``base_lr * gamma ** (epoch // step_size)`` for epochs counted from 0; set
        ``optimiser.lr = schedule(epoch)`` at the start of each epoch.
    """
    base_lr = _real(base_lr, "base_lr")
    gamma = _real(gamma, "gamma")
    if isinstance(step_size, bool) or not isinstance(step_size, int | np.integer) or step_size < 1:
        raise ValueError(f"step_size must be a positive int, got {step_size!r}")

    def schedule(epoch: int) -> float:
        return base_lr * gamma ** (_check_epoch(epoch) // step_size)

    return schedule


def multistep_lr(
    base_lr: float, milestones: Sequence[int], gamma: float = 0.1
) -> Callable[[int], float]:
    """Learning rate multiplied by ``gamma`` at each milestone epoch.

    Parameters
    ----------
    base_lr : float
        Rate before the first milestone.
    milestones : sequence of int
        Epochs (counted from 0) at which the decay takes effect, strictly increasing, >= 1.
        The authors' CIFAR schedule is ``multistep_lr(0.1, [140, 160])``.
    gamma : float, default 0.1

    Returns
    -------
    callable ``(epoch: int) -> float``
        ``base_lr * gamma ** k`` where ``k`` is the number of milestones ``<= epoch``: epoch
        ``milestones[0]`` is the first to use the decayed rate.
    """
    base_lr = _real(base_lr, "base_lr")
    gamma = _real(gamma, "gamma")
    if isinstance(milestones, str) or not isinstance(milestones, Sequence):
        raise TypeError(f"milestones must be a sequence of ints, got {milestones!r}")
    stones = [
        int(m) if isinstance(m, int | np.integer) and not isinstance(m, bool) else None
        for m in milestones
    ]
    if any(m is None or m < 1 for m in stones) or any(a >= b for a, b in pairwise(stones)):
        raise ValueError(
            f"milestones must be strictly increasing positive ints, got {list(milestones)!r}"
        )

    def schedule(epoch: int) -> float:
        epoch = _check_epoch(epoch)
        return base_lr * gamma ** sum(epoch >= m for m in stones)

    return schedule
