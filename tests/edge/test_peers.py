"""TF-MOT's magnitude pruning as l1lab runs it: Keras 2 only, the target reached, what its users ship."""

import importlib.util

import numpy as np
import pytest

from l1lab import finetune
from l1lab._compat import KERAS_FLAVOUR
from l1lab.edge import peers

needs_keras2 = pytest.mark.skipif(KERAS_FLAVOUR != "keras2", reason="TF-MOT 0.8 runs on Keras 2 only")
needs_tfmot = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_model_optimization") is None,
    reason="the optional extra l1lab[peers] is not installed",
)


@pytest.mark.skipif(KERAS_FLAVOUR == "keras2", reason="the refusal is for Keras 3 processes")
def test_keras3_processes_are_told_how_to_run_it():
    with pytest.raises(peers.PeerUnavailable, match="TF_USE_LEGACY_KERAS=1"):
        peers.require_tfmot()


@needs_keras2
def test_a_missing_tfmot_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorflow_model_optimization", None)
    with pytest.raises(peers.PeerUnavailable, match=r"pip install 'l1lab\[peers\]'"):
        peers.require_tfmot()


@pytest.mark.parametrize(
    "epochs, steps, expected",
    [
        (20, 938, (9380, 16380, 100)),  # the sweep's budget: 10 dense epochs, then 7,000 steps of pruning
        (4, 94, (188, 288, 100)),
        (2, 10, (10, 17, 7)),  # fewer steps than a period: one period
    ],
)
def test_the_schedule_ends_on_a_pruning_step(epochs, steps, expected):
    begin, end, frequency = peers.schedule_steps(peers.PruningConfig(target=0.9, epochs=epochs), steps)
    assert (begin, end, frequency) == expected
    assert (end - begin) % frequency == 0 and end <= epochs * steps


@pytest.mark.parametrize(
    "kwargs, field", [({"target": 1.0}, "target"), ({"target": 0.0}, "target"), ({"epochs": 1}, "epochs")]
)
def test_bad_settings_are_refused_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"`{field}` needs to be"):
        peers.PruningConfig(**{"target": 0.5, **kwargs}).validate()


@needs_keras2
@needs_tfmot
def test_pruning_reaches_its_target_on_every_kernel(tiny_split):
    model, metrics = peers.train_magnitude_pruning(
        peers.PruningConfig(target=0.8, epochs=4, batch_size=32, learning_rate=0.1), tiny_split()
    )
    for name in ("dense_1/kernel", "dense_2/kernel", "predictions/kernel"):
        counts = metrics["num_nonzero"][name]
        assert counts["numNz"] == pytest.approx(0.2 * counts["num"], abs=1)
    assert metrics["num_nonzero"]["dense_1/bias"]["numNz"] == 64  # biases are never pruned
    assert 0.79 < metrics["sparsity"] < 0.8
    assert metrics["inacc_test"] < 0.5  # it still learnt the synthetic task
    assert not any("prune" in layer.name for layer in model.layers)  # stripped: what users ship
    assert np.mean(model.get_layer("dense_1").kernel.numpy() == 0) == pytest.approx(0.8, abs=1e-4)


def test_the_decayed_rate_by_hand():
    """Constant before pruning ends, then 0.5 (1 + cos(pi (t - s + 1) / (T - s + 1))): never zero.

    Fine-tuning's rule per step (the peer's decay is it): pruning ends at s = 6 of T = 9 steps.
    """
    base, start, total = 0.1, 6, 9  # steps 6, 7, 8 decay over T - s + 1 = 4 quarters of a half turn
    rates = [finetune.learning_rate(base, t, total, total - start) for t in range(total)]
    assert rates[:6] == [0.1] * 6
    expected = [0.1 * 0.5 * (1 + np.cos(np.pi * k / 4)) for k in (1, 2, 3)]
    np.testing.assert_allclose(rates[6:], expected)
    assert rates[-1] > 0 and rates[6] > rates[7] > rates[8]


def test_the_keras_schedule_follows_the_rate_by_hand():
    schedule = peers._decaying_rate(0.1, 6, 9)
    got = [float(schedule(t)) for t in range(9)]
    np.testing.assert_allclose(got, [finetune.learning_rate(0.1, t, 9, 3) for t in range(9)], rtol=1e-6)


@needs_keras2
@needs_tfmot
def test_tfmot_prunes_the_conv_and_dense_kernels_of_a_zoo_cnn_never_batchnorm(tiny_split):
    model, metrics = peers.train_magnitude_pruning(
        peers.PruningConfig(target=0.8, epochs=2, batch_size=32, learning_rate=0.05, model="ds-cnn"), tiny_split()
    )
    counts = metrics["num_nonzero"]
    for name in ("conv_1/kernel", "pw_2/kernel", "predictions/kernel"):
        assert counts[name]["numNz"] == pytest.approx(0.2 * counts[name]["num"], abs=1), name
    assert counts["conv_1_bn/gamma"]["numNz"] == 32  # BatchNorm is not TF-MOT's to prune
    assert model.name == "ds_cnn" and tuple(model.inputs[0].shape[1:]) == (28, 28, 1)
