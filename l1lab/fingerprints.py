"""What a golden file knows of a model it did not build by name, and of data it did not load by name.

A scenario of l1lab's own names its network (``"mlp"``, ``"ds-cnn"``) and its
images (``"mnist"``); the name decides them, and :mod:`l1lab.data` checks
the files' checksums. A scenario that brings its own model and data
(:class:`l1lab.suite.Scenario` with ``model=build, data=load``) is identified
by two fingerprints instead, stored with the golden file's configuration:

* :func:`model_architecture`: one line per layer, its type, the settings
  that change what it computes (units, filters, kernel size, strides,
  padding, activation, initialisers, regularizers) and its weights' shapes.
  Layer names are left out: Keras numbers unnamed layers by how many a
  process built before (``dense_7``).
* :func:`data_checksum`: per array, its dtype, shape and SHA-256.

Both are plain JSON (lists and strings), so a golden file's diff shows what
changed, and :func:`differences` names the first layer or the arrays that
differ.

NumPy only; the model is read through its attributes, in Keras 3 or 2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

# Layer settings that change what a layer computes, where the layer has them.
_SETTINGS = (
    "units",
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "dilation_rate",
    "depth_multiplier",
    "pool_size",
    "rate",
    "axis",
    "momentum",
    "epsilon",
    "center",
    "scale",
    "use_bias",
    "target_shape",
    "data_format",
)
_CALLABLES = (
    "activation",
    "kernel_initializer",
    "bias_initializer",
    "depthwise_initializer",
    "pointwise_initializer",
    "gamma_initializer",
    "beta_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "depthwise_regularizer",
    "activity_regularizer",
)


def _describe_callable(value) -> str:
    name = getattr(value, "__name__", None) or type(value).__name__
    config = getattr(value, "get_config", None)
    if not callable(config) or getattr(value, "__name__", None):
        return name
    # Initialisers' seeds vary with the run's seed; what they draw from is the class and its scale.
    settings = {k: v for k, v in config().items() if k != "seed" and isinstance(v, (int, float, str, bool))}
    return name + ("(" + ", ".join(f"{k}={settings[k]!r}" for k in sorted(settings)) + ")" if settings else "")


def _setting(value) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return repr(value)


def _axes(layer, axis):
    """Axes as non-negative positions: Keras 3 keeps BatchNorm's ``-1``, Keras 2 its ``[3]``."""
    axes = [int(a) for a in axis] if isinstance(axis, (list, tuple)) or hasattr(axis, "__iter__") else [int(axis)]
    try:
        rank = len(layer.input.shape)
    except (AttributeError, ValueError):  # a layer never called: as given
        return axes
    return [a % rank for a in axes]


def layer_line(index: int, layer) -> str:
    """``"2 Dense units=64 activation=relu ... weights=[(784, 64), (64,)]"``: one layer's fingerprint."""
    parts = [str(index), type(layer).__name__]
    for name in _SETTINGS:
        if getattr(layer, name, None) is not None and not callable(getattr(layer, name)):
            value = _axes(layer, getattr(layer, name)) if name == "axis" else getattr(layer, name)
            parts.append(f"{name}={_setting(value)}")
    # Keras 2's depthwise convolution carries a convolution's unused kernel initialiser.
    unused = ("kernel_initializer", "kernel_regularizer") if hasattr(layer, "depthwise_initializer") else ()
    for name in _CALLABLES:
        value = None if name in unused else getattr(layer, name, None)
        if value is not None:
            parts.append(f"{name}={_describe_callable(value)}")
    shapes = ", ".join(str(tuple(int(d) for d in w.shape)) for w in layer.weights)
    parts.append(f"weights=[{shapes}]")
    return " ".join(parts)


def model_architecture(model) -> list[str]:
    """The model's input shape, then one :func:`layer_line` per layer.

    Args:
      model: a built Keras model (Keras 3 or 2).

    Returns:
      ``["input (28, 28, 1)", "0 Conv2D filters=8 ...", ...]``: equal for two
      models that compute the same function of their weights, Sequential or
      functional, in Keras 3 or 2.
    """
    shape = tuple(None if d is None else int(d) for d in model.inputs[0].shape[1:])
    # A functional model lists its InputLayer, a Sequential one does not: the input line stands for both.
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    return [f"input {shape}"] + [layer_line(i, layer) for i, layer in enumerate(layers)]


def array_checksum(array) -> str:
    """``"float32 (1000, 784) sha256:<16 hex digits>"`` of an array's values."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(array.tobytes()).hexdigest()[:16]
    return f"{array.dtype} {tuple(int(d) for d in array.shape)} sha256:{digest}"


def data_checksum(arrays: Mapping[str, object]) -> dict[str, str]:
    """``{name: array_checksum(array)}`` for named arrays (``x_train``, ``y_train``, ...)."""
    return {name: array_checksum(array) for name, array in arrays.items()}


def differences(name: str, on_file, now) -> str:
    """What differs between two fingerprints of the same kind, in one phrase.

    Args:
      name: the field (``modelArchitecture``, ``dataChecksum``).
      on_file: the golden file's fingerprint (None: l1lab's own by name).
      now: the scenario's.
    """
    if on_file is None or now is None:
        said = {True: "none (a model or data of l1lab's, by name)", False: "one"}
        return f"{name}: file {said[on_file is None]}, scenario {said[now is None]}"
    if isinstance(on_file, Mapping) and isinstance(now, Mapping):
        changed = [k for k in sorted(set(on_file) | set(now)) if on_file.get(k) != now.get(k)]
        return f"{name}: " + "; ".join(f"{k} file {on_file.get(k)!r}, scenario {now.get(k)!r}" for k in changed)
    if isinstance(on_file, Sequence) and isinstance(now, Sequence):
        for i, (was, is_now) in enumerate(zip(on_file, now)):
            if was != is_now:
                return f"{name}: line {i}: file {was!r}, scenario {is_now!r}"
        return f"{name}: file has {len(on_file)} lines, scenario {len(now)}"
    return f"{name}: file {on_file!r}, scenario {now!r}"
