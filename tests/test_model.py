import numpy as np
import pytest

from l1lab import model as model_lib
from l1lab._compat import keras
from l1lab.sparsity import count_nonzero, variable_name

ARTICLE_VARIABLES = [
    ("dense_1/kernel", (784, 64)),
    ("dense_1/bias", (64,)),
    ("dense_2/kernel", (64, 64)),
    ("dense_2/bias", (64,)),
    ("predictions/kernel", (64, 10)),
    ("predictions/bias", (10,)),
]


def _names_and_shapes(model):
    return [(variable_name(v), tuple(v.shape)) for v in model.trainable_variables]


def test_article_network():
    model = model_lib.build_model(seed=0)
    assert _names_and_shapes(model) == ARTICLE_VARIABLES
    assert count_nonzero(model)["total"]["num"] == 55_050
    # Logits out: a ReLU-free last layer, Keras's defaults elsewhere.
    assert model.get_layer("predictions").activation is keras.activations.linear
    assert model.get_layer("dense_1").activation is keras.activations.relu
    assert not np.any(model.get_layer("dense_1").bias.numpy())


def test_names_are_stable_across_builds():
    model_lib.build_model()
    assert _names_and_shapes(model_lib.build_model()) == ARTICLE_VARIABLES


def test_seed_fixes_the_initial_weights(global_random_seed):
    a = model_lib.build_model(seed=global_random_seed)
    b = model_lib.build_model(seed=global_random_seed)
    c = model_lib.build_model(seed=global_random_seed + 100)
    for va, vb in zip(a.trainable_variables, b.trainable_variables):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())
    assert not np.array_equal(a.trainable_variables[0].numpy(), c.trainable_variables[0].numpy())


def test_glorot_uniform_kernels():
    kernel = model_lib.build_model(seed=3).get_layer("dense_1").kernel.numpy()
    limit = np.sqrt(6 / (784 + 64))
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit


def test_widths_are_configurable():
    model = model_lib.build_model((32, 16, 8))
    assert [tuple(v.shape) for v in model.trainable_variables][::2] == [(784, 32), (32, 16), (16, 8), (8, 10)]
    assert model_lib.layer_names(3) == ["dense_1", "dense_2", "dense_3", "predictions"]
    assert model(np.zeros((2, 784), np.float32)).shape == (2, 10)


def test_regularizer_per_layer_by_name_and_by_position():
    l1 = keras.regularizers.L1(0.5)
    by_name = model_lib.build_model(kernel_regularizers={"dense_1": l1})
    assert by_name.get_layer("dense_1").kernel_regularizer is l1
    assert by_name.get_layer("dense_2").kernel_regularizer is None
    by_position = model_lib.build_model(kernel_regularizers=[None, None, l1])
    assert by_position.get_layer("predictions").kernel_regularizer is l1


def test_regularizer_penalty_is_in_model_losses():
    model = model_lib.build_model(seed=0, kernel_regularizers={"dense_1": keras.regularizers.L1(0.5)})
    model(np.zeros((1, 784), np.float32))
    expected = 0.5 * np.abs(model.get_layer("dense_1").kernel.numpy()).sum()
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"kernel_regularizers": {"dense_7": None}}, ValueError, "unknown layers"),
        ({"kernel_regularizers": [None]}, ValueError, "1 entries for 3 layers"),
        ({"kernel_regularizers": "l1"}, TypeError, "mapping"),
        ({"hidden_units": (64, 0)}, ValueError, "positive"),
    ],
)
def test_bad_configuration(kwargs, error, message):
    with pytest.raises(error, match=message):
        model_lib.build_model(**kwargs)
