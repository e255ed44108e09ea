"""Counting exact zeros the way the article does.

A weight counts as nonzero when ``|w| > epsilon`` (``epsilon = 1e-5`` in the
article), compared in the weight's own float dtype, so a weight of exactly
``epsilon`` (as that dtype holds it) counts as zero. Model sparsity is

.. math::

   \\text{sparsity} = \\frac{\\text{num} - \\text{numNz}}{\\text{num}}

over all trainable variables. Non-finite weights are an error, not a count:
a diverged model is not a sparse one.

This module imports no TensorFlow: it reads anything NumPy can turn into an
array (Keras variables of both flavours, ``tf.Variable``, tensors, arrays).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from l1lab._io import format_table as _format_table
from l1lab._names import model_variable_names, variable_name

EPSILON_ZERO = 1e-5
TOTAL = "total"


class NonFiniteWeightsError(ValueError):
    """A variable holds NaN or infinite values, so its sparsity means nothing."""


def _as_named_arrays(model_or_variables: Any) -> list[tuple[str, np.ndarray]]:
    if isinstance(model_or_variables, Mapping):
        items = list(model_or_variables.items())
    else:
        variables = getattr(model_or_variables, "trainable_variables", model_or_variables)
        if not isinstance(variables, Iterable) or isinstance(variables, (str, bytes)):
            raise TypeError(
                "count_nonzero takes a model, an iterable of variables, or a mapping "
                f"name -> array; got {type(model_or_variables).__name__}"
            )
        variables = list(variables)
        if hasattr(model_or_variables, "layers"):  # a model: names that agree across Keras flavours
            items = list(zip(model_variable_names(model_or_variables, variables), variables))
        else:
            items = [(variable_name(v), v) for v in variables]
    named = []
    seen = set()
    for name, value in items:
        if name == TOTAL or name in seen:
            raise ValueError(f"variable name {name!r} is reserved or repeated")
        seen.add(name)
        array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        if not np.issubdtype(array.dtype, np.number):
            raise TypeError(f"{name}: weights of dtype {array.dtype} are not numbers")
        named.append((name, array))
    return named


def check_epsilon(epsilon: float) -> float:
    epsilon = float(epsilon)
    if not math.isfinite(epsilon) or epsilon < 0:
        raise ValueError(f"epsilon={epsilon} must be finite and >= 0")
    return epsilon


def threshold_for(dtype: np.dtype, epsilon: float):
    """``epsilon`` in the weights' own float dtype (a float32 weight equal to float32(1e-3) is within
    epsilon 1e-3, whatever float64 says of the two roundings); float64 for integer weights."""
    if np.issubdtype(dtype, np.floating):
        return dtype.type(epsilon)
    return np.float64(epsilon)


def count_nonzero(model_or_variables: Any, epsilon: float = EPSILON_ZERO) -> dict:
    """Per-variable and total counts in the article's structure.

    Returns ``{name: {"num": N, "numNz": K}, ..., "total": {"num": ..., "numNz": ...}}``
    where ``numNz`` counts the weights with ``|w| > epsilon``, in the order of
    ``model.trainable_variables``. A model's variables are named as
    :func:`l1lab._names.model_variable_names` names them, the same in both Keras
    flavours; bare variables by their own names.

    Raises:
      NonFiniteWeightsError: a variable holds NaN or infinity.
    """
    epsilon = check_epsilon(epsilon)
    counts: dict = {}
    num_total = nz_total = 0
    for name, array in _as_named_arrays(model_or_variables):
        if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            raise NonFiniteWeightsError(
                f"{name}: {bad} of {array.size} weights are NaN or infinite; the model "
                "diverged (lower the learning rate or the L1 strength)"
            )
        num = int(array.size)
        num_nz = int(np.count_nonzero(np.abs(array) > threshold_for(array.dtype, epsilon)))
        counts[name] = {"num": num, "numNz": num_nz}
        num_total += num
        nz_total += num_nz
    counts[TOTAL] = {"num": num_total, "numNz": nz_total}
    return counts


def fraction_zero(entry: Mapping) -> float:
    """``(num - numNz) / num`` of one ``{"num": .., "numNz": ..}`` entry (0.0 for no weights)."""
    return (entry["num"] - entry["numNz"]) / entry["num"] if entry["num"] else 0.0


def sparsity_of_counts(counts: Mapping) -> float:
    """The sparsity of the ``"total"`` entry of :func:`count_nonzero`'s result."""
    return fraction_zero(counts[TOTAL])


def model_sparsity(model_or_counts: Any, epsilon: float = EPSILON_ZERO) -> float:
    """The article's model sparsity: the fraction of weights with ``|w| <= epsilon``.

    Takes what :func:`count_nonzero` takes, or its result.
    """
    if isinstance(model_or_counts, Mapping) and TOTAL in model_or_counts:
        return sparsity_of_counts(model_or_counts)
    return sparsity_of_counts(count_nonzero(model_or_counts, epsilon))


def format_table(counts: Mapping) -> str:
    """The article's table: variable, nonzero weights, weights, and sparsity."""
    rows = [
        (name, str(c["numNz"]), str(c["num"]), f"{fraction_zero(c):.2%}" if c["num"] else "-")
        for name, c in counts.items()
    ]
    return _format_table(rows, ("variable", "numNz", "num", "sparsity"), align="lrrr")
