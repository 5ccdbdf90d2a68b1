"""Fault injection: every failure ends in one line and a non-zero exit, and nothing is lost.

Disk full and write errors are simulated by patching the file writer (and, where the
machine allows mounting a tmpfs, by a real full or read-only file system); kills and
interrupts use real signals on subprocesses. Each case checks the one-line error and that
the earlier results in ``--out`` are byte for byte what they were.
"""

import errno
import gzip
import io
import json
import os
import signal
import struct
import subprocess
import sys
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
    assert sorted(os.listdir(out)) == ["curves.png", "results.json"]
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
    assert_one_line(stderr, "no uniloss_ref command writes (thesis.tex)")
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
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
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
    assert "| 90.00 (sd n/a) |" in table and "| +10.00 (sd n/a) |" in table
