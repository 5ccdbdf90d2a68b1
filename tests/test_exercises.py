"""The learner's checks: they pass chapter 4's solutions and reject each trap with a hint."""

from __future__ import annotations

import runpy

import autograd.numpy as anp
import numpy as np
import pytest
from autograd.extend import defvjp, primitive

from tests.chapter_tools import CHAPTERS
from uniloss_ref import exercises, tutorial

SOLUTIONS = runpy.run_path(str(CHAPTERS / "solutions" / "04_build_it_yourself.py"))
METRICS = {
    "AveragePrecision": SOLUTIONS["average_precision"],
    "RocAuc": SOLUTIONS["roc_auc"],
    "Accuracy": SOLUTIONS["accuracy"],
    "PCK": SOLUTIONS["pck"],
}


def test_every_step_check_passes_the_shipped_solutions(capsys):
    passed = [
        exercises.check_pairs(SOLUTIONS["ranking_pairs"]),
        *(exercises.check_metric(name, function) for name, function in METRICS.items()),
        exercises.check_standardised(SOLUTIONS["standardised"]),
        exercises.check_relaxation(SOLUTIONS["relax"]),
        exercises.check_anchors(SOLUTIONS["draw_anchors"]),
        exercises.check_distances(SOLUTIONS["squared_distances"]),
        exercises.check_weights(SOLUTIONS["weights"]),
        exercises.check_interpolation(SOLUTIONS["interpolate"]),
        exercises.check_loss(SOLUTIONS["loss"], METRICS),
    ]
    assert all(p.cases >= 11 for p in passed)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(passed) and all(line.startswith("✓ ") for line in lines)


def _rejects(check, *args, says: str, hint: str, **kwargs) -> None:
    with pytest.raises(tutorial.CheckFailed) as failure:
        check(*args, **kwargs)
    first, second = str(failure.value).splitlines()
    assert first.startswith("✗ ") and says in first
    assert second.startswith("  hint: ") and hint in second


def test_a_cell_still_holding_dots_is_reported_as_not_written():
    def ranking_pairs(labels): ...

    _rejects(exercises.check_pairs, ranking_pairs, says="write its body", hint="positive-major")


@pytest.mark.parametrize(
    "check", [exercises.check_anchors, exercises.check_distances, exercises.check_weights]
)
def test_every_step_left_unwritten_says_so(check):
    def unwritten(*args, **kwargs): ...

    with pytest.raises(tutorial.CheckFailed, match="write its body"):
        check(unwritten)


def test_a_huge_value_right_to_rounding_shows_a_small_relative_difference():
    assert exercises._difference(1e300 * (1 + 1e-15), 1e300, rtol=1e-12, atol=0.0) == (
        pytest.approx(1e-15, rel=0.5),
        None,
    )
    assert exercises._difference(0.5 + 1e-13, 0.5, rtol=0.0, atol=1e-12)[0] == pytest.approx(
        1e-13, rel=1e-3
    )


def test_pairs_in_the_wrong_order_are_rejected():
    def negative_major(labels):
        i, j, rows = SOLUTIONS["ranking_pairs"](labels)
        pos, neg = np.unique(i), np.unique(j)
        return np.tile(pos, neg.size), np.repeat(neg, pos.size), rows

    _rejects(exercises.check_pairs, negative_major, says="(i)", hint="positive-major")


def test_ap_that_scores_every_configuration_by_the_formula_is_rejected():
    def counts_only(shape, labels, interpolated=False, unrealisable="zero"):
        return SOLUTIONS["average_precision"](shape, labels, interpolated, "counts")

    _rejects(exercises.check_metric, "AveragePrecision", counts_only,
             says="AveragePrecision (h at the anchors)", hint="nested")  # fmt: skip


def test_pck_with_a_strict_radius_is_rejected():
    def strict(shape, targets, threshold=0.5):
        return SOLUTIONS["pck"](shape, targets, threshold * (1 - 1e-9))

    _rejects(exercises.check_metric, "PCK", strict, says="PCK", hint="<= (threshold * scale)^2")


def test_standardising_with_numpy_std_is_rejected():
    _rejects(exercises.check_standardised, lambda s: s / np.std(s), says="raised",
             hint="population standard deviation")  # fmt: skip


def test_autograds_tanh_is_rejected_for_its_overflow():
    _rejects(exercises.check_relaxation, lambda c, t: anp.tanh(c / (2 * t)),
             says="overflow encountered in cosh", hint="(1 - b~^2) / (2 tau)")  # fmt: skip


def test_a_relaxation_with_a_wrong_slope_is_rejected():
    relax = primitive(SOLUTIONS["relaxed_binary"])
    defvjp(relax, lambda b, c, t: lambda g: g * (1.0 - b**2) / t)  # 2 tau forgotten
    _rejects(exercises.check_relaxation, relax, says="(gradient)", hint="(1 - b~^2) / (2 tau)")


def test_anchors_that_flip_a_right_comparison_for_nearby_are_rejected():
    def wrong_nearby(c, rows, rng, **counts):
        anchors = SOLUTIONS["draw_anchors"](c, rows, rng, **counts)
        now = np.where(c > 0, 1.0, -1.0)
        if (now > 0).any() and (now < 0).any():
            start = counts["truth"] + counts["good"]
            anchors[start] = now
            anchors[start, np.flatnonzero(now > 0)[0]] = -1.0
        return anchors

    _rejects(exercises.check_anchors, wrong_nearby, says="nearby anchor 0", hint="nearby")


def test_anchors_that_ignore_the_generator_are_rejected():
    def unseeded(c, rows, rng, **counts):
        return SOLUTIONS["draw_anchors"](c, rows, np.random.default_rng(), **counts)

    _rejects(exercises.check_anchors, unseeded, says="same seed", hint="from rng")


def test_expanded_distances_are_rejected_near_an_anchor():
    expanded = lambda b, a: anp.sum(b**2) - 2.0 * anp.dot(a, b) + b.size
    _rejects(exercises.check_distances, expanded, says="near-anchor", hint="cancels")


def test_epsilon_weights_are_rejected_on_an_anchor():
    epsilon = lambda d2, p: 1.0 / (anp.sqrt(d2) + 1e-12) ** p
    _rejects(exercises.check_weights, epsilon, says="on-anchor", hint="first such anchor")


def test_weights_without_the_log_domain_are_rejected_for_tiny_distances():
    def direct(d2, power):
        hit = np.flatnonzero(d2 == 0)
        if hit.size:
            return 1.0 * (np.arange(len(d2)) == hit[0]) + 0.0 * d2
        return d2 ** (-power / 2)

    _rejects(exercises.check_weights, direct, says="weights", hint="log w_k")


def test_a_loss_that_ignores_standardise_is_rejected():
    def raw(scores, metric, anchors, temperature=1.0, power=1.0, standardise=False):
        return SOLUTIONS["loss"](scores, metric, anchors, temperature, power, False)

    _rejects(exercises.check_loss, raw, METRICS, says="standardised", hint="standardised(s)")


def test_agree_on_names_the_input_where_two_functions_differ(capsys):
    passed = exercises.agree_on("square", np.square, lambda x: x * x, {"small": (3.0,)}, hint="x")
    assert passed.cases == 1 and capsys.readouterr().out.startswith("✓ square")
    cube = lambda x: x**3
    with pytest.raises(tutorial.CheckFailed, match=r"on input two: is 8, expected 4\n"):
        exercises.agree_on("cube", cube, np.square, {"two": (2.0,)}, hint="x")


def test_a_failed_check_shows_in_jupyter_as_its_message_alone():
    error = tutorial.CheckFailed("✗ one\n  hint: two")
    assert error._render_traceback_() == ["✗ one", "  hint: two"]


def test_yours_returns_the_learner_function_or_the_shipped_solution(tmp_path):
    def ranking_pairs(labels): ...

    assert tutorial.Lesson(quick=True, out=None).yours(ranking_pairs) is ranking_pairs
    path = CHAPTERS / "solutions" / "04_build_it_yourself.py"
    solved = tutorial.Lesson(quick=True, out=None, solutions=path).yours(ranking_pairs)
    assert solved(np.array([1, 0])) is not None

    def missing(): ...

    with pytest.raises(LookupError, match="no solution named 'missing'"):
        tutorial.Lesson(quick=True, out=None, solutions=path).yours(missing)
    assert tutorial.solutions_file(tmp_path, "99") is None
    (tmp_path / "99_a.py").touch()
    (tmp_path / "99_b.py").touch()
    with pytest.raises(ValueError, match="one solutions file 99_"):
        tutorial.solutions_file(tmp_path, "99")
