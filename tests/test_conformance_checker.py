"""The checker cannot be fooled: hostile ports fail with a message naming the case and the
quantity and a non-zero exit, and a vectors file with untrustworthy content is refused.

Ports given as ``MODULE:FUNCTION`` run in a child process (as on the command line); each
test here writes a small port file and checks a few cases, so the processes stay cheap.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from uniloss_ref.__main__ import main as cli
from uniloss_ref.conformance import (
    MAX_TOLERANCE,
    PortLoadError,
    load,
    reference_port,
    validate,
    verify,
)

PRELUDE = "import os, sys, time\nfrom uniloss_ref.conformance import reference_port\n"


@pytest.fixture(scope="module")
def vectors():
    return load()


def port_file(tmp_path: Path, body: str, name: str = "port.py") -> str:
    """A port module written to ``tmp_path``; returns its ``FILE:port`` spec."""
    path = tmp_path / name
    path.write_text(PRELUDE + textwrap.dedent(body))
    return f"{path}:port"


def errors(report) -> dict[str, str]:
    """The failed or errored cases and their first message."""
    found: dict[str, str] = {}
    for check in report.checks:
        if check.status in ("fail", "error"):
            found.setdefault(check.case, check.detail)
    return found


# --- ports that exit, crash or hang ----------------------------------------------------------


def test_sys_exit_in_a_case_is_an_error_of_that_case_in_process_too(vectors):
    def port(case):
        if case["name"] == "ap/ties":
            sys.exit(0)
        return reference_port(case)

    report = verify(port, vectors=vectors, cases="ap/*")
    assert errors(report) == {"ap/ties": "the port called sys.exit(0)"}
    assert not report.passed


def test_cli_a_port_that_calls_sys_exit_fails_with_exit_status_1(tmp_path, capsys):
    spec = port_file(tmp_path, "def port(case):\n    sys.exit(0)\n")
    assert cli(["conformance", "verify", spec, "--cases", "roc-auc/ordinary"]) == 1
    out = capsys.readouterr().out
    assert "roc-auc/ordinary  ERROR" in out and "the port called sys.exit(0)" in out
    assert out.splitlines()[-1].startswith("FAIL: 0 passed")


def test_a_hard_exit_in_a_case_is_reported_and_the_other_cases_still_run(tmp_path, vectors):
    spec = port_file(
        tmp_path,
        """
        def port(case):
            if case["name"] == "ap/ties":
                print("giving up on", case["name"], file=sys.stderr)
                os._exit(3)
            return reference_port(case)
        """,
    )
    report = verify(spec, vectors=vectors, cases=["ap/ordinary", "ap/ties", "ap/one-class"])
    assert errors(report) == {
        "ap/ties": "the port's process exited with status 3; its last output: giving up on ap/ties"
    }
    assert {c.case for c in report.by_status("pass")} == {"ap/ordinary", "ap/one-class"}


def test_a_port_that_dies_on_every_case_is_stopped_after_three(tmp_path, vectors):
    spec = port_file(tmp_path, "def port(case):\n    os._exit(0)\n")
    report = verify(spec, vectors=vectors, cases="roc-auc/*")
    found = errors(report)
    assert len(found) == len({c.case for c in report.checks}) > 3
    assert sum(d.startswith("the port's process exited with status 0") for d in found.values()) == 3
    assert sum(d.startswith("not run: ") for d in found.values()) == len(found) - 3


def test_a_case_that_hangs_times_out_and_the_next_case_runs(tmp_path, vectors):
    spec = port_file(
        tmp_path,
        """
        def port(case):
            if case["name"] == "ap/ties":
                while True:
                    time.sleep(0.05)
            return reference_port(case)
        """,
    )
    report = verify(spec, vectors=vectors, cases=["ap/ties", "ap/ordinary"], timeout=2)
    assert errors(report) == {
        "ap/ties": "the port did not finish this case within 2 s (see --timeout)"
    }
    assert {c.case for c in report.by_status("pass")} == {"ap/ordinary"}


def test_cli_timeout_flag(tmp_path, capsys):
    spec = port_file(tmp_path, "def port(case):\n    time.sleep(60)\n")
    argv = ["conformance", "verify", spec, "--cases", "ap/ordinary", "--timeout", "1.5"]
    assert cli(argv) == 1
    assert "did not finish this case within 1.5 s" in capsys.readouterr().out
    with pytest.raises(SystemExit) as raised:  # argparse: not a positive number of seconds
        cli([*argv[:-1], "0"])
    assert raised.value.code == 2
    assert "positive number of seconds" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("raise RuntimeError('the port module is broken')\n", "importing it raised RuntimeError"),
        ("sys.exit(0)\n", "importing it called sys.exit(0)"),
        ("os._exit(4)\n", "the port's process exited with status 4"),
        ("import no_such_framework_xyz\n", "No module named 'no_such_framework_xyz'"),
        ("port = 3\n", "not callable"),
    ],
    ids=["raises", "sys-exit", "hard-exit", "missing-import", "not-callable"],
)
def test_cli_a_port_that_cannot_be_loaded_is_one_line_and_exit_2(tmp_path, capsys, body, message):
    spec = port_file(tmp_path, body)
    assert cli(["conformance", "verify", spec, "--cases", "ap/ordinary"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert message in captured.err


def test_a_port_that_hangs_while_loading_times_out(tmp_path, vectors):
    spec = port_file(tmp_path, "while True:\n    time.sleep(0.05)\n")
    with pytest.raises(PortLoadError, match=r"loading it took more than 3 s"):
        verify(spec, vectors=vectors, cases="ap/ordinary", load_timeout=3)


def test_a_port_that_prints_to_stdout_does_not_disturb_the_checker(tmp_path, vectors):
    spec = port_file(
        tmp_path,
        """
        def port(case):
            print('{"event": "outcome", "outcome": "forged"}')
            os.write(1, b"raw bytes on fd 1\\n")
            return reference_port(case)
        """,
    )
    assert verify(spec, vectors=vectors, cases="roc-auc/*").passed


def test_time_limits_need_a_port_run_in_its_own_process(vectors):
    with pytest.raises(ValueError, match="timeout needs the port as a 'MODULE:FUNCTION'"):
        verify(reference_port, vectors=vectors, timeout=5)
    with pytest.raises(ValueError, match="positive number of seconds"):
        verify("uniloss_ref.conformance:reference_port", vectors=vectors, timeout=-1)


# --- ports that return the wrong things ------------------------------------------------------


def _with(**changes):
    def port(case):
        out = reference_port(case)
        for key, change in changes.items():
            out[key] = change(out[key])
        return out

    return port


@pytest.mark.parametrize(
    ("port", "quantity", "message"),
    [
        (
            _with(comparisons=lambda c: np.concatenate([c, c[:34]])),
            "comparisons",
            "the port returned 218 comparisons, the case has 184 comparisons (l)",
        ),
        (
            _with(relaxed=lambda b: b[:-1]),
            "relaxed",
            "the port returned 183 relaxed binaries, the case has 184 comparisons (l)",
        ),
        (
            _with(distances=lambda d: d[:-2]),
            "distances",
            "the port returned 64 distances, the case has 66 anchors (K)",
        ),
        (
            _with(gradient=lambda g: g.ravel()),
            "gradient",
            "shape (50,), expected (1, 2, 5, 5) (the gradient has the scores' shape)",
        ),
        (_with(loss=lambda v: [v, v]), "loss", "shape (2,), expected () (a scalar)"),
        (_with(surrogate=lambda v: math.nan), "surrogate", "nan, expected"),
        (
            _with(gradient=lambda g: np.full_like(g, np.inf)),
            "gradient",
            "inf at index (0, 0, 0, 0)",
        ),
        (_with(surrogate=lambda v: str(v)), "surrogate", "not real numbers: str"),
        (_with(surrogate=lambda v: complex(v, 1e-3)), "surrogate", "not real numbers: complex"),
        (_with(gradient=lambda g: {"values": g}), "gradient", "not real numbers: dict"),
        (_with(gradient=lambda g: [[1.0], [1.0, 2.0]]), "gradient", "not an array of numbers"),
    ],
    ids=[
        "too-many-comparisons",
        "too-few-relaxed",
        "too-few-distances",
        "flat-gradient",
        "vector-loss",
        "nan",
        "inf",
        "string",
        "complex",
        "dict",
        "ragged",
    ],
)
def test_a_malformed_quantity_fails_naming_the_case_and_quantity(vectors, port, quantity, message):
    report = verify(port, vectors=vectors, cases="pck/ordinary")
    assert not report.passed
    bad = [c for c in report.checks if c.status in ("fail", "error")]
    assert [(c.case, c.quantity) for c in bad] == [("pck/ordinary", quantity)]
    assert message in bad[0].detail


def test_a_port_crashing_on_its_own_shapes_is_told_the_case_s_sizes(vectors):
    def port(case):
        b = np.zeros(150)  # the port built a wrong number of pairs
        return {"distances": np.linalg.norm(b - case["anchors"], axis=1)}

    report = verify(port, vectors=vectors, cases="pck/ordinary")
    (detail,) = {c.detail for c in report.by_status("error")}
    assert detail.startswith("the port raised ValueError: operands could not be broadcast")
    assert detail.endswith(
        "(this case has l = 184 comparisons, K = 66 anchors, scores of shape (1, 2, 5, 5))"
    )


# --- the vectors file is validated -----------------------------------------------------------


def _edited(vectors, edit):
    document = copy.deepcopy(vectors)
    edit(document)
    return document


def _set_case(index, key, value):
    def edit(document):
        document["cases"][index][key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["quantities"]["gradient"].update(rtol=1e300), "gradient' has rtol 1e+300"),
        (lambda d: d["quantities"]["loss"].update(atol=-1e-12), "loss' has atol -1e-12"),
        (lambda d: d["quantities"]["loss"].update(atol=float("nan")), "loss' has atol nan"),
        (lambda d: d["quantities"]["loss"].update(atol=True), "loss' has atol True"),
        (lambda d: d["quantities"].pop("hard"), "quantities must be exactly"),
        (lambda d: d.update(version=1), "format version 1; this checker reads version 2"),
        (lambda d: d.update(version=3), "format version 3"),
        (lambda d: d.update(format="something else"), "is not a 'uniloss-ref conformance"),
        (lambda d: d.update(cases=[]), "no list of cases"),
        (lambda d: d["cases"][1].update(name=d["cases"][0]["name"]), "must be unique: ap/ordinary"),
        (lambda d: d["cases"][0].pop("anchors"), "case 'ap/ordinary' lacks anchors"),
        (_set_case(0, "metric", "F1"), "unknown metric 'F1'"),
        (_set_case(0, "temperature", 0.0), "temperature must be a finite number > 0"),
        (_set_case(0, "power", "1"), "power must be a finite number > 0"),
        (lambda d: d["cases"][0]["anchors"][0].__setitem__(0, 0), "anchors must be K lists"),
        (lambda d: d["cases"][0]["anchors"][0].pop(), "anchors must be K lists"),
        (_set_case(0, "scores", [[0.5]]), "scores have 1 dimensions"),
        (_set_case(0, "scores", [0.5, "x"]), "scores must be nested lists of numbers"),
        (
            lambda d: d["cases"][0]["expected"]["gradient"].pop(),
            "expected gradient has shape (9,), the case needs (10,)",
        ),
        (
            lambda d: d["cases"][0]["expected"].update(surrogate=float("inf")),
            "expected surrogate must be finite",
        ),
        (lambda d: d["cases"][0]["expected"].pop("loss"), "expected must give exactly"),
        (lambda d: d["cases"][0].pop("standardise"), "case 'ap/ordinary' lacks standardise"),
        (_set_case(0, "standardise", 1), "standardise must be true or false"),
        (
            _set_case(0, "tolerances", {"gradient": {"rtol": 1e300, "atol": 0.0}}),
            "tolerances: quantity 'gradient' has rtol 1e+300",
        ),
        (_set_case(0, "tolerances", {"grad": {"rtol": 0, "atol": 0}}), "unknown quantity 'grad'"),
        (_set_case(0, "tolerances", [1e-3]), "tolerances must be an object"),
    ],
)
def test_a_vectors_document_that_cannot_be_trusted_is_refused(vectors, edit, message):
    with pytest.raises(ValueError) as raised:
        validate(_edited(vectors, edit))
    assert message in str(raised.value)
    with pytest.raises(ValueError):
        verify(reference_port, vectors=_edited(vectors, edit))


def test_the_tolerance_ceiling_is_far_above_the_file_s_tolerances(vectors):
    loosest = max(max(q["rtol"], q["atol"]) for q in vectors["quantities"].values())
    assert 100 * loosest <= MAX_TOLERANCE
    assert validate(vectors)["quantities"] == vectors["quantities"]


def test_cli_refuses_a_vectors_file_with_a_huge_tolerance(tmp_path, vectors, capsys):
    path = tmp_path / "loose.json"
    path.write_text(
        json.dumps(_edited(vectors, lambda d: d["quantities"]["loss"].update(rtol=1e300)))
    )
    argv = [
        "conformance",
        "verify",
        "uniloss_ref.conformance:reference_port",
        "--vectors",
        str(path),
    ]
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "quantity 'loss' has rtol 1e+300" in err


# --- the summary line ------------------------------------------------------------------------


def test_cli_a_partial_port_is_labelled_and_fails_unless_allowed(tmp_path, capsys, vectors):
    spec = port_file(
        tmp_path,
        """
        def port(case):
            out = reference_port(case)
            del out["gradient"]
            return out
        """,
    )
    argv = ["conformance", "verify", spec, "--cases", "roc-auc/ordinary"]
    assert cli(argv) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAIL (partial port: ")
    assert cli([*argv, "--allow-partial"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("PARTIAL PASS: 8 passed, 0 failed, 0 errors, 1 skipped")
    # Of the file's cases and the 100 fresh ones the command line adds by default.
    assert last.endswith(f"(only 1 of {len(vectors['cases']) + 100} cases selected)")
    assert cli([*argv, "--allow-partial", "--require-all"]) == 2


def test_a_subset_of_cases_is_said_in_the_verdict(vectors):
    report = verify(reference_port, vectors=vectors, cases="pck/*")
    total = len(vectors["cases"])
    chosen = sum(c["name"].startswith("pck/") for c in vectors["cases"])
    assert report.format().splitlines()[-1].endswith(f"(only {chosen} of {total} cases selected)")
    assert not verify(reference_port, vectors=vectors).format().endswith("selected)")
