"""Chapters 4-10 run in quick mode, and every number their text states holds."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from tests.chapter_tools import CHAPTERS, EXACT, assert_figures, load  # noqa: F401
from tests.standin import StandinArray
from tests.standin import xp as standin
from uniloss_ref import device as backend
from uniloss_ref.device.bridge import register

# ----- 4. Binary classification with AP -----


def test_chapter_04_both_losses_rank_well_and_each_curve_area_is_its_ap(run):
    result, out = run("05_binary_classification_ap")
    assert result["epochs"] == 6
    assert result["positive_fraction"] == pytest.approx(35 / 359, **EXACT)  # about 0.10
    for loss in ("uniloss", "bce"):
        assert result["test_ap"][loss] > 0.5  # "above 0.5 even with quick=True"
        assert result["curve_ap"][loss] == pytest.approx(result["test_ap"][loss], rel=1e-12)
    assert_figures(out, "04_precision_recall.png")


# ----- 5. Multi-class accuracy -----


def test_chapter_05_both_losses_learn_and_uniloss_starts_slower(run):
    result, out = run("06_multiclass_accuracy")
    assert result["epochs"] == 8
    for loss in ("uniloss", "ce"):
        assert result["test_accuracy"][loss] > 0.5  # "above 0.5 even with quick=True"
    first = result["first_epoch_val_accuracy"]
    assert first["uniloss"] < first["ce"]
    assert_figures(out, "05_training_curves.png")


def test_chapter_05_the_surrogate_rises_and_crosses_the_batch_accuracy(run):
    result, _ = run("06_multiclass_accuracy")
    surrogate, accuracy = result["surrogate"], result["batch_accuracy"]
    assert all(0.0 <= value <= 1.0 for value in surrogate)
    assert surrogate[-1] > surrogate[0]
    assert surrogate[0] > accuracy[0]
    assert surrogate[-1] < accuracy[-1]


# ----- 6. Keypoints with PCK -----


def test_chapter_06_pck_rises_with_the_threshold_and_matches_training(run):
    result, out = run("07_keypoints_pck")
    thresholds = result["thresholds"]
    assert thresholds[0] == 0.05 and thresholds[-1] == 1.0 and 0.3 in thresholds
    for loss in ("uniloss", "mse"):
        curve = np.array(result["pck_curve"][loss])
        assert np.all(np.diff(curve) >= 0)  # "never decreases as the threshold grows"
        assert result["pck_curve_at_training_threshold"][loss] == result["test_pck"][loss]
        assert result["test_pck"][loss] > 0.3  # "above 0.3 even with quick=True"
        assert curve[-1] > 0.7  # "above 0.7 at 1 torso length"
    assert_figures(out, "06_heatmaps.png", "06_pck_threshold.png")


# ----- 7. Checking a gradient -----


def test_chapter_07_autograd_and_the_corrected_form_pass_finite_differences(run):
    result, out = run("08_checking_gradients")
    assert result["autograd_min_cosine"] > 1 - 1e-9
    assert result["corrected_min_cosine"] > 1 - 1e-9
    assert result["autograd_max_error"] < 1e-6
    assert result["identity_max_error"] < 1e-12
    assert_figures(out, "07_gradients.png")


def test_chapter_07_the_authors_gradient_is_far_off_and_not_reliably_uphill(run):
    result, _ = run("08_checking_gradients")
    assert 0.05 < result["authors_median_cosine"] < 0.3  # about 0.15
    assert 0.08 < result["authors_negative_fraction"] < 0.3  # about one in six
    assert result["random_ours_rise_fraction"] == 1.0
    assert 0.65 < result["random_authors_rise_fraction"] < 0.95  # about 80%
    assert 0.6 < result["ap_authors_median_cosine"] < 0.9  # about 0.8
    assert result["ap_ours_rise_fraction"] == 1.0
    assert result["ap_authors_rise_fraction"] >= 0.9


def test_chapter_07_both_gradients_train_but_the_authors_inflate_the_weights(run):
    result, _ = run("08_checking_gradients")
    assert result["start_ap"] == pytest.approx(0.16, abs=0.01)
    for final in result["final_ap"].values():
        assert 0.6 < final < 0.8  # about 0.7
    norms = result["weight_norm"]
    assert norms["authors"] > 3 * norms["autograd"]


# ----- 8. Your own metric -----


def test_chapter_08_precision_at_k_passes_the_checker_and_brute_force(run):
    result, out = run("09_your_own_metric")
    assert result["example_h"] == result["example_evaluate"] == pytest.approx(2 / 3, **EXACT)
    assert result["check_passed"] is True
    assert result["check_refactoring_error"] == 0.0
    assert result["brute_orders"] == 5040
    assert result["brute_mismatches"] == 0
    assert result["brute_configurations"] == 4096
    low, high = result["brute_h_range"]
    assert 0.0 <= low <= high <= 1.0
    assert_figures(out, "08_precision_at_k.png")


def test_chapter_08_training_raises_precision_at_k(run):
    result, _ = run("09_your_own_metric")
    assert result["start_precision"] == pytest.approx(0.29, abs=1e-12)
    final = result["final_precision"]
    assert final["uniloss"] == pytest.approx(0.8, abs=0.05)
    assert result["ideal_precision"] == pytest.approx(0.84, abs=1e-12)
    assert result["ideal_precision"] - final["uniloss"] <= 0.1
    assert abs(final["uniloss"] - final["bce"]) <= 0.1


def test_chapter_08_metric_rejects_bad_input():
    precision = load("09_your_own_metric").PrecisionAtK
    with pytest.raises(ValueError, match="k must be a positive integer"):
        precision(0)
    with pytest.raises(TypeError, match="k must be a positive integer"):
        precision(2.5)
    with pytest.raises(ValueError, match="exceeds the batch size"):
        precision(5).evaluate(np.zeros(3), np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="labels in"):
        precision(1).evaluate(np.zeros(3), np.array([1, 2, 0]))


# ----- 9. The same code on a GPU -----


def test_chapter_09_runs_on_numpy_without_a_gpu_and_agrees_exactly(run):
    result, _ = run("10_same_code_on_a_gpu", device="cpu")
    assert result["device"] == "cpu"
    assert max(result["metric_differences"].values()) == 0.0
    assert result["parameter_difference"] == 0.0
    assert result["loss_difference"] == 0.0
    assert len(result["metric_differences"]) == 6


def test_chapter_09_auto_falls_back_to_numpy_when_cupy_is_missing(monkeypatch, tmp_path):
    def missing() -> ModuleType:
        raise ModuleNotFoundError("No module named 'cupy'")

    monkeypatch.setattr(backend, "_import_cupy", missing)
    monkeypatch.setattr(backend, "_gpu", None)
    monkeypatch.setattr(backend, "_default_device", None)
    chapter = load("10_same_code_on_a_gpu")
    name, reason = chapter.choose_device("auto")
    assert name == "cpu"
    assert "no GPU here" in reason and "No module named 'cupy'" in reason


def test_chapter_09_device_path_agrees_to_1e_12_on_the_standin_gpu(monkeypatch, tmp_path):
    # The tests' strict stand-in for CuPy plays the GPU, so the device branch runs here.
    register(StandinArray, standin)
    monkeypatch.setattr(backend, "_import_cupy", lambda: standin)
    monkeypatch.setattr(backend, "_gpu", None)
    monkeypatch.setattr(backend, "_default_device", None)
    result = load("10_same_code_on_a_gpu").main(quick=True, out_dir=tmp_path, device="gpu")
    assert result["device"] == "gpu"
    assert max(result["metric_differences"].values()) <= 1e-12
    assert result["parameter_difference"] <= 1e-12
    assert result["loss_difference"] <= 1e-12


# ----- The list of chapters -----
