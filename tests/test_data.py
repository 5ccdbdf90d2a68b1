"""Data loaders: IDX files, .npz files, scikit-learn's digits, synthetic keypoints, splits."""

import gzip
import pickle
import struct
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from uniloss_ref.experiments.data import (
    DEBIAN_FASHION_MNIST_DIR,
    JOINT_NAMES,
    SKELETON,
    Dataset,
    KeypointTargets,
    as_generator,
    load_dataset,
    load_idx,
    load_npz,
    make_keypoints,
    one_vs_rest,
    read_idx,
    split_indices,
)
from uniloss_ref.experiments.data.keypoints import JOINT_RADIUS, SIDE_INTENSITY

IDX_CODES = {"u1": 0x08, "i1": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}


def write_idx(path, array, *, big_endian_dtype, gz=False):
    """Write ``array`` in the IDX format (the test's own writer, independent of the reader)."""
    dims = array.shape
    header = bytes([0, 0, IDX_CODES[big_endian_dtype], len(dims)])
    header += struct.pack(f">{len(dims)}I", *dims)
    raw = header + array.astype(big_endian_dtype).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return raw


def write_idx_dir(directory, *, n_train=5, n_test=3, side=4, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for stem, array in arrays.items():
        write_idx(directory / (stem + ".gz" if gz else stem), array, big_endian_dtype="u1", gz=gz)
    return arrays


# --------------------------------------------------------------------------- IDX


@given(
    code=st.sampled_from(sorted(IDX_CODES)),
    shape=st.lists(st.integers(0, 4), min_size=1, max_size=4).map(tuple),
    gz=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_read_idx_round_trips_every_type_plain_and_gzip(tmp_path_factory, code, shape, gz, seed):
    values = np.random.default_rng(seed).integers(-100, 100, shape).astype(np.dtype(code))
    if code == "u1":
        values = np.abs(values)
    path = tmp_path_factory.mktemp("idx") / ("a.gz" if gz else "a")
    write_idx(path, values, big_endian_dtype=code, gz=gz)
    read = read_idx(path)
    assert read.shape == shape
    assert read.dtype == np.dtype(code).newbyteorder("=")
    np.testing.assert_array_equal(read, values)


def test_read_idx_recognises_gzip_by_content_not_by_name(tmp_path):
    values = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "no-suffix", values, big_endian_dtype="u1", gz=True)
    np.testing.assert_array_equal(read_idx(tmp_path / "no-suffix"), values)


@pytest.mark.parametrize(
    "header",
    [
        b"\x08\x03\x00\x00",  # byte-swapped magic
        b"\x00\x00\x07\x01",  # unknown type code
        b"\x00\x00\x08\x00",  # no dimensions
        b"<htm",  # an HTML error page saved instead of the data
    ],
)
def test_read_idx_rejects_a_wrong_magic_number(tmp_path, header):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(header + struct.pack(">I", 2) + b"\x01\x02")
    with pytest.raises(ValueError, match=r"bad-idx1-ubyte: not an IDX file: magic number"):
        read_idx(path)


@pytest.mark.parametrize(
    ("cut", "gz", "message"),
    [
        (1, False, r"truncated: the header declares shape \(3, 4\)"),
        (5, False, r"truncated: the header declares"),
        (-3, False, r"longer than its header declares"),
        (14, False, r"truncated inside its header"),
        (21, False, r"shorter than the 4-byte IDX magic number"),
        (10, True, r"gzip stream is truncated or corrupt"),
    ],
)
def test_read_idx_rejects_truncated_or_overlong_files(tmp_path, cut, gz, message):
    path = tmp_path / "images-idx2-ubyte"
    raw = write_idx(path, np.ones((3, 4), np.uint8), big_endian_dtype="u1")
    data = raw[:-cut] if cut > 0 else raw + b"\x00" * -cut
    path.write_bytes(gzip.compress(data)[:-cut] if gz else data)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        read_idx(tmp_path / "does-not-exist")


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_scales_images_and_keeps_labels(tmp_path, gz):
    arrays = write_idx_dir(tmp_path, gz=gz)
    ds = load_idx("mnist", tmp_path)
    assert ds.X_train.shape == (5, 1, 4, 4)
    assert ds.X_test.shape == (3, 1, 4, 4)
    assert ds.X_train.dtype == np.float64
    assert len(ds.X_val) == 0
    np.testing.assert_allclose(
        ds.X_train[:, 0], arrays["train-images-idx3-ubyte"] / 255, rtol=0, atol=1e-15
    )
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.y_train.dtype == np.int64
    assert ds.class_names == tuple("0123456789")


def test_load_idx_rejects_mismatched_image_and_label_counts(tmp_path):
    write_idx_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8), big_endian_dtype="u1")
    with pytest.raises(ValueError, match=r"holds 5 images but .*train-labels-idx1-ubyte holds 4"):
        load_idx("fashion-mnist", tmp_path)


def test_load_idx_rejects_labels_out_of_range(tmp_path):
    write_idx_dir(tmp_path)
    write_idx(
        tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 10], np.uint8), big_endian_dtype="u1"
    )
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: labels range over 0\.\.10"):
        load_idx("mnist", tmp_path)


def test_missing_idx_data_says_how_to_get_it(tmp_path):
    write_idx_dir(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks t10k-images-idx3-ubyte\[\.gz\]") as info:
        load_idx("fashion-mnist", tmp_path)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert "--data-dir" in str(info.value)
    with pytest.raises(FileNotFoundError, match=r"MNIST has no default location.*--data-dir"):
        load_dataset("mnist")
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        load_dataset("fashion-mnist", tmp_path / "nowhere")


@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST_DIR.is_dir(), reason="Debian's dataset-fashion-mnist not installed"
)
def test_debian_fashion_mnist_test_split_has_the_published_shape():
    images = read_idx(DEBIAN_FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(DEBIAN_FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28)
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 1000))


# --------------------------------------------------------------------------- .npz


def test_load_npz_with_train_and_test_arrays(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    X_train = rng.integers(0, 256, (6, 5, 5), dtype=np.uint8)
    np.savez(
        path,
        X_train=X_train,
        y_train=np.array([-1, 1, 1, -1, 1, -1]),
        X_test=rng.integers(0, 256, (2, 5, 5), dtype=np.uint8),
        y_test=np.array([1.0, -1.0]),
        notes=np.array([1, 2, 3]),
    )
    ds = load_npz(path)
    assert ds.X_train.shape == (6, 1, 5, 5)
    np.testing.assert_allclose(ds.X_train[:, 0], X_train / 255, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ds.y_train, [0, 1, 1, 0, 1, 0])
    np.testing.assert_array_equal(ds.y_test, [1, 0])
    assert ds.class_names == ("-1", "1")


def test_load_npz_splits_pooled_arrays_by_seed_and_class(tmp_path):
    path = tmp_path / "pooled.npz"
    X = np.arange(100.0).reshape(50, 2)
    y = np.repeat([3, 7], 25)
    np.savez(path, X=X, y=y)
    a, b, c = (load_npz(path, seed=s, test_fraction=0.2) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.X_test, c.X_test)
    np.testing.assert_array_equal(np.bincount(a.y_test), [5, 5])
    train_rows = {tuple(r) for r in a.X_train}
    assert len(a.X_train) == 40
    assert train_rows.isdisjoint(tuple(r) for r in a.X_test)


class Tripwire:
    """Unpickling an instance records it in ``UNPICKLED``."""

    def __reduce__(self):
        return (_trip, ())


UNPICKLED = []


def _trip():
    UNPICKLED.append(True)
    return "tripped"


def test_load_npz_refuses_object_arrays_without_unpickling(tmp_path):
    path = tmp_path / "objects.npz"
    objects = np.array([Tripwire(), Tripwire()], dtype=object)
    np.savez(path, X=np.zeros((2, 3)), y=objects)
    with pytest.raises(ValueError, match=r"'y' is an object array.*never unpickles"):
        load_npz(path)
    pickled = tmp_path / "pickled.npz"
    pickled.write_bytes(pickle.dumps({"X": Tripwire()}))
    with pytest.raises(ValueError, match=r"pickled\.npz is not a readable \.npz archive"):
        load_npz(pickled)
    assert UNPICKLED == []


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X_train": np.zeros((2, 3)), "y_train": np.zeros(2)}, r"expected exactly one of"),
        ({"X": np.zeros((2, 3)), "y": [0, 1], "X_train": np.zeros((2, 3))}, r"exactly one of"),
        ({"X": np.zeros((4, 3)), "y": [0, 1, 0]}, r"y has shape \(3,\); expected \(4,\)"),
        ({"X": np.zeros(4), "y": [0, 1, 0, 1]}, r"X has shape \(4,\); expected \(n, d\)"),
        ({"X": np.zeros((4, 2)), "y": [0, 0.5, 1, 1]}, r"y has dtype float64 with non-integer"),
        ({"X": np.array([["a"], ["b"]]), "y": [0, 1]}, r"X has dtype <U1; expected a real"),
        ({"X": np.full((2, 2), np.nan), "y": [0, 1]}, r"X contains NaN"),
        ({"X": np.zeros((4, 2)), "y": [1, 1, 1, 1]}, r"single value \[1\]"),
    ],
)
def test_load_npz_rejects_malformed_files(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        load_npz(path)
    assert "bad.npz" in str(info.value)


def test_load_npz_rejects_missing_and_non_npz_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.npz does not exist.*np\.savez"):
        load_npz(tmp_path / "missing.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"single \.npy array, not a \.npz archive"):
        load_npz(tmp_path / "single.npy")


# --------------------------------------------------------------------------- digits


def test_digits_are_scaled_images_with_a_stratified_seeded_split():
    pytest.importorskip("sklearn")
    from uniloss_ref.experiments.data import load_digits

    ds = load_digits(seed=0, test_fraction=0.25)
    assert ds.X_train.shape[1:] == (1, 8, 8)
    assert len(ds.X_train) + len(ds.X_test) == 1797
    assert len(ds.X_test) == round(0.25 * 1797)
    assert ds.X_train.min() == 0.0
    assert ds.X_train.max() == 1.0
    assert ds.n_classes == 10
    share = np.bincount(ds.y_test) / np.bincount(np.concatenate([ds.y_train, ds.y_test]))
    np.testing.assert_allclose(share, 0.25, rtol=0, atol=0.01)
    again, other = load_digits(seed=0, test_fraction=0.25), load_digits(seed=1)
    np.testing.assert_array_equal(ds.X_test, again.X_test)
    assert not np.array_equal(ds.y_test[:100], other.y_test[:100])


def test_digits_without_scikit_learn_says_how_to_install_it(monkeypatch):
    from uniloss_ref.experiments.data import load_digits

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install scikit-learn"):
        load_digits()


# --------------------------------------------------------------------------- keypoints


def nearest_pixel_values(images, keypoints, visible):
    """Intensity at each visible keypoint's nearest pixel; shapes (n, 1, H, W), (n, J, 2)."""
    samples, joints = np.nonzero(visible)
    cols, rows = np.floor(keypoints[samples, joints] + 0.5).astype(int).T
    return images[samples, 0, rows, cols], joints


def test_keypoints_are_deterministic_given_a_seed():
    a_images, a = make_keypoints(20, 7)
    b_images, b = make_keypoints(20, np.random.default_rng(7))
    c_images, c = make_keypoints(20, 8)
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a.xy, b.xy)
    np.testing.assert_array_equal(a.visible, b.visible)
    np.testing.assert_array_equal(a.scale, b.scale)
    assert not np.array_equal(a_images, c_images)
    assert not np.array_equal(a.xy, c.xy)


def test_keypoints_have_documented_shapes_and_ranges():
    images, targets = make_keypoints(30, 0, size=24, dtype=np.float32)
    J = len(JOINT_NAMES)
    assert images.shape == (30, 1, 24, 24)
    assert images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert targets.xy.shape == (30, J, 2)
    assert targets.visible.shape == (30, J)
    assert targets.visible.dtype == bool
    assert targets.scale.shape == (30,)
    neck, pelvis = JOINT_NAMES.index("neck"), JOINT_NAMES.index("pelvis")
    torso = np.linalg.norm(targets.xy[:, neck] - targets.xy[:, pelvis], axis=1)
    np.testing.assert_allclose(targets.scale, torso, rtol=1e-12, atol=0)
    assert all(0 <= a < J and 0 <= b < J for a, b in SKELETON)
    assert targets.heatmap_shape == (24, 24)


def test_keypoints_land_where_drawn():
    images, targets = make_keypoints(200, 3, noise_std=0.0)
    sides = np.array([name.split("_")[0] if "_" in name else "centre" for name in JOINT_NAMES])
    drawn = np.array([SIDE_INTENSITY[side] for side in sides])
    values, joints = nearest_pixel_values(images, targets.xy, targets.visible)
    # Joint discs of radius >= 0.5 + sqrt(2)/2 cover the nearest pixel fully.
    assert JOINT_RADIUS >= 0.5 + np.sqrt(0.5)
    np.testing.assert_array_less(drawn[joints] - 1e-12, values)
    # The check has teeth: moved 4 pixels away, most keypoints land off the figure.
    shifted = targets.xy + 4 * np.array([np.cos(1.0), np.sin(1.0)])
    inside = np.all((np.floor(shifted + 0.5) >= 0) & (np.floor(shifted + 0.5) <= 31), axis=2)
    moved, moved_joints = nearest_pixel_values(images, shifted, targets.visible & inside)
    assert np.mean(moved >= drawn[moved_joints] - 1e-12) < 0.5
    # The figure is thin: most of the clean image is background.
    assert np.mean(images == 0) > 0.7


def test_left_side_is_drawn_brighter_than_right_side():
    images, targets = make_keypoints(100, 4, noise_std=0.0)
    values, joints = nearest_pixel_values(images, targets.xy, targets.visible)
    left = np.isin(joints, [i for i, name in enumerate(JOINT_NAMES) if name.startswith("left")])
    right = np.isin(joints, [i for i, name in enumerate(JOINT_NAMES) if name.startswith("right")])
    assert np.median(values[left]) == SIDE_INTENSITY["left"]
    assert np.median(values[right]) == SIDE_INTENSITY["right"]


def test_invisible_joints_are_exactly_those_outside_the_frame():
    size = 32
    _, targets = make_keypoints(300, 5, size=size)
    x, y = targets.xy[..., 0], targets.xy[..., 1]
    inside = (x >= -0.5) & (x < size - 0.5) & (y >= -0.5) & (y < size - 0.5)
    np.testing.assert_array_equal(targets.visible, inside)
    assert 0 < np.sum(~targets.visible) < 0.1 * targets.visible.size


def test_keypoint_targets_index_like_arrays():
    _, targets = make_keypoints(6, 0)
    part = targets[np.array([4, 1])]
    assert len(part) == 2
    np.testing.assert_array_equal(part.xy, targets.xy[[4, 1]])
    assert len(targets[2:]) == 4
    with pytest.raises(TypeError, match=r"slice or an index array"):
        targets[0]
    with pytest.raises(ValueError, match=r"visible must have shape \(6, 11\)"):
        KeypointTargets(targets.xy, targets.visible[:, :3], targets.scale, (32, 32))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": -1, "seed": 0}, ValueError, r"n must be >= 0"),
        ({"n": 2.0, "seed": 0}, TypeError, r"n must be an int"),
        ({"n": 2, "seed": None}, TypeError, r"seed must be an int or a numpy.random.Generator"),
        ({"n": 2, "seed": 0, "size": 8}, ValueError, r"size must be >= 16"),
        ({"n": 2, "seed": 0, "noise_std": -0.1}, ValueError, r"noise_std must be >= 0"),
        ({"n": 2, "seed": 0, "dtype": int}, TypeError, r"floating dtype"),
    ],
)
def test_make_keypoints_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_keypoints(**kwargs)


# --------------------------------------------------------------------------- splits


@given(
    labels=st.lists(st.integers(0, 4), min_size=2, max_size=60),
    fraction=st.floats(0.05, 0.95),
    stratify=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_split_indices_is_a_partition_of_the_requested_size(labels, fraction, stratify, seed):
    labels = np.array(labels)
    n = len(labels)
    n_held = round(fraction * n)
    if n_held in (0, n):
        with pytest.raises(ValueError, match="one side would be empty"):
            split_indices(n, fraction, seed)
        return
    kept, held = split_indices(n, fraction, seed, labels=labels if stratify else None)
    assert len(held) == n_held
    np.testing.assert_array_equal(np.sort(np.concatenate([kept, held])), np.arange(n))
    if stratify:
        per_class = np.bincount(labels[held], minlength=5)
        np.testing.assert_allclose(
            per_class, fraction * np.bincount(labels, minlength=5), rtol=0, atol=1
        )


def test_load_dataset_adds_a_seeded_validation_split(tmp_path):
    write_idx_dir(tmp_path, n_train=40, n_test=10)
    ds = load_dataset("mnist", tmp_path, seed=3, val_fraction=0.25, n_test=4)
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (30, 10, 4)
    again = load_dataset("mnist", tmp_path, seed=3, val_fraction=0.25, n_test=4)
    np.testing.assert_array_equal(ds.X_val, again.X_val)
    other = load_dataset("mnist", tmp_path, seed=4, val_fraction=0.25, n_test=4)
    assert not np.array_equal(ds.X_val, other.X_val)
    assert not ds.is_keypoints
    assert ds.input_shape == (1, 4, 4)


def test_load_dataset_keypoints_test_set_does_not_depend_on_n_train():
    small = load_dataset("keypoints", seed=0, n_train=10, n_test=5)
    large = load_dataset("keypoints", seed=0, n_train=20, n_test=5)
    assert small.is_keypoints
    assert (len(small.X_train), len(small.X_val), len(small.y_val)) == (9, 1, 1)
    np.testing.assert_array_equal(small.X_test, large.X_test)
    np.testing.assert_array_equal(small.y_test.xy, large.y_test.xy)


def test_load_dataset_rejects_unknown_sources_and_stray_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'.*digits, mnist"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match=r"data_dir is only read by 'mnist' and 'fashion-mnist'"):
        load_dataset("keypoints", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nothing\.npz does not exist"):
        load_dataset(tmp_path / "nothing.npz")
    with pytest.raises(TypeError, match=r"source must be a dataset name"):
        load_dataset(3)


def test_dataset_checks_split_lengths():
    X, y = np.zeros((3, 2)), np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError, match=r"X_train has 3 samples but y_train has 2"):
        Dataset.from_train_test("toy", X, y, X, y)


def test_one_vs_rest_marks_the_positive_class():
    np.testing.assert_array_equal(one_vs_rest(np.array([3, 1, 3, 0]), 3), [1, 0, 1, 0])
    with pytest.raises(ValueError, match=r"positive=5 does not occur in y"):
        one_vs_rest(np.array([3, 1]), 5)


def test_as_generator_passes_generators_through_and_rejects_legacy_state():
    rng = np.random.default_rng(0)
    assert as_generator(rng) is rng
    with pytest.raises(TypeError, match="RandomState"):
        as_generator(np.random.RandomState(0))
