"""Shared helpers of the chapter tests (the ``run`` fixture is in ``tests/conftest.py``)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

from uniloss_ref import tutorial

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
EXACT = {"rel": 1e-12, "abs": 1e-15}


def load(stem: str, out_dir: Path, **options: Any) -> dict[str, Any]:
    """Run ``chapters/<stem>.py`` in quick mode with the shipped solutions in the learner's
    cells; its global variables (uncached: see ``run``)."""
    path = CHAPTERS / f"{stem}.py"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = tutorial.run_chapter(path, quick=True, out_dir=out_dir, solutions=True, **options)
    result[PRINTED] = printed.getvalue()
    return result


PRINTED = "__printed__"
"""The key under which :func:`load` keeps everything the chapter printed."""


def assert_figures(out: Path, *names: str) -> None:
    """Each named figure was written and is not empty."""
    for name in names:
        path = out / name
        assert path.is_file() and path.stat().st_size > 10_000, path


# ----- Every number the prose states, shown by the outputs -----

NUMBER = re.compile(r"(?<![\w.^/-])(\d+(?:\.\d+)?(?:e-?\d+)?)(%?)(?![\w/])")
BOUND = re.compile(
    r"(?:above|below|under|over|at least|at most|more than|less than|fewer than|within|up to"
    r"|beyond|past|passes|exceeds?|[<>≤≥])\s*\**\s*$",
    flags=re.IGNORECASE,
)


def prose(stem: str) -> list[str]:
    """The chapter's prose cells, maths (``$...$``) and code spans taken out."""
    text = (CHAPTERS / f"{stem}.py").read_text(encoding="utf-8")
    cells = re.split(r"^# %%.*$", text, flags=re.MULTILINE)
    markdown = [c for c, marker in zip(cells[1:], re.findall(r"^# %%.*$", text, flags=re.MULTILINE),
                                       strict=True) if "[markdown]" in marker]  # fmt: skip
    out = []
    for cell in markdown:
        lines = [
            line[2:] if line.startswith("# ") else line.lstrip("#") for line in cell.splitlines()
        ]
        body = "\n".join(lines)
        body = re.sub(r"\$\$.*?\$\$", " ", body, flags=re.DOTALL)
        body = re.sub(r"\$[^$]*\$", " ", body)
        body = re.sub(r"`[^`]*`", " ", body)
        out.append(body)
    return out


def code(stem: str) -> str:
    """The chapter's code cells."""
    text = (CHAPTERS / f"{stem}.py").read_text(encoding="utf-8")
    parts = re.split(r"^(# %%.*)$", text, flags=re.MULTILINE)
    return "\n".join(
        body for marker, body in zip(parts[1::2], parts[2::2], strict=True)
        if "[markdown]" not in marker
    )  # fmt: skip


def _shown(token: str, percent: bool, printed: list[float]) -> bool:
    """Whether a printed number, rounded as the prose writes it, is the prose's number."""
    value = float(token)
    decimals = len(token.split(".")[1]) if "." in token and "e" not in token else 0
    for shown in printed:
        for candidate in (shown, 100 * shown) if percent else (shown,):
            if "e" in token:
                if value and abs(candidate - value) <= 0.051 * abs(value):
                    return True
            elif round(candidate, decimals) == value or round(abs(candidate), decimals) == value:
                return True
    return False


def unshown_numbers(stem: str, printed: str, cited: dict[str, str]) -> list[str]:
    """Each number the prose states that is neither printed by the chapter (at the prose's
    precision), nor a setting in its code, nor a bound (after "above", "below", ...), nor
    cited with its source in ``cited``; as ``"number: sentence"``.

    Numbers are decimals, percentages, powers of ten and integers of three digits or more;
    numbers inside maths or code spans, and small integers (counts, chapter numbers) are
    not claims this checks.
    """
    values = [float(m) for m in re.findall(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", printed)]
    percents = [float(m) / 100 for m in re.findall(r"(\d+(?:\.\d+)?)%", printed)]
    settings = code(stem)
    missing = []
    for cell in prose(stem):
        for sentence in re.split(r"(?<=[.;:!?])\s+|\n\s*\n", cell):
            for match in NUMBER.finditer(sentence):
                token, percent = match.group(1), bool(match.group(2))
                small_integer = "." not in token and "e" not in token and len(token) < 3
                if small_integer and not percent:
                    continue
                before = sentence[: match.start()]
                if BOUND.search(before[-30:]) or f"{token}{match.group(2)}" in cited:
                    continue
                if _shown(token, percent, values + percents):
                    continue
                setting = f"{float(token) / 100:g}" if percent else token
                if re.search(rf"(?<![\w.]){re.escape(setting)}(?![\w])", settings):
                    continue
                missing.append(f"{token}{match.group(2)}: {' '.join(sentence.split())[:160]}")
    return missing
