"""Chooses the Keras flavour once, for the whole process.

Keras 3 is the default. With ``TF_USE_LEGACY_KERAS=1`` in the environment
(set before this module is imported), Keras 2 comes from the ``tf_keras``
package instead. On TensorFlow <= 2.15, Keras 2 is built in and is the only
choice: ``tf.keras`` is used whatever the variable says. Every other module of l1lab imports ``keras`` and ``tf``
from here and nowhere else.

The variable must be settled before TensorFlow is imported because
TensorFlow's ``tf.keras`` lazy loader reads it; this module writes back the
value it chose, so TensorFlow and l1lab never disagree.
"""

from __future__ import annotations

import os

_TRUTHY = {"1", "true", "yes", "on"}


def legacy_keras_requested(environ=os.environ) -> bool:
    """True when ``TF_USE_LEGACY_KERAS`` asks for Keras 2."""
    return environ.get("TF_USE_LEGACY_KERAS", "").strip().lower() in _TRUTHY


LEGACY_KERAS_REQUESTED = legacy_keras_requested()

os.environ["TF_USE_LEGACY_KERAS"] = "1" if LEGACY_KERAS_REQUESTED else "0"
# Keras 3 can run on other backends; l1lab's methods are TensorFlow's.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

TF_VERSION = tuple(int(part) for part in tf.__version__.split(".")[:2])

if TF_VERSION < (2, 16):
    # Keras 2 is built in, and its public API is tf.keras (a bare `import keras`
    # gives the TF1-compatible namespace, with the legacy optimizers).
    keras = tf.keras
elif LEGACY_KERAS_REQUESTED:
    try:
        import tf_keras as keras  # noqa: F401
    except ImportError:
        raise ImportError(
            "TF_USE_LEGACY_KERAS=1 asks for Keras 2, but the 'tf_keras' package "
            "is not installed. Fix: pip install 'l1lab[legacy]' (or tf_keras "
            "matching your TensorFlow), or unset TF_USE_LEGACY_KERAS."
        ) from None
else:
    import keras  # noqa: F401


def _keras_version() -> str:
    version = getattr(keras, "__version__", None)  # tf.keras of TF 2.15 is a lazy module without it
    if version is None:
        from importlib.metadata import version as installed_version

        version = installed_version("tf_keras" if keras.__name__.startswith("tf_keras") else "keras")
    return version


KERAS_VERSION: str = _keras_version()
KERAS_MAJOR: int = int(KERAS_VERSION.split(".")[0])
IS_KERAS3: bool = KERAS_MAJOR >= 3
KERAS_FLAVOUR: str = "keras3" if IS_KERAS3 else "keras2"

if IS_KERAS3 and keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"Keras 3 is configured for the {keras.backend.backend()!r} backend; l1lab "
        "needs TensorFlow. Fix: set KERAS_BACKEND=tensorflow."
    )


# Keras >= 2.13 and Keras 3 have keras.saving.register_keras_serializable; 2.12 only keras.utils'.
register_keras_serializable = (
    getattr(getattr(keras, "saving", None), "register_keras_serializable", None)
    or keras.utils.register_keras_serializable
)


def tf_variable(variable) -> tf.Variable:
    """The ``tf.Variable`` behind a Keras variable of either flavour.

    Keras 3 wraps a ``tf.Variable`` (TensorFlow's v1 optimizers and raw ops
    need that one); Keras 2 variables already are ``tf.Variable`` objects.
    """
    if isinstance(variable, tf.Variable):
        return variable
    inner = getattr(variable, "value", None)
    if isinstance(inner, tf.Variable):
        return inner
    raise TypeError(f"{variable!r} is neither a tf.Variable nor a Keras variable wrapping one")


def frozen(concrete_function):
    """``concrete_function`` with its variables turned into constants (for the TFLite converter)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(concrete_function)


# The instruction sets by which TensorFlow's CPU kernels (oneDNN's, Eigen's) choose their code paths.
KERNEL_ISAS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile")


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU as the kernels see it: ``"AMD EPYC (avx2, avx512f, ...)"``, its model and instruction sets.

    Args:
      cpuinfo: the text of ``/proc/cpuinfo`` (default: read; elsewhere than Linux the platform's name).
    """
    import platform

    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
                cpuinfo = file.read()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
        if "model name" in fields and "flags" in fields:
            break
    model = fields.get("model name") or platform.processor() or platform.machine()
    isas = [isa for isa in KERNEL_ISAS if isa in fields.get("flags", "").split()]
    return f"{model} ({', '.join(isas)})" if isas else model


def versions() -> dict:
    """The versions that decide what a run computes, and the CPU, for reports and golden files."""
    import platform

    import numpy as np

    return {
        "tensorflow": tf.__version__,
        "keras": KERAS_VERSION,
        "keras_flavour": KERAS_FLAVOUR,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
    }
