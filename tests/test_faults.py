"""Fault injection: every failure ends in one line and a non-zero exit, and nothing is lost.

Disk full and write errors are simulated by patching the file writer (and, where the
machine allows mounting a tmpfs, by a real full or read-only file system); kills and
interrupts use real signals on subprocesses. Each case checks the one-line error and that
the earlier results in ``--out`` are byte for byte what they were.
"""

import errno
import gzip
import hashlib
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from uniloss_ref.__main__ import main
from uniloss_ref.experiments import outputs, reproduce, training
from uniloss_ref.experiments.data import load_dataset, load_idx, load_npz, read_idx
from uniloss_ref.experiments.outputs import OutputDir, write_atomically

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--task", "ap", "--loss", "bce", "--epochs", "1", "--n-train", "100", "--n-test", "50"]
LONG = ["--task", "ap", "--loss", "bce", "--epochs", "100000", "--n-train", "60", "--n-test", "40"]
PNG = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- helpers


def cli(argv, capsys):
    """Run the command line in this process: (exit status, standard error)."""
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's refusals
        status = exit_.code
    return status, capsys.readouterr().err


def assert_one_line(stderr, *fragments):
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in stderr, stderr


def snapshot(directory):
    """Every file under ``directory`` with its bytes."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(Path(directory).rglob("*"))
        if p.is_file()
    }


def leftovers(directory):
    """Hidden entries (staging directories, temporary files) anywhere under ``directory``."""
    return sorted(str(p) for p in Path(directory).rglob(".*"))


def assert_complete_run(out, status="completed"):
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == status
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == PNG
    return results


@pytest.fixture
def earlier(tmp_path, capsys):
    """An earlier completed ``train`` run in ``tmp_path / "out"`` and its files."""
    out = tmp_path / "out"
    status, _ = cli(["train", *TINY, "--quiet", "--out", str(out)], capsys)
    assert status == 0
    return out, snapshot(out)


class FailingFile:
    """A file that takes ``limit`` bytes, then fails with ``error`` (a full disk, say)."""

    def __init__(self, file, error, limit):
        self.file, self.error, self.left = file, error, limit

    def write(self, data):
        data = bytes(data)
        if len(data) > self.left:
            self.file.write(data[: self.left])
            self.file.flush()
            raise OSError(self.error, os.strerror(self.error))
        self.left -= len(data)
        return self.file.write(data)

    def fileno(self):  # as for a pipe: writers must go through write()
        raise io.UnsupportedOperation("fileno")

    def flush(self):
        self.file.flush()

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.file.close()


def fail_writes(monkeypatch, name, error, limit=100):
    """Make writing the file called ``name`` fail with ``error`` after ``limit`` bytes."""
    real = outputs._open_new

    def open_new(path):
        file = real(path)
        if path.name.startswith(f".{name}."):
            return FailingFile(file, error, limit)
        return file

    monkeypatch.setattr(outputs, "_open_new", open_new)


# --------------------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO], ids=errno.errorcode.get)
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, error):
    path = tmp_path / "results.json"
    path.write_text("old")
    fail_writes(monkeypatch, "results.json", error, limit=2)
    with pytest.raises(OSError) as info:
        write_atomically(path, lambda file: file.write(b"new contents"))
    assert info.value.errno == error
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["results.json"]


@pytest.mark.parametrize(
    "name, error",
    [
        ("results.json", errno.ENOSPC),
        ("curves.png", errno.ENOSPC),
        ("precision_recall.png", errno.ENOSPC),
        ("results.json", errno.EROFS),
        ("curves.png", errno.EIO),
    ],
    ids=lambda value: errno.errorcode.get(value, value) if isinstance(value, int) else value,
)
def test_train_with_a_failing_disk_keeps_the_earlier_run(earlier, monkeypatch, capsys, name, error):
    out, before = earlier
    fail_writes(monkeypatch, name, error)
    argv = ["train", *TINY, "--seed", "3", "--quiet", "--overwrite", "--out", str(out)]
    status, stderr = cli(argv, capsys)
    assert status == 2
    assert_one_line(stderr, "cannot save the run in", os.strerror(error))
    assert snapshot(out) == before
    assert leftovers(out.parent) == []


def test_train_into_a_new_directory_on_a_full_disk_creates_nothing(tmp_path, monkeypatch, capsys):
    fail_writes(monkeypatch, "results.json", errno.ENOSPC)
    out = tmp_path / "new"
    status, stderr = cli(["train", *TINY, "--quiet", "--out", str(out)], capsys)
    assert status == 2
    assert_one_line(stderr, "No space left on device")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("call", ["fsync", "rename"])
def test_a_failure_while_committing_keeps_the_earlier_run(earlier, monkeypatch, capsys, call):
    out, before = earlier
    if call == "fsync":

        def fsync(fd):  # the data did not fit when flushed
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(outputs.os, "fsync", fsync)
    else:
        real = os.rename

        def rename(src, dst):  # the staging directory cannot move into place
            if ".incomplete-" in str(src):
                raise OSError(errno.EBUSY, "Device or resource busy")
            real(src, dst)

        monkeypatch.setattr(outputs.os, "rename", rename)
    status, stderr = cli(["train", *TINY, "--quiet", "--overwrite", "--out", str(out)], capsys)
    assert status == 2
    assert_one_line(stderr, "cannot save the run in")
    assert snapshot(out) == before
    assert leftovers(out.parent) == []


def test_overwrite_replaces_the_whole_run_and_drops_its_stale_plots(earlier, capsys):
    out, before = earlier
    assert "precision_recall.png" in before
    argv = ["train", "--task", "accuracy", "--loss", "ce", "--epochs", "1", "--n-train", "100"]
    status, _ = cli([*argv, "--n-test", "50", "--quiet", "--overwrite", "--out", str(out)], capsys)
    assert status == 0
    assert sorted(os.listdir(out)) == ["curves.png", "manifest.json", "results.json"]
    assert assert_complete_run(out)["task"] == "accuracy"
    assert leftovers(out.parent) == []


# --------------------------------------------------------------------------- --out checks


def test_a_non_empty_out_is_refused_before_training(earlier, monkeypatch, capsys):
    out, before = earlier
    monkeypatch.setattr(training, "prepare", lambda config: pytest.fail("trained anyway"))
    status, stderr = cli(["train", *TINY, "--quiet", "--out", str(out)], capsys)
    assert status == 2
    assert_one_line(stderr, "already holds the files of another run", "--overwrite")
    assert snapshot(out) == before


def test_overwrite_never_empties_a_directory_of_other_files(tmp_path, monkeypatch, capsys):
    (tmp_path / "thesis.tex").write_text("precious")
    (tmp_path / "results.json").write_text("{}")
    monkeypatch.setattr(training, "prepare", lambda config: pytest.fail("trained anyway"))
    status, stderr = cli(["train", *TINY, "--overwrite", "--out", str(tmp_path)], capsys)
    assert status == 2
    assert_one_line(stderr, "no uniloss_ref run listed in a manifest.json", "thesis.tex")
    assert (tmp_path / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize(
    "command", [["train", *TINY], ["reproduce", "--tasks", "ap"]], ids=["train", "reproduce"]
)
def test_a_read_only_out_is_refused_before_any_run(earlier, monkeypatch, capsys, command):
    out, before = earlier
    real = os.access
    monkeypatch.setattr(
        outputs.os, "access", lambda p, mode: False if Path(p) == out else real(p, mode)
    )
    monkeypatch.setattr(training, "prepare", lambda config: pytest.fail("trained anyway"))
    monkeypatch.setattr(reproduce, "execute", lambda *a, **k: pytest.fail("ran anyway"))
    status, stderr = cli([*command, "--overwrite", "--out", str(out)], capsys)
    assert status == 2
    assert_one_line(stderr, f"{out} is not writable")
    assert snapshot(out) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root")
def test_an_out_in_a_read_only_directory_is_refused(tmp_path, capsys):
    tmp_path.chmod(0o555)
    try:
        status, stderr = cli(["train", *TINY, "--out", str(tmp_path / "run")], capsys)
    finally:
        tmp_path.chmod(0o755)
    assert status == 2
    assert_one_line(stderr, "not writable")
    assert os.listdir(tmp_path) == []


def test_a_parent_that_cannot_hold_the_staging_directory_is_refused(tmp_path, monkeypatch, capsys):
    def mkdir(path, mode=0o777):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(outputs.os, "mkdir", mkdir)
    monkeypatch.setattr(training, "prepare", lambda config: pytest.fail("trained anyway"))
    status, stderr = cli(["train", *TINY, "--out", str(tmp_path / "run")], capsys)
    assert status == 2
    assert_one_line(stderr, "Read-only file system")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["train", *TINY, "--out", ""], "argument --out: expected a directory, got ''"),
        (["reproduce", "--out", " "], "argument --out: expected a directory"),
        (["train", *TINY, "--anchors", "bad=100000000"], "asks for 100000000 anchors"),
        (["train", *TINY, "--anchors", "bad=1000,good=1000"], "at most 1024"),
        (["check", "--seed", "-1"], "argument --seed: expected a non-negative integer"),
        (["train", *TINY, "--seed", "-1", "--out", "x"], "expected a non-negative integer"),
    ],
)
def test_bad_arguments_are_refused_up_front_in_one_line(
    argv, reason, capsys, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    if "--out" not in argv and argv[0] == "train":
        argv = [*argv, "--out", "never-created"]
    status, stderr = cli(argv, capsys)
    assert status == 2
    assert_one_line(stderr, reason)
    assert not Path("never-created").exists() and not Path("x").exists()


def test_an_out_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    status, stderr = cli(["train", *TINY, "--out", str(tmp_path / "file")], capsys)
    assert status == 2
    assert_one_line(stderr, "exists and is not a directory")
    assert (tmp_path / "file").read_text() == "x"


def test_leftovers_of_a_killed_run_are_tidied_and_a_set_aside_run_restored(tmp_path):
    out = tmp_path / "out"
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    stale = tmp_path / f".out.incomplete-{dead}-0123abcd"
    stale.mkdir()
    (stale / ".results.json.89abcdef.tmp").write_text('{"half')
    aside = tmp_path / f".out.replaced-{dead}-4567cdef"
    aside.mkdir()
    (aside / "results.json").write_text('{"status": "completed"}')
    with pytest.raises(ValueError, match="already holds the files of another run"):
        OutputDir(out)
    assert not stale.exists() and not aside.exists()
    assert (out / "results.json").read_text() == '{"status": "completed"}'
    assert sorted(os.listdir(tmp_path)) == ["out"]


# --------------------------------------------------------------------------- real file systems


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MiB tmpfs mounted on ``tmp_path / "fs"`` (skipped where mounting is not allowed)."""
    point = tmp_path / "fs"
    point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point)],
        capture_output=True,
        check=False,
    )
    if done.returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_really_full_disk_keeps_the_earlier_run(tmpfs, capsys):
    out = tmpfs / "out"
    assert cli(["train", *TINY, "--quiet", "--out", str(out)], capsys)[0] == 0
    before = snapshot(out)
    free = os.statvfs(tmpfs).f_bavail * os.statvfs(tmpfs).f_frsize
    (tmpfs / "filler").write_bytes(b"\0" * (free - 8192))
    status, stderr = cli(["train", *TINY, "--quiet", "--overwrite", "--out", str(out)], capsys)
    assert status == 2
    assert_one_line(stderr, "No space left on device")
    assert snapshot(out) == before
    assert leftovers(tmpfs) == []


def test_a_really_read_only_file_system_is_refused_before_training(tmpfs, capsys, monkeypatch):
    out = tmpfs / "out"
    assert cli(["train", *TINY, "--quiet", "--out", str(out)], capsys)[0] == 0
    before = snapshot(out)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    monkeypatch.setattr(training, "prepare", lambda config: pytest.fail("trained anyway"))
    status, stderr = cli(["train", *TINY, "--overwrite", "--out", str(out)], capsys)
    assert status == 2
    assert_one_line(stderr, "not writable")
    assert snapshot(out) == before


# --------------------------------------------------------------------------- divergence


def test_a_diverging_run_stops_with_one_line_and_saves_a_partial_run(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--task", "ap", "--loss", "hinge", "--lr", "1e6", "--epochs", "2"]
    argv += ["--n-train", "200", "--n-test", "50", "--quiet", "--out", str(out)]
    status, stderr = cli(argv, capsys)
    assert status == 1
    assert_one_line(stderr, "training diverged at epoch 1, step", "lower the learning rate (--lr")
    results = assert_complete_run(out, "diverged")
    assert results["test_metric"] is None and results["stopped"]["epoch"] == 1
    assert f"step {results['stopped']['step']} of" in stderr
    assert leftovers(tmp_path) == []


def test_inputs_of_enormous_magnitude_stop_as_divergence(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "huge.npz"
    np.savez(data, X=1e150 * rng.normal(size=(120, 4)), y=rng.integers(2, size=120))
    out = tmp_path / "run"
    argv = ["train", "--task", "ap", "--loss", "bce", "--epochs", "1", "--data", str(data)]
    status, stderr = cli([*argv, "--quiet", "--out", str(out)], capsys)
    assert status == 1
    assert_one_line(stderr, "diverged", "not finite", "rescale the inputs")
    assert_complete_run(out, "diverged")


def test_fit_raises_diverged_with_the_partial_run():
    config = training.TrainConfig("ap", "hinge", lr=1e6, epochs=2, n_train=200, n_test=50)
    with pytest.raises(training.Diverged, match=r"diverged at epoch 1, step \d+ of 12") as info:
        training.train(config, show_progress=False)
    run = info.value.run
    assert run.results["status"] == "diverged" and run.test_scores is None
    leaves = []
    training.tree_map(leaves.append, run.params)
    assert all(np.isfinite(leaf).all() for leaf in leaves)  # the last finite parameters


def test_fit_turns_an_interrupt_into_a_partial_run():
    setup = training.prepare(training.TrainConfig("ap", "bce", epochs=3, n_train=100, n_test=50))
    assert len(setup.data.X_train) == 90  # 6 steps of 16 per epoch
    metric = setup.metric

    class Interrupting:
        calls = 0

        def evaluate(self, scores, targets):  # Ctrl-C at the second epoch's third step
            self.calls += 1
            if self.calls == 6 + 1 + 3:  # 6 batches and the validation, then 3 batches
                raise KeyboardInterrupt
            return metric.evaluate(scores, targets)

    setup.metric = Interrupting()
    with pytest.raises(KeyboardInterrupt, match=r"interrupted after epoch 2, step 3 of 6") as info:
        training.fit(setup, show_progress=False)
    run = info.value.run
    assert run.results["status"] == "interrupted"
    assert [r["epoch"] for r in run.results["history"]] == [1]


# --------------------------------------------------------------------------- corrupt data


def npy_header(shape, dtype="<f8"):
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}"
    text += " " * (63 - (10 + len(text)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def write_npz(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, raw in members.items():
            archive.writestr(f"{name}.npy", raw)


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def corrupt_npz_cases(tmp_path):
    good = {"X": npy(np.zeros((10, 3))), "y": npy(np.arange(10) % 2)}
    cases = {}
    path = tmp_path / "lying.npz"  # an 11 TiB array declared, 16 bytes present
    write_npz(path, {**good, "X": npy_header((1_500_000_000_000,)) + b"\0" * 16})
    cases[path] = r"declares shape \(1500000000000,\) of float64.*but the archive holds 16"
    path = tmp_path / "truncated.npz"
    np.savez_compressed(path, X=np.zeros((10, 3)), y=np.arange(10) % 2)
    path.write_bytes(path.read_bytes()[:-40])
    cases[path] = r"truncated\.npz is not a readable \.npz archive"
    path = tmp_path / "bitflip.npz"
    write_npz(path, good, zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    start = raw.index(b"X.npy") + len("X.npy") + 8
    raw[start] ^= 0xFF  # inside X's compressed data
    path.write_bytes(bytes(raw))
    cases[path] = r"array 'X' is corrupt|array 'X' has an unreadable"
    path = tmp_path / "crc.npz"
    write_npz(path, good)
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"X.npy") + len("X.npy") + 200] ^= 0x01  # stored data, CRC now wrong
    path.write_bytes(bytes(raw))
    cases[path] = r"array 'X' is corrupt \(Bad CRC-32"
    path = tmp_path / "big.npz"  # a genuine header, above the memory cap
    write_npz(path, {**good, "X": npy_header((2**40,), "|u1") + b"\0" * 8})
    cases[path] = r"declares shape \(1099511627776,\)"
    return cases


def test_corrupt_and_lying_npz_files_raise_value_errors(tmp_path):
    for path, message in corrupt_npz_cases(tmp_path).items():
        with pytest.raises(ValueError, match=message):
            load_npz(path)


def test_an_npz_header_is_checked_against_the_memory_cap_before_allocating(tmp_path):
    path = tmp_path / "fine.npz"
    np.savez(path, X=np.zeros((100, 8), np.uint8), y=np.arange(100) % 2)
    with pytest.raises(ValueError, match=r"X as float64 would take 6\.2 KiB.*limit of 4\.0 KiB"):
        load_npz(path, max_bytes=4096)
    with pytest.raises(ValueError, match=r"array 'X' \(shape \(100, 8\) of uint8\) would take"):
        load_npz(path, max_bytes=500)
    assert load_npz(path, max_bytes=8000).X_train.shape[1] == 8


def test_a_corrupt_npz_is_one_line_on_the_command_line(tmp_path, capsys):
    for path in corrupt_npz_cases(tmp_path):
        out = tmp_path / f"run-{path.stem}"
        argv = ["train", "--task", "ap", "--loss", "bce", "--data", str(path), "--out", str(out)]
        status, stderr = cli(argv, capsys)
        assert status == 2
        assert_one_line(stderr, str(path))
        assert not out.exists()


def idx_bytes(dims, data=b"", code=0x08):
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + data


def test_a_lying_idx_header_is_refused_before_allocating(tmp_path):
    plain = tmp_path / "lying-idx3-ubyte"
    plain.write_bytes(idx_bytes((60000, 2**16, 2**16), b"\0" * 100))
    with pytest.raises(ValueError, match=r"truncated: the header declares shape \(60000, 65536"):
        read_idx(plain)
    packed = tmp_path / "lying-idx3-ubyte.gz"
    packed.write_bytes(gzip.compress(idx_bytes((60000, 2**16, 2**16), b"\0" * 100)))
    with pytest.raises(ValueError, match=r"more than a gzip file of \d+ bytes can hold"):
        read_idx(packed)
    genuine = tmp_path / "genuine-idx1-ubyte"
    genuine.write_bytes(idx_bytes((5000,), b"\1" * 5000))
    with pytest.raises(ValueError, match=r"would take 4\.9 KiB of memory, above the limit"):
        read_idx(genuine, max_bytes=4096)


def test_a_gzip_idx_is_unpacked_only_as_far_as_its_header_declares(tmp_path):
    # A small file that unpacks to 64 MiB, whose header declares 12 bytes: a reader that
    # unpacks it all before looking at the header peaks above 64 MiB.
    path = tmp_path / "bomb-idx2-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=9) as file:
        file.write(idx_bytes((3, 4), b"\1" * 12))
        chunk = b"\0" * 2**20
        for _ in range(64):
            file.write(chunk)
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"longer than its header declares"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_images_too_large_as_floats_are_refused_before_conversion(tmp_path):
    for stem, dims in [
        ("train-images-idx3-ubyte", (20, 8, 8)),
        ("train-labels-idx1-ubyte", (20,)),
        ("t10k-images-idx3-ubyte", (5, 8, 8)),
        ("t10k-labels-idx1-ubyte", (5,)),
    ]:
        (tmp_path / stem).write_bytes(idx_bytes(dims, b"\1" * int(np.prod(dims))))
    with pytest.raises(ValueError, match=r"the images as float64 would take 10\.0 KiB"):
        load_idx("mnist", tmp_path, max_bytes=8192)
    assert load_idx("mnist", tmp_path, max_bytes=16384).X_train.shape == (20, 1, 8, 8)


def test_no_loader_unpickles_even_a_crafted_member(tmp_path):
    import pickle

    path = tmp_path / "objects.npz"
    payload = npy_header((1,), "|O") + pickle.dumps([1])
    write_npz(path, {"X": payload, "y": npy(np.arange(1))})
    with pytest.raises(ValueError, match=r"object array.*never unpickles"):
        load_dataset(path)


# --------------------------------------------------------------------------- interrupts


def test_keyboard_interrupt_in_any_command_is_one_line(monkeypatch, capsys, tmp_path):
    from uniloss_ref import check
    from uniloss_ref.conformance import vectors

    monkeypatch.chdir(tmp_path)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(check, "run", interrupt)
    monkeypatch.setattr(vectors, "generate", interrupt)
    monkeypatch.setattr(training, "prepare", interrupt)
    monkeypatch.setattr(reproduce, "load_task_data", interrupt)
    for argv in (
        ["check"],
        ["conformance", "generate", "--check"],
        ["train", *TINY, "--out", "never-created"],
        ["reproduce", "--out", "never-created"],
    ):
        status, stderr = cli(argv, capsys)
        assert status == 130
        assert_one_line(stderr, f"python -m uniloss_ref {argv[0]}: interrupted")
    assert os.listdir(tmp_path) == []


def test_an_unexpected_error_is_one_line_unless_debugging(monkeypatch, capsys):
    from uniloss_ref import check

    def bug(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(check, "run", bug)
    status, stderr = cli(["check"], capsys)
    assert status == 1
    assert_one_line(stderr, "internal error (KeyError: 'oops')", "--debug")
    with pytest.raises(KeyError):
        main(["--debug", "check"])
    with pytest.raises(KeyError):
        main(["check", "--debug"])


def start(argv, **kwargs):
    env = kwargs.pop("env", None) or dict(
        os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1"
    )
    return subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def wait_for(stream, prefix):
    for line in stream:
        if line.startswith(prefix):
            return line
    pytest.fail(f"the process ended before printing {prefix!r}")


@pytest.mark.parametrize(
    "signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_stops_train_with_one_line_and_a_partial_run(tmp_path, signum, status):
    out = tmp_path / "run"
    process = start(["-m", "uniloss_ref", "train", *LONG, "--out", str(out)])
    wait_for(process.stderr, "epoch 2/")
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == status
    *progress, last = stderr.splitlines()
    assert all(line.startswith("epoch ") for line in progress)
    assert last.startswith("python -m uniloss_ref train: interrupted after epoch ")
    assert "status 'interrupted'" in last and "Traceback" not in stderr
    results = assert_complete_run(out, "interrupted")
    stopped, epochs = results["stopped"], [r["epoch"] for r in results["history"]]
    assert f"after epoch {stopped['epoch']}, step {stopped['step']} of" in last
    # The history holds the epochs completed: up to the last step's, or the one before.
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= 2
    assert len(epochs) == stopped["epoch"] - 1 or (
        len(epochs) == stopped["epoch"] and stopped["step"] == stopped["steps"]
    )
    assert (out / "curves.png").is_file()
    assert leftovers(tmp_path) == []


STALLED_WRITE = """
import sys, time
from uniloss_ref.experiments import outputs
real = outputs._open_new

class Stalled:
    def __init__(self, file):
        self.file = file
    def write(self, data):
        self.file.write(bytes(data)[: len(data) // 2])
        self.file.flush()
        print("half written", flush=True)
        time.sleep(float(sys.argv[1]))
        self.file.write(bytes(data)[len(data) // 2 :])
    def fileno(self):
        return self.file.fileno()
    def flush(self):
        self.file.flush()
    def __enter__(self):
        return self
    def __exit__(self, *exc_info):
        self.file.close()

def open_new(path):
    file = real(path)
    return Stalled(file) if path.name.startswith(".results.json.") else file

outputs._open_new = open_new
from uniloss_ref.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_kill_during_the_write_leaves_the_earlier_run_whole(earlier, capsys):
    out, before = earlier
    argv = ["-c", STALLED_WRITE, "600", "train", *TINY, "--seed", "5", "--quiet"]
    process = start([*argv, "--overwrite", "--out", str(out)])
    wait_for(process.stdout, "half written")
    process.kill()
    process.communicate(timeout=60)
    assert snapshot(out) == before  # the half-written file is in the staging directory
    assert leftovers(out.parent)
    status, _ = cli(["train", *TINY, "--quiet", "--overwrite", "--out", str(out)], capsys)
    assert status == 0
    assert leftovers(out.parent) == []  # the next run tidied the killed one's staging


def test_sigterm_during_the_write_finishes_the_write_first(earlier):
    out, before = earlier
    argv = ["-c", STALLED_WRITE, "1", "train", *TINY, "--seed", "5", "--quiet"]
    process = start([*argv, "--overwrite", "--out", str(out)])
    wait_for(process.stdout, "half written")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and stderr == ""
    results = assert_complete_run(out)
    assert results["config"]["seed"] == 5
    assert snapshot(out) != before and leftovers(out.parent) == []


def processes_mentioning(text):
    """Pids of the processes whose command line contains ``text`` (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_ctrl_c_stops_the_reproduction_queue_and_summarises_the_finished_runs(tmp_path):
    out = tmp_path / "repro"
    argv = ["--tasks", "ap", "--seeds", "2", "--jobs", "1", "--epochs", "1", "--n-train", "100"]
    process = start(["-m", "uniloss_ref", "reproduce", *argv, "--n-test", "50", "--out", str(out)])
    wait_for(process.stderr, "[1/10]")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    last = stderr.splitlines()[-1]
    assert last.startswith("python -m uniloss_ref reproduce: interrupted; ")
    assert "Traceback" not in stderr
    summary = json.loads((out / "results.json").read_text())
    assert summary["status"] == "interrupted"
    finished = [r for r in summary["runs"] if r["status"] == "completed"]
    assert 1 <= len(finished) < 10  # 2 seeds of AP (3 losses) and of the authors' set-up (2)
    assert f"{len(finished)} of 10 runs finished" in last
    for run in summary["runs"]:  # the finished runs, and the partial ones stopped
        directory = out / "runs" / Path(run["dir"]).name
        if run["status"] == "not run":
            assert not directory.exists()
        elif directory.exists() or run["status"] == "completed":
            assert assert_complete_run(directory, run["status"])
    assert "**Interrupted.**" in (out / "results.md").read_text()
    assert (out / "results.md").read_text() in stdout
    assert leftovers(tmp_path) == []
    if Path("/proc/self").exists():
        assert processes_mentioning(str(tmp_path)) == []  # no run left behind


def test_reproduce_with_a_failing_disk_keeps_the_earlier_reproduction(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "repro"
    (out / "runs" / "ap-bce-seed0").mkdir(parents=True)
    (out / "runs" / "ap-bce-seed0" / "results.json").write_text('{"status": "completed"}')
    (out / "results.md").write_text("# earlier\n")
    (out / "results.json").write_text('{"status": "completed"}\n')
    outputs.write_manifest(out)  # as a committed reproduction has
    before = snapshot(out)

    def execute(runs, jobs, root=None):
        outcomes = []
        for run in runs:
            history = [{"epoch": 1, "val_metric": 0.5}]
            config = {"loss": run["loss"], "seed": run["seed"]}
            outcomes.append(
                {
                    "task": run["task"],
                    "metric": "average precision",
                    "config": config,
                    "history": history,
                    "test_metric": 0.5,
                    "seconds": 1.0,
                    "status": "completed",
                    "command": "python -m uniloss_ref train",
                }
            )
        return outcomes, False

    monkeypatch.setattr(reproduce, "execute", execute)
    for name in ("results.md", "results.json", "validation_curves.png"):
        with monkeypatch.context() as patch:
            fail_writes(patch, name, errno.ENOSPC)
            argv = ["reproduce", "--tasks", "ap", "--seeds", "1", "--overwrite", "--out", str(out)]
            status, stderr = cli(argv, capsys)
        assert status == 2
        assert_one_line(stderr, "cannot save the results in", "No space left on device")
        assert snapshot(out) == before
        assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- smaller cases


def test_one_seed_has_no_sample_standard_deviation():
    runs = [
        {
            "task": "ap",
            "metric": "AP",
            "config": {"loss": loss, "seed": 0},
            "test_metric": v,
            "seconds": 1.0,
        }
        for loss, v in (("uniloss", 0.9), ("bce", 0.8), ("uniloss-authors", 0.7))
    ]
    rows, differences = reproduce.summarise(runs, reproduce.PROFILES["digits"][:1])
    assert {r["sd"] for r in rows} == {None} and differences[0]["sd"] is None
    json.dumps(rows, allow_nan=False)
    table = reproduce.markdown(rows, differences, "cmd", quick=False)
    assert "± 0.00" not in table
    assert "| 90.00 (1 seed) |" in table and "| +10.00 (1 seed) |" in table


# --------------------------------------------------------------------------- claims, manifests


HOLD_CLAIM = """
import sys, time
from uniloss_ref.experiments.outputs import OutputDir
output = OutputDir(sys.argv[1], overwrite=True)
print("claimed", flush=True)
time.sleep(600)
"""


def test_a_second_run_into_a_directory_a_live_run_holds_is_refused(earlier, capsys):
    out, before = earlier
    holder = start(["-c", HOLD_CLAIM, str(out)])
    try:
        wait_for(holder.stdout, "claimed")
        argv = ["train", *TINY, "--seed", "4", "--quiet", "--overwrite", "--out", str(out)]
        status, stderr = cli(argv, capsys)
        assert status == 2
        assert_one_line(stderr, f"{out} is in use by another run (process {holder.pid})")
        assert snapshot(out) == before
    finally:
        holder.kill()  # SIGKILL: the kernel drops the claim with the process
        holder.communicate(timeout=60)
    assert leftovers(out.parent)  # its lock file and staging directory
    status, _ = cli(
        ["train", *TINY, "--seed", "4", "--quiet", "--overwrite", "--out", str(out)], capsys
    )
    assert status == 0 and assert_complete_run(out)["config"]["seed"] == 4
    assert leftovers(out.parent) == []


def test_a_file_added_to_out_during_the_run_is_kept_and_the_run_saved_beside(
    earlier, monkeypatch, capsys
):
    out, before = earlier
    real_fit = training.fit

    def fit(setup, *args, **kwargs):  # a person saves notes into --out while it trains
        (out / "notes.txt").write_text("mine")
        return real_fit(setup, *args, **kwargs)

    monkeypatch.setattr(training, "fit", fit)
    argv = ["train", *TINY, "--seed", "6", "--quiet", "--overwrite", "--out", str(out)]
    status, stderr = cli(argv, capsys)
    assert status == 2
    assert_one_line(stderr, f"{out} changed during the run", "(notes.txt)", "left as it is")
    assert snapshot(out) == {**before, "notes.txt": b"mine"}
    (unsaved,) = out.parent.glob("out.unsaved-*")
    assert str(unsaved) in stderr
    assert assert_complete_run(unsaved)["config"]["seed"] == 6
    assert leftovers(out.parent) == []


def test_a_file_that_appears_while_the_old_run_is_replaced_is_kept(earlier, monkeypatch, capsys):
    out, _ = earlier
    real = os.rename

    def rename(src, dst):  # the instant between the last check and the rename
        if Path(src) == out and ".replaced-" in str(dst):
            (out / "late.txt").write_text("mine")
        real(src, dst)

    monkeypatch.setattr(outputs.os, "rename", rename)
    argv = ["train", *TINY, "--seed", "7", "--quiet", "--overwrite", "--out", str(out)]
    status, stderr = cli(argv, capsys)
    assert status == 0
    assert_one_line(stderr, "note: files that appeared in", "are kept in")
    assert assert_complete_run(out)["config"]["seed"] == 7
    (kept,) = out.parent.glob("out.kept-*")
    assert os.listdir(kept) == ["late.txt"]  # the old run's own files were deleted
    assert leftovers(out.parent) == []


@pytest.mark.parametrize("change", ["tensorboard", "added", "edited", "no manifest"])
def test_overwrite_deletes_only_what_a_manifest_lists_unchanged(
    earlier, monkeypatch, capsys, change
):
    out, _ = earlier
    if change == "tensorboard":  # TensorBoard's default log directory is called runs/
        (out / "runs" / "Jan01_host").mkdir(parents=True)
        (out / "runs" / "Jan01_host" / "events.out.tfevents.1").write_text("logs")
        blocking = "runs/Jan01_host/events.out.tfevents.1"
    elif change == "added":
        (out / "notes.md").write_text("mine")
        blocking = "notes.md"
    elif change == "edited":
        with open(out / "results.json", "a") as file:
            file.write(" ")
        blocking = "results.json"
    else:
        (out / "manifest.json").unlink()
        blocking = "no uniloss_ref run listed in a manifest.json"
    before = snapshot(out)
    monkeypatch.setattr(training, "prepare", lambda config: pytest.fail("trained anyway"))
    status, stderr = cli(["train", *TINY, "--overwrite", "--out", str(out)], capsys)
    assert status == 2
    assert_one_line(stderr, blocking, "not replacing it even with --overwrite")
    assert snapshot(out) == before


def test_a_manifest_naming_a_file_outside_its_directory_is_not_trusted(earlier, capsys):
    out, _ = earlier
    victim = out.parent / "victim.txt"
    victim.write_text("precious")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["../victim.txt"] = {
        "bytes": victim.stat().st_size,
        "sha256": hashlib.sha256(b"precious").hexdigest(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    status, stderr = cli(["train", *TINY, "--quiet", "--overwrite", "--out", str(out)], capsys)
    assert status == 2
    assert_one_line(stderr, "no uniloss_ref run listed in a manifest.json")
    assert victim.read_text() == "precious"


def test_a_committed_run_lists_every_file_in_its_manifest(earlier):
    out, before = earlier
    manifest = json.loads(before["manifest.json"])
    assert manifest["format"] == outputs.MANIFEST_FORMAT
    assert sorted(manifest["files"]) == sorted(set(before) - {"manifest.json"})
    assert outputs.not_written_here(out) == []


def test_conformance_generate_never_overwrites_a_file_unasked(tmp_path, monkeypatch, capsys):
    from uniloss_ref.conformance import vectors

    path = tmp_path / "mine.json"
    path.write_text("precious")
    status, stderr = cli(["conformance", "generate", "--output", str(path)], capsys)
    assert status == 2
    assert_one_line(stderr, f"{path} exists; pass --overwrite")
    assert path.read_text() == "precious"
    monkeypatch.setattr(vectors, "generate", lambda: {"format": "small"})
    status, _ = cli(["conformance", "generate", "--output", str(path), "--overwrite"], capsys)
    assert status == 0 and json.loads(path.read_text()) == {"format": "small"}


# --------------------------------------------------------------------------- labels


def labelled_npz(path, y, n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    np.savez(path, X=rng.normal(size=(len(y), n_features)), y=y)
    return path


def test_positive_is_a_label_as_the_data_has_it(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = rng.choice([0, 2, 5], size=300)
    path = labelled_npz(tmp_path / "labels.npz", y)
    setup = training.prepare(training.TrainConfig("ap", "bce", data=str(path), positive=2))
    assert setup.data.class_names == ("rest", "2")
    assert np.isclose(setup.data.y_train.mean(), np.mean(y == 2), atol=0.05)
    out = tmp_path / "run"
    argv = ["train", "--task", "ap", "--loss", "bce", "--data", str(path), "--epochs", "1"]
    status, stderr = cli([*argv, "--positive", "3", "--out", str(out)], capsys)
    assert status == 2
    assert_one_line(stderr, "positive 3 is not a class label of", "its labels are 0, 2, 5")
    assert not out.exists()
    status, _ = cli([*argv, "--positive", "5", "--quiet", "--out", str(out)], capsys)
    assert status == 0 and assert_complete_run(out)["config"]["positive"] == 5
    signed = labelled_npz(tmp_path / "signed.npz", np.where(y == 0, -1, 1))
    setup = training.prepare(training.TrainConfig("ap", "bce", data=str(signed), positive=-1))
    assert setup.data.class_names == ("rest", "-1")


@pytest.mark.parametrize(
    "y, message",
    [
        (np.array([1e19, 1e19 + 4096.0] * 50), r"label 1e\+19 as float64.*2\*\*53"),
        (np.array([3.0, 2.0**25] * 50, dtype=np.float32), r"float32.*2\*\*24"),
        (np.array([1, 2**63 + 5] * 50, dtype=np.uint64), r"above the largest an int64 can hold"),
        (np.array([0.5, 1.0] * 50), r"non-integer values"),
    ],
    ids=["float64 beyond 2**53", "float32 beyond 2**24", "uint64 beyond int64", "fractions"],
)
def test_labels_that_cannot_be_held_exactly_are_refused(tmp_path, y, message):
    path = labelled_npz(tmp_path / "labels.npz", y)
    with pytest.raises(ValueError, match=message):  # and no RuntimeWarning (an error here)
        load_npz(path)


def test_a_batch_too_small_to_compare_anything_is_refused_up_front(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--task", "ap", "--loss", "uniloss", "--batch-size", "1", "--out", str(out)]
    status, stderr = cli(argv, capsys)
    assert status == 2
    assert_one_line(stderr, "batch_size must be at least 2 for task 'ap', got 1")
    assert os.listdir(tmp_path) == []
    config = training.TrainConfig("accuracy", "uniloss", batch_size=1)  # one sample compares
    assert config.resolved().batch_size == 1


def vectors_with(tmp_path, change):
    from uniloss_ref.conformance import vectors

    document = json.loads(json.dumps(vectors.load()))
    case = next(c for c in document["cases"] if c["metric"] == change[0])
    case.update(change[1])
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps(document))
    return path, case["name"]


@pytest.mark.parametrize(
    "change, message",
    [
        (("AveragePrecision", {"targets": [[1, 2], "x"]}), "targets must be a list of integers"),
        (("AveragePrecision", {"targets": [0.5] * 8}), "targets must be a list of integers"),
        (("AveragePrecision", {"targets": [2] * 8}), "targets do not fit the scores"),
        (("Accuracy", {"params": {"top_k": 0}}), "params {'top_k': 0} do not fit Accuracy"),
        (("RocAuc", {"params": {"bins": 3}}), "do not fit RocAuc"),
    ],
    ids=["ragged", "fractions", "not 0/1", "top_k 0", "unknown parameter"],
)
def test_bad_targets_or_params_in_a_vectors_file_are_usage_errors(
    tmp_path, capsys, change, message
):
    path, name = vectors_with(tmp_path, change)
    argv = ["conformance", "verify", "uniloss_ref.conformance.reference:reference_port"]
    status, stderr = cli([*argv, "--vectors", str(path), "--cases", name], capsys)
    assert status == 2
    assert_one_line(stderr, f"case {name!r}", message)


def test_vectors_whose_targets_give_another_number_of_comparisons_are_refused(tmp_path):
    from uniloss_ref.conformance import vectors

    document = json.loads(json.dumps(vectors.load()))
    case = next(c for c in document["cases"] if c["metric"] == "AveragePrecision")
    case["targets"] = [1 - t for t in case["targets"]] + [0]  # P and N change
    case["scores"] = [*case["scores"], 0.0]
    case["expected"]["gradient"] = [*case["expected"]["gradient"], 0.0]
    with pytest.raises(ValueError, match=r"the targets give l = \d+ comparisons, the anchors"):
        vectors.validate(document)


# --------------------------------------------------------------------------- signals, children


TERM_AFTER_COMMIT = """
import os, signal, sys
from uniloss_ref.experiments import outputs

real = outputs.OutputDir.commit


class Out:  # SIGTERM at the first line printed after the commit (the run's summary)
    def __init__(self, stream):
        self.stream, self.armed = stream, False
    def write(self, text):
        if self.armed:
            self.armed = False
            os.kill(os.getpid(), signal.SIGTERM)
        return self.stream.write(text)
    def __getattr__(self, name):
        return getattr(self.stream, name)


sys.stdout = Out(sys.stdout)


def commit(self):
    out = real(self)
    sys.stdout.armed = True
    return out


outputs.OutputDir.commit = commit
from uniloss_ref.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_signal_after_the_commit_ends_a_completed_run_as_completed(tmp_path):
    out = tmp_path / "run"
    process = start(["-c", TERM_AFTER_COMMIT, "train", *TINY, "--quiet", "--out", str(out)])
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0 and stderr == ""
    assert stdout.startswith("test average precision: ")
    assert_complete_run(out)


def test_reproduce_counts_a_saved_completed_run_whatever_its_exit_status(tmp_path):
    # Each train child commits a completed run, then its process ends with status 143.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys\n"
        "if 'train' in sys.argv:\n"
        "    from uniloss_ref.experiments import outputs\n"
        "    real = outputs.OutputDir.commit\n"
        "    def commit(self):\n"
        "        real(self)\n"
        "        os._exit(143)\n"
        "    outputs.OutputDir.commit = commit\n"
    )
    out = tmp_path / "repro"
    argv = ["--tasks", "ap", "--seeds", "1", "--jobs", "2", "--epochs", "1", "--n-train", "100"]
    process = start(
        ["-m", "uniloss_ref", "reproduce", *argv, "--n-test", "50", "--out", str(out)],
        env=dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{ROOT}", OPENBLAS_NUM_THREADS="1"),
    )
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    summary = json.loads((out / "results.json").read_text())
    assert [r["status"] for r in summary["runs"]] == ["completed"] * 5


def wait_until(condition, seconds=30.0):
    """Poll ``condition`` until it holds (a liveness wait, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def running(pid):
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


@needs_proc
@pytest.mark.slow
def test_the_train_runs_of_a_killed_reproduce_end_with_it(tmp_path, capsys):
    out = tmp_path / "repro"
    argv = ["--tasks", "ap", "--seeds", "1", "--jobs", "2", "--epochs", "1000", "--n-train", "200"]
    process = start(["-m", "uniloss_ref", "reproduce", *argv, "--n-test", "50", "--out", str(out)])
    mine = lambda: [p for p in processes_mentioning(str(tmp_path)) if p != process.pid]
    assert wait_until(lambda: len(mine()) == 2, 120), "no train run started"
    children = mine()
    process.kill()
    process.communicate(timeout=60)
    assert wait_until(lambda: not any(running(p) for p in children)), "a train run lives on"
    # The claim died with it: a new reproduction may start, and tidies the leftovers.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            reproduce,
            "execute",
            lambda runs, jobs, root=None: ([reproduce.NOT_RUN] * len(runs), True),
        )
        status, stderr = cli(["reproduce", "--tasks", "ap", "--out", str(out)], capsys)
    assert status == 130, stderr
    assert leftovers(tmp_path) == []


HANGING_PORT = """
import os, time

def port(case):
    open(os.environ["PORT_STARTED"], "w").close()
    time.sleep(600)
"""


@needs_proc
def test_the_checkers_worker_ends_with_a_killed_checker(tmp_path):
    (tmp_path / "hanging_port.py").write_text(HANGING_PORT)
    spec = f"{tmp_path / 'hanging_port.py'}:port"
    started = tmp_path / "started"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PORT_STARTED=str(started))
    process = start(
        ["-m", "uniloss_ref", "conformance", "verify", spec, "--timeout", "600"], env=env
    )
    assert wait_until(started.exists, 120), "the port was never called"
    (pid,) = [p for p in processes_mentioning(spec) if p != process.pid]
    process.kill()
    process.communicate(timeout=60)
    assert wait_until(lambda: not running(pid)), "the worker lives on"


ESCAPING_PORT = """
import os, time

def port(case):
    if os.fork() == 0:  # a process in a session of its own, holding the worker's pipes
        os.setsid()
        with open(os.environ["ESCAPED_PID"], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(120)
        with open(os.environ["ESCAPED_PID"] + ".survived", "w") as f:
            f.write("survived")
        os._exit(0)
    time.sleep(600)
"""


@needs_proc
def test_the_checker_kills_a_port_process_that_left_its_group(tmp_path, monkeypatch):
    from uniloss_ref.conformance import verify

    (tmp_path / "escaping_port.py").write_text(ESCAPING_PORT)
    marker = tmp_path / "escaped"
    monkeypatch.setenv("ESCAPED_PID", str(marker))
    spec = f"{tmp_path / 'escaping_port.py'}:port"
    report = verify(spec, cases="ap/ordinary", timeout=2, load_timeout=120)
    assert not report.passed
    assert "did not finish this case within 2 s" in report.format()
    pid = int(marker.read_text())
    assert wait_until(lambda: not running(pid)), "it lives on"  # SIGKILL takes a moment
    assert not Path(f"{marker}.survived").exists()  # killed, not left to finish its sleep


NOISY_PORT = """
import os, sys

def port(case):
    line = "x" * 1023 + "\\n"
    for _ in range(50 * 1024):  # 50 MiB
        sys.stderr.write(line)
    sys.stderr.write("the last words\\n")
    sys.stderr.flush()
    os._exit(3)
"""


def test_the_checker_keeps_only_the_end_of_a_ports_stderr(tmp_path):
    from uniloss_ref.conformance import verify

    (tmp_path / "noisy_port.py").write_text(NOISY_PORT)
    tracemalloc.start()
    try:
        report = verify(f"{tmp_path / 'noisy_port.py'}:port", cases="ap/ordinary")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "exited with status 3; its last output: the last words" in report.format()
    # The port wrote 50 MiB; the peak is the vectors file read as Python objects (a 1 MB
    # file, about 4.2 MiB) and the kept end of the output.
    assert peak < 8 * 2**20


# --------------------------------------------------------------------------- whole inputs


def write_zeros_npz(path, members, method=zipfile.ZIP_DEFLATED):
    """An archive whose members are ``.npy`` headers followed by runs of zero bytes."""
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, (header, nbytes) in members.items():
            info = zipfile.ZipInfo(f"{name}.npy")
            info.compress_type = method
            with archive.open(info, "w", force_zip64=True) as member:
                member.write(header)
                for start in range(0, nbytes, 2**20):
                    member.write(b"\0" * min(2**20, nbytes - start))
    return path


def traced_peak(function):
    tracemalloc.start()
    try:
        try:
            function()
        finally:
            peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak


def test_an_npz_is_capped_as_a_whole_before_anything_is_unpacked(tmp_path):
    # Two arrays of 24 MiB, each under a 32 MiB cap, together (with the inputs as floats)
    # far above it: refused from the headers, having unpacked neither.
    n = 24 * 2**20
    path = write_zeros_npz(
        tmp_path / "two.npz",
        {
            "X_train": (npy_header((n // 8, 1)), n),
            "y_train": (npy_header((n // 8,), "<i8"), n),
            "X_test": (npy_header((1, 1)), 8),
            "y_test": (npy_header((1,), "<i8"), 8),
        },
    )
    assert path.stat().st_size < 2**20

    def load():
        with pytest.raises(ValueError, match=r"its arrays together.*above the limit of 32\.0 MiB"):
            load_npz(path, max_bytes=32 * 2**20)

    assert traced_peak(load) < 2**20


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    # 40 MiB of uint8 images deflated to about 40 KiB; as float64 they would take 320 MiB.
    n = 40 * 2**20
    path = write_zeros_npz(
        tmp_path / "bomb.npz",
        {"X": (npy_header((n // 64, 64), "|u1"), n), "y": (npy_header((n // 64,), "<i8"), n // 8)},
    )
    assert path.stat().st_size < 2**17

    def load():
        with pytest.raises(ValueError, match=r"X as float64 would take 320\.0 MiB"):
            load_npz(path, max_bytes=64 * 2**20)

    assert traced_peak(load) < 2**20


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["bzip2", "lzma"])
def test_an_npz_compressed_with_another_method_is_refused_clearly(tmp_path, capsys, method):
    path = tmp_path / "other.npz"
    write_npz(path, {"X": npy(np.zeros((20000, 8))), "y": npy(np.arange(20000) % 2)}, method)
    out = tmp_path / "run"
    status, stderr = cli(["train", *TINY, "--data", str(path), "--out", str(out)], capsys)
    assert status == 2
    name = "bzip2" if method == zipfile.ZIP_BZIP2 else "LZMA"
    assert_one_line(stderr, f"array 'X' is compressed with {name}", "np.savez_compressed")
    assert not out.exists()


def test_ranking_metrics_evaluate_a_large_split_in_memory_proportional_to_it():
    from uniloss_ref.metrics import AveragePrecision, RocAuc

    rng = np.random.default_rng(0)
    n = 200_000  # P x N = 3.6e9 pairs: the pairwise form needed 3.4 GiB
    scores, labels = rng.normal(size=n), (rng.random(n) < 0.1).astype(int)
    for metric in (AveragePrecision(), RocAuc()):
        assert traced_peak(lambda m=metric: m.evaluate(scores, labels)) < 64 * n
    small = rng.integers(0, 4, size=400).astype(float)  # many ties, counted against
    y = (rng.random(400) < 0.3).astype(int)
    above = (small[None, y == 0] >= small[y == 1, None]).sum(axis=1)
    k = np.arange(1, above.size + 1)
    assert AveragePrecision().evaluate(small, y) == pytest.approx(
        np.mean(k / (k + np.sort(above))), rel=1e-12
    )
    wins = (small[y == 1, None] > small[None, y == 0]).mean()
    assert RocAuc().evaluate(small, y) == pytest.approx(wins, rel=1e-12)


def test_pck_evaluates_a_split_larger_than_its_chunk_like_the_oracle():
    from tests import oracles
    from uniloss_ref.metrics import PCK, KeypointTargets

    rng = np.random.default_rng(1)
    n, joints, size = 1100, 2, 32  # 2**20 pixels per chunk: three chunks
    heatmaps = rng.normal(size=(n, joints, size, size))
    xy = rng.uniform(-2, size + 1, size=(n, joints, 2))
    visible = rng.random((n, joints)) < 0.9
    scale = rng.uniform(2, 6, size=n)
    targets = KeypointTargets(xy, visible, scale, (size, size))
    expected = oracles.pck(heatmaps, xy, visible, scale, 0.5)
    assert PCK(0.5).evaluate(heatmaps, targets) == pytest.approx(expected, rel=1e-12)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_refused_by_type_not_read(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    verify_argv = ["conformance", "verify", "uniloss_ref.conformance.reference:reference_port"]
    for path, kind in [(fifo, "a FIFO (named pipe)"), ("/dev/zero", "a character device")]:
        if not os.path.exists(path):
            continue
        status, stderr = cli([*verify_argv, "--vectors", str(path)], capsys)
        assert status == 2
        assert_one_line(stderr, f"vectors file {path} is {kind}, not a regular file")
    npz_fifo = tmp_path / "fifo.npz"
    os.mkfifo(npz_fifo)
    status, stderr = cli(["train", *TINY, "--data", str(npz_fifo), "--out", "x"], capsys)
    assert status == 2
    assert_one_line(stderr, f"npz file {npz_fifo} is a FIFO (named pipe), not a regular file")
    with pytest.raises(ValueError, match=r"IDX file .* is a FIFO"):
        read_idx(fifo)


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--timeout", "1e10"),
        ("--timeout", "1e308"),
        ("--timeout", "inf"),
        ("--timeout", "nan"),
        ("--timeout", "0"),
        ("--load-timeout", "1e10"),
    ],
)
def test_time_limits_must_be_finite_and_sane(capsys, flag, value):
    argv = ["conformance", "verify", "uniloss_ref.conformance.reference:reference_port"]
    status, stderr = cli([*argv, flag, value], capsys)
    assert status == 2
    assert_one_line(stderr, f"argument {flag}: expected a positive number of seconds, at most")


def test_a_time_limit_too_long_is_refused_by_the_api():
    from uniloss_ref.conformance import verify

    with pytest.raises(ValueError, match=r"timeout must be a positive number of seconds"):
        verify("uniloss_ref.conformance.reference:reference_port", timeout=1e10)


# --------------------------------------------------------------------------- more one-line errors


def test_a_deeply_nested_vectors_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000)
    argv = ["conformance", "verify", "uniloss_ref.conformance.reference:reference_port"]
    status, stderr = cli([*argv, "--vectors", str(path)], capsys)
    assert status == 2
    assert_one_line(stderr, "is nested too deeply")


INTERRUPT_WHILE_IMPORTING = """
import runpy, sys

class Interrupt:  # Ctrl-C while the command line imports its commands
    def find_spec(self, name, path=None, target=None):
        if name == "uniloss_ref.experiments.reproduce":
            raise KeyboardInterrupt
        return None

import uniloss_ref
sys.meta_path.insert(0, Interrupt())
sys.argv = ["uniloss_ref", "check"]
runpy.run_module("uniloss_ref", run_name="__main__", alter_sys=True)
"""


INTERRUPT_WHILE_IMPORTING_THE_PACKAGE = """
import runpy, sys

class Interrupt:  # Ctrl-C while `python -m uniloss_ref` imports the package itself
    def find_spec(self, name, path=None, target=None):
        if name == "uniloss_ref.surrogate":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = ["-m", "check"]  # as Python sets it while it locates the module
import uniloss_ref
"""


def test_ctrl_c_while_the_package_loads_under_python_m_is_one_line():
    process = start(["-c", INTERRUPT_WHILE_IMPORTING_THE_PACKAGE])
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert_one_line(stderr, "python -m uniloss_ref: interrupted while starting")


def test_ctrl_c_while_the_commands_load_is_one_line():
    process = start(["-c", INTERRUPT_WHILE_IMPORTING])
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert_one_line(stderr, "python -m uniloss_ref: interrupted while starting")


@pytest.mark.parametrize("where", ["under a file", "/proc"])
def test_a_chapter_whose_out_cannot_hold_figures_stops_before_its_work(tmp_path, where):
    if where == "/proc":
        if not Path("/proc/self").exists():
            pytest.skip("needs /proc")
        out = "/proc/uniloss-figures"
    else:
        (tmp_path / "file").write_text("x")
        out = str(tmp_path / "file" / "figures")
    chapter = ROOT / "chapters" / "01_metric_as_comparisons.py"
    process = start([str(chapter), "--quick", "--out", out])
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 2
    assert_one_line(stderr, f"--out {out} cannot hold the figures")
    assert stdout == ""  # no cell ran


def test_a_chapter_figure_that_cannot_be_saved_is_one_line(tmp_path, capsys):
    from matplotlib.figure import Figure

    from uniloss_ref.tutorial import Lesson

    (tmp_path / "file").write_text("x")
    lesson = Lesson(quick=True, out=tmp_path / "file", script=True)
    with pytest.raises(SystemExit) as exit_:
        lesson.show(Figure(), "figure.png")
    assert exit_.value.code == 2
    assert_one_line(capsys.readouterr().err, "error: cannot save", "figure.png")
    with pytest.raises(OSError):  # in a notebook or under the tests: the exception
        Lesson(quick=True, out=tmp_path / "file").show(Figure(), "figure.png")


# --------------------------------------------------------------------------- smaller, again


@pytest.mark.parametrize(
    "anchors, reason",
    [
        ("bad=1000", "would draw 1114 anchors per batch"),  # with truth, good, nearby, current, row
        ("row=1010", "would draw 1156 anchors per batch"),
        ("bad=1025", "asks for 1025 anchors of kind bad"),
        ("truth=0,good=0,nearby=0,bad=0,current=0,row=0", "sum to 0"),
    ],
)
def test_anchor_counts_are_capped_with_the_tasks_defaults(tmp_path, capsys, anchors, reason):
    out = tmp_path / "run"
    argv = ["train", "--task", "accuracy", "--loss", "uniloss", "--anchors", anchors]
    status, stderr = cli([*argv, "--out", str(out)], capsys)
    assert status == 2
    assert_one_line(stderr, reason)
    assert os.listdir(tmp_path) == []


def test_an_out_that_is_a_mount_point_is_refused_before_training(tmpfs, monkeypatch, capsys):
    monkeypatch.setattr(training, "prepare", lambda config: pytest.fail("trained anyway"))
    status, stderr = cli(["train", *TINY, "--out", str(tmpfs)], capsys)
    assert status == 2
    assert_one_line(stderr, f"--out {tmpfs} is a mount point")
    assert os.listdir(tmpfs) == []


def test_debug_shows_the_traceback_of_an_error_train_handles(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    argv = ["train", *TINY, "--out", str(tmp_path / "file")]
    status, stderr = cli(["--debug", *argv], capsys)
    assert status == 2
    assert stderr.startswith("Traceback") and "ValueError" in stderr
    assert stderr.splitlines()[-1].endswith("exists and is not a directory")
    status, stderr = cli(argv, capsys)
    assert status == 2 and "Traceback" not in stderr
