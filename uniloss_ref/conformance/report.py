"""What the checker found: one :class:`Check` per quantity and case, and the :class:`Report`.

The printed report has one line per case (its result: ``pass``, ``part`` when some
quantities were skipped, ``skip``, ``FAIL`` or ``ERROR``; how many quantities were compared,
the worst one and the quantities skipped), a line per failure saying where and by how
much, a summary per quantity, and a verdict: ``PASS``, ``PARTIAL PASS`` (skips were
allowed, so part of the port is unverified) or ``FAIL``, with the number of cases when
only some were selected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Status = Literal["pass", "fail", "skip", "error"]


@dataclass(frozen=True)
class Check:
    """The outcome for one quantity of one case.

    Attributes
    ----------
    case, quantity : str
        What was compared.
    status : {"pass", "fail", "skip", "error"}
        ``error``: the port raised, or returned something that is not numbers.
    error : float
        Worst ``|got - expected|`` (NaN when nothing was compared).
    ratio : float
        Worst ``|got - expected| / (atol + rtol * |expected|)``; the check passes iff
        ``ratio <= 1`` (NaN when nothing was compared).
    detail : str
        Why it failed, was skipped or raised; empty on a pass.
    """

    case: str
    quantity: str
    status: Status
    error: float = math.nan
    ratio: float = math.nan
    detail: str = ""


@dataclass(frozen=True)
class Report:
    """Every check of one run of :func:`uniloss_ref.conformance.verify`.

    Attributes
    ----------
    checks : tuple of Check
        One per (case, quantity), cases in file order.
    port : str
        The port's name, for the printed report.
    require_all : bool
        Whether a skipped quantity counts as a failure.
    cases_total : int, optional
        How many cases there were to select from, to say when only some were selected.
    fresh : int
        How many of them were fresh cases drawn for this run.
    seed : int, optional
        The seed they were drawn from (None without fresh cases).
    repeat : int
        How many times each case was run.
    failing_fresh : tuple of str
        The first few fresh cases that failed, each whole as one line of JSON (with its
        expected outputs), so that a failure can be replayed without the seed.
    failing_fresh_total : int
        How many fresh cases failed in all.
    """

    checks: tuple[Check, ...]
    port: str = "port"
    require_all: bool = True
    cases_total: int | None = None
    fresh: int = 0
    seed: int | None = None
    repeat: int = 1
    failing_fresh: tuple[str, ...] = ()
    failing_fresh_total: int = 0

    def by_status(self, status: Status) -> tuple[Check, ...]:
        """The checks with the given status."""
        return tuple(check for check in self.checks if check.status == status)

    @property
    def passed(self) -> bool:
        """No failure or error, something was compared, and no skip if ``require_all``."""
        bad = self.by_status("fail") + self.by_status("error")
        if self.require_all:
            bad += self.by_status("skip")
        return not bad and bool(self.by_status("pass"))

    @property
    def partial(self) -> bool:
        """Whether some quantity or case was skipped: the port was not checked whole."""
        return bool(self.by_status("skip"))

    @property
    def skipped_cases(self) -> dict[str, str]:
        """Cases the port did not run at all, with its reason."""
        cases: dict[str, list[Check]] = {}
        for check in self.checks:
            cases.setdefault(check.case, []).append(check)
        return {
            name: checks[0].detail
            for name, checks in cases.items()
            if all(c.status == "skip" for c in checks) and checks[0].detail
        }

    def format(self) -> str:
        """The report as text: one line per case, failure details, a per-quantity summary."""
        return _format(self)

    def __str__(self) -> str:
        return self.format()


def _cell(value: float) -> str:
    return "0" if value == 0 else f"{value:.1e}"


def _format(report: Report) -> str:
    cases: dict[str, list[Check]] = {}
    for check in report.checks:
        cases.setdefault(check.case, []).append(check)
    width = max([len("case"), *map(len, cases)])
    drawn = f" drawn with --seed {report.seed}" if report.seed is not None else ""
    runs = f", each run {report.repeat} times" if report.repeat > 1 else ""
    lines = [
        f"Conformance of {report.port}: {len(cases)} cases"
        + (f" ({report.fresh} fresh cases{drawn})" if report.fresh else "")
        + runs,
        "err/tol = worst |got - expected| / (atol + rtol |expected|); a check passes at <= 1",
        "",
        f"{'case':<{width}}  result  checked  {'worst quantity':<14}  "
        f"{'|err|':>7}  {'err/tol':>7}  skipped",
    ]
    for name, checks in cases.items():
        compared = [c for c in checks if c.status in ("pass", "fail")]
        bad = [c for c in checks if c.status in ("fail", "error")]
        skipped = [c for c in checks if c.status == "skip"]
        if bad:
            result = "ERROR" if any(c.status == "error" for c in bad) else "FAIL"
        elif compared and skipped:
            result = "part"  # what was compared passed; the rest was not checked
        elif compared:
            result = "pass"
        else:
            result = "skip"
        worst = max(compared, key=lambda c: c.ratio, default=None)
        if len(skipped) == len(checks):
            skip_text = "all" + (f" ({skipped[0].detail})" if skipped[0].detail else "")
        else:
            skip_text = ", ".join(c.quantity for c in skipped)
        if worst is None:
            columns = f"{'':<14}  {'':>7}  {'':>7}"
        else:
            label = worst.quantity if worst.ratio > 0 else "(all exact)"
            columns = f"{label:<14}  {_cell(worst.error):>7}  {_cell(worst.ratio):>7}"
        lines.append(
            f"{name:<{width}}  {result:<6}  {len(compared):>7}  {columns}  {skip_text}".rstrip()
        )
        # A port's exception is the same for every quantity of a case: print it once.
        details = dict.fromkeys((c.quantity if c.status == "fail" else "", c.detail) for c in bad)
        for quantity, detail in details:
            lines.append(f"    {quantity + ': ' if quantity else ''}{detail}")
    if report.failing_fresh:
        lines += [
            "",
            f"Failing fresh cases, each whole as JSON (the same cases again: --fresh "
            f'{report.fresh} --seed {report.seed}; saved as the "cases" of a vectors file, '
            "with --vectors):",
            *report.failing_fresh,
        ]
        more = report.failing_fresh_total - len(report.failing_fresh)
        if more:
            lines.append(
                f"... and {more} more; write them all with: python -m uniloss_ref conformance "
                f"generate --fresh {report.fresh} --seed {report.seed} --output FILE"
            )
    lines += ["", f"{'quantity':<14}  checked  failed  skipped  worst err/tol"]
    for quantity in dict.fromkeys(c.quantity for c in report.checks):
        of = [c for c in report.checks if c.quantity == quantity]
        compared = [c for c in of if c.status in ("pass", "fail")]
        worst = max((c.ratio for c in compared), default=math.nan)
        failed = sum(c.status in ("fail", "error") for c in of)
        skipped = sum(c.status == "skip" for c in of)
        lines.append(
            f"{quantity:<14}  {len(compared):>7}  {failed:>6}  {skipped:>7}  "
            f"{_cell(worst) if compared else '-':>13}"
        )
    counts = {s: len(report.by_status(s)) for s in ("pass", "fail", "error", "skip")}
    tally = (
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors, "
        f"{counts['skip']} skipped"
    )
    if report.passed and report.partial:
        # Exit status 0, but the label says what was not checked.
        verdict = (
            f"PARTIAL PASS: {tally}; the skipped quantities are NOT verified "
            "(run without --allow-partial to require them)"
        )
    elif report.passed:
        verdict = f"PASS: {tally}"
    elif counts["fail"] or counts["error"]:
        verdict = f"FAIL: {tally}"
    elif counts["pass"]:
        verdict = (
            "FAIL (partial port: a skipped quantity is a failure; --allow-partial checks "
            f"a port step by step): {tally}"
        )
    else:
        verdict = f"FAIL (nothing was compared): {tally}"
    if report.cases_total is not None and len(cases) < report.cases_total:
        verdict += f" (only {len(cases)} of {report.cases_total} cases selected)"
    lines += ["", verdict]
    return "\n".join(lines)
