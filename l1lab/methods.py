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
from collections.abc import Mapping
from typing import Callable

from l1lab import devices
from l1lab._compat import keras, tf, tf_variable
from l1lab._names import model_variable_names, variable_name
from l1lab.config import CALLERS, METHOD_TRAITS, MethodOptions, MethodTraits, method_traits
from l1lab.model import HIDDEN_UNITS, build_model, layer_names
from l1lab.optimizers import ProximalAdagrad, ProximalSGD, resolve_l1


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
    """A method: its traits (:class:`l1lab.config.MethodTraits`: what it takes), and how to build it.

    The traits' fields read as the spec's own (``spec.uses_l1``).
    """

    traits: MethodTraits
    # (options, learning_rate, model) -> optimizer
    make_optimizer: Callable[[MethodOptions, float, object], object]
    # options -> kernel regularizers per layer name, or None
    regularizers: Callable[[MethodOptions], Mapping | None] = lambda options: None
    # ops that must have kernels on the device the variables live on
    device_ops: tuple[str, ...] = ()

    def __getattr__(self, name):
        # Only for names the dataclass does not have: the traits' fields.
        if name == "traits":
            raise AttributeError(name)
        return getattr(self.traits, name)


def _l1_regularizers(options: MethodOptions) -> dict:
    names = layer_names(len(HIDDEN_UNITS))
    default = {name: (options.l1 if options.l1_all_kernels or name == names[0] else 0.0) for name in names}
    strengths = {**default, **dict(options.l1_layers)}
    return {name: keras.regularizers.L1(c) for name, c in strengths.items() if c > 0}


def _group_l1(options: MethodOptions):
    if not options.uses_groups():
        return None
    return options.group_strengths(layer_names(len(HIDDEN_UNITS)))


def _proximal_l1(options: MethodOptions, model):
    """The optimizer's ``l1``: one strength, or one per variable, keyed by the names the optimizer sees.

    Per-layer strengths name the layers of ``model``; they are resolved here, on
    names that agree across Keras flavours, because a Keras 3 ``Sequential``'s
    variables carry its name in front (``"sequential/dense/kernel"``).
    """
    if not options.l1_layers and not options.slimming_l1:
        return options.l1
    names = [variable_name(v) for v in model.trainable_variables]
    strengths = [options.l1] * len(names)
    if options.l1_layers:
        layers = [layer.name for layer in model.layers if layer.trainable_weights]
        strengths = resolve_l1(options.per_layer(layers, options.l1), model_variable_names(model))
    if not options.slimming_l1:
        return dict(zip(names, strengths))
    from l1lab.channels import channel_graph

    slimmed = set(channel_graph(model).slimming_names())
    if not slimmed:
        raise ValueError(
            f"`slimming_l1` needs BatchNorm layers to slim, and model {model.name!r} has none: use channel_l1 "
            f"(group lasso on its channels) instead. Received: slimming_l1={options.slimming_l1}"
        )
    return {name: options.slimming_l1 if name in slimmed else s for name, s in zip(names, strengths)}


def _channel_groups(options: MethodOptions, model):
    if not options.channel_l1:
        return None
    from l1lab.channels import channel_graph

    return channel_graph(model).groups_config()


def _proximal(cls, options: MethodOptions, model, **kwargs):
    return cls(
        l1=_proximal_l1(options, model),
        apply_to_biases=options.apply_to_biases,
        group_l1=_group_l1(options),
        channel_l1=options.channel_l1,
        channel_groups=_channel_groups(options, model),
        **kwargs,
    )


def _tf_proximal_adagrad(options: MethodOptions, learning_rate: float, model):
    return V1OptimizerAdapter(
        tf.compat.v1.train.ProximalAdagradOptimizer(
            learning_rate,
            initial_accumulator_value=options.accumulator(learning_rate),
            l1_regularization_strength=options.l1,
        )
    )


# How each method of l1lab.config.METHOD_TRAITS is built.
_BUILDERS: dict[str, dict] = {
    "sgd": dict(make_optimizer=lambda o, lr, model: keras.optimizers.SGD(learning_rate=lr)),
    "l1-regularizer": dict(
        make_optimizer=lambda o, lr, model: keras.optimizers.SGD(learning_rate=lr), regularizers=_l1_regularizers
    ),
    "proximal-adagrad-tf": dict(make_optimizer=_tf_proximal_adagrad, device_ops=(devices.PROXIMAL_ADAGRAD_OP,)),
    "proximal-sgd": dict(make_optimizer=lambda o, lr, model: _proximal(ProximalSGD, o, model, learning_rate=lr)),
    "proximal-adagrad": dict(
        make_optimizer=lambda o, lr, model: _proximal(
            ProximalAdagrad, o, model, learning_rate=lr, initial_accumulator_value=o.accumulator(lr)
        )
    ),
    "ftrl": dict(
        make_optimizer=lambda o, lr, model: keras.optimizers.Ftrl(learning_rate=lr, l1_regularization_strength=o.l1)
    ),
}
METHODS: dict[str, MethodSpec] = {name: MethodSpec(METHOD_TRAITS[name], **_BUILDERS[name]) for name in METHOD_TRAITS}


@dataclasses.dataclass
class Setup:
    model: keras.Model
    optimizer: object
    method: MethodSpec
    devices: devices.DeviceDecision


def get_method(name: str) -> MethodSpec:
    """The method ``name``.

    Raises:
      ValueError: no such method; the message lists them.
    """
    return METHODS[method_traits(name).name]


def prepare_devices(method: str, options: MethodOptions) -> devices.DeviceDecision:
    """The GPU workaround; must run before TensorFlow initialises its devices."""
    spec = get_method(method)
    if options.hide_gpus:
        return devices.hide_gpus("asked to hide GPUs (the article's --regL1Try3)")
    return devices.ensure_kernels(spec.device_ops, reason=spec.name)


def configure(
    method: str,
    *,
    learning_rate: float,
    seed: int | None,
    options: MethodOptions = MethodOptions(),
    model="mlp",
) -> Setup:
    """Devices, then the model and the method's optimizer for it.

    Args:
      method: a name of :data:`METHODS`.
      learning_rate: the optimizer's.
      seed: seeds Python, NumPy and TensorFlow before the model is built (None: not seeded).
      options: the L1 settings.
      model: a network's name (``"mlp"``, the article's, or one of :mod:`l1lab.zoo`), a built
        Keras model, or a function of the seed that builds one (called after seeding).

    Raises:
      ValueError: the options do not suit the method or the model, or ``model``
        is none of the three; the message names the fix.
    """
    spec = get_method(method)
    by_name = isinstance(model, str)
    options.validate(spec, model if by_name else CALLERS)
    decision = prepare_devices(method, options)
    if callable(model) and not isinstance(model, (str, keras.Model)):
        # Keras numbers unnamed layers by how many the process built before: without this, each
        # seed's model would name its variables anew (dense_2/kernel), and counts would not line up.
        keras.backend.clear_session()
    if seed is not None:
        keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow
    if model == "mlp":
        network = build_model(seed=seed, kernel_regularizers=spec.regularizers(options))
    elif by_name:
        from l1lab import zoo

        network = zoo.build(model, seed=seed)
    else:
        network = callers_model(model, seed)
    optimizer = spec.make_optimizer(options, learning_rate, network)
    # Optimizer state must exist before the compiled loop runs: variables
    # cannot be created inside a tf.while_loop.
    optimizer.build(network.trainable_variables)
    return Setup(model=network, optimizer=optimizer, method=spec, devices=decision)


def callers_model(model, seed):
    """A caller's model: built (a Keras model), or built now by ``model(seed)``."""
    if not isinstance(model, keras.Model):
        if not callable(model):
            raise ValueError(
                "`model` needs to be a network's name, a Keras model or a function of the seed that builds one. "
                f"Received: model={model!r}"
            )
        built = model(seed)
        if not isinstance(built, keras.Model):
            raise ValueError(
                f"`model` needs to return a Keras model ({keras.__name__}.Model) when called with the seed. "
                f"Received: {getattr(model, '__name__', model)!r}({seed}) returned {type(built).__name__}"
            )
        model = built
    if not model.built or not model.inputs:
        raise ValueError(
            f"`model` needs to be built with a known input shape (give it an Input layer). Received: {model.name!r}"
        )
    if len(model.outputs) != 1 or int(model.outputs[0].shape[-1] or 0) < 2:
        raise ValueError(
            "`model` needs one output of class logits (one per class, at least 2). "
            f"Received: outputs of shapes {[tuple(o.shape) for o in model.outputs]}"
        )
    return model
