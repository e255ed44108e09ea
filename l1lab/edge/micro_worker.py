"""TensorFlow Lite Micro run on one file, in a process of its own: ``python -m l1lab.edge.micro_worker DIR``.

``DIR`` holds ``model.tflite``, ``inputs.npy`` (float32, in the model's scale)
and ``job.json`` (``rounds``, ``invokes``, ``warmup``, ``measure``). The
worker writes ``result.json`` (and ``outputs.npy`` when the file runs):

- ``runs``: whether TFLM allocated and invoked the file; if not, ``reason``
  holds TFLM's own messages;
- ``arena_bytes``: the smallest tensor arena that allocates, by bisection;
- ``latency``: reference-kernel microseconds per invoke, as
  :mod:`l1lab.edge.latency` times the desktop interpreter.

A process of its own because TFLM's Python wrapper ends the process on some
failures (a segmentation fault), and a file it cannot run must be a row of the
report, not a crash; each probe of the bisection is a forked child for the
same reason. It imports NumPy and ``tflite_micro``, never TensorFlow (which
would make forking unsafe).
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from l1lab.edge import int8_io
from l1lab.edge.latency import time_invokes

# The first allocation: large enough for any model a microcontroller can hold.
GENEROUS_ARENA = 64 * 1024 * 1024


@contextlib.contextmanager
def captured_stderr():
    """What C code writes on file descriptor 2 meanwhile, as a list filled on exit."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())


def _interpreter(runtime, content: bytes, arena: int):
    return runtime.Interpreter.from_bytes(content, arena_size=arena)


def allocates(runtime, content: bytes, arena: int) -> bool:
    """Whether TFLM allocates ``content``'s tensors in an arena of ``arena`` bytes.

    Each probe runs in a forked child: TFLM's wrapper crashes (a segmentation
    fault) on some failures to allocate, as with an arena too small for its own
    records or one that fails in a kernel's preparation ("All temp buffers must
    be freed before calling ResetTempAllocations()"), and a crash is a failure.
    """
    if arena <= 0:
        return False
    pid = os.fork()
    if pid == 0:  # the child: no Python clean-up, only an exit status
        try:
            faulthandler.disable()  # a crash here is an answer, not a report
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            _interpreter(runtime, content, arena)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def smallest_arena(runtime, content: bytes, fits: int) -> int:
    """The smallest arena (bytes) that allocates, by bisection below ``fits``, an arena that does."""
    low, high = 0, fits  # low never allocates, high does
    while high - low > 1:
        middle = (low + high) // 2
        if allocates(runtime, content, middle):
            high = middle
        else:
            low = middle
    return high


def _reason(lines: list[str], exc: BaseException) -> str:
    useful = [line for line in lines if not line.startswith("Traceback")]
    return "; ".join([*useful, f"{type(exc).__name__}: {exc}"])


def evaluate(content: bytes, x: np.ndarray, *, rounds: int, invokes: int, warmup: int, measure: bool) -> tuple:
    """``(result, outputs)`` of TFLM on ``content``: see the module's docstring."""
    from tflite_micro import runtime

    with captured_stderr() as lines:
        try:
            runner = _interpreter(runtime, content, GENEROUS_ARENA)
        except Exception as exc:  # RuntimeError from TFLM; struct.error and others on a damaged flatbuffer
            runner, failure = None, exc
    if runner is None:
        return {"runs": False, "reason": _reason(lines, failure)}, None
    input_q = int8_io.from_details(runner.get_input_details(0))
    output_q = int8_io.from_details(runner.get_output_details(0))
    feed = np.asarray(x, np.float32) if input_q is None else int8_io.quantize(x, input_q)
    outputs = []
    with captured_stderr() as lines:
        try:
            for i in range(len(feed)):
                runner.set_input(feed[i : i + 1], 0)
                runner.invoke()
                out = runner.get_output(0)
                outputs.append(out[0] if output_q is None else int8_io.dequantize(out[0], output_q))
        except RuntimeError as exc:
            return {"runs": False, "reason": _reason(lines, exc)}, None
    result = {
        "runs": True,
        "reason": None,
        "arena_bytes": smallest_arena(runtime, content, GENEROUS_ARENA),
        "input_quantization": None if input_q is None else input_q.as_dict(),
        "output_quantization": None if output_q is None else output_q.as_dict(),
        "latency": None,
    }
    if measure:
        runner.set_input(feed[:1], 0)
        median, per_round = time_invokes(runner.invoke, rounds=rounds, invokes=invokes, warmup=warmup)
        result["latency"] = {"median_us": median, "rounds_us": list(per_round), "invokes": invokes}
    return result, np.asarray(outputs, np.float32)


def main(argv: list[str]) -> int:
    directory = Path(argv[0])
    job = json.loads((directory / "job.json").read_text())
    result, outputs = evaluate(
        (directory / "model.tflite").read_bytes(),
        np.load(directory / "inputs.npy"),
        rounds=job["rounds"],
        invokes=job["invokes"],
        warmup=job["warmup"],
        measure=job["measure"],
    )
    if outputs is not None:
        np.save(directory / "outputs.npy", outputs)
    (directory / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
