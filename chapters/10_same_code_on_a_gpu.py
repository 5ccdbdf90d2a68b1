# %% [markdown]
# # 10. The same code on a GPU
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
# Run it cell by cell as a notebook (`python -m uniloss_ref tutorial --notebooks DIR`), or
# as a script: `python chapters/10_same_code_on_a_gpu.py --device auto` (`cpu`, `gpu` or
# `auto`; `--quick` for fewer steps, `--help` for the options). In a notebook, edit the
# `device` option in the cell that calls `tutorial.setup`.

# %%
import time

import autograd
import numpy as np
from autograd.misc import flatten

from uniloss_ref import UniLoss, exercises, tutorial
from uniloss_ref import device as backend
from uniloss_ref.check import default_metrics, random_batch
from uniloss_ref.experiments.nn import mlp
from uniloss_ref.experiments.nn.optim import SGD, tree_map
from uniloss_ref.metrics import AveragePrecision

lesson = tutorial.setup(
    __name__, "10", "Chapter 10: the same code on NumPy and on a GPU.", options={"device": "auto"}
)

# %% [markdown]
# ## Choosing the device
#
# `backend.resolve_device("auto")` answers `"gpu"` when CuPy imports and a CUDA device
# works, else `"cpu"`; `"gpu"` insists (and raises, saying why, when it cannot);
# `"cpu"` is NumPy. The environment variable `UNILOSS_DEVICE` sets the default for the
# whole process.
#
# You should see which device was chosen and why.


# %%
def choose_device(device: str) -> tuple[str, str]:
    """The concrete device for ``device`` (``"auto"``, ``"cpu"`` or ``"gpu"``), and why."""
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


device, reason = choose_device(lesson.options["device"])
print(f"device: {device}: {reason}")

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
# anchors everywhere; and $h$ (integer logic on a few dozen anchors) is evaluated on the
# host too. The device does the part that grows with the batch: comparisons,
# relaxation, distances and the interpolation, forward and backward. Expect agreement,
# not bit-identity: a GPU sums in a different order.
#
# You should see, for each of the twelve metrics of the self-check, the largest difference
# between NumPy and the device over the loss and every gradient entry: at most
# **1e-12** (exactly 0 on NumPy alone).

# %%
rng = np.random.default_rng(0)
metric_differences = {}
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
    metric_differences[repr(metric)] = max(
        abs(float(value_d) - float(value)),
        float(np.abs(backend.to_numpy(gradient_d) - gradient).max()),
    )
for metric_name, difference in metric_differences.items():
    print(f"{metric_name:<58} {difference:.1e}")

# %% [markdown]
# ## Training on the device
#
# A network's parameters are a *pytree* (nested lists and dicts of arrays); moving one
# to the device is `tree_map(lambda a: backend.to_device(a, device), params)`. The
# model (`uniloss_ref.experiments.nn.mlp`), the loss and the optimiser
# (`uniloss_ref.experiments.nn.optim.SGD`) are the same objects on both sides. We train
# a 20-32-1 network with `UniLoss(AveragePrecision())` on generated data, batches drawn
# on the host and moved to the device, and compare the parameters at the end.


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


# %% [markdown]
# You should see the loss fall over 40 steps (10 in quick mode), the largest difference
# in any parameter and in any step's loss **at most 1e-12** (exactly 0 on NumPy alone),
# and the time per step on each side, printed for information only: a network this small
# is no test of speed (`benchmarks/device_speed.py` measures that).

# %%
steps = 10 if lesson.quick else 40
reference, on_device = train("cpu", steps), train(device, steps)
leaves = []
tree_map(lambda x, z: leaves.append(float(np.abs(x - z).max())), reference["params"],
         on_device["params"])  # fmt: skip
parameter_difference = max(leaves)
loss_difference = float(np.abs(np.subtract(reference["losses"], on_device["losses"])).max())
print(f"training a 20-32-1 MLP for {steps} steps: loss {reference['losses'][0]:.4f} -> "
      f"{reference['losses'][-1]:.4f} (NumPy)")  # fmt: skip
print(f"largest |NumPy - {device}|: parameters {parameter_difference:.1e}, "
      f"losses {loss_difference:.1e}")  # fmt: skip
print(f"time per step: NumPy {1e3 * reference['seconds']:.2f} ms, "
      f"{device} {1e3 * on_device['seconds']:.2f} ms")  # fmt: skip

# %% [markdown]
# ## Exercises: predict, then run
#
# Write down your prediction before you run each cell; then open the answer. The last
# exercise asks you to write code in a cell marked **✎ yours**.
#
# **Exercise 1.** One evaluation on the chosen device: on which device does each
# intermediate live, the comparisons $c$, the relaxed $\tilde b$, the anchors, their values
# $v_k$ and $\tilde h$?

# %%
metric = AveragePrecision()
scores, labels = random_batch(metric, np.random.default_rng(5))
steps_on_device = UniLoss(metric, seed=0).steps(backend.to_device(scores, device), labels)
exercise_1 = {
    "comparisons": backend.device_of(steps_on_device.comparisons),
    "relaxed": backend.device_of(steps_on_device.relaxed),
    "anchors": backend.device_of(steps_on_device.anchors.bases),
    "values": backend.device_of(steps_on_device.values),
    "surrogate": backend.device_of(steps_on_device.surrogate),
}
print(exercise_1)

# %% [markdown]
# <details><summary>Answer</summary>
#
# On a GPU: $c$, $\tilde b$ and $\tilde h$ live on the **device** (they grow with the batch and
# carry the gradient); the anchors and their values stay on the **host** (`cpu`): they
# are drawn with a NumPy generator from a host copy of $\mathrm{sign}(c)$ and evaluated by $h$,
# integer logic on a few dozen configurations, and enter the gradient only as constants.
# On a machine without a GPU everything prints `cpu`.
#
# </details>
#
# **Exercise 2.** The agreement above is to `1e-12` because both sides compute in
# float64. How large is the difference in the loss and the gradient if the scores are
# float32 instead (as many GPU models use)?

# %%
metric = AveragePrecision()
scores, labels = random_batch(metric, np.random.default_rng(6))
value64, gradient64 = autograd.value_and_grad(UniLoss(metric, seed=7))(scores, labels)
value32, gradient32 = autograd.value_and_grad(UniLoss(metric, seed=7))(
    backend.to_device(scores.astype(np.float32), device), labels
)
exercise_2_loss = abs(float(value32) - float(value64))
exercise_2_gradient = float(np.abs(backend.to_numpy(gradient32) - gradient64).max())
print(f"float32 against float64: loss {exercise_2_loss:.1e}, gradient {exercise_2_gradient:.1e}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# Far above the differences of float64 (above `1e-12`) and below `1e-5`: the printed
# values are float32's precision (about 7 decimal digits) rather than float64's, millions
# of times the differences above, yet harmless for training. That is
# why a port is verified in float64 and then trusted in float32 (chapter 11 shows the
# same port failing the conformance vectors in float32).
#
# </details>
#
# **Exercise 3 (code).** The comparisons above brought every array home before
# subtracting. Write that as a function: `largest_difference(first, second)` takes two
# pytrees of the same structure (nested lists, tuples and dicts of arrays, on any device)
# and returns the largest absolute difference between corresponding entries, as a Python
# float. Bring each leaf to the host with `backend.to_numpy`; `tree_map` visits the
# leaves. The check compares it with the flattened difference, on the two trained
# networks above and on a copy with one weight changed.


# %%
# ✎ yours: write the body of the function below (replace the `...`)
@lesson.yours
def largest_difference(first, second):
    """The largest ``|first - second|`` over every entry of two pytrees of arrays."""
    ...


# %%
flat = lambda tree: flatten(tree_map(backend.to_numpy, tree))[0]
weights, unflatten = flatten(reference["params"])
nudged = unflatten(weights + 0.25 * (np.arange(weights.size) == 7))  # one weight changed
exercise_3 = exercises.agree_on(
    "largest_difference",
    largest_difference,
    lambda a, b: float(np.abs(flat(a) - flat(b)).max()),
    {
        f"NumPy against {device}": (reference["params"], on_device["params"]),
        "one weight changed": (reference["params"], nudged),
        "a tree with itself": (nudged, nudged),
    },
    hint="collect max(abs(to_numpy(a) - to_numpy(b))) of every pair of leaves (tree_map "
    "takes two trees), then the largest of those",
    required=False,
)

# %% [markdown]
# <details><summary>Answer</summary>
#
# The shipped solution (`chapters/solutions/10_same_code_on_a_gpu.py`) maps over both
# trees at once, keeping each pair's largest difference, and returns the largest; "one
# weight changed" gives 0.25. Bringing each leaf home first is what makes it work for
# arrays on any device: NumPy cannot subtract a GPU array.
#
# </details>
#
# ## What you learned
#
# * The package runs on CuPy arrays with no second implementation: `autograd.numpy`
#   dispatches to the array's library, and only the inputs move to the device.
# * The anchors and their values stay on the host (drawn with a NumPy generator), so the
#   same seed draws the same anchors on every device; the device does the part that grows
#   with the batch.
# * float64 agrees to rounding across devices; float32 is millions of times coarser,
#   which is why ports are verified in float64.
#
# **Next**, chapter 11 ports the whole surrogate to PyTorch and proves the port right.
