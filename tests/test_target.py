import dataclasses

import numpy as np
import pytest

from l1lab import config as config_lib
from l1lab import target, train
from l1lab._compat import tf
from l1lab.config import MethodOptions


def config(**overrides):
    base = dict(epochs=6, finetune_epochs=2, num_samples=64, batch_size=32, learning_rate=0.05, shuffle_buffer=64)
    base.update(method="proximal-sgd", options=MethodOptions(l1=1e-3), target_sparsity=0.8, seed=0)
    return train.TrainConfig(**{**base, **overrides})


def test_the_schedule_is_cubic_from_the_start_to_the_target_then_flat():
    # N = 9: H = 3 holding epochs, P = 6 pruning epochs; s_k = S + (s0 - S)(1 - (k+1)/6)^3.
    wanted = [target.scheduled(0.9, 0.3, k, 9) for k in range(9)]
    expected = [0.9 - 0.6 * (1 - (k + 1) / 6) ** 3 for k in range(6)] + [0.9] * 3
    assert wanted == pytest.approx(expected, rel=1e-12)
    assert wanted[5] == 0.9 and all(a < b for a, b in zip(wanted[:6], wanted[1:6]))
    assert wanted[0] > 0.3  # the first cut comes before the first epoch


@pytest.mark.parametrize("finetune_epochs, holding", [(1, 1), (2, 1), (3, 1), (5, 1), (6, 2), (10, 3), (12, 4)])
def test_a_third_of_finetuning_holds_the_final_zeros(finetune_epochs, holding):
    assert target.holding_epochs(finetune_epochs) == holding
    pruning = finetune_epochs - holding
    assert target.scheduled(0.9, 0.2, max(0, pruning - 1), finetune_epochs) == 0.9


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


def test_a_run_prunes_on_its_schedule_reaches_its_target_and_holds_it(tiny_split):
    run = train.Run(config(epochs=10, finetune_epochs=6), tiny_split())
    events = list(run.events())
    measures = events[1:]
    sparsities = [1 - e["num_nonzero"]["total"]["numNz"] / e["num_nonzero"]["total"]["num"] for e in measures]
    start = sparsities[3]  # the method's phase ends after 4 epochs
    assert "completedByMagnitude" not in measures[3] and start < 0.6  # the schedule has work to do
    assert all(e["completedByMagnitude"] > 0 for e in measures[4:8])  # epochs 0..3 of fine-tuning prune
    assert [e["completedByMagnitude"] for e in measures[8:]] == [0, 0]  # the holding epochs do not
    for k, s in enumerate(sparsities[4:]):
        assert s >= target.scheduled(0.8, start, k, 6) - 1e-12
    assert all(0.8 <= s <= 0.8 + 1e-3 for s in sparsities[7:]), sparsities  # reached and held
    assert run.loop.train_epoch.experimental_get_tracing_count() == 1  # new masks, same compiled epoch
    assert events[0]["args"]["targetSparsity"] == 0.8


def test_a_method_past_the_target_keeps_its_zeros(tiny_split):
    strong = MethodOptions(l1=0.05)
    events = list(
        train.Run(config(epochs=6, finetune_epochs=2, target_sparsity=0.1, options=strong), tiny_split()).events()
    )
    total = events[-3]["num_nonzero"]["total"]
    assert 1 - total["numNz"] / total["num"] > 0.1  # the method's phase passed the target
    assert [e["completedByMagnitude"] for e in events[-2:]] == [0, 0]
    assert events[-1]["num_nonzero"]["total"]["numNz"] <= events[-3]["num_nonzero"]["total"]["numNz"]


def test_any_method_can_take_a_target(tiny_split):
    events = list(train.Run(config(method="sgd", options=MethodOptions()), tiny_split()).events())
    total = events[-1]["num_nonzero"]["total"]
    assert 1 - total["numNz"] / total["num"] >= 0.8


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"target_sparsity": 1.0}, "strictly between 0 and 1"),
        ({"target_sparsity": 0.0}, "strictly between 0 and 1"),
        ({"target_sparsity": "0.9"}, "`target_sparsity` needs to be a number"),
        ({"finetune_epochs": 0}, "1 <= finetune_epochs < epochs"),
        ({"finetune_epochs": 6}, "from 0 to epochs - 1 = 5"),
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


def _kernel_and_bias(values):
    return [tf.Variable(np.array(values, np.float32), name="kernel"), tf.Variable(np.zeros(2, np.float32), name="bias")]


def test_a_weight_at_epsilon_is_already_zero_and_never_a_candidate():
    """8 weights: 2 zero biases and the kernel's 0.25 (at epsilon) are 3 zeros; 0.375 of 8 is met already."""
    variables = _kernel_and_bias([[0.25, 0.5, 0.75], [0.375, 1.0, 2.0]])
    assert target.complete_by_magnitude(variables, 0.375, epsilon=0.25) == 0
    assert target.complete_by_magnitude(variables, 0.5, epsilon=0.25) == 1  # one more: the smallest alive, 0.375
    np.testing.assert_array_equal(variables[0].numpy(), np.array([[0.25, 0.5, 0.75], [0, 1.0, 2.0]], np.float32))


def test_a_guarded_weight_is_passed_over_for_the_next_smallest_alive_one():
    variables = _kernel_and_bias([[0.25, 0.5, 0.75], [0.375, 1.0, 2.0]])
    guarded = [np.array([[False, False, False], [True, False, False]]), None]
    assert target.complete_by_magnitude(variables, 0.5, epsilon=0.25, guarded=guarded) == 1
    np.testing.assert_array_equal(variables[0].numpy(), np.array([[0.25, 0, 0.75], [0.375, 1.0, 2.0]], np.float32))


def test_only_biases_lose_nothing():
    bias = tf.Variable(np.ones(3, np.float32), name="bias")
    assert target.complete_by_magnitude([bias], 0.9) == 0
    np.testing.assert_array_equal(bias.numpy(), np.ones(3, np.float32))


def test_completion_never_takes_batchnorm_parameters():
    from l1lab import zoo
    from l1lab._names import variable_name

    model = zoo.build("ds-cnn", seed=0)
    batchnorm = [v for v in model.trainable_variables if variable_name(v).endswith(("/gamma", "/beta"))]
    for variable in batchnorm:  # smaller than any kernel weight pruning would take: global magnitude would pick them
        variable.assign(np.full(variable.shape, 1e-3, np.float32))
    assert target.complete_by_magnitude(model.trainable_variables, 0.5) > 0
    assert all(np.all(v.numpy() == np.float32(1e-3)) for v in batchnorm)


def test_layerwise_completion_brings_every_kernel_to_one_sparsity_whatever_its_scale():
    """A kernel of small weights (a conv before BatchNorm) loses no more than a kernel of large ones."""
    small = tf.Variable(np.arange(1, 11, dtype=np.float32).reshape(2, 5) * 1e-3, name="conv_1/kernel")
    large = tf.Variable(np.arange(1, 11, dtype=np.float32).reshape(5, 2), name="conv_2/kernel")
    bias = tf.Variable(np.ones(5, np.float32), name="conv_1/bias")
    # 25 weights; 0.4 of them is 10 zeros: 5 from each kernel (50% each), the biases kept.
    assert target.complete_by_magnitude([small, large, bias], 0.4, layerwise=True) == 10
    for kernel in (small, large):
        values = kernel.numpy().ravel()
        assert np.sum(values == 0) == 5 and np.all(values[5:] != 0)  # each loses its own smallest
    # Global magnitude takes all ten of the small kernel's instead.
    small.assign(np.arange(1, 11, dtype=np.float32).reshape(2, 5) * 1e-3)
    large.assign(np.arange(1, 11, dtype=np.float32).reshape(5, 2))
    assert target.complete_by_magnitude([small, large, bias], 0.4) == 10 and not np.any(small.numpy())


def test_layerwise_completion_keeps_a_sparser_kernels_zeros_and_rounds_each_kernel_up():
    sparse = tf.Variable(np.array([0, 0, 0, 1, 2, 3], np.float32), name="a/kernel")  # 50% already
    dense = tf.Variable(np.arange(1, 7, dtype=np.float32), name="b/kernel")
    # 12 weights, 3 zero; 0.5 wants 3 more: the dense kernel to 50% (3), the sparse one as it is.
    assert target.complete_by_magnitude([sparse, dense], 0.5, layerwise=True) == 3
    np.testing.assert_array_equal(dense.numpy(), [0, 0, 0, 4, 5, 6])
    np.testing.assert_array_equal(sparse.numpy(), [0, 0, 0, 1, 2, 3])
    # 7 of 12 wants one more zero: the common sparsity rounds up in both kernels (2 new, one over).
    assert target.complete_by_magnitude([sparse, dense], 7 / 12, layerwise=True) == 2
    assert np.sum(sparse.numpy() == 0) == 4 and np.sum(dense.numpy() == 0) == 4
    assert target.complete_by_magnitude([sparse, dense], 0.99, layerwise=True) == 4  # the 4 left, no more


def test_a_cnns_target_is_its_prunable_kernels_sparsity_reached_layer_by_layer(tiny_split, cnn_config):
    from l1lab import train
    from l1lab._compat import keras
    from l1lab._names import variable_name

    run = train.Run(cnn_config("ds-cnn", target_sparsity=0.8), tiny_split(n_train=128))
    list(run.events())
    kernels = target.prunable_kernels(run.model)
    conv_and_dense = [x for x in run.model.layers if type(x) in (keras.layers.Conv2D, keras.layers.Dense)]
    assert len(kernels) == len(conv_and_dense) == 1 + 3 + 1  # the stem, three pointwise convs, the classifier
    assert target.kernel_sparsity(kernels) == pytest.approx(0.8, abs=1e-3)
    for kernel in kernels:  # every layer near the target: none emptied for another's sake
        assert 0.7 <= np.mean(kernel.numpy() == 0) <= 0.9, variable_name(kernel)
    for layer in run.model.layers:  # as TF-MOT: a depthwise kernel is left whole
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            assert np.all(layer.get_weights()[0] != 0), layer.name


def test_parts_sample_the_same_ramp_more_often_and_one_part_is_once_an_epoch():
    # 4 fine-tuning epochs: 3 prune, 1 holds. One part: t = 1/3, 2/3, 1.
    once = [target.scheduled(0.9, 0.3, k, 4) for k in range(3)]
    assert once == pytest.approx([0.9 - 0.6 * (2 / 3) ** 3, 0.9 - 0.6 * (1 / 3) ** 3, 0.9])
    assert [target.scheduled(0.9, 0.3, k, 4, 0, 1) for k in range(3)] == once
    # Two parts: t = 1/6, 2/6, ..., 1; every second one is the once-an-epoch value.
    twice = [target.scheduled(0.9, 0.3, k, 4, j, 2) for k in range(3) for j in range(2)]
    assert twice[1::2] == pytest.approx(once)
    assert twice[0] == pytest.approx(0.9 - 0.6 * (5 / 6) ** 3) and twice == sorted(twice)
    assert target.scheduled(0.9, 0.3, 3, 4, 1, 2) == 0.9  # holding: the target


def test_a_cnn_prunes_ten_times_a_pruning_epoch_and_holds_every_zero(tiny_split, cnn_config):
    from l1lab import train

    config = cnn_config(epochs=4, finetune_epochs=3, target_sparsity=0.9, batch_size=8)
    run = train.Run(config, tiny_split(n_train=160))  # 20 batches: 10 parts of 2
    assert [run.pruning_parts(k) for k in (-1, 0, 1, 2)] == [1, 10, 10, 1]  # the last epoch holds
    cuts = []
    original = run.complete_target
    run.complete_target = lambda epoch, part=0, parts=1: (
        cuts.append((epoch, part, parts)) or original(epoch, part, parts)
    )
    events = [e for e in run.events() if e["event"] == "measure_test"]
    assert cuts == [(k, j, 10) for k in (0, 1) for j in range(10)] + [(2, 0, 1)]  # holding: nothing left to cut
    assert target.kernel_sparsity(target.prunable_kernels(run.model)) == pytest.approx(0.9, abs=1e-3)
    assert sum(e.get("completedByMagnitude", 0) for e in events) >= 0.89 * sum(
        int(np.prod(k.shape)) for k in target.prunable_kernels(run.model)
    )
