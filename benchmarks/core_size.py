"""What ``from uniloss_ref import UniLoss`` loads: the modules of the method, and their lines.

Run: ``python benchmarks/core_size.py``

Lists the ``uniloss_ref`` modules in ``sys.modules`` after ``from uniloss_ref import UniLoss``
and ``import uniloss_ref.metrics`` in a fresh interpreter, with the lines of each file. The
device layer (``uniloss_ref.device``), the experiment harness (``uniloss_ref.experiments``)
and the authors' gradient are not among them: they load when asked for.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json, sys
from uniloss_ref import UniLoss
import uniloss_ref.metrics
print(json.dumps({name: module.__file__ for name, module in sys.modules.items()
                  if name.startswith("uniloss_ref") and getattr(module, "__file__", None)}))
"""


def loaded() -> dict[str, str]:
    """The ``uniloss_ref`` modules a fresh ``from uniloss_ref import UniLoss`` loads."""
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def is_metric(name: str) -> bool:
    """A module defining one metric (the refactoring itself is part of the method)."""
    return name.startswith("uniloss_ref.metrics.") and name != "uniloss_ref.metrics.refactoring"


def main() -> None:
    modules = loaded()
    totals = {"method": 0, "metrics": 0}
    for name, path in sorted(modules.items()):
        with open(path, encoding="utf-8") as file:
            lines = sum(1 for _ in file)
        totals["metrics" if is_metric(name) else "method"] += lines
        print(f"{lines:6d}  {name}")
    print(f"{sum(totals.values()):6d}  lines in {len(modules)} modules: {totals['method']} of the "
          f"method, {totals['metrics']} defining the metrics")


if __name__ == "__main__":
    main()
