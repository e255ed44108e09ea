import os

import numpy as np
import pytest

from l1lab import _compat
from l1lab._compat import keras, tf


def test_flavour_follows_the_environment():
    requested = os.environ.get("TF_USE_LEGACY_KERAS", "").lower() in ("1", "true", "yes", "on")
    assert requested == _compat.LEGACY_KERAS_REQUESTED
    if _compat.TF_VERSION < (2, 16):
        assert _compat.KERAS_FLAVOUR == "keras2" and keras.__name__ == tf.keras.__name__  # built in, the only choice
    elif requested:
        assert _compat.KERAS_FLAVOUR == "keras2" and keras.__name__ == "tf_keras"
    else:
        assert _compat.KERAS_FLAVOUR == "keras3" and keras.__name__ == "keras"
    # Written back so TensorFlow's own tf.keras loader agrees with l1lab.
    assert os.environ["TF_USE_LEGACY_KERAS"] == ("1" if requested else "0")


@pytest.mark.parametrize(
    "value, legacy", [("1", True), ("true", True), (" Yes ", True), ("0", False), ("", False), ("no", False)]
)
def test_legacy_keras_requested(value, legacy):
    assert _compat.legacy_keras_requested({"TF_USE_LEGACY_KERAS": value}) is legacy
    assert _compat.legacy_keras_requested({}) is False


def test_tf_variable_of_a_keras_variable():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    inner = _compat.tf_variable(layer.kernel)
    assert isinstance(inner, tf.Variable)
    inner.assign(np.ones((3, 2), np.float32))
    np.testing.assert_array_equal(layer.kernel.numpy(), np.ones((3, 2)))


def test_tf_variable_refuses_other_things():
    with pytest.raises(TypeError, match="neither a tf.Variable"):
        _compat.tf_variable(np.zeros(2))


def test_versions_name_the_stack():
    info = _compat.versions()
    assert info["tensorflow"] == tf.__version__
    assert info["keras"] == _compat.KERAS_VERSION and info["keras"].startswith(str(_compat.KERAS_MAJOR))
    assert set(info) == {"tensorflow", "keras", "keras_flavour", "numpy", "python", "platform"}
