"""A Keras model as a TFLite file, in the formats an edge engineer chooses between.

================  ===========================================  =============================
format            converter settings                           what it is
================  ===========================================  =============================
``float``         none                                         float32 weights and compute
``float-sparse``  ``EXPERIMENTAL_SPARSITY``                    float32, zero weights stored
                                                               sparsely (TF-MOT's export)
``int8``          ``DEFAULT``                                  int8 weights, dynamic-range
                                                               quantized compute
``int8-sparse``   ``DEFAULT``, ``EXPERIMENTAL_SPARSITY``       both
``int8-full``     ``DEFAULT``, a representative dataset,       full-integer: int8 weights,
                  ``TFLITE_BUILTINS_INT8``, int8 input/output  activations, input and output
                                                               (what TFLite Micro runs)
================  ===========================================  =============================

An ``int8-full`` file is calibrated on training images of the model's own data
(:func:`calibration_images`, a fixed seed): their activations set the range of
every tensor.

References:
  LiteRT model conversion and optimization:
  https://ai.google.dev/edge/litert/models/model_optimization
  Full-integer post-training quantization:
  https://ai.google.dev/edge/litert/models/post_training_integer_quant
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import numpy as np

from l1lab._compat import frozen, tf

__all__ = [
    "DEFAULT_CALIBRATION",
    "FORMATS",
    "FULL_INTEGER",
    "ExportError",
    "calibration_images",
    "check_calibration",
    "default_calibration",
    "to_tflite",
]


def _optimizations(names: tuple[str, ...]) -> list:
    return [getattr(tf.lite.Optimize, name) for name in names]


# format -> the converter's optimizations, by name (resolved when converting)
FORMATS: dict[str, tuple[str, ...]] = {
    "float": (),
    "float-sparse": ("EXPERIMENTAL_SPARSITY",),
    "int8": ("DEFAULT",),
    "int8-sparse": ("DEFAULT", "EXPERIMENTAL_SPARSITY"),
    "int8-full": ("DEFAULT",),
}
# Formats whose every tensor is int8, calibrated on a representative dataset.
FULL_INTEGER = frozenset({"int8-full"})
# Training images an int8-full file is calibrated on by default. On a 90%-sparse 784-64-64-10
# model (docs/micro.md) 10 to 3,000 all keep 99.8% of the classes; the accuracy lost falls from
# 0.10 points (10, 100) to 0.06 (300, 1,000) and 0.04 (3,000); conversion takes 0.1 s at any.
DEFAULT_CALIBRATION = 1000


class ExportError(ValueError):
    """The model cannot be exported, or a format is unknown; the message says why and what to do."""


@contextlib.contextmanager
def _quiet_converter():
    """Keeps the converter's chatter off stdout (it carries JSON) and its deprecation warning off stderr.

    The warning asks for ``trackable_obj``, which a function with frozen variables does not need;
    a sweep converts hundreds of files, and the warning buried its progress lines.
    """
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            # int8-full: "Statistics for quantized inputs were expected": the calibration gives them.
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs", category=UserWarning)
            yield
    finally:
        absl.setLevel(level)


def check_calibration(formats, calibration) -> None:
    """Refuses a full-integer format among ``formats`` without a batch of calibration inputs.

    Raises:
      ExportError: naming the format and what was received.
    """
    needing = [fmt for fmt in formats if fmt in FULL_INTEGER]
    if needing and (calibration is None or not len(calibration)):
        raise ExportError(
            f"`calibration` needs to be a batch of inputs for {needing[0]} (see calibration_images). "
            f"Received: calibration={None if calibration is None else 'an empty batch'}"
        )


def default_calibration(x_train) -> np.ndarray:
    """:data:`DEFAULT_CALIBRATION` training images (seed 0), or every one when there are fewer."""
    return calibration_images(x_train, min(DEFAULT_CALIBRATION, len(x_train)))


def calibration_images(x_train, count: int = DEFAULT_CALIBRATION, *, seed: int = 0) -> np.ndarray:
    """``count`` training images drawn without replacement with ``seed``: an int8-full file's calibration.

    Raises:
      ExportError: ``count`` is not between 1 and the number of images.
    """
    x_train = np.asarray(x_train, np.float32)
    if not (isinstance(count, int) and 1 <= count <= len(x_train)):
        raise ExportError(
            f"`calibration` needs to be an integer from 1 to {len(x_train)} (the training images). "
            f"Received: calibration={count!r}"
        )
    rng = np.random.default_rng(seed)
    return x_train[np.sort(rng.choice(len(x_train), count, replace=False))]


def to_tflite(model, fmt: str = "float", *, calibration=None) -> bytes:
    """The TFLite flatbuffer of ``model`` in format ``fmt`` (batch size left free).

    Args:
      model: a Keras model (either flavour) taking a batch of vectors.
      fmt: one of :data:`FORMATS`.
      calibration: for ``int8-full``, the inputs whose activations set every
        tensor's range (:func:`calibration_images`), in the model's input shape.

    Returns:
      The ``.tflite`` file's bytes.

    Raises:
      ExportError: ``fmt`` is unknown, ``int8-full`` without calibration images,
        or the converter refused the model.
    """
    if fmt not in FORMATS:
        raise ExportError(f"`format` needs to be one of {sorted(FORMATS)}. Received: format={fmt!r}")
    check_calibration([fmt], calibration)
    # From the model's call, its variables frozen, in both Keras flavours: from_keras_model
    # aborts the whole process on TF 2.16 with Keras 3.3 (a fatal error in the converter,
    # not an exception), and on newer Keras 3 prints a SavedModel's endpoints on stdout.
    signature = [tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)]
    call = tf.function(lambda x: model(x, training=False), input_signature=signature)
    try:
        with _quiet_converter():
            converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen(call.get_concrete_function())])
            converter.optimizations = _optimizations(FORMATS[fmt])
            if fmt in FULL_INTEGER:
                samples = np.asarray(calibration, np.float32)
                converter.representative_dataset = lambda: ([samples[i : i + 1]] for i in range(len(samples)))
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
            return converter.convert()
    except Exception as exc:  # the converter raises ConverterError and others
        raise ExportError(f"TFLite could not convert {model.name!r} to {fmt}: {type(exc).__name__}: {exc}") from exc
