"""MNIST and Fashion-MNIST from IDX files on disk, never from the network.

The IDX format (Y. LeCun's, used by both datasets) is a header followed by raw
big-endian data::

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4 * d       each dimension as a big-endian uint32
    ...         prod(dims) values, row-major

Files may be gzip-compressed (recognised by their content, whatever their name).
Debian's ``dataset-fashion-mnist`` package installs the four gzipped Fashion-MNIST
files in :data:`DEBIAN_FASHION_MNIST_DIR`; MNIST has no Debian package, so it needs
an explicit directory.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import DTypeLike

from uniloss_ref.experiments.data.splits import Dataset, float_dtype
from uniloss_ref.experiments.inputs import open_regular

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

IDX_FILES = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

IDX_CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}

_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


MAX_DATA_BYTES = 4 * 2**30
"""Default cap, in bytes, on one array a loader allocates (4 GiB): checked against the
file's header before reading, so a corrupt or hostile header is refused instead of filling
the memory. Pass ``max_bytes=`` to the loaders for larger data."""

GZIP_MAX_RATIO = 1032
"""Most bytes one compressed byte of a deflate stream can unpack to (a run of one value):
a gzip file of ``m`` bytes holds less than ``1032 * m`` bytes of data."""

_CHUNK = 1 << 20


def _size(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{nbytes} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_size(path: Path, what: str, nbytes: int, max_bytes: int) -> None:
    """Refuse to allocate ``nbytes`` for ``what`` of ``path`` if above ``max_bytes``."""
    if nbytes > max_bytes:
        raise ValueError(
            f"{path}: {what} would take {_size(nbytes)} of memory, above the limit of "
            f"{_size(max_bytes)}; if the file is genuine, pass a larger max_bytes="
        )


def _gzip_error(path: Path, err: BaseException) -> ValueError:
    return ValueError(
        f"{path}: the gzip stream is truncated or corrupt ({err}); download the file again"
    )


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes: fewer only at the end of the stream."""
    parts, left = [], n
    while left:
        part = stream.read(min(left, _CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _read_into(stream: BinaryIO, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``stream`` chunk by chunk; the number of bytes read."""
    done = 0
    while done < len(buffer):
        got = stream.readinto(buffer[done : done + _CHUNK])
        if not got:
            break
        done += got
    return done


def read_idx(path: str | os.PathLike, *, max_bytes: int = MAX_DATA_BYTES) -> np.ndarray:
    """Read one IDX file, plain or gzip-compressed.

    The header is read and checked first, against the size of the file (or, for a gzip
    file, the most its compressed size can unpack to) and against ``max_bytes``; only then
    is the data allocated and read, in chunks, and a gzip stream is never unpacked further
    than the header declares (plus one byte, to find an overlong file).

    Parameters
    ----------
    path : str or path-like
        The file.
    max_bytes : int, default :data:`MAX_DATA_BYTES`
        Largest data the header may declare.

    Returns
    -------
    ndarray of shape dims
        In native byte order, with the file's element type.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a regular file (a FIFO or a device), the magic number is wrong, the
        data is shorter or longer than the header declares (a truncated or corrupt file),
        the header declares more data than the file can hold or than ``max_bytes``, or the
        gzip stream is corrupt.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"IDX file {path} does not exist")
    with open_regular(path, "IDX file") as raw:
        file_size = os.fstat(raw.fileno()).st_size
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            return _read_idx_stream(path, stream, file_size, compressed, max_bytes)
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise _gzip_error(path, err) from err
        except OSError as err:
            if compressed:
                raise _gzip_error(path, err) from err
            raise


def _read_idx_stream(
    path: Path, stream: BinaryIO, file_size: int, compressed: bool, max_bytes: int
) -> np.ndarray:
    magic = _read_up_to(stream, 4)
    if len(magic) < 4:
        raise ValueError(
            f"{path}: file is truncated: {len(magic)} bytes, shorter than the 4-byte IDX "
            "magic number"
        )
    code, ndim = magic[2], magic[3]
    if magic[:2] != b"\x00\x00" or code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"{path}: not an IDX file: magic number 0x{magic.hex()}; expected 0x0000 "
            f"followed by a type code ({', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)}) "
            "and the number of dimensions (e.g. 0x00000803 for an image file)"
        )
    dtype = _IDX_DTYPES[code]
    header = 4 + 4 * ndim
    dims_raw = _read_up_to(stream, 4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise ValueError(
            f"{path}: file is truncated inside its header: {4 + len(dims_raw)} bytes, "
            f"expected at least {header} for {ndim} dimensions"
        )
    dims = struct.unpack(f">{ndim}I", dims_raw)
    count = math.prod(dims)
    expected = count * dtype.itemsize
    declared = f"the header declares shape {dims} of {dtype.name}, i.e. {expected} data bytes"
    if not compressed and file_size - header != expected:
        found = file_size - header
        problem = "truncated" if found < expected else "longer than its header declares"
        raise ValueError(
            f"{path}: file is {problem}: {declared}, but the file holds {found}; download "
            "the file again"
        )
    if compressed and expected + header > GZIP_MAX_RATIO * file_size:
        raise ValueError(
            f"{path}: file is corrupt: {declared}, more than a gzip file of {file_size} bytes "
            "can hold; download the file again"
        )
    check_size(
        path, f"the data its header declares (shape {dims} of {dtype.name})", expected, max_bytes
    )
    data = np.empty(count, dtype=dtype)
    found = _read_into(stream, memoryview(data.view(np.uint8)))
    if found < expected:
        raise ValueError(
            f"{path}: file is truncated: {declared}, but the file holds {found}; download "
            "the file again"
        )
    if stream.read(1):
        raise ValueError(
            f"{path}: file is longer than its header declares: {declared}, but the file "
            "holds more; download the file again"
        )
    return data.reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def _how_to_get(name: str) -> str:
    if name == "fashion-mnist":
        return (
            "Install Debian's package (`sudo apt-get install dataset-fashion-mnist`, which puts "
            f"the files in {DEBIAN_FASHION_MNIST_DIR}), or pass data_dir= (--data-dir on the "
            "command line) naming a directory that holds them"
        )
    return (
        "MNIST has no default location: download the four files of the MNIST database and "
        "pass their directory as data_dir= (--data-dir on the command line)"
    )


def _locate(name: str, data_dir: str | os.PathLike | None) -> dict[str, Path]:
    wanted = ", ".join(f"{stem}[.gz]" for stem in IDX_FILES.values())
    if data_dir is None:
        if name == "mnist":
            raise FileNotFoundError(
                f"MNIST needs a data directory with {wanted}. {_how_to_get(name)}"
            )
        directory = DEBIAN_FASHION_MNIST_DIR
    else:
        directory = Path(data_dir)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"{name} data directory {directory} does not exist; expected a directory with "
            f"{wanted}. {_how_to_get(name)}"
        )
    found, missing = {}, []
    for key, stem in IDX_FILES.items():
        candidates = [directory / stem, directory / f"{stem}.gz"]
        existing = [p for p in candidates if os.path.lexists(p)]  # read_idx checks the kind
        if existing:
            found[key] = existing[0]
        else:
            missing.append(f"{stem}[.gz]")
    if missing:
        raise FileNotFoundError(
            f"{name} data directory {directory} lacks {', '.join(missing)}. {_how_to_get(name)}"
        )
    return found


def load_idx(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    dtype: DTypeLike = np.float64,
    max_bytes: int = MAX_DATA_BYTES,
) -> Dataset:
    """Load MNIST or Fashion-MNIST from the four standard IDX files.

    Parameters
    ----------
    name : {'mnist', 'fashion-mnist'}
        Which dataset; it sets the class names and where to look by default.
    data_dir : str or path-like, optional
        Directory holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each possibly with
        a ``.gz`` suffix (the plain file wins when both exist). Defaults to
        :data:`DEBIAN_FASHION_MNIST_DIR` for Fashion-MNIST; required for MNIST.
    dtype : numpy floating dtype, default float64
        Element type of the images.
    max_bytes : int, default :data:`MAX_DATA_BYTES`
        Largest array to allocate (a file's data, or its images as ``dtype``); checked
        before the allocation.

    Returns
    -------
    Dataset
        ``X_*`` of shape ``(n, 1, 28, 28)`` scaled from 0..255 to [0, 1]; ``y_*`` of
        shape ``(n,)``, int64 in 0..9; the standard 60000/10000 train/test split and an
        empty validation split.

    Raises
    ------
    FileNotFoundError
        If the directory or a file is missing; the message says how to get the data.
    ValueError
        If a file is not valid IDX, image and label counts differ, the contents are not
        8-bit images with labels 0..9, or an array would exceed ``max_bytes``.
    """
    if name not in IDX_CLASS_NAMES:
        raise ValueError(f"name must be one of {sorted(IDX_CLASS_NAMES)}, got {name!r}")
    dtype = float_dtype(dtype)
    paths = _locate(name, data_dir)
    class_names = IDX_CLASS_NAMES[name]
    arrays = {}
    for split in ("train", "test"):
        images_path, labels_path = paths[f"X_{split}"], paths[f"y_{split}"]
        images = read_idx(images_path, max_bytes=max_bytes)
        labels = read_idx(labels_path, max_bytes=max_bytes)
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(
                f"{images_path}: expected 8-bit images of shape (n, rows, cols), "
                f"got {images.dtype.name} of shape {images.shape}"
            )
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"{labels_path}: expected a 1-D array of integer labels, "
                f"got {labels.dtype.name} of shape {labels.shape}"
            )
        if len(images) != len(labels):
            raise ValueError(
                f"{images_path} holds {len(images)} images but {labels_path} holds "
                f"{len(labels)} labels; expected one label per image"
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise ValueError(
                f"{labels_path}: labels range over {labels.min()}..{labels.max()}, "
                f"expected 0..{len(class_names) - 1}"
            )
        check_size(
            images_path, f"the images as {dtype.name}", images.size * dtype.itemsize, max_bytes
        )
        arrays[f"X_{split}"] = np.divide(images[:, None], 255, dtype=dtype)
        arrays[f"y_{split}"] = labels.astype(np.int64)
    if arrays["X_train"].shape[1:] != arrays["X_test"].shape[1:]:
        raise ValueError(
            f"{paths['X_train']} holds images of shape {arrays['X_train'].shape[2:]} but "
            f"{paths['X_test']} holds {arrays['X_test'].shape[2:]}; expected the same size"
        )
    return Dataset.from_train_test(name, **arrays, class_names=class_names)
