"""Batch-1 latency of a TFLite model, measured the way an edge benchmark measures it.

One interpreter thread; the input set once; ``warmup`` untimed invokes; then
``rounds`` timed rounds of ``invokes`` back-to-back invokes each. The figure is
the median over rounds of the mean microseconds per invoke: the median drops a
round that another process disturbed. Latency depends on the machine: compare
models measured in the same run (:func:`ratio`), never across machines, and
never store it in a golden file.

The interpreter is LiteRT's (``ai_edge_litert``, the runtime TensorFlow Lite
became) where installed, else TensorFlow's ``tf.lite.Interpreter``; which one
ran is part of every result.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import numpy as np

__all__ = [
    "MAX_INVOKES",
    "MAX_ROUNDS",
    "MIN_INVOKES",
    "MIN_ROUNDS",
    "WARMUP",
    "Latency",
    "batch1_latency",
    "interpreter",
    "ratio",
    "time_invokes",
]

MIN_ROUNDS = 5
MIN_INVOKES = 2000
# A measurement ends: at most a million invokes a round (seconds for the seed network), a thousand rounds.
MAX_ROUNDS = 1000
MAX_INVOKES = 1_000_000
# Untimed invokes before the timed rounds (caches, lazily prepared kernels).
WARMUP = 200


def _interpreter_class():
    try:
        from ai_edge_litert import interpreter as litert

        return litert.Interpreter, litert.OpResolverType, "ai-edge-litert"
    except ImportError:  # the optional extra is not installed
        from l1lab._compat import tf

        return tf.lite.Interpreter, tf.lite.experimental.OpResolverType, "tf.lite"


def interpreter(content: bytes, num_threads: int = 1):
    """``(interpreter, runtime)`` for the flatbuffer ``content``, tensors allocated.

    ``runtime`` names the interpreter, and says so when its default delegate
    (XNNPACK) refused the model and the built-in kernels run it instead: XNNPACK
    cannot prepare a fully connected layer whose int8 weights are stored
    sparsely (``int8-sparse``), in LiteRT 2.3 and TensorFlow 2.21 alike.
    """
    Interpreter, resolvers, runtime = _interpreter_class()
    runner = Interpreter(model_content=content, num_threads=num_threads)
    try:
        runner.allocate_tensors()
    except RuntimeError as exc:
        if "delegate" not in str(exc):
            raise
        runner = Interpreter(
            model_content=content,
            num_threads=num_threads,
            experimental_op_resolver_type=resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        runner.allocate_tensors()
        runtime += " (built-in kernels: XNNPACK refused the model)"
    return runner, runtime


@dataclasses.dataclass(frozen=True)
class Latency:
    """Microseconds per batch-1 invoke: the median round and every round."""

    median_us: float
    rounds_us: tuple[float, ...]
    invokes: int
    runtime: str
    threads: int = 1

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_measurement(rounds: int, invokes: int) -> None:
    """Refuses rounds or invokes outside :data:`MIN_ROUNDS`..:data:`MAX_ROUNDS` and
    :data:`MIN_INVOKES`..:data:`MAX_INVOKES`: a measurement that is too short to trust or never ends.

    Raises:
      ValueError: the message names the argument and its bounds.
    """
    if not (isinstance(rounds, int) and MIN_ROUNDS <= rounds <= MAX_ROUNDS):
        raise ValueError(
            f"`rounds` needs to be an integer from {MIN_ROUNDS} to {MAX_ROUNDS}. Received: rounds={rounds!r}"
        )
    if not (isinstance(invokes, int) and MIN_INVOKES <= invokes <= MAX_INVOKES):
        raise ValueError(
            f"`invokes` needs to be an integer from {MIN_INVOKES} to {MAX_INVOKES}. Received: invokes={invokes!r}"
        )


def batch1_latency(
    content: bytes, *, rounds: int = MIN_ROUNDS, invokes: int = MIN_INVOKES, warmup: int = WARMUP
) -> Latency:
    """The batch-1 latency of the TFLite model ``content`` on one thread.

    Args:
      content: a ``.tflite`` flatbuffer taking a batch of vectors.
      rounds: timed rounds (:data:`MIN_ROUNDS` to :data:`MAX_ROUNDS`).
      invokes: invokes per round (:data:`MIN_INVOKES` to :data:`MAX_INVOKES`).
      warmup: untimed invokes first (>= 0).

    Returns:
      A :class:`Latency`.

    Raises:
      ValueError: rounds or invokes outside their bounds, or a warm-up outside 0 to MAX_INVOKES.
    """
    check_measurement(rounds, invokes)
    if not (isinstance(warmup, int) and 0 <= warmup <= MAX_INVOKES):
        raise ValueError(f"`warmup` needs to be an integer from 0 to {MAX_INVOKES}. Received: warmup={warmup!r}")
    runner, runtime = interpreter(content, num_threads=1)
    details = runner.get_input_details()[0]
    shape = [1, *[int(d) for d in details["shape"][1:]]]
    runner.resize_tensor_input(details["index"], shape)
    runner.allocate_tensors()
    rng = np.random.default_rng(0)
    runner.set_tensor(details["index"], rng.uniform(0, 1, shape).astype(details["dtype"]))
    median, per_round = time_invokes(runner.invoke, rounds=rounds, invokes=invokes, warmup=warmup)
    return Latency(median, per_round, invokes, runtime)


def time_invokes(invoke, *, rounds: int, invokes: int, warmup: int) -> tuple[float, tuple[float, ...]]:
    """``(median, per round)`` microseconds per call of ``invoke``: ``warmup`` untimed calls, then
    ``rounds`` rounds of ``invokes`` back-to-back calls. Both interpreters are timed by it."""
    for _ in range(warmup):
        invoke()
    per_round = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(invokes):
            invoke()
        per_round.append((time.perf_counter() - start) / invokes * 1e6)
    return statistics.median(per_round), tuple(per_round)


def ratio(reference: float, value: float) -> float:
    """How many times ``value`` fits in ``reference`` (``> 1``: smaller or faster than the reference)."""
    return float("inf") if value == 0 else reference / value
