"""Shared helpers of the chapter tests (the ``run`` fixture is in ``tests/conftest.py``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
EXACT = {"rel": 1e-12, "abs": 1e-15}


def load(stem: str) -> ModuleType:
    """Import ``chapters/<stem>.py`` by path (chapter names start with digits)."""
    spec = importlib.util.spec_from_file_location(f"chapter_{stem}", CHAPTERS / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_figures(out: Path, *names: str) -> None:
    """Each named figure was written and is not empty."""
    for name in names:
        path = out / name
        assert path.is_file() and path.stat().st_size > 10_000, path
