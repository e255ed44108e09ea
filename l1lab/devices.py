"""Which devices an op can run on, and the article's GPU workaround.

TensorFlow 2.3 had no GPU kernel for ``ResourceApplyProximalAdagrad``, so
``ProximalAdagradOptimizer`` crashed with variables on a GPU; the article hid
all GPUs. TensorFlow 2.4 added those kernels, but ``ApplyProximalGradientDescent``
(``tf.compat.v1.train.ProximalGradientDescentOptimizer``) still has CPU kernels
only. Rather than trusting version numbers, l1lab asks the installed
TensorFlow's kernel registry, and hides the GPUs only when an op it needs has
no GPU kernel and a GPU is visible.

Hiding GPUs works only before TensorFlow initialises its devices (before the
first op runs); later, :class:`DeviceSetupError` says so and how to fix it.
"""

from __future__ import annotations

import dataclasses
import functools

from l1lab._compat import tf

PROXIMAL_ADAGRAD_OP = "ResourceApplyProximalAdagrad"
PROXIMAL_GRADIENT_DESCENT_OP = "ResourceApplyProximalGradientDescent"


class DeviceSetupError(RuntimeError):
    """The GPUs had to be hidden, but TensorFlow had already initialised them."""


@dataclasses.dataclass(frozen=True)
class DeviceDecision:
    """What the workaround did, and why: recorded in the run's ``args`` event."""

    gpus_hidden: bool
    reason: str

    def as_dict(self) -> dict:
        return {"gpusHidden": self.gpus_hidden, "reason": self.reason}


@functools.cache
def kernel_devices(op_name: str) -> frozenset[str]:
    """Device types with a kernel for ``op_name`` in the installed TensorFlow."""
    from tensorflow.python.framework import kernels

    registered = kernels.get_registered_kernels_for_op(op_name)
    return frozenset(kernel.device_type for kernel in registered.kernel)


def has_gpu_kernel(op_name: str) -> bool:
    return "GPU" in kernel_devices(op_name)


def physical_gpus() -> list:
    return tf.config.list_physical_devices("GPU")


def visible_gpus() -> list:
    return tf.config.get_visible_devices("GPU")


def hide_gpus(reason: str) -> DeviceDecision:
    """Hides every GPU from TensorFlow (the article's ``--regL1Try3``).

    Raises:
      DeviceSetupError: GPUs are visible and TensorFlow already initialised them.
    """
    if not physical_gpus():
        return DeviceDecision(False, f"{reason}; no GPU present, nothing to hide")
    if not visible_gpus():
        return DeviceDecision(True, f"{reason}; GPUs already hidden")
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError as exc:
        raise DeviceSetupError(
            f"cannot hide the GPUs ({reason}): TensorFlow has already initialised its devices. "
            "Fix: set it up before any TensorFlow op runs (l1lab's CLI does), or start the process "
            "with CUDA_VISIBLE_DEVICES=''"
        ) from exc
    if visible_gpus():  # pragma: no cover - TensorFlow contract
        raise DeviceSetupError(f"GPUs are still visible after hiding them ({reason})")
    return DeviceDecision(True, reason)


def ensure_kernels(op_names, reason: str = "") -> DeviceDecision:
    """Hides the GPUs if one of ``op_names`` has no GPU kernel and a GPU is visible."""
    if not op_names:
        return DeviceDecision(False, "only ops with GPU kernels (TensorFlow's dense math)")
    lacking = sorted(op for op in op_names if not has_gpu_kernel(op))
    if not lacking:
        return DeviceDecision(False, f"GPU kernels registered for {', '.join(sorted(op_names))}")
    if not visible_gpus():
        return DeviceDecision(False, f"no GPU kernel for {', '.join(lacking)}, and no GPU visible")
    why = f"no GPU kernel for {', '.join(lacking)}" + (f" ({reason})" if reason else "")
    return hide_gpus(why)
