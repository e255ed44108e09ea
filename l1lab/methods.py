"""Each training method: its model, its optimizer, its device set-up.

One registry maps a method name to everything it needs, so the training loop
never asks which method it runs. The article's flags map onto it:

=================  ========================  =========================================
article flag       method                    what it does
=================  ========================  =========================================
(none)             ``sgd``                   plain SGD, no L1: the control
``--regL1Try1 c``  ``l1-regularizer``        ``L1(c)`` on the first kernel, plain SGD,
                                             the penalty really in the loss
``--regL1Try2 c``  ``proximal-adagrad-tf``   ``tf.compat.v1.train.ProximalAdagradOptimizer``
``--regL1Try3 c``  ``proximal-adagrad-tf``   the same, with all GPUs hidden first
``--regL1Alt c``   ``proximal-sgd``          SGD then soft-thresholding by ``lr * c``
\\                 ``proximal-adagrad``      l1lab's ProximalAdagrad (per-layer L1)
\\                 ``ftrl``                  Keras's Ftrl with ``l1_regularization_strength``
=================  ========================  =========================================

Both Adagrad methods start their accumulators at ``learning_rate**2`` as the
article did (the first step then has SGD's size), unless told otherwise.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Mapping

from l1lab import devices
from l1lab._compat import keras, tf, tf_variable
from l1lab.model import HIDDEN_UNITS, build_model, layer_names
from l1lab.optimizers import ProximalAdagrad, ProximalSGD

@dataclasses.dataclass(frozen=True)
class MethodOptions:
    """The L1 settings of a run, whatever its method."""

    l1: float = 0.0
    # Per-layer strengths, overriding ``l1`` for the layers they name.
    l1_layers: tuple[tuple[str, float], ...] = ()
    # l1-regularizer: penalise every kernel, not only the first (the article).
    l1_all_kernels: bool = False
    # Proximal methods: threshold biases too (TensorFlow's behaviour).
    apply_to_biases: bool = True
    # Hide all GPUs before TensorFlow initialises them (the article's Try3).
    hide_gpus: bool = False
    # Adagrad methods: initial accumulator; None means learning_rate ** 2.
    initial_accumulator: float | None = None

    def validate(self, method: "MethodSpec") -> "MethodOptions":
        for name, value in (("l1", self.l1), *((f"l1 for {k}", v) for k, v in self.l1_layers)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}={value!r}: an L1 strength must be finite and >= 0")
        if self.initial_accumulator is not None and not (
            math.isfinite(self.initial_accumulator) and self.initial_accumulator > 0
        ):
            raise ValueError(f"initial_accumulator={self.initial_accumulator!r} must be finite and > 0")
        if not method.uses_l1 and (self.l1 or self.l1_layers):
            raise ValueError(f"method {method.name!r} takes no L1 strength; choose an L1 method")
        if self.l1_layers and not method.per_layer:
            raise ValueError(
                f"method {method.name!r} has one L1 strength for all layers; per-layer strengths "
                "need l1-regularizer, proximal-sgd or proximal-adagrad"
            )
        known = set(layer_names(len(HIDDEN_UNITS)))
        unknown = sorted({name for name, _ in self.l1_layers} - known)
        if unknown:
            raise ValueError(f"unknown layers {unknown} in per-layer L1; layers are {sorted(known)}")
        return self

    def per_layer(self, names: list[str], default: float) -> dict[str, float]:
        strengths = {name: default for name in names}
        strengths.update(dict(self.l1_layers))
        return strengths

    def accumulator(self, learning_rate: float) -> float:
        return learning_rate**2 if self.initial_accumulator is None else self.initial_accumulator


class V1OptimizerAdapter:
    """A ``tf.compat.v1.train`` optimizer behind the Keras optimizer calls l1lab uses.

    Keras 3 variables wrap a ``tf.Variable``; TensorFlow's v1 optimizers need
    that one (given a Keras 3 variable they fail with "'Variable' object has
    no attribute 'get_shape'"). Slots are created in :meth:`build`, outside
    any compiled loop, where variables cannot be created.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")

    def build(self, variables) -> None:
        with tf.init_scope():
            self.optimizer._create_slots([tf_variable(v) for v in variables])  # no public hook

    def apply_gradients(self, grads_and_vars):
        pairs = [(g, tf_variable(v)) for g, v in grads_and_vars]
        return self.optimizer.apply_gradients(pairs, global_step=self.iterations)


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    name: str
    summary: str
    uses_l1: bool
    per_layer: bool
    # (options, learning_rate) -> optimizer
    make_optimizer: Callable[[MethodOptions, float], object]
    # options -> kernel regularizers per layer name, or None
    regularizers: Callable[[MethodOptions], Mapping | None] = lambda options: None
    # ops that must have kernels on the device the variables live on
    device_ops: tuple[str, ...] = ()


def _l1_regularizers(options: MethodOptions) -> dict:
    names = layer_names(len(HIDDEN_UNITS))
    default = {name: (options.l1 if options.l1_all_kernels or name == names[0] else 0.0) for name in names}
    strengths = {**default, **dict(options.l1_layers)}
    return {name: keras.regularizers.L1(c) for name, c in strengths.items() if c > 0}


def _proximal_l1(options: MethodOptions):
    if not options.l1_layers:
        return options.l1
    return options.per_layer(layer_names(len(HIDDEN_UNITS)), options.l1)


def _tf_proximal_adagrad(options: MethodOptions, learning_rate: float):
    return V1OptimizerAdapter(
        tf.compat.v1.train.ProximalAdagradOptimizer(
            learning_rate,
            initial_accumulator_value=options.accumulator(learning_rate),
            l1_regularization_strength=options.l1,
        )
    )


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec(
            "sgd", "plain SGD, no L1 (the article's control)", False, False,
            lambda o, lr: keras.optimizers.SGD(learning_rate=lr),
        ),
        MethodSpec(
            "l1-regularizer", "keras.regularizers.L1 on the first kernel (or all), plain SGD", True, True,
            lambda o, lr: keras.optimizers.SGD(learning_rate=lr), regularizers=_l1_regularizers,
        ),
        MethodSpec(
            "proximal-adagrad-tf", "tf.compat.v1.train.ProximalAdagradOptimizer, one L1 for all", True, False,
            _tf_proximal_adagrad, device_ops=(devices.PROXIMAL_ADAGRAD_OP,),
        ),
        MethodSpec(
            "proximal-sgd", "l1lab's ProximalSGD: SGD then soft-thresholding", True, True,
            lambda o, lr: ProximalSGD(lr, l1=_proximal_l1(o), apply_to_biases=o.apply_to_biases),
        ),
        MethodSpec(
            "proximal-adagrad", "l1lab's ProximalAdagrad: TensorFlow's update, per-layer L1", True, True,
            lambda o, lr: ProximalAdagrad(
                lr, initial_accumulator_value=o.accumulator(lr), l1=_proximal_l1(o),
                apply_to_biases=o.apply_to_biases,
            ),
        ),
        MethodSpec(
            "ftrl", "keras.optimizers.Ftrl with l1_regularization_strength", True, False,
            lambda o, lr: keras.optimizers.Ftrl(learning_rate=lr, l1_regularization_strength=o.l1),
        ),
    )
}


@dataclasses.dataclass
class Setup:
    model: "keras.Model"
    optimizer: object
    method: MethodSpec
    devices: devices.DeviceDecision


def get_method(name: str) -> MethodSpec:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}") from None


def prepare_devices(method: str, options: MethodOptions) -> devices.DeviceDecision:
    """The GPU workaround; must run before TensorFlow initialises its devices."""
    spec = get_method(method)
    if options.hide_gpus:
        return devices.hide_gpus("asked to hide GPUs (the article's --regL1Try3)")
    return devices.ensure_kernels(spec.device_ops, reason=spec.name)


def configure(
    method: str, *, learning_rate: float, seed: int | None, options: MethodOptions = MethodOptions()
) -> Setup:
    """Devices, then the article's model and the method's optimizer, ready to train."""
    spec = get_method(method)
    options.validate(spec)
    decision = prepare_devices(method, options)
    if seed is not None:
        keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow
    model = build_model(seed=seed, kernel_regularizers=spec.regularizers(options))
    optimizer = spec.make_optimizer(options, learning_rate)
    # Optimizer state must exist before the compiled loop runs: variables
    # cannot be created inside a tf.while_loop.
    optimizer.build(model.trainable_variables)
    return Setup(model=model, optimizer=optimizer, method=spec, devices=decision)
