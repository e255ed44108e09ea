"""The sweep's presets: its methods and their values, the settings every point shares, the plan.

A point is one method at one value (a target sparsity, a multiply-add budget or
an L1 strength) and one seed, trained on one network (the article's by default,
or a CNN of :mod:`l1lab.zoo`) on the standard split of MNIST or Fashion-MNIST.
The article's network and a CNN have methods of their own (:func:`methods_for`):
a CNN loses whole channels where the article's network loses pixels and units.
This module imports no TensorFlow: the command line and
:mod:`l1lab.suite.scenarios` read it at parse and import time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from l1lab.config import MODEL_NAMES, MethodOptions, TrainConfig
from l1lab.data import DATASETS

__all__ = [
    "CHANNEL_METHODS",
    "METHODS",
    "TFMOT_METHODS",
    "Point",
    "SweepError",
    "SweepSettings",
    "check_values",
    "formats_for",
    "methods_for",
    "plan",
    "train_config",
]


class SweepError(ValueError):
    """A sweep that cannot run as asked; the message names what to change."""


DENSE = "dense"
TFMOT = "tfmot"
TFMOT_DECAY = "tfmot-decay"
# TF-MOT's runs: as its guide trains (a constant rate), and at its best (the rate decayed after pruning).
TFMOT_METHODS = (TFMOT, TFMOT_DECAY)
# The frontier's targets: five per method keep the sweep, with both TF-MOT runs and the
# microcontroller files, within 30 minutes on 2 cores (3 seeds, --jobs 2).
TARGETS = (0.5, 0.8, 0.9, 0.95, 0.97)
# method -> (what its value is, the default values). l1lab's methods and TF-MOT take the same
# target sparsities, so they compare at equal sparsity; Ftrl has no target, only a strength.
METHODS: dict[str, tuple[str, tuple[float, ...]]] = {
    DENSE: ("none", (0.0,)),
    "l1lab-group": ("target", TARGETS),
    # l1lab-l1 trails l1lab-group at every target (docs/sweep.md): the targets P1 judges, and 0.8.
    "l1lab-l1": ("target", (0.8, 0.9, 0.95)),
    # Multiply-adds of the compacted model (l1lab.budget), from where a batch-1 forward pass
    # costs little more than the interpreter's call (about 3,500: 1.4 µs here, against 1.0 µs
    # for a model of 12) to 12,000, the float candidate of P4 in docs/sweep.md.
    "l1lab-budget": ("budget", (3000, 5000, 8000, 12000)),
    # Measured (3 seeds, 20 epochs): 1e-3 -> 28% sparsity at 2.8% error, 5e-3 -> 52% at 3.1%,
    # 1e-2 -> 72-80% at 3.7-4.4%; from 2e-2 on a seed can lose every weight (88.65% error).
    "ftrl": ("l1", (1e-3, 5e-3, 1e-2, 1.5e-2)),
    # l1lab's fine-tuning schedule with no L1 and no group lasso: what the schedule alone gives,
    # the ablation that shows what L1 and group lasso add.
    "l1lab-prune": ("target", (0.9, 0.95)),
    TFMOT: ("target", TARGETS),
    TFMOT_DECAY: ("target", TARGETS),
}
# The strengths of l1lab's methods before fine-tuning prunes to the target (l1lab.target).
# l1lab-group: group lasso on the input pixels (dense_1's rows) and on the hidden units
# (columns), beside a little element-wise L1; the rows of dense_2 and predictions are units
# already grouped as columns, so not again. Measured at target 0.9 (seed 0, 20 epochs, 10
# fine-tuning): pixels/units 1e-3/3e-4 -> 2.04% error, 406 inputs, 55+63 units; 3e-3/3e-3 ->
# 2.25%, 422 inputs, 38+36 units; 6e-3/6e-3 -> 3.13%, 429 inputs, 23+30 units.
ELEMENT_L1 = 1e-4
GROUP_PIXELS = 3e-3
GROUP_UNITS = 3e-3
L1_OPTIONS = MethodOptions(l1=ELEMENT_L1)
# l1lab-budget: l1lab-group's strengths; fine-tuning removes whole pixels and units down to the
# budget and single weights down to this sparsity, so that the float-sparse file is small too
# (TF-MOT's 90% float-sparse file is 36 KB; half of it holds about 2,700 nonzero weights, 95%
# of the seed network's). Measured (seed 0, budget 12,000): 2.59% error, 315 pixels, 63 units.
BUDGET_SPARSITY = 0.95
# Hidden widths on multiples of 16: XNNPACK's float kernels on AVX-512 compute 16 output
# channels at a time (8 on NEON, which 16 also suits). Measured, 315 inputs: 32-32-10 units
# 1.76 µs, 34-29-10 2.65 µs, 31-32-10 3.60 µs per invoke.
BUDGET_UNIT_MULTIPLE = 16
GROUP_OPTIONS = MethodOptions(
    l1=ELEMENT_L1,
    group_inputs=(("dense_1", GROUP_PIXELS), ("dense_2", 0.0), ("predictions", 0.0)),
    group_units=(("dense_1", GROUP_UNITS), ("dense_2", GROUP_UNITS)),
)

# A CNN's sweep (l1lab.zoo's models): TF-MOT's guide prunes to 80%; 90% beside it.
CHANNEL_TARGETS = (0.8, 0.9)
# Group lasso on every coupled channel group, and network slimming (L1 on BatchNorm's γ and
# β). Measured on ds-cnn, Fashion-MNIST, 6 epochs of which 3 fine-tune, seed 0 (docs/cnn.md):
# channel 0.02 -> 53 of 128 groups removed, 181,373 multiply-adds, 13.77% error; slimming
# 0.02 -> 62 removed, 148,670, 17.21%.
CHANNEL_L1 = 0.02
SLIMMING_L1 = 0.02
CHANNEL_OPTIONS = MethodOptions(channel_l1=CHANNEL_L1)
SLIMMING_OPTIONS = MethodOptions(slimming_l1=SLIMMING_L1)
# l1lab-budget on a CNN: group lasso, then whole channel groups removed down to a third and a
# quarter of the dense model's multiply-adds (the CNN targets ask for 3x fewer). No single
# weights are pruned: TFLM stores a kernel's zeros (it has no sparse format), so they would cost
# accuracy and save no flash or time there.
CHANNEL_BUDGETS = {"tfmot-cnn": (23_000, 31_000), "ds-cnn": (110_000, 147_000), "resnet8": (161_000, 215_000)}
# Network slimming needs BatchNorm; TF-MOT's guide's CNN has none.
WITHOUT_BATCHNORM = ("tfmot-cnn",)
# method -> (what its value is, the default values) for a CNN; l1lab-budget's per model.
CHANNEL_METHODS: dict[str, tuple[str, tuple[float, ...]]] = {
    DENSE: ("none", (0.0,)),
    "l1lab-channel": ("target", CHANNEL_TARGETS),
    "l1lab-slimming": ("target", CHANNEL_TARGETS),
    "l1lab-budget": ("budget", ()),
    # Keras's Ftrl with L1 on every weight: no channel is removed on purpose.
    "ftrl": ("l1", (1e-3,)),
    "l1lab-prune": ("target", CHANNEL_TARGETS),
    TFMOT: ("target", CHANNEL_TARGETS),
    TFMOT_DECAY: ("target", CHANNEL_TARGETS),
}


def methods_for(model: str = "mlp") -> dict[str, tuple[str, tuple[float, ...]]]:
    """The sweep's methods for ``model``: :data:`METHODS` for the article's network, else a CNN's.

    Raises:
      SweepError: an unknown model.
    """
    if model not in MODEL_NAMES:
        raise SweepError(f"`model` needs to be one of {MODEL_NAMES}. Received: model={model!r}")
    if model == "mlp":
        return METHODS
    methods = dict(CHANNEL_METHODS)
    methods["l1lab-budget"] = ("budget", CHANNEL_BUDGETS[model])
    if model in WITHOUT_BATCHNORM:
        del methods["l1lab-slimming"]
    return methods


@dataclasses.dataclass(frozen=True)
class SweepSettings:
    """What every point shares: the network, the data set's standard split (pixels / 255), the budget.

    :meth:`for_model` gives a CNN's defaults (fewer epochs, a smaller rate).
    """

    epochs: int = 20
    learning_rate: float = 0.1
    batch_size: int = 64
    num_samples: int = 10_000  # the standard split: 6n training images, n of the test file
    # l1lab's methods: the last half of the epochs fine-tune (zeros held fixed); TF-MOT: the
    # first half trains dense. Ftrl trains every epoch as Keras's Ftrl.
    finetune_fraction: float = 0.5
    model: str = "mlp"  # the article's network, or one of l1lab.zoo's CNNs
    dataset: str = "mnist"

    @classmethod
    def for_model(cls, model: str = "mlp", dataset: str = "mnist", **given) -> SweepSettings:
        """The settings of a sweep of ``model`` on ``dataset``; ``given`` fields (not None) override the defaults.

        A CNN trains 6 epochs (3 of them fine-tuning) at a rate of 0.05: the
        ``cnn-channels`` scenario's budget (ds-cnn: 13-15 s an epoch here).
        """
        defaults = {} if model == "mlp" else {"epochs": 6, "learning_rate": 0.05}
        given = {key: value for key, value in given.items() if value is not None}
        return cls(model=model, dataset=dataset, **{**defaults, **given})

    @property
    def finetune_epochs(self) -> int:
        return int(round(self.epochs * self.finetune_fraction))

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> SweepSettings:
        """Checks what every point's training needs, before any point trains.

        Raises:
          SweepError: epochs below 2 (fine-tuning needs an epoch of the method), a sample count
            outside 1..10,000, a learning rate that is not finite and > 0, or a batch below 1.
        """
        for name, low, high in (("epochs", 2, 10_000), ("num_samples", 1, 10_000), ("batch_size", 1, 60_000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise SweepError(f"`{name}` needs to be an integer from {low} to {high}. Received: {name}={value!r}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < float("inf")):
            raise SweepError(
                f"`learning_rate` needs to be finite and > 0. Received: learning_rate={self.learning_rate!r}"
            )
        methods_for(self.model)  # refuses an unknown model
        if self.dataset not in DATASETS:
            raise SweepError(f"`dataset` needs to be one of {DATASETS}. Received: dataset={self.dataset!r}")
        if not 1 <= self.finetune_epochs < self.epochs:
            raise SweepError(
                f"`finetune_fraction` needs to leave 1 to epochs - 1 fine-tuning epochs. "
                f"Received: finetune_fraction={self.finetune_fraction!r} of epochs={self.epochs}"
            )
        return self


@dataclasses.dataclass(frozen=True)
class Point:
    """One trained model of the sweep."""

    method: str
    value: float
    seed: int

    @property
    def key(self) -> str:
        return f"{self.method}_{self.value:g}_s{self.seed}"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def plan(methods: Sequence[str], seeds: Sequence[int], values: dict | None = None, model: str = "mlp") -> list[Point]:
    """Every point of the sweep: each method's values (``values[method]`` or the defaults) times the seeds.

    Args:
      methods: names of ``model``'s methods (:func:`methods_for`); the dense model is added first
        when missing (the ratios' base).
      seeds: the seeds of every point.
      values: a method's own values instead of its defaults: target sparsities in (0, 1), whole
        multiply-add budgets >= 1 or Ftrl's finite strengths >= 0, by the method's kind.
      model: the network the points train (:data:`l1lab.config.MODEL_NAMES`).

    Raises:
      SweepError: an unknown model or method, no seed, values for a method that is not swept or for the
        dense model, or values outside their kind's range.
    """
    known = methods_for(model)
    methods = list(dict.fromkeys([DENSE, *methods]))
    unknown = sorted(set(methods) - set(known))
    if unknown:
        raise SweepError(
            f"`methods` needs to be among {sorted(known)} for model {model!r}. Received: methods={list(methods)}"
        )
    seeds = [int(seed) for seed in seeds]
    if not seeds or any(seed < 0 for seed in seeds):
        raise SweepError(f"`seeds` needs to hold at least one seed >= 0. Received: seeds={seeds}")
    values = dict(values or {})
    for method, numbers in values.items():
        check_values(method, numbers, methods, model)
    return [
        Point(method, float(value), seed)
        for method in methods
        for value in values.get(method, known[method][1])
        for seed in seeds
    ]


def check_values(
    method: str, numbers: Sequence[float], methods: Sequence[str] | None = None, model: str = "mlp"
) -> tuple[float, ...]:
    """A method's sweep values, checked against its kind (``methods_for(model)``); returns them as floats.

    Raises:
      SweepError: an unknown model or method, the dense model (it has no value), a method not in
        ``methods``, no value, a repeated value, or a value outside its kind's range.
    """
    known = methods_for(model)
    if method not in known:
        raise SweepError(f"`values` for {method!r}: the methods for model {model!r} are {sorted(known)}")
    kind = known[method][0]
    if kind == "none":
        raise SweepError(f"`values` for {method!r}: the dense model has none (it is trained once per seed)")
    if methods is not None and method not in methods:
        raise SweepError(f"`values` for {method!r}, which is not swept: add it to the methods, or drop its values")
    numbers = tuple(float(v) for v in numbers)
    if not numbers or len(set(numbers)) != len(numbers):
        raise SweepError(f"`values` for {method!r} need to be distinct and at least one. Received: {list(numbers)}")
    if kind == "target" and not all(0 < v < 1 for v in numbers):
        raise SweepError(f"`values` for {method!r} are target sparsities between 0 and 1. Received: {list(numbers)}")
    if kind == "budget" and not all(v >= 1 and v == int(v) for v in numbers):
        raise SweepError(f"`values` for {method!r} are whole numbers of multiply-adds >= 1. Received: {list(numbers)}")
    if not all(0 <= v < float("inf") for v in numbers):
        raise SweepError(f"`values` for {method!r} are finite strengths >= 0. Received: {list(numbers)}")
    return numbers


def train_config(point: Point, settings: SweepSettings):
    """The :class:`l1lab.config.TrainConfig` of an l1lab point (every method but TF-MOT's two)."""
    common = dict(
        model=settings.model,
        dataset=settings.dataset,
        epochs=settings.epochs,
        num_samples=settings.num_samples,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        seed=point.seed,
        pixel_scale="unit",
        split="standard",
    )
    if point.method == DENSE:
        return TrainConfig(method="sgd", **common)
    if point.method == "ftrl":
        return TrainConfig(method="ftrl", options=MethodOptions(l1=point.value), **common)
    if point.method == "l1lab-prune":
        return TrainConfig(
            method="sgd", finetune_epochs=settings.finetune_epochs, target_sparsity=point.value, **common
        )
    # l1lab's methods: proximal SGD, then fine-tuning to a target sparsity or a budget.
    if settings.model != "mlp":
        options, targets = _channel_method(point)
    elif point.method == "l1lab-l1":
        options, targets = L1_OPTIONS, dict(target_sparsity=point.value)
    elif point.method == "l1lab-group":
        options, targets = GROUP_OPTIONS, dict(target_sparsity=point.value)
    elif point.method == "l1lab-budget":
        options = GROUP_OPTIONS
        targets = dict(
            target_multiply_adds=int(point.value), unit_multiple=BUDGET_UNIT_MULTIPLE, target_sparsity=BUDGET_SPARSITY
        )
    else:
        raise SweepError(f"no l1lab configuration for method {point.method!r}")
    return TrainConfig(
        method="proximal-sgd", options=options, finetune_epochs=settings.finetune_epochs, **targets, **common
    )


def _channel_method(point: Point) -> tuple[MethodOptions, dict]:
    """A CNN's l1lab method: its structured L1 and where fine-tuning takes it."""
    if point.method == "l1lab-channel":
        return CHANNEL_OPTIONS, dict(target_sparsity=point.value)
    if point.method == "l1lab-slimming":
        return SLIMMING_OPTIONS, dict(target_sparsity=point.value)
    if point.method == "l1lab-budget":
        return CHANNEL_OPTIONS, dict(target_multiply_adds=int(point.value))
    raise SweepError(f"no l1lab configuration for method {point.method!r} on a CNN")


def formats_for(method: str, model: str = "mlp") -> tuple[bool, tuple[str, ...]]:
    """``(compacted, formats)``: how the method's users ship ``model`` trained by ``method``."""
    if method == DENSE:
        return False, ("float", "int8")
    # A CNN's int8-sparse file does not run: XNNPACK fails to prepare its sparse int8 Dense layer
    # after Flatten ("failed to delegate FULLY_CONNECTED node", tfmot-cnn, LiteRT 2.3).
    int8 = ("int8", "int8-sparse") if model == "mlp" else ("int8",)
    if method.startswith("l1lab"):
        # Compacted, and still sparse inside: fine-tuning's magnitude pruning zeros single weights.
        return True, ("float", "float-sparse", *int8)
    return False, ("float-sparse", *int8)
