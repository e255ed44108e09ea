r"""Reaching a target sparsity without hand-tuning the L1 strength.

The sparsity an L1 strength gives depends on the data, the network, the
learning rate and the number of epochs; users want to say "90%" instead.
``target_sparsity`` does it in two parts, for the proximal methods:

1. **During the L1 phase** (the epochs before fine-tuning) a controller moves
   a scale on every strength (``optimizer.strength_scale``) after each epoch,
   towards a ramp that reaches the target three quarters of the way through
   the phase (as TF-MOT's schedules do):

   .. math::

      r_e = 0.98\, S \min\Bigl(1, \frac{e + 1}{\lceil 3 E_1 / 4 \rceil}\Bigr), \qquad
      \sigma \leftarrow \sigma \, \exp\bigl(\mathrm{gain}\,(r_e - s_e) / S\bigr)

   with :math:`s_e` the sparsity after epoch :math:`e`, each move clipped to a
   factor of 2 either way. The ramp aims 2% short of the target: the controller
   acts an epoch late and overshoots, and a shortfall is made up below.
2. **When fine-tuning starts**, if the sparsity is still below the target, the
   surviving kernel weights of smallest magnitude are set to zero until it is
   reached (at least :math:`\lceil S N \rceil` zeros of the :math:`N` weights);
   fine-tuning then holds every zero (:mod:`l1lab.finetune`). A run that
   overshoots keeps its sparsity: zeros are never brought back.

So the final sparsity is at least the target; how far above it is the
controller's overshoot, reported in the run's events.

References:
  Zhu and Gupta, "To prune, or not to prune: exploring the efficacy of pruning
  for model compression", 2017 (a sparsity ramp that levels off before the end).
"""

from __future__ import annotations

import math

import numpy as np

from l1lab._compat import tf_variable
from l1lab._names import is_bias, variable_name
from l1lab.sparsity import EPSILON_ZERO, _threshold_for

__all__ = ["GAIN", "MAX_STEP", "complete_by_magnitude", "next_scale", "ramp"]

GAIN = 4.0
MAX_STEP = 2.0  # the scale moves by at most this factor per epoch
SHORTFALL = 0.02  # the ramp aims at target * (1 - SHORTFALL)


def ramp(target: float, epoch: int, l1_epochs: int) -> float:
    """The sparsity wanted after ``epoch`` (from 0) of an L1 phase of ``l1_epochs`` epochs.

    It levels off :data:`SHORTFALL` below the target: the controller reacts an
    epoch late and overshoots what it aims at, while a shortfall costs nothing
    (completion tops it up with the smallest weights).
    """
    reach = max(1, math.ceil(0.75 * l1_epochs))
    return target * (1 - SHORTFALL) * min(1.0, (epoch + 1) / reach)


def next_scale(scale: float, sparsity: float, wanted: float, target: float) -> float:
    """The strength scale for the next epoch: up when behind the ramp, down when ahead."""
    factor = math.exp(GAIN * (wanted - sparsity) / target)
    return scale * min(MAX_STEP, max(1.0 / MAX_STEP, factor))


def complete_by_magnitude(variables, target: float, epsilon: float = EPSILON_ZERO) -> int:
    """Zeros the smallest surviving kernel weights until ``target`` of all weights are zero.

    Counts as :func:`l1lab.sparsity.count_nonzero` counts (``|w| <= epsilon`` is
    zero, biases included in the total), but only kernels lose weights: a bias
    is one number per unit, and the zeros that matter on the device are a
    kernel's.

    Returns:
      How many weights it set to zero (0 when the target is already met).
    """
    arrays = [np.asarray(tf_variable(v).numpy()) for v in variables]
    total = sum(a.size for a in arrays)
    zeros = sum(int(np.sum(np.abs(a) <= _threshold_for(a.dtype, epsilon))) for a in arrays)
    needed = math.ceil(target * total) - zeros
    if needed <= 0:
        return 0
    kernels = [i for i, v in enumerate(variables) if not is_bias(variable_name(v))]
    candidates = []  # (magnitude, variable index, flat index) of the surviving kernel weights
    for i in kernels:
        flat = np.abs(arrays[i]).ravel()
        alive = np.flatnonzero(flat > _threshold_for(arrays[i].dtype, epsilon))
        candidates.append(np.stack([flat[alive].astype(np.float64), np.full(alive.size, i), alive], axis=1))
    pool = np.concatenate(candidates) if candidates else np.zeros((0, 3))
    needed = min(needed, len(pool))
    chosen = pool[np.argsort(pool[:, 0], kind="stable")[:needed]]
    for i in kernels:
        picked = chosen[chosen[:, 1] == i][:, 2].astype(np.int64)
        if picked.size:
            flat = arrays[i].ravel().copy()
            flat[picked] = 0
            tf_variable(variables[i]).assign(flat.reshape(arrays[i].shape))
    return int(needed)
