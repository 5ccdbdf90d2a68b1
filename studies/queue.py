"""Run a plan of training runs one after another, appending one JSON line per run.

Usage (from the worktree root)::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. nohup python -m studies.queue PLAN \\
        > studies/logs/PLAN.log 2>&1 &

``PLAN`` names a function in ``studies/plans.py`` returning ``[(tag, config), ...]``. Results
go to ``studies/logs/PLAN.jsonl``; a run whose (tag, config) is already there is skipped, so
a plan can be extended and re-run. Runs are sequential: one training process at a time.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from studies import plans
from studies.loop import run

LOGS = Path(__file__).parent / "logs"


def key(tag: str, cfg: dict) -> str:
    return tag + " " + json.dumps(cfg, sort_keys=True)


def main(name: str) -> None:
    todo = getattr(plans, name)()
    out = LOGS / f"{name}.jsonl"
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done.add(key(r["tag"], r["requested"]))
    started = time.perf_counter()
    for i, (tag, cfg) in enumerate(todo, 1):
        if key(tag, cfg) in done:
            continue
        print(f"[{i}/{len(todo)}] {tag} {json.dumps(cfg)}", flush=True)
        rec = run(cfg, log=sys.stdout)
        rec["tag"], rec["requested"] = tag, cfg
        _append_line(out, json.dumps(rec))
        print(f"  -> val {rec['val']:.4f} {rec.get('test', '')} ({rec['seconds']:.0f}s, "
              f"{time.perf_counter() - started:.0f}s total)", flush=True)


def _append_line(path: Path, line: str) -> None:
    """Add a line to ``path`` atomically: the whole file is rewritten to a temporary file
    and renamed over it, so an interrupted run never leaves half a JSON line."""
    old = path.read_text() if path.exists() else ""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(old + line + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    main(sys.argv[1])
