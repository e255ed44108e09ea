import dataclasses
import math

import numpy as np
import pytest

from l1lab import config as config_lib
from l1lab import finetune, train
from l1lab._compat import keras, tf
from l1lab.config import MethodOptions
from l1lab.sparsity import count_nonzero


def config(**overrides):
    base = dict(epochs=4, num_samples=64, batch_size=32, learning_rate=0.05, shuffle_buffer=64, seed=0)
    return train.TrainConfig(**{**base, **overrides})


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_masks_keep_exactly_what_the_zero_count_calls_nonzero(dtype):
    """A weight equal to epsilon (in its own dtype) is a zero; the next one up survives."""
    epsilon = 1e-3
    at = dtype(epsilon)
    above = np.nextafter(at, dtype(1))
    weights = tf.Variable(np.array([0, at, -at, above, -above, 0.5], dtype=dtype))
    (mask,) = finetune.zero_masks([weights], epsilon)
    np.testing.assert_array_equal(mask, [0, 0, 0, 1, 1, 1])
    assert mask.dtype == dtype
    assert int(mask.sum()) == count_nonzero({"w": weights.numpy()}, epsilon)["w"]["numNz"]


def test_masks_refuse_a_negative_epsilon():
    with pytest.raises(ValueError, match="epsilon"):
        finetune.zero_masks([tf.Variable([1.0])], -1e-5)


def test_hold_zeros_sets_masked_weights_to_exact_zero():
    weights = tf.Variable([[3e-6, -0.2], [-4e-6, 0.7]])
    masks = finetune.zero_masks([weights])
    finetune.hold_zeros([weights], masks)
    np.testing.assert_array_equal(weights.numpy(), np.array([[0, -0.2], [0, 0.7]], np.float32))


def test_mask_gradients_passes_none_through():
    masked = finetune.mask_gradients([tf.constant([1.0, 2.0]), None], [np.array([0.0, 1.0]), np.array([1.0])])
    np.testing.assert_array_equal(masked[0].numpy(), [0.0, 2.0])
    assert masked[1] is None


def test_one_finetuning_step_by_hand(tiny_split):
    """``w - lr * m * grad``, with no penalty in the loss although the model has one."""
    from l1lab.model import build_model

    lr, c = 0.05, 0.01
    split = tiny_split()
    x, y = tf.constant(split.x_train[:32]), tf.constant(split.y_train[:32])
    model = build_model(seed=0, kernel_regularizers={"dense_1": keras.regularizers.L1(c)})
    variables = model.trainable_variables
    masks = [(np.random.default_rng(i).random(v.shape) < 0.5).astype(np.float32) for i, v in enumerate(variables)]
    finetune.hold_zeros(variables, masks)
    before = [v.numpy() for v in variables]
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        plain = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    gradients = [g.numpy() for g in tape.gradient(plain, variables)]
    loop = train.CompiledLoop(
        model,
        finetune.make_optimizer(lr, variables),
        split.x_train,
        split.y_train,
        batch_size=32,
        masks=masks,
        penalties=False,
    )
    assert float(loop.loss(x, y)) == pytest.approx(float(plain), rel=1e-6)
    loop.train_step(x, y)
    for variable, w, g, m in zip(variables, before, gradients, masks):
        np.testing.assert_allclose(variable.numpy(), w - lr * m * g, rtol=1e-5, atol=1e-7)
        assert np.all(variable.numpy()[m == 0] == 0)


def test_finetuning_keeps_every_zero_and_moves_the_survivors(tiny_split):
    split = tiny_split()
    options = MethodOptions(l1=0.02, group_l1=0.01)
    run = train.Run(config(epochs=5, finetune_epochs=2, method="proximal-sgd", options=options), split)
    events = run.events()
    next(events)  # args
    for _ in range(3):  # the method's phase
        next(events)
    at_switch = [v.numpy().copy() for v in run.model.trainable_variables]
    masks = finetune.zero_masks(run.model.trainable_variables)
    assert run.loop.masks is None
    rest = list(events)
    assert len(rest) == 2 and run.loop.masks is not None and not run.loop.penalties
    assert isinstance(run.optimizer, keras.optimizers.SGD)
    zeros_at_switch = sum(int((m == 0).sum()) for m in masks)
    assert zeros_at_switch > 1000  # the test means something: the L1 phase made zeros
    for variable, start, mask in zip(run.model.trainable_variables, at_switch, masks):
        now = variable.numpy()
        assert np.all(now[mask == 0] == 0)  # held exactly
        assert not np.array_equal(now[mask == 1], start[mask == 1])  # trained
    total = rest[-1]["num_nonzero"]["total"]
    # Every held zero still counts; a survivor may also land within epsilon of zero.
    assert zeros_at_switch <= total["num"] - total["numNz"] <= zeros_at_switch + 50


def test_the_learning_rate_holds_then_decays_along_a_half_cosine():
    # 6 epochs, the last 3 holding: eta, eta, eta, then eta/2 (1 + cos(pi j / 4)) for j = 1, 2, 3.
    rates = [finetune.learning_rate(0.1, k, 6, 3) for k in range(6)]
    expected = [0.1, 0.1, 0.1, *(0.05 * (1 + math.cos(math.pi * j / 4)) for j in (1, 2, 3))]
    assert rates == pytest.approx(expected, rel=1e-12)
    assert rates[-1] > 0
    assert finetune.learning_rate(0.1, 0, 1, 1) == pytest.approx(0.05)  # one epoch: the midpoint


def test_each_finetuning_epoch_trains_at_its_learning_rate_without_retracing(tiny_split):
    split = tiny_split()
    run = train.Run(config(epochs=5, finetune_epochs=3, method="proximal-sgd", options=MethodOptions(l1=0.02)), split)
    events = list(run.events())[1:]
    assert [e.get("learningRate") for e in events[:2]] == [None, None]
    assert [e["learningRate"] for e in events[2:]] == pytest.approx(
        [finetune.learning_rate(0.05, k, 3, 3) for k in range(3)]
    )
    assert float(run.optimizer.learning_rate.numpy()) == pytest.approx(events[-1]["learningRate"])
    assert run.loop.train_epoch.experimental_get_tracing_count() == 1


def test_finetuning_wins_back_what_the_penalty_cost(tiny_split):
    """Same zeros, less training loss: the shrinkage of the survivors was costing accuracy."""
    split = tiny_split()
    options = MethodOptions(l1=0.05)
    plain = list(train.Run(config(epochs=6, method="proximal-sgd", options=options), split).events())
    tuned = list(train.Run(config(epochs=6, finetune_epochs=2, method="proximal-sgd", options=options), split).events())
    assert tuned[4] == plain[4]  # the same method's phase
    assert tuned[-1]["ent_train"] < plain[-1]["ent_train"]
    assert tuned[-1]["num_nonzero"]["total"]["numNz"] <= tuned[4]["num_nonzero"]["total"]["numNz"]


@pytest.mark.parametrize("value", [-1, 4, 5, 1.5, True])
def test_config_refuses_fine_tuning_that_leaves_the_method_no_epoch(value):
    with pytest.raises(ValueError, match="finetune_epochs"):
        dataclasses.replace(config(epochs=4), finetune_epochs=value).validate()


def test_finetuning_is_part_of_a_runs_identity_and_absent_means_none():
    assert config_lib.identity(config(finetune_epochs=2).as_args())["finetuneEpochs"] == 2
    older = {k: v for k, v in config().as_args().items() if k != "finetuneEpochs"}
    assert config_lib.identity_differences(config().as_args(), older) == {}
    assert config_lib.identity_differences(config().as_args(), config(finetune_epochs=1).as_args()) == {
        "finetuneEpochs": (1, 0)
    }
