"""What each layer type does to channels: one :class:`Handler` per type, in :data:`HANDLERS`.

The layer knowledge of :mod:`l1lab.channels` sits here, as TF-MOT's prune
registry maps a layer type to its prunable weights: a handler says how
channels pass through a layer (``propagate``), which of its weights carry
which channel (the slots it adds), whether a channel comes out exactly zero
(``zero``), how its configuration shrinks and what it costs in multiply-adds.
Adding a layer type is one handler and its tests; :func:`register_handler`
does it from outside l1lab. Handled: Dense, Conv2D, DepthwiseConv2D,
BatchNormalization, activations, Dropout and noise, pooling, padding,
cropping, up-sampling, Flatten, global pooling, Add, Average, Maximum,
Minimum and Concatenate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from l1lab._compat import keras
from l1lab._names import variable_name

READS, WRITES, STATE = "reads", "writes", "state"


class UnsupportedLayerError(ValueError):
    """A layer the graph cannot follow channels through; the message names it and the fix."""


@dataclasses.dataclass(frozen=True)
class Slot:
    """One axis of one variable, and the group of each index along it."""

    layer: str
    variable: str  # stable name, "conv2d/kernel" (see l1lab._names)
    weight: int  # index into layer.weights
    axis: int
    ids: np.ndarray  # (variable.shape[axis],) int: the group of each index
    role: str  # READS, WRITES or STATE


@dataclasses.dataclass
class Node:
    """A layer in the graph: its inputs' and output's channel groups, its output's shape."""

    layer: object
    inputs: list[int]  # indices of the nodes it reads, in call order
    in_ids: list[np.ndarray]
    out_ids: np.ndarray
    out_shape: tuple


class Tracer:
    """What a handler sees while the graph is traced: new groups, couplings, slots."""

    def __init__(self):
        self._parent: list[int] = []
        self.slots: list[Slot] = []

    def new_groups(self, count: int) -> np.ndarray:
        start = len(self._parent)
        self._parent.extend(range(start, start + count))
        return np.arange(start, start + count)

    def find(self, group: int) -> int:
        root = group
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[group] != root:  # path compression
            self._parent[group], group = root, self._parent[group]
        return root

    def tie(self, first: np.ndarray, second: np.ndarray) -> None:
        """Couples ``first[i]`` with ``second[i]`` for every ``i``."""
        for a, b in zip(np.asarray(first).tolist(), np.asarray(second).tolist()):
            ra, rb = self.find(a), self.find(b)
            if ra != rb:
                self._parent[max(ra, rb)] = min(ra, rb)

    def slot(self, layer, variable, axis: int, ids: np.ndarray, role: str) -> None:
        names = [variable_name(w) for w in layer.weights]
        name = variable_name(variable)
        self.slots.append(Slot(layer.name, name, names.index(name), axis, np.asarray(ids), role))


@dataclasses.dataclass(frozen=True)
class Handler:
    """How one layer type treats channels.

    Attributes:
      propagate: ``(layer, in_ids, in_shapes, tracer) -> out_ids``: the groups
        of the output's channels, adding the layer's slots to ``tracer``.
      zero: ``(node, weights, zero_in) -> zero_out``: per output channel,
        whether the output is exactly zero, given the same per input channel
        (``weights`` are the layer's arrays, dead and tiny entries zeroed).
      shrink: ``(config, kept_out) -> config``: the layer's configuration with
        ``kept_out`` output channels (the identity for layers whose width
        follows their input).
      multiply_adds: ``(layer, in_alive, out_alive, out_shape) -> int``.
    """

    propagate: Callable
    zero: Callable
    shrink: Callable = lambda config, kept_out: config
    multiply_adds: Callable = lambda layer, in_alive, out_alive, out_shape: 0


HANDLERS: dict[type, Handler] = {}


def register_handler(layer_type: type, handler: Handler) -> None:
    """Registers ``handler`` for layers of exactly ``layer_type`` (subclasses need their own)."""
    HANDLERS[layer_type] = handler


def _positions(shape: tuple) -> int:
    """How many times a layer applies per example: the product of the spatial dimensions."""
    return int(np.prod([int(d) for d in shape[1:-1]], dtype=np.int64)) if len(shape) > 2 else 1


def _maps_zero_to_zero(function) -> bool:
    """Whether ``function`` (an activation, or an activation layer) gives 0 for 0: ReLU does, sigmoid does not."""
    return float(np.asarray(function(np.zeros((1, 1), np.float32))).ravel()[0]) == 0.0


def _activation_keeps_zero(layer) -> bool:
    activation = getattr(layer, "activation", None)
    return activation is None or _maps_zero_to_zero(activation)


# -- handlers --------------------------------------------------------------


def _kernel_slots(layer, ids, width: int, in_axis: int, out_axis: int, tracer) -> np.ndarray:
    """A Dense or Conv2D: its kernel reads the input's groups and writes ``width`` new ones, with its bias."""
    out = tracer.new_groups(width)
    tracer.slot(layer, layer.kernel, in_axis, ids, READS)
    tracer.slot(layer, layer.kernel, out_axis, out, WRITES)
    if layer.use_bias:
        tracer.slot(layer, layer.bias, 0, out, WRITES)
    return out


def _dense_propagate(layer, in_ids, in_shapes, tracer):
    return _kernel_slots(layer, in_ids[0], layer.units, 0, 1, tracer)


def _kernel_zero(kernel_in_axis: int, kernel_out_axis: int):
    """A layer whose output channel is zero when no alive input reaches it and its bias is zero."""

    def zero(node, weights, zero_in):
        kernel = np.moveaxis(weights[0], (kernel_in_axis, kernel_out_axis), (0, -1))
        reaching = np.abs(kernel[~zero_in[0]]).reshape(-1, kernel.shape[-1]).max(axis=0, initial=0) > 0
        bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[-1])
        return ~reaching & (bias == 0) & _activation_keeps_zero(node.layer)

    return zero


def _dense_multiply_adds(layer, in_alive, out_alive, out_shape):
    return _positions(out_shape) * int(in_alive[0].sum()) * int(out_alive.sum())


def _conv_propagate(layer, in_ids, in_shapes, tracer):
    if getattr(layer, "groups", 1) != 1:
        raise UnsupportedLayerError(
            f"cannot follow channels through layer {layer.name!r}: a grouped Conv2D (groups={layer.groups}) "
            "has no handler. Fix: use groups=1, or DepthwiseConv2D for one filter per channel."
        )
    _channels_last(layer)
    return _kernel_slots(layer, in_ids[0], layer.filters, 2, 3, tracer)


def _conv_multiply_adds(layer, in_alive, out_alive, out_shape):
    kh, kw = layer.kernel_size
    return _positions(out_shape) * kh * kw * int(in_alive[0].sum()) * int(out_alive.sum())


def _depthwise_kernel(layer):
    kernel = getattr(layer, "depthwise_kernel", None)  # Keras 2's name; Keras 3 calls it kernel
    return layer.kernel if kernel is None else kernel


def _depthwise_propagate(layer, in_ids, in_shapes, tracer):
    _channels_last(layer)
    (ids,) = in_ids
    out = np.repeat(ids, layer.depth_multiplier)
    # Each input channel owns its filter(s): the kernel's channel axis both reads and writes the group.
    tracer.slot(layer, _depthwise_kernel(layer), 2, ids, WRITES)
    if layer.use_bias:
        tracer.slot(layer, layer.bias, 0, out, WRITES)
    return out


def _depthwise_zero(node, weights, zero_in):
    kernel = weights[0]  # (kh, kw, channels, multiplier)
    reaching = (np.abs(kernel).max(axis=(0, 1)) > 0) & ~zero_in[0][:, None]
    bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[2] * kernel.shape[3])
    return ~reaching.reshape(-1) & (bias == 0) & _activation_keeps_zero(node.layer)


def _depthwise_multiply_adds(layer, in_alive, out_alive, out_shape):
    kh, kw = layer.kernel_size
    return _positions(out_shape) * kh * kw * int(out_alive.sum())


def _batchnorm_propagate(layer, in_ids, in_shapes, tracer):
    axis = layer.axis if isinstance(layer.axis, int) else (layer.axis[0] if len(layer.axis) == 1 else None)
    if axis not in (-1, len(in_shapes[0]) - 1):
        raise UnsupportedLayerError(
            f"cannot follow channels through layer {layer.name!r}: BatchNormalization over axis {layer.axis} "
            "has no handler (channels are the last axis). Fix: normalise the last axis (axis=-1)."
        )
    (ids,) = in_ids
    for name in ("gamma", "beta"):
        if getattr(layer, name, None) is not None:
            tracer.slot(layer, getattr(layer, name), 0, ids, WRITES)
    for name in ("moving_mean", "moving_variance"):
        tracer.slot(layer, getattr(layer, name), 0, ids, STATE)
    return ids


def batchnorm_arrays(layer, weights: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """``(gamma, beta, mean, variance)`` of a BatchNormalization layer's arrays (ones and zeros where absent)."""
    weights = list(weights)
    gamma = weights.pop(0) if layer.scale else np.ones_like(weights[-1])
    beta = weights.pop(0) if layer.center else np.zeros_like(weights[-1])
    return gamma, beta, weights[0], weights[1]


def _batchnorm_zero(node, weights, zero_in):
    gamma, beta, mean, variance = batchnorm_arrays(node.layer, weights)
    at_zero = beta - gamma * mean / np.sqrt(variance + node.layer.epsilon)  # its output for a zero input
    return ((gamma == 0) & (beta == 0)) | (zero_in[0] & (at_zero == 0))


def _pass_through_propagate(layer, in_ids, in_shapes, tracer):
    return in_ids[0]


def _pass_through_zero(keeps_zero: Callable):
    def zero(node, weights, zero_in):
        return zero_in[0] & keeps_zero(node.layer)

    return zero


def _always(layer) -> bool:
    return True


def _flatten_propagate(layer, in_ids, in_shapes, tracer):
    # Channels last: feature (position * channels + channel) of the flat vector is the channel's.
    return np.tile(in_ids[0], _positions(in_shapes[0]))


def _flatten_zero(node, weights, zero_in):
    return np.tile(zero_in[0], len(node.out_ids) // max(len(zero_in[0]), 1))


def _add_propagate(layer, in_ids, in_shapes, tracer):
    for other in in_ids[1:]:
        tracer.tie(in_ids[0], other)
    return in_ids[0]


def _add_zero(node, weights, zero_in):
    return np.logical_and.reduce(zero_in)


def _concatenate_propagate(layer, in_ids, in_shapes, tracer):
    if layer.axis not in (-1, len(in_shapes[0]) - 1):  # along another axis: channel j of every input is one
        return _add_propagate(layer, in_ids, in_shapes, tracer)
    return np.concatenate(in_ids)


def _concatenate_zero(node, weights, zero_in):
    if len(node.out_ids) == sum(len(z) for z in zero_in):  # stacked along the channels
        return np.concatenate(zero_in)
    return _add_zero(node, weights, zero_in)


def _channels_last(layer) -> None:
    data_format = getattr(layer, "data_format", None)
    if data_format not in (None, "channels_last"):
        raise UnsupportedLayerError(
            f"cannot follow channels through layer {layer.name!r}: data_format={data_format!r} has no handler. "
            "Fix: build the model channels_last (the default)."
        )


def _spatial_pass_through(layer, in_ids, in_shapes, tracer):
    _channels_last(layer)
    return in_ids[0]


def _register_defaults() -> None:
    layers = keras.layers
    register_handler(
        layers.Dense,
        Handler(
            _dense_propagate,
            _kernel_zero(0, 1),
            lambda config, kept: {**config, "units": kept},
            _dense_multiply_adds,
        ),
    )
    register_handler(
        layers.Conv2D,
        Handler(
            _conv_propagate, _kernel_zero(2, 3), lambda config, kept: {**config, "filters": kept}, _conv_multiply_adds
        ),
    )
    register_handler(
        layers.DepthwiseConv2D, Handler(_depthwise_propagate, _depthwise_zero, multiply_adds=_depthwise_multiply_adds)
    )
    register_handler(layers.BatchNormalization, Handler(_batchnorm_propagate, _batchnorm_zero))
    elementwise = Handler(_pass_through_propagate, _pass_through_zero(_maps_zero_to_zero))
    for layer_type in (layers.Activation, layers.ReLU, layers.LeakyReLU, layers.ELU):
        register_handler(layer_type, elementwise)
    keeps = Handler(_pass_through_propagate, _pass_through_zero(_always))
    for layer_type in (layers.Dropout, layers.GaussianNoise, layers.GaussianDropout, layers.AlphaDropout):
        register_handler(layer_type, keeps)
    spatial = Handler(_spatial_pass_through, _pass_through_zero(_always))
    for layer_type in (
        layers.MaxPooling2D,
        layers.AveragePooling2D,
        layers.ZeroPadding2D,
        layers.Cropping2D,
        layers.SpatialDropout2D,
        layers.UpSampling2D,
    ):
        register_handler(layer_type, spatial)
    for layer_type in (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D):  # channel c -> feature c
        register_handler(layer_type, spatial)
    register_handler(layers.Flatten, Handler(_flatten_propagate, _flatten_zero))
    for layer_type in (layers.Add, layers.Average, layers.Maximum, layers.Minimum):
        register_handler(layer_type, Handler(_add_propagate, _add_zero))
    register_handler(layers.Concatenate, Handler(_concatenate_propagate, _concatenate_zero))


_register_defaults()
