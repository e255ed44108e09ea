"""Sparsity in ``model.fit``: a Keras callback that puts zeros, alive units and channels into ``logs``.

Everything a callback adds to ``logs`` in ``on_epoch_end`` reaches the callbacks
after it and the progress bar, so ``CSVLogger`` and ``TensorBoard`` (listed after
this one) record it::

    model.fit(x, y, callbacks=[SparsityLogger(), keras.callbacks.CSVLogger("log.csv")])
"""

from __future__ import annotations

from l1lab._compat import keras
from l1lab.channels import channel_graph
from l1lab.edge.compact import dense_layers, is_dense_stack
from l1lab.sparsity import EPSILON_ZERO, count_nonzero, sparsity_of_counts
from l1lab.structure import dead_structure


class SparsityLogger(keras.callbacks.Callback):
    """Adds to ``logs`` at the end of each epoch:

    * ``sparsity``: the fraction of weights with ``|w| <= epsilon``;
    * for a stack of Dense layers, ``<layer>_sparsity`` (each kernel's),
      ``<layer>_units`` (each layer's alive units, see :mod:`l1lab.structure`)
      and ``inputs`` (the input features some alive unit reads);
    * for any other model the channel graph follows (:mod:`l1lab.channels`),
      ``<layer>_sparsity`` and ``<layer>_channels`` (alive channels) of each
      Dense and Conv2D, ``removed_channels`` (dead channel groups) and
      ``multiply_adds`` (what the compacted model would cost).

    Args:
      epsilon: what counts as zero (the article's 1e-5).

    Raises:
      l1lab.channels.UnsupportedLayerError: at the first epoch, a layer the
        channel graph cannot follow (named).
    """

    def __init__(self, epsilon: float = EPSILON_ZERO):
        super().__init__()
        self.epsilon = float(epsilon)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["sparsity"] = sparsity_of_counts(count_nonzero(self.model, self.epsilon))
        if not is_dense_stack(self.model):
            self._log_channels(logs)
            return
        layers = dense_layers(self.model)
        kernels = [layer.kernel.numpy() for layer in layers]
        structure = dead_structure(kernels, self.epsilon)
        for layer, kernel, units in zip(layers, kernels, structure.units):
            logs[f"{layer.name}_sparsity"] = float((abs(kernel) <= self.epsilon).mean())
            logs[f"{layer.name}_units"] = int(units.sum())
        logs["inputs"] = int(structure.inputs.sum())

    def _log_channels(self, logs) -> None:
        graph = channel_graph(self.model)
        dead = graph.dead_groups(epsilon=self.epsilon)
        for name, _, kept in graph.channels(dead):
            kernel = self.model.get_layer(name).kernel.numpy()
            logs[f"{name}_sparsity"] = float((abs(kernel) <= self.epsilon).mean())
            logs[f"{name}_channels"] = kept
        logs.update(graph.summary(dead))
