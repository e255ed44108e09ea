"""A scenario's smoke test: does its method still run on this stack, and still make exact zeros?

The slow check trains a scenario for its epochs over its seeds; the smoke
test is what ``pytest -m "not slow"`` can afford for every scenario, in
seconds:

1. the probes of :mod:`l1lab.suite.doctor` that the scenario's method needs
   (TensorFlow's v1 ProximalAdagrad through ``tf.Variable``, l1lab's optimizers
   in a compiled and an XLA step, Keras's Ftrl);
2. one epoch of the scenario's run on a slice of its data (seed 0; its
   ``smoke_examples``, by default the first 2,048 training and 512 test
   examples), and, where
   the scenario fine-tunes, one fine-tuning epoch after it, with its target
   or budget;
3. its per-epoch measurements (what compaction keeps, the TFLM file) on the
   result, where the scenario records them;
4. the finding: losses finite, and, for a method whose update makes exact
   zeros (:attr:`l1lab.methods.MethodSpec.exact_zeros`), that it makes them
   on this model: one step of the method with its strengths multiplied by
   :data:`STRONG` on a zero gradient sets weights that were nonzero to exactly
   zero (a slice of an epoch is too short for group lasso to remove a group:
   ds-cnn's channel groups need thousands of steps). A run that prunes to a
   target or a budget must have made zeros in its fine-tuning epoch.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np


class SmokeFailure(AssertionError):
    """The scenario's method does not run, or makes no zeros, on this stack; the message says which."""


@dataclasses.dataclass(frozen=True)
class SmokeResult:
    """What one smoke run found."""

    scenario: str
    probes: list  # doctor.Probe, each ok
    epochs: int
    seconds: float
    new_zeros: int  # weights nonzero at initialisation, exactly zero at the end
    weights: int
    measurements: dict  # the last epoch's metrics and the scenario's per-epoch figures
    strong_zeros: int | None = None  # weights the strong step set to zero (None: the method makes no zeros)
    examples: tuple[int, int] = (0, 0)  # the slice trained and tested on

    def summary(self) -> str:
        figures = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in self.measurements.items()
        )
        return (
            f"{self.scenario}: {len(self.probes)} probe(s) ok, {self.epochs} epoch(s) in {self.seconds:.1f} s "
            f"on {self.examples[0]:,} training and {self.examples[1]:,} test examples, "
            f"{self.new_zeros} of {self.weights} weights made exactly zero"
            + ("" if self.strong_zeros is None else f" ({self.strong_zeros} by a strong step)")
            + f"; {figures}"
        )


def smoke_data(split, train: int, test: int):
    """The first ``train`` training and ``test`` test examples of a split."""
    return dataclasses.replace(
        split,
        x_train=split.x_train[:train],
        y_train=split.y_train[:train],
        x_test=split.x_test[:test],
        y_test=split.y_test[:test],
    )


def run_smoke(scenario, *, train: int | None = None, test: int | None = None) -> SmokeResult:
    """Smoke-tests ``scenario`` (a :class:`l1lab.suite.scenarios.Scenario`); see the module doc.

    Args:
      scenario: the scenario.
      train: training examples of the slice (default: the scenario's ``smoke_examples``).
      test: test examples of the slice (default: the scenario's).

    Returns:
      What it found.

    Raises:
      SmokeFailure: a probe fails, a loss is not finite, or no weight became
        exactly zero where the method or the run's pruning should make some.
    """
    from l1lab import methods
    from l1lab import train as train_lib
    from l1lab.suite import doctor
    from l1lab.suite.scenarios import measurement_hooks

    probes = doctor.probes_for(scenario.method)
    broken = [p for p in probes if p.status != doctor.OK]
    if broken:
        raise SmokeFailure(
            f"{scenario.name}: method {scenario.method!r} does not work on this stack: "
            + "; ".join(f"probe '{p.name}' fails ({p.detail})" for p in broken)
        )
    finetuning = 1 if scenario.finetune_epochs else 0
    config = dataclasses.replace(scenario.config(), epochs=1 + finetuning, finetune_epochs=finetuning)
    default_train, default_test = scenario.smoke_examples
    data = smoke_data(scenario.load_data(), train or default_train, test or default_test)
    started = time.monotonic()
    run = train_lib.Run(config, data, model=scenario.model if scenario.callers_model else None)
    before = [np.asarray(v.numpy()) for v in run.model.trainable_variables]
    events = [e for e in run.events() if e["event"] == "measure_test"]
    after = [np.asarray(v.numpy()) for v in run.model.trainable_variables]
    measurements = {k: events[-1][k] for k in ("inacc_train", "inacc_test", "ent_train", "ent_test")}
    for hook in measurement_hooks(scenario, data):
        measurements.update(hook(run.model))
    seconds = time.monotonic() - started
    new_zeros = int(sum(np.count_nonzero((b != 0) & (a == 0)) for b, a in zip(before, after)))
    weights = int(sum(b.size for b in before))
    if not all(math.isfinite(events[-1][k]) for k in ("ent_train", "ent_test")):
        raise SmokeFailure(f"{scenario.name}: the loss is not finite after {len(events)} epoch(s): {measurements}")
    prunes = scenario.target_sparsity is not None or scenario.target_multiply_adds is not None
    if prunes and not new_zeros:
        raise SmokeFailure(
            f"{scenario.name}: its fine-tuning pruned no weight to exactly zero on {len(data.x_train)} examples "
            f"(of {weights} weights; target sparsity {scenario.target_sparsity}, "
            f"budget {scenario.target_multiply_adds})"
        )
    strong_zeros = None
    if methods.get_method(scenario.method).exact_zeros:
        strong_zeros = strong_step_zeros(run.model, config)
        if not strong_zeros:
            raise SmokeFailure(
                f"{scenario.name}: method {scenario.method!r} sets no weight to exactly zero on this model and stack: "
                f"one step at {STRONG:g} times its strengths ({scenario.options}) on a zero gradient left all "
                f"{weights} weights as they were"
            )
    examples = (len(data.y_train), len(data.y_test))
    return SmokeResult(
        scenario.name, probes, len(events), seconds, new_zeros, weights, measurements, strong_zeros, examples
    )


# The factor on a method's strengths for the step that must make zeros: lr * c * STRONG exceeds any weight
# of a model that trains (c = 1e-3 and lr = 1e-3 give a threshold of 1,000).
STRONG = 1e9


def strong_step_zeros(model, config) -> int:
    """How many nonzero weights of ``model`` one step of ``config``'s method sets to exactly zero.

    The method's optimizer is built for the model with every strength
    multiplied by :data:`STRONG`, and applies one zero gradient: a proximal
    step (or FTRL's) then zeros every weight it thresholds. The model is
    changed.
    """
    from l1lab import methods
    from l1lab._compat import tf

    options = config.options
    scaled = dataclasses.replace(
        options,
        l1=options.l1 * STRONG,
        l1_layers=tuple((name, c * STRONG) for name, c in options.l1_layers),
        group_l1=options.group_l1 * STRONG,
        group_inputs=tuple((name, c * STRONG) for name, c in options.group_inputs),
        group_units=tuple((name, c * STRONG) for name, c in options.group_units),
        channel_l1=options.channel_l1 * STRONG,
        slimming_l1=options.slimming_l1 * STRONG,
    )
    variables = model.trainable_variables
    # The run's options were checked for this model when it was set up.
    optimizer = methods.get_method(config.method).make_optimizer(scaled, config.learning_rate, model)
    optimizer.build(variables)
    before = [np.asarray(v.numpy()) for v in variables]
    optimizer.apply_gradients([(tf.zeros_like(v), v) for v in variables])
    after = [np.asarray(v.numpy()) for v in variables]
    return int(sum(np.count_nonzero((b != 0) & (a == 0)) for b, a in zip(before, after)))
