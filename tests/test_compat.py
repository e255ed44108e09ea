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
    assert set(info) == {"tensorflow", "keras", "keras_flavour", "numpy", "python", "platform", "cpu"}
    assert info["cpu"] == _compat.cpu_name()


def test_the_cpu_is_named_by_its_model_and_the_instruction_sets_kernels_choose_by():
    from l1lab._compat import cpu_name

    cpuinfo = (
        "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16\n\nprocessor\t: 1\n"
    )
    assert cpu_name(cpuinfo) == "AMD EPYC (avx2, avx512f, avx512_bf16)"
    assert cpu_name("model name : Old CPU\nflags : sse2\n") == "Old CPU"
    assert cpu_name("") != ""  # the platform's name where there is no /proc/cpuinfo
