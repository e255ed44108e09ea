"""Variable names that agree across Keras flavours (this file runs under each: tox -e fast, fast-legacy, tf212)."""

import pytest

from l1lab import methods
from l1lab._compat import keras
from l1lab._names import model_variable_names, variable_name
from l1lab.config import MethodOptions
from l1lab.sparsity import count_nonzero

DENSE_PAIR = ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]


def _sequential():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])


def _functional():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2, name="dense_1")(keras.layers.Dense(3, name="dense")(inputs)))


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.first, self.second = keras.layers.Dense(3), keras.layers.Dense(2)

    def call(self, x):
        return self.second(self.first(x))


def _subclassed():
    model = _Subclassed()
    model(keras.Input((4,)) if hasattr(keras, "Input") else None)
    return model


def _nested():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="inner")
    return keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2)])


def _convolutions():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, name="dw")(inputs)
    x = keras.layers.SeparableConv2D(4, 3, name="sep")(x)
    return keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(x))


@pytest.mark.parametrize(
    "build, names",
    [
        (_sequential, DENSE_PAIR),
        (_functional, DENSE_PAIR),
        (_subclassed, DENSE_PAIR),
        (_nested, ["inner/dense/kernel", "inner/dense/bias", "dense_1/kernel", "dense_1/bias"]),
        (
            _convolutions,
            ["dw/kernel", "dw/bias", "sep/depthwise_kernel", "sep/pointwise_kernel", "sep/bias", "bn/gamma", "bn/beta"],
        ),
    ],
    ids=["sequential", "functional", "subclassed", "nested", "convolutions"],
)
def test_a_models_variables_have_the_same_names_in_every_flavour(build, names):
    keras.backend.clear_session()
    model = build()
    assert model_variable_names(model) == names
    assert list(count_nonzero(model))[:-1] == names


def test_non_trainable_variables_are_named_by_their_layer_too():
    keras.backend.clear_session()
    model = _convolutions()
    assert model_variable_names(model, model.weights)[-2:] == ["bn/moving_mean", "bn/moving_variance"]


def test_bare_variables_keep_their_own_names():
    keras.backend.clear_session()
    model = _sequential()
    assert list(count_nonzero(list(model.trainable_variables)))[:-1] == [
        variable_name(v) for v in model.trainable_variables
    ]


def test_per_layer_strengths_reach_a_sequential_models_variables():
    """Keras 3 names a Sequential's variables "sequential/dense/kernel"; a strength for layer "dense_1" still lands."""
    options = MethodOptions(l1=1e-3, l1_layers=(("dense_1", 5e-3),))
    setup = methods.configure(
        "proximal-sgd", learning_rate=0.1, seed=0, options=options, model=lambda seed: _sequential()
    )
    by_name = dict(zip(model_variable_names(setup.model), setup.optimizer.l1_by_variable().values()))
    assert by_name == {"dense/kernel": 1e-3, "dense/bias": 1e-3, "dense_1/kernel": 5e-3, "dense_1/bias": 5e-3}
