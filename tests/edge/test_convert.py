"""Conversion to TFLite: the full-integer format, its calibration and its int8 input and output."""

import numpy as np
import pytest

from l1lab.edge import compact as compact_lib
from l1lab.edge import convert, export, int8_io
from l1lab.edge.latency import interpreter


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(0).uniform(0, 1, size=(200, 784)).astype(np.float32)


@pytest.fixture(scope="module")
def model(planted_model):
    return planted_model()


def test_int8_full_takes_and_gives_int8_with_the_inputs_scale(model, inputs):
    content = convert.to_tflite(model, "int8-full", calibration=inputs)
    runner, _ = interpreter(content)
    details = runner.get_input_details()[0], runner.get_output_details()[0]
    assert [np.dtype(d["dtype"]) for d in details] == [np.int8, np.int8]
    quantization = export.io_quantization(content)
    # Calibrated on [0, 1] pixels: 256 steps of 1/255 from -128, as firmware quantizes a pixel / 255.
    assert quantization["input"]["zero_point"] == -128
    assert quantization["input"]["scale"] == pytest.approx(1 / 255, rel=1e-3)
    assert quantization["output"]["scale"] > 0
    assert export.io_quantization(convert.to_tflite(model, "int8")) is None  # float input and output


def test_int8_full_outputs_dequantize_to_keras(model, inputs):
    """export.run quantizes the input with the file's own pair and dequantizes the output."""
    content = convert.to_tflite(model, "int8-full", calibration=inputs)
    got, want = export.run(content, inputs), model.predict(inputs, verbose=0)
    output_scale = export.io_quantization(content)["output"]["scale"]
    assert np.max(np.abs(got - want)) <= 8 * output_scale  # a few quantization steps
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.99


def test_the_compacted_model_with_its_gather_converts_to_int8_full(model, inputs):
    small, _ = compact_lib.compact(model)
    content = convert.to_tflite(small, "int8-full", calibration=inputs)
    check = export.check(small, content, "int8-full", inputs)
    assert check.agrees and check.same_predictions >= 198
    assert len(content) < len(convert.to_tflite(model, "int8-full", calibration=inputs))


def test_calibration_that_misses_the_range_saturates_and_the_check_says_so(model, inputs):
    """Calibrated on dark images only, bright inputs saturate: the outputs are far off."""
    content = convert.to_tflite(model, "int8-full", calibration=inputs * 0.01)
    check = export.check(model, content, "int8-full", inputs)
    assert not check.agrees


def test_int8_full_needs_calibration_images(model):
    with pytest.raises(convert.ExportError, match=r"`calibration` needs to be a batch of inputs for int8-full"):
        convert.to_tflite(model, "int8-full")
    with pytest.raises(convert.ExportError, match="an empty batch"):
        convert.to_tflite(model, "int8-full", calibration=np.zeros((0, 784), np.float32))


def test_calibration_images_are_a_seeded_draw_without_replacement():
    x_train = np.arange(50, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    first = convert.calibration_images(x_train, 10)
    np.testing.assert_array_equal(first, convert.calibration_images(x_train, 10))  # the same seed, the same images
    assert len(np.unique(first[:, 0])) == 10  # without replacement
    assert not np.array_equal(first, convert.calibration_images(x_train, 10, seed=1))
    np.testing.assert_array_equal(np.sort(convert.calibration_images(x_train, 50)[:, 0]), np.arange(50))


@pytest.mark.parametrize("count", [0, 51, 2.5, -1])
def test_calibration_images_refuse_a_count_outside_the_training_set(count):
    with pytest.raises(convert.ExportError, match=r"`calibration` needs to be an integer from 1 to 50"):
        convert.calibration_images(np.zeros((50, 3), np.float32), count)


def test_quantize_and_dequantize_by_hand():
    q = int8_io.Quantization(scale=0.5, zero_point=-10)
    np.testing.assert_array_equal(
        int8_io.quantize([0.0, 1.0, 1.24, 1.26, -100.0, 100.0], q), [-10, -8, -8, -7, -128, 127]
    )
    np.testing.assert_allclose(int8_io.dequantize(np.array([-10, -8, 127], np.int8), q), [0.0, 1.0, 68.5])
    details = {"dtype": np.int8, "quantization_parameters": {"scales": np.array([0.5]), "zero_points": np.array([-10])}}
    assert int8_io.from_details(details) == q
    assert int8_io.from_details({**details, "dtype": np.float32}) is None


def test_one_calibration_check_serves_a_file_and_a_whole_export():
    convert.check_calibration(["float", "int8"], None)  # nothing full-integer: nothing needed
    with pytest.raises(convert.ExportError, match="for int8-full .* Received: calibration=an empty batch"):
        convert.check_calibration(["float", "int8-full"], np.zeros((0, 3)))
    with pytest.raises(convert.ExportError, match="for int8-full .* Received: calibration=None"):
        export.export_models({}, np.zeros((1, 3)), formats=("int8-full",), measure=False)


def test_the_default_calibration_takes_every_image_when_there_are_fewer():
    x_train = np.arange(40, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(convert.default_calibration(x_train), x_train)
    big = np.arange(5000, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(convert.default_calibration(big), convert.calibration_images(big, 1000))
