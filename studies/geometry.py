"""Where does the UniLoss AP gradient point, as scores grow? (no training; seconds)

For random batches of 16 (P positives, the rest negatives) with scores drawn so that the
batch AP is mediocre (positives N(0.5, 1), negatives N(0, 1)), times a scale factor alpha
(the network's score growth), this measures the gradient of h~ in the scores:

* ``wrong_sign``: share of samples pushed the wrong way (a positive pushed down or a
  negative pushed up; ascent on h~);
* ``hard_pos_share``: share of the total |gradient| on positives that goes to the lowest
  ranked positive (the one AP most wants moved);
* ``norm``: gradient norm in the scores;
* ``cos_ideal``: cosine with the "ideal" direction (+1 on positives, -1 on negatives,
  centred);
* ``w_max``: the largest normalised IDW weight (1/K when all anchors are equally far).

    PYTHONPATH=. python -m studies.geometry                 # raw and sigmoid scores
    PYTHONPATH=. python -m studies.geometry --standardised  # batch-standardised, tau 3
"""

from __future__ import annotations

import autograd
import numpy as np

from uniloss_ref import AnchorSampler, UniLoss
from uniloss_ref.experiments.nn.losses import sigmoid as _sigmoid
from uniloss_ref.metrics import AveragePrecision


def make_uniloss(rng, temperature=1.0, anchors=None, nearby="random"):
    """The study's UniLoss for AP: the paper's anchors, updated by ``anchors``."""
    counts = {"truth": 1, "good": 16, "nearby": 16, "bad": 16, "current": 0, "row": 0}
    sampler = AnchorSampler(**{**counts, **(anchors or {})}, nearby_rule=nearby)
    return UniLoss(AveragePrecision(), temperature=temperature, sampler=sampler, seed=rng)


def measure(P, alpha, bound, trials=300, **kw):
    rng = np.random.default_rng(0)
    loss = make_uniloss(np.random.default_rng(1), **kw)
    rows = []
    for _ in range(trials):
        y = np.zeros(16, dtype=int)
        y[:P] = 1
        z = alpha * (rng.normal(size=16) + 0.5 * y)
        if bound == "standardise":
            def f(z, y=y):
                return loss(z / np.sqrt(np.var(z)), y)
        elif bound:
            def f(z, y=y):
                return loss(_sigmoid(z), y)
        else:
            def f(z, y=y):
                return loss(z, y)
        g = -autograd.grad(f)(z)  # ascent direction of h~ in the raw output z
        sgn = np.where(y == 1, 1.0, -1.0)
        wrong = float(np.mean(g * sgn < -1e-15))
        lowest = np.flatnonzero(y)[np.argmin(z[y == 1])]
        pos_abs = np.abs(g[y == 1]).sum()
        ideal = sgn - sgn.mean()
        n = np.linalg.norm(g)
        shown = {"standardise": z / np.std(z), True: _sigmoid(z), False: z}[bound]
        ev = loss.inspect(shown, y)
        rows.append((wrong, abs(g[lowest]) / pos_abs if pos_abs else np.nan, n,
                     g @ ideal / (n * np.linalg.norm(ideal)) if n else np.nan, ev.weights.max()))
    return np.nanmean(np.array(rows), axis=0)


if __name__ == "__main__":
    import sys

    if "--standardised" in sys.argv:  # batch-standardised scores, tau 3, P = 2
        for alpha in (0.3, 1, 3, 10, 30):
            r = measure(2, alpha, "standardise", temperature=3.0, anchors={"current": 0},
                        nearby="margin")
            print(f"| standardised, tau 3 | 2 | current=0, margin | {alpha} | "
                  + " | ".join(f"{x:.3g}" for x in r) + " |", flush=True)
        sys.exit()
    print("| scores | P | anchors | alpha | wrong_sign | hard_pos_share | norm | cos_ideal "
          "| w_max |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for bound in (False, True):
        for P in (1, 2, 4):
            for cur in (1, 0):
                for alpha in (0.3, 1, 3, 10, 30):
                    r = measure(P, alpha, bound, anchors={"current": cur})
                    print(f"| {'sigmoid' if bound else 'raw'} | {P} | current={cur} | {alpha} | "
                          + " | ".join(f"{x:.3g}" for x in r) + " |", flush=True)
