"""Shared helpers of the chapter tests (the ``run`` fixture is in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
EXACT = {"rel": 1e-12, "abs": 1e-15}


def assert_figures(out: Path, *names: str) -> None:
    """Each named figure was written and is not empty."""
    for name in names:
        path = out / name
        assert path.is_file() and path.stat().st_size > 10_000, path
