"""TFLite files of a Keras model, checked in the runtimes that will run them; the export report.

Each file (:mod:`l1lab.edge.convert`: five formats) is run in the desktop
interpreter (:func:`l1lab.edge.latency.interpreter`: LiteRT's where
``ai-edge-litert`` is installed, else ``tf.lite.Interpreter``) on real inputs
and compared with the Keras model's outputs (:func:`judge`); on request also in
TensorFlow Lite Micro (:mod:`l1lab.edge.micro`), where only full-integer files
run. An ``int8`` file's input and output scale and zero point are part of its
report.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from l1lab._io import format_table, write_bytes_atomically
from l1lab.edge import int8_io, micro
from l1lab.edge.agreement import compare_outputs
from l1lab.edge.boards import fit
from l1lab.edge.convert import (
    DEFAULT_CALIBRATION,
    FORMATS,
    FULL_INTEGER,
    ExportError,
    calibration_images,
    check_calibration,
    to_tflite,
)
from l1lab.edge.latency import (
    MIN_INVOKES,
    MIN_ROUNDS,
    Latency,
    batch1_latency,
    check_measurement,
    interpreter,
    ratio,
)
from l1lab.edge.micro import MicroRun

__all__ = [
    "DEFAULT_CALIBRATION",
    "FORMATS",
    "RUNTIMES",
    "ExportError",
    "ExportedFile",
    "OutputCheck",
    "calibration_images",
    "check",
    "export_models",
    "io_quantization",
    "judge",
    "report_rows",
    "run",
    "table",
    "to_tflite",
]


# How close the interpreter's outputs must be to Keras's, relative to the outputs' scale
# (max(1, max |keras output|)). float: the same float32 arithmetic, summed in another order
# by the interpreter's kernels (XNNPACK), a few ulps of the largest partial sums. int8:
# weights rounded to 8 bits per output channel and activations quantized per batch row
# (dynamic range), an error of about 1% of the scale, so predictions are checked too.
# int8-full: every activation is quantized too, to the range seen in calibration; an input
# beyond it saturates a unit, so the largest error (not the typical one) is many steps of the
# output's scale: 0.15 of the scale at 1,000 calibration images, 0.42 at 10 (docs/micro.md).
# The predictions carry the check; the bound catches outputs off by half their scale.
TOLERANCES = {"float": 1e-4, "int8": 5e-2, "int8-full": 0.5}
# int8 formats: the share of inputs whose predicted class may differ from Keras's (those near a tie).
INT8_PREDICTION_DISAGREEMENT = 0.01


def _quantization(input_q, output_q) -> dict | None:
    if input_q is None and output_q is None:
        return None
    return {key: None if q is None else q.as_dict() for key, q in (("input", input_q), ("output", output_q))}


def io_quantization(content: bytes) -> dict | None:
    """``{"input": ..., "output": ...}``: the scale and zero point of an int8 file's input and output.

    None for a file with float input and output.
    """
    runner, _ = interpreter(content)
    return _quantization(
        int8_io.from_details(runner.get_input_details()[0]), int8_io.from_details(runner.get_output_details()[0])
    )


def _run(content: bytes, x: np.ndarray) -> tuple[np.ndarray, dict | None]:
    """:func:`run`'s outputs and :func:`io_quantization`'s answer, from one interpreter."""
    runner, _ = interpreter(content)
    inputs = runner.get_input_details()[0]
    outputs = runner.get_output_details()[0]
    input_q, output_q = int8_io.from_details(inputs), int8_io.from_details(outputs)
    x = np.asarray(x, np.float32) if input_q is None else int8_io.quantize(x, input_q)
    results = np.zeros((len(x), *[int(d) for d in outputs["shape"][1:]]), np.float32)
    for i in range(len(x)):
        runner.set_tensor(inputs["index"], x[i : i + 1])
        runner.invoke()
        out = runner.get_tensor(outputs["index"])[0]
        results[i] = out if output_q is None else int8_io.dequantize(out, output_q)
    return results, _quantization(input_q, output_q)


def run(content: bytes, x: np.ndarray) -> np.ndarray:
    """The outputs of the TFLite model ``content`` on ``x``, one example per invoke.

    Batch 1, as the device runs it, and the interpreter's own input shape: XNNPACK
    cannot prepare a sparse int8 model again after a resize to a large batch.
    An int8 input is quantized with the file's own scale and zero point, an int8
    output dequantized, so that outputs compare with Keras's.
    """
    return _run(content, x)[0]


@dataclasses.dataclass(frozen=True)
class OutputCheck:
    """How a runtime's outputs compare with the Keras model's on the same inputs."""

    format: str
    examples: int
    max_abs_diff: float | None  # None: the runtime gave NaN or infinite outputs
    output_scale: float
    tolerance: float
    same_predictions: int
    agrees: bool
    # How many outputs were NaN or infinite (a converter fault: an all-zero layer quantized with scale 0).
    non_finite_outputs: int = 0
    # With labels: the share of inputs each classifies correctly; the difference is what the file costs.
    keras_accuracy: float | None = None
    file_accuracy: float | None = None
    runtime: str = "desktop"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _tolerance_kind(fmt: str) -> str:
    if fmt in FULL_INTEGER:
        return "int8-full"
    return "int8" if fmt.startswith("int8") else "float"


def judge(fmt: str, want, got, labels=None, *, runtime: str = "desktop") -> OutputCheck:
    """Whether outputs ``got`` of a ``fmt`` file agree with the Keras model's ``want``.

    They agree when ``max |got - want| <= tolerance * max(1, max |want|)``
    (:data:`TOLERANCES` by the format's kind) and, for int8 formats, at most
    :data:`INT8_PREDICTION_DISAGREEMENT` of the predicted classes differ. Outputs
    with NaN or infinite values never agree; their ``max_abs_diff`` is None, so
    that the report stays valid JSON. With ``labels``, both accuracies are stated.

    Raises:
      ExportError: ``fmt`` is unknown, or the shapes differ.
    """
    if fmt not in FORMATS:
        raise ExportError(f"`format` needs to be one of {sorted(FORMATS)}. Received: format={fmt!r}")
    want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
    if got.shape != want.shape:
        raise ExportError(f"the TFLite model's outputs have shape {got.shape}, the Keras model's {want.shape}")
    non_finite = int(np.sum(~np.isfinite(got)))
    got = np.nan_to_num(got, nan=0.0, posinf=0.0, neginf=0.0)
    diff, scale, same = compare_outputs(want, got)
    kind = _tolerance_kind(fmt)
    tolerance = TOLERANCES[kind]
    agrees = diff <= tolerance * scale and not non_finite
    if kind != "float":
        agrees = agrees and (len(want) - same) <= INT8_PREDICTION_DISAGREEMENT * len(want)
    accuracies = (None, None)
    if labels is not None and len(want):
        labels = np.asarray(labels)
        accuracies = tuple(float(np.mean(np.argmax(o, -1) == labels)) for o in (want, got))
    return OutputCheck(
        fmt,
        int(len(want)),
        None if non_finite else diff,
        scale,
        tolerance,
        same,
        bool(agrees),
        non_finite,
        *accuracies,
        runtime,
    )


def check(model, content: bytes, fmt: str, x: np.ndarray, labels=None) -> OutputCheck:
    """Runs ``content`` in the desktop interpreter on ``x`` and judges it against ``model(x)`` (:func:`judge`).

    Raises:
      ExportError: ``fmt`` is unknown.
    """
    if fmt not in FORMATS:
        raise ExportError(f"`format` needs to be one of {sorted(FORMATS)}. Received: format={fmt!r}")
    x = np.asarray(x, np.float32)
    want = model.predict(x, batch_size=1000, verbose=0)
    return judge(fmt, want, run(content, x), labels)


@dataclasses.dataclass(frozen=True)
class ExportedFile:
    """One model in one format: its file, its checks and, if measured, its latencies.

    ``check`` is the desktop interpreter's; ``micro`` and ``micro_check`` are
    TensorFlow Lite Micro's, when it was asked for (``micro_check`` None where
    TFLM does not run the file: ``micro.reason`` says why).
    """

    model: str
    format: str
    size_bytes: int
    check: OutputCheck
    latency: Latency | None = None
    path: str | None = None
    quantization: dict | None = None  # an int8 file's input and output scale and zero point
    micro: MicroRun | None = None
    micro_check: OutputCheck | None = None
    content: bytes = dataclasses.field(default=b"", repr=False)  # the file's bytes

    @property
    def agrees(self) -> bool:
        """Whether every runtime that ran the file agrees with Keras."""
        return self.check.agrees and (self.micro_check is None or self.micro_check.agrees)

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "check": self.check.as_dict(),
            "latency": None if self.latency is None else self.latency.as_dict(),
            "path": self.path,
            "quantization": self.quantization,
            "micro": None if self.micro is None else self.micro.as_dict(),
            "micro_check": None if self.micro_check is None else self.micro_check.as_dict(),
        }


RUNTIMES = ("desktop", "micro")


def export_models(
    models,
    x,
    *,
    formats=tuple(FORMATS),
    out_dir=None,
    measure: bool = True,
    rounds: int = MIN_ROUNDS,
    invokes: int = MIN_INVOKES,
    calibration=None,
    labels=None,
    runtimes=("desktop",),
) -> list[ExportedFile]:
    """Every model of ``models`` (``{name: keras model}``) in every format: converted, checked, timed.

    Every file is checked in the desktop interpreter; with ``"micro"`` in
    ``runtimes`` it is also run in TensorFlow Lite Micro (:func:`l1lab.edge.micro.run_file`):
    checked, its arena found and, with ``measure``, timed. Latencies are
    measured in the runtimes named, one file after another in this process, so
    their ratios compare like with like (see :mod:`l1lab.edge.latency`).

    A file is written to ``out_dir/NAME.FORMAT.tflite`` (atomically) only when
    every runtime that ran it agrees with the Keras model on ``x``; one that
    does not is reported and not written.

    Args:
      models: ``{name: keras model}``.
      x: the inputs the checks run on, in the models' input shape.
      formats: among :data:`FORMATS`.
      out_dir: where the files go (None: nowhere).
      measure: time the files.
      rounds, invokes: the latency measurement (:mod:`l1lab.edge.latency`).
      calibration: inputs ``int8-full`` files are calibrated on (:func:`calibration_images`).
      labels: ``x``'s classes, to state each file's accuracy beside Keras's.
      runtimes: among :data:`RUNTIMES`.

    Returns:
      One :class:`ExportedFile` per model and format, in that order.

    Raises:
      ExportError: an unknown format or runtime, ``int8-full`` without
        calibration, bad rounds or invokes, or a model the converter refuses.
      l1lab.edge.micro.MicroUnavailable: ``"micro"`` asked for without tflite-micro.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ExportError(f"`formats` needs to be among {sorted(FORMATS)}. Received: formats={list(formats)}")
    if not runtimes or set(runtimes) - set(RUNTIMES):
        raise ExportError(f"`runtimes` needs to be among {list(RUNTIMES)}. Received: runtimes={list(runtimes)}")
    check_calibration(formats, calibration)
    if measure:
        try:
            check_measurement(rounds, invokes)
        except ValueError as exc:
            raise ExportError(str(exc)) from None
    if "micro" in runtimes:
        micro.require()
    x = np.asarray(x, np.float32)
    results = []
    for name, model in models.items():
        want = model.predict(x, batch_size=1000, verbose=0)
        for fmt in formats:
            content = to_tflite(model, fmt, calibration=calibration)
            got, quantization = _run(content, x)
            result = judge(fmt, want, got, labels)
            timing = None
            if measure and "desktop" in runtimes:
                timing = batch1_latency(content, rounds=rounds, invokes=invokes)
            micro_run = micro_check = None
            if "micro" in runtimes:
                micro_run, outputs = micro.run_file(content, x, measure=measure, rounds=rounds, invokes=invokes)
                if outputs is not None:
                    micro_check = judge(fmt, want, outputs, labels, runtime="micro")
            exported = ExportedFile(
                name, fmt, len(content), result, timing, None, quantization, micro_run, micro_check, content
            )
            if out_dir is not None and exported.agrees:
                path = write_bytes_atomically(Path(out_dir) / f"{name}.{fmt}.tflite", content)
                exported = dataclasses.replace(exported, path=str(path))
            results.append(exported)
    return results


def report_rows(results: list[ExportedFile], reference: str, boards=()) -> list[dict]:
    """Each file with its size and latencies as ratios to the reference's (``> 1``: smaller, faster).

    On the desktop the base is ``reference``'s float file; in TFLM its
    ``int8-full`` file (what a microcontroller runs), measured in the same run.
    Each file TFLM runs gets ``fits``: for each of ``boards``
    (:class:`l1lab.edge.boards.Board`), whether its flash and arena fit.
    """
    base = next((r for r in results if r.model == reference and r.format == "float"), None)
    if base is None:
        raise ExportError(f"no float file of the reference model {reference!r} to compare with")
    micro_base = next(
        (r for r in results if r.model == reference and r.format == "int8-full" and r.micro and r.micro.runs), None
    )
    rows = []
    for r in results:
        row = r.as_dict()
        row["agrees"] = r.agrees
        row["times_smaller"] = ratio(base.size_bytes, r.size_bytes)
        if r.latency is not None and base.latency is not None:
            row["times_faster"] = ratio(base.latency.median_us, r.latency.median_us)
        if micro_base is not None and r.micro is not None and r.micro.runs:
            row["micro_times_smaller"] = ratio(micro_base.size_bytes, r.size_bytes)
            if r.micro.latency_us is not None and micro_base.micro.latency_us is not None:
                row["micro_times_faster"] = ratio(micro_base.micro.latency_us, r.micro.latency_us)
        if r.micro is not None and r.micro.runs:
            row["fits"] = [fit(board, r.size_bytes, r.micro.arena_bytes).as_dict() for board in boards]
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """The report as a plain-text table: the desktop columns, and TFLM's where it ran."""
    with_micro = any(row.get("micro") for row in rows)
    header = ["model", "format", "KB", "smaller", "us/invoke", "faster"]
    boards = list(dict.fromkeys(f["board"] for row in rows for f in row.get("fits", [])))
    if with_micro:
        header += ["TFLM us", "faster", "arena KB", *(f"fits {name}" for name in boards)]
    with_accuracy = any(row["check"].get("file_accuracy") is not None for row in rows)
    if with_accuracy:
        header.append("accuracy")  # the file's change against the Keras model's, in points
    header.append("agrees")
    body = []
    for row in rows:
        latency = row["latency"]
        cells = [
            row["model"],
            row["format"],
            f"{row['size_bytes'] / 1000:.1f}",
            f"{row['times_smaller']:.1f}x",
            "-" if latency is None else f"{latency['median_us']:.2f}",
            "-" if "times_faster" not in row else f"{row['times_faster']:.2f}x",
        ]
        if with_micro:
            run = row.get("micro") or {}
            if not run.get("runs"):
                cells += ["TFLM cannot run it", "-", "-"]
            else:
                cells += [
                    "-" if run["latency_us"] is None else f"{run['latency_us']:.2f}",
                    "-" if "micro_times_faster" not in row else f"{row['micro_times_faster']:.2f}x",
                    f"{run['arena_bytes'] / 1000:.1f}",
                ]
            fits = {f["board"]: f for f in row.get("fits", [])}
            cells += ["-" if name not in fits else ("yes" if fits[name]["fits"] else "NO") for name in boards]
        if with_accuracy:
            check = row["check"]
            known = check.get("file_accuracy") is not None
            cells.append(f"{100 * (check['file_accuracy'] - check['keras_accuracy']):+.2f}" if known else "-")
        cells.append("yes" if row.get("agrees", row["check"]["agrees"]) else "NO")
        body.append(tuple(cells))
    align = "llrrrr" + ("rrr" + "l" * len(boards) if with_micro else "") + ("r" if with_accuracy else "") + "l"
    return format_table(body, tuple(header), align=align)
