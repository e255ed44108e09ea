import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from l1lab import budget, target, train
from l1lab import config as config_lib
from l1lab._compat import tf
from l1lab.config import MethodOptions
from l1lab.structure import dead_structure, multiply_adds, summary

RELU = [lambda z: np.maximum(z, 0), lambda z: np.maximum(z, 0), lambda z: z]


def stack(seed=0, widths=(6, 4, 3, 2)):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(a, b)).astype(np.float32), rng.normal(size=b).astype(np.float32))
        for a, b in zip(widths, widths[1:])
    ]


def test_energy_is_the_mean_square_of_each_layers_inputs():
    weights = [(np.array([[1.0, -1.0], [2.0, 0.0]]), np.array([0.0, 1.0])), (np.array([[1.0], [1.0]]), np.zeros(1))]
    x = np.array([[1.0, 0.0], [3.0, 1.0]])
    energies = budget.activation_energy(weights, x, [lambda z: np.maximum(z, 0), lambda z: z])
    # layer 1's inputs: relu([1, 0], [5, -2]) = [1, 0], [5, 0]
    np.testing.assert_allclose(energies[0], [5.0, 0.5])
    np.testing.assert_allclose(energies[1], [13.0, 0.0])


def test_the_cheapest_least_used_group_goes_first_by_hand():
    # 3 features -> 2 units -> 1 output: 3*2 + 2*1 = 8 multiply-adds.
    w0 = np.array([[1.0, 1.0], [0.1, 0.1], [2.0, 2.0]], np.float32)
    w1 = np.array([[1.0], [1.0]], np.float32)
    weights = [(w0, np.zeros(2, np.float32)), (w1, np.zeros(1, np.float32))]
    energies = [np.ones(3), np.ones(2)]
    # feature shares 2/10.02, 0.02/10.02, 8/10.02 per 2 multiply-adds; units 1/2 each per 3 + 1.
    pruned, removed = budget.prune_to_budget(weights, energies, 6, 1e-5)
    assert removed == budget.Removed(inputs=1, units=(0,))
    np.testing.assert_array_equal(pruned[0][0][1], [0, 0])  # feature 1's row
    np.testing.assert_array_equal(pruned[0][0][[0, 2]], w0[[0, 2]])
    assert w0[1, 0] == np.float32(0.1)  # the caller's arrays are not changed


def test_a_unit_goes_with_its_column_row_and_bias():
    w0 = np.ones((2, 3), np.float32)
    w1 = np.array([[1.0], [0.01], [1.0]], np.float32)
    weights = [(w0, np.ones(3, np.float32)), (w1, np.ones(1, np.float32))]
    pruned, removed = budget.prune_to_budget(weights, [np.ones(2), np.ones(3)], 7, 1e-5)
    assert removed == budget.Removed(inputs=0, units=(1,))
    assert not pruned[0][0][:, 1].any() and pruned[0][1][1] == 0 and pruned[1][0][1, 0] == 0
    assert summary([k for k, _ in pruned], 1e-5)["multiply_adds"] == 2 * 2 + 2 * 1


def test_a_met_budget_changes_nothing():
    weights = stack()
    pruned, removed = budget.prune_to_budget(weights, [np.ones(6), np.ones(4), np.ones(3)], 6 * 4 + 4 * 3 + 3 * 2, 0)
    assert removed.groups == 0
    for (k, b), (k2, b2) in zip(weights, pruned):
        np.testing.assert_array_equal(k, k2)
        np.testing.assert_array_equal(b, b2)


def test_no_layer_loses_its_last_unit():
    pruned, removed = budget.prune_to_budget(stack(), [np.ones(6), np.ones(4), np.ones(3)], 0, 0)
    structure = dead_structure([k for k, _ in pruned], 0)
    assert structure.inputs.sum() == 1 and structure.widths() == [1, 1, 2]
    assert removed == budget.Removed(inputs=5, units=(3, 2))


@given(
    seed=st.integers(0, 2**16),
    budget_value=st.integers(0, 60),
    scale=st.floats(0.1, 10.0),
)
def test_the_budget_is_met_and_relu_rescaling_changes_no_choice(seed, budget_value, scale):
    weights = stack(seed)
    x = np.random.default_rng(seed + 1).uniform(0, 1, (16, 6))
    pruned, removed = budget.prune_to_budget(weights, budget.activation_energy(weights, x, RELU), budget_value, 0)
    structure = dead_structure([k for k, _ in pruned], 0)
    cost = multiply_adds(structure.widths(), int(structure.inputs.sum()))
    assert cost <= max(budget_value, 1 * 1 + 1 * 1 + 1 * 2)
    # Scaling a ReLU layer's incoming weights and bias by c and its outgoing ones by 1/c computes
    # the same function: the energy shares, and so the removed groups, do not change.
    (k0, b0), (k1, b1), last = weights
    rescaled = [(k0, b0), (k1 * scale, b1 * scale), (last[0] / scale, last[1])]
    again, removed_again = budget.prune_to_budget(
        rescaled, budget.activation_energy(rescaled, x, RELU), budget_value, 0
    )
    assert removed_again == removed
    for (a, _), (b, _) in zip(pruned, again):
        np.testing.assert_array_equal(a == 0, b == 0)


def test_widths_end_on_the_unit_multiple_by_hand():
    # 4 features -> 6 -> 5 -> 2, one-hot energies: the shares are the rows' squared norms.
    rng = np.random.default_rng(3)
    weights = [
        (rng.normal(size=(4, 6)).astype(np.float32), np.ones(6, np.float32)),
        (rng.normal(size=(6, 5)).astype(np.float32), np.ones(5, np.float32)),
        (rng.normal(size=(5, 2)).astype(np.float32), np.ones(2, np.float32)),
    ]
    energies = [np.ones(4), np.ones(6), np.ones(5)]
    pruned, removed = budget.prune_to_budget(weights, energies, 10_000, 0, unit_multiple=4)
    # Within budget already; widths 6 and 5 round down to 4: the 2 and 1 units of least share go.
    assert removed == budget.Removed(inputs=0, units=(2, 1))
    assert dead_structure([k for k, _ in pruned], 0).widths() == [4, 4, 2]
    rows = np.sum(weights[1][0].astype(np.float64) ** 2, axis=1)
    np.testing.assert_array_equal(pruned[0][0].any(axis=0), rows >= np.sort(rows)[2])


@given(
    seed=st.integers(0, 2**16),
    budget_value=st.integers(0, 3000),
    unit_multiple=st.sampled_from([2, 4, 8, 16]),
)
def test_the_budget_is_met_on_whole_tiles(seed, budget_value, unit_multiple):
    weights = stack(seed, widths=(40, 36, 21, 10))
    x = np.random.default_rng(seed + 1).uniform(0, 1, (16, 40))
    energies = budget.activation_energy(weights, x, RELU)
    pruned, _ = budget.prune_to_budget(weights, energies, budget_value, 0, unit_multiple)
    structure = dead_structure([k for k, _ in pruned], 0)
    hidden = structure.widths()[:-1]
    assert all(w % unit_multiple == 0 for w in hidden), hidden
    fewest = multiply_adds([unit_multiple, unit_multiple, 10], 1)
    assert multiply_adds(structure.widths(), int(structure.inputs.sum())) <= max(budget_value, fewest)


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match="`budget` needs to be >= 0"):
        budget.prune_to_budget(stack(), [np.ones(6), np.ones(4), np.ones(3)], -1, 0)
    with pytest.raises(ValueError, match="`energies` needs one array per layer"):
        budget.prune_to_budget(stack(), [np.ones(6)], 10, 0)
    with pytest.raises(ValueError, match="`unit_multiple` needs to be an integer >= 1"):
        budget.prune_to_budget(stack(), [np.ones(6), np.ones(4), np.ones(3)], 10, 0, unit_multiple=0)


def config(**overrides):
    base = dict(epochs=6, finetune_epochs=3, num_samples=64, batch_size=32, learning_rate=0.05, shuffle_buffer=64)
    base.update(method="proximal-sgd", options=MethodOptions(l1=1e-4), target_multiply_adds=2000, seed=0)
    return train.TrainConfig(**{**base, **overrides})


def test_a_run_removes_groups_on_its_schedule_and_fits_its_budget(tiny_split):
    run = train.Run(config(), tiny_split())
    events = list(run.events())
    finetuning = events[4:]
    removed = [e["removedByBudget"] for e in finetuning]
    assert removed[0]["inputs"] + sum(removed[0]["units"]) > 0
    assert [r["multiplyAdds"] for r in removed][-1] <= 2000
    costs = [r["multiplyAdds"] for r in removed]
    assert costs == sorted(costs, reverse=True)
    assert removed[-1]["inputs"] == 0 and removed[-1]["units"] == [0, 0]  # the holding epoch
    weights = [layer.kernel.numpy() for layer in run.model.layers if hasattr(layer, "kernel")]
    assert summary(weights, 1e-5)["multiply_adds"] <= 2000
    assert run.loop.train_epoch.experimental_get_tracing_count() == 1
    assert events[0]["args"]["targetMultiplyAdds"] == 2000


def test_a_run_with_a_unit_multiple_ends_on_whole_tiles(tiny_split):
    run = train.Run(config(unit_multiple=16), tiny_split())
    events = list(run.events())
    weights = [layer.kernel.numpy() for layer in run.model.layers if hasattr(layer, "kernel")]
    assert [w % 16 for w in dead_structure(weights, 1e-5).widths()[:-1]] == [0, 0]
    assert events[-1]["removedByBudget"]["multiplyAdds"] <= 2000
    assert events[0]["args"]["unitMultiple"] == 16


def test_a_budget_and_a_sparsity_target_together(tiny_split):
    events = list(train.Run(config(target_sparsity=0.97), tiny_split()).events())
    total = events[-1]["num_nonzero"]["total"]
    assert 1 - total["numNz"] / total["num"] >= 0.97
    assert events[-1]["removedByBudget"]["multiplyAdds"] <= 2000


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"target_multiply_adds": 0}, "whole number of multiply-adds >= 1"),
        ({"target_multiply_adds": 1.5}, "whole number of multiply-adds >= 1"),
        ({"target_multiply_adds": True}, "whole number of multiply-adds >= 1"),
        ({"finetune_epochs": 0}, "1 <= finetune_epochs < epochs"),
        ({"finetune_epochs": 6}, "from 0 to epochs - 1 = 5"),
        ({"unit_multiple": 0}, "`unit_multiple` needs to be an integer >= 1"),
        ({"unit_multiple": 16, "target_multiply_adds": None}, "set target_multiply_adds too"),
    ],
)
def test_impossible_budgets_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(config(), **overrides).validate()


def test_the_budget_is_part_of_a_runs_identity():
    assert config_lib.identity(config().as_args())["targetMultiplyAdds"] == 2000
    plain = dataclasses.replace(config(), target_multiply_adds=None).as_args()
    older = {k: v for k, v in plain.items() if k != "targetMultiplyAdds"}
    assert config_lib.identity_differences(plain, older) == {}


def test_guards_keep_each_hidden_units_largest_weights():
    first = np.array([[0.1, -3.0], [2.0, 0.5]])
    last = np.array([[0.2, -0.1], [0.0, 4.0]])
    guards = budget.unit_guards([first, np.zeros(2), last, np.zeros(2)])
    np.testing.assert_array_equal(guards[0], [[False, True], [True, False]])  # columns' largest
    np.testing.assert_array_equal(guards[2], [[True, False], [False, True]])  # rows' largest
    assert guards[1] is None and guards[3] is None


def test_magnitude_pruning_leaves_guarded_weights():
    kernel = tf.Variable([[0.01, 0.02], [0.03, 5.0]], name="kernel")
    guarded = [np.array([[True, False], [False, False]])]
    assert target.complete_by_magnitude([kernel], 0.5, guarded=guarded) == 2
    np.testing.assert_array_equal(kernel.numpy(), np.array([[0.01, 0], [0, 5.0]], np.float32))


def test_a_units_saving_counts_its_own_inputs():
    """3 features -> 2 units -> 1 output (8 multiply-adds), one group to go.

    Feature shares 0.3, 0.3, 0.4 per the 2 multiply-adds a feature feeds: 0.15, 0.15, 0.2. Unit shares
    0.5 per the 3 inputs it reads plus the 1 output it feeds: 0.125, the smallest, so a unit goes (it
    would not if its own inputs were left out of its saving: 0.5 per 1).
    """
    a, b = np.sqrt(1.5), np.sqrt(2.0)
    w0 = np.array([[a, a], [a, a], [b, b]], np.float32)
    weights = [(w0, np.zeros(2, np.float32)), (np.ones((2, 1), np.float32), np.zeros(1, np.float32))]
    pruned, removed = budget.prune_to_budget(weights, [np.ones(3), np.ones(2)], 7, 1e-5)
    assert removed == budget.Removed(inputs=0, units=(1,))
    assert summary([k for k, _ in pruned], 1e-5)["multiply_adds"] == 3 * 1 + 1 * 1


def test_the_importance_is_weighted_by_the_activation_energy():
    """Equal rows; feature 1 is nearly always dark (energy 0.01): it goes, not the first of a tie."""
    w0 = np.ones((3, 2), np.float32)
    weights = [(w0, np.zeros(2, np.float32)), (np.ones((2, 1), np.float32), np.zeros(1, np.float32))]
    pruned, removed = budget.prune_to_budget(weights, [np.array([1.0, 0.01, 1.0]), np.ones(2)], 7, 1e-5)
    assert removed == budget.Removed(inputs=1, units=(0,))
    np.testing.assert_array_equal(pruned[0][0].any(axis=1), [True, False, True])


def test_widths_go_to_the_nearest_multiple_of_the_greedy_plan():
    """The greedy order alone leaves 5 and 9 units here; on multiples of 4 that is 4 and 8, not 8 and 12."""
    rng = np.random.default_rng(2)
    widths = (20, 16, 12, 3)
    weights = [
        (rng.normal(size=(a, b)).astype(np.float32), rng.normal(size=b).astype(np.float32))
        for a, b in zip(widths, widths[1:])
    ]
    energies = [np.ones(20), np.ones(16), np.ones(12)]
    plain, _ = budget.prune_to_budget(weights, energies, 180, 0)
    assert dead_structure([k for k, _ in plain], 0).widths() == [5, 9, 3]
    tiled, _ = budget.prune_to_budget(weights, energies, 180, 0, unit_multiple=4)
    assert dead_structure([k for k, _ in tiled], 0).widths() == [4, 8, 3]


def test_guards_of_three_kernels_of_other_shapes_by_hand():
    """4 -> 3 -> 2 -> 2: the middle kernel guards its columns' and its rows' largest weights."""
    first = np.array([[0.1, 0.0, 0.3], [0.9, 0.2, 0.0], [0.0, 0.8, 0.1], [0.2, 0.1, 0.7]])
    middle = np.array([[0.5, -0.1], [0.2, 0.3], [-0.05, 0.01]])
    last = np.array([[1.0, 0.5], [0.9, 0.1]])  # rows' largest both in column 0; column 1's largest in row 0
    variables = [tf.Variable(first), tf.Variable(np.zeros(3)), tf.Variable(middle), tf.Variable(np.zeros(2))]
    guards = budget.unit_guards([*variables, tf.Variable(last), tf.Variable(np.zeros(2))])
    np.testing.assert_array_equal(
        guards[0], [[False, False, False], [True, False, False], [False, True, False], [False, False, True]]
    )  # incoming only: each column's largest
    np.testing.assert_array_equal(guards[2], [[True, False], [False, True], [True, False]])  # columns and rows
    np.testing.assert_array_equal(guards[4], [[True, False], [True, False]])  # outgoing only: each row's largest
    assert all(g.dtype == bool for g in guards if g is not None)
    assert [g is None for g in guards] == [False, True, False, True, False, True]


def test_energy_counts_each_units_bias():
    """Unit 1's pre-activations -1 + 3 and -3 + 3: relu 2 and 0, mean square 2 (subtracting the bias would give 0)."""
    weights = [(np.array([[1.0, -1.0], [2.0, 0.0]]), np.array([0.0, 3.0])), (np.array([[1.0], [1.0]]), np.zeros(1))]
    x = np.array([[1.0, 0.0], [3.0, 1.0]])
    energies = budget.activation_energy(weights, x, [lambda z: np.maximum(z, 0), lambda z: z])
    np.testing.assert_allclose(energies[1], [(1 + 25) / 2, (4 + 0) / 2])


def test_when_features_alone_cannot_meet_the_budget_the_widest_layer_loses_one_tile():
    """The greedy plan leaves 6 and 6 units: 8 and 8 on tiles of 4. One input then costs 8 + 64 + 24 = 96 > 84,
    so the first of the widest layers loses a tile: 4 and 8 units, 4 + 32 + 24 = 60 multiply-adds."""
    rng = np.random.default_rng(1)
    widths = (6, 12, 12, 3)
    weights = [
        (rng.normal(size=(a, b)).astype(np.float32), rng.normal(size=b).astype(np.float32))
        for a, b in zip(widths, widths[1:])
    ]
    energies = [rng.uniform(0.1, 1, 6), rng.uniform(0.1, 1, 12), rng.uniform(0.1, 1, 12)]
    plain, _ = budget.prune_to_budget(weights, energies, 84, 0)
    assert dead_structure([k for k, _ in plain], 0).widths() == [6, 6, 3]
    tiled, removed = budget.prune_to_budget(weights, energies, 84, 0, unit_multiple=4)
    assert summary([k for k, _ in tiled], 0) == {"kept_inputs": 1, "hidden_units": 12, "multiply_adds": 60}
    assert dead_structure([k for k, _ in tiled], 0).widths() == [4, 8, 3]
    assert removed == budget.Removed(inputs=5, units=(8, 4))


def test_groups_dead_by_epsilon_cost_nothing():
    """Feature 1's weights are 0.3, zero at epsilon 0.5: the stack already costs 2*2 + 2 = 6, so nothing goes."""
    w0 = np.array([[1.0, 1.0], [0.3, 0.3], [1.0, 1.0]], np.float32)
    weights = [(w0, np.zeros(2, np.float32)), (np.ones((2, 1), np.float32), np.zeros(1, np.float32))]
    energies = [np.ones(3), np.ones(2)]
    assert budget.prune_to_budget(weights, energies, 6, 0.5)[1] == budget.Removed(inputs=0, units=(0,))
    assert budget.prune_to_budget(weights, energies, 6, 1e-5)[1] == budget.Removed(inputs=1, units=(0,))


def test_among_equal_shares_the_first_units_go():
    """38 units whose shares alternate 1, 4: tiles of 16 leave 32, so 6 of the 19 smaller shares go, the
    first 6 (a stable order; NumPy's default sort reorders ties in arrays past 16 elements)."""
    w0 = np.ones((2, 38), np.float32)
    w1 = np.tile([[1.0], [2.0]], (19, 1)).astype(np.float32)  # outgoing norms 1, 4, 1, 4, ...
    weights = [(w0, np.zeros(38, np.float32)), (w1, np.zeros(1, np.float32))]
    pruned, removed = budget.prune_to_budget(weights, [np.ones(2), np.ones(38)], 10_000, 0, unit_multiple=16)
    assert removed == budget.Removed(inputs=0, units=(6,))
    np.testing.assert_array_equal(np.flatnonzero(~pruned[0][0].any(axis=0)), [0, 2, 4, 6, 8, 10])


def test_a_tie_between_layers_takes_the_input_side_first():
    """Feature shares 0.25, 0.5, 0.25 per 2 multiply-adds and unit shares 0.5 per 4: 0.125 both; feature 0 goes."""
    w0 = np.array([[1.0, 1.0], [2.0, 0.0], [1.0, 1.0]], np.float32)
    weights = [(w0, np.zeros(2, np.float32)), (np.ones((2, 1), np.float32), np.zeros(1, np.float32))]
    pruned, removed = budget.prune_to_budget(weights, [np.ones(3), np.ones(2)], 7, 1e-5)
    assert removed == budget.Removed(inputs=1, units=(0,))
    np.testing.assert_array_equal(pruned[0][0].any(axis=1), [False, True, True])


def _stack(widths, seed=3):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(a, b)).astype(np.float32), rng.normal(size=b).astype(np.float32))
        for a, b in zip(widths, widths[1:])
    ]


def test_tiles_round_hidden_layers_only_and_leave_a_narrow_layer_whole():
    """30 features -> 10 -> 20 -> 2 on tiles of 16: the 10-unit layer is narrower than a tile and stays
    10; the 20-unit layer goes to 16; the features are not rounded (they are inputs, not output channels).
    Cost: 30 * 10 + 10 * 16 + 16 * 2 = 492, the budget exactly."""
    weights = _stack((30, 10, 20, 2))
    energies = [np.ones(30), np.ones(10), np.ones(20)]
    tiled, removed = budget.prune_to_budget(weights, energies, 492, 0, unit_multiple=16)
    assert dead_structure([k for k, _ in tiled], 0).widths() == [10, 16, 2]
    assert dead_structure([k for k, _ in tiled], 0).inputs.sum() == 30 and removed.inputs == 0
    assert removed.units == (0, 4)


def test_when_features_alone_cannot_meet_the_budget_only_a_layer_wider_than_a_tile_loses_one():
    """30 -> 10 -> 40 -> 2 on tiles of 16, budget 100: 40 rounds to 32, then to 16 when the features
    run out; 10 (under a tile) and 16 (one tile) are never cut further, so the budget stays unmet."""
    weights = _stack((30, 10, 40, 2))
    energies = [np.ones(30), np.ones(10), np.ones(40)]
    tiled, _ = budget.prune_to_budget(weights, energies, 100, 0, unit_multiple=16)
    structure = dead_structure([k for k, _ in tiled], 0)
    assert structure.widths() == [10, 16, 2] and structure.inputs.sum() == 1  # 1 * 10 + 10 * 16 + 16 * 2
