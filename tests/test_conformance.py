"""Conformance vectors: the file matches the reference, and the checker can fail.

The checker accepts the reference and the PyTorch port of chapter 11 (skipped where
PyTorch is not installed). The catalogue of wrong ports it rejects is tested in
tests/test_wrong_ports.py, hostile ports and bad vectors files in
tests/test_conformance_checker.py, the JAX port in tests/test_jax_port.py.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import autograd
import numpy as np
import pytest
from autograd.test_util import check_grads

from uniloss_ref import tutorial
from uniloss_ref.__main__ import main as cli
from uniloss_ref.conformance import (
    FORMAT_VERSION,
    QUANTITIES,
    Report,
    case_inputs,
    compare,
    dumps,
    generate,
    load,
    load_port,
    reference_port,
    to_numpy,
    verify,
)
from uniloss_ref.conformance.reference import reference_metric
from uniloss_ref.surrogate import surrogate

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "chapters" / "11_porting.py"


@pytest.fixture(scope="module")
def vectors():
    return load()


@pytest.fixture(scope="module")
def fresh():
    return generate()


def _case(vectors, name):
    return next(case for case in vectors["cases"] if case["name"] == name)


def _failing(report: Report) -> set[str]:
    return {c.quantity for c in report.checks if c.status in ("fail", "error")}


# --- the file ---------------------------------------------------------------------------


def test_packaged_vectors_equal_a_fresh_generation(vectors, fresh):
    assert compare(vectors, fresh) == []


def test_generation_is_deterministic_to_the_byte(fresh):
    # The packaged file may come from another platform (an ulp of tanh apart), so it is
    # compared with tolerances above; two generations here must agree to the byte.
    assert dumps(generate()) == dumps(fresh)


def test_compare_reports_a_changed_input_and_a_changed_output(vectors):
    edited = json.loads(json.dumps(vectors))
    edited["cases"][0]["scores"][0] += 1e-12
    edited["cases"][1]["expected"]["gradient"][0] *= 1 + 1e-8
    assert compare(vectors, edited) == [
        f"case {vectors['cases'][0]['name']}: input 'scores' differs",
        f"case {vectors['cases'][1]['name']}: expected 'gradient' differs",
    ]


def test_file_is_versioned_documented_and_modest(vectors):
    text = importlib.resources.files("uniloss_ref.conformance").joinpath("vectors.json")
    assert len(text.read_bytes()) < 1_000_000
    assert vectors["version"] == FORMAT_VERSION
    assert "port(case: dict) -> dict" in vectors["port_signature"]
    assert set(vectors["quantities"]) == set(QUANTITIES)
    for tolerance in vectors["quantities"].values():
        assert tolerance["why"] and tolerance["rtol"] >= 0 and tolerance["atol"] >= 0


def test_the_porting_guide_states_the_tolerances_of_the_file(vectors):
    guide = (ROOT / "docs" / "porting.md").read_text(encoding="utf-8")
    for quantity, tolerance in vectors["quantities"].items():
        row = next(line for line in guide.splitlines() if line.startswith(f"| `{quantity}` |"))
        rtol, atol = (float(cell) for cell in row.strip(" |").split("|")[-2:])
        assert (rtol, atol) == (tolerance["rtol"], tolerance["atol"]), quantity


def _guide() -> str:
    return (ROOT / "docs" / "porting.md").read_text(encoding="utf-8")


def test_the_guide_names_every_key_of_the_format(vectors):
    guide = _guide()
    keys = set(vectors) | {key for case in vectors["cases"] for key in case}
    keys |= {key for entry in vectors["quantities"].values() for key in entry}
    keys |= {key for entry in vectors["metrics"].values() for key in entry}
    keys |= {key for case in vectors["cases"] if case["metric"] == "PCK" for key in case["targets"]}
    assert sorted(key for key in keys if f"`{key}`" not in guide) == []
    assert f"| `version` | `{FORMAT_VERSION}` " in guide
    assert f"checker reads version {FORMAT_VERSION}" in guide


def test_the_guide_s_numbers_match_the_file_and_the_catalogue(vectors):
    from tests import wrong_ports

    guide = " ".join(re.sub(r"(?m)^> ?", "", _guide()).split())  # as read, quotes unmarked
    assert f"checks the {len(vectors['cases'])} fixed cases" in guide
    assert f"a catalogue of {len(wrong_ports.CATALOGUE)} wrong ports" in guide
    everything = len(wrong_ports.CATALOGUE) + len(wrong_ports.DODGES)
    assert f"reject all {everything}" in guide and "catch every one" in guide


def _expand(pattern: str) -> list[str]:
    """``{a,b}/c`` -> ``a/c``, ``b/c`` (the guide's shorthand for families of cases)."""
    if "{" not in pattern:
        return [pattern]
    head, rest = pattern.split("{", 1)
    choices, tail = rest.split("}", 1)
    return [name for choice in choices.split(",") for name in _expand(head + choice + tail)]


def test_the_guide_s_table_of_cases_lists_every_case_and_no_other(vectors):
    guide = _guide()
    table = guide[guide.index("## The cases") : guide.index("## Regenerating the file")]
    listed = set()
    for row in table.splitlines()[4:]:
        cell = row.split(" | ")[0].removeprefix("| ")
        for pattern in re.findall(r"`([^`]+)`", cell):
            listed.update(_expand(pattern))
    names = {case["name"] for case in vectors["cases"]}
    assert sorted(listed - names) == [] and sorted(names - listed) == []


def test_every_metric_and_degenerate_situation_has_a_case(vectors):
    metrics = {(c["metric"], json.dumps(c["params"], sort_keys=True)) for c in vectors["cases"]}
    assert ("AveragePrecision", '{"interpolated": false, "unrealisable": "zero"}') in metrics
    assert ("AveragePrecision", '{"interpolated": true, "unrealisable": "zero"}') in metrics
    assert ("RocAuc", "{}") in metrics
    assert ("Accuracy", '{"top_k": 1}') in metrics
    assert ("Accuracy", '{"top_k": 3}') in metrics
    assert ("PCK", '{"threshold": 0.5}') in metrics
    assert ("FScore", '{"beta": 1.0, "threshold": 0.25}') in metrics
    assert ("FScore", '{"beta": 2.0, "threshold": -0.5}') in metrics
    for name, params in (("Precision", '{"threshold": 0.1}'), ("Recall", '{"threshold": -0.2}'),
                         ("PrecisionAtK", '{"k": 3}'), ("PrecisionAtK", '{"k": 8}'),
                         ("RecallAtK", '{"k": 3}')):  # fmt: skip
        assert (name, params) in metrics
    names = {c["name"] for c in vectors["cases"]}
    for situation in ("no-positives", "every-configuration", "ties", "extreme-on-anchor"):
        assert f"ap/{situation}" in names
    for name in ("ap/single-sample", "accuracy/one-class", "roc-auc/one-class", "pck/ties"):
        assert name in names
    for name in ("f1/ties", "f1/no-positives", "f1/standardised", "precision/nothing-predicted",
                 "recall/no-positives", "precision-at-3/ties", "precision-at-3/no-positives",
                 "recall-at-3/no-positives", "precision-at-8/k-beyond-batch"):  # fmt: skip
        assert name in names
    assert set(vectors["metrics"]) == {c["metric"] for c in vectors["cases"]}


def test_cycles_among_the_anchors_score_zero(vectors):
    case = _case(vectors, "ap/every-configuration")
    values = dict(zip(map(tuple, case["anchors"]), case["expected"]["anchor_values"], strict=True))
    # Rows (positives) x columns (negatives): each positive beats the negative the other
    # loses to; no ranking does that.
    assert values[(-1, 1, 1, -1)] == values[(1, -1, -1, 1)] == 0.0
    assert values[(1, 1, 1, 1)] == 1.0


def test_saturated_scores_sit_on_an_anchor_with_zero_gradient(vectors):
    for case in vectors["cases"]:
        if case["name"].endswith("extreme-on-anchor"):
            expected = case["expected"]
            assert min(expected["distances"]) == 0.0
            assert expected["surrogate"] == expected["batch_metric"]
            assert not np.any(expected["gradient"])


def test_ties_are_counted_as_not_achieved(vectors):
    for case in vectors["cases"]:
        if case["name"].endswith("/ties"):
            c, hard = (np.array(case["expected"][q]) for q in ("comparisons", "hard"))
            assert (c == 0).any()
            np.testing.assert_array_equal(hard, np.where(c > 0, 1.0, -1.0))


def test_the_surrogate_lies_between_the_anchor_values(vectors):
    for case in vectors["cases"]:
        expected = case["expected"]
        # sum w v / sum w of equal values v may round an ulp or two off v.
        slack = 4 * np.spacing(max(np.abs(expected["anchor_values"]), default=0.0))
        assert min(expected["anchor_values"]) - slack <= expected["surrogate"]
        assert expected["surrogate"] <= max(expected["anchor_values"]) + slack
        assert expected["loss"] == 1.0 - expected["surrogate"]


@pytest.mark.parametrize("name", ["ap/ordinary", "accuracy/ordinary", "pck/ordinary"])
def test_expected_gradients_agree_with_finite_differences(vectors, name):
    case = case_inputs(_case(vectors, name))
    metric, targets = reference_metric(case)

    def loss(scores):
        return 1.0 - surrogate(
            scores,
            targets,
            metric,
            case["anchors"],
            temperature=case["temperature"],
            power=case["power"],
        )

    check_grads(loss, modes=["rev"], order=1)(case["scores"])
    # Stored and recomputed gradients may differ in the last bits (another BLAS, another
    # summation order): they agree within the tolerance every port is held to.
    stored = np.array(_case(vectors, name)["expected"]["gradient"])
    tolerance = vectors["quantities"]["gradient"]
    np.testing.assert_allclose(
        autograd.grad(loss)(case["scores"]), stored, rtol=tolerance["rtol"], atol=tolerance["atol"]
    )


def test_packaged_file_is_found_by_importlib_resources():
    resource = importlib.resources.files("uniloss_ref.conformance").joinpath("vectors.json")
    assert resource.is_file()


def test_loading_rejects_another_format_or_version(tmp_path):
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"format": "uniloss-ref conformance vectors", "version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        load(path)
    path.write_text("[1, 2")
    with pytest.raises(ValueError, match="not valid JSON"):
        load(path)


# --- the checker accepts right ports and rejects wrong ones ------------------------------


def test_the_reference_passes_its_own_vectors(vectors):
    report = verify(reference_port, vectors=vectors)
    assert report.passed, report.format()
    assert len(report.checks) == len(vectors["cases"]) * len(QUANTITIES)


def _partial_port(case):
    if case["metric"] == "PCK":
        raise NotImplementedError("PCK is not ported yet")
    out = reference_port(case)
    return {
        "comparisons": out["comparisons"].tolist(),  # nested lists
        "surrogate": np.float64(out["surrogate"]),  # a NumPy scalar
        "loss": np.array([out["loss"]]),  # a one-element array for a scalar
        "gradient": None,  # None: not computed
    }


def test_a_partial_port_passes_only_when_allowed_and_is_labelled_partial(vectors):
    report = verify(_partial_port, vectors=vectors, require_all=False)
    assert report.passed and report.partial, report.format()
    pck = {c.case for c in report.checks if c.case.startswith("pck/")}
    assert set(report.skipped_cases) == pck
    assert all(
        reason == "NotImplementedError: PCK is not ported yet"
        for reason in report.skipped_cases.values()
    )
    assert {c.quantity for c in report.by_status("skip")} == set(QUANTITIES)
    text = report.format()
    assert "all (NotImplementedError: PCK is not ported yet)" in text
    assert "hard, relaxed, distances, anchor_values, batch_metric, gradient" in text
    assert text.splitlines()[-1].startswith("PARTIAL PASS: ")
    (line,) = [line for line in text.splitlines() if line.startswith("ap/ordinary ")]
    assert line.split()[1] == "part"  # compared quantities passed, others skipped
    assert "NOT verified" in text.splitlines()[-1]
    # By default a skip is a failure: a CI cannot pass a port that is not all there.
    strict = verify(_partial_port, vectors=vectors)
    assert not strict.passed
    assert strict.format().splitlines()[-1].startswith("FAIL (partial port: ")


def test_a_port_that_computes_nothing_does_not_pass(vectors):
    report = verify(lambda case: {}, vectors=vectors, cases="ap/*")
    assert not report.passed
    assert "FAIL (nothing was compared)" in report.format()


@pytest.mark.parametrize(
    ("result", "status", "message"),
    [
        ({"gradient": np.zeros(3)}, "fail", "shape (3,), expected (10,)"),
        ({"surrogate": float("nan")}, "fail", "nan"),
        ({"grad": 1.0}, "error", "unknown quantity 'grad'"),
        ({"surrogate": "high"}, "error", "not convertible to float64"),
        ([1.0], "error", "the port returned list, expected a dict"),
    ],
)
def test_malformed_results_are_reported_per_case(vectors, result, status, message):
    report = verify(lambda case: result, vectors=vectors, cases="ap/ordinary")
    assert not report.passed
    bad = report.by_status(status)
    assert bad and message in bad[0].detail


def test_an_exception_in_the_port_is_reported_and_the_run_goes_on(vectors):
    def port(case):
        if case["name"] == "ap/ties":
            raise ZeroDivisionError("division by zero\nsecond line")
        return reference_port(case)

    report = verify(port, vectors=vectors, cases="ap/*")
    assert {c.case for c in report.by_status("error")} == {"ap/ties"}
    assert len(report.by_status("pass")) == 9 * (len({c.case for c in report.checks}) - 1)
    assert (
        "    the port raised ZeroDivisionError: division by zero (this case has l = 16 "
        "comparisons, K = 50 anchors, scores of shape (8,))\n" in report.format()
    )


def test_the_port_gets_fresh_arrays_each_case(vectors):
    def vandal(case):
        case["scores"][...] = 0.0
        case["anchors"][...] = 1.0
        return reference_port(case)

    verify(vandal, vectors=vectors, cases="ap/ordinary")
    assert verify(reference_port, vectors=vectors, cases="ap/ordinary").passed


class _FakeTensor:
    """Behaves like a PyTorch tensor that requires grad: refuses __array__ until detached."""

    def __init__(self, data, attached=True):
        self.data, self.attached = np.asarray(data), attached

    def detach(self):
        return _FakeTensor(self.data, attached=False)

    def cpu(self):
        return self

    def __array__(self, dtype=None, copy=None):
        if self.attached:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad")
        return self.data.astype(dtype or self.data.dtype)


def test_tensors_are_converted_without_importing_their_framework():
    np.testing.assert_array_equal(to_numpy(_FakeTensor([1.0, 2.0])), [1.0, 2.0])
    assert to_numpy(_FakeTensor([1.0])).dtype == np.float64


def test_a_float32_result_is_named_in_the_failure(vectors):
    def port(case):
        return {"relaxed": reference_port(case)["relaxed"].astype(np.float32)}

    report = verify(port, vectors=vectors, cases="ap/ordinary")
    assert "the port returned float32" in report.by_status("fail")[0].detail


def test_a_cases_pattern_that_matches_nothing_is_an_error(vectors):
    with pytest.raises(ValueError, match="cases pattern 'apx/\\*' matches no case"):
        verify(reference_port, vectors=vectors, cases="apx/*")
    with pytest.raises(TypeError, match="port must be a callable"):
        verify(42, vectors=vectors)


# --- loading a port and the command line -------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("no_colon", ValueError, "MODULE:FUNCTION"),
        ("uniloss_ref.conformance:", ValueError, "MODULE:FUNCTION"),
        ("no_such_module_xyz:port", ValueError, "cannot import module 'no_such_module_xyz'"),
        ("uniloss_ref.conformance:no_such", ValueError, "has no attribute 'no_such'"),
        ("uniloss_ref.conformance:FORMAT_VERSION", TypeError, "not callable"),
        ("missing/port.py:port", ValueError, "no such file"),
    ],
)
def test_bad_port_specs_raise_a_clear_error(spec, error, message):
    with pytest.raises(error, match=message):
        load_port(spec)


def test_a_port_loads_from_a_file_whose_name_is_not_an_identifier(tmp_path):
    path = tmp_path / "01-my port.py"
    path.write_text("from uniloss_ref.conformance import reference_port as port\n")
    assert load_port(f"{path}:port") is reference_port


def test_cli_verify_exits_zero_for_the_reference(capsys):
    assert cli(["conformance", "verify", "uniloss_ref.conformance:reference_port"]) == 0
    out = capsys.readouterr().out
    assert "Conformance of uniloss_ref.conformance:reference_port" in out
    assert out.rstrip().endswith("0 failed, 0 errors, 0 skipped")


def test_cli_verify_exits_one_for_a_wrong_port(capsys):
    spec = "tests.wrong_ports:authors_gradient"
    assert cli(["conformance", "verify", spec, "--cases", "ap/ordinary"]) == 1
    assert "gradient: at index" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["conformance", "verify", "not-a-spec"],
        ["conformance", "verify", "no_such_module_xyz:port"],
        ["conformance", "verify", "uniloss_ref.conformance:reference_port", "--cases", "zz"],
        ["conformance", "verify", "uniloss_ref.conformance:reference_port", "--vectors", "/no"],
    ],
)
def test_cli_usage_errors_are_one_line_without_traceback(capsys, argv):
    assert cli(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("python -m uniloss_ref conformance: error: ")


def test_cli_generate_writes_the_packaged_file_and_check_agrees(tmp_path, capsys):
    output = tmp_path / "vectors.json"
    assert cli(["conformance", "generate", "--output", str(output)]) == 0
    assert compare(load(), load(output)) == []
    assert cli(["conformance", "generate", "--check", "--output", str(output)]) == 0
    output.write_text(output.read_text().replace('"power": 1.0', '"power": 3.0', 1))
    assert cli(["conformance", "generate", "--check", "--output", str(output)]) == 1
    assert "input 'power' differs" in capsys.readouterr().out


def test_the_core_package_never_imports_torch_or_the_chapter():
    code = (
        "import sys, uniloss_ref, uniloss_ref.conformance, uniloss_ref.__main__; "
        "print(sorted(m for m in sys.modules if m.startswith(('torch', '_uniloss_port'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- the PyTorch port of chapter 11 -------------------------------------------------------


@pytest.fixture(scope="module")
def chapter(tmp_path_factory):
    """The chapter's namespace after a quick run (its port functions and what it printed)."""
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("chapter_11")
    return SimpleNamespace(**tutorial.run_chapter(CHAPTER, quick=True, out_dir=out))


def test_the_pytorch_port_passes_every_case_in_float64(chapter, vectors):
    report = verify(chapter.uniloss, vectors=vectors, require_all=True, fresh=100, seed=3)
    assert report.passed, report.format()
    # docs/porting.md: "a few hundredths of a tolerance" at worst.
    assert max(check.ratio for check in report.checks) < 0.1


def test_the_pytorch_port_in_float32_fails(chapter, vectors):
    import torch

    report = verify(lambda case: chapter.uniloss(case, torch.float32), vectors=vectors)
    assert not report.passed
    assert {"comparisons", "relaxed", "distances", "surrogate", "gradient"} <= _failing(report)


def test_the_chapter_port_is_verifiable_from_the_command_line(chapter, capsys):
    spec = f"{CHAPTER}:uniloss"
    assert cli(["conformance", "verify", spec, "--cases", "pck/*", "--require-all"]) == 0
    assert "PASS" in capsys.readouterr().out
