"""Compaction of any model the channel graph follows: dead channel groups removed, BatchNorm folded.

:func:`compact_channels` rebuilds the model layer by layer with the same
topology: each Dense and Conv2D keeps the units and filters of its live groups,
every slot (kernel axes, biases, BatchNorm's parameters and statistics) is
sliced to the same groups, and layers whose width follows their input
(DepthwiseConv2D, BatchNorm, pooling, Add, Concatenate) follow. A vector
input's dead features are dropped by a :class:`~l1lab.edge.select_features.SelectFeatures`
layer, as for the Dense stack. With ``fold_batchnorm=True`` a BatchNorm that
only a linear Dense, Conv2D or DepthwiseConv2D feeds is folded into that
layer's kernel and bias:

.. math::

   W' = W \\cdot \\frac{\\gamma}{\\sqrt{\\sigma^2 + \\epsilon}}, \\qquad
   b' = (b - \\mu) \\frac{\\gamma}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta

per output channel. Only dead groups are removed (see
:meth:`l1lab.channels.ChannelGraph.dead_groups`), so the compact model computes
what the sparse one computes, up to the weights at most ``epsilon`` it drops.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from l1lab._compat import keras
from l1lab._io import format_table
from l1lab.channels import HANDLERS, ChannelGraph, batchnorm_arrays, channel_graph
from l1lab.edge.select_features import SelectFeatures


def _folds_into() -> tuple[type, ...]:
    return (keras.layers.Dense, keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


@dataclasses.dataclass(frozen=True)
class ChannelReport:
    """What compaction kept: channels per layer, multiply-adds, the BatchNorm layers folded."""

    input_features: int
    kept_input_features: int
    layers: tuple[str, ...]
    channels_before: tuple[int, ...]
    channels_after: tuple[int, ...]
    multiply_adds_before: int
    multiply_adds_after: int
    folded_batchnorm: tuple[str, ...]

    @property
    def prunable_channels(self) -> int:
        """Channels of the layers that make them, the output layer's excluded."""
        return sum(self.channels_before[:-1])

    @property
    def removed_channels(self) -> int:
        return sum(self.channels_before[:-1]) - sum(self.channels_after[:-1])

    def as_dict(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "prunable_channels": self.prunable_channels,
            "removed_channels": self.removed_channels,
        }

    def table(self) -> str:
        rows = [["inputs", str(self.input_features), str(self.kept_input_features)]]
        rows += [
            [name, str(before), str(after)]
            for name, before, after in zip(self.layers, self.channels_before, self.channels_after)
        ]
        rows.append(["multiply-adds", str(self.multiply_adds_before), str(self.multiply_adds_after)])
        return format_table(rows, ["layer", "before", "after"], align="lrr")


def kept_groups(graph: ChannelGraph, dead: np.ndarray) -> np.ndarray:
    """The groups compaction keeps: the live ones, and one group of any tensor that would have none.

    A dead group contributes nothing, so keeping one with its weights leaves
    the outputs as they are; a layer of zero channels cannot be built.
    """
    alive = ~dead
    for node in graph.nodes:
        if graph.lacks_channels(node, alive):
            alive[node.out_ids[0]] = True
    return alive


def _sliced(graph: ChannelGraph, name: str, arrays: list[np.ndarray], alive: np.ndarray) -> list[np.ndarray]:
    arrays = list(arrays)
    for slot in graph.slots_of(name):
        arrays[slot.weight] = np.take(arrays[slot.weight], np.flatnonzero(alive[slot.ids]), axis=slot.axis)
    return arrays


def _folds(graph: ChannelGraph) -> dict[int, int]:
    """BatchNorm node -> the node it folds into: a linear layer read by this BatchNorm alone."""
    readers: dict[int, int] = {}
    for node in graph.nodes:
        for source in node.inputs:
            readers[source] = readers.get(source, 0) + 1
    folds = {}
    for index, node in enumerate(graph.nodes):
        if not isinstance(node.layer, keras.layers.BatchNormalization) or len(node.inputs) != 1:
            continue
        source = node.inputs[0]
        layer = graph.nodes[source].layer
        if isinstance(layer, _folds_into()) and readers.get(source) == 1 and _is_linear(layer):
            folds[index] = source
    return folds


def _is_linear(layer) -> bool:
    activation = getattr(layer, "activation", None)
    return activation is not None and getattr(activation, "__name__", "") == "linear"


def _fold(layer, arrays: list[np.ndarray], bn, bn_arrays: list[np.ndarray]) -> list[np.ndarray]:
    gamma, beta, mean, variance = batchnorm_arrays(bn, bn_arrays)
    scale = gamma / np.sqrt(variance + bn.epsilon)
    kernel = arrays[0]
    bias = arrays[1] if len(arrays) > 1 else np.zeros(len(scale))
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * scale  # the last axis is the output channel
    return [kernel, (bias - mean) * scale + beta]


def compact_channels(model, epsilon: float = 1e-5, fold_batchnorm: bool = False) -> tuple[keras.Model, ChannelReport]:
    """A model with the dead channel groups of ``model`` removed, the same input and output.

    Args:
      model: a built Keras model (Keras 3 or 2) that :func:`l1lab.channels.channel_graph` follows.
      epsilon: weights with ``|w| <= epsilon`` count as zero.
      fold_batchnorm: fold each BatchNorm into the linear layer before it, where there is one.

    Returns:
      ``(compact_model, report)``.

    Raises:
      l1lab.channels.UnsupportedLayerError: a layer the graph cannot follow (named).
    """
    graph = channel_graph(model)
    weights = graph.weights()
    dead = graph.dead_groups(weights, epsilon)
    alive = kept_groups(graph, dead)
    cleaned = graph.cleaned(weights, np.zeros_like(dead), epsilon)
    folds = _folds(graph) if fold_batchnorm else {}
    folded_into = {source: index for index, source in folds.items()}

    outputs: dict[int, object] = {}
    built: list[tuple[object, list[np.ndarray]]] = []
    input_node = graph.nodes[0]
    input_shape = input_node.out_shape[1:]
    inputs = keras.Input(shape=input_shape, name=model.inputs[0].name.split(":")[0] or "inputs")
    x = inputs
    kept_features = np.flatnonzero(alive[graph.input_groups])
    if len(input_shape) == 1 and len(kept_features) < input_shape[0]:
        x = SelectFeatures(kept_features, name="select_features")(x)
    outputs[0] = x
    for index, node in enumerate(graph.nodes[1:], start=1):
        if index in folds:
            outputs[index] = outputs[folds[index]]
            continue
        layer = node.layer
        config = HANDLERS[type(layer)].shrink(layer.get_config(), int(alive[node.out_ids].sum()))
        arrays = _sliced(graph, layer.name, cleaned[layer.name], alive)
        if index in folded_into:
            bn_node = graph.nodes[folded_into[index]]
            bn_arrays = _sliced(graph, bn_node.layer.name, cleaned[bn_node.layer.name], alive)
            arrays = _fold(layer, arrays, bn_node.layer, bn_arrays)
            config = {**config, "use_bias": True}
        new_layer = type(layer).from_config(config)
        sources = [outputs[i] for i in node.inputs]
        outputs[index] = new_layer(sources if len(sources) > 1 else sources[0])
        built.append((new_layer, arrays))
    compacted = keras.Model(inputs, outputs[graph.output], name=f"{model.name}_compact")
    for new_layer, arrays in built:
        new_layer.set_weights([a.astype(np.float32) for a in arrays])
    channels = graph.channels()
    after = dict((name, kept) for name, _, kept in graph.channels(~alive))
    report = ChannelReport(
        input_features=len(graph.input_groups),
        kept_input_features=len(kept_features) if len(input_shape) == 1 else len(graph.input_groups),
        layers=tuple(name for name, _, _ in channels),
        channels_before=tuple(before for _, before, _ in channels),
        channels_after=tuple(after[name] for name, _, _ in channels),
        multiply_adds_before=graph.multiply_adds(),
        multiply_adds_after=graph.multiply_adds(~alive),
        folded_batchnorm=tuple(graph.nodes[i].layer.name for i in sorted(folds)),
    )
    return compacted, report
