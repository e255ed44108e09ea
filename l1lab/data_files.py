"""MNIST's and Fashion-MNIST's files: checksums, IDX parsing, Keras's npz.

Every file is checked against its SHA-256 before it is parsed (for ``.gz``
files, the checksum of the decompressed content, which is the one MNIST
publishes); a truncated or altered file is refused with an error naming it.
Where the files come from is :mod:`l1lab.data_sources`; how they are split is
:mod:`l1lab.data`. NumPy only.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

MNIST_SHA256: Mapping[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    # Keras's own copy, as `keras.datasets.mnist.load_data()` downloads it.
    "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
}

# Zalando's Fashion-MNIST (same IDX layout and sizes, ten kinds of clothing): the SHA-256 of
# each file's content, as Debian's dataset-fashion-mnist (0.0~git20200523.55506a9-1) ships it.
FASHION_MNIST_SHA256: Mapping[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

_IDX_UBYTE = 0x08


class DataError(Exception):
    """Base class of l1lab's data errors."""


class ChecksumError(DataError):
    """A data file is not the file it claims to be (truncated or altered)."""


class IdxFormatError(DataError):
    """A file is not a well-formed IDX file of unsigned bytes."""


class DataUnavailableError(DataError):
    """No source could provide MNIST; the message lists every attempt."""


@dataclasses.dataclass(frozen=True)
class MnistArrays:
    """MNIST as its two files hold it: uint8 images (N, 28, 28) and labels (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


# --------------------------------------------------------------------------
# Files: checksums and IDX parsing


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_verified(path: Path, expected_sha256: str | None) -> bytes:
    """The bytes of ``path`` (decompressed when it ends in ``.gz``), checked.

    Raises :class:`ChecksumError` naming the file when the SHA-256 of the
    content differs from ``expected_sha256`` (``None`` skips the check).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if expected_sha256 is not None:
        actual = sha256_hex(data)
        if actual != expected_sha256:
            raise ChecksumError(
                f"{path}: SHA-256 {actual} does not match the expected "
                f"{expected_sha256} (truncated or altered file; delete it and "
                "fetch it again)"
            )
    return data


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parses an IDX file of unsigned bytes (MNIST's format) into an array."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IdxFormatError(f"{name}: not an IDX file (bad magic number)")
    if data[2] != _IDX_UBYTE:
        raise IdxFormatError(f"{name}: IDX element type 0x{data[2]:02x} is not unsigned byte")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise IdxFormatError(f"{name}: IDX header is truncated")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        raise IdxFormatError(f"{name}: IDX header promises {expected} bytes for shape {shape}, file has {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


# Each data set's files, by checksum, and the flag that reads them: which one a file that is not
# the expected data set's belongs to.
_CHECKSUMS = (
    ("MNIST's", MNIST_SHA256, "--dataset mnist"),
    ("Fashion-MNIST's", FASHION_MNIST_SHA256, "--dataset fashion-mnist"),
)


def read_idx(path: Path, expected_sha256: str | None) -> np.ndarray:
    """An IDX file, checked against its SHA-256.

    Raises:
      ChecksumError: the content differs; a whole IDX file (its header and size
        agree) is said to be another data set in MNIST's format (Fashion-MNIST's
        files have MNIST's names and shapes), not a damaged one.
      IdxFormatError: not an IDX file.
    """
    path = Path(path)
    try:
        return parse_idx(read_verified(path, expected_sha256), str(path))
    except ChecksumError as mismatch:
        try:
            data = read_verified(path, None)
            array = parse_idx(data, str(path))
        except DataError:
            raise mismatch from None  # truncated or altered: the checksum's message says so
        wanted, _, flag = next((entry for entry in _CHECKSUMS if expected_sha256 in entry[1].values()), _CHECKSUMS[0])
        actual = sha256_hex(data)
        for name, sums, other_flag in _CHECKSUMS:
            if name != wanted and actual in sums.values():
                raise ChecksumError(
                    f"{path} is {name} file, not {wanted}: pass {other_flag} to train on it, or point --data-dir "
                    f"at {wanted} files"
                ) from None
        raise ChecksumError(
            f"{path}: a whole IDX file of shape {array.shape} whose content is not {wanted} (its SHA-256 differs): "
            f"another data set in the same format, or {wanted} file altered. Point --data-dir at {wanted} own "
            f"files ({flag}), or leave it out"
        ) from None


def idx_path(directory: Path, basename: str) -> Path | None:
    for candidate in (directory / basename, directory / f"{basename}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _checked_pair(images: np.ndarray, labels: np.ndarray, what: str) -> None:
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise IdxFormatError(f"{what}: images {images.shape} and labels {labels.shape} do not belong together")
    if labels.size and labels.max() > 9:
        raise IdxFormatError(f"{what}: label {int(labels.max())} is not a digit")


def load_idx_dir(directory: Path, checksums: Mapping[str, str] | None = MNIST_SHA256) -> MnistArrays:
    """The four MNIST IDX files of ``directory`` (each raw or ``.gz``).

    ``checksums`` maps each file's base name to the SHA-256 of its content;
    ``None`` skips the check (only for data you made yourself).
    """
    directory = Path(directory)
    arrays = {}
    missing = []
    for key, basename in IDX_FILES.items():
        path = idx_path(directory, basename)
        if path is None:
            missing.append(basename)
            continue
        expected = None if checksums is None else checksums[basename]
        arrays[key] = read_idx(path, expected)
    if missing:
        raise DataError(f"{directory}: missing {', '.join(missing)} (raw or .gz)")
    _checked_pair(arrays["train_images"], arrays["train_labels"], f"{directory} train files")
    _checked_pair(arrays["test_images"], arrays["test_labels"], f"{directory} t10k files")
    return MnistArrays(**arrays, source=f"IDX files in {directory}")


def load_npz(path: Path, expected_sha256: str | None = MNIST_SHA256["mnist.npz"]) -> MnistArrays:
    """Keras's ``mnist.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``)."""
    import io

    path = Path(path)
    data = read_verified(path, expected_sha256)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = MnistArrays(
                train_images=npz["x_train"],
                train_labels=npz["y_train"],
                test_images=npz["x_test"],
                test_labels=npz["y_test"],
                source=f"{path}",
            )
    except (KeyError, ValueError, OSError) as exc:
        raise IdxFormatError(f"{path}: not a Keras MNIST npz ({exc})") from exc
    _checked_pair(arrays.train_images, arrays.train_labels, f"{path} train arrays")
    _checked_pair(arrays.test_images, arrays.test_labels, f"{path} test arrays")
    return arrays


# --------------------------------------------------------------------------
# The article's split
