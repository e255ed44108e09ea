"""The article's network: ``784 -> Dense(64, relu) -> Dense(64, relu) -> Dense(10)``.

It is the model of TensorFlow's guide "Writing a training loop from scratch":
logits out, Keras's default initialisers (Glorot uniform kernels, zero
biases). Widths and per-layer kernel regularizers are configurable; layer
names are fixed (``dense_1``, ``dense_2``, ..., ``predictions``) so variable
names, and therefore sparsity reports and golden files, do not depend on how
many models a process built before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from l1lab._compat import keras

INPUT_DIM = 784
NUM_CLASSES = 10
HIDDEN_UNITS = (64, 64)
OUTPUT_LAYER = "predictions"


def layer_names(num_hidden: int = len(HIDDEN_UNITS)) -> list[str]:
    """Names of the Dense layers, input side first."""
    return [f"dense_{i + 1}" for i in range(num_hidden)] + [OUTPUT_LAYER]


def _regularizer_per_layer(kernel_regularizers: Any, names: list[str]) -> list:
    if kernel_regularizers is None:
        return [None] * len(names)
    if isinstance(kernel_regularizers, Mapping):
        unknown = set(kernel_regularizers) - set(names)
        if unknown:
            raise ValueError(f"kernel_regularizers names unknown layers {sorted(unknown)}; layers are {names}")
        return [kernel_regularizers.get(name) for name in names]
    if isinstance(kernel_regularizers, Sequence) and not isinstance(kernel_regularizers, str):
        if len(kernel_regularizers) != len(names):
            raise ValueError(
                f"kernel_regularizers has {len(kernel_regularizers)} entries for {len(names)} layers {names}"
            )
        return list(kernel_regularizers)
    raise TypeError("kernel_regularizers must be None, a mapping layer name -> regularizer, or a sequence")


def build_model(
    hidden_units: Sequence[int] = HIDDEN_UNITS,
    *,
    num_classes: int = NUM_CLASSES,
    input_dim: int = INPUT_DIM,
    kernel_regularizers: Mapping[str, Any] | Sequence[Any] | None = None,
    seed: int | None = None,
    name: str = "mnist_mlp",
) -> keras.Model:
    """The article's multilayer perceptron, returning logits.

    Args:
      hidden_units: widths of the ReLU layers (the article: 64, 64).
      kernel_regularizers: per Dense layer, input side first, as a sequence
        or a mapping ``{"dense_1": keras.regularizers.L1(1e-4)}``.
      seed: seeds each kernel initialiser (layer ``i`` gets ``seed + i``), so
        the initial weights are fixed whatever else consumed random numbers.
    """
    hidden_units = [int(u) for u in hidden_units]
    if any(u < 1 for u in hidden_units) or num_classes < 1 or input_dim < 1:
        raise ValueError(f"layer widths must be positive: {hidden_units}, {num_classes}, {input_dim}")
    names = layer_names(len(hidden_units))
    regularizers = _regularizer_per_layer(kernel_regularizers, names)
    widths = [*hidden_units, num_classes]

    inputs = keras.Input(shape=(input_dim,), name="digits")
    x = inputs
    for i, (layer_name, units, regularizer) in enumerate(zip(names, widths, regularizers)):
        x = keras.layers.Dense(
            units,
            activation=None if layer_name == OUTPUT_LAYER else "relu",
            kernel_initializer=keras.initializers.GlorotUniform(seed=None if seed is None else seed + i),
            bias_initializer="zeros",
            kernel_regularizer=regularizer,
            name=layer_name,
        )(x)
    return keras.Model(inputs=inputs, outputs=x, name=name)


def dense_weights(model) -> list[tuple]:
    """``[(kernel, bias), ...]`` of the model's Dense layers, input side first, as NumPy arrays."""
    return [
        tuple(w.numpy() if hasattr(w, "numpy") else w for w in (layer.kernel, layer.bias))
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
    ]


def from_dense_weights(weights: Sequence[tuple], name: str = "mnist_mlp") -> keras.Model:
    """The article's kind of network holding ``weights`` (``[(kernel, bias), ...]``, input side first).

    The widths come from the kernels' shapes; hidden layers are ReLU and the
    last gives logits, as :func:`build_model` builds them. A model trained in
    one Keras flavour is rebuilt in the other this way (its files are not
    always readable across flavours).

    Raises:
      ValueError: no layer, or kernels whose shapes do not chain.
    """
    if not weights:
        raise ValueError("`weights` needs at least one (kernel, bias) pair. Received: weights=[]")
    for i in range(1, len(weights)):
        if weights[i][0].shape[0] != weights[i - 1][0].shape[1]:
            raise ValueError(
                f"layer {i}'s kernel takes {weights[i][0].shape[0]} inputs but layer {i - 1} gives "
                f"{weights[i - 1][0].shape[1]}"
            )
    model = build_model(
        [k.shape[1] for k, _ in weights[:-1]],
        num_classes=weights[-1][0].shape[1],
        input_dim=weights[0][0].shape[0],
        name=name,
    )
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer, (kernel, bias) in zip(layers, weights):
        layer.set_weights([kernel, bias])
    return model


def is_dense_stack(model) -> bool:
    """Whether the model is a chain of Dense layers only (the article's kind of network)."""
    return all(
        type(layer) is keras.layers.Dense or isinstance(layer, keras.layers.InputLayer) for layer in model.layers
    )


def shaped_for(model, x):
    """``x``'s flat 784-pixel rows in the shape the model takes (``(N, 28, 28, 1)`` for a CNN).

    Raises:
      ValueError: the rows do not hold as many values as one input of the model.
    """
    import numpy as np

    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    x = np.asarray(x)
    if x.shape[1:] == shape:
        return x
    if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
        raise ValueError(f"the model takes inputs of shape {shape}; the data's rows have shape {x.shape[1:]}")
    return x.reshape((len(x), *shape))
