"""l1lab.suite.smoke: a scenario's method runs on this stack and makes exact zeros."""

import dataclasses

import pytest

from l1lab import methods
from l1lab.config import MethodOptions
from l1lab.suite import smoke
from l1lab.suite.scenarios import Scenario


def _data():
    from tests.conftest import make_tiny_split

    split = make_tiny_split(0)
    return split.x_train, split.y_train, split.x_test, split.y_test


def _build(seed):
    from l1lab._compat import keras

    return keras.Sequential([keras.Input((784,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(10)])


def _scenario(**changes):
    base = dict(name="tiny", model=_build, data=_data, method="proximal-sgd", l1=1e-3, learning_rate=0.05, epochs=5)
    return Scenario(**{**base, **changes})


def test_a_proximal_scenario_passes_and_its_strong_step_zeros_every_thresholded_weight():
    result = smoke.run_smoke(_scenario())
    assert [p.name for p in result.probes] == ["l1lab optimizers", "l1lab optimizers under XLA"]
    assert result.epochs == 1 and result.weights == 784 * 8 + 8 + 8 * 10 + 10
    # The strong step zeros what training left nonzero: at most the weights training did not zero.
    assert 0 < result.strong_zeros <= result.weights - result.new_zeros
    assert "tiny: 2 probe(s) ok, 1 epoch(s)" in result.summary()


def test_the_slice_is_the_scenarios_own_where_it_chooses_one():
    tiny = _data()
    assert smoke.run_smoke(_scenario()).examples == (min(2048, len(tiny[1])), min(512, len(tiny[3])))
    result = smoke.run_smoke(_scenario(smoke_examples=(100, 30)))
    assert result.examples == (100, 30) and "on 100 training and 30 test examples" in result.summary()


@pytest.mark.parametrize("examples", [(0, 10), (100,), "100,30", (100, 2.5), (True, 10)])
def test_a_bad_smoke_slice_is_refused(examples):
    with pytest.raises(ValueError, match="`smoke_examples` needs to be .training examples, test examples."):
        _scenario(smoke_examples=examples)


def test_a_fine_tuning_scenario_smokes_one_epoch_of_each_phase_and_its_target():
    result = smoke.run_smoke(_scenario(finetune_epochs=3, target_sparsity=0.5))
    assert result.epochs == 2 and result.new_zeros >= result.weights // 2


def test_plain_sgd_owes_no_zeros():
    result = smoke.run_smoke(_scenario(method="sgd", l1=None))
    assert result.strong_zeros is None and not result.probes


def test_a_method_whose_step_makes_no_zero_fails(monkeypatch):
    spec = methods.METHODS["sgd"]
    spec = dataclasses.replace(spec, traits=dataclasses.replace(spec.traits, exact_zeros=True))
    monkeypatch.setitem(methods.METHODS, "sgd", spec)
    with pytest.raises(smoke.SmokeFailure, match="method 'sgd' sets no weight to exactly zero on this model"):
        smoke.run_smoke(_scenario(method="sgd", l1=None))


def test_a_failing_probe_fails_naming_it(monkeypatch):
    from l1lab.suite import doctor

    def broken():
        raise RuntimeError("no kernel for this op")

    monkeypatch.setitem(doctor.PROBES, "l1lab optimizers", (broken, ("proximal-sgd",)))
    with pytest.raises(smoke.SmokeFailure, match="probe 'l1lab optimizers' fails .RuntimeError: no kernel"):
        smoke.run_smoke(_scenario())


def test_the_strong_step_zeros_every_weight_an_l1_strength_thresholds():
    from l1lab.train import TrainConfig

    model = _build(0)
    nonzero = sum(int((v.numpy() != 0).sum()) for v in model.trainable_variables)
    config = TrainConfig(method="proximal-sgd", learning_rate=0.05, options=MethodOptions(l1=1e-3))
    assert smoke.strong_step_zeros(model, config) == nonzero
    assert not any((v.numpy() != 0).any() for v in model.trainable_variables)


def test_the_strong_step_zeros_whole_channel_groups_on_a_cnn(cnn_config):
    from l1lab import zoo
    from l1lab._compat import keras

    model = zoo.build("tfmot-cnn", seed=0)
    config = cnn_config(options=MethodOptions(channel_l1=0.01))
    assert smoke.strong_step_zeros(model, config) > 0
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert not conv.kernel.numpy().any()  # its filters are channel groups: each one removed whole
    # A group holds its consumers' rows too: the classifier's inputs went with the filters.
    assert not model.layers[-1].kernel.numpy().any()
