"""Compaction of CNNs: planted dead channels removed across their groups, outputs equal, BatchNorm folded."""

import numpy as np
import pytest

from l1lab._compat import keras
from l1lab.channels import channel_graph
from l1lab.edge.compact import check_outputs
from l1lab.edge.compact_channels import compact_channels
from l1lab.edge.select_features import SelectFeatures
from tests.test_channels import _out, plant

PLANTED = {  # per model, (layer, channels) whose groups are zeroed
    "conv-bn": [("conv_1", [1, 4]), ("conv_2", [0]), ("hidden", [3])],
    "depthwise-separable": [("conv_1", [2, 3, 5]), ("pointwise", [6, 0])],
    "residual": [("stem", [0, 5]), ("conv_a", [1])],
    "concatenate": [("left", [0]), ("right", [0, 4]), ("mix", [2])],
}
KEPT = {  # channels per layer after compaction
    "conv-bn": {"conv_1": 4, "conv_2": 4, "hidden": 7, "predictions": 10},
    "depthwise-separable": {"conv_1": 3, "pointwise": 5, "hidden": 8},
    "residual": {"stem": 4, "conv_a": 3, "conv_b": 4},
    "concatenate": {"left": 3, "right": 3, "mix": 5},
}


def planted(channel_model, kind):
    model = channel_model(kind)
    graph = channel_graph(model)
    groups = np.concatenate([_out(graph, layer)[channels] for layer, channels in PLANTED[kind]])
    for name, arrays in plant(graph, graph.weights(), groups).items():
        if arrays:
            model.get_layer(name).set_weights(arrays)
    return model


def images(n=64, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 12, 12, 1)).astype(np.float32)


@pytest.mark.parametrize("fold_batchnorm", [False, True])
@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_planted_channels_are_removed_and_the_outputs_equal(channel_model, kind, fold_batchnorm):
    model = planted(channel_model, kind)
    small, report = compact_channels(model, fold_batchnorm=fold_batchnorm)
    check = check_outputs(model, small, images())
    assert check["equal"] and check["max_abs_diff"] <= 1e-5 * check["output_scale"], check
    kept = dict(zip(report.layers, report.channels_after))
    assert {layer: kept[layer] for layer in KEPT[kind]} == KEPT[kind]
    assert report.multiply_adds_after < report.multiply_adds_before
    assert report.multiply_adds_after == channel_graph(small).multiply_adds()
    has_batchnorm = any(isinstance(layer, keras.layers.BatchNormalization) for layer in small.layers)
    assert has_batchnorm == (not fold_batchnorm and kind != "concatenate")  # every BatchNorm follows a linear layer


def test_only_a_batchnorm_right_after_a_linear_layer_folds(channel_model):
    _, report = compact_channels(channel_model("residual"), fold_batchnorm=True)
    assert report.folded_batchnorm == ("bn_stem", "bn_a", "bn_b")
    _, report = compact_channels(channel_model("conv-bn"), fold_batchnorm=True)
    assert report.folded_batchnorm == ("bn_1",)


def test_a_dense_model_with_nothing_dead_compacts_to_itself(channel_model):
    model = channel_model("depthwise-separable")
    small, report = compact_channels(model, epsilon=0.0)
    assert report.channels_after == report.channels_before and report.removed_channels == 0
    np.testing.assert_allclose(small(images(8)).numpy(), model(images(8)).numpy(), rtol=1e-6, atol=1e-6)


def test_the_report_counts_channels_and_multiply_adds(channel_model):
    _, report = compact_channels(planted(channel_model, "conv-bn"))
    assert report.prunable_channels == 6 + 5 + 8 and report.removed_channels == 2 + 1 + 1
    assert report.as_dict()["removed_channels"] == 4
    table = report.table()
    assert "conv_1" in table and "multiply-adds" in table and str(report.multiply_adds_after) in table


def test_a_layer_with_every_channel_dead_keeps_one(channel_model):
    model = channel_model("concatenate")
    graph = channel_graph(model)
    for name, arrays in plant(graph, graph.weights(), _out(graph, "left")).items():
        if arrays:
            model.get_layer(name).set_weights(arrays)
    small, report = compact_channels(model)
    assert dict(zip(report.layers, report.channels_after))["left"] == 1
    assert check_outputs(model, small, images())["equal"]


def test_a_vector_input_loses_its_dead_features():
    inputs = keras.Input((6,))
    x = keras.layers.Dense(4, name="hidden")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(x))
    kernel = model.get_layer("hidden").kernel.numpy()
    kernel[[1, 4]] = 0
    model.get_layer("hidden").kernel.assign(kernel)
    small, report = compact_channels(model)
    (select,) = [layer for layer in small.layers if isinstance(layer, SelectFeatures)]
    assert select.indices == [0, 2, 3, 5] and report.kept_input_features == 4
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_the_compact_cnn_saves_and_loads(tmp_path, channel_model):
    small, _ = compact_channels(planted(channel_model, "residual"), fold_batchnorm=True)
    path = tmp_path / "small.keras" if hasattr(keras, "saving") else tmp_path / "small.h5"
    small.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded(images(4)).numpy(), small(images(4)).numpy())


PASS_THROUGH = {
    "ZeroPadding2D": lambda: keras.layers.ZeroPadding2D(1),
    "Cropping2D": lambda: keras.layers.Cropping2D(1),
    "UpSampling2D": lambda: keras.layers.UpSampling2D(2),
    "SpatialDropout2D": lambda: keras.layers.SpatialDropout2D(0.3),
    "GaussianNoise": lambda: keras.layers.GaussianNoise(0.1),
    "LeakyReLU": lambda: keras.layers.LeakyReLU(),
    "ELU": lambda: keras.layers.ELU(),
    "MaxPooling2D-same": lambda: keras.layers.MaxPooling2D(3, strides=1, padding="same"),
    "AveragePooling2D-same": lambda: keras.layers.AveragePooling2D(3, strides=1, padding="same"),
}


@pytest.mark.parametrize("kind", sorted(PASS_THROUGH))
def test_each_pass_through_layer_carries_a_dead_channel_through(kind):
    """conv -> LAYER -> conv: conv_1's planted dead filter is found through the layer and removed exactly."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_1")(inputs)
    x = PASS_THROUGH[kind]()(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name="conv_2")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.layers.GlobalMaxPooling2D()(x)))
    kernel, bias = model.get_layer("conv_1").get_weights()
    kernel[..., 2], bias[2] = 0, 0
    model.get_layer("conv_1").set_weights([kernel, bias + 0.1 * (np.arange(4) != 2)])
    small, report = compact_channels(model)
    assert dict(zip(report.layers, report.channels_after))["conv_1"] == 3
    x = np.random.default_rng(0).uniform(size=(16, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("merge", ["Average", "Maximum", "Minimum"])
def test_merges_tie_their_inputs_channels(merge):
    inputs = keras.Input((6, 6, 1))
    a = keras.layers.Conv2D(3, 3, name="a")(inputs)
    b = keras.layers.Conv2D(3, 3, name="b")(inputs)
    x = getattr(keras.layers, merge)(name="merge")([a, b])
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.layers.Flatten()(x)))
    graph = channel_graph(model)
    np.testing.assert_array_equal(_out(graph, "a"), _out(graph, "b"))
    for name in ("a", "b"):
        kernel, bias = model.get_layer(name).get_weights()
        kernel[..., 1], bias[1] = 0, 0
        model.get_layer(name).set_weights([kernel, bias])
    small, report = compact_channels(model)
    assert report.channels_after[:2] == (2, 2)
    x = np.random.default_rng(0).uniform(size=(8, 6, 6, 1)).astype(np.float32)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
