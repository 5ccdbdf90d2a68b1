"""The chapters' runtime: one source that runs as a script, as a notebook and under the tests.

A chapter (``chapters/NN_name.py``) is a percent-format script whose cells do their work at
top level, each right after the prose that explains it. Its first code cell calls
:func:`setup`, which returns a :class:`Lesson`: ``quick`` (fewer batches or epochs; every
number the text states still holds), ``out`` (where figures are saved) and ``solutions``
(whether the learner's cells are replaced by the shipped solutions). Where those come from
depends on how the chapter runs:

* **as a script** (``python chapters/01_metric_as_comparisons.py --quick``): from the command
  line, parsed with argparse; ``--help`` prints the usage and exits before any cell runs;
* **in a notebook kernel** (Jupyter, VS Code, :func:`uniloss_ref.notebooks.execute`): from the
  environment, ``UNILOSS_TUTORIAL_QUICK=1``, ``UNILOSS_TUTORIAL_OUT=DIR`` and
  ``UNILOSS_TUTORIAL_SOLUTIONS=DIR`` (full mode, no files, the learner's code, by default);
  ``python -m uniloss_ref tutorial --notebooks DIR`` writes notebooks whose first cell sets
  them;
* **through** :func:`run_chapter` (the tests): from its arguments; it returns the chapter's
  global variables, so the tests read the numbers the cells computed.

A cell the learner writes defines a function under the decorator :meth:`Lesson.yours`; with
the solutions on, the function of the same name in ``chapters/solutions/NN_name.py`` takes
its place. The check after it (:mod:`uniloss_ref.exercises`) says whether it is right.
:meth:`Lesson.show` saves a figure and, in a notebook, displays it under its cell.
:mod:`uniloss_ref.notebooks` turns chapters into notebooks and static HTML (the ``tutorial``
extra): ``python -m uniloss_ref tutorial --notebooks DIR`` or ``--html DIR``.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import runpy
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .experiments import outputs

QUICK_ENV = "UNILOSS_TUTORIAL_QUICK"
OUT_ENV = "UNILOSS_TUTORIAL_OUT"
SOLUTIONS_ENV = "UNILOSS_TUTORIAL_SOLUTIONS"

_ACTIVE: ContextVar[Lesson | None] = ContextVar("uniloss_ref_tutorial_lesson", default=None)


class ChapterError(RuntimeError):
    """A chapter's cell raised while it ran as a notebook."""


class CheckFailed(Exception):
    """A learner's code does not do what its check asks; the message says where, with a hint.

    In Jupyter it shows as its message alone, without a traceback; run as a script, the
    chapter ends with the message and exit status 1.
    """

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead
        return str(self).splitlines()


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
    solutions : Path or None
        The chapter's solutions file (``chapters/solutions/NN_name.py``) when the learner's
        cells are to be replaced by the shipped solutions; None runs the learner's code.
    script : bool
        Whether the chapter runs as a script: then a figure that cannot be saved ends it
        with one line and exit status 2 instead of a traceback.
    """

    quick: bool
    out: Path | None
    options: Mapping[str, Any] = field(default_factory=dict)
    solutions: Path | None = None
    script: bool = False

    def yours(self, function: Callable) -> Callable:
        """Mark ``function`` as the learner's: returned as it is, or, with the solutions on,
        replaced by the shipped solution of the same name.

        Raises
        ------
        LookupError
            If the solutions file has no function of that name.
        """
        if self.solutions is None:
            return function
        solution = _solutions(self.solutions).get(function.__name__)
        if not callable(solution):
            raise LookupError(f"{self.solutions} has no solution named {function.__name__!r}")
        return solution

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
    ValueError
        If the solutions were asked for and the chapter has no solutions file.
    """
    defaults = dict(options or {})
    given = _ACTIVE.get()
    if given is not None:
        unknown = set(given.options) - set(defaults)
        if unknown:
            raise TypeError(
                f"chapter {chapter} has no option {sorted(unknown)}; it has {sorted(defaults)}"
            )
        # run_chapter passes the solutions' folder; the lesson holds the chapter's file.
        solutions = None if given.solutions is None else solutions_file(given.solutions, chapter)
        options = MappingProxyType({**defaults, **given.options})
        return Lesson(given.quick, given.out, options, solutions)
    if name == "__main__" and not in_kernel():
        return _from_command_line(chapter, title, defaults)
    out, solutions = os.environ.get(OUT_ENV), os.environ.get(SOLUTIONS_ENV)
    return Lesson(
        quick=os.environ.get(QUICK_ENV, "") not in ("", "0"),
        out=Path(out) if out else None,
        options=MappingProxyType(defaults),
        solutions=solutions_file(Path(solutions), chapter) if solutions else None,
    )


def solutions_file(folder: Path, chapter: str) -> Path | None:
    """The solutions of chapter ``chapter`` (``"04"``) in ``folder``: ``folder/04_*.py``, or
    None when the chapter has none (no cell of it is the learner's).

    Raises
    ------
    ValueError
        If there are several such files.
    """
    found = sorted(Path(folder).glob(f"{chapter}_*.py"))
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise ValueError(f"expected one solutions file {chapter}_*.py in {folder}, found {names}")
    return found[0] if found else None


@functools.cache
def _solutions(path: Path) -> dict[str, Any]:
    return runpy.run_path(str(path), run_name="solutions")


def _one_line_for_failed_checks(kind: type, error: BaseException, trace: Any) -> None:
    """``sys.excepthook`` of a chapter run as a script: a failed check is its message."""
    if isinstance(error, CheckFailed):
        print(error, file=sys.stderr)
    else:
        sys.__excepthook__(kind, error, trace)


def _from_command_line(chapter: str, title: str, defaults: dict[str, Any]) -> Lesson:
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument(
        "--quick", action="store_true", help="fewer batches or epochs (the stated numbers hold)"
    )
    out = f"out/chapters/{chapter}"
    parser.add_argument("--out", default=out, metavar="DIR", help=f"figures (default: {out})")
    parser.add_argument(
        "--solutions",
        action="store_true",
        help="run the shipped solutions (chapters/solutions/) in place of the cells marked yours",
    )
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
    solutions = None
    if args.pop("solutions"):
        try:
            solutions = solutions_file(Path(sys.argv[0]).resolve().parent / "solutions", chapter)
        except ValueError as err:
            parser.exit(2, f"{parser.prog}: error: --solutions: {err}\n")
    sys.excepthook = _one_line_for_failed_checks
    return Lesson(
        quick=args.pop("quick"),
        out=out,
        options=MappingProxyType(args),
        solutions=solutions,
        script=True,
    )


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


def run_chapter(
    path: str | os.PathLike,
    *,
    quick: bool = True,
    out_dir: str | os.PathLike,
    solutions: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Run a chapter top to bottom, as the script does, and return its global variables.

    Parameters
    ----------
    path : str or PathLike
        The chapter's ``.py`` file.
    quick : bool, default True
    out_dir : str or PathLike
        Folder for its figures.
    solutions : bool, default False
        Replace the learner's cells by the solutions in ``solutions/`` beside the chapter.
    **options
        The chapter's own options (see :func:`setup`).

    Returns
    -------
    dict
        The chapter's namespace after its last cell: every number its cells computed.
    """
    folder = Path(path).resolve().parent / "solutions" if solutions else None
    token = _ACTIVE.set(Lesson(bool(quick), Path(out_dir), options, folder))
    try:
        return runpy.run_path(str(path), run_name="__chapter__")
    finally:
        _ACTIVE.reset(token)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    outputs.write_atomically(path, lambda file: file.write(data))


# ---------------------------------------------------------------------------------------
# Command line: python -m uniloss_ref tutorial --notebooks DIR | --html DIR
# ---------------------------------------------------------------------------------------

_CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
"""The chapters of a clone (the package installed from it with ``pip install -e``)."""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``tutorial`` command to the command line."""
    parser = commands.add_parser(
        "tutorial",
        help="the chapters as notebooks to work through in Jupyter, or as static HTML",
        description=(
            "--notebooks DIR writes every chapter as a notebook to open in Jupyter, its first "
            "cell setting quick mode and one BLAS thread. --html DIR executes every chapter "
            "and writes it as static HTML with its code, outputs and figures inline. Needs "
            "the tutorial extra: pip install -e '.[tutorial]'."
        ),
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--notebooks", metavar="DIR", help="write the chapters as .ipynb here")
    what.add_argument("--html", metavar="DIR", help="execute the chapters; HTML pages here")
    parser.add_argument(
        "--quick", action="store_true", help="with --html: run the chapters in quick mode"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="with --notebooks: replace notebooks in DIR"
    )
    parser.add_argument(
        "--chapters",
        default=str(_CHAPTERS) if _CHAPTERS.is_dir() else "chapters",
        metavar="DIR",
        help="the chapters (default: the clone's chapters/)",
    )
    parser.add_argument("--only", nargs="+", metavar="NN", help="chapter numbers (default: all)")
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
    if args.notebooks is not None and args.quick:
        return fail("--quick is for --html; notebooks start in quick mode (their first cell)")
    try:
        import jupytext  # noqa: F401
        import nbclient  # noqa: F401
        import nbconvert  # noqa: F401
    except ImportError as err:
        extra = "pip install -e '.[tutorial]'"
        return fail(f"{err.name} is missing; install the tutorial extra: {extra}")
    from . import notebooks

    if args.notebooks is not None:
        try:
            written = notebooks.write_notebooks(chapters, args.notebooks, overwrite=args.overwrite)
        except FileExistsError as err:
            return fail(str(err))
        except OSError as err:
            return fail(f"cannot write {args.notebooks}: {err.strerror or err}")
        print(
            f"{len(written)} notebooks in {args.notebooks}, each starting in quick mode; "
            f"open them with: jupyter lab {args.notebooks}"
        )
        return 0
    try:
        pages = notebooks.build_html(chapters, args.html, quick=args.quick)
    except ChapterError as err:
        return fail(str(err))
    print(f"{len(pages) - 1} chapters: {pages[-1]}")
    return 0
