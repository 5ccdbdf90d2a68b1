# %% [markdown]
# # 9. The same code on a GPU
#
# Everything so far ran on NumPy. The package also runs on a GPU through CuPy, a NumPy
# look-alike whose arrays live in GPU memory, with **no second implementation**: the
# library is written in `autograd.numpy`, whose functions dispatch to the library the
# array belongs to, and `uniloss_ref.device` registers CuPy's arrays with autograd.
# What changes is only *where the inputs live*.
#
# This chapter runs one UniLoss evaluation per metric, and then a few training steps of
# a small network, once on NumPy (the reference) and once on the chosen device, and
# shows that the numbers agree to `1e-12`. On a machine without a working GPU (or
# without CuPy installed: `pip install "uniloss-ref[gpu-cuda12]"`), it says so and runs
# both halves on NumPy, so every line of it still runs and the comparison is exact.
#
# Run it as `python chapters/09_same_code_on_a_gpu.py` or open it as a notebook.

# %%
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import autograd
import numpy as np

from uniloss_ref import UniLoss
from uniloss_ref import device as backend
from uniloss_ref.check import default_metrics, random_batch
from uniloss_ref.experiments.nn import mlp
from uniloss_ref.experiments.nn.optim import SGD, tree_map
from uniloss_ref.metrics import AveragePrecision

# %% [markdown]
# ## Choosing the device
#
# `backend.resolve_device("auto")` answers `"gpu"` when CuPy imports and a CUDA device
# works, else `"cpu"`; `"gpu"` insists (and raises, saying why, when it cannot);
# `"cpu"` is NumPy. The environment variable `UNILOSS_DEVICE` sets the default for the
# whole process.


# %%
def choose_device(device: str) -> tuple[str, str]:
    """The concrete device for ``device``, and a sentence saying why.

    Parameters
    ----------
    device : {"auto", "cpu", "gpu"}

    Returns
    -------
    name : str
        ``"cpu"`` or ``"gpu"``.
    reason : str
    """
    name = backend.resolve_device(device)
    if name == "gpu":
        module = backend.device_module("gpu")
        return name, f"a GPU works: arrays go to {module.__name__}"
    if device == "cpu":
        return name, "the CPU was asked for: NumPy on both sides"
    # "auto" fell back to the CPU; asking for the GPU itself says why.
    try:
        backend.device_module("gpu")
        why = "the GPU became usable only after the device was chosen"
    except RuntimeError as error:
        why = str(error)
    return name, f"no GPU here ({why}); running on NumPy on both sides"


# %% [markdown]
# ## One evaluation per metric
#
# `backend.to_device(x, device)` copies a host array to the device (and is
# differentiable: the gradient travels back); `backend.to_numpy(x)` copies it home. We
# draw each batch on the host, evaluate the loss and its gradient on NumPy, move the
# scores to the device, and evaluate again with a loss built from the same seed.
#
# Two things make the results comparable. The anchors are drawn on the *host*, with a
# NumPy generator, whatever device the scores are on, so the same seed draws the same
# anchors everywhere; and `h` (integer logic on a few dozen anchors) is evaluated on the
# host too. The device does the part that grows with the batch: comparisons,
# relaxation, distances and the interpolation, forward and backward. Expect agreement,
# not bit-identity: a GPU sums in a different order.


# %%
def compare_metrics(device: str, seed: int = 0) -> dict[str, float]:
    """Loss and gradient of every default metric on NumPy and on ``device``.

    Parameters
    ----------
    device : {"cpu", "gpu"}
    seed : int, default 0

    Returns
    -------
    dict
        ``repr(metric) -> largest |difference|`` over the loss value and every gradient
        entry.
    """
    rng = np.random.default_rng(seed)
    differences = {}
    for metric in default_metrics():
        scores, targets = random_batch(metric, rng)
        loss_seed = int(rng.integers(2**32))
        value, gradient = autograd.value_and_grad(UniLoss(metric, seed=loss_seed))(scores, targets)
        on_device = backend.to_device(scores, device)
        value_d, gradient_d = autograd.value_and_grad(UniLoss(metric, seed=loss_seed))(
            on_device, targets
        )
        if backend.device_of(gradient_d) != device:
            raise RuntimeError(f"the gradient came back on {backend.device_of(gradient_d)}")
        differences[repr(metric)] = max(
            abs(float(value_d) - float(value)),
            float(np.abs(backend.to_numpy(gradient_d) - gradient).max()),
        )
    return differences


# %% [markdown]
# ## Training on the device
#
# A network's parameters are a *pytree* (nested lists and dicts of arrays); moving one
# to the device is `tree_map(lambda a: backend.to_device(a, device), params)`. The
# model (`uniloss_ref.experiments.nn.mlp`), the loss and the optimiser
# (`uniloss_ref.experiments.nn.optim.SGD`)
# are the same objects on both sides. We train a 20-32-1 network with
# `UniLoss(AveragePrecision())` on generated data, batches drawn on the host and moved
# to the device, and compare the parameters at the end.


# %%
def train(device: str, steps: int, seed: int = 1) -> dict:
    """Train a small MLP on AP with UniLoss, with everything on ``device``.

    Parameters
    ----------
    device : {"cpu", "gpu"}
    steps : int
    seed : int, default 1
        The same seed gives every device the same data, start, batches and anchors.

    Returns
    -------
    dict
        ``params`` (a host copy of the final parameters), ``losses`` (per step) and
        ``seconds`` (time per step, after the first).
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(512, 20))
    y = (X[:, :3].sum(axis=1) + rng.normal(size=512) > 1.5).astype(int)
    model = mlp((20, 32, 1))
    params = tree_map(lambda a: backend.to_device(a, device), model.init_params(rng))
    loss = UniLoss(AveragePrecision(), seed=int(rng.integers(2**32)))
    value_and_grad = autograd.value_and_grad(
        lambda p, xb, yb: loss(model.apply(p, xb).reshape(-1), yb)
    )
    optimiser = SGD(lr=0.5, momentum=0.5)
    losses, started = [], 0.0
    for step in range(steps):
        if step == 1:
            started = time.perf_counter()  # the first step pays for compilation and warm-up
        batch = rng.choice(len(y), size=64, replace=False)
        value, grads = value_and_grad(params, backend.to_device(X[batch], device), y[batch])
        params = optimiser.step(params, grads)
        losses.append(float(value))
    seconds = (time.perf_counter() - started) / max(steps - 1, 1)
    return {"params": tree_map(backend.to_numpy, params), "losses": losses, "seconds": seconds}


def largest_difference(a: Any, b: Any) -> float:
    """The largest ``|a - b|`` over two pytrees of host arrays of the same structure."""
    leaves = []
    tree_map(lambda x, z: leaves.append(float(np.abs(x - z).max())), a, b)
    return max(leaves)


# %% [markdown]
# ## Running the chapter
#
# What you should see: which device was chosen and why; for every metric, the largest
# difference between NumPy and the device, at most **1e-12**; after training, the
# largest difference in any parameter, also at most **1e-12**, and the losses step by
# step likewise; and the time per training step on each side (printed for information
# only: a network this small is no test of speed; `benchmarks/device_speed.py` measures
# that). On a machine without a GPU both sides are NumPy and every difference is
# exactly 0.
#
# This chapter draws no figure.


# %%
def main(
    quick: bool = False, out_dir: str | Path = "out/chapters/09", device: str = "auto"
) -> dict[str, Any]:
    """Run chapter 9: the same computations on NumPy and on ``device``.

    Parameters
    ----------
    quick : bool, default False
        Fewer training steps (10 instead of 40).
    out_dir : str or Path, default "out/chapters/09"
        Created for uniformity with the other chapters; nothing is written to it.
    device : {"auto", "cpu", "gpu"}, default "auto"

    Returns
    -------
    dict
        The device used and every number the chapter's text states.
    """
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    name, reason = choose_device(device)
    print(f"device: {name}: {reason}")

    differences = compare_metrics(name)
    print("\nOne loss + gradient per metric, largest |NumPy - device|:")
    for metric, difference in differences.items():
        print(f"  {metric:<58} {difference:.1e}")

    steps = 10 if quick else 40
    reference, on_device = train("cpu", steps), train(name, steps)
    parameter_difference = largest_difference(reference["params"], on_device["params"])
    loss_difference = float(np.abs(np.subtract(reference["losses"], on_device["losses"])).max())
    print(f"\nTraining a 20-32-1 MLP for {steps} steps:")
    print(f"  loss {reference['losses'][0]:.4f} -> {reference['losses'][-1]:.4f} (NumPy)")
    print(f"  largest |NumPy - device|: parameters {parameter_difference:.1e}, "
          f"losses {loss_difference:.1e}")  # fmt: skip
    print(
        f"  time per step: NumPy {1e3 * reference['seconds']:.2f} ms, "
        f"{name} {1e3 * on_device['seconds']:.2f} ms"
    )
    return {
        "device": name,
        "metric_differences": differences,
        "parameter_difference": parameter_difference,
        "loss_difference": loss_difference,
        "losses": reference["losses"],
    }


# %%
if __name__ == "__main__":
    main()
