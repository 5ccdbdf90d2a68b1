"""Shared test configuration.

Parallel workers
----------------
The suite runs in one pytest-xdist worker per core (``-n auto`` in ``pyproject.toml``). Each
worker then keeps to one BLAS thread, and so do the processes it starts (notebook kernels,
command-line runs): several workers each spinning several BLAS threads on the same cores
made the suite many times slower. A chapter's tests share one run of the chapter, so they
go to one worker. ``python -m pytest -n 0`` runs everything in one process with the
BLAS threads left free.

Hypothesis profiles
-------------------
``ci`` (the default) is derandomised, so a CI run is repeatable. ``dev`` draws
fresh examples; ``thorough`` draws many. Select one with the environment variable
``HYPOTHESIS_PROFILE``, e.g. ``HYPOTHESIS_PROFILE=thorough python -m pytest``.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from tests.chapter_tools import load

if os.environ.get("PYTEST_XDIST_WORKER"):
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _seed_global_rng_for_check_grads():
    """``autograd.test_util.check_grads`` draws its directions from NumPy's global RNG.

    Seeding it here (tests only; the library never touches it) makes those draws repeatable.
    """
    np.random.seed(0)  # noqa: NPY002 (check_grads reads the legacy global RNG)
    yield


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    """``run(stem, **options)``: a chapter run in quick mode, once per module.

    Returns the chapter's global variables after its last cell (the numbers its cells
    computed) and the folder its figures went to.
    """
    cache: dict = {}

    def run_chapter(stem: str, **options) -> tuple[dict, Path]:
        key = (stem, tuple(sorted(options.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(stem)
            cache[key] = (load(stem, out, **options), out)
        return cache[key]

    return run_chapter


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each chapter's tests on one worker, where its quick run is cached."""
    for item in items:
        name = item.name
        if item.path.name.startswith("test_chapters_") and name.startswith("test_chapter_"):
            item.add_marker(pytest.mark.xdist_group(name.split("_")[2]))
