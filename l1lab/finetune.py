"""Fine-tuning with the zeros held fixed: the accuracy an L1 phase cost, won back.

An L1 penalty does two things at once: it selects which weights are zero and
it shrinks every weight that survives (the lasso's bias). Once the selection
is made, the shrinkage only costs accuracy. Fine-tuning keeps the selection
and drops the shrinkage: every weight that counts as zero
(:math:`|w| \\le \\epsilon`, as :func:`l1lab.sparsity.count_nonzero` counts)
is set to exactly zero and held there, and the others train on the plain loss
(no penalty, no thresholding) with SGD:

.. math::

  m = \\mathbb{1}[|w| > \\epsilon], \\qquad
  w \\leftarrow m \\odot \\bigl(w - \\eta_k\\, m \\odot \\nabla L(w)\\bigr)

The learning rate :math:`\\eta_k` of fine-tuning epoch :math:`k` is the run's
:math:`\\eta` while a target sparsity is still being pruned towards
(:mod:`l1lab.target`), then decays along a half cosine over the epochs that
hold the final zeros (all of them without a target), ending above zero:

.. math::

  \\eta_k = \\frac{\\eta}{2}\\Bigl(1 + \\cos\\frac{\\pi\\,(k - P + 1)}{H + 1}\\Bigr), \\qquad k \\ge P

Masking the gradient suffices: a zero weight gets a zero step, so it stays
exactly zero, and every zero weight, whole row and whole column the L1 phase
found is still there for :func:`l1lab.edge.compact` to remove.

References:
  Han, Pool, Tran and Dally, "Learning both Weights and Connections for
  Efficient Neural Networks", NeurIPS 2015 (retraining with the pruned
  connections held at zero). Efron, Hastie, Johnstone and Tibshirani, "Least
  Angle Regression", 2004 (refitting the lasso's selected variables without
  its shrinkage, "relaxed" or debiased lasso).
"""

from __future__ import annotations

import math

import numpy as np

from l1lab._compat import keras, tf_variable
from l1lab.sparsity import EPSILON_ZERO, check_epsilon, threshold_for

__all__ = ["hold_zeros", "learning_rate", "make_optimizer", "mask_gradients", "zero_masks"]


def zero_masks(variables, epsilon: float = EPSILON_ZERO) -> list[np.ndarray]:
    """One mask per variable: 1 where the weight survives (``|w| > epsilon``), 0 where it counts as zero.

    The comparison is made in the weight's own dtype, as
    :func:`l1lab.sparsity.count_nonzero` makes it, so a mask keeps exactly the
    weights that the zero count calls nonzero.

    Args:
      variables: the model's trainable variables (Keras or TensorFlow).
      epsilon: the largest magnitude that counts as zero (>= 0).

    Returns:
      Masks of the variables' shapes and dtypes, each 0 or 1.

    Raises:
      ValueError: ``epsilon`` is negative or not finite.
    """
    epsilon = check_epsilon(epsilon)
    masks = []
    for variable in variables:
        value = np.asarray(tf_variable(variable).numpy())
        masks.append((np.abs(value) > threshold_for(value.dtype, epsilon)).astype(value.dtype))
    return masks


def hold_zeros(variables, masks) -> None:
    """Sets every masked-out weight to exactly zero (the starting point of fine-tuning)."""
    for variable, mask in zip(variables, masks):
        weights = tf_variable(variable)
        weights.assign(weights.numpy() * mask)


def mask_gradients(gradients, masks) -> list:
    """The gradients with the held zeros' entries set to zero (``None`` passes through)."""
    # No zip(strict=True): this runs inside tf.function, and TF 2.12's autograph zip does not take it.
    return [None if g is None else g * m for g, m in zip(gradients, masks)]


def learning_rate(base: float, epoch: int, finetune_epochs: int, holding: int) -> float:
    """The learning rate of fine-tuning epoch ``epoch`` (from 0) of ``finetune_epochs``.

    Args:
      base: the run's learning rate :math:`\\eta`.
      epoch: :math:`k`, ``0 <= k < N``.
      finetune_epochs: :math:`N`.
      holding: :math:`H`, how many of the last epochs hold the final zeros (``1 <= H <= N``).

    Returns:
      ``base`` during the first :math:`P = N - H` epochs, then the half-cosine decay.
    """
    pruning = finetune_epochs - holding
    if epoch < pruning:
        return float(base)
    return float(base * 0.5 * (1 + math.cos(math.pi * (epoch - pruning + 1) / (holding + 1))))


def make_optimizer(learning_rate: float, variables):
    """Plain SGD at ``learning_rate``, built for ``variables`` (no momentum: a zero step keeps a zero)."""
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    optimizer.build(list(variables))
    return optimizer
