"""Chapter 4's solutions: every cell marked yours, written out.

Read it after your own attempt. ``python chapters/04_build_it_yourself.py --solutions`` runs
the chapter with these in place of your cells, and so do the tests.
"""

import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

# ----- 1. The metric: pairs (i, j), rows and h -----


def ranking_pairs(labels):
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    return np.repeat(pos, neg.size), np.tile(neg, pos.size), np.arange(pos.size + 1) * neg.size


def roc_auc(shape, labels):
    i, j, rows = ranking_pairs(labels)
    return i, j, rows, lambda b: (b > 0).mean(axis=1) if b.shape[1] else np.ones(len(b))


def average_precision(shape, labels, interpolated=False, unrealisable="zero"):
    i, j, rows = ranking_pairs(labels)
    P, N = len(rows) - 1, int((labels == 0).sum())

    def h(b):
        if P == 0 or N == 0:
            return np.ones(len(b))
        above = (b <= 0).reshape(len(b), P, N)  # negative q is ranked above positive p
        counts = above.sum(axis=2)
        k = np.arange(1, P + 1)
        precision = k / (k + np.sort(counts, axis=1))
        if interpolated:  # each precision replaced by the largest at or after it
            precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        ap = precision.mean(axis=1)
        if unrealisable == "zero":  # a ranking exists iff the "above" sets are nested
            order = np.argsort(counts, axis=1, kind="stable")[:, :, None]
            chain = np.take_along_axis(above, order, axis=1)
            ap[~(chain[:, :-1] <= chain[:, 1:]).all(axis=(1, 2))] = 0.0
        return ap

    return i, j, rows, h


def accuracy(shape, targets, top_k=1):
    n, classes = shape
    flat = np.arange(n * classes).reshape(n, classes)
    others = np.arange(classes)[None, :] != targets[:, None]
    i, j = np.repeat(flat[np.arange(n), targets], classes - 1), flat[others]
    h = lambda b: ((b <= 0).reshape(len(b), n, classes - 1).sum(axis=2) < top_k).mean(axis=1)
    return i, j, np.arange(n + 1) * (classes - 1), h


def pck(shape, targets, threshold=0.5):
    _, _, height, width = shape
    x, y = targets["xy"][..., 0], targets["xy"][..., 1]
    inside = (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
    counted = (targets["visible"] & inside).ravel()  # joints, sample-major
    yy, xx = np.divmod(np.arange(height * width), width)
    radius = threshold * targets["scale"][:, None, None]
    near = ((xx - x[..., None]) ** 2 + (yy - y[..., None]) ** 2 <= radius**2).reshape(-1, xx.size)
    i, j, blocks, rows, always = [], [], [], [0], 0
    for joint in np.flatnonzero(counted):
        pos, neg = np.flatnonzero(near[joint]), np.flatnonzero(~near[joint])
        if pos.size and neg.size:
            i.append(joint * xx.size + np.repeat(pos, neg.size))
            j.append(joint * xx.size + np.tile(neg, pos.size))
            blocks.append((pos.size, neg.size))
            rows += list(rows[-1] + neg.size * np.arange(1, pos.size + 1))
        else:  # no negative pixel: always correct; no positive pixel: never
            always += int(pos.size > 0)

    def h(b):
        if not counted.any():
            return np.ones(len(b))
        correct, start = np.full(len(b), float(always)), 0
        for p, q in blocks:
            correct += (b[:, start : start + p * q] > 0).reshape(len(b), p, q).all(2).any(1)
            start += p * q
        return correct / counted.sum()

    empty = np.zeros(0, dtype=int)
    return np.concatenate([empty, *i]), np.concatenate([empty, *j]), np.array(rows), h


# ----- 2. Standardised scores -----


def standardised(s):
    top = np.max(np.abs(getval(s)))
    if not top > 0:
        return s
    unit = s / top  # no square overflows; the constant cancels
    sd = anp.sqrt(anp.mean((unit - anp.mean(unit)) ** 2))
    return unit / sd if getval(sd) * top >= np.finfo(float).tiny else s


# ----- 3. The relaxation -----


def relaxed_binary(c, temperature):
    return np.tanh(c / (2.0 * temperature))


def relaxed_binary_slope(b, temperature):
    return (1.0 - b**2) / (2.0 * temperature)


relax = primitive(relaxed_binary)
defvjp(relax, lambda b, c, temperature: lambda g: g * relaxed_binary_slope(b, temperature))


# ----- 4. The anchors -----


def draw_anchors(c, row_starts, rng, truth=1, good=16, nearby=16, bad=16, current=0, row=0):
    if c.size == 0:  # no comparisons: every anchor is empty
        return np.zeros((truth + good + nearby + bad + current + row, 0))
    goal, now = np.ones(c.size), np.where(c > 0, 1.0, -1.0)
    wrong = np.flatnonzero(now < 0)

    def flip(base, m):
        a = base.copy()
        a[m] = -a[m]
        return a

    anchors = [goal] * truth + [flip(goal, rng.integers(c.size)) for _ in range(good)]
    anchors += [flip(now, rng.choice(wrong)) if wrong.size else flip(goal, rng.integers(c.size))
                for _ in range(nearby)]  # fmt: skip
    anchors += list(rng.choice([-1.0, 1.0], size=(bad, c.size))) + [now] * current
    for r in rng.integers(len(row_starts) - 1, size=row):
        anchors.append(now.copy())
        anchors[-1][row_starts[r] : row_starts[r + 1]] = 1.0
    return np.array(anchors)


# ----- 5. to 8. Distances, weights, interpolation, the loss -----


def squared_distances(b, anchors):
    plus = (anchors > 0).astype(float)
    return anp.dot(plus, (1.0 - b) ** 2) + anp.dot(1.0 - plus, (1.0 + b) ** 2)


def weights(d2, power):
    hit = np.flatnonzero(getval(d2) == 0)
    if hit.size:  # on an anchor: all the weight to the first one hit, and no slope
        return 1.0 * (np.arange(len(getval(d2))) == hit[0]) + 0.0 * d2
    log_w = -0.5 * power * anp.log(d2)
    return anp.exp(log_w - np.max(getval(log_w)))


def interpolate(b, anchors, values, power=1.0):
    w = weights(squared_distances(b, anchors), power)
    return anp.dot(w, values) / anp.sum(w)


def loss(scores, metric, anchors, temperature=1.0, power=1.0, standardise=False):
    i, j, _, h = metric
    z = anp.reshape(standardised(scores) if standardise else scores, -1)
    b = relax(z[i] - z[j], temperature)
    return 1.0 - interpolate(b, anchors, h(anchors), power)
