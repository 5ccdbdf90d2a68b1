"""The chapters run in quick mode, and every number their text states holds.

Each chapter's ``main(quick=True, out_dir=...)`` returns the numbers its prose states; the
tests below assert them with the tolerance the prose implies ("0.7222" to four decimals,
"about 85%" as a range, "agrees" to rounding) and check that the figures were written.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.standin import StandinArray
from tests.standin import xp as standin
from uniloss_ref import device as backend
from uniloss_ref.device.bridge import register

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
EXACT = {"rel": 1e-12, "abs": 1e-15}


def load(stem: str) -> ModuleType:
    """Import ``chapters/<stem>.py`` by path (chapter names start with digits)."""
    spec = importlib.util.spec_from_file_location(f"chapter_{stem}", CHAPTERS / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    """``run(stem, **kwargs)``: the chapter's quick result and its output folder, once each."""
    cache: dict = {}

    def run_chapter(stem: str, **kwargs) -> tuple[dict, Path]:
        key = (stem, tuple(sorted(kwargs.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(stem)
            cache[key] = (load(stem).main(quick=True, out_dir=out, **kwargs), out)
        return cache[key]

    return run_chapter


def assert_figures(out: Path, *names: str) -> None:
    for name in names:
        path = out / name
        assert path.is_file() and path.stat().st_size > 10_000, path


# ----- 1. A metric is a function of comparisons -----


def test_chapter_01_ap_and_accuracy_by_hand_agree_with_the_refactoring(run):
    result, out = run("01_metric_as_comparisons")
    assert result["ap_by_hand"] == pytest.approx(13 / 18, **EXACT)  # 0.7222
    assert result["ap_h"] == pytest.approx(result["ap_by_hand"], **EXACT)
    assert result["ap_from_counts"] == pytest.approx(result["ap_by_hand"], **EXACT)
    assert result["counts"] == [1, 0, 3]
    assert result["accuracy_by_hand"] == result["accuracy_h"] == 0.5
    assert_figures(out, "01_comparisons.png")


def test_chapter_01_ties_count_against_the_positive(run):
    result, _ = run("01_metric_as_comparisons")
    assert result["one_tie_pessimistic"] == pytest.approx(2 / 3, **EXACT)  # 0.6667
    assert result["one_tie_evaluate"] == pytest.approx(2 / 3, **EXACT)
    assert result["one_tie_optimistic"] == pytest.approx(13 / 18, **EXACT)
    all_tied = (1 / 5 + 2 / 6 + 3 / 7) / 3  # 0.3206
    assert result["all_tied_pessimistic"] == pytest.approx(all_tied, **EXACT)
    assert result["all_tied_evaluate"] == pytest.approx(all_tied, **EXACT)
    assert round(all_tied, 4) == 0.3206
    assert result["all_tied_optimistic"] == 1.0


def test_chapter_01_a_cycle_is_unreachable_and_most_configurations_are(run):
    result, _ = run("01_metric_as_comparisons")
    assert result["cycle_reachable"] is False
    assert result["cycle_h_zero"] == 0.0
    assert result["cycle_h_counts"] == pytest.approx(7 / 12, **EXACT)  # 0.5833
    assert result["realisable_count"] == result["realisable_package_count"] == 1066
    assert round(1066 / 4096, 2) == 0.26


# ----- 2. Relaxing the sign and interpolating h -----


def test_chapter_02_exact_at_anchors_and_the_mean_at_the_centre(run):
    result, out = run("02_relax_and_interpolate")
    assert result["anchor_error"] == 0.0
    p_half, p_one, p_two, p_four = result["near_anchor_error"]
    assert 3e-5 < p_half < 4e-5  # 3.5e-5
    assert 7e-10 < p_one < 8e-10  # 7.4e-10
    assert p_two < 1e-15 and p_four < 1e-15
    assert result["centre"] == pytest.approx([7 / 12] * 4, **EXACT)  # 0.5833
    assert_figures(out, "02_surface.png", "02_temperature_power.png")


def test_chapter_02_temperature_and_power_trade_closeness_for_slope(run):
    result, _ = run("02_relax_and_interpolate")
    gaps = result["gap_by_temperature"]
    assert gaps == pytest.approx([0.016, 0.049, 0.135, 0.218], abs=5e-4)
    assert np.all(np.diff(gaps) > 0)
    slopes = result["slope_at_0_by_temperature"]
    assert slopes[0] < 5e-5  # 0 to four decimals
    assert slopes[2] == pytest.approx(0.045, abs=5e-4)
    assert slopes[2] == max(slopes)
    low, mid, one, three = result["min_slope_by_temperature"]
    assert low < 0 and mid < 0 and one > 0 and three > 0
    power_gaps = result["gap_by_power"]
    assert power_gaps == pytest.approx([0.200, 0.135, 0.067, 0.031], abs=5e-4)
    assert np.all(np.diff(power_gaps) < 0)


def test_chapter_02_few_anchors_are_exact_only_at_themselves(run):
    result, _ = run("02_relax_and_interpolate")
    assert result["few_anchors_anchor_error"] == 0.0
    assert result["few_anchors_other_error"] == pytest.approx(0.36, abs=5e-3)


# ----- 3. Anchors -----


def test_chapter_03_kinds_add_up_and_the_goal_carries_the_ap_gradient(run):
    result, out = run("03_anchors")
    assert result["sum_error"] < 1e-9
    assert 0.75 < result["goal_share"] < 0.95  # about 85%
    assert result["good_cosine"] == pytest.approx(0.96, abs=0.03)
    assert result["good_up"] >= 0.95
    assert result["bad_value"] == 0.0
    assert 0.3 < result["nearby_positive"] < 0.7  # about half worth 0
    assert result["nearby_down"] > result["nearby_up"]
    assert result["row_up"] >= 0.8
    assert_figures(out, "03_anchor_kinds.png", "03_pck_pulls.png")


def test_chapter_03_random_and_nearby_anchors_carry_nothing_for_pck(run):
    result, _ = run("03_anchors")
    assert result["pck_bad_positive"] == 0.0
    assert result["pck_nearby_above"] == 0.0
    assert result["pck_row_above"] > 0.75
    distance = result["pck_distance"]
    near = max(distance["row"], distance["nearby"], distance["current"])
    far = min(distance["truth"], distance["good"], distance["bad"])
    assert far > 1.4 * near
    assert result["pck_goal_signs"] == 1.0


# ----- 4. Binary classification with AP -----


def test_chapter_04_both_losses_rank_well_and_each_curve_area_is_its_ap(run):
    result, out = run("04_binary_classification_ap")
    assert result["epochs"] == 6
    assert result["positive_fraction"] == pytest.approx(35 / 359, **EXACT)  # about 0.10
    for loss in ("uniloss", "bce"):
        assert result["test_ap"][loss] > 0.5  # "above 0.5 even with quick=True"
        assert result["curve_ap"][loss] == pytest.approx(result["test_ap"][loss], rel=1e-12)
    assert_figures(out, "04_precision_recall.png")


# ----- 5. Multi-class accuracy -----


def test_chapter_05_both_losses_learn_and_uniloss_starts_slower(run):
    result, out = run("05_multiclass_accuracy")
    assert result["epochs"] == 8
    for loss in ("uniloss", "ce"):
        assert result["test_accuracy"][loss] > 0.5  # "above 0.5 even with quick=True"
    first = result["first_epoch_val_accuracy"]
    assert first["uniloss"] < first["ce"]
    assert_figures(out, "05_training_curves.png")


def test_chapter_05_the_surrogate_rises_and_crosses_the_batch_accuracy(run):
    result, _ = run("05_multiclass_accuracy")
    surrogate, accuracy = result["surrogate"], result["batch_accuracy"]
    assert all(0.0 <= value <= 1.0 for value in surrogate)
    assert surrogate[-1] > surrogate[0]
    assert surrogate[0] > accuracy[0]
    assert surrogate[-1] < accuracy[-1]


# ----- 6. Keypoints with PCK -----


def test_chapter_06_pck_rises_with_the_threshold_and_matches_training(run):
    result, out = run("06_keypoints_pck")
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
    result, out = run("07_checking_gradients")
    assert result["autograd_min_cosine"] > 1 - 1e-9
    assert result["corrected_min_cosine"] > 1 - 1e-9
    assert result["autograd_max_error"] < 1e-6
    assert result["identity_max_error"] < 1e-12
    assert_figures(out, "07_gradients.png")


def test_chapter_07_the_authors_gradient_is_far_off_and_not_reliably_uphill(run):
    result, _ = run("07_checking_gradients")
    assert 0.05 < result["authors_median_cosine"] < 0.3  # about 0.15
    assert 0.08 < result["authors_negative_fraction"] < 0.3  # about one in six
    assert result["random_ours_rise_fraction"] == 1.0
    assert 0.65 < result["random_authors_rise_fraction"] < 0.95  # about 80%
    assert 0.6 < result["ap_authors_median_cosine"] < 0.9  # about 0.8
    assert result["ap_ours_rise_fraction"] == 1.0
    assert result["ap_authors_rise_fraction"] >= 0.9


def test_chapter_07_both_gradients_train_but_the_authors_inflate_the_weights(run):
    result, _ = run("07_checking_gradients")
    assert result["start_ap"] == pytest.approx(0.16, abs=0.01)
    for final in result["final_ap"].values():
        assert 0.6 < final < 0.8  # about 0.7
    norms = result["weight_norm"]
    assert norms["authors"] > 3 * norms["autograd"]


# ----- 8. Your own metric -----


def test_chapter_08_precision_at_k_passes_the_checker_and_brute_force(run):
    result, out = run("08_your_own_metric")
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
    result, _ = run("08_your_own_metric")
    assert result["start_precision"] == pytest.approx(0.29, abs=1e-12)
    final = result["final_precision"]
    assert final["uniloss"] == pytest.approx(0.8, abs=0.05)
    assert result["ideal_precision"] == pytest.approx(0.84, abs=1e-12)
    assert result["ideal_precision"] - final["uniloss"] <= 0.1
    assert abs(final["uniloss"] - final["bce"]) <= 0.1


def test_chapter_08_metric_rejects_bad_input():
    precision = load("08_your_own_metric").PrecisionAtK
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
    result, _ = run("09_same_code_on_a_gpu", device="cpu")
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
    chapter = load("09_same_code_on_a_gpu")
    name, reason = chapter.choose_device("auto")
    assert name == "cpu"
    assert "no GPU here" in reason and "No module named 'cupy'" in reason


def test_chapter_09_device_path_agrees_to_1e_12_on_the_standin_gpu(monkeypatch, tmp_path):
    # The tests' strict stand-in for CuPy plays the GPU, so the device branch runs here.
    register(StandinArray, standin)
    monkeypatch.setattr(backend, "_import_cupy", lambda: standin)
    monkeypatch.setattr(backend, "_gpu", None)
    monkeypatch.setattr(backend, "_default_device", None)
    result = load("09_same_code_on_a_gpu").main(quick=True, out_dir=tmp_path, device="gpu")
    assert result["device"] == "gpu"
    assert max(result["metric_differences"].values()) <= 1e-12
    assert result["parameter_difference"] <= 1e-12
    assert result["loss_difference"] <= 1e-12


# ----- The list of chapters -----


def test_every_chapter_file_is_listed_in_the_chapters_readme():
    readme = (CHAPTERS / "README.md").read_text(encoding="utf-8")
    for path in sorted(CHAPTERS.glob("[0-9][0-9]_*.py")):
        assert path.name in readme, path.name
