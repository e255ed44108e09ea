"""Batch-1 latency: the measurement's rules, the interpreter's choice and its fallback."""

import sys

import numpy as np
import pytest

from l1lab.edge import export, latency
from l1lab.model import build_model


@pytest.fixture(scope="module")
def dense_file():
    return export.to_tflite(build_model(seed=0), "float")


def test_median_of_the_rounds_on_one_thread(dense_file):
    result = latency.batch1_latency(dense_file, rounds=5, invokes=2000, warmup=10)
    assert len(result.rounds_us) == 5 and result.invokes == 2000 and result.threads == 1
    assert result.median_us == sorted(result.rounds_us)[2] and result.median_us > 0
    assert result.runtime.startswith(("ai-edge-litert", "tf.lite"))
    assert result.as_dict()["median_us"] == result.median_us


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"rounds": 4}, "rounds"),
        ({"rounds": latency.MAX_ROUNDS + 1}, "rounds"),
        ({"invokes": 1999}, "invokes"),
        ({"invokes": 10**23}, "invokes"),
        ({"warmup": -1}, "warmup"),
        ({"warmup": latency.MAX_INVOKES + 1}, "warmup"),
    ],
)
def test_rounds_and_invokes_outside_the_rules_are_refused(dense_file, kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}` needs to be an integer from "):
        latency.batch1_latency(dense_file, **kwargs)


def test_tensorflows_interpreter_when_litert_is_not_installed(dense_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # import fails
    runner, runtime = latency.interpreter(dense_file)
    assert runtime == "tf.lite"
    x = np.zeros((1, 784), np.float32)
    runner.set_tensor(runner.get_input_details()[0]["index"], x)
    runner.invoke()
    assert runner.get_tensor(runner.get_output_details()[0]["index"]).shape == (1, 10)


def test_when_the_delegate_refuses_the_built_in_kernels_run_and_the_runtime_says_so(dense_file, monkeypatch):
    interpreter_class, resolvers, runtime = latency._interpreter_class()
    made = []

    class RefusingDelegate(interpreter_class):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            made.append(kwargs.get("experimental_op_resolver_type"))

        def allocate_tensors(self):
            if made[-1] is None:
                raise RuntimeError("failed to delegate FULLY_CONNECTED node #1")
            return super().allocate_tensors()

    monkeypatch.setattr(latency, "_interpreter_class", lambda: (RefusingDelegate, resolvers, runtime))
    runner, name = latency.interpreter(dense_file)
    assert made == [None, resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES]
    assert name == f"{runtime} (built-in kernels: XNNPACK refused the model)"
    runner.invoke()  # it runs


def test_another_error_is_not_taken_for_a_refusal(dense_file, monkeypatch):
    interpreter_class, resolvers, runtime = latency._interpreter_class()

    class Broken(interpreter_class):
        def allocate_tensors(self):
            raise RuntimeError("out of memory")

    monkeypatch.setattr(latency, "_interpreter_class", lambda: (Broken, resolvers, runtime))
    with pytest.raises(RuntimeError, match="out of memory"):
        latency.interpreter(dense_file)


def test_litert_refuses_sparse_int8_in_xnnpack():
    """What LiteRT 2.3 does (and TensorFlow 2.21's tf.lite): int8 weights stored sparsely are refused by XNNPACK."""
    pytest.importorskip("ai_edge_litert", reason="pins LiteRT's behaviour: the optional extra l1lab[edge]")
    model = build_model(seed=0)
    rng = np.random.default_rng(0)
    for layer in model.layers[1:]:
        kernel, bias = layer.get_weights()
        kernel[rng.random(kernel.shape) < 0.9] = 0
        layer.set_weights([kernel, bias])
    content = export.to_tflite(model, "int8-sparse")
    _, runtime = latency.interpreter(content)
    assert "built-in kernels: XNNPACK refused the model" in runtime
    _, plain = latency.interpreter(export.to_tflite(model, "int8"))
    assert "built-in" not in plain


def test_ratio_reads_as_times_smaller_or_faster():
    assert latency.ratio(10.0, 2.5) == 4.0 and latency.ratio(1.0, 2.0) == 0.5
    assert latency.ratio(1.0, 0.0) == float("inf")


class BusyInterpreter:
    """An interpreter whose invoke takes a known time: it spins for ``seconds``."""

    def __init__(self, seconds):
        self.seconds = seconds

    def get_input_details(self):
        return [{"index": 0, "shape": np.array([1, 4]), "dtype": np.float32}]

    def resize_tensor_input(self, index, shape):
        pass

    def allocate_tensors(self):
        pass

    def set_tensor(self, index, value):
        pass

    def invoke(self):
        import time

        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:
            pass


def test_latency_is_in_microseconds_per_invoke_against_a_known_delay(monkeypatch):
    monkeypatch.setattr(latency, "interpreter", lambda content, num_threads=1: (BusyInterpreter(100e-6), "busy"))
    result = latency.batch1_latency(b"", rounds=5, invokes=2000, warmup=0)
    # 100 µs each. The upper bound only has to catch a wrong unit (1,000x): a machine running four
    # jobs on two cores stretched the busy-wait to 345 µs (loosened from 300 for that, measured).
    assert 100 <= result.median_us < 2000
    assert all(100 <= r < 2000 for r in result.rounds_us) and result.runtime == "busy"
