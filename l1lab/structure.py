"""Which input features and units of a stack of Dense layers are dead (NumPy only).

A weight counts as zero when ``|w| <= epsilon`` (as in :mod:`l1lab.sparsity`).
For layers ``0..L-1`` with kernels ``W_l`` of shape ``(inputs_l, units_l)``:

* an **input feature** ``i`` of the model is dead when row ``i`` of ``W_0`` is
  zero: nothing reads it;
* a **hidden unit** ``u`` of layer ``l < L-1`` is dead when its outgoing row
  ``u`` of ``W_{l+1}`` is zero (nothing reads it), or when its incoming column
  ``u`` of ``W_l`` is zero (its output is the constant ``act(b_u)``, which
  :mod:`l1lab.edge.compact` folds into the next layer's bias);
* the output layer's units are the model's outputs and always stay.

Removing a unit removes a row of the next kernel and a column of its own, which
can leave more units dead: :func:`dead_structure` iterates to a fixed point.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Structure:
    """What stays of a Dense stack: kept input features, and kept units per layer (boolean masks)."""

    inputs: np.ndarray  # (input_dim,) bool
    units: tuple[np.ndarray, ...]  # per layer, (units_l,) bool; the last is all True
    constant: tuple[np.ndarray, ...]  # per layer, (units_l,) bool: dead by zero incoming weights (kept False)

    def widths(self) -> list[int]:
        return [int(mask.sum()) for mask in self.units]

    def kept_inputs(self) -> np.ndarray:
        return np.flatnonzero(self.inputs)


def dead_structure(kernels: Sequence[np.ndarray], epsilon: float = 1e-5) -> Structure:
    """The kept inputs and units of a Dense stack, from its kernels.

    Args:
      kernels: ``W_0 .. W_{L-1}``, each ``(inputs, units)``, consecutive shapes matching.
      epsilon: weights with ``|w| <= epsilon`` count as zero.

    Returns:
      The :class:`Structure` at the fixed point.

    Raises:
      ValueError: no kernel, a kernel that is not 2-D, or shapes that do not chain.
    """
    if not kernels:
        raise ValueError("`kernels` needs at least one Dense kernel. Received: []")
    alive = []
    for index, kernel in enumerate(kernels):
        kernel = np.asarray(kernel)
        if kernel.ndim != 2:
            raise ValueError(f"`kernels[{index}]` needs to be 2-D. Received shape {kernel.shape}")
        if index and kernel.shape[0] != alive[-1].shape[1]:
            raise ValueError(
                f"`kernels[{index}]` has {kernel.shape[0]} inputs; the layer before has {alive[-1].shape[1]} units"
            )
        alive.append(np.abs(kernel.astype(np.float64)) > epsilon)
    inputs = np.ones(alive[0].shape[0], bool)
    units = [np.ones(a.shape[1], bool) for a in alive]
    constant = [np.zeros(a.shape[1], bool) for a in alive]
    changed = True
    while changed:
        changed = False
        # Rows of W_0 read by no kept unit: the input feature is dead.
        reads = alive[0][:, units[0]].any(axis=1) & inputs
        if not np.array_equal(reads, inputs):
            inputs, changed = reads, True
        for layer in range(len(alive) - 1):
            sources = inputs if layer == 0 else units[layer - 1]
            incoming = alive[layer][sources, :].any(axis=0)
            outgoing = alive[layer + 1][:, units[layer + 1]].any(axis=1)
            kept = units[layer] & incoming & outgoing
            if not np.array_equal(kept, units[layer]):
                newly_constant = units[layer] & ~incoming & outgoing
                constant[layer] = constant[layer] | newly_constant
                units[layer], changed = kept, True
    return Structure(inputs=inputs, units=tuple(units), constant=tuple(constant))


def summary(kernels: Sequence[np.ndarray], epsilon: float = 1e-5) -> dict[str, int]:
    """What compaction would keep: ``kept_inputs``, ``hidden_units`` and ``multiply_adds`` after it.

    The per-epoch structure columns of a trajectory (:data:`l1lab.runs.STRUCTURE_METRICS`).
    """
    structure = dead_structure(kernels, epsilon)
    widths = structure.widths()
    kept = int(structure.inputs.sum())
    return {"kept_inputs": kept, "hidden_units": sum(widths[:-1]), "multiply_adds": multiply_adds(widths, kept)}


def multiply_adds(widths: Sequence[int], input_dim: int) -> int:
    """Multiply-adds of one forward pass through Dense layers of these widths."""
    total, previous = 0, int(input_dim)
    for width in widths:
        total += previous * int(width)
        previous = int(width)
    return total
