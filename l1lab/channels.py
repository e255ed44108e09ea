"""The channel dependency graph of a Keras model: which channels must be removed together.

A **channel** is one slice of a tensor's last axis: a unit of a Dense layer, a
filter of a Conv2D, an input feature. Layers couple channels: the filter ``j``
of a Conv2D, the BatchNormalization after it and the input channel ``j`` of the
next conv are one channel seen by three layers; a residual Add ties its inputs'
channel ``j`` together. :func:`channel_graph` follows the model's layers from
its inputs to its outputs and numbers every coupled set once: a **group**. A
group is what structured L1 (:mod:`l1lab.prox`'s ``coupled_group_shrink``)
drives to zero and what compaction (:mod:`l1lab.edge.compact`) removes as a
whole.

Every weight a group touches is a **slot**: a variable, an axis of it, and the
group of each index along that axis (``ids``). A slot *reads* the group (a
kernel's input axis), *writes* it (a kernel's output axis, a bias, BatchNorm's
``gamma`` and ``beta``) or carries *state* (BatchNorm's moving statistics,
sliced with the channel but never penalised).

The knowledge of layer types sits in one place, :mod:`l1lab.channel_handlers`:
one :class:`Handler` per type says how channels pass through the layer, which
slots it has, how its configuration shrinks and what it costs in
multiply-adds. A layer of a type without a handler is an error that names it
(:class:`UnsupportedLayerError`); :func:`register_handler` adds a type.

A group is **dead** (removable without changing the outputs) when every
slot that reads it reads nothing: its weights are zero, or the value it reads
is exactly zero. Zeros are followed through the graph (a filter with zero
weights and bias gives zero after ReLU; BatchNorm with ``gamma = beta = 0``
gives zero whatever comes in), and removing a group can leave others dead, so
:meth:`ChannelGraph.dead_groups` iterates to a fixed point. Groups that reach a
model output are never removed; the channels of an image input are kept (a
vector input's features can be removed, as pixels of the article's network).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from l1lab._compat import keras
from l1lab.channel_handlers import (
    HANDLERS,
    READS,
    STATE,
    WRITES,
    Handler,
    Node,
    Slot,
    Tracer,
    UnsupportedLayerError,
    batchnorm_arrays,
    register_handler,
)

__all__ = [
    "HANDLERS",
    "READS",
    "STATE",
    "WRITES",
    "ChannelGraph",
    "Handler",
    "Slot",
    "UnsupportedLayerError",
    "batchnorm_arrays",
    "channel_graph",
    "register_handler",
]

# -- the graph -------------------------------------------------------------


@dataclasses.dataclass
class ChannelGraph:
    """The groups of coupled channels of one model, and every weight slot that touches them.

    Attributes:
      model: the traced model.
      nodes: its layers in an order where every layer comes after its inputs.
      slots: every variable axis that carries a group.
      num_groups: groups are numbered ``0 .. num_groups - 1``.
      fixed: per group, whether it reaches a model output (never removed) or
        is a channel of an image input (kept).
      input_groups: the groups of the model's input features.
      output: the index in ``nodes`` of the model's output layer.
    """

    model: object
    nodes: list[Node]
    slots: list[Slot]
    num_groups: int
    fixed: np.ndarray
    input_groups: np.ndarray
    output: int

    def __post_init__(self):
        self._slots_by_layer: dict[str, list[Slot]] = {}
        for slot in self.slots:
            self._slots_by_layer.setdefault(slot.layer, []).append(slot)
        makers = (keras.layers.Dense, keras.layers.Conv2D)
        self._channel_makers = [node for node in self.nodes if type(node.layer) in makers]

    def slots_of(self, layer_name: str) -> list[Slot]:
        """The slots of one layer's variables."""
        return self._slots_by_layer.get(layer_name, [])

    def reads(self):
        """``(node, slot)`` for every kernel axis that reads a group: what reads the node's (only) input."""
        for node in self.nodes:
            for slot in self.slots_of(node.layer.name):
                if slot.role == READS:
                    yield node, slot

    def lacks_channels(self, node: Node, alive: np.ndarray) -> bool:
        """Whether the node's output would keep no channel with only the ``alive`` groups."""
        return len(node.out_ids) > 0 and not alive[node.out_ids].any()

    def zeroed(self, weights, groups) -> dict[str, list[np.ndarray]]:
        """Copies of ``weights`` with every trainable entry of ``groups`` zero: the groups removed."""
        out = {name: [np.array(a, copy=True) for a in arrays] for name, arrays in weights.items()}
        for slot in self.trainable_slots():
            index = np.flatnonzero(np.isin(slot.ids, groups))
            if index.size:
                np.moveaxis(out[slot.layer][slot.weight], slot.axis, 0)[index] = 0
        return out

    # -- weights ------------------------------------------------------------

    def weights(self) -> dict[str, list[np.ndarray]]:
        """Each traced layer's arrays, by layer name (float64)."""
        return {node.layer.name: [np.asarray(w, np.float64) for w in node.layer.get_weights()] for node in self.nodes}

    def trainable_slots(self) -> list[Slot]:
        """The slots a penalty may act on (not BatchNorm's moving statistics)."""
        return [slot for slot in self.slots if slot.role != STATE]

    def groups_config(self) -> list[dict]:
        """The slots as plain data for an optimizer (``channel_groups``): variable, axis, group ids."""
        return [
            {"variable": slot.variable, "axis": slot.axis, "ids": slot.ids.tolist()} for slot in self.trainable_slots()
        ]

    def slimming_names(self) -> list[str]:
        """BatchNormalization's ``gamma`` and ``beta`` variables, where network slimming's L1 acts.

        Network slimming (Liu et al., 2017) puts L1 on ``gamma`` and prunes the
        channels it makes small, then fine-tunes. Here ``beta`` gets the same
        L1: a channel whose ``gamma`` and ``beta`` are both zero outputs
        exactly zero, so compaction removes it with the outputs unchanged.
        """
        return [
            slot.variable
            for slot in self.slots
            if slot.role == WRITES
            and isinstance(self._layer(slot.layer), keras.layers.BatchNormalization)
            and slot.variable.rsplit("/", 1)[-1] in ("gamma", "beta")
        ]

    def _layer(self, name: str):
        return self.model.get_layer(name)

    # -- dead groups --------------------------------------------------------

    def dead_groups(
        self, weights: Mapping[str, Sequence[np.ndarray]] | None = None, epsilon: float = 1e-5
    ) -> np.ndarray:
        """Which groups can be removed without changing the outputs, at the fixed point.

        A group is dead when no slot reads it: at every kernel input axis it
        belongs to, the weights are zero or the value they read is exactly
        zero. Weights, biases, ``gamma`` and ``beta`` with ``|w| <= epsilon``
        count as zero (BatchNorm's moving statistics are taken as they are).

        Args:
          weights: each layer's arrays by layer name (the model's own when None).
          epsilon: the threshold of zero.

        Returns:
          ``(num_groups,)`` bool; groups in :attr:`fixed` are never dead.
        """
        weights = self.weights() if weights is None else {k: list(v) for k, v in weights.items()}
        dead = np.zeros(self.num_groups, bool)
        while True:
            cleaned = self.cleaned(weights, dead, epsilon)
            zero = self._zero_values(cleaned, dead)
            read = np.zeros(self.num_groups, bool)
            for node, slot in self.reads():
                nonzero = _nonzero_along(cleaned[slot.layer][slot.weight], slot.axis) & ~zero[node.inputs[0]]
                np.logical_or.at(read, slot.ids[nonzero], True)
            newly = ~read & ~dead & ~self.fixed
            if not newly.any():
                return dead
            dead |= newly

    def cleaned(self, weights, dead: np.ndarray, epsilon: float) -> dict[str, list[np.ndarray]]:
        """The arrays with every slotted entry of a dead group, or at most ``epsilon``, set to zero.

        Moving statistics and arrays without slots are returned as they are.
        """
        cleaned = {}
        for name, arrays in weights.items():
            arrays = [np.asarray(a, np.float64) for a in arrays]
            slots = [slot for slot in self.slots_of(name) if slot.role != STATE]
            for index in {slot.weight for slot in slots}:
                arrays[index] = np.where(np.abs(arrays[index]) > epsilon, arrays[index], 0.0)
            for slot in slots:
                shape = [1] * arrays[slot.weight].ndim
                shape[slot.axis] = -1
                arrays[slot.weight] = arrays[slot.weight] * (~dead[slot.ids]).reshape(shape)
            cleaned[name] = arrays
        return cleaned

    def _zero_values(self, cleaned, dead: np.ndarray) -> list[np.ndarray]:
        """Per node, per output channel: whether its value is exactly zero whatever the model's input."""
        zero: list[np.ndarray] = []
        for node in self.nodes:
            if not node.inputs:  # the model's input
                zero.append(np.zeros(len(node.out_ids), bool))
                continue
            handler = HANDLERS[type(node.layer)]
            zero_in = [zero[i] for i in node.inputs]
            out = np.asarray(handler.zero(node, cleaned[node.layer.name], zero_in), bool)
            zero.append(out | dead[node.out_ids])
        return zero

    # -- what stays ---------------------------------------------------------

    def channel_makers(self) -> list[Node]:
        """The nodes of the layers that make channels (Dense, Conv2D); a depthwise conv's are its input's."""
        return self._channel_makers

    def channels(self, dead: np.ndarray | None = None) -> list[tuple[str, int, int]]:
        """``(layer, channels before, channels after)`` for each layer that makes channels (Dense, convs)."""
        dead = np.zeros(self.num_groups, bool) if dead is None else dead
        return [
            (node.layer.name, len(node.out_ids), int((~dead[node.out_ids]).sum())) for node in self.channel_makers()
        ]

    def summary(self, dead: np.ndarray) -> dict[str, int]:
        """``removed_channels`` (the ``dead`` groups) and the ``multiply_adds`` left: a CNN's structure figures."""
        return {"removed_channels": int(dead.sum()), "multiply_adds": self.multiply_adds(dead)}

    def multiply_adds(self, dead: np.ndarray | None = None) -> int:
        """Multiply-adds of one example's forward pass, with the ``dead`` groups removed.

        Dense, Conv2D and DepthwiseConv2D count (``positions * kernel area *
        inputs * outputs``); additions, pooling and BatchNorm (folded into the
        conv on export) do not.
        """
        alive = np.ones(self.num_groups, bool) if dead is None else ~dead
        total = 0
        for node in self.nodes:
            if node.inputs:
                handler = HANDLERS[type(node.layer)]
                in_alive = [alive[ids] for ids in node.in_ids]
                total += int(handler.multiply_adds(node.layer, in_alive, alive[node.out_ids], node.out_shape))
        return total


def _nonzero_along(weight: np.ndarray, axis: int) -> np.ndarray:
    return np.abs(np.moveaxis(weight, axis, 0).reshape(weight.shape[axis], -1)).max(axis=1, initial=0) > 0


def _shape(tensor) -> tuple:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _inbound(layer) -> list:
    inputs = layer.input
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def channel_graph(model) -> ChannelGraph:
    """Traces ``model`` (functional or Sequential, Keras 3 or 2) into its :class:`ChannelGraph`.

    Args:
      model: a built Keras model with one input and one output whose layers
        all have a handler in :data:`HANDLERS`.

    Returns:
      The graph.

    Raises:
      UnsupportedLayerError: a layer without a handler (named, with the
        fix), a layer called more than once, or a model with several inputs
        or outputs.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedLayerError(
            f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs: the channel graph takes "
            "one of each"
        )
    tracer = Tracer()
    nodes: list[Node] = []
    index_of: dict[int, int] = {}

    input_layer = model.inputs[0]._keras_history[0]
    input_shape = _shape(model.inputs[0])
    input_ids = tracer.new_groups(input_shape[-1])
    index_of[id(input_layer)] = 0
    nodes.append(Node(input_layer, [], [], input_ids, input_shape))

    for layer in model.layers:
        if id(layer) in index_of or isinstance(layer, keras.layers.InputLayer):
            continue
        if len(layer._inbound_nodes) != 1:
            raise UnsupportedLayerError(
                f"layer {layer.name!r} is called {len(layer._inbound_nodes)} times: a shared layer couples channels "
                "the graph does not follow. Fix: give each call a layer of its own."
            )
        handler = HANDLERS.get(type(layer))
        if handler is None:
            raise UnsupportedLayerError(
                f"cannot follow channels through layer {layer.name!r} ({type(layer).__name__}): no handler for it. "
                "Fix: register one with l1lab.channels.register_handler, or keep this layer out of the model "
                f"(handled: {', '.join(sorted(t.__name__ for t in HANDLERS))})."
            )
        sources = []
        for tensor in _inbound(layer):
            source = tensor._keras_history[0]
            if id(source) not in index_of:
                raise UnsupportedLayerError(
                    f"layer {layer.name!r} reads {source.name!r}, which comes later in the model"
                )
            sources.append(index_of[id(source)])
        in_ids = [nodes[i].out_ids for i in sources]
        in_shapes = [nodes[i].out_shape for i in sources]
        out_ids = np.asarray(handler.propagate(layer, in_ids, in_shapes, tracer))
        index_of[id(layer)] = len(nodes)
        nodes.append(Node(layer, sources, in_ids, out_ids, _shape(layer.output)))

    roots = np.array([tracer.find(g) for g in range(len(tracer._parent))])
    _, labels = np.unique(roots, return_inverse=True)
    relabel = labels.astype(np.int64)
    for node in nodes:
        node.in_ids = [relabel[ids] for ids in node.in_ids]
        node.out_ids = relabel[node.out_ids]
    slots = [dataclasses.replace(slot, ids=relabel[slot.ids]) for slot in tracer.slots]
    num_groups = int(relabel.max()) + 1 if len(relabel) else 0

    fixed = np.zeros(num_groups, bool)
    output = index_of[id(model.outputs[0]._keras_history[0])]
    fixed[nodes[output].out_ids] = True
    image_input = len(input_shape) > 2
    if image_input:
        fixed[nodes[0].out_ids] = True
    return ChannelGraph(model, nodes, slots, num_groups, fixed, nodes[0].out_ids, output)
