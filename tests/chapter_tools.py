"""Shared helpers of the chapter tests (the ``run`` fixture is in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uniloss_ref import tutorial

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
EXACT = {"rel": 1e-12, "abs": 1e-15}


def load(stem: str, out_dir: Path, **options: Any) -> dict[str, Any]:
    """Run ``chapters/<stem>.py`` in quick mode with the shipped solutions in the learner's
    cells; its global variables (uncached: see ``run``)."""
    path = CHAPTERS / f"{stem}.py"
    return tutorial.run_chapter(path, quick=True, out_dir=out_dir, solutions=True, **options)


def assert_figures(out: Path, *names: str) -> None:
    """Each named figure was written and is not empty."""
    for name in names:
        path = out / name
        assert path.is_file() and path.stat().st_size > 10_000, path
