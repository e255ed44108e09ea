r"""Reaching a multiply-add budget on any model the channel graph follows: whole channel groups removed.

The convolutional counterpart of :mod:`l1lab.budget` (which removes the
article's pixels and units). On the same cubic schedule of fine-tuning epochs,
whole channel groups (:mod:`l1lab.channels`: a filter with its BatchNorm and
every slice that reads it, a residual Add's branches together) are removed
until the compacted model costs at most the scheduled multiply-adds, counted
from the conv shapes (:meth:`l1lab.channels.ChannelGraph.multiply_adds`).

Which groups go: a group :math:`g` is read by kernel slices :math:`w_{s,i}`
(slot :math:`s`, index :math:`i` with ``ids[i] = g``), each reading a value
:math:`a_{s,i}`. Its importance is its share of each reading layer's input
energy, summed over the layers that read it,

.. math::

   e_g = \sum_s \frac{\sum_{i: \mathrm{ids}_s[i] = g} \mathbb{E}[a_{s,i}^2] \, \lVert w_{s,i} \rVert_2^2}
                      {\sum_i \mathbb{E}[a_{s,i}^2] \, \lVert w_{s,i} \rVert_2^2},

on a sample of training inputs (as :mod:`l1lab.budget`'s share, and ThiNet's
choice by the next layer's inputs). Groups go greedily, the smallest
:math:`e_g / c_g` first, where :math:`c_g` is the multiply-adds removing it
saves, costs updated after each removal, until the budget is met; no tensor
loses its last channel. With a unit multiple :math:`q` (tiles: XNNPACK's and
CMSIS-NN's kernels compute several output channels at a time), no layer that
makes channels goes under :math:`q` of them, and each one with more is then
rounded down to a multiple of :math:`q`, its least important groups going
first; a layer with fewer than :math:`q` stays whole, as in :mod:`l1lab.budget`.
A removed group's every trainable entry (kernel
slices, bias, BatchNorm's :math:`\gamma` and :math:`\beta`) is set to zero, so
:mod:`l1lab.finetune` holds it and compaction removes it exactly.

References:
  Luo, Wu and Lin, "ThiNet", ICCV 2017; Fang et al., "DepGraph: towards any
  structural pruning", CVPR 2023 (coupled groups removed together).
"""

from __future__ import annotations

import numpy as np

from l1lab.channels import ChannelGraph

__all__ = ["group_energy", "prune_channels_to_budget", "smallest_multiply_adds"]


def _last_axis_mean_square(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float64)
    return np.mean(np.square(values.reshape(-1, values.shape[-1])), axis=0)


def group_energy(graph: ChannelGraph, weights, read_values) -> np.ndarray:
    """Each group's importance :math:`e_g` (see the module's docstring).

    Args:
      graph: the model's channel graph.
      weights: each layer's arrays by layer name.
      read_values: for each node index that a kernel reads, its output on a
        sample of inputs (see :func:`read_values`).

    Returns:
      ``(num_groups,)`` float64; 0 for a group no kernel reads.
    """
    energy = np.zeros(graph.num_groups)
    for node, slot in graph.reads():
        square = _last_axis_mean_square(read_values[node.inputs[0]])
        kernel = np.moveaxis(np.asarray(weights[slot.layer][slot.weight], np.float64), slot.axis, 0)
        reads = square * np.sum(np.square(kernel.reshape(kernel.shape[0], -1)), axis=1)
        total = reads.sum()
        if total > 0:
            np.add.at(energy, slot.ids, reads / total)
    return energy


def read_values(graph: ChannelGraph, x) -> dict[int, np.ndarray]:
    """The output, on ``x``, of every node a kernel reads (one forward pass of a sub-model)."""
    from l1lab._compat import keras

    sources = sorted({node.inputs[0] for node, _ in graph.reads()})
    tensors = [graph.model.inputs[0] if index == 0 else graph.nodes[index].layer.output for index in sources]
    outputs = keras.Model(graph.model.inputs[0], tensors)(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return {index: np.asarray(value) for index, value in zip(sources, outputs)}


def _alive_ok(graph: ChannelGraph, alive: np.ndarray, unit_multiple: int = 1) -> bool:
    """Every tensor keeps a channel, and every layer that makes channels ``unit_multiple`` (or all it has)."""
    if any(graph.lacks_channels(node, alive) for node in graph.nodes):
        return False
    if unit_multiple == 1:  # a layer that keeps a channel keeps min(its channels, 1)
        return True
    return all(alive[node.out_ids].sum() >= min(len(node.out_ids), unit_multiple) for node in graph.channel_makers())


def _round_to_multiple(graph: ChannelGraph, alive: np.ndarray, energy: np.ndarray, unit_multiple: int) -> list[int]:
    """Removes each channel-making layer's least important groups until it keeps a multiple of ``unit_multiple``.

    A layer keeping ``unit_multiple`` channels or fewer stays as it is. Changes
    ``alive`` in place; returns the groups removed.
    """
    removed: list[int] = []
    changed = unit_multiple > 1
    while changed:
        changed = False
        for node in graph.channel_makers():
            kept = int(alive[node.out_ids].sum())
            if kept <= unit_multiple or kept % unit_multiple == 0:
                continue
            candidates = [g for g in dict.fromkeys(node.out_ids.tolist()) if alive[g] and not graph.fixed[g]]
            for group in sorted(candidates, key=lambda g: energy[g]):
                alive[group] = False
                if _alive_ok(graph, alive, unit_multiple):
                    removed.append(group)
                    changed = True
                    break
                alive[group] = True
    return removed


def smallest_multiply_adds(graph: ChannelGraph, unit_multiple: int = 1) -> int:
    """The multiply-adds of the smallest model a budget can leave: every group gone that can go.

    Groups go in their order, each unless it is its tensor's last channel (or
    takes a layer under ``unit_multiple`` channels); the fixed ones (outputs,
    an image's channels) stay.
    """
    alive = np.ones(graph.num_groups, bool)
    for group in np.flatnonzero(~graph.fixed):
        alive[group] = False
        if not _alive_ok(graph, alive, unit_multiple):
            alive[group] = True
    _round_to_multiple(graph, alive, np.zeros(graph.num_groups), unit_multiple)
    return graph.multiply_adds(~alive)


def prune_channels_to_budget(
    graph: ChannelGraph,
    weights,
    energy: np.ndarray,
    budget: int,
    epsilon: float,
    unit_multiple: int = 1,
    dead: np.ndarray | None = None,
):
    """Removes the least important channel groups until the compacted model costs at most ``budget``.

    Args:
      graph: the model's channel graph.
      weights: each layer's arrays by layer name (NumPy; not changed).
      energy: :func:`group_energy` of these weights.
      budget: the multiply-adds allowed (>= 0).
      epsilon: weights with ``|w| <= epsilon`` count as zero.
      unit_multiple: each layer that makes channels keeps a multiple of this
        many (or all it has, when that is fewer); 1: any number.
      dead: ``graph.dead_groups(weights, epsilon)``, where the caller has it already.

    Returns:
      ``(weights, removed)``: new arrays with every removed group's trainable
      entries zero, and how many groups were removed now. The budget is met
      unless only one channel per tensor (``unit_multiple`` per layer) is left.

    Raises:
      ValueError: a negative budget, a unit multiple below 1, or energies of another graph.
    """
    if budget < 0:
        raise ValueError(f"`budget` needs to be >= 0 multiply-adds. Received: budget={budget!r}")
    if unit_multiple < 1:
        raise ValueError(f"`unit_multiple` needs to be >= 1. Received: unit_multiple={unit_multiple!r}")
    if len(energy) != graph.num_groups:
        raise ValueError(f"`energy` needs one value per group ({graph.num_groups}). Received: {len(energy)}")
    dead = graph.dead_groups(weights, epsilon) if dead is None else dead
    alive = ~dead
    removed = []
    cost = graph.multiply_adds(dead)
    while cost > budget:
        best, best_score, best_cost = None, np.inf, cost
        for group in np.flatnonzero(alive & ~graph.fixed):
            alive[group] = False
            if _alive_ok(graph, alive, unit_multiple):
                after = graph.multiply_adds(~alive)
                saving = cost - after
                score = energy[group] / saving if saving > 0 else np.inf
                if score < best_score:
                    best, best_score, best_cost = group, score, after
            alive[group] = True
        if best is None:
            break
        alive[best] = False
        removed.append(int(best))
        cost = best_cost
    removed += _round_to_multiple(graph, alive, energy, unit_multiple)
    return graph.zeroed(weights, removed), len(removed)
