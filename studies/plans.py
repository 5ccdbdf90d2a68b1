"""The plans of the AP-instability study (``RESULTS.md``), on today's training loop.

Each plan returns ``[(tag, options), ...]`` for :mod:`uniloss_ref.experiments.study`. The
plans are written in the study's own terms (``bound``, ``batch``, ``nearby``, anchor counts
on top of the paper's 1/16/16/16 with the current anchor, ...); :func:`legacy` turns each into
the options of today's :class:`~uniloss_ref.experiments.training.TrainConfig` and data
protocol. Runs that need something today's loop does not offer are left out of a plan and
listed by :func:`left_out`: ``unrealisable="counts"`` (an option of the metric, not of a
training run), an IDW power other than 1, the standard deviation held constant in the
gradient, and the diagnostics of ``diag``. The original runs, in the original loop, are in
``logs/PLAN.jsonl``; re-runs go to ``logs/rerun/PLAN.jsonl`` (``studies/queue.py``). A re-run
repeats a setting, not its numbers: the old loop drew initialisation, batches and anchors
from differently ordered streams of the seed.

Seeds: selection seeds 0-4 (screening uses 0-2), held-out reporting seeds 10-19. For
Fashion-MNIST the seed also fixes which images form the validation split and the training
subset; the test split is read only by the ``final_*`` and ``every_class_*`` plans.
"""

from __future__ import annotations

from typing import Any

SCREEN = (0, 1, 2)
HELD_OUT = tuple(range(10, 20))

# The Fashion-MNIST screening set-up: a 6,000-image training subset (as in the issue),
# 10 epochs, validation on 10,000 other training images (about 1,000 positives).
FM = {"data": "fashion", "n_train": 6000, "epochs": 10}


def _seeds(seeds, **cfg):
    return [dict(cfg, seed=s, data_seed=s) for s in seeds]


def hardest():
    """BCE on every Fashion-MNIST class vs the rest, one seed (cheap): which is hardest."""
    return [(f"bce-class{c}", cfg) for c in range(10)
            for cfg in _seeds((0,), **FM, loss="bce", positive=c, lr=0.03)]


UNI = {"loss": "uniloss", "lr": 0.01}
BCE = {"loss": "bce", "lr": 0.03}


def ablate():
    """Single-lever ablations around the task defaults, shirt vs rest, screening set-up."""
    base = dict(FM, positive=6)
    rows = [
        ("bce", BCE),
        ("bce stratified", dict(BCE, batches="stratified")),
        ("bce batch64", dict(BCE, batch=64)),
        ("uniloss default (tau1, current, nearby random, zero)", UNI),
        ("uniloss no current", dict(UNI, anchors={"current": 0})),
        ("uniloss sigmoid", dict(UNI, bound="sigmoid")),
        ("uniloss batch64", dict(UNI, batch=64)),
        ("uniloss nearby margin", dict(UNI, nearby="margin")),
        ("uniloss counts", dict(UNI, unrealisable="counts")),
        ("uniloss stratified", dict(UNI, batches="stratified")),
        ("uniloss tau0.3", dict(UNI, temperature=0.3)),
        ("uniloss tau3", dict(UNI, temperature=3.0)),
        ("uniloss lr0.003", dict(UNI, lr=0.003)),
        ("uniloss lr0.03", dict(UNI, lr=0.03)),
        ("uniloss no bad", dict(UNI, anchors={"current": 1, "bad": 0})),
        ("uniloss no nearby", dict(UNI, anchors={"current": 1, "nearby": 0})),
        ("uniloss no good", dict(UNI, anchors={"current": 1, "good": 0})),
    ]
    return [(tag, cfg) for tag, extra in rows for cfg in _seeds(SCREEN, **{**base, **extra})]


STD_DIAG = dict(UNI, bound="standardise", temperature=3.0, lr=0.01)


def diag():
    """Mechanisms: gradient norm vs batch composition, saturation, anchor pull (seed 0)."""
    base = dict(FM, positive=6, diag=True, diag_every=10)
    rows = [
        ("bce", BCE),
        ("uniloss default", UNI),
        ("uniloss no current", dict(UNI, anchors={"current": 0})),
        ("uniloss sigmoid", dict(UNI, bound="sigmoid")),
        ("uniloss batch64", dict(UNI, batch=64)),
        ("uniloss standardised tau3", STD_DIAG),
        ("uniloss standardised tau3, margin, stratified", dict(STD_DIAG, nearby="margin",
                                                              batches="stratified")),
    ]
    return [(tag, cfg) for tag, extra in rows for cfg in _seeds((0,), **base, **extra)]


def bounded():
    """Bounded scores: sigmoid outputs (the authors') or batch-standardised scores
    (z / sd(z), scale-free), each over temperature x learning rate; shirt, screening."""
    base = dict(FM, positive=6)
    rows = []
    for bound in ("sigmoid", "standardise"):
        for tau in ((1.0, 0.3, 0.1) if bound == "sigmoid" else (3.0, 1.0, 0.3)):
            for lr in (0.01, 0.03, 0.1):
                rows.append((f"uniloss {bound} tau{tau} lr{lr}",
                             dict(UNI, bound=bound, temperature=tau, lr=lr)))
    return [(tag, cfg) for tag, extra in rows for cfg in _seeds(SCREEN, **{**base, **extra})]


STD = dict(UNI, bound="standardise", temperature=3.0, lr=0.01)


def around_std():
    """Levers around batch-standardised scores (tau 3, lr 0.01); shirt, screening."""
    base = dict(FM, positive=6)
    rows = [
        ("std tau10", dict(STD, temperature=10.0)),
        ("std lr0.003", dict(STD, lr=0.003)),
        ("std nearby margin", dict(STD, nearby="margin")),
        ("std no current", dict(STD, anchors={"current": 0})),
        ("std counts", dict(STD, unrealisable="counts")),
        ("std stratified", dict(STD, batches="stratified")),
        ("std batch64", dict(STD, batch=64)),
        ("std batch64 lr0.03", dict(STD, batch=64, lr=0.03)),
        ("std no bad", dict(STD, anchors={"current": 1, "bad": 0})),
        ("std no nearby", dict(STD, anchors={"current": 1, "nearby": 0})),
        ("std no good", dict(STD, anchors={"current": 1, "good": 0})),
        ("std sd held constant", dict(STD, bound="standardise-const")),
    ]
    return [(tag, cfg) for tag, extra in rows for cfg in _seeds(SCREEN, **{**base, **extra})]


DIGITS = {"data": "digits", "positive": 8, "epochs": 60}


def _cv(seeds, **cfg):
    """5-fold cross-validation inside the digits training split, per selection seed."""
    return [dict(cfg, seed=s, data_seed=s, fold=k) for s in seeds for k in range(5)]


def digits_cv():
    """Digit 8 vs rest, 60 epochs (task defaults), 5-fold CV x seeds 0-2."""
    rows = [
        ("bce", BCE),
        ("uniloss default", UNI),
        ("bce stratified", dict(BCE, batches="stratified")),
        ("uniloss recommended", RECOMMENDED),
    ]
    return [(tag, cfg) for tag, extra in rows for cfg in _cv(SCREEN, **DIGITS, **extra)]


REC = dict(STD, nearby="margin", batches="stratified")
# The recommendation after `combine`: the current anchor is neutral once scores are
# standardised (+0.05 ± 0.48 without it), so the paper's anchor set without it.
RECOMMENDED = dict(REC, anchors={"current": 0})


def combine():
    """Combinations of the levers that won alone; shirt, screening."""
    base = dict(FM, positive=6)
    rows = [
        ("std margin stratified", REC),
        ("std margin stratified no current", dict(REC, anchors={"current": 0})),
        ("std margin stratified batch64 lr0.03", dict(REC, batch=64, lr=0.03)),
        ("std margin stratified tau2", dict(REC, temperature=2.0)),
        ("std margin stratified tau5", dict(REC, temperature=5.0)),
        ("std margin stratified bad32", dict(REC, anchors={"current": 1, "bad": 32})),
        ("std margin stratified bad8", dict(REC, anchors={"current": 1, "bad": 8})),
    ]
    return [(tag, cfg) for tag, extra in rows for cfg in _seeds(SCREEN, **{**base, **extra})]


FULL = {"data": "fashion", "n_train": None, "epochs": 10}


def full_confirm():
    """Full training split (50,000; validation 10,000 other training images), selection
    seeds 0-2: do the screening winners hold at full size?"""
    base = dict(FULL, positive=6)
    rows = [
        ("bce", BCE),
        ("bce stratified", dict(BCE, batches="stratified")),
        ("uniloss default", UNI),
        ("uniloss recommended", RECOMMENDED),
        ("uniloss recommended batch64 lr0.03", dict(RECOMMENDED, batch=64, lr=0.03)),
    ]
    return [(tag, cfg) for tag, extra in rows for cfg in _seeds(SCREEN, **{**base, **extra})]


ACC = {"task": "accuracy", "data": "fashion", "n_train": 6000, "n_val": 5000, "epochs": 10,
       "batch": 32}
ACC_UNI = {"loss": "uniloss", "lr": 0.01, "temperature": 0.3, "anchors": {"current": 1, "row": 16}}


def acc_screen():
    """Fashion-MNIST 10 classes, the package's small CNN, 6,000 training images, 10 epochs."""
    rows = [
        ("ce", {"loss": "ce", "lr": 0.01}),
        ("uniloss task default (tau0.3, current, 16 row)", ACC_UNI),
        ("uniloss std tau3 margin", dict(ACC_UNI, bound="standardise", temperature=3.0,
                                         nearby="margin", anchors={"current": 0, "row": 16})),
        ("uniloss std tau1 margin", dict(ACC_UNI, bound="standardise", temperature=1.0,
                                         nearby="margin", anchors={"current": 0, "row": 16})),
    ]
    return [(tag, cfg) for tag, extra in rows for cfg in _seeds(SCREEN, **ACC, **extra)]


def more_levers():
    """What could close the last points: row anchors, more nearby anchors, lr, and whether
    the gap is one of speed (20 epochs for both losses); shirt, screening."""
    base = dict(FM, positive=6)
    R = RECOMMENDED
    rows = [
        ("recommended", R),
        ("recommended + 16 row", dict(R, anchors={"current": 0, "row": 16})),
        ("recommended, 16 row instead of nearby", dict(R, anchors={"current": 0, "nearby": 0,
                                                                   "row": 16})),
        ("recommended, 32 nearby", dict(R, anchors={"current": 0, "nearby": 32})),
        ("recommended lr0.02", dict(R, lr=0.02)),
        ("bce stratified", dict(BCE, batches="stratified")),
        ("recommended 20 epochs", dict(R, epochs=20)),
        ("bce stratified 20 epochs", dict(BCE, batches="stratified", epochs=20)),
    ]
    return [(tag, cfg) for tag, extra in rows for cfg in _seeds(SCREEN, **{**base, **extra})]


def power():
    """IDW power p (sharpness of the interpolant in the interior); shirt, screening."""
    base = dict(FM, positive=6)
    rows = [(f"recommended p{p}", dict(RECOMMENDED, power=p)) for p in (2.0, 4.0)]
    return [(tag, cfg) for tag, extra in rows for cfg in _seeds(SCREEN, **{**base, **extra})]


# ---------------------------------------------------------------------------------------
# Held-out reporting: seeds 10-19, never used for selection; these plans read the test split.

BCE_REC = dict(BCE, batches="stratified")  # batches that always hold positives, every loss


def final_digits():
    """Digit 8 vs rest, task set-up (60 epochs), the package's split per seed; test read."""
    rows = [("bce", BCE_REC), ("uniloss default", UNI), ("uniloss recommended", RECOMMENDED)]
    return [(tag, dict(cfg, test=True)) for tag, extra in rows
            for cfg in _seeds(HELD_OUT, **{**DIGITS, **extra})]


def final_fashion():
    """Shirt vs rest, full training split (50,000), 10 epochs; test (10,000) read once."""
    base = dict(FULL, positive=6, test=True)
    rows = [("bce", BCE_REC, HELD_OUT), ("uniloss recommended", RECOMMENDED, HELD_OUT),
            ("uniloss default", UNI, HELD_OUT[:5])]
    return [(tag, cfg) for tag, extra, seeds in rows
            for cfg in _seeds(seeds, **{**base, **extra})]


def final_classes():
    """Every Fashion-MNIST class vs the rest, cheap set-up (6,000 images, 10 epochs),
    held-out seeds 10-12; test read."""
    return [(f"{name} class{c}", cfg) for c in range(10)
            for name, extra in (("bce", BCE_REC), ("uniloss", RECOMMENDED))
            for cfg in _seeds(HELD_OUT[:3], **{**FM, **extra, "positive": c, "test": True})]


def acc_more():
    """Accuracy: is the gap to cross-entropy one of speed (20 epochs), of the learning rate,
    or of saturation (diagnostics, seed 0)?"""
    rows = [
        ("uniloss default, diagnostics", dict(ACC_UNI, diag=True), (0,)),
        ("uniloss default lr0.03", dict(ACC_UNI, lr=0.03), SCREEN),
        ("ce 20 epochs", {"loss": "ce", "lr": 0.01, "epochs": 20}, (0, 1)),
        ("uniloss default 20 epochs", dict(ACC_UNI, epochs=20), (0, 1)),
    ]
    return [(tag, cfg) for tag, extra, seeds in rows for cfg in _seeds(seeds, **{**ACC, **extra})]


def every_class_a():
    """Every Fashion-MNIST class vs the rest (classes 0-4), screening set-up (6,000 images,
    10 epochs), held-out seed 10; test read."""
    return _every_class(range(0, 5))


def every_class_b():
    """As :func:`every_class_a`, classes 5-9."""
    return _every_class(range(5, 10))


def _every_class(classes):
    return [(f"{name} class{c}", cfg) for c in classes
            for name, extra in (("bce", BCE_REC), ("uniloss", RECOMMENDED))
            for cfg in _seeds(HELD_OUT[:1], **{**FM, **extra, "positive": c, "test": True})]


def final_fashion_rest():
    """The UniLoss seeds 16-19 that ``final_fashion`` did not reach."""
    base = dict(FULL, positive=6, test=True)
    return [("uniloss recommended", cfg)
            for cfg in _seeds(HELD_OUT[6:], **{**base, **RECOMMENDED})]


# ---------------------------------------------------------------------------------------
# The study's settings in today's terms.

OLD_DEFAULTS: dict[str, Any] = {
    "task": "ap",
    "data": "fashion",
    "positive": 6,
    "n_train": None,
    "n_val": 10000,
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
    "batches": "random",
    "diag": False,
    "test": False,
}
"""The study loop's defaults: raw scores, tau 1, the paper's anchors and the current one."""

PAPER_ANCHORS = {"truth": 1, "good": 16, "nearby": 16, "bad": 16, "current": 0, "row": 0}


def unsupported(cfg: dict[str, Any]) -> str | None:
    """Why today's loop cannot run a study setting (None when it can)."""
    c = {**OLD_DEFAULTS, **cfg}
    if c["unrealisable"] != "zero":
        return 'unrealisable="counts" is an option of the metric, not of a training run'
    if c["power"] != 1.0:
        return "the IDW power is not a training option"
    if c["bound"] == "standardise-const":
        return "sd held constant in the gradient is not offered"
    if c["diag"]:
        return "the diagnostics were recorded by the study's own loop"
    return None


def legacy(cfg: dict[str, Any]) -> dict[str, Any]:
    """A study setting as the options of :mod:`uniloss_ref.experiments.study`."""
    c = {**OLD_DEFAULTS, **cfg}
    options = {
        "task": c["task"],
        "loss": c["loss"],
        "seed": c["seed"],
        "lr": c["lr"],
        "momentum": c["momentum"],
        "epochs": c["epochs"],
        "batch_size": c["batch"],
        "batches": c["batches"],
        "temperature": c["temperature"],
        "anchors": {**PAPER_ANCHORS, **c["anchors"]},
        "nearby_rule": c["nearby"],
        "standardise": c["bound"] == "standardise",
        "sigmoid_output": c["bound"] == "sigmoid" and c["loss"].startswith("uniloss"),
        "test": c["test"],
    }
    if c["task"] == "ap":
        options["positive"] = c["positive"]
    if c["data"] == "fashion":
        options |= {"protocol": "fashion", "n_train": c["n_train"], "n_val": c["n_val"]}
    elif c["fold"] is not None:
        options |= {"protocol": "cv", "data": "digits", "fold": c["fold"], "folds": c["folds"]}
    else:
        options |= {"protocol": "package", "data": "digits"}
    return options


def left_out(name: str) -> list[tuple[str, str]]:
    """The (tag, reason) of every run of plan ``name`` that today's loop cannot run."""
    return [(tag, why) for tag, cfg in globals()[name]() if (why := unsupported(cfg))]


def runnable(name: str) -> list[tuple[str, dict[str, Any]]]:
    """Plan ``name`` as runs of :mod:`uniloss_ref.experiments.study`."""
    return [(tag, legacy(cfg)) for tag, cfg in globals()[name]() if not unsupported(cfg)]


PLANS = (
    "hardest ablate diag bounded around_std digits_cv combine full_confirm acc_screen "
    "more_levers power final_digits final_fashion final_classes acc_more every_class_a "
    "every_class_b final_fashion_rest"
).split()
