"""Every chapter runs as a notebook, and as a script with a real command line.

A chapter is converted with jupytext and executed top to bottom in a fresh kernel in quick
mode with the shipped solutions in the learner's cells, as a learner who has written them
would run it in Jupyter. Then: no cell failed, the code cell after each "You should see"
prose cell has output, each cell that calls ``lesson.show`` displays a PNG, and no kernel
wrote a warning. ``tutorial --notebooks`` and the HTML build are tested on chapters 1 and
10 (the fastest).
"""

from __future__ import annotations

import base64
import itertools
import re
import subprocess
import sys

import pytest

from tests.chapter_tools import CHAPTERS
from uniloss_ref.__main__ import main as cli

for module in ("jupytext", "nbclient", "nbconvert", "ipykernel"):
    pytest.importorskip(module, reason="the tutorial extra: pip install -e '.[tutorial]'")

import nbformat  # noqa: E402 (the extra's)
from nbclient.exceptions import CellExecutionError  # noqa: E402

from uniloss_ref import notebooks  # noqa: E402

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
    book = notebooks.execute(
        notebooks.notebook(path), quick=True, out=tmp_path, solutions=CHAPTERS / "solutions"
    )
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
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    warned = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not warned, warned


def test_html_pages_are_titled_linked_and_embed_their_figures(tmp_path, capfd):
    out = tmp_path / "tutorial"
    assert cli(["tutorial", "--html", str(out), "--quick", "--only", "01", "10"]) == 0
    page = (out / "01_metric_as_comparisons.html").read_text(encoding="utf-8")
    assert "<title>1. A metric is a function of comparisons</title>" in page
    assert page.count('href="10_same_code_on_a_gpu.html"') == 2  # next, at the top and bottom
    assert page.count('href="index.html"') == 2
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=\s]+)"', page)
    assert len(images) == 1  # the chapter's one figure
    assert base64.b64decode(images[0]).startswith(b"\x89PNG")
    assert "AP = 0.7222" in page  # an output, inline
    assert "<details>" in page  # exercise answers stay collapsed
    assert (out / "files" / "01_metric_as_comparisons" / "01_comparisons.png").is_file()
    assert (out / "01_metric_as_comparisons.ipynb").is_file()
    last = (out / "10_same_code_on_a_gpu.html").read_text(encoding="utf-8")
    assert 'href="01_metric_as_comparisons.html"' in last  # previous
    assert "<title>10. The same code on a GPU</title>" in last
    index = (out / "index.html").read_text(encoding="utf-8")
    assert (
        '<a href="01_metric_as_comparisons.html">1. A metric is a function of comparisons' in index
    )
    captured = capfd.readouterr()  # the kernels' own output too
    assert "2 chapters" in captured.out
    assert "WARNING" not in captured.err  # the kernels talk over local sockets, quietly


def test_notebooks_start_in_quick_mode_with_one_blas_thread(tmp_path, capsys):
    out = tmp_path / "notebooks"
    assert cli(["tutorial", "--notebooks", str(out), "--only", "01", "04"]) == 0
    assert "open them with: jupyter lab" in capsys.readouterr().out
    book = nbformat.read(out / "04_build_it_yourself.ipynb", as_version=4)
    first = book.cells[0]
    assert first.cell_type == "code" and not first.outputs
    assert 'os.environ["UNILOSS_TUTORIAL_QUICK"] = "1"' in first.source
    assert "OPENBLAS_NUM_THREADS" in first.source
    solutions = (CHAPTERS / "solutions").resolve().as_posix()
    assert f'# os.environ["UNILOSS_TUTORIAL_SOLUTIONS"] = "{solutions}"' in first.source
    assert book.metadata["title"] == "4. Build it yourself: UniLoss from scratch"
    titled = notebooks.notebook(CHAPTERS / "09_your_own_metric.py").metadata["title"]
    assert titled == "9. Your own metric, and how to choose τ and the anchors for it"
    # As the learner opens it: the settings cell, then the chapter, stopping at the first
    # cell marked theirs with the check's message and no traceback.
    with pytest.raises(CellExecutionError, match=r"ranking_pairs.*write its body"):
        notebooks.execute(book, quick=False)
    # With the solutions line uncommented, chapter 1 runs in quick mode as written.
    chapter_1 = nbformat.read(out / "01_metric_as_comparisons.ipynb", as_version=4)
    chapter_1.cells[0].source = chapter_1.cells[0].source.replace("# os.environ", "os.environ")
    chapter_1.cells.insert(1, nbformat.v4.new_code_cell(QUICK_PROBE))
    notebooks.execute(chapter_1, quick=False)
    assert chapter_1.cells[1].outputs[0].text.split() == ["1", "1", "solutions"]
    # A second run refuses to overwrite the learner's notebooks.
    assert cli(["tutorial", "--notebooks", str(out), "--only", "01"]) == 2
    assert "--overwrite" in capsys.readouterr().err


QUICK_PROBE = """
import os
print(os.environ["UNILOSS_TUTORIAL_QUICK"], os.environ["OPENBLAS_NUM_THREADS"],
      os.path.basename(os.environ["UNILOSS_TUTORIAL_SOLUTIONS"]))
"""


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
