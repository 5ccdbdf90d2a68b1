"""The package's layout: importing the method loads the method and nothing else."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.core_size import loaded
from uniloss_ref import plain


def test_importing_the_method_loads_no_device_layer_harness_or_authors_gradient():
    names = set(loaded())
    assert {"uniloss_ref.surrogate", "uniloss_ref.anchors", "uniloss_ref.metrics.pck"} <= names
    for absent in ("uniloss_ref.device", "uniloss_ref.experiments", "uniloss_ref.conformance"):
        assert not any(name == absent or name.startswith(absent + ".") for name in names)
    assert "uniloss_ref.check" not in names and "uniloss_ref.tutorial" not in names


def test_the_plain_statement_fits_on_one_page():
    # uniloss_ref.plain is the method to read in one sitting: at most 160 lines.
    with open(plain.__file__, encoding="utf-8") as file:
        assert sum(1 for _ in file) <= 160


BENCHMARKS = sorted(
    path
    for path in (Path(__file__).parents[1] / "benchmarks").glob("*.py")
    if "argparse" in path.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: path.name)
def test_every_benchmark_starts_as_a_script_from_another_directory(script, tmp_path):
    # `python benchmarks/x.py` puts benchmarks/ first on the path, not the repository.
    done = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
