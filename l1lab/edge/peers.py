"""The tool edge engineers use now, run for real: TF-MOT's magnitude pruning.

TensorFlow Model Optimization's ``prune_low_magnitude`` with a
``PolynomialDecay`` schedule, trained with ``model.fit`` as its guide trains it,
then ``strip_pruning``: what a TF-MOT user ships. l1lab runs it on the same
network, data, epoch budget and learning rate as its own methods:

* ``epochs`` in all; the first ``dense_epochs`` (default half) train dense, then
  sparsity rises from 0 to ``target`` over the next 3/4 of the remaining steps
  (pruning every 100 steps, the target reached on a pruning step), and the last quarter recovers at ``target``;
* every Dense and conv kernel is pruned (TF-MOT's registry: biases and
  BatchNorm's parameters are not), of the article's network or a zoo model
  (:mod:`l1lab.zoo`, ``model``);
* with ``decay``, the learning rate is constant until pruning ends, then falls
  along a half cosine over the recovery steps, as l1lab's fine-tuning decays it
  over its holding epochs (:func:`l1lab.finetune.learning_rate`): the peer at
  its best, not only as its guide runs it.

TF-MOT 0.8 needs Keras 2 (``tf_keras``; Keras 3 support is its open issue
#1119), so this module works only in a process started with
``TF_USE_LEGACY_KERAS=1``; ``l1lab sweep`` starts one per point. The other peer,
Keras's ``Ftrl`` with an L1 strength, is l1lab's ``ftrl`` method.

References:
  Zhu and Gupta, "To prune, or not to prune: exploring the efficacy of pruning
  for model compression", 2017 (the polynomial schedule).
  https://www.tensorflow.org/model_optimization/guide/pruning/pruning_with_keras
"""

from __future__ import annotations

import dataclasses

import numpy as np

from l1lab import data as data_lib
from l1lab import sparsity, zoo
from l1lab._compat import KERAS_FLAVOUR, keras, tf
from l1lab.model import build_model, shaped_for

__all__ = ["PeerUnavailable", "PruningConfig", "train_magnitude_pruning"]

PRUNING_FREQUENCY = 100  # steps between two pruning updates (TF-MOT's default)


class PeerUnavailable(RuntimeError):
    """The peer cannot run in this process; the message says how to make it run."""


def require_tfmot():
    """TF-MOT's module, or a clear error.

    Raises:
      PeerUnavailable: TF-MOT is not installed, or this process runs Keras 3.
    """
    if KERAS_FLAVOUR != "keras2":
        raise PeerUnavailable(
            "TF-MOT's pruning needs Keras 2: run it in a process started with TF_USE_LEGACY_KERAS=1 "
            "(l1lab sweep does this for you)"
        )
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError as exc:
        raise PeerUnavailable(
            "TF-MOT is not installed: pip install 'l1lab[peers]' (tensorflow-model-optimization and tf_keras)"
        ) from exc
    return tfmot


@dataclasses.dataclass(frozen=True)
class PruningConfig:
    """One TF-MOT run: the target sparsity of the kernels and the training budget."""

    target: float
    epochs: int = 20
    dense_epochs: int | None = None  # default: half of ``epochs``
    learning_rate: float = 0.1
    batch_size: int = 64
    seed: int = 0
    decay: bool = False  # a half-cosine learning-rate decay after pruning ends
    model: str = "mlp"  # the network: the article's, or one of l1lab.zoo's

    def validate(self) -> PruningConfig:
        if not (isinstance(self.target, (int, float)) and 0 < self.target < 1):
            raise ValueError(f"`target` needs to be a sparsity between 0 and 1. Received: target={self.target!r}")
        if not (isinstance(self.epochs, int) and self.epochs >= 2):
            raise ValueError(f"`epochs` needs to be an integer >= 2. Received: epochs={self.epochs!r}")
        if not (0 <= self.pruning_start < self.epochs):
            raise ValueError(
                f"`dense_epochs` needs to be from 0 to epochs - 1 = {self.epochs - 1}. "
                f"Received: dense_epochs={self.dense_epochs!r}"
            )
        return self

    @property
    def pruning_start(self) -> int:
        return self.epochs // 2 if self.dense_epochs is None else self.dense_epochs


def schedule_steps(config: PruningConfig, steps_per_epoch: int) -> tuple[int, int, int]:
    """``(begin_step, end_step, frequency)`` of the polynomial schedule.

    From the dense phase's end over 3/4 of the remaining steps, rounded down to
    whole pruning periods: TF-MOT prunes only on steps ``begin + k * frequency``
    up to ``end``, so the target is reached only if ``end`` is one of them.
    """
    begin = config.pruning_start * steps_per_epoch
    span = (3 * (config.epochs * steps_per_epoch - begin)) // 4
    frequency = max(1, min(PRUNING_FREQUENCY, span))
    return begin, begin + max(1, span // frequency) * frequency, frequency


def _decaying_rate(base: float, decay_start: int, total_steps: int):
    r"""Fine-tuning's decay (:func:`l1lab.finetune.learning_rate`) per step, as a Keras learning-rate schedule.

    With :math:`s` the step pruning ends on and :math:`T` the steps in all, the
    rate of step :math:`t` is :math:`\eta` before :math:`s`, then
    :math:`\tfrac{\eta}{2}(1 + \cos \frac{\pi (t - s + 1)}{T - s + 1})`: fine-tuning's
    formula with its epochs read as steps and its :math:`T - s` holding ones.
    """

    class HalfCosineAfterPruning(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            progress = (step - decay_start + 1.0) / float(total_steps - decay_start + 1)
            decayed = base * 0.5 * (1.0 + tf.cos(np.pi * progress))
            return tf.where(step < decay_start, tf.constant(base, tf.float32), decayed)

        def get_config(self):
            return {"base": base, "decay_start": decay_start, "total_steps": total_steps}

    return HalfCosineAfterPruning()


def train_magnitude_pruning(config: PruningConfig, split: data_lib.MnistSplit):
    """Trains the seed network with TF-MOT's magnitude pruning; returns ``(model, metrics)``.

    Args:
      config: the target and the budget.
      split: the data (``x_test`` is what the error is measured on).

    Returns:
      ``(model, metrics)``: the stripped Keras 2 model and
      ``{"inacc_test", "ent_test", "num_nonzero", "sparsity"}``, counted as l1lab counts.

    Raises:
      PeerUnavailable: see :func:`require_tfmot`.
      ValueError: a bad configuration.
    """
    tfmot = require_tfmot()
    config.validate()
    keras.utils.set_random_seed(config.seed)
    steps_per_epoch = -(-len(split.x_train) // config.batch_size)
    begin, end, frequency = schedule_steps(config, steps_per_epoch)
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=float(config.target), begin_step=begin, end_step=end, frequency=frequency
    )
    network = build_model(seed=config.seed) if config.model == "mlp" else zoo.build(config.model, seed=config.seed)
    x_train, x_test = (shaped_for(network, x) for x in (split.x_train, split.x_test))
    model = tfmot.sparsity.keras.prune_low_magnitude(network, pruning_schedule=schedule)
    rate = config.learning_rate
    if config.decay:
        rate = _decaying_rate(config.learning_rate, end, config.epochs * steps_per_epoch)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices((x_train, split.y_train))
        .shuffle(len(split.x_train), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
    )
    model.fit(dataset, epochs=config.epochs, verbose=0, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(model)
    logits = stripped.predict(x_test, batch_size=1000, verbose=0).astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    counts = sparsity.count_nonzero(stripped)
    metrics = {
        "inacc_test": float(np.mean(np.argmax(logits, axis=1) != split.y_test)),
        "ent_test": float(-log_probs[np.arange(len(split.y_test)), split.y_test].mean()),
        "num_nonzero": counts,
        "sparsity": sparsity.fraction_zero(counts[sparsity.TOTAL]),
    }
    return stripped, metrics
