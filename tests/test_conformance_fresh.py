"""Fresh conformance cases: drawn from a seed at verify time, right ports pass them, every
wrong port of the catalogue fails them, and so do ports that look the answers up.

Also the checker's guards that fresh cases motivated: a port that changes its inputs, a
port that answers differently when asked twice, tensors that only have ``numpy()``.
"""

from __future__ import annotations

import json
import textwrap
import warnings
from collections import Counter

import numpy as np
import pytest

from tests import wrong_ports
from uniloss_ref.__main__ import main as cli
from uniloss_ref.anchors import KINDS
from uniloss_ref.conformance import (
    QUANTITIES,
    case_inputs,
    load,
    reference_port,
    to_numpy,
    validate,
    verify,
)
from uniloss_ref.conformance.cases import with_expected
from uniloss_ref.conformance.fresh import FRESH, MAX_FRESH, REGIMES, draw_cases, stable
from uniloss_ref.conformance.verify import call_port, checks_of
from uniloss_ref.plain import uniloss as plain_port

#: The seed of the fresh cases the catalogue is run over; any seed kills nearly every
#: wrong port within 200 cases (benchmarks/conformance_fresh.py measures how many).
SEED, COUNT = 2, 200


@pytest.fixture(scope="module")
def vectors():
    return load()


@pytest.fixture(scope="module")
def drawn():
    stats = Counter()
    return draw_cases(COUNT, SEED, stats), stats


def _fails(port, case) -> bool:
    checks = checks_of(case, call_port(port, case_inputs(case)), QUANTITIES)
    return any(c.status in ("fail", "error") for c in checks)


# --- drawing -----------------------------------------------------------------------------


def test_a_seed_draws_the_same_cases_and_more_cases_extend_the_list():
    first = json.dumps(draw_cases(6, 7))
    assert json.dumps(draw_cases(6, 7)) == first
    assert json.dumps(draw_cases(9, 7)[:6]) == first
    assert json.dumps(draw_cases(6, 8)) != first


def test_fresh_cases_are_valid_vectors_named_by_seed_and_index(vectors, drawn):
    cases, _ = drawn
    validate({**vectors, "cases": cases})
    for index, case in enumerate(cases):
        family, rest = case["name"].split("/")
        assert rest.startswith(f"fresh-{SEED}-{index:03d}-")
        assert family in {c["name"].split("/")[0] for c in cases}


def test_fresh_cases_cover_every_metric_setting_regime_and_anchor_kind(drawn):
    cases, stats = drawn
    families = {c["name"].split("/")[0] for c in cases}
    assert {"ap", "ap-voc", "ap-counts", "ap-voc-counts", "roc-auc", "accuracy", "pck"} <= families
    assert any(f.startswith("accuracy-top") for f in families)
    assert {c["metric"] for c in cases} == set(FRESH)
    regimes = {c["name"].split("/")[1].split("-", 3)[3] for c in cases}
    assert regimes == {r.name for r in REGIMES}
    assert sum(stats[f"kept: {name}"] for name in regimes) == COUNT
    assert {c["standardise"] for c in cases} == {True, False}
    powers, taus = [c["power"] for c in cases], [c["temperature"] for c in cases]
    assert min(powers) < 0.5 and max(powers) >= 30 and 1.0 in powers
    assert min(taus) < 0.05 and max(taus) > 5
    thresholds = {c["params"]["threshold"] for c in cases if c["metric"] == "PCK"}
    assert len(thresholds - {0.5}) >= 3
    text = " ".join(c["description"] for c in cases)
    assert all(f" {kind}" in text for kind in KINDS)
    assert "configurations" in text and "shuffled" in text
    lengths = [len(c["anchors"][0]) for c in cases]
    assert min(lengths) == 0 and max(lengths) > 100
    assert any(c.get("tolerances", {}).get("gradient") for c in cases)


def test_fresh_cases_cover_the_metrics_at_a_threshold_and_at_k(drawn):
    cases, _ = drawn
    at_t = [c for c in cases if c["metric"] in ("FScore", "Precision", "Recall")]
    at_k = [c for c in cases if c["metric"] in ("PrecisionAtK", "RecallAtK")]
    thresholds = [(np.array(c["scores"]), c["params"]["threshold"]) for c in at_t]
    assert len({t for _, t in thresholds}) >= 10 and 0.0 in {t for _, t in thresholds}
    assert {c["params"]["beta"] for c in at_t if c["metric"] == "FScore"} - {1.0}
    assert any((s == t).any() for s, t in thresholds)  # a score exactly on t: a tie
    assert any((s <= t).all() for s, t in thresholds)  # nothing predicted positive
    assert any(c["standardise"] and "comparisons" in c.get("tolerances", {}) for c in at_t)
    assert any(c["params"]["k"] >= len(c["scores"]) for c in at_k)  # the whole batch
    assert any(c["params"]["k"] < len(c["scores"]) for c in at_k)
    for group in (at_t, at_k):
        assert any(not any(c["targets"]) for c in group)  # no positive


def test_counts_and_seeds_out_of_range_are_refused():
    with pytest.raises(ValueError, match=f"count must be in \\[0, {MAX_FRESH}\\]"):
        draw_cases(MAX_FRESH + 1, 0)
    with pytest.raises(ValueError, match="seed must be in"):
        draw_cases(1, -1)
    with pytest.raises(TypeError, match="count must be an integer"):
        draw_cases(2.0, 0)
    with pytest.raises(ValueError, match="repeat must be from 1 to 10"):
        verify(reference_port, repeat=0)


def test_every_fixed_case_is_stable_under_another_ports_rounding(vectors):
    rng = np.random.default_rng(0)
    assert [c["name"] for c in vectors["cases"] if not stable(c, rng)] == []


@pytest.mark.parametrize(
    ("power", "temperature"),
    [(0.25, 1.0), (1.0, 23.5 / 38)],
    ids=["small-power-next-to-an-anchor", "tanh-rounding-to-one"],
)
def test_a_case_whose_answer_hinges_on_rounding_is_not_kept(vectors, power, temperature):
    # b~ is 1.2e-10 from an anchor: at p = 0.25 a 6-ulp change of b~ moves h~ by 1e-11;
    # at c / 2 tau = 19 NumPy's tanh rounds to 1 and XLA's does not.
    case = next(c for c in vectors["cases"] if c["name"] == "ap/very-near-anchor")
    rng = np.random.default_rng(0)
    assert stable(case, rng)
    changed = {k: v for k, v in case.items() if k != "expected"}
    changed.update(power=power, temperature=temperature)
    assert not stable(with_expected(changed), rng)


# --- right ports pass, wrong ones fail -----------------------------------------------------


def _document(vectors, cases):
    return {**vectors, "cases": cases}


@pytest.mark.parametrize(
    "port",
    [reference_port, plain_port, *wrong_ports.RIGHT],
    ids=lambda p: getattr(p, "__name__", ""),
)
def test_right_ports_pass_fresh_cases(vectors, drawn, port):
    port = port() if isinstance(port, type) else port
    report = verify(port, vectors=_document(vectors, drawn[0][:120]))
    assert report.passed, report.format()
    assert max(c.ratio for c in report.checks) <= 0.5


@pytest.mark.parametrize(
    "port", [*wrong_ports.CATALOGUE, *wrong_ports.DODGES], ids=lambda p: p.__name__
)
def test_every_wrong_port_and_look_up_is_rejected_by_fresh_cases_alone(drawn, port):
    cases, instance = drawn[0], port()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some wrong ports overflow on purpose
        assert any(_fails(instance, case) for case in cases)


@pytest.mark.parametrize("port", wrong_ports.DODGES, ids=lambda p: p.__name__)
def test_a_port_that_looks_answers_up_passes_every_fixed_case_and_no_fresh_one(
    vectors, drawn, port
):
    assert verify(port(), vectors=vectors).passed
    report = verify(port(), vectors=_document(vectors, drawn[0][:20]))
    assert {c.case for c in report.by_status("error")} == {c["name"] for c in drawn[0][:20]}


def test_the_look_ups_fail_from_the_command_line_with_fresh_cases(capsys):
    spec = "tests.wrong_ports:lookup_by_inputs"
    assert cli(["conformance", "verify", spec, "--fresh", "0"]) == 0
    assert cli(["conformance", "verify", spec, "--fresh", "3", "--seed", "5"]) == 1
    out = capsys.readouterr().out
    assert "the port raised KeyError" in out


# --- the command line ------------------------------------------------------------------------


def test_cli_verify_draws_100_fresh_cases_by_default_and_says_the_seed(capsys, vectors):
    assert cli(["conformance", "verify", "uniloss_ref.conformance:reference_port"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    total = len(vectors["cases"]) + 100
    assert head.startswith(f"Conformance of uniloss_ref.conformance:reference_port: {total} cases")
    assert "(100 fresh cases drawn with --seed " in head


def test_a_failing_fresh_case_is_printed_whole_and_replays(tmp_path, capsys, vectors):
    path = tmp_path / "port.py"
    path.write_text(
        textwrap.dedent(
            """
            from tests.wrong_ports import PckThresholdFixed
            port = PckThresholdFixed()
            """
        )
    )
    argv = ["conformance", "verify", f"{path}:port", "--fresh", "40", "--seed", "4"]
    assert cli([*argv, "--cases", "pck/fresh-*"]) == 1
    out = capsys.readouterr().out
    assert "(40 fresh cases drawn with --seed 4)" in out.splitlines()[0]
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Failing fresh cases"))
    shown = [json.loads(line) for line in lines[start + 1 :] if line.startswith("{")]
    assert shown and all(case["name"].startswith("pck/fresh-4-") for case in shown)
    assert all(case["params"]["threshold"] != 0.5 for case in shown)
    # Replayed from the printed text alone, without the seed.
    replay = tmp_path / "replay.json"
    replay.write_text(json.dumps({**vectors, "cases": shown}))
    argv = ["conformance", "verify", f"{path}:port", "--vectors", str(replay), "--fresh", "0"]
    assert cli(argv) == 1
    reference = ["conformance", "verify", "uniloss_ref.conformance:reference_port"]
    assert cli([*reference, "--vectors", str(replay), "--fresh", "0"]) == 0


def test_cli_generate_writes_fresh_cases_that_verify_reads(tmp_path, capsys):
    path = tmp_path / "fresh.json"
    argv = ["conformance", "generate", "--fresh", "12", "--seed", "9", "--output", str(path)]
    assert cli(argv) == 0
    assert "12 fresh cases drawn with --seed 9" in capsys.readouterr().out
    written = load(path)
    assert [c["name"] for c in written["cases"]] == [c["name"] for c in draw_cases(12, 9)]
    assert written["generated_by"].endswith("--fresh 12 --seed 9")
    spec = "uniloss_ref.plain:uniloss"
    assert cli(["conformance", "verify", spec, "--vectors", str(path), "--fresh", "0"]) == 0
    assert cli(argv) == 2  # the file exists now
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--fresh", "3"], "--fresh needs --output"),
        (["generate", "--fresh", "3", "--check", "--output", "x.json"], "does not go with"),
        (["generate", "--seed", "3", "--output", "x.json"], "--seed goes with --fresh N"),
    ],
)
def test_cli_fresh_usage_errors_are_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert cli(["conformance", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--fresh", str(MAX_FRESH + 1)],
        ["--fresh", "-1"],
        ["--seed", "x"],
        ["--repeat", "0"],
        ["--repeat", "11"],
    ],
)
def test_cli_out_of_range_counts_are_refused(capsys, argv):
    with pytest.raises(SystemExit) as raised:
        cli(["conformance", "verify", "uniloss_ref.conformance:reference_port", *argv])
    assert raised.value.code == 2
    assert "expected a whole number from" in capsys.readouterr().err


# --- the port's inputs, repeated runs, tensors ------------------------------------------------


def _vandal(case):
    out = reference_port(case)
    case["scores"] *= 2.0  # after computing: every quantity is right
    return out


def test_a_port_that_changes_its_inputs_is_reported(vectors):
    report = verify(_vandal, vectors=vectors, cases="ap/ordinary")
    assert not report.passed
    (check,) = report.by_status("error")
    assert check.quantity == "inputs"
    assert "changed its inputs in place: scores;" in check.detail
    assert len(report.by_status("pass")) == len(QUANTITIES)


def test_a_port_in_its_own_process_that_changes_its_inputs_is_reported(tmp_path, vectors):
    path = tmp_path / "vandal.py"
    path.write_text(
        "from uniloss_ref.conformance import reference_port\n"
        "def port(case):\n"
        "    out = reference_port(case)\n"
        "    case['targets']['xy'][0, 0, 0] += 1.0\n"
        "    case['anchors'][0] *= -1.0\n"
        "    return out\n"
    )
    report = verify(f"{path}:port", vectors=vectors, cases="pck/ordinary")
    (check,) = report.by_status("error")
    assert "changed its inputs in place: targets.xy, anchors;" in check.detail


class _Forgetful:
    """Right the first time it sees a case, 0.1% off in the gradient after that."""

    def __init__(self):
        self.seen = set()

    def __call__(self, case):
        out = reference_port(case)
        if case["name"] in self.seen:
            out["gradient"] = 1.001 * out["gradient"]
        self.seen.add(case["name"])
        return out


def test_repeat_catches_a_port_that_answers_differently_the_second_time(vectors):
    assert verify(_Forgetful(), vectors=vectors, cases="ap/ordinary").passed
    report = verify(_Forgetful(), vectors=vectors, cases="ap/ordinary", repeat=2)
    (check,) = report.by_status("fail")
    assert check.quantity == "gradient"
    assert "run 1 returned" in check.detail and "the same answer twice" in check.detail
    assert "each run 2 times" in report.format().splitlines()[0]


def test_repeat_passes_a_deterministic_port_in_its_own_process(vectors):
    spec = "uniloss_ref.plain:uniloss"
    assert verify(spec, vectors=vectors, cases="pck/*", repeat=2, fresh=3, seed=1).passed


class _NumpyOnly:
    """A tensor of a framework that offers ``numpy()`` but no ``__array__``."""

    def __init__(self, data):
        self.data = np.asarray(data)

    def numpy(self):
        return self.data


def test_a_tensor_with_only_numpy_is_read(vectors):
    np.testing.assert_array_equal(to_numpy(_NumpyOnly([1.5, 2.0])), [1.5, 2.0])

    def port(case):
        return {k: _NumpyOnly(v) for k, v in reference_port(case).items()}

    assert verify(port, vectors=vectors, cases="roc-auc/*").passed
