import numpy as np
import pytest

from l1lab import methods, train
from l1lab._compat import keras, tf, tf_variable
from l1lab.methods import MethodOptions


def setup(method, lr=0.05, **options):
    return methods.configure(method, learning_rate=lr, seed=0, options=MethodOptions(**options))


@pytest.mark.parametrize(
    "method, options, message",
    [
        ("proximal-sgd", {"l1": -1e-3}, "finite and >= 0"),
        ("proximal-sgd", {"l1": float("nan")}, "finite and >= 0"),
        ("proximal-adagrad", {"l1": float("inf")}, "finite and >= 0"),
        ("proximal-sgd", {"l1_layers": (("dense_1", -1.0),)}, "dense_1"),
        ("sgd", {"l1": 1e-3}, "takes no L1 strength"),
        ("proximal-adagrad-tf", {"l1": 1e-3, "l1_layers": (("dense_1", 1e-3),)}, "one L1 strength"),
        ("ftrl", {"l1": 1e-3, "l1_layers": (("dense_1", 1e-3),)}, "one L1 strength"),
        ("proximal-sgd", {"l1_layers": (("dense_9", 1e-3),)}, "unknown layers"),
        ("proximal-adagrad", {"initial_accumulator": 0.0}, "initial_accumulator"),
        ("adamw", {}, "unknown method"),
        ("sgd", {"group_l1": 1e-3}, "takes no group strengths"),
        ("sgd", {"initial_accumulator": 0.1}, "takes no `initial_accumulator`.*proximal-adagrad, proximal-adagrad-tf"),
        ("proximal-sgd", {"l1_all_kernels": True}, "takes no `l1_all_kernels` \\(--l1-all-kernels\\)"),
        ("ftrl", {"apply_to_biases": False}, "takes no `apply_to_biases` \\(--l1-exclude-biases\\)"),
        ("proximal-adagrad-tf", {"apply_to_biases": False}, "it applies to proximal-adagrad, proximal-sgd"),
        ("ftrl", {"l1": 1e-3, "group_inputs": (("dense_1", 1e-3),)}, "takes no group strengths"),
        ("proximal-sgd", {"group_l1": -1.0}, "group_l1"),
        ("proximal-sgd", {"group_units": (("dense_9", 1e-3),)}, "unknown layers"),
        ("proximal-adagrad", {"group_units": (("predictions", 1e-3),)}, "the model's outputs"),
    ],
)
def test_bad_options_are_refused(method, options, message):
    with pytest.raises(ValueError, match=message):
        setup(method, **options)


def test_l1_regularizer_on_first_kernel_by_default():
    model = setup("l1-regularizer", l1=1e-4).model
    assert isinstance(model.get_layer("dense_1").kernel_regularizer, keras.regularizers.L1)
    assert model.get_layer("dense_2").kernel_regularizer is None
    assert model.get_layer("predictions").kernel_regularizer is None


def test_l1_regularizer_on_every_kernel_and_per_layer():
    every = setup("l1-regularizer", l1=1e-4, l1_all_kernels=True).model
    assert all(
        isinstance(every.get_layer(n).kernel_regularizer, keras.regularizers.L1)
        for n in ("dense_1", "dense_2", "predictions")
    )
    per_layer = setup("l1-regularizer", l1=1e-4, l1_layers=(("dense_1", 0.0), ("predictions", 2e-4))).model
    assert per_layer.get_layer("dense_1").kernel_regularizer is None
    assert float(per_layer.get_layer("predictions").kernel_regularizer.l1) == pytest.approx(2e-4)


def test_l1_regularizer_penalty_reaches_the_gradient(tiny_split):
    """The article's Try1 never applied its penalty; here one step shows it acting."""
    lr, c = 0.05, 0.01
    split = tiny_split()
    x, y = split.x_train[:32], split.y_train[:32]
    kernels = []
    for method, options in (("sgd", {}), ("l1-regularizer", {"l1": c})):
        s = setup(method, lr=lr, **options)
        initial = s.model.get_layer("dense_1").kernel.numpy()
        train.CompiledLoop(s.model, s.optimizer, split.x_train, split.y_train, batch_size=32).train_step(x, y)
        kernels.append(s.model.get_layer("dense_1").kernel.numpy())
    np.testing.assert_allclose(kernels[1] - kernels[0], -lr * c * np.sign(initial), atol=1e-6)


def test_proximal_strengths_per_layer_and_biases():
    s = setup("proximal-sgd", l1=1e-3, l1_layers=(("dense_2", 5e-3),), apply_to_biases=False)
    assert s.optimizer.l1_by_variable() == {
        "dense_1/kernel": 1e-3,
        "dense_1/bias": 0.0,
        "dense_2/kernel": 5e-3,
        "dense_2/bias": 0.0,
        "predictions/kernel": 1e-3,
        "predictions/bias": 0.0,
    }


def test_adagrad_methods_start_accumulators_at_lr_squared():
    assert setup("proximal-adagrad", lr=0.01, l1=1e-3).optimizer.initial_accumulator_value == pytest.approx(1e-4)
    tf_opt = setup("proximal-adagrad-tf", lr=0.01, l1=1e-3).optimizer.optimizer
    assert tf_opt._initial_accumulator_value == pytest.approx(1e-4)
    assert setup("proximal-adagrad", initial_accumulator=0.1, l1=0.0).optimizer.initial_accumulator_value == 0.1


def test_tensorflow_proximal_adagrad_equals_l1labs(global_random_seed, tiny_split):
    """TensorFlow's v1 optimizer (on the tf.Variables under Keras's) and l1lab's, step for step."""
    split = tiny_split(seed=global_random_seed)
    order = tf.constant(np.random.default_rng(global_random_seed).permutation(len(split.y_train)))
    weights = []
    for method in ("proximal-adagrad-tf", "proximal-adagrad"):
        s = setup(method, lr=0.05, l1=1e-3)
        loop = train.CompiledLoop(s.model, s.optimizer, split.x_train, split.y_train, batch_size=32)
        loop.train_epoch(order)
        assert int(s.optimizer.iterations.numpy()) == loop.num_batches
        weights.append([v.numpy() for v in s.model.trainable_variables])
    for theirs, ours in zip(*weights):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    assert any(np.any(w == 0) for w in weights[0])


# Strength and learning rate that make each method's effect visible in 20 steps.
METHOD_SETTINGS = {
    "sgd": (0.0, 0.05),
    "l1-regularizer": (1e-4, 0.05),
    "proximal-adagrad-tf": (1e-3, 0.05),
    "proximal-sgd": (0.05, 0.05),
    "proximal-adagrad": (1e-3, 0.05),
    "ftrl": (1e-3, 0.5),
}


def test_method_settings_cover_every_method():
    assert set(METHOD_SETTINGS) == set(methods.METHODS)


@pytest.mark.parametrize("method", sorted(METHOD_SETTINGS))
def test_every_method_trains_an_epoch(method, tiny_split):
    l1, lr = METHOD_SETTINGS[method]
    run = train.Run(
        train.TrainConfig(
            epochs=2,
            num_samples=64,
            batch_size=32,
            learning_rate=lr,
            seed=0,
            method=method,
            options=MethodOptions(l1=l1),
        ),
        tiny_split(),
    )
    events = list(run.events())
    assert events[0]["args"]["method"] == method and events[0]["args"]["l1"] == l1
    assert "devices" in events[0]["args"]
    last = events[-1]
    assert last["inacc_train"] < 0.5
    zeros = [e["num_nonzero"]["total"]["num"] - e["num_nonzero"]["total"]["numNz"] for e in events[1:]]
    if method.startswith("proximal") or method == "ftrl":
        assert zeros[-1] > 1000  # exact zeros, and many
    if method.startswith("proximal"):
        assert zeros[1] >= zeros[0]  # growing


@pytest.mark.parametrize("method", ["proximal-sgd", "proximal-adagrad"])
def test_group_strengths_reach_the_optimizer_never_the_output_units(method):
    options = {"group_l1": 1e-3, "group_inputs": (("dense_2", 5e-3),), "group_units": (("dense_1", 0.0),)}
    optimizer = setup(method, **options).optimizer
    assert optimizer.group_l1_by_variable() == {
        "dense_1/kernel": (1e-3, 0.0),
        "dense_1/bias": (0.0, 0.0),
        "dense_2/kernel": (5e-3, 1e-3),
        "dense_2/bias": (0.0, 0.0),
        "predictions/kernel": (1e-3, 0.0),  # its units are the model's outputs
        "predictions/bias": (0.0, 0.0),
    }


def test_without_group_strengths_the_optimizer_has_none():
    assert set(setup("proximal-sgd", l1=1e-3).optimizer.group_l1_by_variable().values()) == {(0.0, 0.0)}


def test_the_gpu_decision_through_each_method(fake_gpus):
    """A second check of the GPU workaround, through the methods' own device set-up."""
    fake = fake_gpus()
    assert not methods.prepare_devices("proximal-adagrad-tf", MethodOptions(l1=1e-3)).gpus_hidden  # kernel on GPU
    assert fake.visible == ["GPU:0"]
    assert not methods.prepare_devices("proximal-sgd", MethodOptions(l1=1e-3)).gpus_hidden  # plain TF math
    decision = methods.prepare_devices("proximal-adagrad-tf", MethodOptions(l1=1e-3, hide_gpus=True))
    assert decision.gpus_hidden and fake.visible == [] and "regL1Try3" in decision.reason


def test_tensorflow_proximal_adagrad_gets_every_variable_biases_included():
    """A second check of the v1 optimizer's variable set: a slot for each, and every one stepped."""
    s = setup("proximal-adagrad-tf", lr=0.05, l1=1e-3)
    variables = s.model.trainable_variables
    assert len(variables) == 6
    for variable in variables:
        assert s.optimizer.optimizer.get_slot(tf_variable(variable), "accumulator") is not None
    before = [v.numpy().copy() for v in variables]
    x = np.random.default_rng(0).uniform(size=(8, 784)).astype(np.float32)
    y = np.arange(8, dtype=np.int32) % 10
    train.CompiledLoop(s.model, s.optimizer, x, y, batch_size=8).train_step(x, y)
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


# -- models of the zoo: channel strengths reach the optimizer -------------------------------------------------


def test_a_cnn_gets_its_channel_groups_and_slimming_strengths():
    from l1lab.channels import channel_graph

    options = MethodOptions(l1=1e-4, channel_l1=0.01, slimming_l1=0.02)
    setup = methods.configure("proximal-sgd", learning_rate=0.1, seed=0, options=options, model="ds-cnn")
    optimizer, graph = setup.optimizer, channel_graph(setup.model)
    assert optimizer.channel_l1 == 0.01 and optimizer.channel_groups == graph.groups_config()
    strengths = optimizer.l1_by_variable()
    assert strengths["conv_1_bn/gamma"] == strengths["pw_3_bn/beta"] == 0.02  # slimming on gamma and beta
    assert strengths["pw_1/kernel"] == strengths["predictions/bias"] == 1e-4  # l1 on everything else
    assert setup.model.name == "ds_cnn" and setup.model.inputs[0].shape[1:] == (28, 28, 1)


def test_slimming_a_model_without_batchnorm_is_refused_naming_the_fix():
    options = MethodOptions(slimming_l1=0.02)
    with pytest.raises(
        ValueError, match="`slimming_l1` needs BatchNorm layers to slim, and model 'tfmot_cnn' has none"
    ):
        methods.configure("proximal-sgd", learning_rate=0.1, seed=0, options=options, model="tfmot-cnn")


def test_without_channel_strengths_a_cnn_trains_plain_proximal_sgd():
    setup = methods.configure(
        "proximal-sgd", learning_rate=0.1, seed=0, options=MethodOptions(l1=1e-4), model="tfmot-cnn"
    )
    assert setup.optimizer.channel_l1 == 0.0 and setup.optimizer.channel_groups == []
    assert setup.optimizer.l1 == 1e-4


@pytest.mark.parametrize(
    "method, options, model, message",
    [
        ("ftrl", MethodOptions(channel_l1=0.1), "mlp", "takes no channel strengths"),
        ("proximal-sgd", MethodOptions(group_l1=0.1), "ds-cnn", "use `channel_l1`"),
        ("l1-regularizer", MethodOptions(l1=0.1), "resnet8", "choose proximal-sgd or proximal-adagrad"),
    ],
)
def test_options_a_model_cannot_take_are_refused(method, options, model, message):
    with pytest.raises(ValueError, match=message):
        methods.configure(method, learning_rate=0.1, seed=0, options=options, model=model)


def test_a_cnn_run_trains_on_images_and_its_identity_names_it(tiny_split):
    from l1lab import config as config_lib

    config = train.TrainConfig(
        epochs=1, model="tfmot-cnn", method="proximal-sgd", options=MethodOptions(channel_l1=0.01)
    )
    run = train.Run(config, tiny_split())
    events = list(run.events())
    assert tuple(run.loop.x_train.shape[1:]) == (28, 28, 1) and events[-1]["inacc_test"] < 0.9
    identity = config_lib.identity(config.as_args())
    assert (identity["model"], identity["dataset"], identity["channelL1"], identity["slimmingL1"]) == (
        "tfmot-cnn", "mnist", 0.01, 0.0
    )  # fmt: skip
    assert config_lib.identity({})["model"] == "mlp"  # a golden file without the field is the article's network


def test_every_methods_traits_have_its_builders_and_nothing_more():
    from l1lab import config, methods

    assert list(methods.METHODS) == list(config.METHOD_TRAITS)
    for name, spec in methods.METHODS.items():
        assert spec.traits is config.METHOD_TRAITS[name] and spec.name == name
    with pytest.raises(ValueError, match="unknown method 'adam'; choose one of"):
        methods.get_method("adam")
