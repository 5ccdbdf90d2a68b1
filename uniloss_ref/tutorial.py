"""The chapters' runtime: one source that runs as a script, as a notebook and under the tests.

A chapter (``chapters/NN_name.py``) is a percent-format script whose cells do their work at
top level, each right after the prose that explains it. Its first code cell calls
:func:`setup`, which returns a :class:`Lesson`: ``quick`` (fewer batches or epochs; every
number the text states still holds) and ``out`` (where figures are saved). Where those come
from depends on how the chapter runs:

* **as a script** (``python chapters/01_metric_as_comparisons.py --quick``): from the command
  line, parsed with argparse; ``--help`` prints the usage and exits before any cell runs;
* **in a notebook kernel** (Jupyter, VS Code, :func:`execute`): from the environment,
  ``UNILOSS_TUTORIAL_QUICK=1`` and ``UNILOSS_TUTORIAL_OUT=DIR`` (full mode, no files, by
  default);
* **through** :func:`run_chapter` (the tests): from its arguments; it returns the chapter's
  global variables, so the tests read the numbers the cells computed.

:meth:`Lesson.show` saves a figure and, in a notebook, displays it under its cell.
:func:`notebook`, :func:`execute` and :func:`build_html` turn chapters into executed
notebooks and static HTML; they need the ``tutorial`` extra (jupytext, nbclient, nbconvert,
ipykernel) and import it only when called. ``python -m uniloss_ref tutorial --html DIR``
builds the whole tutorial.
"""

from __future__ import annotations

import argparse
import html
import io
import os
import runpy
import sys
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .experiments import outputs

QUICK_ENV = "UNILOSS_TUTORIAL_QUICK"
OUT_ENV = "UNILOSS_TUTORIAL_OUT"
KERNEL = "python3"

_ACTIVE: ContextVar[Lesson | None] = ContextVar("uniloss_ref_tutorial_lesson", default=None)


class ChapterError(RuntimeError):
    """A chapter's cell raised while it ran as a notebook."""


@dataclass(frozen=True)
class Lesson:
    """How a chapter runs this time.

    Attributes
    ----------
    quick : bool
        Fewer batches or epochs.
    out : Path or None
        Folder for the figures; None saves nothing (a notebook shows them inline instead).
    options : mapping of str to Any
        The chapter's own options (e.g. ``device``), defaults updated by the caller.
    script : bool
        Whether the chapter runs as a script: then a figure that cannot be saved ends it
        with one line and exit status 2 instead of a traceback.
    """

    quick: bool
    out: Path | None
    options: Mapping[str, Any] = field(default_factory=dict)
    script: bool = False

    def show(self, figure: Any, name: str) -> None:
        """Save ``figure`` as ``out / name`` (when ``out`` is set); in a notebook, display it.

        Parameters
        ----------
        figure : matplotlib.figure.Figure
        name : str
            File name of the PNG, e.g. ``"01_comparisons.png"``.
        """
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        png = buffer.getvalue()
        path = None
        if self.out is not None:
            path = self.out / name
            try:
                write_atomically(path, png)
            except OSError as err:
                if not self.script:
                    raise
                print(f"{sys.argv[0]}: error: cannot save {path}: {_reason(err)}", file=sys.stderr)
                raise SystemExit(2) from None
        if in_kernel():
            from IPython.display import Image, display

            display(Image(data=png))
        elif path is not None:
            print(f"figure: {path}")


def in_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (where figures can be shown inline)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def setup(name: str, chapter: str, title: str, options: Mapping[str, Any] | None = None) -> Lesson:
    """The settings of a chapter that is starting to run.

    Parameters
    ----------
    name : str
        The chapter's ``__name__`` (``"__main__"`` when run as a script).
    chapter : str
        Its number, ``"01"``: figures go to ``out/chapters/01`` by default.
    title : str
        One line for ``--help``.
    options : mapping of str to Any, optional
        The chapter's own options and their defaults (str, int, float or bool); on the
        command line each is ``--name VALUE``.

    Returns
    -------
    Lesson

    Raises
    ------
    TypeError
        If :func:`run_chapter` passed an option the chapter does not have.
    """
    defaults = dict(options or {})
    given = _ACTIVE.get()
    if given is not None:
        unknown = set(given.options) - set(defaults)
        if unknown:
            raise TypeError(
                f"chapter {chapter} has no option {sorted(unknown)}; it has {sorted(defaults)}"
            )
        return Lesson(given.quick, given.out, MappingProxyType({**defaults, **given.options}))
    if name == "__main__" and not in_kernel():
        return _from_command_line(chapter, title, defaults)
    out = os.environ.get(OUT_ENV)
    return Lesson(
        quick=os.environ.get(QUICK_ENV, "") not in ("", "0"),
        out=Path(out) if out else None,
        options=MappingProxyType(defaults),
    )


def _from_command_line(chapter: str, title: str, defaults: dict[str, Any]) -> Lesson:
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument(
        "--quick", action="store_true", help="fewer batches or epochs (the stated numbers hold)"
    )
    out = f"out/chapters/{chapter}"
    parser.add_argument("--out", default=out, metavar="DIR", help=f"figures (default: {out})")
    for option, default in defaults.items():
        kind = (
            (lambda text: text.lower() in ("1", "true", "yes"))
            if isinstance(default, bool)
            else type(default)
        )
        parser.add_argument(f"--{option}", type=kind, default=default, help=f"default: {default}")
    args = vars(parser.parse_args())
    out = Path(args.pop("out"))
    try:  # before any cell runs: a figure that cannot be saved would end the chapter late
        out.mkdir(parents=True, exist_ok=True)
        outputs.write_atomically(out / ".write-test", lambda file: file.write(b"x"))
        (out / ".write-test").unlink()
    except OSError as err:
        parser.exit(
            2, f"{parser.prog}: error: --out {out} cannot hold the figures: {_reason(err)}\n"
        )
    return Lesson(quick=args.pop("quick"), out=out, options=MappingProxyType(args), script=True)


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


def run_chapter(
    path: str | os.PathLike, *, quick: bool = True, out_dir: str | os.PathLike, **options: Any
) -> dict[str, Any]:
    """Run a chapter top to bottom, as the script does, and return its global variables.

    Parameters
    ----------
    path : str or PathLike
        The chapter's ``.py`` file.
    quick : bool, default True
    out_dir : str or PathLike
        Folder for its figures.
    **options
        The chapter's own options (see :func:`setup`).

    Returns
    -------
    dict
        The chapter's namespace after its last cell: every number its cells computed.
    """
    token = _ACTIVE.set(Lesson(bool(quick), Path(out_dir), options))
    try:
        return runpy.run_path(str(path), run_name="__chapter__")
    finally:
        _ACTIVE.reset(token)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    outputs.write_atomically(path, lambda file: file.write(data))


# ---------------------------------------------------------------------------------------
# Notebooks and HTML (the ``tutorial`` extra)
# ---------------------------------------------------------------------------------------


def notebook(path: str | os.PathLike) -> Any:
    """The chapter as a notebook (jupytext reads the percent format), not yet executed."""
    import jupytext

    book = jupytext.read(str(path))
    book.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    return book


def execute(
    book: Any, *, quick: bool, out: str | os.PathLike | None = None, timeout: int = 600
) -> Any:
    """Execute a notebook top to bottom in a fresh kernel; returns it with its outputs.

    Parameters
    ----------
    book : nbformat.NotebookNode
    quick : bool
        Sets ``UNILOSS_TUTORIAL_QUICK`` for the kernel.
    out : str or PathLike, optional
        Sets ``UNILOSS_TUTORIAL_OUT``: figures are saved there too. The kernel also runs
        there (a chapter writes nothing else).
    timeout : int, default 600
        Seconds any one cell may take.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        If a cell raises; the message holds the cell and the traceback.
    """
    from nbclient import NotebookClient

    env = {key: value for key, value in os.environ.items() if key not in (QUICK_ENV, OUT_ENV)}
    env[QUICK_ENV] = "1" if quick else "0"
    if out is not None:
        env[OUT_ENV] = str(Path(out).resolve())
    cwd = Path(out) if out is not None else Path.cwd()
    cwd.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(
        book, timeout=timeout, kernel_name=KERNEL, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute(env=env)
    return book


def build_html(
    chapters: Sequence[str | os.PathLike], out: str | os.PathLike, *, quick: bool = False
) -> list[Path]:
    """Execute each chapter as a notebook and write it as static HTML, outputs inline.

    Parameters
    ----------
    chapters : sequence of str or PathLike
        Chapter files, in reading order.
    out : str or PathLike
        Output folder: ``NN_name.html`` and the executed ``NN_name.ipynb`` per chapter, an
        ``index.html``, and the figures' PNGs under ``files/NN_name/``.
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
    import nbformat
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    out = Path(out)
    exporter = HTMLExporter()
    pages: list[Path] = []
    for chapter in map(Path, chapters):
        try:
            book = execute(notebook(chapter), quick=quick, out=out / "files" / chapter.stem)
        except CellExecutionError as err:
            last = str(err).strip().splitlines()[-1]
            raise ChapterError(f"{chapter.name} failed as a notebook: {last}") from err
        body, _ = exporter.from_notebook_node(book)
        page = out / f"{chapter.stem}.html"
        write_atomically(page, body.encode("utf-8"))
        write_atomically(out / f"{chapter.stem}.ipynb", nbformat.writes(book).encode("utf-8"))
        pages.append(page)
    links = "\n".join(
        f'<li><a href="{html.escape(page.name)}">{html.escape(page.stem)}</a></li>'
        for page in pages
    )
    mode = " (quick mode)" if quick else ""
    index = out / "index.html"
    write_atomically(
        index,
        (
            "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>UniLoss tutorial</title>"
            f"</head>\n<body><h1>UniLoss: the tutorial{mode}</h1>\n<ol>\n{links}\n</ol>"
            "</body></html>\n"
        ).encode(),
    )
    return [*pages, index]


# ---------------------------------------------------------------------------------------
# Command line: python -m uniloss_ref tutorial --html DIR
# ---------------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``tutorial`` command to the command line."""
    parser = commands.add_parser(
        "tutorial",
        help="run the chapters as notebooks and build the tutorial as static HTML",
        description=(
            "Execute every chapter as a notebook (jupytext + nbclient) and write each as "
            "static HTML with its code, outputs and figures inline. Needs the tutorial "
            "extra: pip install -e '.[tutorial]'."
        ),
    )
    parser.add_argument("--html", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--quick", action="store_true", help="run the chapters in quick mode")
    parser.add_argument(
        "--chapters", default="chapters", metavar="DIR", help="the chapters (default: chapters)"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NN", help="chapter numbers to build (default: all)"
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    def fail(message: str) -> int:
        print(f"python -m uniloss_ref tutorial: error: {message}", file=sys.stderr)
        return 2

    chapters = sorted(Path(args.chapters).glob("[0-9][0-9]_*.py"))
    if not chapters:
        return fail(f"no chapters (NN_name.py) in {args.chapters!r}; run from the repository root")
    if args.only:
        chapters = [path for path in chapters if path.name[:2] in args.only]
        if not chapters:
            return fail(f"--only {' '.join(args.only)} names no chapter in {args.chapters!r}")
    try:
        import jupytext  # noqa: F401
        import nbclient  # noqa: F401
        import nbconvert  # noqa: F401
    except ImportError as err:
        extra = "pip install -e '.[tutorial]'"
        return fail(f"{err.name} is missing; install the tutorial extra: {extra}")
    try:
        pages = build_html(chapters, args.html, quick=args.quick)
    except ChapterError as err:
        return fail(str(err))
    print(f"{len(pages) - 1} chapters: {pages[-1]}")
    return 0
