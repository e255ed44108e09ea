"""Variable names that read the same in Keras 3, Keras 2 and bare TensorFlow.

``"dense_1/kernel"``: the layer, a slash, the variable. Golden files, sparsity
reports and per-layer L1 strengths are keyed on these names. A variable's own
name is not enough for that: Keras 3 puts a ``Sequential``'s name in front of
its variables (``"sequential/dense/kernel"``), Keras 2 does not, and a nested
model's variables carry the inner model's name in Keras 3 only. So a model's
variables are named by where they sit in its layers (:func:`model_variable_names`),
and a bare variable by its own name (:func:`variable_name`). This module imports
no TensorFlow.
"""

from __future__ import annotations

from typing import Any


def variable_name(variable: Any) -> str:
    """The variable's own name: ``"dense_1/kernel"``.

    Keras 3 variables carry it as ``path``; Keras 2 and ``tf.Variable`` as
    ``name`` with a ``":0"`` suffix, which is dropped. It is what an optimizer
    sees; for names that agree across Keras flavours, use
    :func:`model_variable_names`.

    Raises:
      TypeError: the object has no usable name.
    """
    name = getattr(variable, "path", None) or getattr(variable, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"cannot name {type(variable).__name__}; pass a mapping name -> array")
    return name[:-2] if name.endswith(":0") else name


# Keras 2 calls DepthwiseConv2D's kernel ``depthwise_kernel``, Keras 3 ``kernel``
# (SeparableConv2D's ``depthwise_kernel`` is that in both).
_FLAVOUR_NAMES = {("DepthwiseConv1D", "depthwise_kernel"): "kernel", ("DepthwiseConv2D", "depthwise_kernel"): "kernel"}


def _weight_in_layer(layer: Any, variable: Any) -> str:
    """``"kernel"`` for Dense's kernel: the variable's name below its layer's."""
    segments = variable_name(variable).split("/")
    below = segments[segments.index(layer.name) + 1 :] if layer.name in segments[:-1] else segments[-1:]
    short = "/".join(below)
    return _FLAVOUR_NAMES.get((type(layer).__name__, short), short)


def model_variable_names(model: Any, variables: Any = None) -> list[str]:
    """Names of ``variables`` (default: the model's trainable ones) that agree across Keras flavours.

    A variable of a layer of ``model`` is named ``"<layer>/<weight>"``
    (``"dense_1/kernel"``), one of a model nested in it
    ``"<inner model>/<layer>/<weight>"``, whatever prefix its flavour gave it.
    For a functional model these are the variables' own names. A variable no
    layer holds (a subclassed model's own weight) keeps its own name, less the
    model's name in front.

    Raises:
      TypeError: a variable has no usable name.
    """
    variables = list(model.trainable_variables if variables is None else variables)
    by_id: dict[int, str] = {}

    def visit(container: Any, prefix: str) -> None:
        for layer in getattr(container, "layers", ()):
            if hasattr(layer, "layers"):  # a nested model
                visit(layer, f"{prefix}{layer.name}/")
                continue
            for weight in layer.weights:
                by_id.setdefault(id(weight), f"{prefix}{layer.name}/{_weight_in_layer(layer, weight)}")

    visit(model, "")
    own_prefix = f"{getattr(model, 'name', '')}/"
    names = []
    for variable in variables:
        name = by_id.get(id(variable))
        if name is None:
            name = variable_name(variable)
            name = name[len(own_prefix) :] if name.startswith(own_prefix) else name
        names.append(name)
    return names


def layer_of(name: str) -> str:
    """``"dense_1"`` for ``"dense_1/kernel"``."""
    return name.rsplit("/", 1)[0]


def is_bias(name: str) -> bool:
    return name.rsplit("/", 1)[-1] == "bias"


def is_kernel(name: str) -> bool:
    """A Dense or conv kernel (``kernel``, or Keras 2's ``depthwise_kernel``): not a bias, nor BatchNorm's."""
    return name.rsplit("/", 1)[-1] in ("kernel", "depthwise_kernel")
