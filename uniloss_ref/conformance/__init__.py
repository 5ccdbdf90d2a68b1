"""Conformance vectors: a verified reference for ports of UniLoss to other frameworks.

The packaged file ``vectors.json`` holds named cases for every metric: a batch, the exact
anchors, the temperature and power, and the reference's comparisons, hard and relaxed
binaries, distances, anchor values, batch metric, surrogate, loss and gradient, in
float64 with a tolerance per quantity (:mod:`~uniloss_ref.conformance.tolerances`). Fresh
cases of the same form are drawn from a seed when a port is checked
(:mod:`~uniloss_ref.conformance.fresh`), so that no port passes by storing answers. A port
is a function ``port(case: dict) -> dict``; :func:`verify` runs it over the cases and
returns a :class:`Report`.

Command line::

    python -m uniloss_ref conformance generate [--output PATH] [--check]
    python -m uniloss_ref conformance generate --fresh N [--seed S] --output PATH
    python -m uniloss_ref conformance verify MODULE:FUNCTION [--fresh N] [--seed S]
        [--repeat R] [--cases GLOB] [--allow-partial] [--timeout SECONDS]
        [--load-timeout SECONDS]

``docs/porting.md`` describes the file, the signature, and the order to port things in.
"""

from .cases import build_cases
from .cli import register
from .fresh import FRESH, MAX_FRESH, draw_cases
from .isolation import PortLoadError
from .reference import case_inputs, reference_port
from .report import Check, Report
from .tolerances import MAX_TOLERANCE, QUANTITIES, case_tolerances, tolerance
from .vectors import (
    FORMAT_VERSION,
    compare,
    dumps,
    generate,
    load,
    validate,
    write,
)
from .verify import DEFAULT_LOAD_TIMEOUT, DEFAULT_TIMEOUT, load_port, to_numpy, verify

__all__ = [
    "DEFAULT_LOAD_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "FORMAT_VERSION",
    "FRESH",
    "MAX_FRESH",
    "MAX_TOLERANCE",
    "QUANTITIES",
    "Check",
    "PortLoadError",
    "Report",
    "build_cases",
    "case_inputs",
    "case_tolerances",
    "compare",
    "draw_cases",
    "dumps",
    "generate",
    "load",
    "load_port",
    "reference_port",
    "register",
    "to_numpy",
    "tolerance",
    "validate",
    "verify",
    "write",
]
