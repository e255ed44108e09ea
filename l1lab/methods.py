"""How each training method sets up its model and optimizer.

One registry maps a method name to what it needs: kernel regularizers for
the model, and an optimizer. The foundation offers plain SGD, the article's
control; the L1 methods register here too.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from l1lab._compat import keras
from l1lab.model import build_model


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    name: str
    summary: str
    make_optimizer: Callable[[float], object]


def _sgd(learning_rate: float):
    return keras.optimizers.SGD(learning_rate=learning_rate)


METHODS: dict[str, MethodSpec] = {
    "sgd": MethodSpec("sgd", "plain SGD, no L1 (the article's control)", _sgd),
}


@dataclasses.dataclass
class Setup:
    model: "keras.Model"
    optimizer: object
    method: MethodSpec


def get_method(name: str) -> MethodSpec:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}") from None


def configure(method: str, *, learning_rate: float, seed: int | None) -> Setup:
    """Builds the article's model and the method's optimizer, ready to train."""
    spec = get_method(method)
    model = build_model(seed=seed)
    optimizer = spec.make_optimizer(learning_rate)
    # Optimizer state must exist before the compiled loop runs: variables
    # cannot be created inside a tf.while_loop.
    optimizer.build(model.trainable_variables)
    return Setup(model=model, optimizer=optimizer, method=spec)
