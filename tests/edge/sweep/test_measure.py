"""Measuring a sweep's points: a CNN shipped compacted with BatchNorm folded, or as trained; its channels counted."""

import numpy as np
import pytest

from l1lab import zoo
from l1lab.edge.sweep import measure, points, presets

SETTINGS = presets.SweepSettings.for_model("tfmot-cnn", "fashion-mnist", epochs=2, num_samples=100)
METRICS = {"inacc_test": 0.2, "ent_test": 0.6, "sparsity": 0.5, "num_nonzero": {}}
DEAD = 8  # of tfmot-cnn's 12 filters


def planted_weights():
    """tfmot-cnn's weights with its first filters dead: zero kernel and bias, so ReLU outputs 0."""
    kernel, bias, dense_kernel, dense_bias = zoo.build("tfmot-cnn", seed=0).get_weights()
    kernel[..., :DEAD] = 0.0
    bias[:DEAD] = 0.0
    return [kernel, bias, dense_kernel, dense_bias]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_cnn_point_ships_compacted_and_a_peers_as_trained_with_channels_counted(tmp_path):
    mine, theirs = presets.Point("l1lab-channel", 0.8, 0), presets.Point("tfmot", 0.8, 0)
    for point in (mine, theirs):
        points.save_point(tmp_path, point, SETTINGS, METRICS, planted_weights(), 1.0, {})
    rng = np.random.default_rng(0)
    pixels = rng.random((64, 784)).astype(np.float32)  # flat, as the data set loads
    records = measure.measure_points(
        [mine, theirs], tmp_path, pixels, rounds=5, invokes=2000, calibration=pixels[:32], model_name="tfmot-cnn"
    )
    compacted, as_trained = records
    for record in records:
        assert record["structure"]["removed_channels"] == DEAD and record["structure"]["prunable_channels"] == 12
        assert record["structure"]["multiply_adds_after"] == 93_288 * (12 - DEAD) // 12
        assert all(figures["agrees"] for figures in record["files"].values())
        assert record["files"]["int8-full"]["micro_runs"]
    assert compacted["shipped"] == "compacted, BatchNorm folded" and as_trained["shipped"] == "as trained"
    assert set(compacted["files"]) == {"float", "float-sparse", "int8", "int8-full"}
    assert set(as_trained["files"]) == {"float-sparse", "int8", "int8-full"}
    # The compacted file holds 4 filters' weights, the one as trained all 12 (TFLM stores zeros densely).
    assert compacted["files"]["int8-full"]["size_bytes"] < as_trained["files"]["int8-full"]["size_bytes"] / 2


def test_weights_of_another_model_name_their_file(tmp_path):
    point = presets.Point("tfmot", 0.8, 0)
    other = presets.SweepSettings.for_model("ds-cnn", num_samples=100)
    points.save_point(tmp_path, point, other, METRICS, planted_weights(), 1.0, {})
    with pytest.raises(points.PointFileError, match="does not hold ds-cnn's weights") as error:
        measure.measure_points(
            [point], tmp_path, np.zeros((4, 784), np.float32), rounds=5, invokes=2000, model_name="ds-cnn"
        )
    assert "tfmot_0.8_s0.npz" in str(error.value)
