"""Synthetic keypoint data: stick figures with known joints, generated in code.

Each image shows one stick figure in a random pose, size, position and in-plane
rotation, facing the viewer or facing away (a mirror image), under additive
Gaussian noise. The task is the paper's keypoint task in miniature: predict one
heatmap per joint, scored by PCK.

Appearance, chosen so that a small fully-convolutional network can tell every
joint from its neighbourhood:

* the figure's left side is drawn at intensity 1.0, its right side at 0.45 and
  the centre line (head, neck, torso, pelvis) at 0.7 (:data:`SIDE_INTENSITY`);
  because a figure may face away, brightness is the only cue to its left and right;
* legs are thicker than arms, feet are short strokes at the ankles, the head is a
  filled disc;
* every joint is a filled disc of radius :data:`JOINT_RADIUS` pixels, so the pixel
  nearest to a joint is drawn at its side's full intensity.

Coordinates are ``(x, y)`` in pixels with pixel centres at integers: ``x`` is the
column index and ``y`` the row index, so the pixel nearest to a keypoint is
``image[floor(y + 0.5), floor(x + 0.5)]``. A joint is visible iff that pixel lies
in the image; joints outside the frame keep their true coordinates.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from uniloss_ref.experiments.data.splits import Dataset, Seed, as_generator, check_int, float_dtype
from uniloss_ref.metrics.pck import KeypointTargets

JOINT_NAMES = (
    "head",
    "neck",
    "pelvis",
    "left_elbow",
    "left_wrist",
    "right_elbow",
    "right_wrist",
    "left_knee",
    "left_ankle",
    "right_knee",
    "right_ankle",
)
"""Names of the joints, in the order of the keypoint axis."""

SKELETON = ((0, 1), (1, 2), (1, 3), (3, 4), (1, 5), (5, 6), (2, 7), (7, 8), (2, 9), (9, 10))
"""Pairs of joint indices to connect when plotting a figure."""

SIDE_INTENSITY = {"left": 1.0, "centre": 0.7, "right": 0.45}
"""Drawing intensity of each side of the figure (before noise)."""

JOINT_RADIUS = 1.3
"""Radius in pixels of the disc drawn at every joint but the head."""

# Body proportions in units of the torso (neck to pelvis). The head is a disc of
# radius _HEAD_RADIUS centred _HEAD_OFFSET above the neck.
_HEAD_OFFSET, _HEAD_RADIUS = 0.5, 0.3
_SHOULDER, _UPPER_ARM, _FOREARM = 0.3, 0.55, 0.5
_HIP, _THIGH, _SHIN, _FOOT = 0.2, 0.65, 0.6, 0.25

# The body point placed at the drawn centre: midway between the top of the head
# (about 1.8 above the pelvis) and the feet (about 1.25 below), in a resting pose.
_ANCHOR = np.array([0.0, -0.3])

# Half-widths of strokes, in pixels.
_TORSO_WIDTH, _ARM_WIDTH, _LEG_WIDTH, _GIRDLE_WIDTH = 0.8, 0.5, 0.85, 0.6

# Anti-aliasing: a pixel's coverage falls from 1 to 0 as its centre moves from _EDGE inside a
# stroke's edge to _EDGE outside it, i.e. coverage = clip(radius + _EDGE - distance, 0, 1).
_EDGE = 0.5

# Bounds the temporary (n, primitives, pixels) arrays of the renderer.
_RENDER_CHUNK = 64


def _direction(angle: np.ndarray) -> np.ndarray:
    """Unit vectors at ``angle`` radians from straight down, turning toward +x."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)


def _sample_body(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Body points of ``n`` random poses, each of shape (n, 2), in torso units.

    The body frame has the pelvis at the origin, the neck at (0, -1) (y points down,
    as in images) and the figure's left side toward +x.
    """

    def length(nominal: float) -> np.ndarray:
        return nominal * rng.uniform(0.9, 1.1, size=(n, 1))

    pelvis = np.zeros((n, 2))
    neck = np.tile([0.0, -1.0], (n, 1))
    points = {"pelvis": pelvis, "neck": neck}
    points["head"] = neck + length(_HEAD_OFFSET) * _direction(
        np.pi + rng.uniform(-0.35, 0.35, size=n)
    )
    for side, outward in (("left", 1.0), ("right", -1.0)):
        mirror = np.array([outward, 1.0])
        shoulder = neck + mirror * np.array([_SHOULDER, 0.1])
        upper_arm = rng.uniform(-0.3, 2.6, size=n)
        forearm = upper_arm + rng.uniform(-2.0, 2.0, size=n)
        elbow = shoulder + mirror * length(_UPPER_ARM) * _direction(upper_arm)
        wrist = elbow + mirror * length(_FOREARM) * _direction(forearm)
        hip = pelvis + mirror * np.array([_HIP, 0.0])
        thigh = rng.uniform(-0.25, 0.9, size=n)
        shin = thigh + rng.uniform(-1.2, 0.4, size=n)
        knee = hip + mirror * length(_THIGH) * _direction(thigh)
        ankle = knee + mirror * length(_SHIN) * _direction(shin)
        toe = ankle + mirror * length(_FOOT) * _direction(shin + np.pi / 2)
        points |= {
            f"{side}_shoulder": shoulder,
            f"{side}_elbow": elbow,
            f"{side}_wrist": wrist,
            f"{side}_hip": hip,
            f"{side}_knee": knee,
            f"{side}_ankle": ankle,
            f"{side}_toe": toe,
        }
    return points


def _primitives() -> list[tuple[str, str, str, float | None]]:
    """Strokes as (start point, end point, side, half-width in pixels).

    A stroke whose ends coincide is a disc; half-width ``None`` is the head's radius,
    which scales with the figure.
    """
    strokes = [
        ("neck", "pelvis", "centre", _TORSO_WIDTH),
        ("neck", "head", "centre", _ARM_WIDTH),
        ("head", "head", "centre", None),
        ("neck", "neck", "centre", JOINT_RADIUS),
        ("pelvis", "pelvis", "centre", JOINT_RADIUS),
    ]
    for side in ("left", "right"):
        limbs = [
            ("neck", "shoulder", _GIRDLE_WIDTH),
            ("shoulder", "elbow", _ARM_WIDTH),
            ("elbow", "wrist", _ARM_WIDTH),
            ("pelvis", "hip", _GIRDLE_WIDTH),
            ("hip", "knee", _LEG_WIDTH),
            ("knee", "ankle", _LEG_WIDTH),
            ("ankle", "toe", _GIRDLE_WIDTH),
        ]
        for start, end, width in limbs:
            start = start if start in ("neck", "pelvis") else f"{side}_{start}"
            strokes.append((start, f"{side}_{end}", side, width))
        for joint in ("elbow", "wrist", "knee", "ankle"):
            strokes.append((f"{side}_{joint}", f"{side}_{joint}", side, JOINT_RADIUS))
    return strokes


def _render(
    start: np.ndarray, end: np.ndarray, radius: np.ndarray, intensity: np.ndarray, size: int
) -> np.ndarray:
    """Draw anti-aliased strokes, compositing by maximum.

    Parameters
    ----------
    start, end : ndarray of shape (n, S, 2)
        Stroke end points, ``(x, y)`` in pixels.
    radius : ndarray of shape (n, S)
        Half-widths in pixels.
    intensity : ndarray of shape (S,)
    size : int

    Returns
    -------
    ndarray of shape (n, size, size)
    """
    rows, cols = np.mgrid[0:size, 0:size]
    px, py = cols.ravel().astype(float), rows.ravel().astype(float)
    images = np.empty((len(start), size * size))
    for lo in range(0, len(start), _RENDER_CHUNK):
        chunk = slice(lo, lo + _RENDER_CHUNK)
        ax, ay = start[chunk, :, 0, None], start[chunk, :, 1, None]
        abx = end[chunk, :, 0, None] - ax
        aby = end[chunk, :, 1, None] - ay
        apx, apy = px - ax, py - ay
        # Discs have a zero-length axis; t = 0 then measures the distance to the centre.
        t = np.clip((apx * abx + apy * aby) / np.maximum(abx**2 + aby**2, 1e-12), 0.0, 1.0)
        distance = np.hypot(apx - t * abx, apy - t * aby)
        coverage = np.clip(radius[chunk, :, None] + _EDGE - distance, 0.0, 1.0)
        images[chunk] = np.max(coverage * intensity[:, None], axis=1)
    return images.reshape(-1, size, size)


def make_keypoints(
    n: int,
    seed: Seed,
    *,
    size: int = 32,
    noise_std: float = 0.1,
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, KeypointTargets]:
    """Generate ``n`` stick-figure images with their joint coordinates.

    Parameters
    ----------
    n : int
        Number of images.
    seed : int or numpy.random.Generator
        Source of all randomness; the same seed gives identical output.
    size : int, default 32
        Height and width of the images in pixels (at least 16).
    noise_std : float, default 0.1
        Standard deviation of the additive Gaussian pixel noise; 0 gives clean drawings.
    dtype : numpy floating dtype, default float64
        Element type of the images.

    Returns
    -------
    images : ndarray of shape (n, 1, size, size)
        Values in [0, 1] (noise is added, then clipped).
    targets : KeypointTargets
        Keypoints (n, J, 2), visibility (n, J) and torso lengths (n,).

    Notes
    -----
    A figure's torso length is ``size * U(0.2, 0.27)`` pixels; its limb angles,
    limb lengths (+-10%), rotation (+-40 degrees), facing (toward or away from the
    viewer, equally likely) and the position of the point 0.3 torso lengths above its pelvis
    (``(size - 1) / 2 + size * U(-0.18, 0.18)`` on each axis) are drawn
    independently per image. Wrists and ankles of large, shifted figures leave the
    frame at times and are marked invisible.
    """
    n = check_int("n", n, minimum=0)
    size = check_int("size", size, minimum=16)
    if isinstance(noise_std, bool) or not isinstance(noise_std, int | float | np.floating):
        raise TypeError(f"noise_std must be a float, got {type(noise_std).__name__}")
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")
    dtype = float_dtype(dtype)
    rng = as_generator(seed)

    body = _sample_body(n, rng)
    torso = size * rng.uniform(0.2, 0.27, size=n)
    angle = rng.uniform(-np.deg2rad(40), np.deg2rad(40), size=n)
    facing = rng.choice([1.0, -1.0], size=n)
    centre = (size - 1) / 2 + size * rng.uniform(-0.18, 0.18, size=(n, 2))

    cos, sin = np.cos(angle), np.sin(angle)

    def to_pixels(point: np.ndarray) -> np.ndarray:
        x, y = (point - _ANCHOR).T
        x = x * facing
        return centre + torso[:, None] * np.stack([cos * x - sin * y, sin * x + cos * y], axis=1)

    pixels = {name: to_pixels(point) for name, point in body.items()}

    strokes = _primitives()
    start = np.stack([pixels[a] for a, _, _, _ in strokes], axis=1)
    end = np.stack([pixels[b] for _, b, _, _ in strokes], axis=1)
    radius = np.stack(
        [np.full(n, w) if w is not None else _HEAD_RADIUS * torso for _, _, _, w in strokes],
        axis=1,
    )
    intensity = np.array([SIDE_INTENSITY[side] for _, _, side, _ in strokes])
    clean = _render(start, end, radius, intensity, size)
    noisy = clean + noise_std * rng.standard_normal(clean.shape)
    images = np.clip(noisy, 0.0, 1.0).astype(dtype)[:, None]

    keypoints = np.stack([pixels[name] for name in JOINT_NAMES], axis=1)
    nearest = np.floor(keypoints + 0.5)
    visible = np.all((nearest >= 0) & (nearest <= size - 1), axis=2)
    return images, KeypointTargets(keypoints, visible, torso.copy(), (size, size))


def load_keypoints(
    n_train: int = 4000,
    n_test: int = 1000,
    *,
    seed: Seed = 0,
    size: int = 32,
    noise_std: float = 0.1,
    dtype: DTypeLike = np.float64,
) -> Dataset:
    """A train/test pair of synthetic keypoint sets (see :func:`make_keypoints`).

    Parameters
    ----------
    n_train, n_test : int, default 4000 and 1000
        Number of images in each split.
    seed : int or numpy.random.Generator, default 0
        The two splits come from independent streams spawned from it, so the test
        set does not depend on ``n_train``.
    size, noise_std, dtype
        As in :func:`make_keypoints`.

    Returns
    -------
    Dataset
        ``X_*`` of shape ``(n, 1, size, size)``, ``y_*`` :class:`KeypointTargets`,
        an empty validation split and no class names.
    """
    check_int("n_train", n_train, minimum=1)
    check_int("n_test", n_test, minimum=1)
    test_rng, train_rng = as_generator(seed).spawn(2)
    options = {"size": size, "noise_std": noise_std, "dtype": dtype}
    X_test, y_test = make_keypoints(n_test, test_rng, **options)
    X_train, y_train = make_keypoints(n_train, train_rng, **options)
    return Dataset.from_train_test("keypoints", X_train, y_train, X_test, y_test)
