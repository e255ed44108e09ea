"""A multiply-add budget on CNNs: group energies, greedy removal of whole channel groups, the run."""

import dataclasses

import numpy as np
import pytest

from l1lab import channel_budget, train
from l1lab._compat import keras
from l1lab.channels import channel_graph
from tests.test_channels import _out


def test_group_energy_is_each_groups_share_of_the_reading_layers_input_energy_by_hand():
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(2, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(hidden))
    model.get_layer("hidden").set_weights([np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), np.zeros(2)])
    model.get_layer("out").set_weights([np.array([[3.0], [1.0]]), np.zeros(1)])
    graph = channel_graph(model)
    x = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32)
    energy = channel_budget.group_energy(graph, graph.weights(), channel_budget.read_values(graph, x))
    # Inputs: E[x^2] = (1, 0.5, 0) times row norms^2 (1, 4, 2): shares 1/3, 2/3, 0.
    np.testing.assert_allclose(energy[graph.input_groups], [1 / 3, 2 / 3, 0])
    # Hidden units: relu(x W) = [[1, 2], [1, 0]], E[a^2] = (1, 2), times 9 and 1: shares 9/11, 2/11.
    np.testing.assert_allclose(energy[_out(graph, "hidden")], [9 / 11, 2 / 11])


def test_the_readers_weights_weigh_in_a_groups_energy(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    x = np.random.default_rng(0).uniform(size=(64, 12, 12, 1)).astype(np.float32)
    values = channel_budget.read_values(graph, x)
    weights = graph.weights()
    group = _out(graph, "conv_1")[4]
    before = channel_budget.group_energy(graph, weights, values)[group]
    np.moveaxis(weights["conv_2"][0], 2, 0)[4] *= 1e-3  # what reads conv_1's filter 4
    after = channel_budget.group_energy(graph, weights, values)[group]
    assert before > 0.01 and after < 1e-3 * before  # its share shrinks with its readers' weights


def test_the_budget_is_met_by_removing_whole_groups_least_important_first(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    weights = graph.weights()
    x = np.random.default_rng(0).uniform(size=(64, 12, 12, 1)).astype(np.float32)
    energy = channel_budget.group_energy(graph, weights, channel_budget.read_values(graph, x))
    budget = graph.multiply_adds() - 1
    pruned, removed = channel_budget.prune_channels_to_budget(graph, weights, energy, budget, 1e-5)
    dead = graph.dead_groups(pruned)
    (gone,) = np.flatnonzero(dead)
    assert removed == 1 and energy[gone] == energy[~graph.fixed].min()  # one group was enough: the least read
    assert graph.multiply_adds(dead) <= budget
    for slot in graph.trainable_slots():  # every entry of the group is zero, BatchNorm's gamma and beta too
        assert not np.moveaxis(pruned[slot.layer][slot.weight], slot.axis, 0)[slot.ids == gone].any()
    original = graph.weights()
    assert all(np.array_equal(a, b) for name in original for a, b in zip(original[name], weights[name]))


def test_a_tight_budget_leaves_one_channel_per_tensor(channel_model):
    graph = channel_graph(channel_model("residual"))
    weights = graph.weights()
    energy = np.random.default_rng(1).uniform(size=graph.num_groups)
    pruned, _ = channel_budget.prune_channels_to_budget(graph, weights, energy, 0, 1e-5)
    dead = graph.dead_groups(pruned)
    assert all((~dead[node.out_ids]).sum() >= 1 for node in graph.nodes if len(node.out_ids))
    assert graph.multiply_adds(dead) == channel_budget.smallest_multiply_adds(graph)


def test_the_smallest_model_by_hand(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    conv_1, conv_2, hidden = 10 * 10 * 9 * 1 * 1, 3 * 3 * 9 * 1 * 1, 9 * 1 * 1
    assert channel_budget.smallest_multiply_adds(graph) == conv_1 + conv_2 + hidden + 1 * 10


def test_a_met_budget_still_rounds_each_layer_down_to_the_multiple_least_important_groups_first(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    energy = np.random.default_rng(2).uniform(size=graph.num_groups)
    budget = graph.multiply_adds()
    pruned, removed = channel_budget.prune_channels_to_budget(graph, graph.weights(), energy, budget, 1e-5, 4)
    dead = graph.dead_groups(pruned)
    kept = {name: after for name, _, after in graph.channels(dead)}
    assert kept == {"conv_1": 4, "conv_2": 4, "hidden": 8, "predictions": 10} and removed == 2 + 1
    for name, count in (("conv_1", 2), ("conv_2", 1)):
        ids = _out(graph, name)
        np.testing.assert_array_equal(np.sort(ids[dead[ids]]), np.sort(ids[np.argsort(energy[ids])[:count]]))


@pytest.mark.parametrize("budget_share", [0.9, 0.5, 0.0])
def test_a_unit_multiple_leaves_each_layer_a_multiple_of_it_or_what_it_had_when_narrower(channel_model, budget_share):
    graph = channel_graph(channel_model("conv-bn"))
    energy = np.random.default_rng(0).uniform(size=graph.num_groups)
    budget = int(budget_share * graph.multiply_adds())
    pruned, _ = channel_budget.prune_channels_to_budget(graph, graph.weights(), energy, budget, 1e-5, 4)
    dead = graph.dead_groups(pruned)
    for name, _, after in graph.channels(dead)[:-1]:
        assert after % 4 == 0 and after >= 4, name
    smallest = channel_budget.smallest_multiply_adds(graph, 4)
    assert graph.multiply_adds(dead) <= max(budget, smallest)


def test_the_smallest_model_at_a_unit_multiple_by_hand(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    # Four channels per layer: conv_1 (10x10 positions, 3x3x1 -> 4), conv_2 (3x3, 3x3x4 -> 4),
    # hidden (36 inputs -> 4), predictions (4 -> 10).
    assert channel_budget.smallest_multiply_adds(graph, 4) == 10 * 10 * 9 * 4 + 3 * 3 * 9 * 4 * 4 + 36 * 4 + 4 * 10
    # A multiple wider than every layer keeps each one whole.
    assert channel_budget.smallest_multiply_adds(graph, 16) == graph.multiply_adds()


def test_bad_budgets_are_refused(channel_model):
    graph = channel_graph(channel_model("conv-bn"))
    with pytest.raises(ValueError, match="`budget` needs to be >= 0"):
        channel_budget.prune_channels_to_budget(graph, graph.weights(), np.zeros(graph.num_groups), -1, 1e-5)
    with pytest.raises(ValueError, match="`energy` needs one value per group"):
        channel_budget.prune_channels_to_budget(graph, graph.weights(), np.zeros(3), 10, 1e-5)
    with pytest.raises(ValueError, match="`unit_multiple` needs to be >= 1"):
        channel_budget.prune_channels_to_budget(graph, graph.weights(), np.zeros(graph.num_groups), 10, 1e-5, 0)


def test_a_cnn_run_reaches_its_budget_on_the_schedule_and_holds_it(tiny_split, cnn_config):
    run = train.Run(cnn_config(epochs=4, finetune_epochs=3, target_multiply_adds=40_000), tiny_split())
    events = [e for e in run.events() if e["event"] == "measure_test"]
    costs = [e["removedByBudget"]["multiplyAdds"] for e in events[1:]]
    assert costs[0] > costs[-1] and costs[-1] <= 40_000  # down on the cubic schedule, to the budget
    graph = channel_graph(run.model)
    assert graph.multiply_adds(graph.dead_groups()) <= 40_000


def test_a_budget_under_the_smallest_cnn_is_refused_before_training(tiny_split):
    config = train.TrainConfig(epochs=2, finetune_epochs=1, model="tfmot-cnn", target_multiply_adds=100)
    with pytest.raises(ValueError, match="needs to be at least 6,?[0-9]*|needs to be at least"):
        train.Run(config, tiny_split())


def test_a_cnn_run_at_a_unit_multiple_ends_with_tiles_of_channels(tiny_split, cnn_config):
    config = cnn_config(target_multiply_adds=40_000, unit_multiple=4)
    run = train.Run(config, tiny_split())
    list(run.events())
    graph = channel_graph(run.model)
    dead = graph.dead_groups()
    # 7,774 multiply-adds a filter (conv and its Dense inputs): 5 would fit 40,000, 4 is the tile.
    assert graph.channels(dead)[0] == ("conv", 12, 4) and graph.multiply_adds(dead) == 4 * 7_774
    tight = dataclasses.replace(config, target_multiply_adds=20_000)
    with pytest.raises(ValueError, match=r"at least 31,?096.*\(4 channels per layer\)"):
        train.Run(tight, tiny_split())
