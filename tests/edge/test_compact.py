"""Compaction: a smaller dense model with the same input and output (both Keras flavours)."""

import numpy as np
import pytest

from l1lab._compat import keras
from l1lab.edge import compact as compact_lib
from l1lab.model import build_model


def test_outputs_equal_and_layers_shrink(planted_model):
    model = planted_model()
    small, report = compact_lib.compact(model)
    x = np.random.default_rng(1).uniform(0, 1, size=(256, 784)).astype(np.float32)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)
    assert report.kept_inputs == 284 and report.widths_before == (64, 64, 10)
    assert report.widths_after == (61, 62, 10) and report.folded_units == (2, 1, 0)
    assert report.multiply_adds_after == 284 * 61 + 61 * 62 + 62 * 10 < report.multiply_adds_before
    assert tuple(small.inputs[0].shape) == (None, 784) and tuple(small.outputs[0].shape) == (None, 10)
    assert "multiply-adds" in report.table() and report.as_dict()["multiply_adds_after"] == report.multiply_adds_after


@pytest.mark.parametrize("epsilon, tolerance", [(0.0, 1e-6), (1e-5, 1e-5)])
def test_a_dense_model_compacts_to_itself(epsilon, tolerance):
    """With epsilon 1e-5 the few initial weights within 1e-5 of zero are dropped: outputs move by ~1e-6."""
    model = build_model(seed=3)
    small, report = compact_lib.compact(model, epsilon=epsilon)
    assert report.widths_after == report.widths_before and report.kept_inputs == 784
    assert not any(isinstance(layer, compact_lib.SelectFeatures) for layer in small.layers)
    x = np.random.default_rng(0).normal(size=(8, 784)).astype(np.float32)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=tolerance, atol=tolerance)


def test_any_widths_and_a_layer_with_every_unit_dead():
    model = build_model((7, 5, 3), input_dim=6, num_classes=4, seed=0)
    k2 = model.get_layer("dense_2").kernel.numpy()
    model.get_layer("dense_2").kernel.assign(np.zeros_like(k2))  # dense_2's units all constant
    small, report = compact_lib.compact(model)
    assert report.widths_after[1] == 1  # one silent unit keeps the graph well-formed
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_the_compact_model_saves_and_loads(tmp_path, planted_model):
    small, _ = compact_lib.compact(planted_model())
    path = tmp_path / "compact.keras"
    small.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(2).uniform(size=(4, 784)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x).numpy(), small(x).numpy())


def test_a_layer_without_a_handler_is_refused_naming_it():
    inputs = keras.Input(shape=(8,))
    x = keras.layers.Dense(4, name="dense_1")(inputs)
    x = keras.layers.Reshape((2, 2), name="reshape")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(keras.layers.Flatten()(x)))
    with pytest.raises(compact_lib.CompactionError, match="'reshape' \\(Reshape\\): no handler.*Fix"):
        compact_lib.compact(model)


def test_a_model_with_other_layers_goes_through_the_channel_graph():
    inputs = keras.Input(shape=(8,))
    x = keras.layers.Dense(4, name="dense_1")(inputs)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(x))
    kernel = model.get_layer("dense_1").kernel.numpy()
    kernel[:, 1] = 0
    model.get_layer("dense_1").kernel.assign(kernel)
    small, report = compact_lib.compact(model)
    assert report.channels_after == (3, 2) and not compact_lib.is_dense_stack(small)  # its Dropout stays
    x = np.random.default_rng(0).normal(size=(8, 8)).astype(np.float32)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_without_input_selection_reads_the_kept_features_directly(planted_model):
    model = planted_model()
    small, report = compact_lib.compact(model)
    direct, indices = compact_lib.without_input_selection(small)
    assert len(indices) == report.kept_inputs == 284 and tuple(direct.inputs[0].shape) == (None, 284)
    assert not any(isinstance(layer, compact_lib.SelectFeatures) for layer in direct.layers)
    x = np.random.default_rng(2).uniform(0, 1, size=(64, 784)).astype(np.float32)
    np.testing.assert_allclose(direct(x[:, indices]).numpy(), small(x).numpy(), rtol=1e-6, atol=1e-6)
    dense = build_model(seed=3)
    assert compact_lib.without_input_selection(dense) == (dense, None)  # every input read: as is


def test_a_constant_unit_fed_by_a_folded_constant_uses_the_folded_bias():
    """dense_1's constant unit feeds dense_2's unit 11 alone, through a ReLU that the fold decides.

    relu(b2 + relu(b1) * w) = relu(-0.5 + 0.7 * 1.0) = 0.2, where the unfolded bias would give relu(-0.5) = 0.
    """
    model = build_model(seed=4)
    k1, b1 = model.get_layer("dense_1").get_weights()
    k2, b2 = model.get_layer("dense_2").get_weights()
    k3, b3 = model.get_layer("predictions").get_weights()
    k1[:, 3], b1[3] = 0, 0.7  # constant relu(0.7) = 0.7
    k2[:, 11], k2[3, 11], b2[11] = 0, 1.0, -0.5  # reads only the constant unit: constant relu(0.2)
    k3[11] = 5.0  # and the outputs read it strongly
    for name, weights in (("dense_1", [k1, b1]), ("dense_2", [k2, b2]), ("predictions", [k3, b3])):
        model.get_layer(name).set_weights(weights)
    small, report = compact_lib.compact(model)
    assert report.folded_units == (1, 1, 0) and report.widths_after == (63, 63, 10)
    x = np.random.default_rng(2).uniform(0, 1, size=(64, 784)).astype(np.float32)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dead_pixels", [0, 1, 2])
def test_pixels_are_gathered_as_soon_as_one_is_dead(dead_pixels):
    model = build_model(seed=5)
    kernel = model.get_layer("dense_1").kernel
    weights = kernel.numpy()
    weights[[100, 400][:dead_pixels]] = 0
    kernel.assign(weights)
    small, report = compact_lib.compact(model)
    selections = [layer for layer in small.layers if isinstance(layer, compact_lib.SelectFeatures)]
    assert report.kept_inputs == 784 - dead_pixels and len(selections) == (1 if dead_pixels else 0)
    if dead_pixels:
        assert len(selections[0].indices) == 784 - dead_pixels and 100 not in selections[0].indices
    x = np.random.default_rng(3).uniform(0, 255, size=(16, 784)).astype(np.float32)
    np.testing.assert_allclose(small(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-3)


def test_a_compacted_model_is_not_compacted_again(planted_model):
    small, _ = compact_lib.compact(planted_model())
    with pytest.raises(compact_lib.CompactionError, match="the model is compacted already"):
        compact_lib.compact(small)


def test_the_report_by_hand():
    report = compact_lib.CompactionReport(
        input_dim=6,
        kept_inputs=4,
        layers=("dense_1", "out"),
        widths_before=(5, 3),
        widths_after=(2, 3),
        folded_units=(1, 0),
    )
    assert report.multiply_adds_before == 6 * 5 + 5 * 3 and report.multiply_adds_after == 4 * 2 + 2 * 3
    assert set(report.as_dict()) == {
        "input_dim", "kept_inputs", "layers", "widths_before", "widths_after", "folded_units",
        "multiply_adds_before", "multiply_adds_after",
    }  # fmt: skip
    assert report.as_dict()["multiply_adds_before"] == 45 and report.as_dict()["multiply_adds_after"] == 14
    lines = report.table().splitlines()
    assert [line.split() for line in lines] == [
        ["layer", "before", "after", "folded"],
        ["-" * len("multiply-adds"), "------", "-----", "------"],
        ["inputs", "6", "4", "-"],
        ["dense_1", "5", "2", "1"],
        ["out", "3", "3", "0"],
        ["multiply-adds", "45", "14", "-"],
    ]
    widths = [len(cell) for cell in lines[1].split()]
    assert [len(line) for line in lines[2:]] == [sum(widths) + 2 * 3] * 4  # every row filled to the last column
    assert lines[2].index("6") + 1 == widths[0] + 2 + widths[1]  # numbers right-aligned under their header


def test_epsilon_decides_what_is_dead_and_a_weight_at_epsilon_is_zero():
    model = build_model((4,), input_dim=3, num_classes=2, seed=0)
    kernel = np.full((3, 4), 0.5, np.float32)
    kernel[:, 1] = 0.25  # unit 1: all incoming weights at epsilon
    kernel[2, :] = 0.125  # pixel 2: every weight below epsilon
    kernel[0, 0] = 0.25  # one weight at epsilon in a kept unit: zero in the compact model too
    model.get_layer("dense_1").kernel.assign(kernel)
    model.get_layer("predictions").kernel.assign(np.ones((4, 2), np.float32))  # every unit is read
    small, report = compact_lib.compact(model, epsilon=0.25)
    assert report.kept_inputs == 2 and report.widths_after == (3, 2) and report.folded_units == (1, 0)
    first = next(layer for layer in small.layers if isinstance(layer, keras.layers.Dense))
    np.testing.assert_array_equal(first.get_weights()[0], [[0.0, 0.5, 0.5], [0.5, 0.5, 0.5]])
    assert compact_lib.compact(model)[1].widths_after == (4, 2)  # the default epsilon keeps them


@pytest.mark.parametrize("epsilon", [float("inf"), float("nan"), -1.0, "0.1", None])
def test_compact_refuses_an_epsilon_that_is_not_finite_and_non_negative(epsilon):
    with pytest.raises(compact_lib.CompactionError, match="`epsilon` needs to be finite and >= 0"):
        compact_lib.compact(build_model(seed=0), epsilon=epsilon)


def test_the_compact_model_keeps_the_input_name_and_is_named_after_the_model(planted_model):
    model = planted_model()
    small, _ = compact_lib.compact(model)
    assert small.name == f"{model.name}_compact"
    assert small.inputs[0].name.split(":")[0] == model.inputs[0].name.split(":")[0]
    assert [layer.name for layer in small.layers if isinstance(layer, compact_lib.SelectFeatures)] == [
        "select_features"
    ]


def test_a_subclass_of_dense_is_refused_and_a_model_without_dense_layers_stays():
    from l1lab._compat import keras

    class Scaled(keras.layers.Dense):
        pass

    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, Scaled(2, name="scaled")(inputs))
    with pytest.raises(compact_lib.CompactionError, match="layer 'scaled' \\(Scaled\\): no handler for it"):
        compact_lib.compact(model)
    empty = keras.Model(inputs, keras.layers.Activation("relu")(inputs))
    small, report = compact_lib.compact(empty)  # nothing makes channels: the same model
    assert report.layers == () and report.multiply_adds_after == report.multiply_adds_before == 0
    with pytest.raises(compact_lib.CompactionError, match="^the model has no Dense layer to compact$"):
        compact_lib.dense_layers(keras.Model(inputs, inputs))


def test_refusals_say_what_to_do():
    from l1lab._compat import keras

    inputs = keras.Input(shape=(28, 28))
    with pytest.raises(
        compact_lib.CompactionError, match=r"flatten the input first \(keras.Input\(shape=\(features,\)\)\)$"
    ):
        compact_lib.compact(keras.Model(inputs, keras.layers.Dense(2)(inputs)))
