"""The sweep's presets: its methods, their values, the settings, the plan."""

import pytest

from l1lab.edge.sweep import points as points_lib
from l1lab.edge.sweep import presets

SETTINGS = presets.SweepSettings(epochs=2, num_samples=100)


def test_plan_is_every_value_of_every_method_times_the_seeds():
    points = presets.plan(["dense", "tfmot"], [0, 1], {"tfmot": (0.5, 0.9)})
    assert [(p.method, p.value, p.seed) for p in points] == [  # dense first: the ratios' base
        ("dense", 0.0, 0),
        ("dense", 0.0, 1),
        ("tfmot", 0.5, 0),
        ("tfmot", 0.5, 1),
        ("tfmot", 0.9, 0),
        ("tfmot", 0.9, 1),
    ]
    assert len(presets.plan(["l1lab-group"], [0, 1, 2])) == 3 * (1 + len(presets.METHODS["l1lab-group"][1]))
    assert presets.plan(["tfmot"], [0]) == presets.plan(["dense", "tfmot"], [0])  # dense is always there
    with pytest.raises(presets.SweepError, match="`methods` needs to be among"):
        presets.plan(["adam"], [0])


@pytest.mark.parametrize(
    "methods, values, message",
    [
        (["tfmot"], {"l1lab-group": (0.9,)}, "`values` for 'l1lab-group', which is not swept"),
        (["dense"], {"dense": (0.5,)}, "the dense model has none"),
        (["tfmot"], {"tfmot": (0.9, 0.9)}, "need to be distinct"),
        (["tfmot"], {"tfmot": ()}, "need to be distinct and at least one"),
        (["tfmot"], {"tfmot": (1.0,)}, "are target sparsities between 0 and 1"),
        (["l1lab-budget"], {"l1lab-budget": (100.5,)}, "whole numbers of multiply-adds >= 1"),
        (["ftrl"], {"ftrl": (float("nan"),)}, "finite strengths >= 0"),
        (["ftrl"], {"ftrl": (float("inf"),)}, "finite strengths >= 0"),
        (["adam"], {}, "`methods` needs to be among"),
    ],
)
def test_plan_refuses_values_that_would_do_nothing_or_nonsense(methods, values, message):
    with pytest.raises(presets.SweepError, match=message):
        presets.plan(methods, [0], values)


@pytest.mark.parametrize(
    "change, name",
    [
        ({"epochs": 1}, "epochs"),
        ({"num_samples": 0}, "num_samples"),
        ({"learning_rate": float("nan")}, "learning_rate"),
    ],
)
def test_settings_refuse_what_no_point_could_train(change, name):
    with pytest.raises(presets.SweepError, match=f"`{name}` needs to be"):
        presets.SweepSettings(**change).validate()
    assert presets.SweepSettings().validate() == presets.SweepSettings()


def test_every_point_has_its_own_files():
    """Values like 3e-4 and 5e-4 must not share a file (a suffix-based name once made both 'x_0')."""
    points = presets.plan(list(presets.METHODS), [0, 1, 2])
    paths = {path for p in points for path in points_lib.point_paths("out", p)}
    assert len(paths) == 2 * len(points)


def test_l1lab_points_train_the_proximal_method_and_fine_tune():
    group = presets.train_config(presets.Point("l1lab-group", 0.9, 2), SETTINGS).validate()
    assert group.method == "proximal-sgd" and group.target_sparsity == 0.9
    strengths = group.options.group_strengths(["dense_1", "dense_2", "predictions"])
    assert strengths["dense_1"] == {"inputs": presets.GROUP_PIXELS, "units": presets.GROUP_UNITS}
    assert strengths["dense_2"] == {"inputs": 0.0, "units": presets.GROUP_UNITS}
    assert strengths["predictions"] == {"inputs": 0.0, "units": 0.0}
    assert group.options.l1 == presets.ELEMENT_L1 and group.finetune_epochs == 1 and group.seed == 2
    assert (group.split, group.pixel_scale, group.learning_rate) == ("standard", "unit", 0.1)
    plain = presets.train_config(presets.Point("l1lab-l1", 0.8, 0), SETTINGS).validate()
    assert plain.options.l1 == presets.ELEMENT_L1 and not plain.options.uses_groups()
    assert plain.finetune_epochs == 1 and plain.target_sparsity == 0.8
    budget = presets.train_config(presets.Point("l1lab-budget", 8000, 1), SETTINGS).validate()
    assert budget.target_multiply_adds == 8000 and isinstance(budget.target_multiply_adds, int)
    assert budget.target_sparsity == presets.BUDGET_SPARSITY and budget.options == presets.GROUP_OPTIONS
    assert budget.unit_multiple == presets.BUDGET_UNIT_MULTIPLE == 16
    assert budget.finetune_epochs == 1 and presets.formats_for("l1lab-budget")[0]  # compacted
    ftrl = presets.train_config(presets.Point("ftrl", 1e-2, 0), SETTINGS)
    assert ftrl.method == "ftrl" and ftrl.finetune_epochs == 0  # as Keras's Ftrl users train
    assert presets.train_config(presets.Point("dense", 0, 0), SETTINGS).method == "sgd"


def test_the_schedule_alone_is_sgd_fine_tuned_to_the_target_with_no_l1():
    prune = presets.train_config(presets.Point("l1lab-prune", 0.9, 1), SETTINGS).validate()
    assert prune.method == "sgd" and prune.target_sparsity == 0.9 and prune.finetune_epochs == 1
    assert prune.options.l1 == 0 and not prune.options.uses_groups()
    assert presets.formats_for("l1lab-prune")[0]  # shipped compacted, as l1lab's methods are
    assert presets.METHODS["tfmot-decay"] == presets.METHODS["tfmot"]  # the same targets: compared at each


def test_a_cnn_sweep_has_channel_methods_and_its_models_budgets():
    methods = presets.methods_for("ds-cnn")
    assert {
        "dense",
        "l1lab-channel",
        "l1lab-slimming",
        "l1lab-budget",
        "l1lab-prune",
        "ftrl",
        "tfmot",
        "tfmot-decay",
    } == set(methods)
    assert methods["l1lab-budget"] == ("budget", presets.CHANNEL_BUDGETS["ds-cnn"])
    assert presets.methods_for("mlp") is presets.METHODS and "l1lab-channel" not in presets.METHODS
    points = presets.plan(["l1lab-budget"], [0], model="tfmot-cnn")
    assert [(p.method, p.value) for p in points] == [("dense", 0.0), ("l1lab-budget", 23_000), ("l1lab-budget", 31_000)]
    assert len(presets.plan(list(methods), [0, 1, 2], model="ds-cnn")) == 3 * (1 + 2 * 5 + 2 + 1)
    with pytest.raises(presets.SweepError, match="`methods` needs to be among .* for model 'ds-cnn'"):
        presets.plan(["l1lab-group"], [0], model="ds-cnn")
    with pytest.raises(presets.SweepError, match="the methods for model 'mlp' are"):
        presets.check_values("l1lab-channel", (0.8,), model="mlp")
    with pytest.raises(presets.SweepError, match="`model` needs to be one of"):
        presets.methods_for("vgg")
    assert "l1lab-slimming" not in presets.methods_for("tfmot-cnn")  # no BatchNorm to slim


def test_cnn_points_train_structured_l1_on_their_model_and_data():
    settings = presets.SweepSettings.for_model("ds-cnn", "fashion-mnist", num_samples=100).validate()
    assert (settings.epochs, settings.learning_rate, settings.finetune_epochs) == (6, 0.05, 3)

    def config(method, value):
        made = presets.train_config(presets.Point(method, value, 1), settings).validate()
        assert (made.model, made.dataset, made.seed, made.learning_rate) == ("ds-cnn", "fashion-mnist", 1, 0.05)
        return made

    channel = config("l1lab-channel", 0.8)
    assert channel.method == "proximal-sgd" and channel.finetune_epochs == 3 and channel.target_sparsity == 0.8
    assert (channel.options.channel_l1, channel.options.slimming_l1, channel.options.l1) == (presets.CHANNEL_L1, 0, 0)
    slimming = config("l1lab-slimming", 0.9)
    assert (slimming.options.channel_l1, slimming.options.slimming_l1) == (0, presets.SLIMMING_L1)
    assert slimming.target_sparsity == 0.9
    budget = config("l1lab-budget", 110_000)
    assert budget.target_multiply_adds == 110_000 and isinstance(budget.target_multiply_adds, int)
    assert budget.target_sparsity is None and budget.options == presets.CHANNEL_OPTIONS  # channels alone
    prune = config("l1lab-prune", 0.9)
    assert prune.method == "sgd" and prune.target_sparsity == 0.9 and not prune.options.uses_channels()
    assert config("dense", 0.0).method == "sgd" and config("ftrl", 1e-3).options.l1 == 1e-3
    # XNNPACK cannot prepare a CNN's int8-sparse file: a CNN's formats leave it out.
    assert presets.formats_for("tfmot", "ds-cnn") == (False, ("float-sparse", "int8"))
    assert presets.formats_for("l1lab-channel", "ds-cnn") == (True, ("float", "float-sparse", "int8"))
    assert "int8-sparse" in presets.formats_for("tfmot")[1]


def test_cnn_defaults_give_way_to_what_is_given_and_the_article_keeps_its_own():
    assert presets.SweepSettings.for_model("tfmot-cnn", epochs=4, learning_rate=None).epochs == 4
    assert presets.SweepSettings.for_model("tfmot-cnn", epochs=None).epochs == 6
    assert presets.SweepSettings.for_model() == presets.SweepSettings()
    for change, name in (({"model": "vgg"}, "model"), ({"dataset": "cifar"}, "dataset")):
        with pytest.raises(presets.SweepError, match=f"`{name}` needs to be one of"):
            presets.SweepSettings(**change).validate()
