"""The equal-budget search of ``docs/reproduction.md``: its plans, run and tabulated.

Usage (from the repository root; one training process, one BLAS thread)::

    export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 PYTHONPATH=.
    nice -n 10 python -m studies.fair run PLAN       # appends to studies/logs/PLAN.jsonl
    python -m studies.fair table PLAN [--reference TAG] [--test]
    python -m studies.fair report                    # every table of docs/reproduction.md

Each plan is a function below returning ``[(tag, options), ...]`` for
:mod:`uniloss_ref.experiments.study`; a stage that starts from the best setting of the
previous one names that setting in ``BEST`` (filled in as the stages ran, each from the
table of the stage before).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from uniloss_ref.experiments.data.idx import IDX_CLASS_NAMES
from uniloss_ref.experiments.study import read_log, run_plan, table

LOGS = Path(__file__).parent / "logs"
SEEDS = (0, 1, 2)

AP = {"task": "ap", "positive": 6, "n_train": 6000, "epochs": 10, "dtype": "float32"}
ACCURACY = {"task": "accuracy", "n_train": 6000, "epochs": 10, "dtype": "float32"}


def _seeds(tag, seeds=SEEDS, **options):
    return [(tag, dict(options, seed=s)) for s in seeds]


def _grid(base, loss, **axes):
    """Every combination of the axes' values for one loss, tagged ``loss k=v k=v``."""
    runs = [({}, loss)]
    for name, values in axes.items():
        runs = [({**o, name: v}, f"{t} {name}={v}") for o, t in runs for v in values]
    return [run for options, tag in runs for run in _seeds(tag, **{**base, **options}, loss=loss)]


def ap_shared():
    """Stage 1 (AP): learning rate x batch size for both losses, stratified batches."""
    return [
        run
        for loss in ("uniloss", "bce")
        for run in _grid(AP, loss, lr=(0.003, 0.01, 0.03, 0.1), batch_size=(16, 64))
    ]


def accuracy_shared():
    """Stage 1 (accuracy): learning rate x batch size x weight decay for both losses."""
    return [
        run
        for loss in ("uniloss", "ce")
        for run in _grid(
            ACCURACY, loss, lr=(0.01, 0.03, 0.1), batch_size=(32, 128), weight_decay=(0.0, 1e-4)
        )
    ]


BEST = {
    # stage 1 (ap_shared): the highest mean validation AP of each loss's 8 settings; stage 2
    # (ap_sampler) kept stratified batches for both: UniLoss's best, and the comparison needs
    # one sampler for both losses (BCE with random batches: +0.22 ± 0.26, within noise)
    "ap uniloss": {"lr": 0.03, "batch_size": 64},
    "ap bce": {"lr": 0.01, "batch_size": 16},
    # stage 1 (accuracy_shared): the highest mean validation accuracy of each loss's 12
    "accuracy uniloss": {"lr": 0.1, "batch_size": 128, "weight_decay": 1e-4},
    "accuracy ce": {"lr": 0.03, "batch_size": 32, "weight_decay": 1e-4},
}


def _best(task, loss):
    base = AP if task == "ap" else ACCURACY
    return {**base, **BEST[f"{task} {loss}"]}


def _tagged(loss, tag, options):
    return _seeds(f"{loss} {tag}", **{"loss": loss, **options})


def ap_sampler():
    """Stage 2 (AP): random and balanced batches at each loss's best shared setting."""
    return [
        run
        for loss in ("uniloss", "bce")
        for batches in ("random", "balanced")
        for run in _tagged(loss, f"batches={batches}", {**_best("ap", loss), "batches": batches})
    ]


AP_OWN = {
    "uniloss": {
        "memory=64": {"memory": 64},
        "memory=256": {"memory": 256},
        "K x2": {"anchors": {"good": 32, "nearby": 32, "bad": 32}},
        "tau=2": {"temperature": 2.0},
        "tau=5": {"temperature": 5.0},
        "+ current, 16 row": {"anchors": {"current": 1, "row": 16}},
        "hybrid 0.1": {"loss": "uniloss-hybrid", "hybrid_weight": 0.1},
        "hybrid 0.3": {"loss": "uniloss-hybrid", "hybrid_weight": 0.3},
    },
    "bce": {
        "pos_weight=2": {"pos_weight": 2.0},
        "pos_weight=4": {"pos_weight": 4.0},
        "pos_weight=9": {"pos_weight": 9.0},
        "weight_decay=1e-4": {"weight_decay": 1e-4},
        "weight_decay=1e-3": {"weight_decay": 1e-3},
        "momentum=0.5": {"momentum": 0.5},
        "momentum=0.95": {"momentum": 0.95},
        "batch_size=32": {"batch_size": 32},
    },
}
"""Stage 3 (AP): eight options of each loss's own, at its best shared setting."""


def ap_own():
    """Stage 3 (AP): each loss's own options (:data:`AP_OWN`) at its best so far."""
    return _own("ap", AP_OWN)


AP_COMBINE = {
    # the two best options of stage 3 together (UniLoss: of its own, the hybrid aside), and
    # 20 epochs at the best so far
    "uniloss": {
        "K x2, tau=2": {"anchors": {"good": 32, "nearby": 32, "bad": 32}, "temperature": 2.0},
        "20 epochs": {"epochs": 20},
    },
    "bce": {
        "weight_decay=1e-4, pos_weight=2": {"weight_decay": 1e-4, "pos_weight": 2.0},
        "weight_decay=1e-4, 20 epochs": {"weight_decay": 1e-4, "epochs": 20},
    },
}


def ap_combine():
    """Stage 4 (AP): :data:`AP_COMBINE`."""
    return _own("ap", AP_COMBINE)


def ap_memory_probe():
    """Outside the equal budget: the memory at batch 16 (one or two positives a batch, where
    it should matter most), UniLoss's former default rate 0.01; compare with ap_shared's
    'uniloss lr=0.01 batch_size=16'."""
    base = {**AP, "lr": 0.01, "batch_size": 16}
    return [
        run
        for m in (16, 64, 256)
        for run in _tagged("uniloss", f"b16 memory={m}", {**base, "memory": m})
    ]


AP_EXTRA = {
    # Stage 5 (AP), added after stage 3: a memory of every sample adds comparisons between
    # two remembered samples, constants that the anchors mostly flip. A memory of the
    # negatives only adds none (each pair holds a batch sample). Three more configurations
    # for each loss, so the budgets stay equal.
    "uniloss": {
        "memory=64 of negatives": {"memory": 64, "memory_of": "negatives"},
        "memory=256 of negatives": {"memory": 256, "memory_of": "negatives"},
        "b16 lr=0.01 memory=256 of negatives": {
            "batch_size": 16,
            "lr": 0.01,
            "memory": 256,
            "memory_of": "negatives",
        },
    },
    "bce": {
        "weight_decay=1e-4, lr=0.005": {"weight_decay": 1e-4, "lr": 0.005},
        "weight_decay=1e-4, lr=0.02": {"weight_decay": 1e-4, "lr": 0.02},
        "weight_decay=1e-4, batch_size=8": {"weight_decay": 1e-4, "batch_size": 8},
    },
}


def ap_extra():
    """Stage 5 (AP): :data:`AP_EXTRA`."""
    return _own("ap", AP_EXTRA)


AP_ZSCORES = {
    # Stage 6 (AP), added after stage 5: a memory of negatives alone collapsed training
    # (validation AP 16-17): raising every score of the current batch beats the stale
    # remembered ones without ranking anything. A memory of each batch's z-scores is blind
    # to such a shift. Three more configurations for each loss.
    "uniloss": {
        "memory=64 z-scores": {"memory": 64, "memory_standardise": True},
        "memory=256 z-scores": {"memory": 256, "memory_standardise": True},
        "memory=256 of negatives, z-scores": {
            "memory": 256,
            "memory_of": "negatives",
            "memory_standardise": True,
        },
    },
    "bce": {
        "weight_decay=1e-4, momentum=0.8": {"weight_decay": 1e-4, "momentum": 0.8},
        "weight_decay=3e-4": {"weight_decay": 3e-4},
        "weight_decay=1e-4, lr=0.0075": {"weight_decay": 1e-4, "lr": 0.0075},
    },
}


def ap_zscores():
    """Stage 6 (AP): :data:`AP_ZSCORES`."""
    return _own("ap", AP_ZSCORES)


AP_FULL = {"task": "ap", "positive": 6, "epochs": 10, "dtype": "float32"}  # 50,000 images


def ap_full():
    """Full size (AP): each loss's current default and its best screening setting, and the
    best hybrid, on seeds 0-2, validation only."""
    rows = [
        ("uniloss default", {"loss": "uniloss"}),
        ("uniloss lr=0.03 batch_size=64", {"loss": "uniloss", "lr": 0.03, "batch_size": 64}),
        ("bce default", {"loss": "bce"}),
        ("bce lr=0.01 weight_decay=1e-4", {"loss": "bce", "lr": 0.01, "weight_decay": 1e-4}),
        (
            "uniloss-hybrid 0.3 lr=0.03 batch_size=64",
            {"loss": "uniloss-hybrid", "hybrid_weight": 0.3, "lr": 0.03, "batch_size": 64},
        ),
    ]
    return [run for tag, options in rows for run in _seeds(tag, **AP_FULL, **options)]


def ap_digits_check():
    """The AP changes that won at full size on Fashion-MNIST, on the digits (digit 8 against
    the rest, 60 epochs): 5-fold CV inside the training split, seeds 0-2."""
    base = {"task": "ap", "protocol": "cv", "folds": 5}
    rows = [
        ("uniloss default", {}),
        ("uniloss lr=0.03 batch_size=64", {"lr": 0.03, "batch_size": 64}),
        ("bce default", {}),
        ("bce lr=0.01 weight_decay=1e-4", {"lr": 0.01, "weight_decay": 1e-4}),
    ]
    return [run for tag, options in rows for run in _cv(tag, base, tag.split()[0], **options)]


FINAL_AP = {
    "uniloss": {"loss": "uniloss", "lr": 0.03, "batch_size": 64},
    "bce": {"loss": "bce", "lr": 0.01, "weight_decay": 1e-4},
    "uniloss-hybrid": {
        "loss": "uniloss-hybrid",
        "hybrid_weight": 0.3,
        "lr": 0.03,
        "batch_size": 64,
    },
}
"""The AP settings chosen on Fashion-MNIST validation (shirt), for every loss."""

HELD_OUT = (20, 21, 22)


def every_class():
    """Held out: every Fashion-MNIST class against the rest at screening size (6,000
    training images, 10 epochs), seeds 20-22, the test split read once. Seed by seed,
    UniLoss and BCE before the hybrid, so that a plan stopped early leaves paired rows."""
    pairs = [
        (name, c, seed)
        for names in (("uniloss", "bce"), ("uniloss-hybrid",))
        for seed in HELD_OUT
        for c in range(10)
        for name in names
    ]
    return [
        (
            f"{name} class {c}",
            {**AP, **FINAL_AP[name], "positive": c, "test": True, "seed": seed},
        )
        for name, c, seed in pairs
    ]


def held_out_ap():
    """Held out: the chosen AP settings (:data:`FINAL_AP`) at full size (50,000 training
    images), shirt against the rest, seeds 20-22, the test split read once."""
    return [
        run
        for name, options in FINAL_AP.items()
        for run in _seeds(f"{name} chosen", HELD_OUT, **{**AP_FULL, **options, "test": True})
    ]


AUTHORS_CIFAR = {
    "sigmoid_output": True,
    "batch_size": 128,
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "temperature": 1.0,
    "anchors": {"current": 0, "row": 0},
}
"""The authors' CIFAR set-up: sigmoid outputs, batch 128, SGD lr 0.1 momentum 0.9, weight
decay 1e-4, tau 1, their 49 anchors (1 truth, 16 good, 16 nearby, 16 bad)."""

ACCURACY_OWN = {
    "uniloss": {
        "tau=0.1": {"temperature": 0.1},
        "tau=1": {"temperature": 1.0},
        "standardised tau=1": {"standardise": True, "temperature": 1.0},
        "margin=0.5": {"margin": 0.5},
        "margin=1": {"margin": 1.0},
        "margin=2": {"margin": 2.0},
        "authors' CIFAR set-up": AUTHORS_CIFAR,
        "sigmoid tau=0.3": {"sigmoid_output": True, "temperature": 0.3},
        "K x3": {"anchors": {"good": 48, "nearby": 48, "bad": 48}},
        "hybrid 0.1": {"loss": "uniloss-hybrid", "hybrid_weight": 0.1},
    },
    "ce": {
        "momentum=0.5": {"momentum": 0.5},
        "momentum=0.95": {"momentum": 0.95},
        "weight_decay=5e-4": {"weight_decay": 5e-4},
        "weight_decay=1e-3": {"weight_decay": 1e-3},
        "lr=0.02": {"lr": 0.02},
        "lr=0.05": {"lr": 0.05},
        "batch_size=16": {"batch_size": 16},
        "batch_size=64": {"batch_size": 64},
        "batch_size=256": {"batch_size": 256},
        "lr=0.2": {"lr": 0.2},
    },
}
"""Stage 3 (accuracy): ten options of each loss's own, at its best shared setting."""


def _own(task, table):
    runs = []
    for loss, options in table.items():
        for name, change in options.items():
            runs += _tagged(loss, name, {**_best(task, loss), **change})
    return runs


def accuracy_sampler():
    """Stage 2 (accuracy): stratified batches at each loss's best shared setting."""
    return [
        run
        for loss in ("uniloss", "ce")
        for run in _tagged(
            loss, "batches=stratified", {**_best("accuracy", loss), "batches": "stratified"}
        )
    ]


def accuracy_own():
    """Stage 3 (accuracy): each loss's own options (:data:`ACCURACY_OWN`)."""
    return _own("accuracy", ACCURACY_OWN)


K_X3 = {"anchors": {"good": 48, "nearby": 48, "bad": 48}}

ACCURACY_COMBINE = {
    # Stage 4 (accuracy): each loss's two best own options of stage 3 on different axes
    # together (UniLoss's, the hybrid aside; cross-entropy's two best were both weight
    # decay, so its best weight decay with its best learning rate), and 20 epochs at its
    # best so far (the stage-3 winner)
    "uniloss": {
        "K x3, standardised tau=1": {**K_X3, "standardise": True, "temperature": 1.0},
        "K x3, 20 epochs": {**K_X3, "epochs": 20},
    },
    "ce": {
        "weight_decay=1e-3, lr=0.02": {"weight_decay": 1e-3, "lr": 0.02},
        "weight_decay=1e-3, 20 epochs": {"weight_decay": 1e-3, "epochs": 20},
    },
}


def accuracy_combine():
    """Stage 4 (accuracy): :data:`ACCURACY_COMBINE`."""
    return _own("accuracy", ACCURACY_COMBINE)


ACCURACY_FULL = {"task": "accuracy", "epochs": 10, "dtype": "float32"}  # 50,000 images

FINAL_ACCURACY = {
    "uniloss": {"loss": "uniloss", **BEST["accuracy uniloss"], **K_X3, "epochs": 20},
    "ce": {"loss": "ce", **BEST["accuracy ce"], "weight_decay": 1e-3, "epochs": 20},
}
"""The accuracy settings chosen on Fashion-MNIST validation at screening size (stages 1-4),
for both losses; the held-out rows train them. At 10 epochs both won at full size over the
task defaults (:func:`accuracy_full_check`), and the Fashion profile trains them
(``FASHION_ACCURACY`` in :mod:`uniloss_ref.experiments.reproduce`)."""


def _held_out_accuracy(names):
    return [
        run
        for name in names
        for run in _seeds(
            f"{name} chosen", HELD_OUT, **{**ACCURACY_FULL, **FINAL_ACCURACY[name], "test": True}
        )
    ]


def held_out_accuracy_uniloss():
    """Held out: UniLoss at its chosen accuracy setting (:data:`FINAL_ACCURACY`) at full size
    (50,000 training images), seeds 20-22, the test split read once."""
    return _held_out_accuracy(["uniloss"])


def held_out_accuracy_ce():
    """Held out: cross-entropy at its chosen accuracy setting, as
    :func:`held_out_accuracy_uniloss` (a plan of its own so that both can run at once)."""
    return _held_out_accuracy(["ce"])


def accuracy_full_check():
    """Full size (50,000 images), validation, seeds 0-2, 10 epochs (the Fashion profile's
    length): each loss at the task defaults beside its chosen setting without the extra
    epochs (:data:`FINAL_ACCURACY` at 10 epochs). The profile's accuracy rows take the chosen
    setting of a loss only if it wins here."""
    settings = []
    for name in ("uniloss", "ce"):
        settings.append((f"{name} default", {**ACCURACY_FULL, "loss": name}))
        chosen = {**ACCURACY_FULL, **FINAL_ACCURACY[name], "epochs": 10}
        settings.append((f"{name} chosen, 10 epochs", chosen))
    # seed by seed, so that a plan cut short still leaves every setting paired
    return [(tag, {**options, "seed": s}) for s in SEEDS for tag, options in settings]


DIGITS = {"task": "accuracy", "protocol": "cv", "folds": 5}
PCK = {"task": "pck", "protocol": "cv", "folds": 3}


def _cv(tag, base, loss, folds=5, **options):
    """5-fold CV x seeds 0-2 (15 runs); 3 folds with seed ``s`` validating on fold ``s``."""
    if folds == 5:
        return [
            (tag, {**base, **options, "loss": loss, "seed": s, "fold": k})
            for s in SEEDS
            for k in range(5)
        ]
    return [(tag, {**base, **options, "loss": loss, "seed": s, "fold": s}) for s in SEEDS]


def digits_shared():
    """Digits accuracy, stage 1: learning rate x batch size, 5-fold CV x seeds 0-2."""
    return [
        run
        for loss in ("uniloss", "ce")
        for lr in (0.003, 0.01, 0.03)
        for batch in (32, 128)
        for run in _cv(f"{loss} lr={lr} batch_size={batch}", DIGITS, loss, lr=lr, batch_size=batch)
    ]


def pck_shared():
    """PCK, stage 1: learning rate x batch size, 3 folds (seed s validates on fold s)."""
    return [
        run
        for loss in ("uniloss", "mse")
        for lr in (1e-3, 3e-3, 1e-2)
        for batch in (8, 16)
        for run in _cv(
            f"{loss} lr={lr} batch_size={batch}", PCK, loss, folds=3, lr=lr, batch_size=batch
        )
    ]


BEST_CV = {
    # stage 1 (digits_shared, pck_shared): the highest mean validation metric of each loss's
    # six settings
    "digits uniloss": {"lr": 0.01, "batch_size": 32},
    "digits ce": {"lr": 0.03, "batch_size": 32},
    "pck uniloss": {"lr": 3e-3, "batch_size": 8},
    "pck mse": {"lr": 3e-3, "batch_size": 8},
}

DIGITS_OWN = {
    "uniloss": {
        "tau=0.1": {"temperature": 0.1},
        "tau=1": {"temperature": 1.0},
        "margin=1": {"margin": 1.0},
        "K x3": K_X3,
    },
    "ce": {
        "momentum=0.5": {"momentum": 0.5},
        "momentum=0.95": {"momentum": 0.95},
        "weight_decay=1e-4": {"weight_decay": 1e-4},
        "weight_decay=1e-3": {"weight_decay": 1e-3},
    },
}
"""Stage 2 (digits accuracy): four options of each loss's own, at its best shared setting."""

PCK_OWN = {
    "uniloss": {"tau=0.1": {"temperature": 0.1}, "tau=1": {"temperature": 1.0}},
    "mse": {
        "weight_decay=1e-4": {"weight_decay": 1e-4},
        "weight_decay=1e-3": {"weight_decay": 1e-3},
    },
}
"""Stage 2 (PCK): two options of each loss's own, at its best shared setting."""


def _own_cv(task, base, folds, table):
    return [
        run
        for loss, options in table.items()
        for name, change in options.items()
        for run in _cv(
            f"{loss} {name}", base, loss, folds, **{**BEST_CV[f"{task} {loss}"], **change}
        )
    ]


def digits_own():
    """Digits accuracy, stage 2: :data:`DIGITS_OWN`, 5-fold CV x seeds 0-2."""
    return _own_cv("digits", DIGITS, 5, DIGITS_OWN)


def pck_own():
    """PCK, stage 2: :data:`PCK_OWN`, 3 folds (seed s validates on fold s)."""
    return _own_cv("pck", PCK, 3, PCK_OWN)


def dtype_check():
    """The AP defaults of both losses in float64 beside float32 (not part of any budget)."""
    return [
        run
        for loss, lr in (("uniloss", 0.01), ("bce", 0.03))
        for run in _grid(AP, loss, lr=(lr,), batch_size=(16,), dtype=("float64",))
    ]


def dtype_final():
    """The chosen AP settings in float32 and float64, seeds 3-7 (outside any budget): does
    the float32 network favour one loss?"""
    return [
        run
        for name in ("uniloss", "bce")
        for dtype in ("float32", "float64")
        for run in _seeds(
            f"{name} chosen {dtype}", range(3, 8), **{**AP, **FINAL_AP[name], "dtype": dtype}
        )
    ]


PLANS = {
    f.__name__: f
    for f in (
        ap_shared,
        ap_sampler,
        ap_own,
        ap_combine,
        ap_memory_probe,
        ap_extra,
        ap_zscores,
        ap_full,
        ap_digits_check,
        every_class,
        held_out_ap,
        held_out_accuracy_uniloss,
        held_out_accuracy_ce,
        accuracy_full_check,
        accuracy_shared,
        accuracy_sampler,
        accuracy_own,
        accuracy_combine,
        digits_shared,
        digits_own,
        pck_shared,
        pck_own,
        dtype_check,
        dtype_final,
    )
}


STAGES_AP = ("ap_sampler", "ap_own", "ap_combine", "ap_extra", "ap_zscores")
STAGES_ACCURACY = ("accuracy_sampler", "accuracy_own", "accuracy_combine")

REPORT = [
    # (title, plans shown, tags starting with, reference tag, plan holding the reference)
    ("AP stage 1, UniLoss", ("ap_shared",), "uniloss", "uniloss lr=0.01 batch_size=16", None),
    ("AP stage 1, BCE", ("ap_shared",), "bce", "bce lr=0.03 batch_size=16", None),
    (
        "AP stages 2-6, UniLoss (against its stage-1 best)",
        STAGES_AP,
        "uniloss",
        "uniloss lr=0.03 batch_size=64",
        "ap_shared",
    ),
    (
        "AP stages 2-6, BCE (against its stage-1 best)",
        STAGES_AP,
        "bce",
        "bce lr=0.01 batch_size=16",
        "ap_shared",
    ),
    (
        "AP, the memory at batch 16 (outside the budget)",
        ("ap_memory_probe",),
        "uniloss",
        "uniloss lr=0.01 batch_size=16",
        "ap_shared",
    ),
    ("AP, float64 networks (against float32, ap_shared)", ("dtype_check",), "", None, None),
    (
        "AP, the chosen UniLoss setting in float64 (seeds 3-7, outside any budget)",
        ("dtype_final",),
        "uniloss",
        "uniloss chosen float32",
        None,
    ),
    (
        "AP, the chosen BCE setting in float64 (seeds 3-7, outside any budget)",
        ("dtype_final",),
        "bce",
        "bce chosen float32",
        None,
    ),
    ("AP at full size (50,000 images)", ("ap_full",), "", "bce lr=0.01 weight_decay=1e-4", None),
    ("AP on the digits, 5-fold CV (digit 8)", ("ap_digits_check",), "", "uniloss default", None),
    (
        "Accuracy stage 1, UniLoss",
        ("accuracy_shared",),
        "uniloss",
        "uniloss lr=0.01 batch_size=32 weight_decay=0.0",
        None,
    ),
    (
        "Accuracy stage 1, cross-entropy",
        ("accuracy_shared",),
        "ce",
        "ce lr=0.01 batch_size=32 weight_decay=0.0",
        None,
    ),
    (
        "Accuracy stages 2-4, UniLoss (against its stage-1 best)",
        STAGES_ACCURACY,
        "uniloss",
        "uniloss lr=0.1 batch_size=128 weight_decay=0.0001",
        "accuracy_shared",
    ),
    (
        "Accuracy stages 2-4, cross-entropy (against its stage-1 best)",
        STAGES_ACCURACY,
        "ce",
        "ce lr=0.03 batch_size=32 weight_decay=0.0001",
        "accuracy_shared",
    ),
    (
        "Accuracy at full size, UniLoss (validation, seeds 0-2, 10 epochs)",
        ("accuracy_full_check",),
        "uniloss",
        "uniloss default",
        None,
    ),
    (
        "Accuracy at full size, cross-entropy (validation, seeds 0-2, 10 epochs)",
        ("accuracy_full_check",),
        "ce",
        "ce default",
        None,
    ),
    (
        "Digits accuracy stage 1, UniLoss (5-fold CV, against its default)",
        ("digits_shared",),
        "uniloss",
        "uniloss lr=0.01 batch_size=32",
        None,
    ),
    (
        "Digits accuracy stage 1, cross-entropy (5-fold CV, against its default)",
        ("digits_shared",),
        "ce",
        "ce lr=0.01 batch_size=32",
        None,
    ),
    (
        "Digits accuracy stage 2, UniLoss (against its stage-1 best)",
        ("digits_own",),
        "uniloss",
        "uniloss lr=0.01 batch_size=32",
        "digits_shared",
    ),
    (
        "Digits accuracy stage 2, cross-entropy (against its stage-1 best)",
        ("digits_own",),
        "ce",
        "ce lr=0.03 batch_size=32",
        "digits_shared",
    ),
    (
        "PCK stage 1, UniLoss (3 folds, against its default)",
        ("pck_shared",),
        "uniloss",
        "uniloss lr=0.003 batch_size=8",
        None,
    ),
    (
        "PCK stage 1, MSE (3 folds, against its default)",
        ("pck_shared",),
        "mse",
        "mse lr=0.003 batch_size=8",
        None,
    ),
    (
        "PCK stage 2, UniLoss (against its stage-1 best)",
        ("pck_own",),
        "uniloss",
        "uniloss lr=0.003 batch_size=8",
        "pck_shared",
    ),
    (
        "PCK stage 2, MSE (against its stage-1 best)",
        ("pck_own",),
        "mse",
        "mse lr=0.003 batch_size=8",
        "pck_shared",
    ),
]
"""The tables of ``docs/reproduction.md``: ``python -m studies.fair report``."""


HELD_OUT_REPORT = [
    # (title, plans, reference tag): the test metric, read once
    ("Held out: AP, shirt vs rest, full size", ("held_out_ap",), "bce chosen"),
    (
        "Held out: accuracy, 10 classes, full size",
        ("held_out_accuracy_uniloss", "held_out_accuracy_ce"),
        "ce chosen",
    ),
]


def every_class_table(records: list[dict] | None = None) -> str:
    """Per class: test AP of each loss (mean over the seeds run) and UniLoss − BCE (and the
    hybrid − BCE) paired by seed; a last row averages the classes' means."""
    if records is None:
        records = read_log(LOGS / "every_class.jsonl")
    test: dict[tuple[str, int], dict[int, float]] = {}
    for r in records:
        name, _, c = r["tag"].rpartition(" class ")
        test.setdefault((name, int(c)), {})[r["config"]["seed"]] = 100 * r["test"]
    names = [n for n in FINAL_AP if any(k[0] == n for k in test)]
    head = "| class | " + " | ".join(names) + " | UniLoss − BCE | hybrid − BCE | seeds |"
    lines = [head, "| --- |" + " ---: |" * (len(names) + 3)]
    sums: dict[str, list[float]] = {}
    for c in range(10):
        bce = test.get(("bce", c), {})
        if not bce:
            continue
        cells, row = [], [f"{c} {IDX_CLASS_NAMES['fashion-mnist'][c]}"]
        for name in names:
            values = list(test.get((name, c), {}).values())
            row.append(f"{np.mean(values):.2f}" if values else "–")
        for name in ("uniloss", "uniloss-hybrid"):
            own = test.get((name, c), {})
            diffs = [own[s] - bce[s] for s in own if s in bce]
            if diffs:
                sums.setdefault(name, []).append(float(np.mean(diffs)))
            sd = f" ± {np.std(diffs, ddof=1):.2f}" if len(diffs) > 1 else ""
            cells.append(f"{np.mean(diffs):+.2f}{sd}" if diffs else "–")
        seeds = sorted(set(bce) & set(test.get(("uniloss", c), {})))
        lines.append("| " + " | ".join(row + cells + [",".join(map(str, seeds))]) + " |")
    mean = [f"{np.mean(sums[n]):+.2f}" if n in sums else "–" for n in ("uniloss", "uniloss-hybrid")]
    lines.append("| mean over classes |" + " |" * len(names) + f" {mean[0]} | {mean[1]} | |")
    return "\n".join(lines) + "\n"


def report() -> str:
    """Every table of :data:`REPORT` and :data:`HELD_OUT_REPORT` whose runs exist, and the
    every-class table, in Markdown."""
    out = []
    for title, plans, prefix, reference, home in REPORT:
        shown = [r for plan in plans for r in read_log(LOGS / f"{plan}.jsonl")]
        base = (
            [r for r in read_log(LOGS / f"{home}.jsonl") if r["tag"] == reference] if home else []
        )
        tags = [t for t in dict.fromkeys(r["tag"] for r in shown) if t.startswith(prefix)]
        if not tags:
            continue
        if reference:
            tags = [reference] + [t for t in tags if t != reference]
        out += [f"#### {title}", "", table(shown + base, reference=reference, tags=tags)]
    for title, plans, reference in HELD_OUT_REPORT:
        records = [r for plan in plans for r in read_log(LOGS / f"{plan}.jsonl")]
        if records:
            tags = [reference] + [
                t for t in dict.fromkeys(r["tag"] for r in records) if t != reference
            ]
            out += [f"#### {title} (test)", "", table(records, reference, "test", tags)]
    if read_log(LOGS / "every_class.jsonl"):
        out += ["#### Held out: every class vs rest, screening size (test AP)", ""]
        out += [every_class_table()]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("run", "table", "report"))
    parser.add_argument("plan", nargs="?", choices=sorted(PLANS))
    parser.add_argument("--reference", help="tag the others are paired against")
    parser.add_argument("--test", action="store_true", help="tabulate the test metric")
    args = parser.parse_args(argv)
    if args.action == "report":
        print(report(), end="")
        return 0
    if args.plan is None:
        parser.error(f"{args.action} needs a plan")
    log = LOGS / f"{args.plan}.jsonl"
    if args.action == "run":
        run_plan(PLANS[args.plan](), log)
        return 0
    field = "test" if args.test else "val"
    print(table(read_log(log), reference=args.reference, field=field), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
