import subprocess
import sys
import textwrap

import numpy as np
import pytest

from l1lab import devices
from l1lab._compat import tf


def test_kernel_registry_today():
    """Pins what docs/article.md says of TensorFlow >= 2.4; a change here is news."""
    assert {"CPU", "GPU"} <= devices.kernel_devices(devices.PROXIMAL_ADAGRAD_OP), (
        "ResourceApplyProximalAdagrad lost its GPU kernel: --regL1Try2 would crash on GPUs again"
    )
    # (XLA's JIT devices appear in the registry once XLA is loaded; they are not GPUs.)
    descent = devices.kernel_devices(devices.PROXIMAL_GRADIENT_DESCENT_OP)
    assert "CPU" in descent and "GPU" not in descent, (
        f"ResourceApplyProximalGradientDescent now has kernels for {sorted(descent)}: update devices.py's docs"
    )
    assert devices.has_gpu_kernel("MatMul") and not devices.has_gpu_kernel(devices.PROXIMAL_GRADIENT_DESCENT_OP)


def test_unknown_op_has_no_kernels():
    assert devices.kernel_devices("NoSuchOpAnywhere") == frozenset()


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="checks the CPU-only path")
def test_nothing_to_do_without_gpus():
    decision = devices.ensure_kernels([devices.PROXIMAL_GRADIENT_DESCENT_OP])
    assert not decision.gpus_hidden and "no GPU visible" in decision.reason
    assert not devices.hide_gpus("test").gpus_hidden
    assert devices.ensure_kernels([]).as_dict()["gpusHidden"] is False


def test_gpus_are_hidden_only_when_an_op_lacks_a_gpu_kernel(fake_gpus):
    fake = fake_gpus()
    kept = devices.ensure_kernels([devices.PROXIMAL_ADAGRAD_OP])
    assert not kept.gpus_hidden and fake.visible == ["GPU:0"]
    hidden = devices.ensure_kernels([devices.PROXIMAL_GRADIENT_DESCENT_OP], reason="proximal-sgd-tf")
    assert hidden.gpus_hidden and fake.visible == []
    assert "ResourceApplyProximalGradientDescent" in hidden.reason


def test_hiding_too_late_says_so(fake_gpus):
    fake_gpus(initialised=True)
    with pytest.raises(devices.DeviceSetupError, match="already initialised its devices.*CUDA_VISIBLE_DEVICES"):
        devices.hide_gpus("the article's --regL1Try3")


def test_already_hidden_is_fine(fake_gpus):
    fake = fake_gpus(initialised=True)
    fake.visible = []
    assert devices.hide_gpus("again").gpus_hidden


# -- On a machine with a GPU ---------------------------------------------------------


@pytest.mark.gpu
def test_v1_proximal_gradient_descent_fails_on_a_gpu_variable():
    with tf.device("/GPU:0"):
        variable = tf.Variable([1.0, 2.0])
    optimizer = tf.compat.v1.train.ProximalGradientDescentOptimizer(0.1, l1_regularization_strength=0.01)
    with pytest.raises((tf.errors.NotFoundError, tf.errors.InvalidArgumentError)):
        optimizer.apply_gradients([(tf.constant([0.1, 0.1]), variable)])


@pytest.mark.gpu
def test_v1_proximal_gradient_descent_trains_with_the_workaround():
    """In a fresh process, since GPUs can only be hidden before TensorFlow starts."""
    script = textwrap.dedent("""
        from l1lab import devices
        decision = devices.ensure_kernels([devices.PROXIMAL_GRADIENT_DESCENT_OP])
        assert decision.gpus_hidden, decision
        from l1lab._compat import tf
        variable = tf.Variable([1.0, 2.0])
        optimizer = tf.compat.v1.train.ProximalGradientDescentOptimizer(0.1, l1_regularization_strength=0.01)
        optimizer.apply_gradients([(tf.constant([0.1, 0.1]), variable)])
        assert "CPU" in variable.device, variable.device
        print(variable.numpy().tolist())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_allclose(eval(result.stdout.strip().splitlines()[-1]), [0.989, 1.989], rtol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("jit_compile", [False, True])
def test_l1lab_optimizers_train_on_the_gpu(jit_compile):
    from l1lab._compat import keras
    from l1lab.model import build_model
    from l1lab.optimizers import ProximalAdagrad, ProximalSGD

    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(64, 784)).astype(np.float32), rng.integers(0, 10, 64).astype(np.int32)
    for cls in (ProximalSGD, ProximalAdagrad):
        with tf.device("/GPU:0"):
            model = build_model(seed=0)
            optimizer = cls(0.1, l1=0.05)
            optimizer.build(model.trainable_variables)
        assert all("GPU" in (getattr(v, "value", v)).device for v in model.trainable_variables)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        @tf.function(jit_compile=jit_compile)
        def step(model=model, optimizer=optimizer, loss_fn=loss_fn):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))

        for _ in range(5):
            step()
        assert np.mean(model.get_layer("dense_1").kernel.numpy() == 0) > 0.2


def test_the_suite_runs_float32_without_tf32():
    """conftest.py turns TF32 off: exact float32 comparisons mean the same on a GPU as on a CPU."""
    assert tf.config.experimental.tensor_float_32_execution_enabled() is False


@pytest.mark.gpu
def test_what_tf32_does_to_a_float32_matmul_on_this_gpu():
    """Pinned: TF32 on moves a float32 matmul by ~1e-3 relative; off, it agrees with float64 to ~1e-6."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(256, 256)).astype(np.float32), rng.normal(size=(256, 256)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    with tf.device("/GPU:0"):
        off = tf.matmul(a, b).numpy()
        tf.config.experimental.enable_tensor_float_32_execution(True)
        try:
            on = tf.matmul(a, b).numpy()
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(False)
    scale = np.abs(exact).max()
    assert np.abs(off - exact).max() / scale < 1e-5
    assert np.abs(on - exact).max() / scale > 1e-4, "TF32 no longer changes float32 matmuls: update conftest.py"
