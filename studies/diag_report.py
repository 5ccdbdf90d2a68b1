"""Tables of the mechanisms recorded by ``diag=True`` runs (``studies/logs/PLAN.jsonl``).

    PYTHONPATH=. python -m studies.diag_report diag

1. Gradient norm (all parameters) by the number of positives in the batch.
2. Per epoch: sd of the raw network output on validation images, the share of saturated
   relaxed binaries (|b~| > 0.99) among right and among wrong comparisons, validation AP.
3. The pull of each anchor kind on the ascent direction of h~ in b~ (projection shares, see
   ``adapter.pull_shares``), the cosine of that direction with the way to the ground truth,
   and the largest normalised IDW weight (1/K when all anchors are equally far), by epoch
   thirds.
"""

from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np

from studies.summarise import records


def main(names):
    for r in records(names):
        print(f"\n### {r['tag']} (seed {r['config']['seed']}), final val AP {100 * r['val']:.2f}\n")
        steps = r["diag_steps"]
        by = defaultdict(list)
        for s in steps:
            by[min(s["n_pos"], 4)].append(s["grad_norm"])
        total = len(steps)
        print("| positives in batch | share of batches | mean grad norm | sd |")
        print("| ---: | ---: | ---: | ---: |")
        for k in sorted(by):
            v = np.array(by[k])
            print(f"| {k if k < 4 else '4+'} | {len(v) / total:.3f} | {v.mean():.4g} | "
                  f"{v.std():.3g} |")
        print()
        print("| epoch | raw output sd | max raw | sat. right | sat. wrong | val AP |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for e, h in zip(r["diag_epochs"], r["history"], strict=True):
            print(f"| {e['epoch']} | {e['raw_score_sd']:.3g} | {e['raw_score_absmax']:.3g} | "
                  f"{e['sat_share_right']:.3f} | {e['sat_share_wrong']:.3f} | "
                  f"{100 * h['val']:.1f} |")
        ins = [s for s in steps if "max_kind" in s]
        if not ins:
            continue
        kinds = sorted({k[6:] for s in ins for k in s if k.startswith("share_")})
        print()
        print("| epochs | " + " | ".join(f"share {k}" for k in kinds)
              + " | cos to truth | max weight | nearest is current | b~ on an anchor |")
        print("| --- |" + " ---: |" * (len(kinds) + 4))
        E = r["config"]["epochs"]
        for lo, hi in ((1, E // 3), (E // 3 + 1, 2 * E // 3), (2 * E // 3 + 1, E)):
            part = [s for s in ins if lo <= s["epoch"] <= hi]
            if not part:
                continue
            live = [s for s in part if "cos_truth" in s]
            shares = [np.mean([s.get(f"share_{k}", 0.0) for s in live]) for k in kinds]
            cur = np.mean([s["max_kind"] == "current" for s in part])
            print(f"| {lo}-{hi} | " + " | ".join(f"{x:.3f}" for x in shares)
                  + f" | {np.mean([s['cos_truth'] for s in live]):.3f} | "
                  f"{np.mean([s['max_weight'] for s in part]):.3f} | {cur:.2f} | "
                  f"{np.mean([s.get('on_anchor', 0.0) for s in part]):.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
