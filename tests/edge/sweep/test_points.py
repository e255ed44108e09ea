"""A sweep point's files: whole, stale or damaged."""

import json

import numpy as np
import pytest

from l1lab.edge.sweep import points, presets

SETTINGS = presets.SweepSettings(epochs=2, num_samples=100)
POINT = presets.Point("l1lab-l1", 0.9, 0)
WEIGHTS = [
    (np.ones((4, 3), np.float32), np.zeros(3, np.float32)),
    (np.ones((3, 2), np.float32), np.zeros(2, np.float32)),
]
METRICS = {"inacc_test": 0.1, "ent_test": 0.3, "sparsity": 0.9, "num_nonzero": {}}


@pytest.fixture
def saved(tmp_path):
    points.save_point(tmp_path, POINT, SETTINGS, METRICS, WEIGHTS, 1.0, {})
    return tmp_path


def test_a_saved_point_is_done_and_its_weights_load(saved):
    assert points.is_done(saved, POINT, SETTINGS)
    loaded = points.load_weights(points.point_paths(saved, POINT)[1])
    assert [(k.shape, b.shape) for k, b in loaded] == [((4, 3), (3,)), ((3, 2), (2,))]
    assert not points.is_done(saved, POINT, presets.SweepSettings(epochs=3, num_samples=100))  # stale
    assert not points.is_done(saved, presets.Point("l1lab-l1", 0.8, 0), SETTINGS)


@pytest.mark.parametrize(
    "record",
    [
        "[]",
        "null",
        '"a string"',
        "{",
        "",
        lambda r: {**r, "metrics": {**METRICS, "inacc_test": None}},
        lambda r: {**r, "metrics": {**METRICS, "inacc_test": float("nan")}},
        lambda r: {**r, "metrics": {**METRICS, "sparsity": "0.9"}},
        lambda r: {**r, "metrics": []},
    ],
    ids=["list", "null", "string", "truncated", "empty", "null metric", "nan metric", "string metric", "no metrics"],
)
def test_a_damaged_record_is_not_done(saved, record):
    record_path = points.point_paths(saved, POINT)[0]
    if callable(record):
        record = json.dumps(record(json.loads(record_path.read_text())))
    record_path.write_text(record)
    assert points.finished_record(saved, POINT, SETTINGS) is None  # it trains again


@pytest.mark.parametrize("damage", ["random", "truncated", "empty", "other arrays", "unchained", "nan"])
def test_damaged_weights_are_not_done_and_loading_them_names_the_file(saved, damage):
    weights_path = points.point_paths(saved, POINT)[1]
    content = weights_path.read_bytes()
    if damage == "random":
        weights_path.write_bytes(np.random.default_rng(0).bytes(len(content)))
    elif damage == "truncated":
        weights_path.write_bytes(content[: len(content) // 2])
    elif damage == "empty":
        weights_path.write_bytes(b"")
    elif damage == "other arrays":
        np.savez(weights_path, x=np.zeros(3))
    elif damage == "unchained":
        np.savez(
            weights_path, kernel_0=np.ones((4, 3)), bias_0=np.zeros(3), kernel_1=np.ones((5, 2)), bias_1=np.zeros(2)
        )
    else:
        np.savez(weights_path, kernel_0=np.full((4, 3), np.nan), bias_0=np.zeros(3))
    assert not points.is_done(saved, POINT, SETTINGS)
    with pytest.raises(points.PointFileError, match=str(weights_path)):
        points.load_weights(weights_path)


CNN_SETTINGS = presets.SweepSettings.for_model("tfmot-cnn", "fashion-mnist", num_samples=100)
CNN_WEIGHTS = [np.ones((3, 3, 1, 2), np.float32), np.zeros(2, np.float32), np.ones((8, 10), np.float32)]


def test_a_cnns_weights_are_its_list_in_order(tmp_path):
    point = presets.Point("l1lab-channel", 0.8, 0)
    points.save_point(tmp_path, point, CNN_SETTINGS, METRICS, CNN_WEIGHTS, 1.0, {})
    assert points.is_done(tmp_path, point, CNN_SETTINGS)
    loaded = points.load_weights(points.point_paths(tmp_path, point)[1], "tfmot-cnn")
    assert [w.shape for w in loaded] == [w.shape for w in CNN_WEIGHTS]
    with np.load(points.point_paths(tmp_path, point)[1]) as archive:
        assert sorted(archive.files) == ["weight_0", "weight_1", "weight_2"]
    # The article's network's reading of the same file refuses it: a CNN's list is no Dense chain.
    with pytest.raises(points.PointFileError, match="not kernel_i and bias_i"):
        points.load_weights(points.point_paths(tmp_path, point)[1])


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"weight_0": np.ones(2), "weight_2": np.ones(2)}, "not weight_0 .. weight_n"),
        ({"kernel_0": np.ones((2, 2)), "bias_0": np.ones(2)}, "not weight_0 .. weight_n"),
        ({"weight_0": np.array([1.0, np.nan])}, "weight 0 is not finite"),
    ],
)
def test_a_cnns_damaged_weights_are_not_done(tmp_path, arrays, message):
    point = presets.Point("tfmot", 0.8, 0)
    points.save_point(tmp_path, point, CNN_SETTINGS, METRICS, CNN_WEIGHTS, 1.0, {})
    weights_path = points.point_paths(tmp_path, point)[1]
    np.savez(weights_path, **arrays)
    assert not points.is_done(tmp_path, point, CNN_SETTINGS)
    with pytest.raises(points.PointFileError, match=message) as error:
        points.load_weights(weights_path, "tfmot-cnn")
    assert str(weights_path) in str(error.value)
