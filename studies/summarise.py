"""Tables from ``studies/logs/*.jsonl``: validation (or test) metric per tag over seeds.

Usage::

    PYTHONPATH=. python -m studies.summarise PLAN [PLAN ...] [--curves] [--test] [--rerun]

``--rerun`` reads the re-runs of ``studies/queue.py`` (``logs/rerun/``) instead of the
original runs. Both kinds of record hold ``tag``, ``val``, ``history`` (``val`` per epoch)
and ``config`` (with ``seed``); folds are ``config["fold"]`` in the original records and
``protocol["fold"]`` in the re-runs.

Columns: final validation metric in points (mean ± sample sd over seeds, min), the mean
"swing" (mean absolute change of validation AP between consecutive epochs before the
learning-rate drop, in points: how unstable training is) and the worst epoch-to-epoch drop.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

LOGS = Path(__file__).parent / "logs"


def records(names, rerun=False):
    out = []
    for name in names:
        path = (LOGS / "rerun" if rerun else LOGS) / f"{name}.jsonl"
        for line in path.read_text().splitlines():
            out.append(json.loads(line))
    return out


def fold(record):
    return record.get("protocol", record["config"]).get("fold")


def swing(history, drop):
    vals = [h["val"] for h in history]
    n = len(vals) if drop is None else max(2, round(drop * len(vals)))
    d = np.diff(vals[:n])
    return (float(np.mean(np.abs(d))) if d.size else 0.0, float(-d.min()) if d.size else 0.0)


def table(recs, field="val", curves=False):
    groups = defaultdict(list)
    for r in recs:
        groups[r["tag"]].append(r)
    lines = [f"| setting | {field} mean ± sd | min | runs | swing | worst drop | s/run |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for tag, rs in groups.items():
        v = 100 * np.array([r[field] for r in rs if field in r])
        if not v.size:
            continue
        sw = np.array([swing(r["history"], r["config"].get("drop", 0.75)) for r in rs]) * 100
        sec = np.mean([r["seconds"] for r in rs])
        sd = v.std(ddof=1) if v.size > 1 else 0.0
        lines.append(f"| {tag} | {v.mean():.2f} ± {sd:.2f} | {v.min():.2f} | {v.size} | "
                     f"{sw[:, 0].mean():.2f} | {sw[:, 1].max():.2f} | {sec:.0f} |")
        if curves:
            for r in rs:
                curve = " ".join(f"{100 * h['val']:.1f}" for h in r["history"])
                lines.append(f"|   seed {r['config']['seed']}: {curve} |")
    return "\n".join(lines)


def paired(recs, a, b, field="val"):
    """Mean ± sd of (a - b) in points, paired by seed (and fold, for cross-validation)."""
    by = defaultdict(dict)
    for r in recs:
        by[r["tag"]][(r["config"]["seed"], fold(r))] = r[field]
    seeds = sorted(set(by[a]) & set(by[b]))
    d = 100 * np.array([by[a][s] - by[b][s] for s in seeds])
    return d.mean(), d.std(ddof=1) if d.size > 1 else 0.0, len(seeds), int((d < 0).sum())


def paired_table(recs, ref, field="val"):
    """Every tag minus ``ref``, paired by seed (same data, initialisation and batches)."""
    tags = list(dict.fromkeys(r["tag"] for r in recs))
    lines = [f"| setting | minus {ref!r} (points) | pairs | pairs below |",
             "| --- | ---: | ---: | ---: |"]
    for t in tags:
        if t != ref:
            m, sd, n, below = paired(recs, t, ref, field)
            lines.append(f"| {t} | {m:+.2f} ± {sd:.2f} | {n} | {below} |")
    return "\n".join(lines)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    field = "test" if "--test" in sys.argv else "val"
    refs = [a[6:] for a in sys.argv[1:] if a.startswith("--ref=")]
    recs = records(args, rerun="--rerun" in sys.argv)
    print(table(recs, field, curves="--curves" in sys.argv))
    for ref in refs:
        print()
        print(paired_table(recs, ref, field))
