"""TensorFlow Lite Micro as a runtime: what it runs, the arena by bisection, its reasons, its crashes."""

import numpy as np
import pytest
from tflite_micro import runtime  # the edge and micro extras

from l1lab.edge import convert, micro, micro_worker
from l1lab.model import build_model


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(0).uniform(0, 1, size=(50, 784)).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    return build_model(seed=0)


@pytest.fixture(scope="module")
def full_integer(model, inputs):
    return convert.to_tflite(model, "int8-full", calibration=inputs)


def test_an_int8_full_file_runs_with_its_outputs_arena_and_latency(model, inputs, full_integer):
    run, outputs = micro.run_file(full_integer, inputs)
    assert run.runs and run.reason is None and run.flash_bytes == len(full_integer)
    assert outputs.shape == (50, 10)
    want = model.predict(inputs, verbose=0)
    assert np.max(np.abs(outputs - want)) <= 8 * run.output_quantization["scale"]
    assert run.input_quantization["zero_point"] == -128
    assert run.latency_us > 0 and len(run.rounds_us) == 5 and run.invokes == 2000
    assert 1000 < run.arena_bytes < 10_000  # the 784-64-64-10 network: ~3.4 KB


def test_the_arena_is_the_smallest_that_allocates(full_integer):
    """Bisection's answer allocates and one byte less does not."""
    arena = micro_worker.smallest_arena(runtime, full_integer, micro_worker.GENEROUS_ARENA)
    assert micro_worker.allocates(runtime, full_integer, arena)
    assert not micro_worker.allocates(runtime, full_integer, arena - 1)
    assert micro.run_file(full_integer, np.zeros((1, 784), np.float32), measure=False)[0].arena_bytes == arena


def test_a_probe_that_crashes_tflm_is_a_failure_to_allocate(full_integer):
    """100 bytes cannot hold the interpreter's own records: the wrapper segfaults, in the probe's child only."""
    assert not micro_worker.allocates(runtime, full_integer, 100)
    assert not micro_worker.allocates(runtime, full_integer, 0)


@pytest.mark.parametrize(
    "fmt, reason",
    [
        ("int8", "Input type: FLOAT32 with filter type: INT8 not supported"),  # dynamic range
        ("int8-sparse", "DENSIFY"),  # sparse tensors: TFLM has no kernel to densify them
    ],
)
def test_a_file_tflm_cannot_run_is_a_row_with_tflms_reason(fmt, reason, inputs):
    model = build_model(seed=0)
    for name in ("dense_1", "dense_2", "predictions"):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        kernel[np.random.default_rng(1).random(kernel.shape) < 0.9] = 0
        layer.set_weights([kernel, bias])
    run, outputs = micro.run_file(convert.to_tflite(model, fmt), inputs)
    assert not run.runs and outputs is None
    assert reason in run.reason and "TFLM failed to allocate tensors" in run.reason
    assert run.arena_bytes is None and run.latency_us is None


def test_a_damaged_file_is_a_row_not_a_crash(inputs):
    run, outputs = micro.run_file(b"garbage" * 100, inputs)
    assert not run.runs and outputs is None and run.reason


def test_a_crashing_process_is_reported_with_its_signal(monkeypatch, inputs, full_integer):
    """A segmentation fault in TFLM ends the worker, not the export."""
    import subprocess
    import sys

    real_run = subprocess.run

    def segfaulting(command, **kwargs):
        return real_run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"], **kwargs)

    monkeypatch.setattr(micro.subprocess, "run", segfaulting)
    run, outputs = micro.run_file(full_integer, inputs)
    assert not run.runs and outputs is None and run.reason.startswith("TFLM crashed (SIGSEGV)")


def test_bounds_of_the_measurement_are_checked_before_running(full_integer, inputs):
    with pytest.raises(ValueError, match=r"`rounds` needs to be an integer from 5"):
        micro.run_file(full_integer, inputs, rounds=4)


def test_without_tflite_micro_the_message_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tflm(name, *args, **kwargs):
        if name.startswith("tflite_micro"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tflm)
    with pytest.raises(micro.MicroUnavailable, match=r"pip install 'l1lab\[edge\]'"):
        micro.require()
