"""The checks of a number a setting takes: an L1 strength, a learning rate, a target sparsity.

One place for them and their messages ("`x` needs to be ... Received: x=..."), used by the
run's settings (:mod:`l1lab.config`), the optimizers and the CLI. No dependencies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def check_strength(name: str, value: Any) -> float:
    """``value`` as a float if it is a usable L1/L2 strength (finite and >= 0).

    Raises:
      ValueError: it is not a number, not finite, or negative; the message
        names ``name`` and what was received.
    """
    if isinstance(value, bool):
        raise ValueError(f"`{name}` needs to be a number. Received: {name}={value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` needs to be a number. Received: {name}={value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"`{name}` needs to be finite and >= 0 (a strength). Received: {name}={value!r}")
    return number


def check_positive(name: str, value: Any) -> float:
    """``value`` as a float if it is finite and > 0 (a learning rate, an accumulator)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"`{name}` needs to be a number. Received: {name}={value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` needs to be finite and > 0. Received: {name}={value!r}")
    return float(value)


def check_target(target: Any) -> float:
    """``target`` as a float if it is a sparsity strictly between 0 and 1 (:mod:`l1lab.target`).

    Raises:
      ValueError: naming ``target_sparsity`` and what was received.
    """
    if isinstance(target, bool) or not isinstance(target, (int, float, np.floating, np.integer)):
        raise ValueError(f"`target_sparsity` needs to be a number. Received: target_sparsity={target!r}")
    if not (math.isfinite(target) and 0 < target < 1):
        raise ValueError(
            "`target_sparsity` needs to be a fraction strictly between 0 and 1 (0.9 for 90%). "
            f"Received: target_sparsity={target!r}"
        )
    return float(target)
