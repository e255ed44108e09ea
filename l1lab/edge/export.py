"""TFLite files of a Keras model, checked in the interpreter that will run them.

Four formats, the ones an edge engineer chooses between:

================  ===========================================  =============================
format            converter optimizations                      what it is
================  ===========================================  =============================
``float``         none                                         float32 weights and compute
``float-sparse``  ``EXPERIMENTAL_SPARSITY``                    float32, zero weights stored
                                                               sparsely (TF-MOT's export)
``int8``          ``DEFAULT``                                  int8 weights, dynamic-range
                                                               quantized compute
``int8-sparse``   ``DEFAULT``, ``EXPERIMENTAL_SPARSITY``       both
================  ===========================================  =============================

Each file is run in the interpreter (:func:`l1lab.edge.latency.interpreter`:
LiteRT's where ``ai-edge-litert`` is installed, else ``tf.lite.Interpreter``)
on real inputs and compared with the Keras model's outputs (:func:`check`).

References:
  LiteRT model conversion and optimization:
  https://ai.google.dev/edge/litert/models/model_optimization
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from pathlib import Path

import numpy as np

from l1lab._compat import frozen, tf
from l1lab._io import format_table, write_bytes_atomically
from l1lab.edge.agreement import compare_outputs
from l1lab.edge.latency import (
    MIN_INVOKES,
    MIN_ROUNDS,
    Latency,
    batch1_latency,
    check_measurement,
    interpreter,
    ratio,
)

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportedFile",
    "OutputCheck",
    "check",
    "export_models",
    "report_rows",
    "run",
    "table",
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
}

# How close the interpreter's outputs must be to Keras's, relative to the outputs' scale
# (max(1, max |keras output|)). float: the same float32 arithmetic, summed in another order
# by the interpreter's kernels (XNNPACK), a few ulps of the largest partial sums. int8:
# weights rounded to 8 bits per output channel and activations quantized per batch row
# (dynamic range), an error of about 1% of the scale, so predictions are checked too.
TOLERANCES = {"float": 1e-4, "int8": 5e-2}
# int8: the share of inputs whose predicted class may differ from Keras's (those near a tie).
INT8_PREDICTION_DISAGREEMENT = 0.01


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
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        absl.setLevel(level)


def to_tflite(model, fmt: str = "float") -> bytes:
    """The TFLite flatbuffer of ``model`` in format ``fmt`` (batch size left free).

    Args:
      model: a Keras model (either flavour) taking a batch of vectors.
      fmt: one of :data:`FORMATS`.

    Returns:
      The ``.tflite`` file's bytes.

    Raises:
      ExportError: ``fmt`` is unknown, or the converter refused the model.
    """
    if fmt not in FORMATS:
        raise ExportError(f"`format` needs to be one of {sorted(FORMATS)}. Received: format={fmt!r}")
    # From the model's call, its variables frozen, in both Keras flavours: from_keras_model
    # aborts the whole process on TF 2.16 with Keras 3.3 (a fatal error in the converter,
    # not an exception), and on newer Keras 3 prints a SavedModel's endpoints on stdout.
    signature = [tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)]
    call = tf.function(lambda x: model(x, training=False), input_signature=signature)
    try:
        with _quiet_converter():
            converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen(call.get_concrete_function())])
            converter.optimizations = _optimizations(FORMATS[fmt])
            return converter.convert()
    except Exception as exc:  # the converter raises ConverterError and others
        raise ExportError(f"TFLite could not convert {model.name!r} to {fmt}: {type(exc).__name__}: {exc}") from exc


def run(content: bytes, x: np.ndarray) -> np.ndarray:
    """The outputs of the TFLite model ``content`` on ``x``, one example per invoke.

    Batch 1, as the device runs it, and the interpreter's own input shape: XNNPACK
    cannot prepare a sparse int8 model again after a resize to a large batch.
    """
    runner, _ = interpreter(content)
    inputs = runner.get_input_details()[0]
    outputs = runner.get_output_details()[0]
    x = np.asarray(x, np.float32)
    results = np.zeros((len(x), *[int(d) for d in outputs["shape"][1:]]), np.float32)
    for i in range(len(x)):
        runner.set_tensor(inputs["index"], x[i : i + 1])
        runner.invoke()
        results[i] = runner.get_tensor(outputs["index"])[0]
    return results


@dataclasses.dataclass(frozen=True)
class OutputCheck:
    """How the interpreter's outputs compare with the Keras model's on the same inputs."""

    format: str
    examples: int
    max_abs_diff: float | None  # None: the interpreter gave NaN or infinite outputs
    output_scale: float
    tolerance: float
    same_predictions: int
    agrees: bool
    # How many outputs were NaN or infinite (a converter fault: an all-zero layer quantized with scale 0).
    non_finite_outputs: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def check(model, content: bytes, fmt: str, x: np.ndarray) -> OutputCheck:
    """Runs ``content`` in the interpreter on ``x`` and compares with ``model(x)``.

    It agrees when ``max |tflite - keras| <= tolerance * max(1, max |keras|)``
    (:data:`TOLERANCES` by the format's kind) and, for int8 formats, at most
    :data:`INT8_PREDICTION_DISAGREEMENT` of the predicted classes differ. A file
    whose outputs are NaN or infinite never agrees; its ``max_abs_diff`` is None,
    so that the report stays valid JSON.

    Raises:
      ExportError: ``fmt`` is unknown.
    """
    if fmt not in FORMATS:
        raise ExportError(f"`format` needs to be one of {sorted(FORMATS)}. Received: format={fmt!r}")
    x = np.asarray(x, np.float32)
    want = np.asarray(model.predict(x, batch_size=1000, verbose=0), np.float64)
    got = run(content, x).astype(np.float64)
    if got.shape != want.shape:
        raise ExportError(f"the TFLite model's outputs have shape {got.shape}, the Keras model's {want.shape}")
    non_finite = int(np.sum(~np.isfinite(got)))
    diff, scale, same = compare_outputs(want, np.nan_to_num(got, nan=0.0, posinf=0.0, neginf=0.0))
    kind = "int8" if fmt.startswith("int8") else "float"
    tolerance = TOLERANCES[kind]
    agrees = diff <= tolerance * scale and not non_finite
    if kind == "int8":
        agrees = agrees and (len(x) - same) <= INT8_PREDICTION_DISAGREEMENT * len(x)
    return OutputCheck(fmt, int(len(x)), None if non_finite else diff, scale, tolerance, same, bool(agrees), non_finite)


@dataclasses.dataclass(frozen=True)
class ExportedFile:
    """One model in one format: its file, its check and, if measured, its batch-1 latency."""

    model: str
    format: str
    size_bytes: int
    check: OutputCheck
    latency: Latency | None = None
    path: str | None = None

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "check": self.check.as_dict(),
            "latency": None if self.latency is None else self.latency.as_dict(),
            "path": self.path,
        }


def export_models(
    models,
    x,
    *,
    formats=tuple(FORMATS),
    out_dir=None,
    measure: bool = True,
    rounds: int = MIN_ROUNDS,
    invokes: int = MIN_INVOKES,
) -> list[ExportedFile]:
    """Every model of ``models`` (``{name: keras model}``) in every format: converted, checked, timed.

    A file is written to ``out_dir/NAME.FORMAT.tflite`` (atomically) only when
    its outputs agree with the Keras model's on ``x``; one that does not is
    reported (``check.agrees`` false) and not written. Latencies are measured
    one file after another in this process, so their ratios compare like with
    like (see :mod:`l1lab.edge.latency`).

    Raises:
      ExportError: an unknown format or a model the converter refuses.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ExportError(f"`formats` needs to be among {sorted(FORMATS)}. Received: formats={list(formats)}")
    if measure:
        try:
            check_measurement(rounds, invokes)
        except ValueError as exc:
            raise ExportError(str(exc)) from None
    results = []
    for name, model in models.items():
        for fmt in formats:
            content = to_tflite(model, fmt)
            result = check(model, content, fmt, x)
            path = None
            if out_dir is not None and result.agrees:
                path = str(write_bytes_atomically(Path(out_dir) / f"{name}.{fmt}.tflite", content))
            timing = batch1_latency(content, rounds=rounds, invokes=invokes) if measure else None
            results.append(ExportedFile(name, fmt, len(content), result, timing, path))
    return results


def report_rows(results: list[ExportedFile], reference: str) -> list[dict]:
    """Each file with its size and latency as ratios to ``reference``'s float file (``> 1``: smaller, faster)."""
    base = next((r for r in results if r.model == reference and r.format == "float"), None)
    if base is None:
        raise ExportError(f"no float file of the reference model {reference!r} to compare with")
    rows = []
    for r in results:
        row = r.as_dict()
        row["times_smaller"] = ratio(base.size_bytes, r.size_bytes)
        if r.latency is not None and base.latency is not None:
            row["times_faster"] = ratio(base.latency.median_us, r.latency.median_us)
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """The report as a plain-text table."""
    body = []
    for row in rows:
        latency = row["latency"]
        body.append(
            (
                row["model"],
                row["format"],
                f"{row['size_bytes'] / 1000:.1f}",
                f"{row['times_smaller']:.1f}x",
                "-" if latency is None else f"{latency['median_us']:.2f}",
                "-" if "times_faster" not in row else f"{row['times_faster']:.2f}x",
                "yes" if row["check"]["agrees"] else "NO",
            )
        )
    return format_table(body, ("model", "format", "KB", "smaller", "us/invoke", "faster", "agrees"), align="llrrrrl")
