"""The project's own models and data: a small CNN and a small Dense network for Fashion-MNIST."""

from __future__ import annotations

import numpy as np

# Fashion-MNIST's standard split: its 60,000 training images and 10,000 test images.
NUM_SAMPLES = 10_000


def load_fashion_mnist():
    """``(x_train, y_train, x_test, y_test)``: images in [0, 1], shaped (N, 28, 28, 1); labels 0..9."""
    from l1lab.data import load_mnist

    split = load_mnist(NUM_SAMPLES, pixel_scale="unit", split="standard", dataset="fashion-mnist")
    images = lambda x: np.asarray(x, np.float32).reshape(-1, 28, 28, 1)  # noqa: E731
    return images(split.x_train), split.y_train, images(split.x_test), split.y_test


def small_cnn(seed: int, filters: int = 16):
    """Two 3x3 convolutions of stride 2, then one Dense layer of logits."""
    from l1lab._compat import keras

    init = keras.initializers.HeNormal(seed=seed)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(filters, 3, strides=2, activation="relu", kernel_initializer=init),
            keras.layers.Conv2D(2 * filters, 3, strides=2, activation="relu", kernel_initializer=init),
            keras.layers.Flatten(),
            keras.layers.Dense(10, kernel_initializer=keras.initializers.GlorotUniform(seed=seed)),
        ]
    )


def small_mlp(seed: int, units: int = 32):
    """784 pixels, one hidden layer, logits."""
    from l1lab._compat import keras

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed)),
            keras.layers.Dense(10, kernel_initializer=keras.initializers.GlorotUniform(seed + 1)),
        ]
    )


def top2_error(model, split) -> float:
    """The fraction of test images whose class is not among the model's two highest logits."""
    logits = np.concatenate([np.asarray(model(split.x_test[i : i + 2000])) for i in range(0, len(split.x_test), 2000)])
    top2 = np.argsort(logits, axis=1)[:, -2:]
    return float(np.mean(~np.any(top2 == np.asarray(split.y_test)[:, None], axis=1)))
