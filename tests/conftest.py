"""Shared test helpers, as fixtures: synthetic data (no MNIST needed) and tiny scenarios."""

from __future__ import annotations

import numpy as np
import pytest

from l1lab import data as data_lib
from l1lab import devices
from l1lab.model import build_model


def make_tiny_split(seed=0, n_train=320, n_test=64):
    """Learnable synthetic digits: the label is written in the brightest pixel block."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 10, n).astype(np.int32)
        x = rng.uniform(0, 0.2, (n, 784)).astype(np.float32)
        for i, label in enumerate(y):
            x[i, label * 78 : label * 78 + 78] += 1.0
        return x, y

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    return data_lib.MnistSplit(
        x_train, y_train, x_test, y_test, x_test, y_test, num_samples=n_test, pixel_scale="unit", source="synthetic"
    )


def make_cnn_config(model="tfmot-cnn", **changes):
    """A short proximal-SGD run of a zoo CNN: 3 epochs of which 2 fine-tune, ``changes`` on top."""
    from l1lab.config import MethodOptions, TrainConfig

    settings = dict(epochs=3, finetune_epochs=2, method="proximal-sgd", learning_rate=0.01)
    return TrainConfig(model=model, **{**settings, "options": MethodOptions(l1=1e-4), **changes})


@pytest.fixture(scope="session")
def cnn_config():
    """``cnn_config(model="tfmot-cnn", **changes)``: a short proximal-SGD :class:`TrainConfig` of a zoo CNN."""
    return make_cnn_config


@pytest.fixture(scope="session")
def tiny_split():
    """``tiny_split(seed=0, n_train=320, n_test=64)``: learnable synthetic digits as an ``MnistSplit``."""
    return make_tiny_split


def make_planted_model(seed=0):
    """The article's network with dead inputs, a constant unit, a unit nothing reads, and a dead layer-2 unit."""
    model = build_model(seed=seed)
    rng = np.random.default_rng(seed)
    k1, b1 = (w.numpy() for w in model.get_layer("dense_1").weights)
    k2, b2 = (w.numpy() for w in model.get_layer("dense_2").weights)
    k3, b3 = (w.numpy() for w in model.get_layer("predictions").weights)
    k1[rng.choice(784, 500, replace=False)] = 0  # 500 input pixels nobody reads
    k1[:, 3], b1[3] = 0, 0.7  # constant unit: relu(0.7) folded into dense_2's bias
    k1[:, 5], b1[5] = 0, -0.2  # constant relu(-0.2) = 0: removed, folds nothing
    k2[7] = 0  # dense_1 unit 7: nothing reads it
    k2[:, 11] = 0  # dense_2 unit 11: constant relu(b)
    b2[:] = rng.uniform(0, 0.1, size=64)
    k3[20] = 0  # dense_2 unit 20: nothing reads it
    b3[:] = rng.normal(size=10)
    for name, weights in (("dense_1", [k1, b1]), ("dense_2", [k2, b2]), ("predictions", [k3, b3])):
        model.get_layer(name).set_weights(weights)
    return model


@pytest.fixture(scope="session")
def planted_model():
    """``planted_model(seed=0)``: the article's network with dead inputs, constant and unread units."""
    return make_planted_model


class FakeGpus:
    """A machine with one GPU, as tf.config would report it."""

    def __init__(self, monkeypatch, initialised=False):
        self.visible = ["GPU:0"]
        self.initialised = initialised
        monkeypatch.setattr(devices, "physical_gpus", lambda: ["GPU:0"])
        monkeypatch.setattr(devices, "visible_gpus", lambda: list(self.visible))
        monkeypatch.setattr(devices.tf.config, "set_visible_devices", self.set_visible_devices)

    def set_visible_devices(self, devices_, device_type):
        assert devices_ == [] and device_type == "GPU"
        if self.initialised:
            raise RuntimeError("Visible devices cannot be modified after being initialized")
        self.visible = []


@pytest.fixture
def fake_gpus(monkeypatch):
    """``fake_gpus(initialised=False)``: pretend one GPU is there (l1lab.devices sees it)."""
    return lambda initialised=False: FakeGpus(monkeypatch, initialised)


def _channel_model(kind: str, seed: int = 0):
    """Small models, one per kind of coupling the channel graph follows (28x28x1 inputs, 10 logits)."""
    from l1lab._compat import keras

    layers = keras.layers
    inputs = keras.Input(shape=(12, 12, 1), name="image")
    init = keras.initializers.GlorotUniform(seed=seed)
    if kind == "conv-bn":  # a conv chain with BatchNorm, a Flatten head
        x = layers.Conv2D(6, 3, kernel_initializer=init, name="conv_1")(inputs)
        x = layers.BatchNormalization(name="bn_1")(x)
        x = layers.ReLU(name="relu_1")(x)
        x = layers.MaxPooling2D(2, name="pool")(x)
        x = layers.Conv2D(5, 3, activation="relu", kernel_initializer=init, name="conv_2")(x)
        x = layers.Flatten(name="flatten")(x)
    elif kind == "depthwise-separable":  # depthwise then pointwise, each with BatchNorm, a GAP head
        x = layers.Conv2D(6, 3, padding="same", use_bias=False, kernel_initializer=init, name="conv_1")(inputs)
        x = layers.BatchNormalization(name="bn_1")(x)
        x = layers.Activation("relu", name="relu_1")(x)
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="depthwise")(x)
        x = layers.BatchNormalization(name="bn_dw")(x)
        x = layers.ReLU(name="relu_dw")(x)
        x = layers.Conv2D(7, 1, use_bias=False, kernel_initializer=init, name="pointwise")(x)
        x = layers.BatchNormalization(name="bn_pw")(x)
        x = layers.ReLU(name="relu_pw")(x)
        x = layers.Dropout(0.2, name="dropout")(x)
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    elif kind == "residual":  # a residual Add ties both branches' channels
        x = layers.Conv2D(6, 3, padding="same", kernel_initializer=init, name="stem")(inputs)
        x = layers.BatchNormalization(name="bn_stem")(x)
        shortcut = layers.ReLU(name="relu_stem")(x)
        y = layers.Conv2D(4, 3, padding="same", kernel_initializer=init, name="conv_a")(shortcut)
        y = layers.BatchNormalization(name="bn_a")(y)
        y = layers.ReLU(name="relu_a")(y)
        y = layers.Conv2D(6, 3, padding="same", kernel_initializer=init, name="conv_b")(y)
        y = layers.BatchNormalization(name="bn_b")(y)
        x = layers.Add(name="add")([shortcut, y])
        x = layers.ReLU(name="relu_add")(x)
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    elif kind == "concatenate":  # two branches stacked along the channels
        left = layers.Conv2D(4, 3, activation="relu", kernel_initializer=init, name="left")(inputs)
        right = layers.Conv2D(5, 3, activation="relu", kernel_initializer=init, name="right")(inputs)
        x = layers.Concatenate(name="concat")([left, right])
        x = layers.Conv2D(6, 1, activation="relu", kernel_initializer=init, name="mix")(x)
        x = layers.AveragePooling2D(2, name="pool")(x)
        x = layers.Flatten(name="flatten")(x)
    else:
        raise ValueError(kind)
    x = layers.Dense(8, activation="relu", kernel_initializer=init, name="hidden")(x)
    outputs = layers.Dense(10, kernel_initializer=init, name="predictions")(x)
    model = keras.Model(inputs, outputs, name=kind.replace("-", "_"))
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # statistics and biases away from their defaults, so folding and slicing show
        if isinstance(layer, layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights(
                [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.3, c), rng.normal(0, 0.3, c), rng.uniform(0.5, 2, c)]
            )
        elif getattr(layer, "use_bias", False):
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape).astype(np.float32))
    return model


CHANNEL_MODELS = ("conv-bn", "depthwise-separable", "residual", "concatenate")


@pytest.fixture(scope="session")
def channel_model():
    """``channel_model(kind, seed=0)``: a small CNN of one of :data:`CHANNEL_MODELS`' kinds, 12x12x1 inputs."""
    return _channel_model
