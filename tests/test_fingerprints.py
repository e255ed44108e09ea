"""l1lab.fingerprints: what identifies a caller's model and data in a golden file."""

import numpy as np

from l1lab import fingerprints
from l1lab._compat import keras
from l1lab.model import build_model


def _stack(width, activation="relu"):
    return keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(width, activation=activation), keras.layers.Dense(3)]
    )


# The article's network, as every Keras flavour and TensorFlow line must describe it (this test runs in
# Keras 3, Keras 2 and on TensorFlow 2.12): a golden file written on one line stays valid on the others.
ARTICLE_ARCHITECTURE = [
    "input (784,)",
    "0 Dense units=64 use_bias=True activation=relu kernel_initializer=GlorotUniform bias_initializer=Zeros "
    "weights=[(784, 64), (64,)]",
    "1 Dense units=64 use_bias=True activation=relu kernel_initializer=GlorotUniform bias_initializer=Zeros "
    "weights=[(64, 64), (64,)]",
    "2 Dense units=10 use_bias=True activation=linear kernel_initializer=GlorotUniform bias_initializer=Zeros "
    "weights=[(64, 10), (10,)]",
]


def test_the_articles_network_reads_the_same_in_every_keras():
    assert fingerprints.model_architecture(build_model(seed=0)) == ARTICLE_ARCHITECTURE


def test_two_builds_agree_whatever_their_layer_names():
    first, second = _stack(4), _stack(4)
    assert first.layers[0].name != second.layers[0].name
    assert fingerprints.model_architecture(first) == fingerprints.model_architecture(second)


def test_width_activation_and_initialiser_scale_change_it():
    base = fingerprints.model_architecture(_stack(4))
    assert fingerprints.model_architecture(_stack(5)) != base
    assert fingerprints.model_architecture(_stack(4, "tanh")) != base
    scaled = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(4, activation="relu", kernel_initializer=keras.initializers.RandomNormal(stddev=0.5)),
            keras.layers.Dense(3),
        ]
    )
    wider = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(4, activation="relu", kernel_initializer=keras.initializers.RandomNormal(stddev=0.1)),
            keras.layers.Dense(3),
        ]
    )
    assert fingerprints.model_architecture(scaled) != fingerprints.model_architecture(wider)
    assert "RandomNormal(" in fingerprints.model_architecture(scaled)[1]


def test_a_layers_seed_does_not_change_it():
    def seeded(seed):
        init = keras.initializers.GlorotUniform(seed=seed)
        return keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, kernel_initializer=init)])

    assert fingerprints.model_architecture(seeded(1)) == fingerprints.model_architecture(seeded(2))


def test_data_checksum_sees_one_changed_value_and_the_dtype():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    changed = x.copy()
    changed[2, 3] += 1
    base = fingerprints.data_checksum({"x_train": x})
    assert base == fingerprints.data_checksum({"x_train": x.copy()})
    assert base != fingerprints.data_checksum({"x_train": changed})
    assert base != fingerprints.data_checksum({"x_train": x.astype(np.float64)})
    assert base["x_train"].startswith("float32 (3, 4) sha256:")


def test_differences_name_the_first_layer_or_the_arrays_that_differ():
    said = fingerprints.differences(
        "modelArchitecture", ["input (6,)", "0 Dense units=4"], ["input (6,)", "0 Dense units=5"]
    )
    assert said == "modelArchitecture: line 1: file '0 Dense units=4', scenario '0 Dense units=5'"
    said = fingerprints.differences("dataChecksum", {"x_train": "a", "y_train": "b"}, {"x_train": "a", "y_train": "c"})
    assert said == "dataChecksum: y_train file 'b', scenario 'c'"
    assert "none" in fingerprints.differences("modelArchitecture", None, ["input (6,)"])
    assert "2 lines, scenario 3" in fingerprints.differences("m", ["a", "b"], ["a", "b", "c"])
