r"""Reaching a multiply-add budget: gradual structured pruning of input features and units.

On an edge device a Dense stack costs what its compacted shape costs
(:mod:`l1lab.edge.compact`): ``kept inputs x units_0 + units_0 x units_1 + ...``
multiply-adds, whatever scattered zeros stay inside. Scattered zeros hardly
speed up a batch-1 forward pass; whole input features and units do. With a
budget :math:`B` of multiply-adds the fine-tuning epochs of a run
(:mod:`l1lab.finetune`) remove whole groups, on the cubic schedule of
:mod:`l1lab.target`, from the compacted cost :math:`m_0` the method's phase
ended with down to :math:`B`:

.. math::

   m_k = B + (m_0 - B) \Bigl(1 - \frac{k + 1}{P}\Bigr)^3

Which groups go: each group :math:`g` (an input feature, or a hidden unit) feeds
the next layer's pre-activations through its outgoing row :math:`w_g` of the
next kernel. Its share of that layer's input energy on a sample of training
inputs,

.. math::

   e_g = \frac{\mathbb{E}[a_g^2] \, \lVert w_g \rVert_2^2}
              {\sum_{h \in \text{layer}} \mathbb{E}[a_h^2] \, \lVert w_h \rVert_2^2},

where :math:`a_g` is the feature's value or the unit's activation, is its
importance; removing it saves :math:`c_g` multiply-adds (a feature: the first
layer's kept units; a unit: its kept inputs plus the next layer's kept units).
Groups are removed greedily, the smallest :math:`e_g / c_g` first, costs
updated as widths shrink, until the compacted cost is within the scheduled
budget. A removed group's weights (its row, and a unit's column and bias) are
set to zero, so :mod:`l1lab.finetune` holds them there and
:func:`l1lab.edge.compact.compact` drops them. No layer loses its last unit.

The energy share is scale-free: a ReLU unit whose incoming weights are scaled
by :math:`c` and outgoing ones by :math:`1/c` computes the same function and
keeps its :math:`e_g`.

References:
  Wen, Wu, Wang, Chen and Li, "Learning Structured Sparsity in Deep Neural
  Networks", NeurIPS 2016 (removing whole units and features).
  Luo, Wu and Lin, "ThiNet: A Filter Level Pruning Method for Deep Neural
  Network Compression", ICCV 2017 (choosing by the next layer's inputs).
  Zhu and Gupta, 2017 (the cubic schedule; :mod:`l1lab.target`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

import numpy as np

from l1lab.structure import dead_structure, multiply_adds

__all__ = ["Removed", "activation_energy", "prune_to_budget", "unit_guards"]


@dataclasses.dataclass(frozen=True)
class Removed:
    """What :func:`prune_to_budget` removed: input features, and units per hidden layer."""

    inputs: int
    units: tuple[int, ...]

    @property
    def groups(self) -> int:
        return self.inputs + sum(self.units)


def unit_guards(variables) -> list[np.ndarray | None]:
    """Per variable, the weights that keep each hidden unit alive: its largest incoming and outgoing weight.

    For :func:`l1lab.target.complete_by_magnitude`'s ``guarded``: kernels are
    the 2-D variables, in layer order (a Dense stack's ``trainable_variables``);
    a bias gets None. Guarded: in every kernel but the last, each column's
    largest magnitude (a unit's incoming weight); in every kernel but the
    first, each row's (a unit's outgoing weight).
    """
    arrays = [np.asarray(getattr(v, "numpy", lambda v=v: v)()) for v in variables]
    kernels = [i for i, a in enumerate(arrays) if a.ndim == 2]
    guards: list[np.ndarray | None] = [None] * len(arrays)
    for position, i in enumerate(kernels):
        magnitude = np.abs(arrays[i])
        guard = np.zeros(magnitude.shape, bool)
        if position < len(kernels) - 1:
            guard[np.argmax(magnitude, axis=0), np.arange(magnitude.shape[1])] = True
        if position > 0:
            guard[np.arange(magnitude.shape[0]), np.argmax(magnitude, axis=1)] = True
        guards[i] = guard
    return guards


def activation_energy(weights: Sequence[tuple], x: np.ndarray, activations: Sequence) -> list[np.ndarray]:
    r"""Mean squared input of each layer, :math:`\mathbb{E}[a_g^2]` per feature or unit, on ``x``.

    Args:
      weights: ``[(kernel, bias), ...]`` input side first (NumPy).
      x: a sample of inputs, ``(n, input_dim)``.
      activations: each layer's activation, a callable on NumPy arrays.

    Returns:
      One array per layer: entry ``l`` has one value per input of layer ``l``
      (the features for ``l = 0``, layer ``l - 1``'s units after).
    """
    energies = []
    a = np.asarray(x, np.float64)
    for (kernel, bias), activation in zip(weights, activations):
        energies.append(np.mean(a * a, axis=0))
        a = np.asarray(activation(a @ np.asarray(kernel, np.float64) + np.asarray(bias, np.float64)))
    return energies


def prune_to_budget(
    weights: Sequence[tuple],
    energies: Sequence[np.ndarray],
    budget: int,
    epsilon: float,
    unit_multiple: int = 1,
) -> tuple[list[tuple], Removed]:
    """Removes whole input features and hidden units until the compacted stack fits ``budget``.

    With ``unit_multiple`` :math:`q > 1` every hidden layer ends with a multiple
    of :math:`q` units (or fewer than :math:`q` if it had fewer already): the
    greedy order chooses how many units each layer keeps, that number is
    rounded to the nearest multiple of :math:`q` (never up past what the layer
    has), the layer's least important units go, and then features go, least
    important first, until the budget is met (a layer loses :math:`q` more
    units when features alone cannot meet it). CPU kernels compute output
    channels in tiles: XNNPACK's float kernels on AVX-512 16 at a time, on
    NEON 8, and a width off the tile runs a slower path (measured here, 315
    inputs then 32-32-10 units: 1.76 µs per invoke; 34-29-10: 2.65 µs;
    31-32-10: 3.60 µs).

    Args:
      weights: ``[(kernel, bias), ...]`` of a Dense stack, input side first (NumPy).
      energies: :func:`activation_energy` of these weights on a sample of inputs.
      budget: the multiply-adds allowed after compaction (>= 0).
      epsilon: weights with ``|w| <= epsilon`` count as zero.
      unit_multiple: :math:`q >= 1`, the multiple hidden widths end on.

    Returns:
      ``(weights, removed)``: new arrays (the inputs are not changed), with
      every removed group's weights set to zero. The budget is met unless only
      one feature and the fewest units allowed are left.

    Raises:
      ValueError: a negative budget, a unit multiple below 1, or energies that
        do not match the layers.
    """
    if budget < 0:
        raise ValueError(f"`budget` needs to be >= 0 multiply-adds. Received: budget={budget!r}")
    if not (isinstance(unit_multiple, (int, np.integer)) and unit_multiple >= 1):
        raise ValueError(f"`unit_multiple` needs to be an integer >= 1. Received: unit_multiple={unit_multiple!r}")
    if len(energies) != len(weights):
        raise ValueError(f"`energies` needs one array per layer ({len(weights)}). Received: {len(energies)}")
    state = _Pruning(weights, energies, epsilon)
    if unit_multiple == 1:
        state.greedy(budget, range(len(state.keep)))
        return state.result()
    planned = copy.deepcopy(state)  # where the greedy order alone would go: its widths, rounded
    planned.greedy(budget, range(len(planned.keep)))
    hidden = range(1, len(state.keep))
    for layer in hidden:
        have = state.widths[layer]
        floor = have if have < unit_multiple else have - have % unit_multiple
        wanted = max(unit_multiple, round(planned.widths[layer] / unit_multiple) * unit_multiple)
        state.shrink(layer, min(floor, wanted))
    while not state.greedy(budget, [0]):
        # Features alone cannot meet the budget: the widest layer that can loses a tile.
        shrinkable = [index for index in hidden if state.widths[index] > unit_multiple]
        layer = max(shrinkable, key=lambda index: state.widths[index], default=None)
        if layer is None:
            break
        state.shrink(layer, state.widths[layer] - unit_multiple)
    return state.result()


class _Pruning:
    """The groups left of a Dense stack and their energy shares, as :func:`prune_to_budget` removes them."""

    def __init__(self, weights, energies, epsilon):
        self.kernels = [np.array(k, copy=True) for k, _ in weights]
        self.biases = [np.array(b, copy=True) for _, b in weights]
        structure = dead_structure(self.kernels, epsilon)
        # keep[l]: the kept inputs of layer l (keep[0] the features, keep[l] layer l-1's units);
        # the output layer's units always stay.
        self.keep = [structure.inputs.copy(), *[u.copy() for u in structure.units[:-1]]]
        self.widths = [int(k.sum()) for k in self.keep] + [self.kernels[-1].shape[1]]
        self.removed = [0] * len(self.keep)
        self.share = []
        for layer, kept in enumerate(self.keep):
            next_units = self.keep[layer + 1] if layer + 1 < len(self.keep) else np.ones(self.widths[-1], bool)
            rows = self.kernels[layer][:, next_units].astype(np.float64)
            energy = np.where(kept, np.asarray(energies[layer], np.float64) * np.sum(rows * rows, axis=1), 0.0)
            total = energy.sum()
            self.share.append(energy / total if total > 0 else energy)

    def cost(self) -> int:
        return multiply_adds(self.widths[1:], self.widths[0])

    def saving(self, layer: int) -> int:
        """Multiply-adds one group of ``layer`` costs: a feature feeds layer 0's units; a unit also reads."""
        return self.widths[layer + 1] + (self.widths[layer - 1] if layer else 0)

    def remove(self, layer: int, index: int) -> None:
        self.keep[layer][index] = False
        self.widths[layer] -= 1
        self.removed[layer] += 1
        self.kernels[layer][index, :] = 0
        if layer:
            self.kernels[layer - 1][:, index] = 0
            self.biases[layer - 1][index] = 0

    def shrink(self, layer: int, width: int) -> None:
        """Removes ``layer``'s least important groups until ``width`` are left."""
        candidates = np.flatnonzero(self.keep[layer])
        order = candidates[np.argsort(self.share[layer][candidates], kind="stable")]
        for index in order[: max(0, self.widths[layer] - width)]:
            self.remove(layer, int(index))

    def greedy(self, budget: int, layers) -> bool:
        """Removes groups of ``layers``, the smallest share per multiply-add first; True once within budget."""
        while self.cost() > budget:
            best = None
            for layer in layers:
                if self.widths[layer] <= 1:
                    continue
                candidates = np.flatnonzero(self.keep[layer])
                ratios = self.share[layer][candidates] / self.saving(layer)
                i = int(np.argmin(ratios))
                if best is None or ratios[i] < best[0]:
                    best = (ratios[i], layer, int(candidates[i]))
            if best is None:
                return False
            self.remove(best[1], best[2])
        return True

    def result(self) -> tuple[list[tuple], Removed]:
        return list(zip(self.kernels, self.biases)), Removed(self.removed[0], tuple(self.removed[1:]))
