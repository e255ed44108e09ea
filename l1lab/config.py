"""What a run is: its settings, their defaults and checks, and what decides its numbers.

This module imports no TensorFlow, so the CLI's ``--help`` and the golden-file
checks can read the defaults without loading it. It is the one place for:

* the defaults of a run (the article's: 20 epochs, batch 64, learning rate
  1e-3, a shuffle buffer of 1024, raw pixels, plain SGD);
* the checks of every field (the checks of one number, an L1 strength or a
  learning rate, are :mod:`l1lab.checks`, which the optimizers use too);
* the **identity** of a run (:data:`COMPUTED_ARGS`, :func:`identity`): the
  fields of the ``args`` event that decide what it computes. A golden file
  is valid for a scenario when the two identities agree; a field a golden
  file does not have reads as its default, so a new option, at its default
  value, leaves every committed golden file valid.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from l1lab.checks import check_positive, check_strength, check_target
from l1lab.data import DATASETS, DEFAULT_NUM_SAMPLES, PIXEL_SCALES, SPLITS
from l1lab.sparsity import EPSILON_ZERO

# Upper bounds where TensorFlow and NumPy bound them: tensor sizes and loop counters are
# int32 in the compiled loop; NumPy's and Keras's seeds are below 2**32.
INT_LIMITS = {
    "epochs": 2**31 - 1,
    "batch_size": 2**31 - 1,
    "shuffle_buffer": 2**31 - 1,
    "seed": 2**32 - 1,
}


@dataclasses.dataclass(frozen=True)
class MethodTraits:
    """What a training method takes and does, without TensorFlow (build it by keyword).

    A run's checks read it here; :mod:`l1lab.methods` adds how to build the
    method's optimizer and regularizers (``l1lab.methods.METHODS`` has the same names).
    """

    name: str
    summary: str
    uses_l1: bool
    per_layer: bool
    # takes group strengths (group lasso on kernels' rows and columns, on a CNN's channels)
    groups: bool = False
    # the MethodOptions fields only some methods take: l1_all_kernels, apply_to_biases, initial_accumulator
    options: tuple[str, ...] = ()
    # its update sets weights to exactly zero (a proximal step, FTRL); a penalty in the loss does not
    exact_zeros: bool = False


METHOD_TRAITS: dict[str, MethodTraits] = {
    traits.name: traits
    for traits in (
        MethodTraits(name="sgd", summary="plain SGD, no L1 (the article's control)", uses_l1=False, per_layer=False),
        MethodTraits(
            name="l1-regularizer",
            summary="keras.regularizers.L1 on the first kernel (or all), plain SGD",
            uses_l1=True,
            per_layer=True,
            options=("l1_all_kernels",),
        ),
        MethodTraits(
            name="proximal-adagrad-tf",
            summary="tf.compat.v1.train.ProximalAdagradOptimizer, one L1 for all",
            uses_l1=True,
            per_layer=False,
            options=("initial_accumulator",),
            exact_zeros=True,
        ),
        MethodTraits(
            name="proximal-sgd",
            summary="l1lab's ProximalSGD: SGD then soft-thresholding",
            uses_l1=True,
            per_layer=True,
            groups=True,
            options=("apply_to_biases",),
            exact_zeros=True,
        ),
        MethodTraits(
            name="proximal-adagrad",
            summary="l1lab's ProximalAdagrad: TensorFlow's update, per-layer L1",
            uses_l1=True,
            per_layer=True,
            groups=True,
            options=("apply_to_biases", "initial_accumulator"),
            exact_zeros=True,
        ),
        MethodTraits(
            name="ftrl",
            summary="keras.optimizers.Ftrl with l1_regularization_strength",
            uses_l1=True,
            per_layer=False,
            exact_zeros=True,
        ),
    )
}


def method_traits(name: str) -> MethodTraits:
    """The traits of method ``name``.

    Raises:
      ValueError: no such method; the message lists them.
    """
    try:
        return METHOD_TRAITS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHOD_TRAITS)}") from None


# The networks of l1lab.zoo, by name (here without TensorFlow, for the CLI's choices).
MODEL_NAMES = ("mlp", "tfmot-cnn", "ds-cnn", "resnet8")
# ``model`` and ``dataset`` of a run whose caller gives the model and the data
# (``l1lab.train.Run(config, model=..., data=...)``): fingerprints identify them.
CALLERS = "caller's"


def _is_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


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
    # Proximal methods, group lasso on kernels: every layer's inputs (rows) and every
    # hidden layer's units (columns; never the output's), then per-layer overrides.
    group_l1: float = 0.0
    group_inputs: tuple[tuple[str, float], ...] = ()
    group_units: tuple[tuple[str, float], ...] = ()
    # Proximal methods, structured L1 on the channel graph (l1lab.channels): group lasso on each
    # coupled channel group, and network slimming's L1 on BatchNorm's gamma.
    channel_l1: float = 0.0
    slimming_l1: float = 0.0

    def uses_groups(self) -> bool:
        return bool(self.group_l1 or self.group_inputs or self.group_units)

    def uses_channels(self) -> bool:
        return bool(self.channel_l1 or self.slimming_l1)

    def group_strengths(self, names: list[str]) -> dict[str, dict[str, float]]:
        """``{layer: {"inputs": c, "units": c}}`` for the Dense layers ``names`` (the output layer last)."""
        strengths = {
            name: {"inputs": self.group_l1, "units": self.group_l1 if i < len(names) - 1 else 0.0}
            for i, name in enumerate(names)
        }
        for kind, overrides in (("inputs", self.group_inputs), ("units", self.group_units)):
            for layer, value in overrides:
                strengths[layer][kind] = value
        return strengths

    def validate(self, method, model: str = "mlp") -> MethodOptions:
        """Checks the options against ``method`` (its :class:`MethodTraits`) and ``model``'s name.

        Raises:
          ValueError: a bad strength, an option the method or the model does
            not take, or an unknown layer of the article's network.
        """
        from l1lab.model import HIDDEN_UNITS, layer_names

        check_strength("l1", self.l1)
        check_strength("group_l1", self.group_l1)
        check_strength("channel_l1", self.channel_l1)
        check_strength("slimming_l1", self.slimming_l1)
        if self.uses_channels() and not method.groups:
            raise ValueError(
                f"method {method.name!r} takes no channel strengths; structured L1 on channels needs proximal-sgd "
                "or proximal-adagrad"
            )
        if model != "mlp":
            if self.uses_groups():
                raise ValueError(
                    "group strengths (--group-l1, --group-inputs, --group-units) act on the article's Dense "
                    f"layers; for model {model!r} use `channel_l1`, which follows its channels"
                )
            if self.l1_all_kernels or method.name == "l1-regularizer":
                raise ValueError(
                    f"method 'l1-regularizer' penalises the article's Dense kernels; for model {model!r} choose "
                    "proximal-sgd or proximal-adagrad"
                )
        for field in ("l1_layers", "group_inputs", "group_units"):
            for layer, value in getattr(self, field):
                check_strength(f"{field}[{layer!r}]", value)
        if self.initial_accumulator is not None:
            check_positive("initial_accumulator", self.initial_accumulator)
        if not method.uses_l1 and (self.l1 or self.l1_layers):
            raise ValueError(f"method {method.name!r} takes no L1 strength; choose an L1 method")
        if self.l1_layers and not method.per_layer:
            raise ValueError(
                f"method {method.name!r} has one L1 strength for all layers; per-layer strengths "
                "need l1-regularizer, proximal-sgd or proximal-adagrad"
            )
        for option, flag in _METHOD_SPECIFIC.items():
            if getattr(self, option) != getattr(_DEFAULT_OPTIONS, option) and option not in method.options:
                raise ValueError(
                    f"method {method.name!r} takes no `{option}` ({flag}); it applies to "
                    f"{', '.join(sorted(_methods_taking(option)))}"
                )
        if self.uses_groups() and not method.groups:
            raise ValueError(
                f"method {method.name!r} takes no group strengths; group lasso needs proximal-sgd or proximal-adagrad"
            )
        if model != "mlp":  # its layers' names are known once it is built (l1lab.optimizers checks them)
            return self
        names = layer_names(len(HIDDEN_UNITS))
        named = {name for field in ("l1_layers", "group_inputs", "group_units") for name, _ in getattr(self, field)}
        unknown = sorted(named - set(names))
        if unknown:
            raise ValueError(f"unknown layers {unknown} in per-layer strengths; layers are {sorted(names)}")
        if any(value for layer, value in self.group_units if layer == names[-1]):
            raise ValueError(
                f"`group_units` cannot remove units of {names[-1]!r}: they are the model's outputs. "
                f"Received: group_units={dict(self.group_units)}"
            )
        return self

    def per_layer(self, names: list[str], default: float) -> dict[str, float]:
        strengths = {name: default for name in names}
        strengths.update(dict(self.l1_layers))
        return strengths

    def accumulator(self, learning_rate: float) -> float:
        return learning_rate**2 if self.initial_accumulator is None else self.initial_accumulator


_DEFAULT_OPTIONS = MethodOptions()
# Options only some methods take (MethodSpec.options), with the CLI flag that sets each.
_METHOD_SPECIFIC = {
    "l1_all_kernels": "--l1-all-kernels",
    "apply_to_biases": "--l1-exclude-biases",
    "initial_accumulator": "--initial-accumulator",
}


def _methods_taking(option: str) -> list[str]:
    return [name for name, traits in METHOD_TRAITS.items() if option in traits.options]


def smallest_multiply_adds(unit_multiple: int = 1) -> int:
    """Multiply-adds of the smallest model a budget can leave: one input, ``unit_multiple`` units per hidden layer."""
    from l1lab.model import HIDDEN_UNITS, NUM_CLASSES
    from l1lab.structure import multiply_adds

    width = max(1, int(unit_multiple))
    return multiply_adds([width] * len(HIDDEN_UNITS) + [NUM_CLASSES], 1)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a run computes; the article's defaults."""

    epochs: int = 20
    num_samples: int = DEFAULT_NUM_SAMPLES
    batch_size: int = 64
    learning_rate: float = 1e-3
    shuffle_buffer: int = 1024
    seed: int = 0
    pixel_scale: str = "raw"
    # "article" (its split of MNIST's training file) or "standard" (60,000 train, the 10,000 test file).
    split: str = "article"
    method: str = "sgd"
    options: MethodOptions = MethodOptions()
    epsilon: float = EPSILON_ZERO
    # The last ``finetune_epochs`` of ``epochs`` train the surviving weights with the
    # zeros held fixed (l1lab.finetune); 0: the method trains every epoch.
    finetune_epochs: int = 0
    # Reach this sparsity while fine-tuning, pruning by magnitude on a schedule (l1lab.target).
    target_sparsity: float | None = None
    # Reach this many multiply-adds of the compacted model while fine-tuning, removing whole
    # input features and units on a schedule (l1lab.budget).
    target_multiply_adds: int | None = None
    # With a budget: hidden widths end on multiples of this (CPU kernels tile output channels).
    unit_multiple: int = 1
    # The article's flag this run was asked for by (``"regL1Try3"``), if any: a label.
    article_flag: str | None = None
    # The network (l1lab.zoo: "mlp" is the article's) and the images it learns.
    model: str = "mlp"
    dataset: str = "mnist"

    def validate(self) -> TrainConfig:
        """Checks every field.

        Raises:
          ValueError: the message names the field and what was received.
        """
        for name in ("epochs", "num_samples", "batch_size", "shuffle_buffer"):
            value = getattr(self, name)
            if not _is_int(value) or not 1 <= value <= INT_LIMITS.get(name, value):
                bound = INT_LIMITS.get(name, "any size")
                raise ValueError(f"`{name}` needs to be an integer from 1 to {bound}. Received: {name}={value!r}")
        check_positive("learning_rate", self.learning_rate)
        if not _is_int(self.finetune_epochs) or not 0 <= self.finetune_epochs < self.epochs:
            raise ValueError(
                f"`finetune_epochs` needs to be an integer from 0 to epochs - 1 = {self.epochs - 1} (the last "
                "epochs of the run fine-tune, after at least one epoch of the method). "
                f"Received: finetune_epochs={self.finetune_epochs!r}"
            )
        if self.target_sparsity is not None:
            self._validate_target()
        if not _is_int(self.unit_multiple) or self.unit_multiple < 1:
            raise ValueError(
                f"`unit_multiple` needs to be an integer >= 1. Received: unit_multiple={self.unit_multiple!r}"
            )
        from l1lab.model import HIDDEN_UNITS

        narrowest = min(HIDDEN_UNITS)
        if self.model == "mlp" and self.unit_multiple > narrowest:
            raise ValueError(
                f"`unit_multiple` needs to be at most the narrowest hidden layer's {narrowest} units. "
                f"Received: unit_multiple={self.unit_multiple}"
            )
        if self.unit_multiple != 1 and self.target_multiply_adds is None:
            raise ValueError(
                "`unit_multiple` shapes the widths a multiply-add budget leaves: set target_multiply_adds too. "
                f"Received: unit_multiple={self.unit_multiple}, target_multiply_adds=None"
            )
        if self.target_multiply_adds is not None:
            self._validate_budget()
        if not _is_int(self.seed) or not 0 <= self.seed <= INT_LIMITS["seed"]:
            raise ValueError(
                f"`seed` needs to be an integer from 0 to {INT_LIMITS['seed']}. Received: seed={self.seed!r}"
            )
        if self.model not in (*MODEL_NAMES, CALLERS):
            raise ValueError(f"`model` needs to be one of {MODEL_NAMES}. Received: model={self.model!r}")
        if self.dataset not in (*DATASETS, CALLERS):
            raise ValueError(f"`dataset` needs to be one of {DATASETS}. Received: dataset={self.dataset!r}")
        if self.split not in SPLITS:
            raise ValueError(f"`split` needs to be one of {SPLITS}. Received: split={self.split!r}")
        if self.pixel_scale not in PIXEL_SCALES:
            raise ValueError(
                f"`pixel_scale` needs to be one of {PIXEL_SCALES}. Received: pixel_scale={self.pixel_scale!r}"
            )
        self.options.validate(method_traits(self.method), self.model)
        if not (math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise ValueError(f"`epsilon` needs to be finite and >= 0. Received: epsilon={self.epsilon!r}")
        return self

    def _validate_target(self) -> None:
        check_target(self.target_sparsity)
        if not 1 <= self.finetune_epochs < self.epochs:
            raise ValueError(
                "a target sparsity is reached while fine-tuning, after at least one epoch of the method: "
                f"1 <= finetune_epochs < epochs. Received: finetune_epochs={self.finetune_epochs}, "
                f"epochs={self.epochs}"
            )

    def _validate_budget(self) -> None:
        budget = self.target_multiply_adds
        if not _is_int(budget) or budget < 1:
            raise ValueError(
                "`target_multiply_adds` needs to be a whole number of multiply-adds >= 1 (the compacted "
                f"model's cost per example). Received: target_multiply_adds={budget!r}"
            )
        # A CNN's smallest cost needs its graph: l1lab.train.Run checks it before training.
        smallest = smallest_multiply_adds(self.unit_multiple) if self.model == "mlp" else 1
        if budget < smallest:
            raise ValueError(
                f"`target_multiply_adds` needs to be at least {smallest}, the cost of the smallest model that "
                f"compaction leaves (one input, {max(1, self.unit_multiple)} unit(s) per hidden layer, "
                f"one per class). Received: target_multiply_adds={budget}"
            )
        if not 1 <= self.finetune_epochs < self.epochs:
            raise ValueError(
                "a multiply-add budget is reached while fine-tuning, after at least one epoch of the method: "
                f"1 <= finetune_epochs < epochs. Received: finetune_epochs={self.finetune_epochs}, "
                f"epochs={self.epochs}"
            )

    def load_data(self, data_dir=None):
        """The split this run trains and tests on (:func:`l1lab.data.load_mnist`; ``data_dir`` as there)."""
        from l1lab.data import load_mnist

        if self.dataset == CALLERS:
            raise ValueError("this run's data are its caller's: pass them to l1lab.train.Run(config, data=...)")
        return load_mnist(
            self.num_samples, pixel_scale=self.pixel_scale, data_dir=data_dir, split=self.split, dataset=self.dataset
        )

    def as_args(self) -> dict:
        """The ``args`` of the article's first event, in its camelCase."""
        return {
            "numEpochs": self.epochs,
            "numSamples": self.num_samples,
            "batchSize": self.batch_size,
            "learningRate": self.learning_rate,
            "shuffleBuffer": self.shuffle_buffer,
            "seed": self.seed,
            "pixelScale": self.pixel_scale,
            "split": self.split,
            "method": self.method,
            "l1": self.options.l1,
            "l1Layers": dict(self.options.l1_layers),
            "l1AllKernels": self.options.l1_all_kernels,
            "l1Biases": self.options.apply_to_biases,
            "initialAccumulator": self.options.initial_accumulator,
            "hideGpus": self.options.hide_gpus,
            "groupL1": self.options.group_l1,
            "groupInputs": dict(self.options.group_inputs),
            "groupUnits": dict(self.options.group_units),
            "channelL1": self.options.channel_l1,
            "slimmingL1": self.options.slimming_l1,
            "epsilonZero": self.epsilon,
            "finetuneEpochs": self.finetune_epochs,
            "targetSparsity": self.target_sparsity,
            "targetMultiplyAdds": self.target_multiply_adds,
            "unitMultiple": self.unit_multiple,
            "articleFlag": self.article_flag,
            "model": self.model,
            "dataset": self.dataset,
        }


DEFAULTS = TrainConfig()

# The fields of the ``args`` event that decide a run's numbers, apart from the
# seed (a golden file holds several). Not in it: ``articleFlag``, a label (the
# method and strengths it sets are). A new option that changes what a run
# computes goes here as well as in ``as_args``; at its default value it leaves
# every committed golden file valid (see :func:`identity`).
COMPUTED_ARGS = (
    "numEpochs",  # epochs trained
    "numSamples",  # data size: 5n train, n test images
    "batchSize",
    "learningRate",
    "shuffleBuffer",  # data order
    "pixelScale",  # raw or unit pixels
    "method",  # the optimizer and its update rule
    "l1",  # strengths
    "l1Layers",
    "l1AllKernels",
    "l1Biases",
    "initialAccumulator",
    "hideGpus",  # device choice: changes the kernels that run
    "epsilonZero",  # what counts as zero
    "groupL1",  # group lasso strengths (default 0: no group)
    "groupInputs",
    "groupUnits",
    "split",  # which images train and test (default "article")
    "finetuneEpochs",  # fine-tuning with the zeros held fixed (default 0)
    "targetSparsity",  # pruned by magnitude to a sparsity (default None)
    "targetMultiplyAdds",  # whole features and units pruned to a budget (default None)
    "unitMultiple",  # the budget's hidden widths on multiples of it (default 1)
    "channelL1",  # group lasso on channel groups (default 0)
    "slimmingL1",  # L1 on BatchNorm's gamma (default 0)
    "model",  # the network (default "mlp", the article's)
    "dataset",  # the images (default "mnist")
    # A caller's model and data (model and dataset CALLERS), by fingerprint (l1lab.fingerprints);
    # None for l1lab's own, which their names decide.
    "modelArchitecture",
    "dataChecksum",
    # The names of a scenario's own per-epoch metrics (None: it has none).
    "scenarioMetrics",
)
# The computed fields a TrainConfig does not hold (a scenario adds them), and their defaults.
FINGERPRINT_DEFAULTS = {"modelArchitecture": None, "dataChecksum": None}
SCENARIO_DEFAULTS = {**FINGERPRINT_DEFAULTS, "scenarioMetrics": None}


def identity(args: Mapping[str, Any]) -> dict:
    """The computed fields of an ``args`` mapping; a field it lacks reads as its default.

    Two configurations with equal identities compute the same numbers from the
    same seed on the same stack.
    """
    defaults = {**DEFAULTS.as_args(), **SCENARIO_DEFAULTS}
    return {key: args.get(key, defaults[key]) for key in COMPUTED_ARGS}


def identity_differences(expected: Mapping[str, Any], found: Mapping[str, Any]) -> dict:
    """``{field: (found, expected)}`` for each computed field on which two ``args`` mappings disagree."""
    want, have = identity(expected), identity(found)
    return {key: (have[key], want[key]) for key in COMPUTED_ARGS if have[key] != want[key]}
