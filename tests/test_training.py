"""The tasks, the training loop and its plots, on tiny runs of a few seconds."""

import io
import json

import autograd
import numpy as np
import pytest
from autograd.misc import flatten
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from uniloss_ref import UniLoss
from uniloss_ref.experiments import plots
from uniloss_ref.experiments.authors_gradient import AuthorsUniLoss
from uniloss_ref.experiments.console import ProgressBar
from uniloss_ref.experiments.data import Dataset
from uniloss_ref.experiments.heatmaps import from_heatmap_grid, heatmap_argmax, to_heatmap_grid
from uniloss_ref.experiments.nn.optim import tree_leaves
from uniloss_ref.experiments.tasks import (
    POSITIVE_DIGIT,
    TASKS,
    get_task,
    load_task_data,
    make_loss,
    make_metric,
    task_scores,
)
from uniloss_ref.experiments.thresholds import at_threshold, tuned_threshold
from uniloss_ref.experiments.training import (
    TrainConfig,
    batch_order,
    fit,
    prepare,
    train,
    write_run,
)
from uniloss_ref.metrics import FScore, KeypointTargets

TINY = {
    "ap": {"n_train": 200, "n_test": 100, "epochs": 2},
    "accuracy": {"n_train": 200, "n_test": 100, "epochs": 2},
    "pck": {"n_train": 40, "n_test": 16, "epochs": 1},
}


def tiny(task, loss, seed=0, **overrides):
    return TrainConfig(task=task, loss=loss, seed=seed, **(TINY[task] | overrides))


@pytest.mark.parametrize("task", list(TASKS))
def test_a_tiny_run_of_every_task_records_each_epoch_and_a_metric_in_range(task):
    run = train(tiny(task, "uniloss"), show_progress=False)
    results = run.results
    assert len(results["history"]) == TINY[task]["epochs"]
    for record in results["history"]:
        assert 0.0 <= record["val_metric"] <= 1.0
        assert 0.0 <= record["train_batch_metric"] <= 1.0
        # UniLoss's loss is 1 - h~, and h~ lies between the anchors' metric values.
        assert record["train_surrogate"] == pytest.approx(1.0 - record["train_loss"])
        assert 0.0 <= record["train_surrogate"] <= 1.0
    assert 0.0 <= results["test_metric"] <= 1.0
    assert results["config"]["epochs"] == TINY[task]["epochs"]
    json.dumps(results, allow_nan=False)


@pytest.mark.parametrize("task, loss", [(t, loss) for t in TASKS for loss in TASKS[t].losses])
def test_every_loss_of_every_task_gives_a_finite_loss_and_gradient(task, loss):
    setup = prepare(tiny(task, loss))
    x, y = setup.data.X_train[:8], setup.data.y_train[:8]
    params = setup.model.init_params(np.random.default_rng(0))

    def objective(p):
        return setup.loss(task_scores(setup.task, setup.model.apply(p, x)), y)

    value, grads = autograd.value_and_grad(objective)(params)
    assert np.isfinite(value)
    assert np.isfinite(flatten(grads)[0]).all()


def test_the_same_seed_repeats_a_run_exactly_and_another_seed_does_not():
    def without_times(results):
        history = [{k: v for k, v in r.items() if k != "seconds"} for r in results["history"]]
        return history, results["test_metric"]

    first = train(tiny("ap", "uniloss", seed=3), show_progress=False).results
    again = train(tiny("ap", "uniloss", seed=3), show_progress=False).results
    other = train(tiny("ap", "uniloss", seed=4), show_progress=False).results
    assert without_times(first) == without_times(again)
    assert without_times(first) != without_times(other)


def test_losses_with_the_same_seed_share_data_and_initialisation():
    uniloss, bce = prepare(tiny("ap", "uniloss", seed=5)), prepare(tiny("ap", "bce", seed=5))
    np.testing.assert_array_equal(uniloss.data.X_train, bce.data.X_train)
    a = uniloss.model.init_params(uniloss.streams["init"])
    b = bce.model.init_params(bce.streams["init"])
    np.testing.assert_array_equal(a[0]["w"], b[0]["w"])


def test_ap_data_is_one_digit_against_the_rest_with_positives_in_every_split():
    data = load_task_data(get_task("ap"), seed=0)
    for y in (data.y_train, data.y_val, data.y_test):
        assert set(np.unique(y)) == {0, 1}
        assert 0.05 < y.mean() < 0.15
    assert data.class_names == ("rest", str(POSITIVE_DIGIT))


def test_keypoints_map_to_the_heatmap_grid_and_back():
    targets = KeypointTargets(
        np.array([[[0.0, 0.0], [1.0, 30.0], [12.5, 7.25]]]),
        np.ones((1, 3), dtype=bool),
        np.array([8.0]),
        (32, 32),
    )
    grid = to_heatmap_grid(targets, 2)
    assert grid.heatmap_shape == (16, 16)
    # Image pixels 0 and 1 both fall in heatmap pixel 0, whose centre is image point 0.5.
    np.testing.assert_allclose(grid.xy[0, :2], [[-0.25, -0.25], [0.25, 14.75]], rtol=0, atol=0)
    np.testing.assert_allclose(grid.scale, [4.0], rtol=0, atol=0)
    np.testing.assert_allclose(from_heatmap_grid(grid.xy, 2), targets.xy, rtol=0, atol=1e-12)
    heatmaps = np.zeros((1, 2, 16, 16))
    heatmaps[0, 0, 3, 7] = heatmaps[0, 1, 15, 0] = 1.0
    np.testing.assert_array_equal(heatmap_argmax(heatmaps), [[[7.0, 3.0], [0.0, 15.0]]])


def test_a_perfect_heatmap_scores_full_pck_on_the_task_grid():
    data = load_task_data(get_task("pck"), seed=0, n_train=20, n_test=10)
    targets = data.y_test
    heatmaps = np.zeros((len(targets), targets.xy.shape[1], 16, 16))
    nearest = np.clip(np.floor(targets.xy + 0.5).astype(int), 0, 15)
    n, j = np.indices(targets.visible.shape)
    heatmaps[n, j, nearest[..., 1], nearest[..., 0]] = 1.0
    assert make_metric(get_task("pck")).evaluate(heatmaps, targets) == 1.0


def test_uniloss_variants_differ_only_in_the_gradient_rule():
    task = get_task("accuracy")
    metric = make_metric(task)
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=(6, 10)), rng.integers(10, size=6)
    ours = make_loss(task, "uniloss", metric, np.random.default_rng(1))
    theirs = make_loss(task, "uniloss-authors", metric, np.random.default_rng(1))
    assert ours(scores, labels) == theirs(scores, labels)
    assert type(ours) is UniLoss
    assert type(theirs) is AuthorsUniLoss
    gradients = autograd.grad(ours)(scores, labels), autograd.grad(theirs)(scores, labels)
    assert not np.allclose(*gradients, rtol=1e-3, atol=0)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"loss": "ce"}, "not meant for task 'ap'"),
        ({"task": "depth"}, "task must be one of"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"anchors": {"random": 3}}, "unknown kinds"),
        ({"data": "keypoints"}, "needs class labels"),
        ({"positive": 10}, "positive 10 is not a class label of 'digits'; its labels are 0, 1"),
        ({"batches": "sorted"}, "batches must be one of random, stratified, balanced"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
        ({"loss": "bce", "sigmoid_output": True}, "sigmoid_output is for the UniLoss rows"),
        ({"nearby_rule": "nearest"}, "nearby_rule must be"),
        ({"dtype": "float16"}, "dtype must be one of float64, float32"),
        ({"weight_decay": -1e-4}, "weight_decay must be a number >= 0"),
        ({"margin": float("inf")}, "margin must be finite"),
        ({"memory": -1}, "memory must be a non-negative integer"),
        ({"loss": "bce", "memory": 64}, "memory is a UniLoss option"),
        ({"loss": "bce", "margin": 0.5}, "margin is a UniLoss option"),
        ({"pos_weight": 3.0}, "pos_weight weighs BCE's positives"),
        ({"loss": "bce", "pos_weight": 0.0}, "pos_weight must be > 0"),
        ({"metric": "f2"}, "the binary task 'ap' takes ap, f1"),
        ({"task": "accuracy", "metric": "f1"}, "metric 'f1' is not one of task 'accuracy'"),
    ],
)
def test_bad_configs_are_rejected_naming_the_argument(change, message):
    with pytest.raises(ValueError, match=message):
        prepare(TrainConfig(**({"task": "ap", "loss": "uniloss"} | TINY["ap"] | change)))


def test_progress_bar_writes_only_epoch_lines_when_not_a_terminal():
    stream = io.StringIO()
    train(tiny("ap", "bce"), stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == TINY["ap"]["epochs"]
    assert lines[0].startswith("epoch 1/2: loss") and "\r" not in stream.getvalue()


def test_progress_bar_redraws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = ProgressBar(epochs=1, steps=3, stream=stream)
    for step in (1, 2, 3):
        bar.step(1, step, 0.5)
    record = {"epoch": 1, "train_loss": 0.5, "train_batch_metric": 0.9, "val_metric": 0.8}
    bar.epoch(record | {"seconds": 0.1})
    text = stream.getvalue()
    assert text.startswith("\repoch 1/1 [")
    assert "3/3 loss 0.5000" in text
    assert text.endswith("validation 0.8000 (0.1 s)\n") and text.count("\n") == 1


def test_precision_recall_points_give_scikit_learns_average_precision():
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=50), rng.integers(2, size=50)
    recall, precision = plots.precision_recall_points(scores, labels)
    at_positives = precision[np.sort(-scores).searchsorted(-scores[labels == 1])]
    assert recall[-1] == 1.0
    np.testing.assert_allclose(
        at_positives.mean(), average_precision_score(labels, scores), rtol=1e-12, atol=0
    )


@pytest.mark.parametrize("task, plot", [("ap", "precision_recall.png"), ("pck", "keypoints.png")])
def test_write_run_saves_results_and_png_plots(tmp_path, task, plot):
    run = train(tiny(task, "uniloss"), show_progress=False)
    path = write_run(run, tmp_path)
    assert json.loads(path.read_text())["test_metric"] == run.results["test_metric"]
    for name in ("curves.png", plot):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_users_npz_of_feature_vectors_trains_both_classification_tasks(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "blobs.npz"
    y = rng.integers(3, size=300)
    np.savez(path, X=rng.normal(size=(300, 5)) + y[:, None], y=y)
    for task in ("ap", "accuracy"):
        run = train(TrainConfig(task, "uniloss", data=str(path), epochs=1), show_progress=False)
        assert run.setup.data.input_shape == (5,)
        assert 0.0 <= run.results["test_metric"] <= 1.0
    # With fewer than nine classes the positive class of AP is the last one.
    assert run.setup.data.n_classes == 3
    assert prepare(TrainConfig("ap", "bce", data=str(path))).data.class_names[1] == "2"


def test_the_learning_rate_drops_tenfold_for_the_last_quarter_of_the_epochs():
    history = train(tiny("accuracy", "ce", epochs=4), show_progress=False).results["history"]
    rate = get_task("accuracy").lr["ce"]
    np.testing.assert_allclose(
        [r["lr"] for r in history], np.array([1, 1, 1, 0.1]) * rate, rtol=1e-12, atol=0
    )


@pytest.mark.parametrize(
    ("task", "loss"), [("ap", "uniloss"), ("accuracy", "ce"), ("pck", "uniloss")]
)
def test_training_on_a_device_repeats_the_cpu_run(monkeypatch, task, loss):
    # The tests' strict stand-in for CuPy plays the GPU: any host array meeting a device
    # array on the way (parameters, batches, anchors, targets) would raise.
    from tests.standin import StandinArray
    from tests.standin import xp as standin
    from uniloss_ref import device as backend
    from uniloss_ref.device.bridge import register

    cpu = train(tiny(task, loss), show_progress=False).results
    register(StandinArray, standin)
    monkeypatch.setattr(backend, "_import_cupy", lambda: standin)
    monkeypatch.setattr(backend, "_gpu", None)
    gpu = train(tiny(task, loss, device="gpu"), show_progress=False).results
    assert gpu["config"]["device"] == "gpu" and cpu["config"]["device"] == "cpu"
    assert gpu["test_metric"] == pytest.approx(cpu["test_metric"], abs=1e-9)
    for a, b in zip(gpu["history"], cpu["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-9, abs=1e-12)


def test_positive_chooses_the_class_of_the_ap_task_only():
    data = load_task_data(get_task("ap"), seed=0, positive=3)
    assert data.class_names == ("rest", "3")
    raw = load_task_data(get_task("accuracy"), seed=0)
    np.testing.assert_array_equal(data.y_test, (raw.y_test == 3).astype(data.y_test.dtype))
    with pytest.raises(ValueError, match="positive chooses the class of the AP task"):
        load_task_data(get_task("accuracy"), seed=0, positive=3)
    with pytest.raises(TypeError, match="positive must be a class label"):
        load_task_data(get_task("ap"), seed=0, positive=2.0)
    with pytest.raises(ValueError, match="batches 'stratified' needs class labels"):
        prepare(TrainConfig(task="pck", loss="mse", batches="stratified", **TINY["pck"]))


@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=300),
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
)
def test_stratified_batches_hold_every_class_in_proportion(labels, size, seed):
    labels = np.array(labels)
    order = batch_order(labels, "stratified", np.random.default_rng(seed))
    assert sorted(order) == list(range(len(labels)))  # a permutation of the samples
    for start in range(0, len(labels), size):
        batch = labels[order[start : start + size]]
        for label in np.unique(labels):
            expected = len(batch) * np.mean(labels == label)
            assert abs(np.sum(batch == label) - expected) < 2  # in proportion, to one sample


def test_stratified_batches_give_every_ap_batch_a_positive():
    config = TrainConfig(task="ap", loss="uniloss")  # digits, 10% eights, batches of 16
    setup = prepare(config)
    y = setup.data.y_train
    order = batch_order(y, "stratified", np.random.default_rng(0))
    batches = [y[order[k : k + 16]] for k in range(0, len(y) - 15, 16)]
    assert all(batch.any() for batch in batches)
    shuffled = batch_order(y, "random", np.random.default_rng(0))
    assert not all(y[shuffled[k : k + 16]].any() for k in range(0, len(y) - 15, 16))


def test_a_sigmoid_output_gives_scores_in_the_unit_interval():
    run = train(tiny("ap", "uniloss", sigmoid_output=True, standardise=False), show_progress=False)
    assert run.test_scores.min() > 0.0 and run.test_scores.max() < 1.0
    assert run.results["config"]["sigmoid_output"] is True


@given(
    st.lists(st.integers(0, 3), min_size=2, max_size=300),
    st.integers(2, 40),
    st.integers(0, 2**32 - 1),
)
def test_balanced_batches_hold_every_class_equally_often(labels, size, seed):
    labels = np.array(labels)
    order = batch_order(labels, "balanced", np.random.default_rng(seed))
    classes = np.unique(labels)
    assert len(order) == len(labels) and set(order) <= set(range(len(labels)))
    for start in range(0, len(labels) - size + 1, size):
        counts = [np.sum(labels[order[start : start + size]] == c) for c in classes]
        assert max(counts) - min(counts) <= 2  # equal shares, to a sample either side
    # each class fills its n / C places, drawing its samples without replacement per round
    for c in classes:
        drawn = order[labels[order] == c]
        members = np.sum(labels == c)
        assert abs(drawn.size - len(labels) / classes.size) <= 1
        assert np.bincount(drawn).max() <= -(-drawn.size // members)


def test_a_float32_network_trains_with_float64_losses_and_matches_float64_closely():
    runs = {
        dtype: train(tiny("ap", "bce", dtype=dtype), show_progress=False)
        for dtype in ("float64", "float32")
    }
    assert all(leaf.dtype == np.float32 for leaf in tree_leaves(runs["float32"].params))
    assert runs["float32"].test_scores.dtype == np.float64
    single, double = (runs[d].results["test_metric"] for d in ("float32", "float64"))
    assert single == pytest.approx(double, abs=0.02)
    np.testing.assert_allclose(
        runs["float32"].test_scores, runs["float64"].test_scores, rtol=1e-3, atol=1e-3
    )


def test_weight_decay_reaches_the_optimiser_and_changes_the_run():
    plain = train(tiny("ap", "bce"), show_progress=False)
    decayed = train(tiny("ap", "bce", weight_decay=0.1), show_progress=False)
    assert decayed.results["config"]["weight_decay"] == 0.1
    assert plain.results["config"]["weight_decay"] == 0.0
    norm = lambda run: sum(float(np.sum(leaf**2)) for leaf in tree_leaves(run.params))
    assert norm(decayed) < norm(plain)


def test_a_run_given_its_data_uses_it_and_without_a_test_split_reads_none():
    task = get_task("ap")
    whole = load_task_data(task, seed=0, n_train=300)
    data = Dataset(
        whole.name,
        whole.X_train,
        whole.y_train,
        whole.X_val,
        whole.y_val,
        whole.X_test[:0],
        whole.y_test[:0],
        whole.class_names,
    )
    run = fit(prepare(tiny("ap", "bce"), data), show_progress=False)
    assert run.results["data"]["n_train"] == len(whole.X_train)
    assert run.results["test_metric"] is None and run.test_scores is None
    assert 0.0 <= run.results["val_metric"] <= 1.0


@pytest.mark.parametrize(
    "options", [{"memory": 32}, {"margin": 0.5}, {"loss": "uniloss-hybrid"}, {"pos_weight": 4.0}]
)
def test_every_loss_variant_trains(options):
    options = dict(options)
    loss = "bce" if "pos_weight" in options else options.pop("loss", "uniloss")
    run = train(tiny("ap", loss, **options), show_progress=False)
    assert 0.0 <= run.results["test_metric"] <= 1.0
    assert ("train_surrogate" in run.results["history"][0]) == (loss == "uniloss")


def test_another_binary_metric_takes_the_task_fields_not_the_per_loss_ap_defaults():
    ap = TrainConfig(task="ap", loss="uniloss").resolved()
    f1 = TrainConfig(task="ap", loss="uniloss", metric="f1").resolved()
    assert ap.batch_size == TASKS["ap"].default("batch_size", "uniloss")
    assert f1.batch_size == TASKS["ap"].batch_size != ap.batch_size
    assert f1.temperature == 0.5 and f1.lr == 0.03


def test_a_loss_takes_its_own_defaults_before_the_tasks(monkeypatch):
    from dataclasses import replace

    own = {"uniloss": {"batch_size": 64, "temperature": 2.0}, "bce": {"weight_decay": 1e-4}}
    monkeypatch.setitem(TASKS, "ap", replace(TASKS["ap"], per_loss=own))
    resolved = {loss: TrainConfig(task="ap", loss=loss).resolved() for loss in TASKS["ap"].losses}
    for loss in ("uniloss", "uniloss-authors", "uniloss-hybrid"):
        assert resolved[loss].batch_size == 64 and resolved[loss].temperature == 2.0
        assert resolved[loss].weight_decay == 0.0
    assert resolved["bce"].batch_size == 16 and resolved["bce"].weight_decay == 1e-4
    assert resolved["hinge"].batch_size == 16 and resolved["hinge"].weight_decay == 0.0
    assert TrainConfig(task="ap", loss="uniloss", batch_size=8).resolved().batch_size == 8


@st.composite
def validation_batches(draw):
    n = draw(st.integers(1, 30))
    scores = np.array(draw(st.lists(st.sampled_from([-2.0, -0.5, 0.0, 0.25, 1.0, 3.0]),
                                    min_size=n, max_size=n)))  # fmt: skip
    return scores, np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))


@given(validation_batches(), st.sampled_from([0.5, 1.0, 2.0]))
def test_the_tuned_threshold_is_the_best_of_every_threshold(batch, beta):
    # Brute force: the metric at every midpoint between distinct scores and beyond both ends.
    scores, labels = batch
    metric = FScore(beta=beta)
    t = tuned_threshold(metric, scores, labels)
    assert not (scores == t).any()
    levels = np.unique(scores)
    candidates = np.concatenate([[levels[0] - 1], (levels[1:] + levels[:-1]) / 2, [levels[-1] + 1]])
    best = max(at_threshold(metric, c).evaluate(scores, labels) for c in candidates)
    assert at_threshold(metric, t).evaluate(scores, labels) == best


def test_f1_trains_uniloss_at_t_0_and_reads_bce_at_the_validation_threshold():
    runs = {
        loss: train(tiny("ap", loss, metric="f1"), show_progress=False)
        for loss in ("uniloss", "bce")
    }
    for loss, run in runs.items():
        results, data = run.results, run.setup.data
        assert isinstance(run.setup.metric, FScore) and results["metric"] == "F1 at threshold 0"
        assert results["config"]["tune_threshold"] == (loss == "bce")
        read = at_threshold(run.setup.metric, results["threshold"])
        assert results["test_metric"] == read.evaluate(run.test_scores, data.y_test)
        tuned = at_threshold(run.setup.metric, results["tuned_threshold"])
        assert results["test_metric_tuned"] == tuned.evaluate(run.test_scores, data.y_test)
    assert runs["uniloss"].results["threshold"] == 0.0
    assert runs["uniloss"].setup.loss.metric is runs["uniloss"].setup.metric
    bce = runs["bce"].results
    assert bce["threshold"] == bce["tuned_threshold"]
    assert bce["val_metric"] == bce["val_metric_tuned"] >= bce["history"][-1]["val_metric"]


def test_f1_has_its_own_defaults_for_uniloss_and_bce():
    uniloss = TrainConfig(task="ap", loss="uniloss", metric="f1").resolved()
    bce = TrainConfig(task="ap", loss="bce", metric="f1").resolved()
    assert (uniloss.temperature, uniloss.lr, bce.lr) == (0.5, 0.03, 0.01)
    assert uniloss.tune_threshold is False and bce.tune_threshold is True
    ap = TrainConfig(task="ap", loss="uniloss").resolved()
    assert (ap.temperature, ap.lr) == (TASKS["ap"].temperature, TASKS["ap"].lr["uniloss"])
