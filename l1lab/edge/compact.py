"""Compaction: a trained sparse model as a smaller dense model with the same input and output.

A stack of Dense layers (the article's network, any widths) is compacted here;
any other model the channel graph follows (convs, BatchNorm, residual adds,
concatenation) by :mod:`l1lab.edge.compact_channels`, which removes whole
channel groups. :func:`compact` takes either.

Dead input features are dropped (the compact model gathers the kept ones), dead
units are removed, and a unit whose incoming weights are all zero, but whose
constant output ``act(b)`` is read by the next layer, is folded into that
layer's bias (see :mod:`l1lab.structure`). The compact model computes what
the sparse one computes, up to the weights at most ``epsilon`` that it drops
(exact zeros, after proximal training), with fewer multiply-adds on any
runtime, int8 included: unlike scattered zeros, it needs no sparse kernel.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from l1lab._compat import keras, tf
from l1lab._io import format_table
from l1lab.edge.agreement import compare_outputs
from l1lab.edge.select_features import SelectFeatures
from l1lab.model import is_dense_stack
from l1lab.structure import Structure, dead_structure, multiply_adds


class CompactionError(ValueError):
    """The model cannot be compacted; the message names the layer and the fix."""


@dataclasses.dataclass(frozen=True)
class CompactionReport:
    """What compaction kept, layer by layer, and the multiply-adds before and after."""

    input_dim: int
    kept_inputs: int
    layers: tuple[str, ...]
    widths_before: tuple[int, ...]
    widths_after: tuple[int, ...]
    folded_units: tuple[int, ...]  # per layer: dead units whose constant output went into the next bias

    @property
    def multiply_adds_before(self) -> int:
        return multiply_adds(self.widths_before, self.input_dim)

    @property
    def multiply_adds_after(self) -> int:
        return multiply_adds(self.widths_after, self.kept_inputs)

    def as_dict(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "multiply_adds_before": self.multiply_adds_before,
            "multiply_adds_after": self.multiply_adds_after,
        }

    def table(self) -> str:
        rows = [["inputs", str(self.input_dim), str(self.kept_inputs), "-"]]
        rows += [
            [name, str(before), str(after), str(folded)]
            for name, before, after, folded in zip(
                self.layers, self.widths_before, self.widths_after, self.folded_units
            )
        ]
        rows.append(["multiply-adds", str(self.multiply_adds_before), str(self.multiply_adds_after), "-"])
        return format_table(rows, ["layer", "before", "after", "folded"], align="lrrr")


# How close the compact model's outputs must be to the sparse model's, relative to their scale.
CHECK_TOLERANCE = 1e-5


def check_outputs(model, compacted, x, tolerance: float = CHECK_TOLERANCE) -> dict:
    """How far the compact model's outputs are from the sparse model's on ``x``.

    Equal means ``max |compact - sparse| <= tolerance * max(1, max |sparse|)``:
    within ``tolerance`` of the outputs' scale (logits of raw pixels run to the
    hundreds, and the weights at most ``epsilon`` that compaction drops move
    them by about ``epsilon`` times that).

    Returns:
      ``{"examples", "max_abs_diff", "output_scale", "same_predictions", "equal"}``.
    """
    x = np.asarray(x, np.float32)
    want = model.predict(x, batch_size=1024, verbose=0)
    diff, scale, same = compare_outputs(want, compacted.predict(x, batch_size=1024, verbose=0))
    return {
        "examples": int(len(x)),
        "max_abs_diff": diff,
        "output_scale": scale,
        "same_predictions": same,
        "equal": diff <= tolerance * scale,
    }


def _refuse_compacted(layer) -> None:
    if isinstance(layer, SelectFeatures):
        raise CompactionError(
            "the model is compacted already (its first layer gathers the kept inputs): compact the sparse "
            "model it came from, or export this one as it is"
        )


def dense_layers(model) -> list:
    """The model's Dense layers, input side first.

    Raises:
      CompactionError: a layer other than Dense (and the input layer), a Dense
        layer without bias, or a model that is not one chain.
    """
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        _refuse_compacted(layer)
        if not isinstance(layer, keras.layers.Dense) or type(layer) is not keras.layers.Dense:
            raise CompactionError(
                f"cannot compact layer {layer.name!r} ({type(layer).__name__}): compaction takes a stack of Dense "
                "layers only (the article's network or any widths). Fix: compact the Dense part of the model."
            )
        if not layer.use_bias:
            raise CompactionError(f"cannot compact layer {layer.name!r}: it has no bias to fold dead units into")
        layers.append(layer)
    if not layers:
        raise CompactionError("the model has no Dense layer to compact")
    return layers


def compact(model, epsilon: float = 1e-5, fold_batchnorm: bool = False):
    """A smaller dense model with the same input and output as the sparse ``model``.

    Args:
      model: a trained Keras model (Keras 3 or 2): a stack of Dense layers, or
        any model :func:`l1lab.channels.channel_graph` follows.
      epsilon: weights with ``|w| <= epsilon`` count as zero (the article's 1e-5).
      fold_batchnorm: fold each BatchNorm into the linear layer before it
        (models with BatchNorm; see :mod:`l1lab.edge.compact_channels`).

    Returns:
      ``(compact_model, report)``: a :class:`CompactionReport` for a Dense
      stack, a :class:`~l1lab.edge.compact_channels.ChannelReport` otherwise.

    Raises:
      CompactionError: a layer neither path takes (the message names it and
        the fix), a compacted model, or ``epsilon`` not finite and >= 0.
    """
    if not (isinstance(epsilon, (int, float)) and 0 <= epsilon < float("inf")):
        raise CompactionError(f"`epsilon` needs to be finite and >= 0. Received: epsilon={epsilon!r}")
    for layer in model.layers:
        _refuse_compacted(layer)
    if not is_dense_stack(model):
        from l1lab.channels import UnsupportedLayerError
        from l1lab.edge.compact_channels import compact_channels

        try:
            return compact_channels(model, epsilon, fold_batchnorm=fold_batchnorm)
        except UnsupportedLayerError as exc:
            raise CompactionError(str(exc)) from None
    return _compact_dense_stack(model, epsilon)


def _compact_dense_stack(model, epsilon: float) -> tuple[keras.Model, CompactionReport]:
    input_shape = tuple(model.inputs[0].shape[1:])
    if len(input_shape) != 1:
        raise CompactionError(
            f"the model takes inputs of shape {input_shape}: compaction removes input features of a vector; "
            "flatten the input first (keras.Input(shape=(features,)))"
        )
    layers = dense_layers(model)
    kernels = [layer.kernel.numpy() for layer in layers]
    biases = [layer.bias.numpy() for layer in layers]
    structure = dead_structure(kernels, epsilon)
    weights = _compact_weights(layers, kernels, biases, structure, epsilon)

    input_dim = kernels[0].shape[0]
    inputs = keras.Input(shape=(input_dim,), name=model.inputs[0].name.split(":")[0] or "inputs")
    x = inputs
    kept = structure.kept_inputs()
    if len(kept) < input_dim:
        x = SelectFeatures(kept if len(kept) else [0], name="select_features")(x)
    for layer, (kernel, _) in zip(layers, weights):
        x = keras.layers.Dense(
            kernel.shape[1], activation=keras.activations.serialize(layer.activation), name=layer.name
        )(x)
    compacted = keras.Model(inputs, x, name=f"{model.name}_compact")
    for layer, (kernel, bias) in zip(layers, weights):
        compacted.get_layer(layer.name).set_weights([kernel, bias])
    report = CompactionReport(
        input_dim=int(input_dim),
        kept_inputs=int(weights[0][0].shape[0]) if len(kept) < input_dim else int(input_dim),
        layers=tuple(layer.name for layer in layers),
        widths_before=tuple(int(k.shape[1]) for k in kernels),
        widths_after=tuple(int(kernel.shape[1]) for kernel, _ in weights),
        folded_units=tuple(int(c.sum()) for c in structure.constant),
    )
    return compacted, report


def _compact_weights(layers, kernels, biases, structure: Structure, epsilon: float) -> list[tuple]:
    """Each layer's kept kernel and bias, dead units' constants folded forward in layer order."""
    kernels = [np.where(np.abs(k) > epsilon, k, 0).astype(np.float64) for k in kernels]
    biases = [b.astype(np.float64) for b in biases]
    out = []
    rows = structure.inputs
    for index in range(len(layers)):
        kernel = kernels[index]
        if index and structure.constant[index - 1].any():
            constant = structure.constant[index - 1]
            outputs = layers[index - 1].activation(tf.constant(biases[index - 1][constant], tf.float32))
            biases[index] = biases[index] + np.asarray(outputs, np.float64) @ kernel[constant, :]
        columns = structure.units[index]
        # Nothing reaches this layer: one zero row keeps it well-formed (the model is then constant).
        new_kernel = kernel[rows][:, columns] if rows.any() else np.zeros((1, int(columns.sum())))
        new_bias = biases[index][columns]
        if not columns.any():  # every unit dead: one silent unit, which the next layer reads with a zero row
            new_kernel, new_bias = np.zeros((new_kernel.shape[0], 1)), np.zeros(1)
        out.append((new_kernel.astype(np.float32), new_bias.astype(np.float32)))
        rows = columns
    return out


def without_input_selection(compacted) -> tuple[keras.Model, list[int] | None]:
    """The compact model's Dense stack taking only the kept input features, and their indices.

    On the device the kept features can be read directly (the pixels a sensor
    sends, in this order): then the model needs no gather, which in TFLite is
    an op XNNPACK does not take, so the graph splits around it and a batch-1
    invoke pays for the switch (measured: a 393-input compact model in 2.8 µs
    without the gather, 6.6 µs with it, on this 2-core CPU).

    Returns:
      ``(model, indices)``: ``model(x[:, indices])`` equals ``compacted(x)``;
      ``indices`` is None when the model reads every input (it is returned as is).
    """
    selection = [layer for layer in compacted.layers if isinstance(layer, SelectFeatures)]
    if not selection:
        return compacted, None
    indices = list(selection[0].indices)
    layers = [layer for layer in compacted.layers if isinstance(layer, keras.layers.Dense)]
    inputs = keras.Input(shape=(len(indices),), name="kept_features")
    x = inputs
    for layer in layers:
        x = keras.layers.Dense(layer.units, activation=keras.activations.serialize(layer.activation), name=layer.name)(
            x
        )
    model = keras.Model(inputs, x, name=f"{compacted.name}_kept_inputs")
    for layer in layers:
        model.get_layer(layer.name).set_weights([w.numpy() for w in (layer.kernel, layer.bias)])
    return model, indices
