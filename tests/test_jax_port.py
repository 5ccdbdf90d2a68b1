"""The JAX port in ports/jax_port.py passes the conformance vectors (skipped without jax).

JAX compiles the differentiable part once per case (every case has its own shapes), about
a second each on a busy 2-core machine, so the whole run is marked slow.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from uniloss_ref.conformance import case_inputs, load, verify

PORT = Path(__file__).resolve().parents[1] / "ports" / "jax_port.py"


@pytest.fixture(scope="module")
def port():
    pytest.importorskip("jax")
    spec = importlib.util.spec_from_file_location("jax_port", PORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def vectors():
    return load()


@pytest.mark.slow
def test_the_jax_port_passes_every_case_in_float64(port, vectors):
    report = verify(port.uniloss, vectors=vectors, fresh=30, seed=4)
    assert report.passed, report.format()
    assert max(check.ratio for check in report.checks) < 0.2  # docs/porting.md: "below a fifth"


def test_the_jax_port_returns_float64_jax_arrays(port, vectors):
    import jax

    case = next(c for c in vectors["cases"] if c["name"] == "accuracy/ties-with-higher-classes")
    out = port.uniloss(case_inputs(case))
    for quantity in ("comparisons", "relaxed", "distances", "surrogate", "gradient"):
        assert isinstance(out[quantity], jax.Array) and out[quantity].dtype == np.float64


def test_a_where_based_exact_hit_branch_gives_nan_gradients(port, vectors, monkeypatch):
    """docs/porting.md: both branches of jnp.where are differentiated; log(0) in the one
    that is thrown away makes the gradient NaN on an anchor."""
    jnp = pytest.importorskip("jax.numpy")

    def naive(b, plus, values, power):
        d2 = port.squared_distances(b, plus)
        on = d2 == 0
        w = jnp.exp(-0.5 * power * jnp.log(d2))  # inf on the anchor, no safe d^2
        return jnp.where(on.any(), values[jnp.argmax(on)] + 0.0 * b.sum(), (w @ values) / w.sum())

    cases = ["ap/extreme-on-anchor", "accuracy/extreme-on-anchor", "ap/ordinary"]
    assert verify(port.uniloss, vectors=vectors, cases=cases).passed
    monkeypatch.setattr(port, "interpolate", naive)
    report = verify(port.uniloss, vectors=vectors, cases=cases)
    failed = {(c.case, c.quantity) for c in report.by_status("fail")}
    assert failed == {
        ("ap/extreme-on-anchor", "gradient"),
        ("accuracy/extreme-on-anchor", "gradient"),
    }
    assert "nan" in report.by_status("fail")[0].detail


def test_the_jax_port_is_verifiable_from_the_command_line(port, vectors):
    report = verify(f"{PORT}:uniloss", vectors=vectors, cases=["pck/mixed-degenerate", "ap/ties"])
    assert report.passed, report.format()
