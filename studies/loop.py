"""A lean training loop for the issue-13 studies (AP one-vs-rest and 10-class accuracy).

Same ingredients as ``uniloss_ref.experiments.training`` (the paper's MLP, the package's
small CNN, SGD with momentum, learning rate / 10 for the last quarter), with the knobs the
study needs: bounded (sigmoid) scores for UniLoss, stratified batches, a custom anchor
sampler (via ``studies/adapter.py``), diagnostics, and a data protocol in which the test
split is read only when asked (``test=True``).

Data protocol
-------------
* ``fashion``: the 60,000 Fashion-MNIST training images are permuted by ``data_seed``; the
  first ``n_val`` (default 10,000, about 1,000 positives per class) are the validation split,
  the next ``n_train`` (default: all the rest, 50,000) the training split. The official
  10,000 test images are the test split.
* ``digits``: the package's seeded digits split (80% train, 20% test, stratified) with seed
  ``data_seed``; ``fold=k`` (of ``folds``) makes fold ``k`` of a stratified ``folds``-way
  partition of the training part the validation split and the rest the training split
  (k-fold cross-validation). Without ``fold`` the validation split is the package's 10%.

One run::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python -m studies.loop '{"loss": "bce", "n_train": 6000}'
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.tracer import getval

from studies.adapter import make_metric, make_uniloss, pull_shares
from uniloss_ref.experiments.nn import mlp, small_cnn
from uniloss_ref.experiments.nn.losses import _sigmoid, bce_with_logits, softmax_cross_entropy
from uniloss_ref.experiments.nn.optim import SGD, tree_map

CACHE = Path("/tmp/uniloss_study_cache")

DEFAULTS: dict[str, Any] = {
    "task": "ap",
    "data": "fashion",
    "positive": 6,
    "n_train": None,
    "n_val": 10000,
    "data_seed": 0,
    "fold": None,
    "folds": 5,
    "seed": 0,
    "loss": "uniloss",
    "bound": "none",
    "temperature": 1.0,
    "anchors": {"current": 1},
    "nearby": "random",
    "unrealisable": "zero",
    "power": 1.0,
    "lr": 0.01,
    "momentum": 0.9,
    "epochs": 10,
    "batch": 16,
    "drop": 0.75,
    "batches": "random",
    "diag": False,
    "diag_every": 20,
    "test": False,
}


def _fashion_arrays() -> dict[str, np.ndarray]:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "fashion.npz"
    if not path.exists():
        from uniloss_ref.experiments.data import load_idx

        ds = load_idx("fashion-mnist", dtype=np.float32)
        tmp = CACHE / "fashion.tmp.npz"
        np.savez(tmp, X_train=ds.X_train, y_train=ds.y_train, X_test=ds.X_test, y_test=ds.y_test)
        tmp.replace(path)
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


_MEMO: dict[str, Any] = {}


def load(cfg: dict[str, Any]) -> dict[str, np.ndarray]:
    """Train / validation / test arrays for ``cfg`` (labels 0/1 for AP, classes otherwise)."""
    if cfg["data"] == "fashion":
        if "fashion" not in _MEMO:
            _MEMO["fashion"] = _fashion_arrays()
        a = _MEMO["fashion"]
        order = np.random.default_rng(cfg["data_seed"]).permutation(len(a["y_train"]))
        val, rest = order[: cfg["n_val"]], order[cfg["n_val"] :]
        train = rest if cfg["n_train"] is None else rest[: cfg["n_train"]]
        out = {
            "X_train": a["X_train"][train], "y_train": a["y_train"][train],
            "X_val": a["X_train"][val], "y_val": a["y_train"][val],
            "X_test": a["X_test"], "y_test": a["y_test"],
        }
    elif cfg["data"] == "digits":
        from uniloss_ref.experiments.data import load_digits, split_validation

        ds = load_digits(seed=cfg["data_seed"], dtype=np.float32)
        if cfg["fold"] is None:
            ds = split_validation(ds, 0.1, np.random.default_rng([cfg["data_seed"], 1]))
            out = {"X_train": ds.X_train, "y_train": ds.y_train, "X_val": ds.X_val,
                   "y_val": ds.y_val, "X_test": ds.X_test, "y_test": ds.y_test}
        else:
            y = ds.y_train
            fold_of = np.empty(len(y), dtype=int)
            rng = np.random.default_rng([cfg["data_seed"], 2])
            for cls in np.unique(y):
                idx = rng.permutation(np.flatnonzero(y == cls))
                fold_of[idx] = np.arange(idx.size) % cfg["folds"]
            val = fold_of == cfg["fold"]
            out = {"X_train": ds.X_train[~val], "y_train": y[~val], "X_val": ds.X_train[val],
                   "y_val": y[val], "X_test": ds.X_test, "y_test": ds.y_test}
    else:
        raise ValueError(f"unknown data {cfg['data']!r}")
    if cfg["task"] == "ap":
        for k in ("y_train", "y_val", "y_test"):
            out[k] = (out[k] == cfg["positive"]).astype(np.int64)
    return out


def batches(y: np.ndarray, size: int, how: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Index batches of one epoch: a random permutation, or stratified by class so every
    batch holds (nearly) the same share of each class (``how='stratified'``)."""
    n = len(y)
    if how == "random":
        order = rng.permutation(n)
    else:  # place every class evenly along the epoch, then cut into consecutive batches
        key = np.empty(n)
        for cls in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == cls))
            key[idx] = (np.arange(idx.size) + rng.random()) / idx.size
        order = np.argsort(key + 1e-9 * rng.random(n), kind="stable")
    return [order[i : i + size] for i in range(0, n, size)]


def mlp_step(params: list, x: np.ndarray, y: np.ndarray, head_grad) -> tuple[list, np.ndarray]:
    """Gradient of the loss for the package's MLP, back-propagated by hand (exact).

    ``autograd.grad`` with respect to the list-of-dicts parameters spends most of a step
    building zero gradients for the container (``_mut_add``): 15.7 ms against 0.7 ms for the
    forward pass at batch 16. Autograd here differentiates only the loss in the raw output
    ``z``; the three dense layers are done by hand.
    """
    x = x.reshape(len(x), -1).astype(np.float64)
    acts = [x]
    h = x
    for layer in params[:-1]:
        h = np.maximum(h @ layer["w"] + layer["b"], 0.0)
        acts.append(h)
    z = (h @ params[-1]["w"] + params[-1]["b"]).reshape(-1)
    gz, s = head_grad(z, y)
    g = np.reshape(gz, (-1, 1))
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        grads[i] = {"w": acts[i].T @ g, "b": g.sum(axis=0)}
        if i:
            g = (g @ params[i]["w"].T) * (acts[i] > 0)
    return grads, s


def _norm(tree: Any) -> float:
    total = [0.0]
    tree_map(lambda g: total.__setitem__(0, total[0] + float(np.sum(g * g))), tree)
    return math.sqrt(total[0])


def run(cfg: dict[str, Any], log=None) -> dict[str, Any]:
    """Train once; return a JSON-ready record (config, per-epoch history, diagnostics)."""
    cfg = {**DEFAULTS, **cfg}
    data = load(cfg)
    streams = dict(zip(("init", "order", "anchors", "diag"),
                       np.random.default_rng(cfg["seed"]).spawn(4), strict=True))
    task = cfg["task"]
    if task == "ap":
        model = mlp((int(np.prod(data["X_train"].shape[1:])), 500, 300, 1))
    else:
        model = small_cnn(data["X_train"].shape[1:], channels=(16, 32), hidden=64,
                          n_classes=int(data["y_train"].max()) + 1)
    metric = make_metric(task)
    uniloss = cfg["loss"].startswith("uniloss")
    if uniloss:
        loss_fn = make_uniloss(task, streams["anchors"], temperature=cfg["temperature"],
                               anchors=cfg["anchors"], nearby=cfg["nearby"],
                               unrealisable=cfg["unrealisable"], power=cfg["power"],
                               gradient=("authors" if cfg["loss"] == "uniloss-authors"
                                         else "autograd"))
    else:
        loss_fn = bce_with_logits if cfg["loss"] == "bce" else softmax_cross_entropy

    def bound(z):
        if not uniloss or cfg["bound"] == "none":
            return z
        if cfg["bound"] == "sigmoid":
            return _sigmoid(z)
        if cfg["bound"] == "standardise":  # z / sd(z) over the batch (AP: ranking unchanged)
            return z / anp.sqrt(anp.var(z) + 1e-12)
        if cfg["bound"] == "standardise-const":  # the same, sd held constant for the gradient
            return z / np.sqrt(np.var(getval(z)) + 1e-12)
        raise ValueError(f"unknown bound {cfg['bound']!r}")

    def scores_of(params, x):  # for evaluation: raw outputs (every bound keeps the ranking)
        out = model.apply(params, x)
        return anp.reshape(out, (-1,)) if task == "ap" else out

    def objective(params, x, y):
        s = bound(scores_of(params, x))
        value = loss_fn(s, y)
        return value, getval(s)

    def head(z, y):  # loss as a function of the network's raw output
        s = bound(z)
        return loss_fn(s, y), getval(s)

    head_grad = autograd.grad_and_aux(head)

    def step(params, x, y):
        if task != "ap":
            return autograd.grad_and_aux(objective)(params, x, y)
        return mlp_step(params, x, y, head_grad)

    def predict(params, X):
        return np.concatenate([scores_of(params, X[i : i + 1000]) for i in range(0, len(X), 1000)])

    params = model.init_params(streams["init"])
    opt = SGD(cfg["lr"], momentum=cfg["momentum"])
    drop_epoch = None if cfg["drop"] is None else max(1, round(cfg["drop"] * cfg["epochs"]))
    history, diag_steps, diag_epochs = [], [], []
    started = time.perf_counter()
    for epoch in range(1, cfg["epochs"] + 1):
        opt.lr = cfg["lr"] * (0.1 if drop_epoch is not None and epoch > drop_epoch else 1.0)
        t0 = time.perf_counter()
        sat_right, sat_wrong, n_right, n_wrong, cmax = 0, 0, 0, 0, 0.0
        for k, index in enumerate(batches(data["y_train"], cfg["batch"], cfg["batches"],
                                          streams["order"])):
            x, y = data["X_train"][index], data["y_train"][index]
            grads, s = step(params, x, y)
            if cfg["diag"]:
                n_pos = int(y.sum()) if task == "ap" else -1
                rec = {"epoch": epoch, "n_pos": n_pos, "grad_norm": _norm(grads)}
                if uniloss:
                    c = np.asarray(metric.comparisons(s, y))
                    if c.size:
                        b = np.tanh(c / (2 * cfg["temperature"]))
                        sat = np.abs(b) > 0.99
                        sat_right += int((sat & (c > 0)).sum())
                        sat_wrong += int((sat & (c <= 0)).sum())
                        n_right += int((c > 0).sum())
                        n_wrong += int((c <= 0).sum())
                        cmax = max(cmax, float(np.abs(c).max()))
                    if k % cfg["diag_every"] == 0 and c.size:
                        keep = loss_fn.inner.rng
                        loss_fn.inner.rng = streams["diag"]
                        ev = loss_fn.inspect(s, y)
                        loss_fn.inner.rng = keep
                        rec.update(pull_shares(ev))
                        rec["batch_metric"] = ev.batch_metric
                        rec["surrogate"] = ev.surrogate
                diag_steps.append(rec)
            params = opt.step(params, grads)
        val_scores = predict(params, data["X_val"])
        val = metric.evaluate(val_scores, data["y_val"])
        history.append({"epoch": epoch, "val": val, "seconds": time.perf_counter() - t0})
        if cfg["diag"]:
            raw = np.concatenate([np.reshape(model.apply(params, data["X_val"][i:i + 1000]), (-1,))
                                  for i in range(0, min(len(data["X_val"]), 3000), 1000)])
            diag_epochs.append({
                "epoch": epoch,
                "raw_score_sd": float(np.std(raw)),
                "raw_score_absmax": float(np.abs(raw).max()),
                "sat_share_right": sat_right / max(n_right, 1),
                "sat_share_wrong": sat_wrong / max(n_wrong, 1),
                "train_c_absmax": cmax,
            })
        if log:
            print(f"  epoch {epoch:3d} val {val:.4f} ({history[-1]['seconds']:.1f}s)",
                  file=log, flush=True)
    record = {
        "config": cfg,
        "n": {k: len(data[k]) for k in ("y_train", "y_val", "y_test")},
        "positives": ({k: int(data[k].sum()) for k in ("y_train", "y_val", "y_test")}
                      if task == "ap" else None),
        "history": history,
        "val": history[-1]["val"],
        "seconds": time.perf_counter() - started,
    }
    if cfg["diag"]:
        record["diag_steps"] = diag_steps
        record["diag_epochs"] = diag_epochs
    if cfg["test"]:
        record["test"] = metric.evaluate(predict(params, data["X_test"]), data["y_test"])
    return record


if __name__ == "__main__":
    rec = run(json.loads(sys.argv[1]), log=sys.stderr)
    rec.pop("diag_steps", None)
    print(json.dumps(rec))
