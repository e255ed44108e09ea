import dataclasses
import math

import numpy as np
import pytest

from l1lab import config as config_lib
from l1lab import target, train
from l1lab._compat import keras, tf
from l1lab.config import MethodOptions
from l1lab.optimizers import ProximalAdagrad, ProximalSGD


def config(**overrides):
    base = dict(epochs=6, finetune_epochs=2, num_samples=64, batch_size=32, learning_rate=0.05, shuffle_buffer=64)
    base.update(method="proximal-sgd", options=MethodOptions(l1=1e-3), target_sparsity=0.8, seed=0)
    return train.TrainConfig(**{**base, **overrides})


def test_the_ramp_levels_off_short_of_the_target_three_quarters_through():
    wanted = [target.ramp(0.9, e, 8) for e in range(8)]
    assert wanted[0] == pytest.approx(0.9 * 0.98 / 6) and wanted[5] == wanted[7] == pytest.approx(0.9 * 0.98)
    assert all(a < b for a, b in zip(wanted[:6], wanted[1:6]))


@pytest.mark.parametrize(
    "sparsity, wanted, expected",
    [
        (0.5, 0.5, 1.0),  # on the ramp: unchanged
        (0.4, 0.5, math.exp(4 * 0.1 / 0.9)),  # behind: stronger
        (0.6, 0.5, math.exp(-4 * 0.1 / 0.9)),  # ahead: weaker
        (0.0, 0.9, 2.0),  # far behind: at most 2x
        (0.9, 0.0, 0.5),  # far ahead: at least 1/2
    ],
)
def test_the_scale_moves_towards_the_ramp(sparsity, wanted, expected):
    assert target.next_scale(2.0, sparsity, wanted, 0.9) == pytest.approx(2.0 * expected)


def test_completion_zeros_the_smallest_kernel_weights_never_a_bias():
    kernel = tf.Variable([[0.5, -0.01, 0.0], [0.02, -0.3, 0.004]], name="kernel")
    bias = tf.Variable([0.001, 0.2, 0.0], name="bias")
    # 9 weights, 2 zeros; 0.5 wants ceil(4.5) = 5 zeros: the 3 smallest kernel weights go.
    assert target.complete_by_magnitude([kernel, bias], 0.5) == 3
    np.testing.assert_array_equal(kernel.numpy(), np.array([[0.5, 0, 0], [0, -0.3, 0]], np.float32))
    np.testing.assert_array_equal(bias.numpy(), np.array([0.001, 0.2, 0.0], np.float32))  # the smallest stays
    assert target.complete_by_magnitude([kernel, bias], 0.5) == 0  # met: nothing more


def test_completion_stops_when_no_kernel_weight_is_left():
    kernel = tf.Variable([[1.0, 2.0]], name="kernel")
    bias = tf.Variable([3.0, 4.0], name="bias")
    assert target.complete_by_magnitude([kernel, bias], 0.99) == 2
    assert not kernel.numpy().any() and bias.numpy().all()


@pytest.mark.parametrize("optimizer_class", [ProximalSGD, ProximalAdagrad])
def test_the_strength_scale_multiplies_every_strength(optimizer_class):
    """Scale 3 with strengths c steps exactly as scale 1 with strengths 3c (L1 and groups)."""
    gradient = tf.constant(np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32))
    start = np.random.default_rng(1).normal(scale=0.1, size=(6, 4)).astype(np.float32)
    results = []
    for scale, c in ((3.0, 0.05), (1.0, 0.15)):
        variable = keras.Variable(start, name="kernel") if hasattr(keras, "Variable") else tf.Variable(start)
        optimizer = optimizer_class(0.1, l1=c, group_l1=c)
        optimizer.build([variable])
        optimizer.strength_scale.assign(scale)
        optimizer.apply_gradients([(gradient, variable)])
        results.append(np.array(variable.numpy()))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6, atol=1e-7)
    assert (results[0] == 0).any()  # the test means something: thresholds bit


def test_a_run_reaches_its_target_and_holds_it(tiny_split):
    events = list(train.Run(config(epochs=14, finetune_epochs=3), tiny_split()).events())
    measures = events[1:]
    totals = [e["num_nonzero"]["total"] for e in measures]
    sparsities = [1 - t["numNz"] / t["num"] for t in totals]
    assert all("strengthScale" in e for e in measures[:11]) and "strengthScale" not in measures[11]
    assert measures[0]["strengthScale"] == 1.0 and max(e["strengthScale"] for e in measures[:11]) > 1.0
    assert measures[11]["completedByMagnitude"] >= 0
    assert all(0.8 <= s <= 0.85 for s in sparsities[11:]), sparsities  # reached, held, not far above
    assert events[0]["args"]["targetSparsity"] == 0.8


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"target_sparsity": 1.0}, "strictly between 0 and 1"),
        ({"target_sparsity": 0.0}, "strictly between 0 and 1"),
        ({"target_sparsity": "0.9"}, "`target_sparsity` needs to be a number"),
        ({"method": "l1-regularizer"}, "cannot steer its strength"),
        ({"finetune_epochs": 0}, "1 <= finetune_epochs < epochs"),
        ({"finetune_epochs": 6}, "1 <= finetune_epochs < epochs"),
        ({"options": MethodOptions()}, "give a starting one"),
    ],
)
def test_impossible_targets_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(config(), **overrides).validate()


def test_the_target_is_part_of_a_runs_identity():
    assert config_lib.identity(config().as_args())["targetSparsity"] == 0.8
    plain = dataclasses.replace(config(), target_sparsity=None).as_args()
    older = {k: v for k, v in plain.items() if k != "targetSparsity"}
    assert config_lib.identity_differences(plain, older) == {}
