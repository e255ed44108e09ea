"""TFLite export: every format converts, runs in the interpreter and agrees with Keras (both Keras flavours)."""

import re

import numpy as np
import pytest

from l1lab.edge import compact as compact_lib
from l1lab.edge import export
from l1lab.model import build_model


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(0).uniform(0, 1, size=(200, 784)).astype(np.float32)


@pytest.fixture(scope="module")
def sparse_model(planted_model):
    """The planted model with 90% of the remaining weights zeroed too: TF-MOT-like scattered zeros."""
    model = planted_model()
    rng = np.random.default_rng(1)
    for name in ("dense_1", "dense_2", "predictions"):
        kernel, bias = model.get_layer(name).get_weights()
        kernel[rng.random(kernel.shape) < 0.9] = 0
        model.get_layer(name).set_weights([kernel, bias])
    return model


@pytest.mark.parametrize("fmt", sorted(export.FORMATS))
def test_each_format_agrees_with_keras_in_the_interpreter(sparse_model, inputs, fmt):
    content = export.to_tflite(sparse_model, fmt, calibration=inputs)
    result = export.check(sparse_model, content, fmt, inputs)
    assert result.agrees, result
    assert result.examples == 200 and result.format == fmt
    if fmt.startswith("float"):
        assert result.same_predictions == 200 and result.max_abs_diff <= 1e-4 * result.output_scale
    elif fmt == "int8-full":  # every activation quantized: a few steps of the output's scale
        assert 0 < result.max_abs_diff <= 0.5 * result.output_scale and result.same_predictions >= 198
    else:  # quantized, but not far off
        assert 0 < result.max_abs_diff <= 5e-2 * result.output_scale


def test_the_compact_model_exports_and_agrees(sparse_model, inputs):
    """The compact model's gather of kept inputs converts too, and it is the smallest file."""
    small, _ = compact_lib.compact(sparse_model)
    sizes = {}
    for name, model in (("sparse", sparse_model), ("compact", small)):
        for fmt in ("float", "float-sparse", "int8"):
            content = export.to_tflite(model, fmt)
            sizes[name, fmt] = len(content)
            assert export.check(model, content, fmt, inputs).agrees
    np.testing.assert_allclose(export.run(export.to_tflite(small, "float"), inputs), sparse_model(inputs), atol=1e-4)
    # Sparse storage shrinks the scattered zeros; removing whole rows and columns shrinks the float file.
    assert sizes["sparse", "float-sparse"] < sizes["sparse", "float"] / 4
    assert sizes["compact", "float"] < sizes["sparse", "float"] / 2
    assert sizes["compact", "int8"] < sizes["compact", "float"] / 2


def test_a_wrong_file_does_not_agree(sparse_model, inputs):
    """The check can fail: another model's file disagrees, by far."""
    other = export.to_tflite(build_model(seed=5), "float")
    result = export.check(sparse_model, other, "float", inputs)
    assert not result.agrees and result.max_abs_diff > 1e-2


def test_int8_disagreeing_predictions_fail_the_check(sparse_model, inputs, monkeypatch):
    """Within tolerance but with more than 1% of the classes changed: not agreeing."""
    content = export.to_tflite(sparse_model, "int8")
    want = sparse_model.predict(inputs, verbose=0)
    swapped = want.copy()
    swapped[:10] = want[:10, ::-1]  # 10 of 200 predictions changed: 5%
    monkeypatch.setattr(export, "TOLERANCES", {"float": 1e-4, "int8": 1e9})
    monkeypatch.setattr(export, "run", lambda content, x: swapped)
    assert not export.check(sparse_model, content, "int8", inputs).agrees
    monkeypatch.setattr(export, "run", lambda content, x: want)
    assert export.check(sparse_model, content, "int8", inputs).agrees


def test_an_unknown_format_is_refused_naming_the_choices():
    message = r"`format` needs to be one of .*'float-sparse'.*Received: format='fp16'"
    with pytest.raises(export.ExportError, match=message):
        export.to_tflite(build_model(seed=0), "fp16")


def _row(model, fmt, size, latency_us=None, micro=None, fits=(), accuracies=(None, None), agrees=True):
    return {
        "model": model,
        "format": fmt,
        "size_bytes": size,
        "times_smaller": 2.0,
        "latency": None if latency_us is None else {"median_us": latency_us},
        "check": {"agrees": agrees, "keras_accuracy": accuracies[0], "file_accuracy": accuracies[1]},
        "agrees": agrees,
        "micro": micro,
        "fits": list(fits),
    }


def test_the_table_shows_tflm_boards_and_the_accuracy_change_by_hand():
    runs = {"runs": True, "latency_us": 6.5, "arena_bytes": 2600}
    fit = [{"board": "nano33-iot", "fits": True}, {"board": "custom", "fits": False}]
    rows = [
        _row("m", "int8", 60_000, 1.5, micro={"runs": False}, accuracies=(0.97, 0.9695)),
        {**_row("m", "int8-full", 20_000, None, runs, fit, (0.97, 0.9694)), "micro_times_faster": 3.0},
    ]
    lines = [re.split(r"\s{2,}", line.strip()) for line in export.table(rows).splitlines()]
    assert lines[0] == [
        "model", "format", "KB", "smaller", "us/invoke", "faster", "TFLM us", "faster", "arena KB",
        "fits nano33-iot", "fits custom", "accuracy", "agrees",
    ]  # fmt: skip
    assert lines[2] == [
        "m",
        "int8",
        "60.0",
        "2.0x",
        "1.50",
        "-",
        "TFLM cannot run it",
        "-",
        "-",
        "-",
        "-",
        "-0.05",
        "yes",
    ]
    assert lines[3] == ["m", "int8-full", "20.0", "2.0x", "-", "-", "6.50", "3.00x", "2.6", "yes", "NO", "-0.06", "yes"]
    plain = [re.split(r"\s{2,}", line.strip()) for line in export.table([_row("m", "float", 1000, 2.0)]).splitlines()]
    assert plain[0] == ["model", "format", "KB", "smaller", "us/invoke", "faster", "agrees"]  # no TFLM, no labels
