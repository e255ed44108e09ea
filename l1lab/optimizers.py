"""Hand-written proximal optimizers, as real Keras optimizers.

``ProximalSGD`` and ``ProximalAdagrad`` keep the good idea of TensorFlow's
``ProximalAdagradOptimizer`` (a gradient step, then exact soft-thresholding,
which lands weights on exactly zero) without its defects:

* the L1 strength is a float or a mapping per layer or per variable
  (TensorFlow's optimizer has one constant for everything), with biases
  included or left unpenalised;
* they are Keras optimizers of the active Keras (3, or 2 through
  ``tf_keras``): ``model.compile``/``fit``, a custom loop,
  ``get_config``/``from_config``, saving with the model, learning-rate
  schedules;
* the update is plain TensorFlow arithmetic, so the whole train step
  compiles with ``jit_compile=True``, runs under ``tf.distribute`` and on a
  GPU (no op without a GPU kernel, no host round trip as in the article's
  NumPy step).

The updates are TensorFlow's kernels' (``ApplyProximalGradientDescent``,
``ApplyProximalAdagrad``); see :mod:`l1lab.prox` for the math.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from l1lab import prox
from l1lab._compat import IS_KERAS3, keras, register_keras_serializable, tf
from l1lab._names import is_bias, layer_of, variable_name
from l1lab.checks import check_positive, check_strength


def _check_l1(l1: Any) -> float | dict:
    if isinstance(l1, Mapping):
        return {str(k): check_strength(f"l1[{k!r}]", v) for k, v in l1.items()}
    return check_strength("l1", l1)


def _longest_key(mapping: Mapping, name: str) -> str | None:
    """The key of ``mapping`` that is ``name`` or its nearest enclosing layer (``"inner/dense"``, then ``"inner"``)."""
    while name not in mapping and "/" in name:
        name = layer_of(name)
    return name if name in mapping else None


def resolve_l1(l1: float | Mapping[str, float], names: list[str], apply_to_biases: bool = True) -> list[float]:
    """The L1 strength of each variable, by name (``"dense_1/kernel"``).

    ``l1`` is a float for every variable, or a mapping whose keys are
    variable names (``"dense_1/kernel"``) or layer names (``"dense_1"``, for
    all of that layer's variables; ``"inner"`` for a nested model's); the
    nearest name wins (the variable's own over its layer's), and variables the mapping does not name get 0. With
    ``apply_to_biases=False``, variables named ``.../bias`` get 0.

    Raises:
      ValueError: a key of the mapping names no variable (a typo would
        otherwise silently train without L1).
    """
    if hasattr(l1, "items"):  # a Mapping, or tf_keras's tracking wrapper of one
        l1 = dict(l1.items())
        unused = [key for key in l1 if not any(n == key or n.startswith(key + "/") for n in names)]
        if unused:
            raise ValueError(f"l1 names {unused}, which match no variable of {names}")
        strengths = [float(l1.get(_longest_key(l1, name), 0.0)) for name in names]
    else:
        strengths = [float(l1)] * len(names)
    if not apply_to_biases:
        strengths = [0.0 if is_bias(name) else s for name, s in zip(names, strengths)]
    return strengths


def _check_group_l1(group_l1: Any) -> float | dict:
    if group_l1 is None:
        return 0.0
    if not hasattr(group_l1, "items"):
        return check_strength("group_l1", group_l1)
    checked = {}
    for key, entry in dict(group_l1.items()).items():
        if hasattr(entry, "items"):
            unknown = sorted(set(dict(entry.items())) - set(prox.GROUP_AXES))
            if unknown:
                raise ValueError(f"`group_l1[{key!r}]` needs keys among {sorted(prox.GROUP_AXES)}. Received: {unknown}")
            checked[str(key)] = {
                kind: check_strength(f"group_l1[{key!r}][{kind!r}]", value) for kind, value in entry.items()
            }
        else:
            checked[str(key)] = check_strength(f"group_l1[{key!r}]", entry)
    return checked


def resolve_group_l1(
    group_l1: float | Mapping[str, Any], names: list[str], ranks: list[int]
) -> list[tuple[float, float]]:
    """The ``(inputs, units)`` group strengths of each variable, by name.

    ``group_l1`` is a float (both kinds of group, every 2-D kernel), or a
    mapping whose keys are variable or layer names, as for :func:`resolve_l1`,
    and whose values are a float (both kinds) or ``{"inputs": c, "units": c}``.
    Variables that are not 2-D get ``(0, 0)`` unless named by their own name.

    Raises:
      ValueError: a key names no variable, or a variable named by its own
        name is not a 2-D kernel.
    """
    if not hasattr(group_l1, "items"):
        c = float(group_l1)
        return [(c, c) if rank == 2 else (0.0, 0.0) for rank in ranks]
    group_l1 = dict(group_l1.items())
    unused = [key for key in group_l1 if not any(n == key or n.startswith(key + "/") for n in names)]
    if unused:
        raise ValueError(f"group_l1 names {unused}, which match no variable of {names}")
    strengths = []
    for name, rank in zip(names, ranks):
        entry = group_l1.get(name, group_l1.get(layer_of(name), 0.0))
        if hasattr(entry, "items"):
            pair = (float(entry.get("inputs", 0.0)), float(entry.get("units", 0.0)))
        else:
            pair = (float(entry), float(entry))
        if rank != 2:
            if name in group_l1 and any(pair):
                raise ValueError(f"group_l1 names {name!r}, which is not a 2-D kernel (rank {rank})")
            pair = (0.0, 0.0)
        strengths.append(pair)
    return strengths


def _check_channel_groups(channel_groups: Any, channel_l1: float) -> list[dict]:
    if channel_groups is None:
        if channel_l1:
            raise ValueError(
                "`channel_groups` needs to be given with `channel_l1`: pass "
                "channel_groups=l1lab.channels.channel_graph(model).groups_config(). Received: channel_groups=None"
            )
        return []
    checked = []
    for entry in channel_groups:
        entry = dict(entry.items())
        if set(entry) != {"variable", "axis", "ids"}:
            raise ValueError(
                "`channel_groups` entries need to be {'variable', 'axis', 'ids'} (ChannelGraph.groups_config()). "
                f"Received: {sorted(entry)}"
            )
        checked.append(
            {"variable": str(entry["variable"]), "axis": int(entry["axis"]), "ids": [int(i) for i in entry["ids"]]}
        )
    return checked


def resolve_channel_groups(channel_groups: list[dict], names: list[str], var_list) -> list[tuple[int, int, list[int]]]:
    """Each channel-group slot as ``(variable index, axis, ids)`` into the built variables.

    Raises:
      ValueError: a slot names a variable the optimizer does not train, or
        its ids do not match the variable's length along the axis.
    """
    slots = []
    for entry in channel_groups:
        name, axis, ids = entry["variable"], entry["axis"], list(entry["ids"])
        if name not in names:
            raise ValueError(f"channel_groups names {name!r}, which is not among the trained variables {names}")
        index = names.index(name)
        length = var_list[index].shape[axis]
        if len(ids) != length:
            raise ValueError(
                f"channel_groups gives {len(ids)} ids for {name!r} along axis {axis}, which has {length}: "
                "the groups come from another model"
            )
        slots.append((index, axis, ids))
    return slots


class _Proximal(keras.optimizers.Optimizer):
    """What both proximal optimizers share: strengths per variable, config, flavour glue."""

    def __init__(
        self,
        learning_rate,
        l1=0.0,
        l2=0.0,
        apply_to_biases=True,
        group_l1=None,
        channel_l1=0.0,
        channel_groups=None,
        name=None,
        **kwargs,
    ):
        if IS_KERAS3:
            super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        else:
            super().__init__(name=name, **kwargs)
            self._learning_rate = self._build_learning_rate(learning_rate)
        self.l1 = _check_l1(l1)
        self.l2 = check_strength("l2", l2)
        self.apply_to_biases = bool(apply_to_biases)
        self.group_l1 = _check_group_l1(group_l1)
        self.channel_l1 = check_strength("channel_l1", channel_l1)
        self.channel_groups = _check_channel_groups(channel_groups, self.channel_l1)
        self._channel_slots: list[tuple[int, int, list[int]]] = []
        self._l1_names: list[str] = []
        self._group_per_variable: list[tuple[float, float]] = []
        self._l1_per_variable: list[float] = []

    def build(self, var_list):
        if self.built if IS_KERAS3 else getattr(self, "_built", False):
            return
        super().build(var_list)
        self._l1_names = [variable_name(v) for v in var_list]
        self._l1_per_variable = resolve_l1(self.l1, self._l1_names, self.apply_to_biases)
        self._group_per_variable = resolve_group_l1(self.group_l1, self._l1_names, [len(v.shape) for v in var_list])
        self._channel_slots = resolve_channel_groups(self.channel_groups, self._l1_names, var_list)
        self._build_slots(var_list)
        if not IS_KERAS3:
            self._built = True

    def _build_slots(self, var_list) -> None:
        """Creates the optimizer's own variables (none for SGD)."""

    def l1_by_variable(self) -> dict[str, float]:
        """The strength each built variable gets, by name (for reports and tests)."""
        return dict(zip(self._l1_names, self._l1_per_variable))

    def group_l1_by_variable(self) -> dict[str, tuple[float, float]]:
        """The ``(inputs, units)`` group strengths each built variable gets, by name."""
        return dict(zip(self._l1_names, self._group_per_variable))

    def _group_step(self, new_value, index: int, step):
        inputs, units = self._group_per_variable[index]
        if not (inputs or units):
            return new_value
        return prox.group_shrink(new_value, step, inputs, units)

    def _channel_step(self, variables) -> None:
        """Group lasso over the channel groups, after every variable's own step."""
        by_index = {self._index(variable): variable for variable in variables}
        used = sorted({index for index, _, _ in self._channel_slots})
        missing = [self._l1_names[index] for index in used if index not in by_index]
        if missing:
            raise ValueError(f"channel_groups spans {missing}, which got no gradient in this step")
        position = {index: i for i, index in enumerate(used)}
        slots = [(position[index], axis, ids) for index, axis, ids in self._channel_slots]
        values = [tf.convert_to_tensor(by_index[index]) for index in used]
        step = self._channel_step_sizes([by_index[index] for index in used], used)
        num_groups = max(max(ids) for _, _, ids in slots) + 1
        shrunk = prox.coupled_group_shrink(values, slots, num_groups, self.channel_l1, step)
        for index, value in zip(used, shrunk):
            self._assign(by_index[index], value)

    def _channel_step_sizes(self, variables, indices):
        """The step the variables took: the learning rate (Adagrad: its per-element steps)."""
        return self._learning_rate_for(variables[0], None)

    if IS_KERAS3:

        def _backend_apply_gradients(self, grads, trainable_variables):
            super()._backend_apply_gradients(grads, trainable_variables)
            if self.channel_l1 and self._channel_slots:
                self._channel_step(list(trainable_variables))

    else:

        def _internal_apply_gradients(self, grads_and_vars):
            grads_and_vars = list(grads_and_vars)
            iterations = super()._internal_apply_gradients(grads_and_vars)
            if self.channel_l1 and self._channel_slots:
                self._channel_step([variable for _, variable in grads_and_vars])
            return iterations

    # -- flavour glue ------------------------------------------------------

    def _index(self, variable) -> int:
        if IS_KERAS3:
            return self._get_variable_index(variable)
        return self._index_dict[self._var_key(variable)]

    def _slot(self, variable, name: str, value: float):
        if IS_KERAS3:
            return self.add_variable_from_reference(variable, name, initializer=keras.initializers.Constant(value))
        return self.add_variable_from_reference(
            variable, name, initial_value=tf.fill(variable.shape, tf.cast(value, variable.dtype))
        )

    def _learning_rate_for(self, variable, learning_rate):
        return tf.cast(self.learning_rate if learning_rate is None else learning_rate, variable.dtype)

    @staticmethod
    def _assign(variable, value):
        variable.assign(value)

    def get_config(self):
        config = super().get_config()
        if not IS_KERAS3:
            config["learning_rate"] = self._serialize_hyperparameter(self._learning_rate)

        def plain(value):  # tf_keras wraps mappings and lists for tracking
            if hasattr(value, "items"):
                return {k: plain(v) for k, v in value.items()}
            return [plain(v) for v in value] if isinstance(value, list) else value

        config.update(
            {
                "l1": plain(self.l1),
                "l2": self.l2,
                "apply_to_biases": self.apply_to_biases,
                "group_l1": plain(self.group_l1),
                "channel_l1": self.channel_l1,
                "channel_groups": plain(self.channel_groups),
            }
        )
        return config


@register_keras_serializable(package="l1lab")
class ProximalSGD(_Proximal):
    r"""SGD followed by soft-thresholding: TensorFlow's ``ProximalGradientDescent``.

    For each variable with strengths :math:`\lambda_1, \lambda_2` and learning
    rate :math:`\alpha`:

    .. math::

       v \leftarrow \operatorname{argmin}_y \; \tfrac12 \lVert y - (v - \alpha g) \rVert_2^2
             + \alpha \lambda_1 \lVert y \rVert_1 + \tfrac{\alpha \lambda_2}{2} \lVert y \rVert_2^2
         = \frac{S_{\alpha \lambda_1}(v - \alpha g)}{1 + \alpha \lambda_2}

    With ``l1 = l2 = 0`` it is plain SGD, step for step.

    Args:
      learning_rate: a float or a Keras learning-rate schedule.
      l1: a float, or a mapping of layer or variable names to floats
        (see :func:`resolve_l1`); all >= 0.
      l2: the L2 strength of TensorFlow's kernel (shrinks by ``1/(1+lr*l2)``).
      apply_to_biases: with ``False``, biases are not thresholded.
      group_l1: group lasso on Dense kernels: a float (every kernel's rows
        and columns), or a mapping of layer or variable names to a float or
        ``{"inputs": c, "units": c}`` (see :func:`resolve_group_l1`). After the
        element-wise step, each row (an input feature of the layer) is
        block-soft-thresholded by ``lr * inputs``, then each column (a unit)
        by ``lr * units`` (:func:`l1lab.prox.group_shrink`): whole features
        and units become exactly zero, which :mod:`l1lab.edge` can remove.
      channel_l1: group lasso on coupled channels (>= 0): after every
        variable's own step, each group of
        ``channel_groups`` is block-soft-thresholded by ``lr * channel_l1``
        across every variable it spans, BatchNorm's ``gamma`` and ``beta``
        included (:func:`l1lab.prox.coupled_group_shrink`): whole channels
        become exactly zero, which :mod:`l1lab.edge.compact_channels` removes.
      channel_groups: the slots of those groups,
        ``l1lab.channels.channel_graph(model).groups_config()``; needed with
        ``channel_l1``. For network slimming (L1 on BatchNorm's ``gamma``
        and ``beta``) use ``l1={name: c for name in graph.slimming_names()}``.

    References:
      Wen et al., "Learning structured sparsity in deep neural networks",
      NeurIPS 2016 (group lasso on units and input features); Liu et al.,
      "Learning efficient convolutional networks through network slimming",
      ICCV 2017 (L1 on BatchNorm's gamma).
    """

    def __init__(self, learning_rate=0.01, name="ProximalSGD", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)

    def update_step(self, gradient, variable, learning_rate=None):
        lr = self._learning_rate_for(variable, learning_rate)
        gradient = tf.convert_to_tensor(gradient, variable.dtype)  # dense, also for IndexedSlices
        index = self._index(variable)
        l1 = self._l1_per_variable[index]
        if l1 == 0.0 and self.l2 == 0.0:
            new_value = variable - gradient * lr  # exactly SGD
        else:
            new_value = prox.tf_proximal_sgd(tf.convert_to_tensor(variable), gradient, lr, l1, self.l2)
        self._assign(variable, self._group_step(new_value, index, lr))


@register_keras_serializable(package="l1lab")
class ProximalAdagrad(_Proximal):
    r"""TensorFlow's ``ProximalAdagrad`` update, with per-layer L1 strengths.

    Per element, with accumulator :math:`a` (starting at
    ``initial_accumulator_value``):

    .. math::

       a \leftarrow a + g^2, \quad \alpha_i = \frac{\alpha}{\sqrt{a_i}}, \quad
       v_i \leftarrow \operatorname{argmin}_y \; \tfrac12 (y - (v_i - \alpha_i g_i))^2
             + \alpha_i \lambda_1 \lvert y \rvert + \tfrac{\alpha_i \lambda_2}{2} y^2
           = \frac{S_{\alpha_i \lambda_1}(v_i - \alpha_i g_i)}{1 + \alpha_i \lambda_2}

    Args:
      learning_rate: a float or a Keras learning-rate schedule.
      initial_accumulator_value: > 0 (TensorFlow's default 0.1; the article
        used ``learning_rate**2`` so the first step matches SGD's size).
      l1, l2, apply_to_biases, group_l1, channel_l1, channel_groups: as for
        :class:`ProximalSGD`; a group's threshold uses the mean of its
        elements' Adagrad steps.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, name="ProximalAdagrad", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = check_positive("initial_accumulator_value", initial_accumulator_value)

    def _build_slots(self, var_list) -> None:
        self._accumulators = [self._slot(v, "accumulator", self.initial_accumulator_value) for v in var_list]

    def update_step(self, gradient, variable, learning_rate=None):
        lr = self._learning_rate_for(variable, learning_rate)
        gradient = tf.convert_to_tensor(gradient, variable.dtype)
        index = self._index(variable)
        accumulator = self._accumulators[index]
        new_var, new_accum = prox.tf_proximal_adagrad(
            tf.convert_to_tensor(variable),
            tf.convert_to_tensor(accumulator),
            gradient,
            lr,
            self._l1_per_variable[index],
            self.l2,
        )
        self._assign(accumulator, new_accum)
        if any(self._group_per_variable[index]):
            new_var = self._group_step(new_var, index, lr * tf.math.rsqrt(new_accum))
        self._assign(variable, new_var)

    def _channel_step_sizes(self, variables, indices):
        lr = self._learning_rate_for(variables[0], None)
        return [lr * tf.math.rsqrt(tf.convert_to_tensor(self._accumulators[index])) for index in indices]

    def get_config(self):
        config = super().get_config()
        config["initial_accumulator_value"] = self.initial_accumulator_value
        return config
