"""TensorFlow Lite Micro (TFLM) as a runtime: whether it runs a file, its arena, flash and latency.

A microcontroller runs TFLM, not the desktop interpreter: no XNNPACK, no
sparse tensors, reference kernels. For each file this module reports:

- whether TFLM runs it, and if not TFLM's own reason (a dynamic-range ``int8``
  file fails to prepare its FULLY_CONNECTED; a file with sparse tensors fails
  to allocate);
- the **arena**: the smallest tensor arena that allocates, found by bisection,
  the figure firmware declares (``uint8_t tensor_arena[N]``);
- **flash**: the file's size, which firmware stores as a constant array;
- the **reference-kernel latency** on this machine, timed as
  :mod:`l1lab.edge.latency` times the desktop interpreter.

Reference-kernel time on x86 is a proxy for a microcontroller's cycle count
(multiply-adds dominate it), not a device figure: compare files timed in the
same run, never with a board's data sheet.

Each file runs in a process of its own (:mod:`l1lab.edge.micro_worker`), so
that a file TFLM crashes on is a row of the report, not a crash of the export.

References:
  TensorFlow Lite for Microcontrollers: https://github.com/tensorflow/tflite-micro
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from l1lab.edge.latency import MIN_INVOKES, MIN_ROUNDS, WARMUP, check_measurement

__all__ = ["REFERENCE_KERNEL_NOTE", "MicroRun", "MicroUnavailable", "require", "run_file"]

REFERENCE_KERNEL_NOTE = (
    "TFLM latency: reference kernels on this machine's CPU, a proxy for a microcontroller's cycle count "
    "(multiply-adds dominate it), not a device figure; compare ratios within one run"
)


class MicroUnavailable(RuntimeError):
    """``tflite-micro`` is not installed; the message says how to install it."""


def require() -> None:
    """Raises :class:`MicroUnavailable` unless TFLM's Python interpreter can be imported.

    Raises:
      MicroUnavailable: with the fix, ``pip install 'l1lab[edge]'``.
    """
    try:
        import tflite_micro  # noqa: F401
    except ImportError:
        raise MicroUnavailable(
            "TensorFlow Lite Micro's Python interpreter (tflite-micro) is not installed: pip install 'l1lab[edge]'"
        ) from None


@dataclasses.dataclass(frozen=True)
class MicroRun:
    """One file in TFLM: whether it runs and, if it does, its arena, flash and latency."""

    runs: bool
    flash_bytes: int
    reason: str | None = None  # TFLM's messages, when it does not run the file
    arena_bytes: int | None = None
    latency_us: float | None = None  # the median round's microseconds per invoke
    rounds_us: tuple[float, ...] = ()
    invokes: int | None = None
    input_quantization: dict | None = None
    output_quantization: dict | None = None

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "rounds_us": list(self.rounds_us)}


def _crash_reason(returncode: int, stderr: str) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        what = f"TFLM crashed ({name})"
    else:
        what = f"TFLM's process failed (exit {returncode})"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return "; ".join([what, *lines[-3:]])


def run_file(
    content: bytes,
    x: np.ndarray,
    *,
    measure: bool = True,
    rounds: int = MIN_ROUNDS,
    invokes: int = MIN_INVOKES,
    warmup: int = WARMUP,
) -> tuple[MicroRun, np.ndarray | None]:
    """Runs the ``.tflite`` file ``content`` in TFLM on ``x``, one example per invoke.

    Args:
      content: a TFLite flatbuffer.
      x: float inputs in the model's own scale; an int8 input is quantized with
        the file's scale and zero point, an int8 output dequantized.
      measure: time the reference kernels too.
      rounds, invokes, warmup: the latency measurement, as the desktop one.

    Returns:
      ``(run, outputs)``: outputs as float32, or None when TFLM does not run the file.

    Raises:
      MicroUnavailable: ``tflite-micro`` is not installed.
      ValueError: rounds or invokes out of bounds.
    """
    require()
    if measure:
        check_measurement(rounds, invokes)
    with tempfile.TemporaryDirectory(prefix="l1lab-micro-") as tmp:
        directory = Path(tmp)
        (directory / "model.tflite").write_bytes(content)
        np.save(directory / "inputs.npy", np.asarray(x, np.float32))
        job = {"rounds": rounds, "invokes": invokes, "warmup": warmup, "measure": measure}
        (directory / "job.json").write_text(json.dumps(job))
        done = subprocess.run(
            [sys.executable, "-m", "l1lab.edge.micro_worker", str(directory)],
            capture_output=True,
            text=True,
        )
        result_path = directory / "result.json"
        if done.returncode != 0 or not result_path.exists():
            return MicroRun(False, len(content), reason=_crash_reason(done.returncode, done.stderr)), None
        result = json.loads(result_path.read_text())
        if not result["runs"]:
            return MicroRun(False, len(content), reason=result["reason"]), None
        outputs = np.load(directory / "outputs.npy")
    latency = result["latency"] or {}
    run = MicroRun(
        True,
        len(content),
        arena_bytes=int(result["arena_bytes"]),
        latency_us=latency.get("median_us"),
        rounds_us=tuple(latency.get("rounds_us", ())),
        invokes=latency.get("invokes"),
        input_quantization=result["input_quantization"],
        output_quantization=result["output_quantization"],
    )
    return run, outputs
