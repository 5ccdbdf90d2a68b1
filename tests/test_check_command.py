"""``python -m uniloss_ref check``: passes on the library, and fails on a broken metric."""

import dataclasses
import subprocess
import sys

import numpy as np

from uniloss_ref import check
from uniloss_ref.__main__ import main
from uniloss_ref.metrics import AveragePrecision, FScore


class OffByOneRankAP(AveragePrecision):
    """AP whose h(b) is wrong by one percent."""

    def refactor(self, shape, targets):
        exact = super().refactor(shape, targets)
        return dataclasses.replace(exact, h=lambda b: 0.99 * exact.h(b))


def test_check_command_prints_a_passing_row_per_metric_and_law(capsys):
    assert main(["check", "--cases", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    for metric in check.default_metrics():
        assert out.count(repr(metric)) == 6
    total = 6 * len(check.default_metrics())
    assert out.strip().splitlines()[-1] == f"{total} passed, 0 failed"


def test_check_detects_a_refactoring_that_is_not_exact():
    rows = check.check_metric(OffByOneRankAP(), cases=5, rng=np.random.default_rng(0))
    failed = {row.law for row in rows if not row.passed}
    assert "refactoring exact: h(sign c) = metric" in failed


def test_check_command_exits_non_zero_when_a_law_fails(monkeypatch, capsys):
    monkeypatch.setattr(check, "default_metrics", lambda: [OffByOneRankAP()])
    assert main(["check", "--cases", "2"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "uniloss_ref", "check", "--cases", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"{6 * len(check.default_metrics())} passed, 0 failed")


def test_the_shift_law_at_a_threshold_needs_the_threshold_shifted_too(monkeypatch):
    law = "shift (thresholds too) changes nothing"
    rows = check.check_metric(FScore(threshold=0.2), cases=3, rng=np.random.default_rng(0))
    assert next(row for row in rows if row.law == law).passed
    monkeypatch.setattr(check, "_Shifted", lambda metric, shift: metric)  # t left in place
    rows = check.check_metric(FScore(threshold=0.2), cases=3, rng=np.random.default_rng(0))
    assert not next(row for row in rows if row.law == law).passed


def test_bad_arguments_exit_with_a_one_line_reason():
    result = subprocess.run(
        [sys.executable, "-m", "uniloss_ref", "check", "--cases", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "expected a positive integer" in result.stderr
    assert "Traceback" not in result.stderr
