"""Chapters 5-11 run in quick mode, and every claim their text makes holds.

Training results depend on the task defaults, which may be retuned; the tests therefore
assert what the text claims (orders, ranges, relations between runs) against the values
the chapter computed, not the digits of one run.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.chapter_tools import EXACT, PRINTED, assert_figures, load, unshown_numbers
from tests.standin import StandinArray
from tests.standin import xp as standin
from uniloss_ref import device as backend
from uniloss_ref import exercises, tutorial
from uniloss_ref.anchors import KINDS
from uniloss_ref.device.bridge import register

# ----- Every number the prose states is one the outputs show -----

REPRODUCTION = "docs/reproduction.md"
CITED = {
    "05_binary_classification_ap": {
        "1.04": f"{REPRODUCTION}: UniLoss minus BCE on AP, ten held-out seeds",
        "1.08": f"{REPRODUCTION}: its sd",
    },
    "06_multiclass_accuracy": {
        "97.40%": f"{REPRODUCTION}: accuracy, 16 row anchors, tau 0.3, 30 epochs",
        "96.19%": f"{REPRODUCTION}: without row anchors",
        "96.01%": f"{REPRODUCTION}: with 64",
        "96.38%": f"{REPRODUCTION}: tau 0.1",
        "94.52%": f"{REPRODUCTION}: tau 1",
    },
    "07_keypoints_pck": {"3600": f"{REPRODUCTION}: the full keypoint training set"},
    "08_checking_gradients": {
        "80%": "this chapter's full run (300 problems); quick mode prints its own",
        "180": "the paper's MLP: 64 * 500 + 500 + 500 * 300 + 300 + 300 + 1 = 183,101 weights",
    },
    "09_your_own_metric": {},
    "10_same_code_on_a_gpu": {},
    "11_porting": {},
}
OPTIONS = {"10_same_code_on_a_gpu": {"device": "cpu"}}


@pytest.mark.parametrize("stem", list(CITED))
def test_chapter_prose_states_only_numbers_its_outputs_show(run, stem):
    if stem == "11_porting":
        pytest.importorskip("torch")
    result, _ = run(stem, **OPTIONS.get(stem, {}))
    assert unshown_numbers(stem, result[PRINTED], CITED[stem]) == []


# ----- 5. Binary classification with AP -----


def test_chapter_05_both_losses_rank_well_and_each_curve_area_is_its_ap(run):
    result, out = run("05_binary_classification_ap")
    assert result["epochs"] == 6
    assert result["positive_fraction"] == pytest.approx(35 / 359, **EXACT)  # 0.097
    # The mix is the task's default (printed, not stated): the paper's kinds are all there.
    mix = result["anchor_mix"]
    assert set(mix) == set(KINDS)
    assert min(mix[kind] for kind in ("truth", "good", "nearby", "bad")) >= 1
    for loss in ("uniloss", "bce"):
        assert result["test_ap"][loss] > 0.5  # "above 0.5 in quick mode"
        assert result["curve_ap"][loss] == pytest.approx(result["test_ap"][loss], rel=1e-12)
    assert_figures(out, "05_precision_recall.png")


def test_chapter_05_exercise_answers(run):
    result, _ = run("05_binary_classification_ap")
    # 1: random scores average a little above the fraction of positives.
    fraction = result["positive_fraction"]
    assert fraction < result["exercise_1_random_ap"] < fraction + 0.05
    assert result["exercise_1_untrained_ap"] < 0.3
    # 2: about one batch in five holds no eight; UniLoss's gradient there is exactly 0.
    expected = result["exercise_2_expected"]
    assert expected == pytest.approx(0.9**16, abs=0.03)
    assert abs(result["exercise_2_empty_fraction"] - expected) < 0.1
    assert result["exercise_2_uniloss_gradient"] == 0.0
    assert result["exercise_2_bce_gradient"] > 1e-3
    # 3: a shift changes neither AP nor UniLoss; a scale changes UniLoss but not AP.
    answers = result["exercise_3"]
    for name in ("AP", "UniLoss"):
        assert answers[name]["+ 5"] == pytest.approx(answers[name]["as is"], abs=1e-12)
    assert answers["AP"]["x 10"] == answers["AP"]["as is"] < 1.0
    assert abs(answers["UniLoss"]["x 10"] - answers["UniLoss"]["as is"]) > 1e-3
    standardised = answers["UniLoss, standardised"]
    for how in ("+ 5", "x 10"):
        assert standardised[how] == pytest.approx(standardised["as is"], abs=1e-9)
    for how in ("+ 5", "x 10"):
        assert abs(answers["BCE"][how] - answers["BCE"]["as is"]) > 1e-3
    # 4: the learner's stratified order puts one or two eights in every batch of 16.
    assert set(result["exercise_4_eights"]) <= {1, 2}
    assert (result["exercise_4_random"] == 0).any()


# ----- 6. Multi-class accuracy -----


def test_chapter_06_the_loss_states_its_anchor_mix_and_both_losses_learn(run):
    result, out = run("06_multiclass_accuracy")
    assert result["epochs"] == 6
    assert result["anchor_mix"] == {
        "truth": 1, "good": 16, "nearby": 16, "bad": 16, "current": 1, "row": 16
    }  # fmt: skip
    assert result["anchors_per_step"] == 66
    assert result["uniloss"].temperature == 0.3
    for loss in ("uniloss", "ce"):
        assert result["test_accuracy"][loss] > 0.5  # "above 0.5 in quick mode"
    assert result["first_epoch"]["uniloss"] < result["first_epoch"]["ce"]  # "starts slower"
    assert_figures(out, "06_training_curves.png", "06_anchors_and_temperature.png")


def test_chapter_06_the_surrogate_rises_and_crosses_the_batch_accuracy(run):
    result, _ = run("06_multiclass_accuracy")
    surrogate, accuracy = result["surrogate"], result["batch_accuracy"]
    assert all(0.0 <= value <= 1.0 for value in surrogate)
    assert surrogate[-1] > surrogate[0]
    assert surrogate[0] > accuracy[0]
    assert surrogate[-1] < accuracy[-1]


def test_chapter_06_which_anchors_are_worth_more_at_the_start(run):
    result, _ = run("06_multiclass_accuracy")
    worth = result["worth_more"]
    assert set(worth) == set(KINDS)
    assert worth["truth"] == worth["good"] == 1.0  # "always above"
    assert worth["nearby"] < 0.05  # "almost never"
    assert worth["row"] > 0.8  # "almost always"
    assert worth["bad"] == 0.0
    assert worth["current"] == 0.0  # equal by construction


def test_chapter_06_row_anchors_do_not_make_the_difference(run):
    result, _ = run("06_multiclass_accuracy")
    ablation = result["ablation"]
    assert ablation["row 0"]["test_metric"] > 0.5  # "learns without the row anchors"
    # "its first epoch is no slower without them"
    first = {name: results["history"][0]["val_metric"] for name, results in ablation.items()}
    assert first["row 0"] >= first["row 16"]
    assert abs(result["row_effect"]) < 0.06  # "within a few points"


def test_chapter_06_negative_slopes_are_real_and_tau_0_3_still_wins(run):
    result, _ = run("06_multiclass_accuracy")
    negative = result["negative_slope"]
    assert negative[1.0] == 0.0
    assert 0.0 < negative[0.3] < 0.15  # "a few per cent"
    assert negative[0.1] >= negative[0.3]
    accuracy = result["tau_accuracy"]
    assert result["best_temperature"] == 0.3
    assert accuracy[0.3] > accuracy[1.0] and accuracy[0.3] > accuracy[0.1]


def test_chapter_06_exercise_answers(run):
    result, _ = run("06_multiclass_accuracy")
    assert result["exercise_1_length"] == 32 * 9
    assert result["exercise_1_rows"] == 32
    assert result["exercise_1_row_length"] == 9
    assert result["exercise_1_near_truth"] == 17
    assert result["exercise_2"][2] >= result["exercise_2"][1]
    assert result["exercise_2"][1] == pytest.approx(result["test_accuracy"]["uniloss"], **EXACT)
    plain, scaled = result["exercise_3"][1.0], result["exercise_3"][5.0]
    assert plain["accuracy"] == scaled["accuracy"] == 1.0
    assert 0.0 < scaled["loss"] < plain["loss"]
    assert result["exercise_4"].cases == 100 and result["exercise_4"].worst < 1e-12


# ----- 7. Keypoints with PCK -----


def test_chapter_07_pck_rises_with_the_threshold_and_matches_training(run):
    result, out = run("07_keypoints_pck")
    thresholds = result["THRESHOLDS"]
    assert thresholds[0] == 0.05 and thresholds[-1] == 1.0 and 0.3 in thresholds
    at = result["at_training_threshold"]
    for loss in ("uniloss", "mse"):
        curve = result["pck_curve"][loss]
        assert np.all(np.diff(curve) >= 0)  # "never decreases as the threshold grows"
        assert curve[at] == result["test_pck"][loss]
        assert result["test_pck"][loss] > 0.3  # "above 0.3 in quick mode"
        assert curve[-1] > 0.7  # "above 0.7 at 1 torso length"
    assert_figures(out, "07_pck_threshold.png", "07_heatmaps.png")


def test_chapter_07_mse_learns_a_bump_and_uniloss_only_the_top_pixel(run):
    result, _ = run("07_keypoints_pck")
    far, correlation = result["far_value"], result["target_correlation"]
    assert far["target"] < 1e-3
    assert far["uniloss"] > far["mse"]  # "UniLoss's maps are higher far from the joint"
    assert correlation["mse"] > correlation["uniloss"]  # "MSE's correlate more"
    profile = result["profile"]
    for name in ("target", "mse", "uniloss"):
        assert profile[name][0] > profile[name][-1]  # every profile peaks at the joint


def test_chapter_07_exercise_answers(run):
    result, _ = run("07_keypoints_pck")
    positives = result["exercise_1_positives"]
    assert 1 <= positives <= 9
    assert result["exercise_1_joint"] == positives * (256 - positives)
    assert 50_000 < result["exercise_1_batch"] < 120_000
    assert result["exercise_2_pck"] == 0.0
    assert result["exercise_3_pck"] == result["test_pck"]["uniloss"]
    assert result["exercise_3_correlation"] < result["target_correlation"]["uniloss"]
    assert result["exercise_4"].cases >= 50 and result["exercise_4"].worst < 1e-12


# ----- 8. Checking a gradient -----


def test_chapter_08_autograd_and_the_corrected_form_pass_finite_differences(run):
    result, out = run("08_checking_gradients")
    assert result["autograd_min_cosine"] > 1 - 1e-9
    assert result["corrected_min_cosine"] > 1 - 1e-9
    assert result["autograd_max_error"] < 1e-6
    assert result["identity_max_error"] < 1e-12
    assert_figures(out, "08_angles.png", "08_training.png")


def test_chapter_08_the_authors_gradient_is_far_off_and_not_reliably_uphill(run):
    result, _ = run("08_checking_gradients")
    assert 0.05 < result["authors_median_cosine"] < 0.3  # about 0.15
    assert 0.08 < result["authors_negative_fraction"] < 0.3  # about one in six
    assert result["random_ours_rise_fraction"] == 1.0
    assert 0.65 < result["random_authors_rise_fraction"] < 0.95  # about 80%
    assert 0.6 < result["ap_authors_median_cosine"] < 0.9  # about 0.8
    assert result["ap_ours_rise_fraction"] == 1.0
    assert result["ap_authors_rise_fraction"] >= 0.9


def test_chapter_08_the_wrong_gradient_trains_a_linear_scorer_but_not_the_paper_network(run):
    result, _ = run("08_checking_gradients")
    assert result["start_ap"] == pytest.approx(0.16, abs=0.01)
    final = result["linear_final_ap"]
    for value in final.values():
        assert 0.6 < value < 0.8  # about 0.7
    norms = result["linear_weight_norm"]
    assert norms["authors'"] > 3 * norms["true"]
    mlp = result["mlp_test_ap"]
    assert mlp["true"] > 0.8
    assert mlp["authors'"] < 0.4
    assert mlp["authors', standardised"] > 0.8
    spread = result["mlp_score_spread"]
    assert spread["authors'"] > 10 * spread["true"]


def test_chapter_08_exercise_answers(run):
    result, _ = run("08_checking_gradients")
    assert result["exercise_1_true"] < 1e-12
    assert result["exercise_1_authors"] > 1e-3
    assert result["exercise_2_error"] == pytest.approx(1e-3, rel=0.01)
    assert result["exercise_2_cosine"] > 1 - 1e-9
    assert result["exercise_3_error"] < 1e-12
    assert result["exercise_4"].cases == 50


def test_chapter_08_exercise_4_rejects_the_authors_sign(run):
    result, _ = run("08_checking_gradients")
    solution = result["idw_gradient"]

    def authors(b, a, v, p):  # the second term's sign flipped
        d2 = np.sum((b - a) ** 2, axis=1)
        w = d2 ** (-p / 2)
        grad_w = -p * w[:, None] * (b - a) / d2[:, None]
        return (v @ grad_w + (w @ v / w.sum()) * grad_w.sum(axis=0)) / w.sum()

    inputs = result["gradient_inputs"]
    reference = lambda b, a, v, p: solution(b, a, v, p)
    with pytest.raises(tutorial.CheckFailed, match="problem 0"):
        exercises.agree_on("authors", authors, reference, inputs, hint="", rtol=1e-9)


# ----- 9. Your own metric -----


def test_chapter_09_precision_at_k_passes_the_checker_and_brute_force(run):
    result, out = run("09_your_own_metric")
    assert result["example_h"] == result["example_evaluate"] == pytest.approx(2 / 3, **EXACT)
    assert result["example_b"].tolist() == [1, 1, -1, 1, -1, 1]
    assert result["check_passed"] is True
    assert result["check_refactoring_error"] == 0.0
    assert result["brute_orders"] == 5040
    assert result["brute_mismatches"] == 0
    assert result["brute_configurations"] == 4096
    assert result["brute_h_range"] == (0.0, 1.0)
    assert result["package_difference"] == 0.0  # "agree on every one of 500 random batches"
    assert result["beyond_batch"] == pytest.approx(3 / 5, **EXACT)
    assert_figures(out, "09_choosing_tau_and_anchors.png")


def test_chapter_09_training_raises_precision_at_k(run):
    result, _ = run("09_your_own_metric")
    final = result["final_precision"]
    assert result["start_precision"] < 0.2
    assert final["uniloss"] > 0.7
    assert abs(final["uniloss"] - final["bce"]) <= 0.1
    assert max(final.values()) < result["ideal_precision"]
    assert result["ideal_precision"] == pytest.approx(0.95, abs=0.02)


def test_chapter_09_the_diagnostic_separates_ap_from_the_all_or_nothing_metrics(run):
    result, _ = run("09_your_own_metric")
    share = result["one_flip_share"]
    assert share["AP (chapter 5)"] > 0.5
    for name in ("accuracy (chapter 6)", "PCK (chapter 7)", "precision at 5 (ours)"):
        assert share[name] < 0.05


def test_chapter_09_the_sweep_backs_the_rule_of_thumb(run):
    result, _ = run("09_your_own_metric")
    sweep, spread = result["sweep"], result["seed_spread"]
    assert len(result["seeds"]) == 2
    assert sweep["tau 0.3"] > sweep["tau 1"] > sweep["tau 3"]  # 0.3 best, 3 clearly worst
    assert sweep["tau 1"] - sweep["tau 3"] > 0.03
    assert sweep["tau 0.1"] < sweep["tau 0.3"]
    assert spread["tau 0.1"] > spread["tau 0.3"]  # "swinging with the seed"
    assert result["mix_spread"] < 0.03  # "within 0.03 of the paper's mix"


def test_chapter_09_exercise_answers(run):
    result, _ = run("09_your_own_metric")
    assert result["exercise_1_all_wrong"] == 0.0
    assert result["exercise_1_cycle"] == pytest.approx(1 / 3, **EXACT)
    assert result["exercise_2_passed"] is True
    assert result["exercise_3_metric"] == pytest.approx(0.6, **EXACT)
    assert result["exercise_3_loss"] == pytest.approx(0.4, abs=0.01)
    assert set(result["exercise_4"]) == {2, 3, 5}


def test_chapter_09_figure_shows_every_seed(run):
    result, _ = run("09_your_own_metric")
    low, high = result["tau_ax"].get_ylim()
    seeds = [v for values in result["sweep_seeds"].values() for v in values]
    assert low <= min(seeds) and max(seeds) <= high


def test_chapter_09_metric_rejects_bad_input(run):
    precision = run("09_your_own_metric")[0]["PrecisionAtK"]
    with pytest.raises(ValueError, match="k must be a positive integer"):
        precision(0)
    with pytest.raises(TypeError, match="k must be a positive integer"):
        precision(2.5)
    with pytest.raises(ValueError, match="exceeds the batch size"):
        precision(5).evaluate(np.zeros(3), np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="labels in"):
        precision(1).evaluate(np.zeros(3), np.array([1, 2, 0]))
    with pytest.raises(ValueError, match="labels in"):
        precision(1).refactor((3,), np.array([1, 0]))


# ----- 10. The same code on a GPU -----


def test_chapter_10_runs_on_numpy_without_a_gpu_and_agrees_exactly(run):
    result, _ = run("10_same_code_on_a_gpu", device="cpu")
    assert result["device"] == "cpu"
    assert len(result["metric_differences"]) == 12  # "each of the twelve metrics"
    assert max(result["metric_differences"].values()) == 0.0
    assert result["parameter_difference"] == 0.0
    assert result["loss_difference"] == 0.0
    assert result["reference"]["losses"][-1] < result["reference"]["losses"][0]


def test_chapter_10_exercise_answers_on_the_cpu(run):
    result, _ = run("10_same_code_on_a_gpu", device="cpu")
    assert set(result["exercise_1"].values()) == {"cpu"}
    assert 1e-12 < result["exercise_2_loss"] < 1e-5
    assert 1e-12 < result["exercise_2_gradient"] < 1e-5
    assert result["exercise_3"].cases == 3 and result["exercise_3"].worst == 0.0


def test_chapter_10_auto_falls_back_to_numpy_when_cupy_is_missing(run, monkeypatch):
    choose_device = run("10_same_code_on_a_gpu", device="cpu")[0]["choose_device"]

    def missing():
        raise ModuleNotFoundError("No module named 'cupy'")

    monkeypatch.setattr(backend, "_import_cupy", missing)
    monkeypatch.setattr(backend, "_gpu", None)
    monkeypatch.setattr(backend, "_default_device", None)
    name, reason = choose_device("auto")
    assert name == "cpu"
    assert "no GPU here" in reason and "No module named 'cupy'" in reason


def test_chapter_10_device_path_agrees_to_1e_12_on_the_standin_gpu(monkeypatch, tmp_path):
    # The tests' strict stand-in for CuPy plays the GPU, so the device branch runs here.
    register(StandinArray, standin)
    monkeypatch.setattr(backend, "_import_cupy", lambda: standin)
    monkeypatch.setattr(backend, "_gpu", None)
    monkeypatch.setattr(backend, "_default_device", None)
    result = load("10_same_code_on_a_gpu", tmp_path, device="gpu")
    assert result["device"] == "gpu"
    assert max(result["metric_differences"].values()) <= 1e-12
    assert result["parameter_difference"] <= 1e-12
    assert result["loss_difference"] <= 1e-12
    # Exercise 1 on a "GPU": the batch-sized steps on the device, anchors and values home.
    assert result["exercise_1"] == {
        "comparisons": "gpu", "relaxed": "gpu", "anchors": "cpu", "values": "cpu",
        "surrogate": "gpu",
    }  # fmt: skip


# ----- 11. Porting (needs PyTorch) -----


def test_chapter_11_the_port_passes_in_float64_and_fails_in_float32(run):
    pytest.importorskip("torch")
    result, _ = run("11_porting")
    assert result["passed"] and result["report"].passed
    assert result["case_count"] == 19  # one ordinary case for each of 11 metrics, 8 with ties
    assert max(result["worst"].values()) < 0.1  # "a small fraction of its tolerance"
    assert {"comparisons", "relaxed", "gradient"} <= set(result["float32_failures"])


def test_chapter_11_exercise_answers(run):
    pytest.importorskip("torch")
    result, _ = run("11_porting")
    assert result["exercise_1"] == ["distances", "gradient", "loss", "relaxed", "surrogate"]
    assert result["exercise_2"] == ["comparisons"]
    assert result["exercise_3"].cases == 3
    assert result["exercise_3_failed"] == [] and result["sigmoid_report"].passed
    assert result["port_lines"] == 142  # "142 lines (counted below)"
