"""A model file as the edge commands read it: what it is, which Keras wrote it, and whether they can take it.

Every refusal is one line that names the file, what is wrong and what to do,
said before any long work (:class:`ModelFileError`). Keras's own errors on a
damaged file ("File not found" for a truncated archive) or an unknown class
(the whole model's config, kilobytes long) are replaced by what they mean.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from l1lab._compat import KERAS_MAJOR, KERAS_VERSION, LEGACY_KERAS_REQUESTED, keras
from l1lab.model import shaped_for

__all__ = ["ModelFileError", "check_model", "check_inputs", "load", "saved_by"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# The images the check runs on when a model does not read MNIST's 784 pixels.
RANDOM_CHECK_EXAMPLES = 1000


class ModelFileError(ValueError):
    """A model file the edge commands cannot take; the message names the file and the fix."""


def saved_by(path: str | os.PathLike) -> str | None:
    """The Keras version recorded in a ``.keras`` archive (``"3.15.1"``), or None if it records none."""
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = json.loads(archive.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return version if isinstance(version, str) else None


def _running_keras() -> str:
    return f"Keras {KERAS_VERSION}" + (" (tf_keras, TF_USE_LEGACY_KERAS=1)" if LEGACY_KERAS_REQUESTED else "")


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def _damage(path: Path) -> str | None:
    """What is wrong with the file before Keras reads it, or None if it looks like a ``.keras`` archive."""
    size = path.stat().st_size
    if size == 0:
        return "is empty"
    with open(path, "rb") as f:
        head = f.read(len(HDF5_SIGNATURE))
    if head == HDF5_SIGNATURE:
        if path.suffix == ".h5" or KERAS_MAJOR == 2:  # tf.keras 2.12 writes HDF5 for a .keras name, and reads it
            return None
        return "is an HDF5 file (a legacy .h5 model) named like a .keras archive: rename it to end in .h5"
    if path.suffix == ".h5":
        return "is not an HDF5 file: it is damaged or not a model"
    if not zipfile.is_zipfile(path):
        return f"is not a Keras archive (no zip directory in its {size} bytes): it is truncated, damaged or not a model"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            broken = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        return f"is a damaged zip archive ({exc})"
    if broken is not None:
        return f"is a damaged Keras archive: {broken} fails its checksum"
    if "config.json" not in names:
        return "is a zip archive but not a Keras model (it has no config.json)"
    return None


def _unknown_classes(path: Path) -> list[str]:
    """The classes a ``.keras`` archive's config names that neither Keras, l1lab nor a registration provides.

    Keras's own error for them is the whole model's config, kilobytes long, or
    an unrelated ``TypeError``, depending on the version.
    """
    import importlib.util

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return []
    saving = getattr(keras, "saving", None)
    get_custom_objects = getattr(saving, "get_custom_objects", None) or keras.utils.get_custom_objects
    registered = set(get_custom_objects())
    unknown = []

    def visit(node) -> None:
        if isinstance(node, dict):
            module, name = node.get("module"), node.get("class_name")
            if isinstance(module, str) and isinstance(name, str) and not _provided(module, name, node):
                unknown.append(name)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    def _provided(module: str, name: str, node: dict) -> bool:
        if module.split(".")[0] in ("keras", "tf_keras", "tensorflow", "builtins", "l1lab", "numpy"):
            return True
        if node.get("registered_name") in registered or name in registered:
            return True
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False

    visit(config)
    return list(dict.fromkeys(unknown))


def _major(version: str | None) -> int | None:
    match = re.match(r"(\d+)\.", version or "")
    return int(match.group(1)) if match else None


def load(path: str | os.PathLike):
    """The Keras model saved at ``path``, checked with :func:`check_model`.

    Raises:
      ModelFileError: not a file, an empty, truncated or random file, an ``.h5``
        file named ``.keras``, a file written by the other Keras (3 or 2), a
        class this process cannot build, or a model :func:`check_model` refuses.
    """
    from l1lab import optimizers  # noqa: F401  (registers l1lab's optimizers for loading)
    from l1lab.edge import select_features  # noqa: F401  (registers SelectFeatures for loading)

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file: save one with `l1lab train --save-model FILE.keras`")
    damage = _damage(path)
    if damage:
        raise ModelFileError(f"{path} {damage}")
    writer = saved_by(path)
    if _major(writer) in (2, 3) and _major(writer) != KERAS_MAJOR:
        if KERAS_MAJOR == 2:
            fix = "read it where Keras 3 runs (TensorFlow >= 2.16 with TF_USE_LEGACY_KERAS unset)"
        else:
            fix = "set TF_USE_LEGACY_KERAS=1 (pip install tf_keras)"
        raise ModelFileError(
            f"{path} was saved by Keras {writer}, and this process runs {_running_keras()}: "
            f"the formats differ; {fix} to read it"
        )
    unknown = _unknown_classes(path)
    if unknown:
        raise ModelFileError(
            f"{path} uses the class {unknown[0]!r}, which {_running_keras()} cannot build here (a custom or "
            "subclassed layer): import the module that registers it (@keras.saving.register_keras_serializable), "
            "or rebuild the model from Keras's own layers"
        )
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many kinds on a file it cannot read
        first_line = (str(exc).splitlines() or [""])[0]
        what = "an HDF5 file, but not a model Keras can read" if _is_hdf5(path) else "not a model Keras can read"
        raise ModelFileError(f"{path} is {what}: {type(exc).__name__}: {first_line[:300]}") from None
    check_model(model, str(path))
    return model


def check_model(model, name: str = "the model"):
    """Refuses a model the edge commands cannot take, before any work; returns it.

    Raises:
      ModelFileError: no defined input (an unbuilt ``Sequential``), more than one
        input or output, or a weight that is NaN or infinite (naming it).
    """
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)  # Keras 2: None; Keras 3 raises
    except (AttributeError, ValueError, TypeError) as exc:
        raise ModelFileError(
            f"{name} has no defined input ({type(exc).__name__}): it was saved before being built; give it an "
            "input (keras.Input(shape=...) first in the Sequential) or save it after training"
        ) from None
    if not inputs or not outputs:
        raise ModelFileError(f"{name} has no defined input or output: build it on keras.Input(shape=...)")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelFileError(
            f"{name} takes {len(inputs)} inputs and gives {len(outputs)} outputs: the edge commands take a model "
            "with one input and one output; save the part that maps the input to the output you ship"
        )
    for weight in model.weights:
        values = np.asarray(weight.numpy() if hasattr(weight, "numpy") else weight)
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            bad = "NaN" if np.isnan(values).any() else "infinite"
            label = getattr(weight, "path", None) or weight.name
            raise ModelFileError(
                f"{name} has a {bad} weight in {label} ({int(np.sum(~np.isfinite(values)))} of {values.size}): "
                "training diverged; train it again (a smaller --learning-rate)"
            )
    return model


def check_inputs(model, images: np.ndarray, source: str = "MNIST's test file") -> tuple[np.ndarray, str]:
    """``(x, what)``: the inputs a model's outputs are checked on (or calibrated on), and what they are.

    MNIST's images (from ``source``), reshaped to the model's input shape, when
    the model reads 784 values; otherwise uniform random values in the images'
    range, in the model's own shape (:data:`RANDOM_CHECK_EXAMPLES`, seed 0),
    since MNIST says nothing about such a model.
    """
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    images = np.asarray(images, np.float32)
    if int(np.prod(shape)) == int(np.prod(images.shape[1:])):
        return shaped_for(model, images), f"{source} ({len(images)} images)"
    top = float(images.max()) if images.size else 1.0
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, top, (RANDOM_CHECK_EXAMPLES, *shape)).astype(np.float32)
    return (
        x,
        f"{RANDOM_CHECK_EXAMPLES} random inputs of shape {shape} in [0, {top:g}] (the model does not read 784 pixels)",
    )
