"""Every chapter runs as a notebook, and as a script with a real command line.

A chapter is converted with jupytext and executed top to bottom in a fresh kernel in quick
mode, as a learner running it in Jupyter would. Then: no cell failed, the code cell after
each "You should see" prose cell has output, and each cell that calls ``lesson.show``
displays a PNG. The HTML build is tested on chapter 1 (the fastest).
"""

from __future__ import annotations

import base64
import itertools
import re
import subprocess
import sys

import pytest

from tests.chapter_tools import CHAPTERS
from uniloss_ref import tutorial
from uniloss_ref.__main__ import main as cli

for module in ("jupytext", "nbclient", "nbconvert", "ipykernel"):
    pytest.importorskip(module, reason="the tutorial extra: pip install -e '.[tutorial]'")

PATHS = sorted(CHAPTERS.glob("[0-9][0-9]_*.py"))


def announced_cells(book) -> list:
    """The code cells that a "You should see" prose cell right before them announces."""
    cells = book.cells
    return [
        following
        for cell, following in itertools.pairwise(cells)
        if cell.cell_type == "markdown"
        and "you should see" in cell.source.lower()
        and following.cell_type == "code"
    ]


def shown_output(cell) -> bool:
    """Whether a code cell printed text or displayed something."""
    for output in cell.outputs:
        if output.output_type == "stream" and output.text.strip():
            return True
        if output.output_type in ("display_data", "execute_result") and output.data:
            return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_chapter_runs_as_a_notebook_with_results_under_their_cells(path, tmp_path):
    if path.stem == "11_porting":
        pytest.importorskip("torch")  # the chapter ports UniLoss to PyTorch
    book = tutorial.execute(tutorial.notebook(path), quick=True, out=tmp_path)
    announced = announced_cells(book)
    assert announced, f"{path.name} says nowhere what the reader should see"
    for cell in announced:
        assert shown_output(cell), f"no output under the announced cell:\n{cell.source[:300]}"
    figures = [cell for cell in book.cells if "lesson.show(" in cell.source]
    for cell in figures:
        kinds = [output.get("data", {}) for output in cell.outputs]
        assert any("image/png" in data for data in kinds), cell.source[:300]
        assert not any(output.output_type == "execute_result" for output in cell.outputs), (
            "a figure cell should show the figure only"
        )
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]  # fmt: skip
    assert not errors


def test_html_of_a_chapter_embeds_its_figure(tmp_path, capsys):
    out = tmp_path / "tutorial"
    assert cli(["tutorial", "--html", str(out), "--quick", "--only", "01"]) == 0
    page = (out / "01_metric_as_comparisons.html").read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=\s]+)"', page)
    assert len(images) == 1  # the chapter's one figure
    assert base64.b64decode(images[0]).startswith(b"\x89PNG")
    assert "AP = 0.7222" in page  # an output, inline
    assert "<details>" in page  # exercise answers stay collapsed
    assert (out / "files" / "01_metric_as_comparisons" / "01_comparisons.png").is_file()
    assert (out / "01_metric_as_comparisons.ipynb").is_file()
    assert "01_metric_as_comparisons.html" in (out / "index.html").read_text(encoding="utf-8")
    assert "1 chapters" in capsys.readouterr().out


def test_html_command_errors_are_one_line(tmp_path, capsys):
    assert cli(["tutorial", "--html", str(tmp_path), "--chapters", str(tmp_path)]) == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "no chapters" in message
    assert cli(["tutorial", "--html", str(tmp_path), "--only", "99"]) == 2
    assert "names no chapter" in capsys.readouterr().err
    chapters = tmp_path / "broken"
    chapters.mkdir()
    (chapters / "01_broken.py").write_text('# %%\nraise ValueError("boom")\n', encoding="utf-8")
    assert cli(["tutorial", "--html", str(tmp_path / "out"), "--chapters", str(chapters)]) == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "01_broken.py failed" in message and "boom" in message


@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_chapter_help_prints_usage_and_runs_nothing(path, tmp_path):
    done = subprocess.run(
        [sys.executable, str(path), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout and "--out" in done.stdout
    assert not any(tmp_path.iterdir())  # no figure, no output folder
