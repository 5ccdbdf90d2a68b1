"""The chapters as notebooks: written for Jupyter, executed in a kernel, rendered as HTML.

Needs the ``tutorial`` extra (jupytext, nbclient, nbconvert, ipykernel and JupyterLab), which
this module imports; :mod:`uniloss_ref.tutorial` loads it only when asked.

* :func:`write_notebooks` (``python -m uniloss_ref tutorial --notebooks DIR``) writes each
  chapter as an unexecuted ``.ipynb`` whose first cell sets quick mode and one BLAS thread,
  for a learner to open in Jupyter and run cell by cell;
* :func:`execute` runs a chapter's notebook top to bottom in a fresh kernel (the tests);
* :func:`build_html` (``--html DIR``) executes every chapter with the shipped solutions and
  writes each as a page titled by the chapter, with links to the previous and next chapter
  and an index of their titles.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets.config import Config

from .tutorial import OUT_ENV, QUICK_ENV, SOLUTIONS_ENV, ChapterError, write_atomically

KERNEL = "python3"
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Set to 1 in a chapter's kernel: the chapters' matrices are small, and BLAS threads
competing for the cores made chapter 6 about five times slower on a busy machine (71 s
against 13.6 s)."""

SETTINGS = '''\
# Settings: run this cell first. Quick mode does fewer batches and epochs (every number
# the text states still holds); set it to "0" for the full run (chapters/README.md has the
# times). One BLAS thread: with more, the chapters ran several times slower on a busy
# machine. Both are read when the chapter starts: after a change, restart the kernel.
import os

os.environ["{quick}"] = "1"
for name in {threads}:
    os.environ[name] = "1"
# Stuck on a cell marked yours? This line runs the shipped solutions in its place:
# os.environ["{solutions_env}"] = "{solutions}"'''


def notebook(path: str | os.PathLike) -> Any:
    """The chapter as a notebook (jupytext reads the percent format), not yet executed.

    Its metadata carry the kernel and, as ``title``, the chapter's title (:func:`title`).
    """
    book = jupytext.read(str(path))
    book.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    book.metadata["title"] = title(book, Path(path).stem)
    return book


PLAIN_SYMBOLS = {r"\tau": "τ", r"\tilde h": "h̃", r"\tilde b": "b̃"}
"""TeX in a heading, as plain text for a page title."""


def title(book: Any, default: str) -> str:
    """The chapter's title: the first ``# heading`` of its first prose cell (else ``default``),
    its maths as plain text."""
    for cell in book.cells:
        if cell.cell_type == "markdown":
            found = re.search(r"^#\s+(.+)$", cell.source, flags=re.MULTILINE)
            if not found:
                return default
            text = found.group(1).strip()
            for tex, plain in PLAIN_SYMBOLS.items():
                text = text.replace(tex, plain)
            return text.replace("$", "")
    return default


def settings_cell(solutions: Path) -> Any:
    """The first cell of a written notebook: quick mode, one BLAS thread, where the solutions
    are (commented out)."""
    source = SETTINGS.format(
        quick=QUICK_ENV,
        threads=BLAS_THREADS,
        solutions_env=SOLUTIONS_ENV,
        solutions=solutions.resolve().as_posix(),
    )
    return nbformat.v4.new_code_cell(source)


def write_notebooks(
    chapters: Sequence[str | os.PathLike], out: str | os.PathLike, *, overwrite: bool = False
) -> list[Path]:
    """Write each chapter as ``out/NN_name.ipynb``, unexecuted, with :func:`settings_cell` first.

    Parameters
    ----------
    chapters : sequence of str or PathLike
        Chapter files.
    out : str or PathLike
        Output folder (created).
    overwrite : bool, default False
        Replace notebooks already there; without it an existing one (a learner's work,
        perhaps) is refused before anything is written.

    Returns
    -------
    list of Path
        The notebooks written.

    Raises
    ------
    FileExistsError
        If a notebook exists and ``overwrite`` is false.
    """
    out = Path(out)
    targets = [(Path(chapter), out / f"{Path(chapter).stem}.ipynb") for chapter in chapters]
    taken = [target.name for _, target in targets if target.exists()]
    if taken and not overwrite:
        raise FileExistsError(
            f"{out} already holds {', '.join(taken)} (your work?); "
            "pass --overwrite to replace them, or choose another folder"
        )
    for chapter, target in targets:
        book = notebook(chapter)
        book.cells.insert(0, settings_cell(chapter.resolve().parent / "solutions"))
        write_atomically(target, nbformat.writes(book).encode("utf-8"))
    return [target for _, target in targets]


def execute(
    book: Any,
    *,
    quick: bool,
    out: str | os.PathLike | None = None,
    solutions: str | os.PathLike | None = None,
    timeout: int = 600,
) -> Any:
    """Execute a notebook top to bottom in a fresh kernel; returns it with its outputs.

    The kernel gets one BLAS thread and talks to this process over local sockets (IPC), not
    TCP.

    Parameters
    ----------
    book : nbformat.NotebookNode
    quick : bool
        Sets ``UNILOSS_TUTORIAL_QUICK`` for the kernel.
    out : str or PathLike, optional
        Sets ``UNILOSS_TUTORIAL_OUT``: figures are saved there too. The kernel also runs
        there (a chapter writes nothing else).
    solutions : str or PathLike, optional
        Sets ``UNILOSS_TUTORIAL_SOLUTIONS``: the folder of solutions that replace the cells
        marked as the learner's.
    timeout : int, default 600
        Seconds any one cell may take.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        If a cell raises; the message holds the cell and the traceback.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in (QUICK_ENV, OUT_ENV, SOLUTIONS_ENV)
    }
    env[QUICK_ENV] = "1" if quick else "0"
    env |= dict.fromkeys(BLAS_THREADS, "1")
    if out is not None:
        env[OUT_ENV] = str(Path(out).resolve())
    if solutions is not None:
        env[SOLUTIONS_ENV] = str(Path(solutions).resolve())
    cwd = Path(out) if out is not None else Path.cwd()
    cwd.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="uniloss-kernel-") as sockets:
        local = {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}
        client = NotebookClient(
            book,
            timeout=timeout,
            kernel_name=KERNEL,
            resources={"metadata": {"path": str(cwd)}},
            config=Config({"KernelManager": local}),
        )
        client.execute(env=env)
    return book


def build_html(
    chapters: Sequence[str | os.PathLike], out: str | os.PathLike, *, quick: bool = False
) -> list[Path]:
    """Execute each chapter as a notebook, with its solutions, and write it as static HTML.

    Parameters
    ----------
    chapters : sequence of str or PathLike
        Chapter files, in reading order.
    out : str or PathLike
        Output folder: ``NN_name.html`` and the executed ``NN_name.ipynb`` per chapter, an
        ``index.html``, and the figures' PNGs under ``files/NN_name/``. Each page is titled
        by its chapter and links to the index and to the previous and next chapter.
    quick : bool, default False

    Returns
    -------
    list of Path
        The HTML pages written, index last.

    Raises
    ------
    ChapterError
        If a cell of a chapter raises (the message names the chapter and the error).
    """
    from nbconvert import HTMLExporter

    out = Path(out)
    exporter = HTMLExporter()
    chapters = [Path(chapter) for chapter in chapters]
    books = [notebook(chapter) for chapter in chapters]
    links = [
        (f"{chapter.stem}.html", book.metadata["title"])
        for chapter, book in zip(chapters, books, strict=True)
    ]
    pages = []
    for number, (chapter, book) in enumerate(zip(chapters, books, strict=True)):
        solutions = chapter.resolve().parent / "solutions"
        try:
            execute(
                book,
                quick=quick,
                out=out / "files" / chapter.stem,
                solutions=solutions if solutions.is_dir() else None,
            )
        except CellExecutionError as err:
            last = str(err).strip().splitlines()[-1]
            raise ChapterError(f"{chapter.name} failed as a notebook: {last}") from err
        body, _ = exporter.from_notebook_node(book)
        nav = _navigation(
            links[number - 1] if number > 0 else None,
            links[number + 1] if number + 1 < len(links) else None,
        )
        opening = re.search(r"<body[^>]*>", body)
        at = opening.end() if opening else 0
        body = body[:at] + nav + body[at:].replace("</body>", nav + "</body>", 1)
        page = out / links[number][0]
        write_atomically(page, body.encode("utf-8"))
        write_atomically(out / f"{chapter.stem}.ipynb", nbformat.writes(book).encode("utf-8"))
        pages.append(page)
    mode = " (quick mode)" if quick else ""
    items = "\n".join(
        f'<li><a href="{html.escape(href)}">{html.escape(name)}</a></li>' for href, name in links
    )
    index = out / "index.html"
    write_atomically(
        index,
        (
            "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            "<title>UniLoss: the tutorial</title></head>\n"
            f"<body><h1>UniLoss: the tutorial{mode}</h1>\n<ul>\n{items}\n</ul></body></html>\n"
        ).encode(),
    )
    return [*pages, index]


def _navigation(before: tuple[str, str] | None, after: tuple[str, str] | None) -> str:
    """Links to the previous chapter, the contents and the next chapter (``(href, title)``)."""
    parts = []
    if before is not None:
        parts.append(f'<a href="{html.escape(before[0])}">&larr; {html.escape(before[1])}</a>')
    parts.append('<a href="index.html">contents</a>')
    if after is not None:
        parts.append(f'<a href="{html.escape(after[0])}">{html.escape(after[1])} &rarr;</a>')
    style = "font-family: sans-serif; margin: 1em 2em; display: flex; gap: 2em"
    return f'\n<nav style="{style}">{" ".join(parts)}</nav>\n'
