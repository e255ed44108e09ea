"""Variable names that read the same in Keras 3, Keras 2 and bare TensorFlow.

``"dense_1/kernel"``: the layer, a slash, the variable. Golden files, sparsity
reports and per-layer L1 strengths are keyed on these names. This module
imports no TensorFlow.
"""

from __future__ import annotations

from typing import Any


def variable_name(variable: Any) -> str:
    """A name stable across Keras flavours: ``"dense_1/kernel"``.

    Keras 3 variables carry it as ``path``; Keras 2 and ``tf.Variable`` as
    ``name`` with a ``":0"`` suffix, which is dropped.

    Raises:
      TypeError: the object has no usable name.
    """
    name = getattr(variable, "path", None) or getattr(variable, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"cannot name {type(variable).__name__}; pass a mapping name -> array")
    return name[:-2] if name.endswith(":0") else name


def layer_of(name: str) -> str:
    """``"dense_1"`` for ``"dense_1/kernel"``."""
    return name.rsplit("/", 1)[0]


def is_bias(name: str) -> bool:
    return name.rsplit("/", 1)[-1] == "bias"


def is_kernel(name: str) -> bool:
    """A Dense or conv kernel (``kernel``, or Keras 2's ``depthwise_kernel``): not a bias, nor BatchNorm's."""
    return name.rsplit("/", 1)[-1] in ("kernel", "depthwise_kernel")
