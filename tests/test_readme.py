"""The README's claims: its example runs, and its commands are the ones CI and users run."""

import contextlib
import io
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_usage_example_runs_and_prints_a_loss_in_range():
    (example,) = code_blocks("python")
    assert len(example.strip().splitlines()) <= 12
    out = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README.md", "exec"), namespace)
    value, shape = out.getvalue().split(" ", 1)
    assert 0.0 <= float(value) <= 1.0
    assert shape.strip() == "(6,)"
    assert np.isfinite(namespace["gradient"]).all()


TUTORIAL = [
    'pip install -e ".[tutorial]"',
    "python -m uniloss_ref tutorial --notebooks notebooks && jupyter lab notebooks",
]


def commands(block: str) -> list[str]:
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_both_readmes_start_with_the_two_commands_into_jupyter():
    chapters = (ROOT / "chapters" / "README.md").read_text(encoding="utf-8")
    for text in (README, chapters):
        first = re.search(r"```bash\n(.*?)```", text, flags=re.DOTALL)
        assert commands(first.group(1)) == TUTORIAL
        assert text.index("```bash") == text.index("```")  # the first code in the file
    extras = (ROOT / "pyproject.toml").read_text(encoding="utf-8").split("tutorial = [")[1]
    assert '"jupyterlab>=4"' in extras.split("]")[0]  # the front end the second line opens


def test_quick_start_is_two_commands_and_ci_runs_the_readme_test_command():
    quick_start = README.split("## Quick start")[1]
    quick_start = re.search(r"```bash\n(.*?)```", quick_start, flags=re.DOTALL).group(1)
    commands = [line.split("#")[0].strip() for line in quick_start.strip().splitlines()]
    assert len(commands) == 2
    test_command = commands[1]
    assert test_command == 'pip install -e ".[test]" && python -m pytest'
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()
