"""The conformance vectors reject every port in the catalogue of wrong ports, each for the
first quantity its mistake shows in, and accept right ports written differently."""

from __future__ import annotations

import numpy as np
import pytest

from tests import wrong_ports
from uniloss_ref.conformance import QUANTITIES, Report, load, verify

ORDER = list(QUANTITIES)


@pytest.fixture(scope="module")
def vectors():
    return load()


@pytest.fixture(scope="module")
def report_of(vectors):
    """Each catalogue port's report over every case, computed once."""
    reports: dict[type, Report] = {}

    def report(port: type) -> Report:
        if port not in reports:
            reports[port] = verify(port(), vectors=vectors)
        return reports[port]

    return report


def _first_failing(report: Report) -> str | None:
    bad = {c.quantity for c in report.checks if c.status in ("fail", "error")}
    return min(bad, key=ORDER.index) if bad else None


@pytest.mark.parametrize("port", wrong_ports.RIGHT, ids=lambda p: p.__name__)
def test_a_right_port_written_differently_passes(vectors, port):
    report = verify(port(), vectors=vectors)
    assert report.passed, report.format()


@pytest.mark.parametrize("port", wrong_ports.CATALOGUE, ids=lambda p: p.__name__)
def test_every_wrong_port_fails_and_is_blamed_on_its_first_wrong_quantity(report_of, port):
    report = report_of(port)
    assert not report.passed
    assert _first_failing(report) == port.blame, report.format()


def test_the_catalogue_covers_every_quantity_and_every_metric(vectors, report_of):
    assert len(wrong_ports.CATALOGUE) >= 40
    assert {port.blame for port in wrong_ports.CATALOGUE} == set(QUANTITIES)
    # For each metric and parameter set (the case-name prefixes), some wrong port is
    # caught on one of its cases.
    families = {case["name"].split("/")[0] for case in vectors["cases"]}
    caught = set()
    for port in wrong_ports.CATALOGUE:
        report = report_of(port)
        caught |= {c.case.split("/")[0] for c in report.checks if c.status in ("fail", "error")}
    assert caught == families


@pytest.mark.parametrize(
    ("port", "cases"),
    [
        # The classes of mistakes the first version of the vectors let through, and the
        # cases added to catch them.
        (
            wrong_ports.PckJointMajor,
            {"pck/non-square", "pck/temperature-and-power", "pck/standardised"},
        ),
        (
            wrong_ports.PckPixelsFromHeight,
            {"pck/non-square", "pck/radius-and-border", "pck/mixed-degenerate"},
        ),
        (wrong_ports.PckStrictRadius, {"pck/radius-and-border", "pck/non-square"}),
        (wrong_ports.PckBorderFromZero, {"pck/radius-and-border"}),
        (wrong_ports.PckBorderInclusive, {"pck/radius-and-border"}),
        (wrong_ports.PckNoNegativeNotCounted, {"pck/mixed-degenerate", "pck/radius-and-border"}),
        (wrong_ports.AccuracyByArgmax, {"accuracy/ties-with-higher-classes"}),
        (
            wrong_ports.TopKByStableSort,
            {"accuracy/ties-with-higher-classes", "accuracy-top3/ties-with-higher-classes"},
        ),
    ],
    ids=lambda p: getattr(p, "__name__", None),
)
def test_the_new_cases_catch_what_the_old_ones_missed(report_of, port, cases):
    report = report_of(port)
    assert cases <= {c.case for c in report.checks if c.status in ("fail", "error")}


@pytest.mark.parametrize(
    ("port", "cases"),
    [
        # Classes of mistakes that passed every case of the second version of the file, and
        # the only cases that catch them.
        (wrong_ports.StandardiseWithoutZeroGuard, {"roc-auc/standardised-equal",
                                                   "roc-auc/standardised-subnormal-sd"}),
        (wrong_ports.StandardiseGuardOnZeroOnly, {"roc-auc/standardised-subnormal-sd"}),
        (wrong_ports.StandardiseWithoutPrescale, {"ap/standardised-huge",
                                                  "ap-voc/standardised-tiny"}),
        (wrong_ports.StandardisePrescaleByMax, {"accuracy/standardised-negative"}),
        (wrong_ports.DirectWeights, {"ap/large-power", "accuracy/large-power"}),
        (wrong_ports.LogWeightsUnshifted, {"ap/large-power", "accuracy/large-power"}),
        (wrong_ports.PckThresholdFixed, {"pck/threshold"}),
        (wrong_ports.PckNoPairsIsOne, {"pck/no-comparisons"}),
    ],
    ids=lambda p: getattr(p, "__name__", None),
)  # fmt: skip
def test_each_blind_spot_has_a_case_and_only_that_case_catches_it(report_of, port, cases):
    report = report_of(port)
    assert {c.case for c in report.checks if c.status in ("fail", "error")} == cases


def test_an_exact_hit_with_a_tolerance_fails_only_very_near_an_anchor(vectors, report_of):
    report = report_of(wrong_ports.HitWithTolerance)
    failing = {c.case for c in report.checks if c.status == "fail"}
    assert {name.split("/")[1] for name in failing} == {"very-near-anchor"}
    assert {c.quantity for c in report.by_status("fail")} == {"surrogate", "loss", "gradient"}
    # The distance is about 1.2e-10: below the port's 1e-9, far above rounding.
    case = next(c for c in vectors["cases"] if c["name"] == "ap/very-near-anchor")
    assert 1e-10 < min(case["expected"]["distances"]) < 1e-9


def test_the_authors_gradient_fails_every_case_with_a_nonzero_gradient(vectors, report_of):
    moving = {
        c["name"] for c in vectors["cases"] if np.max(np.abs(c["expected"]["gradient"])) > 1e-10
    }
    report = report_of(wrong_ports.AuthorsGradient)
    # Where the true gradient is zero theirs may still move: it adds 2 h~ grad log W, which
    # vanishes only on an anchor.
    assert moving <= {c.case for c in report.by_status("fail")}
    assert len(moving) > len(vectors["cases"]) // 2


def test_expanded_distances_fail_only_near_an_anchor(report_of):
    report = report_of(wrong_ports.ExpandedDistances)
    failing = {c.case.split("/")[1] for c in report.by_status("fail")}
    assert failing == {"near-anchor", "very-near-anchor", "large-power"}


def test_the_wrong_ports_are_usable_from_the_command_line(vectors):
    report = verify("tests.wrong_ports:authors_gradient", vectors=vectors, cases="ap/ordinary")
    assert not report.passed
    assert {c.quantity for c in report.by_status("fail")} == {"gradient"}


@pytest.mark.parametrize(
    "port",
    [
        wrong_ports.StandardiseIgnored,
        wrong_ports.SampleStandardDeviation,
        wrong_ports.StandardDeviationHeldConstant,
    ],
    ids=lambda p: p.__name__,
)
def test_standardisation_mistakes_fail_only_the_standardised_cases(vectors, report_of, port):
    report = report_of(port)
    failing = {c.case for c in report.checks if c.status in ("fail", "error")}
    # Not the batches that standardisation leaves as they are (sd 0 or subnormal).
    assert failing == {
        "ap/standardised",
        "accuracy/standardised",
        "pck/standardised",
        "ap/standardised-huge",
        "ap-voc/standardised-tiny",
        "accuracy/standardised-negative",
        "f1/standardised",
        "f1/ties-standardised",
    }
    left_as_they_are = {"roc-auc/standardised-equal", "accuracy/standardised-zeros"}
    standardised = {case["name"] for case in vectors["cases"] if case["standardise"]}
    assert failing | left_as_they_are | {"roc-auc/standardised-subnormal-sd"} == standardised


def test_a_threshold_left_in_raw_units_fails_only_where_scores_are_standardised(report_of):
    # t = 20 against scores of spread about 30: s / sd - t has other signs than s - t.
    report = report_of(wrong_ports.ThresholdNotStandardised)
    failing = {c.case for c in report.checks if c.status in ("fail", "error")}
    assert failing == {"f1/standardised", "f1/ties-standardised"}
