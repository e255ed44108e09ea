"""The channel dependency graph: groups per handler, dead groups at the fixed point, multiply-adds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l1lab import channel_handlers, channels
from l1lab._compat import keras
from l1lab.channels import READS, STATE, WRITES, UnsupportedLayerError, channel_graph
from l1lab.structure import dead_structure
from tests.conftest import CHANNEL_MODELS


def _slot(graph, variable, axis):
    """The slot of ``"layer/weight"`` along ``axis`` (Keras 3 prefixes a Sequential's variables with its name)."""
    (slot,) = [s for s in graph.slots if f"{s.layer}/{s.variable.rsplit('/', 1)[-1]}" == variable and s.axis == axis]
    return slot


def _out(graph, layer):
    return next(node.out_ids for node in graph.nodes if node.layer.name == layer)


def plant(graph, weights, groups):
    """Zeroes every trainable entry of ``groups``: what group lasso does to a group it removes."""
    return graph.zeroed(weights, groups)


def test_a_conv_chain_couples_filters_batchnorm_and_the_next_inputs(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    conv_1 = _out(graph, "conv_1")
    assert len(conv_1) == 6 and len(set(conv_1)) == 6
    for variable in ("conv_1/kernel", "conv_1/bias"):
        np.testing.assert_array_equal(_slot(graph, variable, 3 if "kernel" in variable else 0).ids, conv_1)
    for variable, role in (("bn_1/gamma", WRITES), ("bn_1/beta", WRITES), ("bn_1/moving_mean", STATE)):
        slot = _slot(graph, variable, 0)
        assert slot.role == role and np.array_equal(slot.ids, conv_1)
    assert _slot(graph, "conv_2/kernel", 2).role == READS
    np.testing.assert_array_equal(_slot(graph, "conv_2/kernel", 2).ids, conv_1)
    # Flatten: conv_2's 3x3 positions, channels last, so row p*5 + c of hidden's kernel is channel c's.
    np.testing.assert_array_equal(_slot(graph, "hidden/kernel", 0).ids, np.tile(_out(graph, "conv_2"), 9))
    assert graph.num_groups == 1 + 6 + 5 + 8 + 10
    assert graph.fixed[_out(graph, "predictions")].all() and graph.fixed[graph.input_groups].all()
    assert graph.fixed.sum() == 11


def test_depthwise_ties_each_input_channel_to_its_output_channel(channel_model):
    graph = channel_graph(channel_model("depthwise-separable"))
    conv_1 = _out(graph, "conv_1")
    np.testing.assert_array_equal(_out(graph, "depthwise"), conv_1)
    np.testing.assert_array_equal(_slot(graph, "pointwise/kernel", 2).ids, conv_1)
    depthwise_kernel = [s for s in graph.slots if s.layer == "depthwise"]
    assert len(depthwise_kernel) == 1 and depthwise_kernel[0].axis == 2
    np.testing.assert_array_equal(_slot(graph, "hidden/kernel", 0).ids, _out(graph, "pointwise"))  # GAP: one each


def test_a_depth_multiplier_gives_each_input_channel_several_outputs():
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.layers.Flatten()(x)))
    graph = channel_graph(model)
    np.testing.assert_array_equal(_out(graph, "dw"), np.repeat(graph.input_groups, 2))


def test_a_residual_add_ties_both_branches(channel_model):
    graph = channel_graph(channel_model("residual"))
    np.testing.assert_array_equal(_out(graph, "stem"), _out(graph, "conv_b"))
    np.testing.assert_array_equal(_out(graph, "add"), _out(graph, "stem"))
    assert len(set(_out(graph, "conv_a")) & set(_out(graph, "stem"))) == 0
    assert graph.num_groups == 1 + 6 + 4 + 8 + 10


def test_concatenate_stacks_the_ranges_of_its_inputs(channel_model):
    graph = channel_graph(channel_model("concatenate"))
    stacked = np.concatenate([_out(graph, "left"), _out(graph, "right")])
    np.testing.assert_array_equal(_out(graph, "concat"), stacked)
    np.testing.assert_array_equal(_slot(graph, "mix/kernel", 2).ids, stacked)


@pytest.mark.parametrize(
    "kind, layer, channels_",
    [
        ("conv-bn", "conv_1", [1, 4]),
        ("conv-bn", "conv_2", [0]),
        ("depthwise-separable", "conv_1", [2, 3, 5]),
        ("depthwise-separable", "pointwise", [6]),
        ("residual", "stem", [0, 5]),
        ("residual", "conv_a", [1]),
        ("concatenate", "right", [0, 4]),
        ("concatenate", "mix", [2]),
        ("concatenate", "hidden", [3]),
    ],
)
def test_a_planted_group_is_dead_and_nothing_else(channel_model, kind, layer, channels_):
    graph = channel_graph(channel_model(kind))
    groups = _out(graph, layer)[channels_]
    dead = graph.dead_groups(plant(graph, graph.weights(), groups))
    assert sorted(np.flatnonzero(dead)) == sorted(groups)
    assert not graph.dead_groups().any()


def test_a_channel_nothing_reads_is_dead_though_its_filter_writes(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    weights = graph.weights()
    weights["conv_2"][0][:, :, 3, :] = 0  # conv_2 reads nothing of conv_1's channel 3
    assert np.flatnonzero(graph.dead_groups(weights)).tolist() == [_out(graph, "conv_1")[3]]


def test_removing_a_group_leaves_others_dead_at_the_fixed_point(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    weights = graph.weights()
    weights["predictions"][0][[2, 5]] = 0  # nothing reads hidden's units 2 and 5: dead
    rows = np.arange(1, 45, 5)  # conv_2's filter 1 at its 9 positions of the flat vector
    weights["hidden"][0][rows] = 0
    weights["hidden"][0][rows, 2] = 1.0  # read by unit 2 alone, which dies: then filter 1 dies too
    dead = graph.dead_groups(weights)
    want = {_out(graph, "hidden")[2], _out(graph, "hidden")[5], _out(graph, "conv_2")[1]}
    assert set(np.flatnonzero(dead)) == want


def test_batchnorm_with_gamma_and_beta_zero_kills_the_channel_whatever_its_filter(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    weights = graph.weights()
    weights["bn_1"][0][2] = weights["bn_1"][1][2] = 0  # network slimming's zero, and beta with it
    assert np.flatnonzero(graph.dead_groups(weights)).tolist() == [_out(graph, "conv_1")[2]]
    weights["bn_1"][1][2] = 0.3  # gamma zero alone: the channel is the constant relu(0.3), not dead
    assert not graph.dead_groups(weights).any()


def test_a_zero_filter_through_an_activation_that_moves_zero_stays(channel_model):
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = keras.layers.Activation("sigmoid", name="sigmoid")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.layers.Flatten()(x)))
    graph = channel_graph(model)
    weights = plant(graph, graph.weights(), [])
    weights["conv"][0][..., 1], weights["conv"][1][1] = 0, 0
    assert not graph.dead_groups(weights).any()  # sigmoid(0) = 0.5 is read
    weights["out"][0][1::3] = 0  # ... until nothing reads it
    assert np.flatnonzero(graph.dead_groups(weights)).tolist() == [_out(graph, "conv")[1]]


def test_epsilon_decides_what_is_zero(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    weights = graph.weights()
    weights["conv_2"][0][:, :, 0, :] = 1e-6
    assert graph.dead_groups(weights, epsilon=1e-5).sum() == 1
    assert not graph.dead_groups(weights, epsilon=1e-7).any()


def test_multiply_adds_by_hand(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    conv_1 = 10 * 10 * 9 * 1 * 6
    conv_2 = 3 * 3 * 9 * 6 * 5
    dense = 45 * 8 + 8 * 10
    assert graph.multiply_adds() == conv_1 + conv_2 + dense
    dead = np.zeros(graph.num_groups, bool)
    dead[_out(graph, "conv_1")[:2]] = True
    assert graph.multiply_adds(dead) == 10 * 10 * 9 * 4 + 3 * 3 * 9 * 4 * 5 + dense
    assert graph.channels(dead)[:2] == [("conv_1", 6, 4), ("conv_2", 5, 5)]


def test_depthwise_multiply_adds_follow_its_channels(channel_model):
    graph = channel_graph(channel_model("depthwise-separable"))
    dead = np.zeros(graph.num_groups, bool)
    dead[_out(graph, "conv_1")[0]] = True
    depthwise = [n for n in graph.nodes if n.layer.name == "depthwise"][0]
    handler = channels.HANDLERS[type(depthwise.layer)]
    assert (
        handler.multiply_adds(
            depthwise.layer, [~dead[depthwise.in_ids[0]]], ~dead[depthwise.out_ids], depthwise.out_shape
        )
        == 144 * 9 * 5
    )


@pytest.mark.parametrize("kind", CHANNEL_MODELS)
def test_sequential_and_both_flavours_trace_the_same(channel_model, kind):
    graph = channel_graph(channel_model(kind))
    assert graph.num_groups == len(np.unique(np.concatenate([n.out_ids for n in graph.nodes])))
    assert {slot.variable.rsplit("/", 1)[-1] for slot in graph.slots} <= {
        "kernel",
        "bias",
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
        "depthwise_kernel",
    }


def test_a_sequential_model_is_traced():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(3, 3, name="c"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, name="d"),
        ]
    )
    graph = channel_graph(model)
    np.testing.assert_array_equal(_slot(graph, "d/kernel", 0).ids, np.tile(_out(graph, "c"), 36))


def test_a_layer_without_a_handler_is_named_with_the_fix():
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.Reshape((32,), name="reshape")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(UnsupportedLayerError, match=r"layer 'reshape' \(Reshape\): no handler.*register_handler"):
        channel_graph(model)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda i: keras.layers.Conv2D(4, 3, groups=2, name="grouped")(i), "grouped Conv2D"),
        (lambda i: keras.layers.BatchNormalization(axis=1, name="bn")(i), "BatchNormalization over axis"),
    ],
)
def test_couplings_without_a_handler_are_refused(build, message):
    inputs = keras.Input((6, 6, 2))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(build(inputs))))
    with pytest.raises(UnsupportedLayerError, match=message):
        channel_graph(model)


def test_a_shared_layer_and_two_inputs_are_refused():
    inputs = keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    model = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(UnsupportedLayerError, match="'shared' is called 2 times"):
        channel_graph(model)
    a, b = keras.Input((4,)), keras.Input((4,))
    with pytest.raises(UnsupportedLayerError, match="2 inputs and 1 outputs"):
        channel_graph(keras.Model([a, b], keras.layers.Add()([a, b])))


def test_a_new_layer_type_is_one_handler(monkeypatch):
    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    handler = channels.Handler(channel_handlers._pass_through_propagate, lambda node, weights, zero_in: zero_in[0])
    monkeypatch.setitem(channels.HANDLERS, Scale, handler)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(Scale(name="scale")(inputs)))
    graph = channel_graph(model)
    np.testing.assert_array_equal(_slot(graph, "out/kernel", 0).ids, graph.input_groups)


def test_network_slimming_acts_on_the_gammas(channel_model):
    names = channel_graph(channel_model("residual")).slimming_names()
    assert names == [f"{bn}/{p}" for bn in ("bn_stem", "bn_a", "bn_b") for p in ("gamma", "beta")]
    config = channel_graph(channel_model("conv-bn")).groups_config()
    assert {entry["variable"] for entry in config} >= {"conv_1/kernel", "bn_1/gamma", "hidden/kernel"}
    assert all("moving" not in entry["variable"] for entry in config)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=3),
    st.integers(0, 2**32 - 1),
    st.floats(0.2, 0.8),
)
def test_on_a_dense_stack_the_graph_finds_what_dead_structure_finds(widths, seed, density):
    """With zero biases no unit is a constant, so both definitions of dead agree."""
    rng = np.random.default_rng(seed)
    dims = [4, *widths, 3]
    inputs = keras.Input((dims[0],))
    x = inputs
    for i, units in enumerate(dims[1:]):
        x = keras.layers.Dense(units, activation="relu" if i < len(dims) - 2 else None, name=f"d{i}")(x)
    model = keras.Model(inputs, x)
    kernels = [rng.normal(size=(a, b)) * (rng.uniform(size=(a, b)) < density) for a, b in zip(dims, dims[1:])]
    for i, kernel in enumerate(kernels):
        model.get_layer(f"d{i}").set_weights([kernel, np.zeros(kernel.shape[1])])
    graph = channel_graph(model)
    dead = graph.dead_groups()
    want = dead_structure(kernels)
    np.testing.assert_array_equal(~dead[graph.input_groups], want.inputs)
    for i, units in enumerate(want.units):
        np.testing.assert_array_equal(~dead[_out(graph, f"d{i}")], units)
