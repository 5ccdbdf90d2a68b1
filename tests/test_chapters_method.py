"""Chapters 1-3 run in quick mode, and every number their text states holds."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from tests.chapter_tools import CHAPTERS, EXACT, PRINTED, assert_figures, unshown_numbers
from uniloss_ref import tutorial
from uniloss_ref.conformance import load as load_vectors

# ----- Every number the prose states is one the outputs show -----

CITED = {
    "01_metric_as_comparisons": {},
    "02_relax_and_interpolate": {
        "97.40%": "docs/reproduction.md: the accuracy CNN at tau 0.3, 30 epochs",
        "94.52%": "docs/reproduction.md: the same at tau 1",
    },
    "03_anchors": {"90.49": "docs/reproduction.md: the keypoint network with random anchors"},
    "04_build_it_yourself": {
        "100": "the lines of chapters/solutions/04_build_it_yourself.py, counted by a test below"
    },
}


@pytest.mark.parametrize("stem", list(CITED))
def test_chapter_prose_states_only_numbers_its_outputs_show(run, stem):
    result, _ = run(stem)
    assert unshown_numbers(stem, result[PRINTED], CITED[stem]) == []


def test_the_prose_check_catches_a_number_the_outputs_do_not_show(run):
    result, _ = run("01_metric_as_comparisons")
    printed = result[PRINTED].replace("0.7222", "0.7223").replace("10 stayed", "9 stayed")
    missing = unshown_numbers("01_metric_as_comparisons", printed, {})
    assert any(line.startswith("0.7222:") for line in missing)
    assert unshown_numbers("01_metric_as_comparisons", result[PRINTED], {}) == []


# ----- 1. A metric is a function of comparisons -----


def test_chapter_01_ap_and_accuracy_by_hand_agree_with_the_refactoring(run):
    result, out = run("01_metric_as_comparisons")
    assert result["ap_by_hand"] == pytest.approx(13 / 18, **EXACT)  # 0.7222
    assert result["ap_h"] == pytest.approx(result["ap_by_hand"], **EXACT)
    assert result["ap_from_counts"] == pytest.approx(result["ap_by_hand"], **EXACT)
    assert result["counts"].tolist() == [1, 0, 3]
    assert result["refactoring"].length == 12
    assert result["accuracy_by_hand"] == result["accuracy_h"] == 0.5
    assert_figures(out, "01_comparisons.png")


def test_chapter_01_ties_count_against_the_positive(run):
    result, _ = run("01_metric_as_comparisons")
    one_tie, all_tied = result["one_tie"], result["all_tied"]
    assert one_tie["ties"] == 1
    assert one_tie["pessimistic"] == pytest.approx(2 / 3, **EXACT)  # 0.6667
    assert one_tie["evaluate"] == pytest.approx(2 / 3, **EXACT)
    assert one_tie["optimistic"] == pytest.approx(13 / 18, **EXACT)
    every_negative_above = (1 / 5 + 2 / 6 + 3 / 7) / 3  # 0.3206
    assert all_tied["ties"] == 12
    assert all_tied["pessimistic"] == pytest.approx(every_negative_above, **EXACT)
    assert all_tied["evaluate"] == pytest.approx(every_negative_above, **EXACT)
    assert round(every_negative_above, 4) == 0.3206
    assert all_tied["optimistic"] == 1.0


def test_chapter_01_a_cycle_is_unreachable_and_most_configurations_are(run):
    result, _ = run("01_metric_as_comparisons")
    assert result["cycle_reachable"] is False
    assert result["cycle_h_zero"] == 0.0
    assert result["cycle_h_counts"] == pytest.approx(7 / 12, **EXACT)  # 0.5833
    assert len(result["realisable"]) == 1066
    assert result["scored_above_zero"] == result["realisable"]
    assert round(1066 / 4096, 2) == 0.26


def test_chapter_01_exercise_answers(run):
    result, _ = run("01_metric_as_comparisons")
    assert result["exercise_1_counts"].tolist() == [1, 0, 1]
    assert result["exercise_1_changed"] == 2  # the other 10 of 12 stay
    assert result["exercise_1_ap"] - result["ap_h"] == pytest.approx(0.083, abs=5e-4)
    assert set(result["exercise_4"]) == {(3, 4), (2, 2)}
    assert result["exercise_1_ap"] == pytest.approx(29 / 36, **EXACT)  # 0.8056
    assert result["exercise_2_auc"] == pytest.approx(8 / 12, **EXACT)  # 0.6667
    assert result["exercise_2_direct"] == pytest.approx(8 / 12, **EXACT)
    assert result["exercise_3_top2"] == 1.0


# ----- 2. Relaxing the sign and interpolating h -----


def test_chapter_02_exact_at_anchors_and_the_mean_at_the_centre(run):
    result, out = run("02_relax_and_interpolate")
    assert result["VALUES"] == pytest.approx([1, 1 / 2, 1 / 2, 1 / 3], **EXACT)
    assert result["example_relaxed"] == pytest.approx([0.2449, -0.2449], abs=5e-5)
    exactness = result["exactness"]
    assert max(row["at_anchors"] for row in exactness.values()) == 0.0
    p_half, p_one, p_two, p_four = (row["near_anchor"] for row in exactness.values())
    assert 3e-5 < p_half < 4e-5  # 3.5e-5
    assert 7e-10 < p_one < 8e-10  # 7.4e-10
    assert p_two < 1e-15 and p_four < 1e-15
    for row in exactness.values():
        assert row["centre"] == pytest.approx(7 / 12, **EXACT)  # 0.5833
    assert_figures(out, "02_surface.png", "02_temperature_power.png")


def test_chapter_02_temperature_and_power_trade_closeness_for_slope(run):
    result, _ = run("02_relax_and_interpolate")
    runs = list(result["by_temperature"].values())
    gaps = [run["gap"] for run in runs]
    assert gaps == pytest.approx([0.016, 0.049, 0.135, 0.218], abs=5e-4)
    assert np.all(np.diff(gaps) > 0)
    slopes = [run["slope_at_0"] for run in runs]
    assert slopes[0] < 5e-5  # 0 to four decimals
    assert slopes[2] == pytest.approx(0.045, abs=5e-4)
    assert slopes[2] == max(slopes)
    low, mid, one, three = (run["min_slope"] for run in runs)
    assert low < 0 and mid < 0 and one > 0 and three > 0
    negative = [run["negative"] for run in runs]
    assert all(0.075 <= share < 0.115 for share in negative[:2])  # 8 to 11%
    assert negative[2] == negative[3] == 0.0
    power_gaps = [run["gap"] for run in result["by_power"].values()]
    assert power_gaps == pytest.approx([0.200, 0.135, 0.067, 0.031], abs=5e-4)
    assert np.all(np.diff(power_gaps) < 0)


def test_chapter_02_training_prefers_small_tau_despite_its_negative_slope(run):
    result, _ = run("02_relax_and_interpolate")
    mean = {tau: np.mean(accuracies) for tau, accuracies in result["sweep"].items()}
    spread = {tau: np.ptp(accuracies) for tau, accuracies in result["sweep"].items()}
    assert min(mean[0.3], mean[0.1]) > mean[1.0] > mean[3.0]
    assert abs(mean[0.3] - mean[0.1]) < 0.01  # within a point of each other
    assert mean[0.3] == pytest.approx(0.91, abs=0.015)  # about 91%
    assert mean[0.1] == pytest.approx(0.91, abs=0.015)
    assert mean[1.0] == pytest.approx(0.84, abs=0.015)
    assert mean[3.0] == pytest.approx(0.65, abs=0.03)
    assert spread[0.3] < spread[0.1] and spread[0.3] < spread[1.0]  # the steadiest


def test_chapter_02_few_anchors_are_exact_only_at_themselves(run):
    result, _ = run("02_relax_and_interpolate")
    error, is_anchor = result["corner_error"], result["is_anchor"]
    assert is_anchor.sum() == 4
    assert error[is_anchor].max() == 0.0
    assert error[~is_anchor].max() == pytest.approx(0.36, abs=5e-3)


def test_chapter_02_exercise_answers(run):
    result, _ = run("02_relax_and_interpolate")
    far = 1 / np.sqrt(5)
    assert result["exercise_1"] == pytest.approx((1.5 + (5 / 6) * far) / (2 + 2 * far), **EXACT)
    assert round(result["exercise_1"], 4) == 0.6470
    assert result["exercise_2"] == pytest.approx(7 / 12, **EXACT)
    corner = (1 / np.sqrt(8) + 1 / 2) / (1 / np.sqrt(8) + 1)
    assert result["exercise_3_corner"] == pytest.approx(corner, **EXACT)
    assert round(corner, 4) == 0.6306
    assert result["exercise_3_min"] == pytest.approx(0.5, **EXACT)
    assert result["exercise_4"].cases == 150 and result["exercise_4"].worst < 1e-12


# ----- 3. Anchors -----


def test_chapter_03_kinds_add_up_and_the_goal_carries_the_ap_gradient(run):
    result, out = run("03_anchors")
    ap = result["ap"]
    kinds = ap["kinds"]
    assert ap["sum_error"] < 1e-9
    assert 0.75 < result["goal_share"] < 0.95  # "more than 75%"
    assert result["goal_share"] == kinds["truth"]["share"] + kinds["good"]["share"]
    assert kinds["good"]["cosine"] > 0.93
    assert kinds["good"]["up"] >= 0.95 and kinds["truth"]["up"] >= 0.95
    assert kinds["bad"]["value"] < 0.01  # all but a handful are worth 0
    assert 0.3 < kinds["nearby"]["value_positive"] < 0.7  # about half worth 0
    assert kinds["nearby"]["down"] > kinds["nearby"]["up"]
    assert kinds["row"]["up"] >= 0.8
    table = {kind: row for kind, row in result["kind_table"](result["example"]).items()}
    assert table["truth"]["value"] == 1.0 and table["bad"]["value"] == 0.0
    near = max(table[kind]["distance"] for kind in ("nearby", "current"))
    far = min(table[kind]["distance"] for kind in ("truth", "good"))
    assert far > 1.5 * near  # "about half as far"
    for kind in ("row", "bad"):
        assert near < table[kind]["distance"] < far  # "in between"
    assert max(table, key=lambda kind: table[kind]["weight"]) == "nearby"
    assert round(table["nearby"]["weight"], 3) == 0.436  # the largest share, not most
    assert round(result["near_weight"], 3) == 0.465 < 0.5  # with the current anchor
    assert result["example"].surrogate > result["example"].batch_metric
    assert_figures(out, "03_anchor_kinds.png", "03_pck_pulls.png")


def test_chapter_03_random_anchors_carry_no_direction_for_pck_but_sharpen(run):
    result, _ = run("03_anchors")
    kinds = result["pck"]["kinds"]
    assert kinds["bad"]["value_positive"] == 0.0
    assert kinds["nearby"]["above_current"] == 0.0
    assert kinds["row"]["above_current"] > 0.75
    near = max(kinds[kind]["distance"] for kind in ("row", "nearby", "current"))
    far = min(kinds[kind]["distance"] for kind in ("truth", "good", "bad"))
    assert far > 1.4 * near
    assert result["pck"]["goal_signs"] == 1.0
    assert kinds["bad"]["contrast"] > 0.3
    for kind in ("current", "nearby", "row"):
        assert kinds[kind]["contrast"] < -0.2
    assert -0.3 < kinds["truth"]["contrast"] < 0 and -0.3 < kinds["good"]["contrast"] < 0


def test_chapter_03_without_random_anchors_the_heatmaps_flatten(run):
    result, _ = run("03_anchors")
    with_bad, without = result["heatmap_runs"][16], result["heatmap_runs"][0]
    for kept, dropped in zip(with_bad, without, strict=True):
        assert kept["contrast"] > kept["contrast_0"] and kept["contrast"] > 1.3
        assert dropped["contrast"] < dropped["contrast_0"] and dropped["contrast"] < 0.6
        assert kept["pck_25"] > dropped["pck_25"]
        assert kept["pck"] >= 0.75  # high after 100 steps
    assert np.mean([r["pck_25"] for r in with_bad]) > 0.6
    assert np.mean([r["pck_25"] for r in without]) < 0.35
    caught_up = np.mean([r["pck"] for r in without])  # about 0.7 after 100 steps
    assert 0.55 <= caught_up <= np.mean([r["pck"] for r in with_bad])


def test_chapter_03_exercise_answers(run):
    result, _ = run("03_anchors")
    assert result["exercise_1"] == pytest.approx([(1 + 2 / 3) / 2], **EXACT)  # 0.8333
    assert result["exercise_2"] == pytest.approx(0.5, abs=0.02)
    assert result["exercise_3"] == pytest.approx([0.375, 0.5], **EXACT)
    assert result["exercise_4"].cases == 200
    worth = result["exercise_4_worth"]
    assert worth["margin"] == 1.0 and 0.3 < worth["random"] < 0.7  # "about half"


# ----- 4. Build it yourself -----


def test_chapter_04_the_solutions_are_short_and_pass_every_step_check(run):
    result, _ = run("04_build_it_yourself")
    text = (CHAPTERS / "solutions" / "04_build_it_yourself.py").read_text(encoding="utf-8")
    body = text[text.index("# ----- 1.") :].splitlines()
    code = [line for line in body if line.strip() and not line.lstrip().startswith("#")]
    assert 80 <= len(code) <= 120  # "about 100 lines"
    assert result["ap_1"] == pytest.approx(13 / 18, **EXACT)  # 0.7222
    assert result["sampler_difference"] < 1e-12
    values = result["our_values"]
    assert values[0] == 1.0
    assert values[1:17] == pytest.approx([0.95] * 16, **EXACT)
    assert np.all(values[33:49] == 0.0)


def test_chapter_04_each_piece_does_what_its_cell_says(run):
    result, _ = run("04_build_it_yourself")
    assert result["relaxed_demo"] == pytest.approx([-1.0, 0.2449, 1.0], abs=5e-5)
    assert result["slope_demo"] == pytest.approx([0.0, 0.47, 0.0], abs=5e-3)
    values, kinds = result["values_1"], result["kinds_1"]
    assert result["anchors_1"].shape == (52, 12)
    assert values[kinds == "truth"].tolist() == [1.0]
    assert values[kinds == "good"] == pytest.approx([(2 + 3 / 4) / 3] * 16, **EXACT)  # 0.9167
    assert (values[kinds == "nearby"] == 0).any() and (values[kinds == "bad"] == 0).any()
    assert values[kinds == "current"] == pytest.approx([13 / 18], **EXACT)  # 0.7222
    assert np.all(values[kinds == "row"] >= 13 / 18)
    assert result["on_truth"] == 1.0
    assert np.all(result["on_truth_gradient"] == 0.0)
    assert values.min() <= result["at_batch"] <= values.max()


def test_chapter_04_passes_every_conformance_case(run):
    result, _ = run("04_build_it_yourself")
    report = result["report"]
    assert report.passed
    four = [c for c in load_vectors()["cases"] if c["metric"] in result["METRICS"]]
    assert len({check.case for check in report.checks}) == len(four) == 72
    assert not report.by_status("skip") and not report.by_status("fail")


def test_chapter_04_exercise_answers(run):
    result, _ = run("04_build_it_yourself")
    epsilon = result["exercise_1"]
    assert {q for _, q in epsilon} == {"surrogate", "loss", "gradient"}
    assert len(result["exercise_1_cases"]) == 14
    kinds = {case.split("/")[1] for case in result["exercise_1_cases"]}
    assert kinds == {"extreme-on-anchor", "near-anchor", "very-near-anchor", "large-power"}
    on_or_overflowing = ("extreme-on-anchor", "large-power")
    assert all(case.endswith(on_or_overflowing) for case, q in epsilon if q == "gradient")
    near = result["exercise_1_near"]
    assert len(near) == 6
    assert [case for case, ratio in near.items() if ratio < 1] == ["ap-counts/very-near-anchor"]
    assert round(min(near.values()), 2) == 0.50 and round(max(near.values()), 2) == 3.68
    expanded = result["exercise_2"]
    near_ones = {"near-anchor", "very-near-anchor", "large-power"}
    assert {case.split("/")[1] for case, _ in expanded} == near_ones
    assert "distances" in {q for _, q in expanded}
    assert result["exercise_3_gradient"][1:].tolist() == [0.0, 0.0]
    assert result["exercise_3_warnings"] == ["overflow encountered in cosh"]


def test_chapter_04_without_solutions_stops_at_the_first_check_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, str(CHAPTERS / "04_build_it_yourself.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    first, hint = done.stderr.strip().splitlines()
    assert first.startswith("✗ ranking_pairs") and "write its body" in first
    assert hint.startswith("  hint: ") and "positive-major" in hint


# ----- The chapters' runtime -----

TINY_CHAPTER = """
from uniloss_ref import tutorial

lesson = tutorial.setup(__name__, "99", "A tiny chapter.", options={"device": "auto"})
print(f"quick={lesson.quick} out={lesson.out} device={lesson.options['device']}")
"""


def test_setup_outside_a_script_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(tutorial.QUICK_ENV, raising=False)
    monkeypatch.delenv(tutorial.OUT_ENV, raising=False)
    lesson = tutorial.setup("chapter_99", "99", "A tiny chapter.")
    assert lesson.quick is False and lesson.out is None
    monkeypatch.setenv(tutorial.QUICK_ENV, "1")
    monkeypatch.setenv(tutorial.OUT_ENV, str(tmp_path))
    lesson = tutorial.setup("chapter_99", "99", "A tiny chapter.")
    assert lesson.quick is True and lesson.out == tmp_path


def test_run_chapter_passes_options_and_rejects_unknown_ones(tmp_path, capsys):
    path = tmp_path / "99_tiny.py"
    path.write_text(TINY_CHAPTER, encoding="utf-8")
    namespace = tutorial.run_chapter(path, quick=True, out_dir=tmp_path, device="cpu")
    assert namespace["lesson"].options["device"] == "cpu"
    assert f"quick=True out={tmp_path} device=cpu" in capsys.readouterr().out
    with pytest.raises(TypeError, match="no option"):
        tutorial.run_chapter(path, out_dir=tmp_path, colour="red")


def test_a_chapter_run_as_a_script_reads_its_command_line(tmp_path):
    path = tmp_path / "99_tiny.py"
    path.write_text(TINY_CHAPTER, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(path), "--quick", "--out", "figures", "--device", "cpu"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "quick=True out=figures device=cpu"


def test_show_saves_the_figure_atomically_and_only_where_asked(tmp_path):
    figure = Figure(figsize=(2, 2))
    figure.subplots().plot([0, 1], [1, 0])
    tutorial.Lesson(quick=True, out=tmp_path / "new").show(figure, "line.png")
    assert (tmp_path / "new" / "line.png").read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["line.png"]  # no temporary left
    tutorial.Lesson(quick=True, out=None).show(figure, "nowhere.png")
    assert not list(tmp_path.glob("**/nowhere.png"))


def test_every_chapter_file_is_listed_in_the_chapters_readme():
    readme = (CHAPTERS / "README.md").read_text(encoding="utf-8")
    for path in sorted(CHAPTERS.glob("[0-9][0-9]_*.py")):
        assert path.name in readme, path.name


def test_an_exercise_left_unwritten_does_not_stop_its_chapter(tmp_path, capsys):
    path = CHAPTERS / "01_metric_as_comparisons.py"
    result = tutorial.run_chapter(path, quick=True, out_dir=tmp_path)
    assert result["exercise_4"] == {(3, 4): None, (2, 2): None}
    assert "from_a_ranking on every configuration of 3 + 4: not written yet" in (
        capsys.readouterr().out
    )
