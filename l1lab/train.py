"""The article's training loop, compiled: one TensorFlow program per epoch.

The article looped in Python over a ``tf.data`` pipeline and called Keras's
``evaluate`` after each epoch. Here the data live as tensors on the device;
an epoch is one ``tf.function`` whose ``tf.while_loop`` gathers each batch by
index and applies one step, and the evaluation on train and test is one
more compiled call. Python runs once per epoch, to count zeros and emit the
article's ``measure_test`` event.

Data order follows the article: ``shuffle(buffer_size=1024)`` then batches
of 64. The order is drawn by ``tf.data`` over indices (the same buffered
shuffle, reshuffled each epoch), seeded by ``seed``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from l1lab import budget as budget_lib
from l1lab import channel_budget, sparsity, structure
from l1lab import data as data_lib
from l1lab import events as events_lib
from l1lab import finetune as finetune_lib
from l1lab import methods as methods_lib
from l1lab import model as model_lib
from l1lab import target as target_lib
from l1lab._compat import keras, tf, tf_variable, versions
from l1lab.config import CALLERS, TrainConfig

__all__ = ["CALLERS", "CompiledLoop", "Run", "TrainConfig", "choose_compilation", "epoch_orders", "train"]


def _cross_entropy(labels, logits):
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def choose_compilation(variables, device_ops=()) -> tuple[bool, str]:
    """``(jit_compile, reason)`` for the epoch loop: XLA where the variables live on a GPU.

    On a GPU graph mode pays a kernel launch per op (the article's epoch took
    0.68 s on an H100 in graph mode, 0.26 s under XLA); on the CPU XLA's while
    loops run far slower than graph mode. Methods that call TensorFlow's raw
    training kernels (``device_ops``) stay in graph mode, where those kernels are
    known to run.
    """
    on_gpu = any("GPU" in (tf_variable(v).device or "") for v in variables)
    if not on_gpu:
        return False, "graph mode: the variables are on the CPU"
    if device_ops:
        return False, f"graph mode: the method runs {', '.join(device_ops)}"
    return True, "XLA: the variables are on a GPU"


class CompiledLoop:
    """One epoch of training, and one evaluation, each a single compiled call.

    With ``masks`` (one per trainable variable, see :mod:`l1lab.finetune`) the
    step masks the gradients, so the zeros stay zero, and ``penalties=False``
    leaves the regularizers' penalties out of the loss.
    """

    def __init__(
        self,
        model,
        optimizer,
        x_train,
        y_train,
        *,
        batch_size: int,
        jit_compile: bool = False,
        masks=None,
        penalties: bool = True,
    ):
        self.model = model
        self.optimizer = optimizer
        # Variables, not constants: a target sparsity's schedule changes them between epochs
        # (set_masks) without retracing the compiled epoch.
        self.masks = None if masks is None else [tf.Variable(m, trainable=False) for m in masks]
        self.penalties = bool(penalties)
        self.variables = list(model.trainable_variables)
        self.x_train = tf.convert_to_tensor(x_train, tf.float32)
        self.y_train = tf.convert_to_tensor(y_train, tf.int32)
        self.num_examples = int(self.x_train.shape[0])
        self.batch_size = int(batch_size)
        self.num_batches = -(-self.num_examples // self.batch_size)
        # Graph mode by default: XLA's while loops run far slower on CPU (see choose_compilation).
        self.jit_compile = bool(jit_compile)
        self.train_epoch = tf.function(self._train_epoch, jit_compile=self.jit_compile)
        self._evaluate_compiled = tf.function(self._evaluate, jit_compile=self.jit_compile)
        # A CNN's activations for 60,000 images at once take gigabytes: it is evaluated in chunks.
        # A Dense stack's are small, and its evaluation stays one call, as its golden files were made.
        self.eval_chunk = self.EVAL_CHUNK if len(self.x_train.shape) > 2 else None

    def set_masks(self, masks) -> None:
        """Replaces the masks of a loop built with masks (same shapes)."""
        for variable, mask in zip(self.masks, masks, strict=True):
            variable.assign(mask)

    def loss(self, x, y, training: bool = True):
        logits = self.model(x, training=training)
        loss = tf.reduce_mean(_cross_entropy(y, logits))
        # The penalties of kernel regularizers are part of the objective; the
        # article's loop dropped them (docs/article.md, defect 1).
        penalties = self.model.losses if self.penalties else []
        if penalties:
            loss = loss + tf.add_n(penalties)
        return loss

    def train_step(self, x, y):
        with tf.GradientTape() as tape:
            loss = self.loss(x, y)
        gradients = tape.gradient(loss, self.variables)
        if self.masks is not None:
            gradients = finetune_lib.mask_gradients(gradients, self.masks)
        self.optimizer.apply_gradients(zip(gradients, self.variables))
        return loss

    def _train_epoch(self, order):
        """Trains one pass over ``x_train`` in the given example order (or over the examples ``order`` names)."""
        batch = self.batch_size
        num_batches = -(-int(order.shape[0]) // batch)  # static: one trace per length of order
        for i in tf.range(num_batches):
            indices = order[i * batch : (i + 1) * batch]
            self.train_step(tf.gather(self.x_train, indices), tf.gather(self.y_train, indices))

    EVAL_CHUNK = 2048

    def evaluate(self, x, y):
        """Mean cross-entropy and accuracy of the model on (x, y), in chunks of :attr:`eval_chunk` if set."""
        n = int(x.shape[0])
        if self.eval_chunk is None or n <= self.eval_chunk:
            return self._evaluate_compiled(x, y)
        entropy = accuracy = 0.0
        for start in range(0, n, self.eval_chunk):
            part = slice(start, min(n, start + self.eval_chunk))
            size = part.stop - part.start
            chunk_entropy, chunk_accuracy = self._evaluate_compiled(x[part], y[part])
            entropy += float(chunk_entropy) * size
            accuracy += float(chunk_accuracy) * size
        return entropy / n, accuracy / n

    def _evaluate(self, x, y):
        """Mean cross-entropy and accuracy of the model on (x, y)."""
        logits = self.model(x, training=False)
        entropy = tf.reduce_mean(_cross_entropy(y, logits))
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
        accuracy = tf.reduce_mean(tf.cast(tf.equal(predictions, y), tf.float32))
        return entropy, accuracy


def epoch_orders(num_examples: int, buffer_size: int, seed: int) -> Iterator[tf.Tensor]:
    """Per-epoch example orders of ``Dataset.shuffle(buffer_size)``, reshuffled each epoch."""
    dataset = (
        tf.data.Dataset.range(num_examples)
        .shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
        .batch(num_examples)
        .repeat()
    )
    return iter(dataset)


class Run:
    """One training run of the article's experiment.

    ``Run(config).events()`` yields the ``args`` event, then one
    ``measure_test`` event per epoch as it ends; ``run.model`` is the model
    being trained. With ``config.finetune_epochs`` the last epochs fine-tune
    (:mod:`l1lab.finetune`): the zeros of the method's phase held fixed, plain
    SGD without penalty, its learning rate decaying at the end; with
    ``config.target_sparsity`` they also prune by magnitude on a schedule
    until the target is reached (:mod:`l1lab.target`); with
    ``config.target_multiply_adds`` they remove whole input features and units
    on a schedule until the compacted model fits the budget
    (:mod:`l1lab.budget`). Each fine-tuning epoch's event carries its
    ``learningRate``, with a target the ``completedByMagnitude`` weights zeroed
    before it, with a budget the ``removedByBudget`` features and units.
    """

    def __init__(self, config: TrainConfig, data=None, *, model=None, data_dir=None):
        """Sets up the devices, the model, the optimizer and the data on the device.

        Args:
          config: the run's settings (checked here).
          data: the split to train and test on: a :class:`l1lab.data.MnistSplit`, or the
            caller's ``(x_train, y_train, x_test, y_test)`` arrays (then ``config.dataset``
            reads :data:`l1lab.config.CALLERS`). Default: loaded for ``config``.
          model: the caller's network, a Keras model or a function of the seed that builds
            one (then ``config.model`` reads :data:`l1lab.config.CALLERS`). Default: built
            from ``config.model``'s name.
          data_dir: where :func:`l1lab.data.load_mnist` finds the files.

        Raises:
          ValueError: a bad setting, model or data; the message names it.
        """
        if model is not None:
            config = dataclasses.replace(config, model=CALLERS)
        if data is not None and not isinstance(data, data_lib.MnistSplit):
            data = data_lib.split_from_arrays(data)
            config = dataclasses.replace(config, dataset=CALLERS)
        if config.model == CALLERS and model is None:
            raise ValueError("`model` needs to be given: this run's config says its model is the caller's")
        self.config = config.validate()
        # configure() sets up the devices before anything else touches TensorFlow:
        # hiding GPUs works only before TensorFlow initialises them.
        setup = methods_lib.configure(
            config.method,
            learning_rate=config.learning_rate,
            seed=config.seed,
            options=config.options,
            model=config.model if model is None else model,
        )
        self.devices = setup.devices
        self.data = data if data is not None else config.load_data(data_dir)
        self.model = setup.model
        # A Dense stack (the article's network, or a caller's) follows the article's rules: its
        # budget removes pixels and units, its target prunes all weights by global magnitude once
        # an epoch. Any other model goes by its channel graph (l1lab.channels).
        self.dense_stack = model_lib.is_dense_stack(self.model)
        self.optimizer = setup.optimizer
        self.jit_compile, self.compilation = choose_compilation(self.model.trainable_variables, setup.method.device_ops)
        self.loop = self._compiled_loop(model_lib.shaped_for(self.model, self.data.x_train), self.data.y_train)
        self.x_test = tf.convert_to_tensor(model_lib.shaped_for(self.model, self.data.x_test), tf.float32)
        if config.target_multiply_adds is not None and not self.dense_stack:
            self._check_channel_budget()
        self.y_test = tf.convert_to_tensor(self.data.y_test, tf.int32)

    def _compiled_loop(self, x_train, y_train, **finetuning) -> CompiledLoop:
        """The run's model and current optimizer in a :class:`CompiledLoop` (``masks``, ``penalties``)."""
        return CompiledLoop(
            self.model,
            self.optimizer,
            x_train,
            y_train,
            batch_size=self.config.batch_size,
            jit_compile=self.jit_compile,
            **finetuning,
        )

    def args(self) -> dict:
        return {
            **self.config.as_args(),
            "dataSource": self.data.source,
            "devices": self.devices.as_dict(),
            "compilation": {"jitCompile": self.jit_compile, "reason": self.compilation},
            "versions": versions(),
        }

    def measure(self, epoch: int) -> dict:
        ent_train, acc_train = (float(v) for v in self.loop.evaluate(self.loop.x_train, self.loop.y_train))
        ent_test, acc_test = (float(v) for v in self.loop.evaluate(self.x_test, self.y_test))
        return events_lib.measure_event(
            epoch,
            ent_train=ent_train,
            inacc_train=1.0 - acc_train,
            ent_test=ent_test,
            inacc_test=1.0 - acc_test,
            num_nonzero=sparsity.count_nonzero(self.model, self.config.epsilon),
        )

    def events(self) -> Iterator[dict]:
        yield events_lib.args_event(self.args())
        orders = epoch_orders(self.loop.num_examples, self.config.shuffle_buffer, self.config.seed)
        finetune_from = self.config.epochs - self.config.finetune_epochs
        for epoch in range(self.config.epochs):
            finetuning = self.prepare_finetuning(epoch - finetune_from) if epoch >= finetune_from else {}
            order = next(orders)
            parts = self.pruning_parts(epoch - finetune_from)
            batches = -(-self.loop.num_batches // parts) * self.config.batch_size
            for part in range(parts):
                if part:
                    finetuning["completedByMagnitude"] += self.complete_target(epoch - finetune_from, part, parts)
                self.loop.train_epoch(order[part * batches : (part + 1) * batches])
            yield {**self.measure(epoch), **finetuning}

    # A CNN prunes its target ten times a pruning epoch (TF-MOT: every 100 steps, 9 times an epoch
    # of 938 batches): with its 3 fine-tuning epochs, once an epoch would cut 7/8 of the way at
    # once. The article's network prunes once an epoch, as its golden files were made.
    CNN_PRUNING_PARTS = 10

    def pruning_parts(self, finetune_epoch: int) -> int:
        """How many times fine-tuning epoch ``finetune_epoch`` (negative: not fine-tuning) prunes to its target."""
        config = self.config
        pruning = config.finetune_epochs - target_lib.holding_epochs(config.finetune_epochs)
        if self.dense_stack or config.target_sparsity is None or not 0 <= finetune_epoch < pruning:
            return 1
        return min(self.CNN_PRUNING_PARTS, self.loop.num_batches)

    def complete_target(self, epoch: int, part: int = 0, parts: int = 1) -> int:
        """Zeros the smallest kernel weights the target's schedule asks for before ``part`` of fine-tuning ``epoch``.

        A CNN's target counts the kernels TF-MOT prunes (BatchNorm's parameters
        and the depthwise kernels are a quarter of ds-cnn's weights: 90% of all
        of them would leave almost no kernel), and they prune layer by layer:
        BatchNorm makes a conv's scale arbitrary, so magnitudes compare only
        within a layer. The article's network keeps global magnitude over all
        its weights. After a part other than the first the new zeros are held.

        Returns:
          How many weights it set to zero.
        """
        config = self.config
        variables = self.model.trainable_variables
        cnn = not self.dense_stack
        pruned = target_lib.prunable_kernels(self.model) if cnn else variables
        if epoch == 0 and part == 0:  # the sparsity of what the target counts
            self.finetune_start = target_lib.kernel_sparsity(pruned, config.epsilon)
        wanted = target_lib.scheduled(
            config.target_sparsity, self.finetune_start, epoch, config.finetune_epochs, part, parts
        )
        # With a unit multiple the budget alone sets the widths: a unit that lost its last weight
        # here would leave a width off the tile, which the budget could only round down. (A CNN's
        # layerwise pruning leaves each filter most of its share; its tiles are not guarded.)
        guarded = budget_lib.unit_guards(variables) if config.unit_multiple > 1 and not cnn else None
        count = target_lib.complete_by_magnitude(pruned, wanted, config.epsilon, guarded, layerwise=cnn)
        if part:
            masks = finetune_lib.zero_masks(variables, config.epsilon)
            finetune_lib.hold_zeros(variables, masks)
            self.loop.set_masks(masks)
        return count

    def prepare_finetuning(self, epoch: int) -> dict:
        """Sets up fine-tuning epoch ``epoch`` (from 0); returns what its event records.

        The first one ends the method's phase: zeros set and held, SGD without
        penalties from here. With a multiply-add budget, each one first removes
        the pixels and units its schedule asks for (:meth:`prune_to_budget`);
        with a target sparsity, it then zeros the smallest kernel weights its
        schedule asks for; both are held too.
        """
        variables = self.model.trainable_variables
        config = self.config
        record = {}
        pruning = config.target_sparsity is not None or config.target_multiply_adds is not None
        if config.target_multiply_adds is not None:
            prune = self.prune_to_budget if self.dense_stack else self.prune_channels_to_budget
            record["removedByBudget"] = prune(epoch)
        if config.target_sparsity is not None:
            record["completedByMagnitude"] = self.complete_target(epoch, 0, self.pruning_parts(epoch))
        if epoch == 0 or pruning:
            masks = finetune_lib.zero_masks(variables, config.epsilon)
            finetune_lib.hold_zeros(variables, masks)
        if epoch == 0:
            self.optimizer = finetune_lib.make_optimizer(config.learning_rate, variables)
            self.loop = self._compiled_loop(self.loop.x_train, self.loop.y_train, masks=masks, penalties=False)
        elif pruning:
            self.loop.set_masks(masks)
        holding = target_lib.holding_epochs(config.finetune_epochs) if pruning else config.finetune_epochs
        record["learningRate"] = finetune_lib.learning_rate(
            config.learning_rate, epoch, config.finetune_epochs, holding
        )
        self.optimizer.learning_rate = record["learningRate"]
        return record

    # Training inputs the budget's energies are measured on: enough for a stable mean square,
    # few enough to cost little next to an epoch.
    ENERGY_SAMPLE = 4096

    def _check_channel_budget(self) -> None:
        from l1lab.channels import channel_graph

        multiple = self.config.unit_multiple
        smallest = channel_budget.smallest_multiply_adds(channel_graph(self.model), multiple)
        if self.config.target_multiply_adds < smallest:
            raise ValueError(
                f"`target_multiply_adds` needs to be at least {smallest}, the cost of the smallest {self.model.name} "
                f"that compaction leaves ({'one channel' if multiple == 1 else f'{multiple} channels'} per layer). "
                f"Received: target_multiply_adds={self.config.target_multiply_adds}"
            )

    def prune_channels_to_budget(self, epoch: int) -> dict:
        """A CNN's :meth:`prune_to_budget`: whole channel groups removed (:mod:`l1lab.channel_budget`).

        Returns:
          ``{"channels": n, "multiplyAdds": m}``: the groups it removed and the compacted cost after.
        """
        from l1lab.channels import channel_graph

        config = self.config
        graph = channel_graph(self.model)
        weights = graph.weights()
        dead = graph.dead_groups(weights, config.epsilon)
        if epoch == 0:
            self.budget_start = graph.multiply_adds(dead)
        wanted = target_lib.scheduled(config.target_multiply_adds, self.budget_start, epoch, config.finetune_epochs)
        values = channel_budget.read_values(graph, self.loop.x_train[: self.ENERGY_SAMPLE])
        energy = channel_budget.group_energy(graph, weights, values)
        pruned, removed = channel_budget.prune_channels_to_budget(
            graph, weights, energy, int(wanted), config.epsilon, config.unit_multiple, dead
        )
        for node in graph.nodes[1:]:
            if pruned.get(node.layer.name):  # float32 arrays, as the model's variables hold them
                node.layer.set_weights([np.asarray(a, np.float32) for a in pruned[node.layer.name]])
        after = graph.multiply_adds(graph.dead_groups(pruned, config.epsilon))
        return {"channels": removed, "multiplyAdds": after}

    def prune_to_budget(self, epoch: int) -> dict:
        """Removes the features and units fine-tuning epoch ``epoch``'s budget asks for (:mod:`l1lab.budget`).

        Returns:
          ``{"inputs": n, "units": [n, ...], "multiplyAdds": m}``: what it removed
          and the compacted cost after.
        """
        config = self.config
        layers = [layer for layer in self.model.layers if isinstance(layer, keras.layers.Dense)]
        weights = model_lib.dense_weights(self.model)
        if epoch == 0:
            self.budget_start = structure.summary([k for k, _ in weights], config.epsilon)["multiply_adds"]
        wanted = target_lib.scheduled(config.target_multiply_adds, self.budget_start, epoch, config.finetune_epochs)
        sample = self.loop.x_train[: self.ENERGY_SAMPLE].numpy()
        activations = [lambda z, f=layer.activation: np.asarray(f(tf.constant(z))) for layer in layers]
        energies = budget_lib.activation_energy(weights, sample, activations)
        pruned, removed = budget_lib.prune_to_budget(
            weights, energies, int(wanted), config.epsilon, config.unit_multiple
        )
        for layer, (kernel, bias) in zip(layers, pruned):  # the arrays keep the variables' dtypes
            tf_variable(layer.kernel).assign(kernel)
            tf_variable(layer.bias).assign(bias)
        after = structure.summary([k for k, _ in pruned], config.epsilon)["multiply_adds"]
        return {"inputs": removed.inputs, "units": list(removed.units), "multiplyAdds": after}


def train(config: TrainConfig, data=None, **kwargs):
    """Runs ``config`` to the end (``data`` and ``kwargs`` as :class:`Run`'s); returns ``(model, events)``."""
    run = Run(config, data, **kwargs)
    return run.model, list(run.events())
