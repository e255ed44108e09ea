"""Sparsity in ``model.fit``: a Keras callback that puts zeros and alive units into ``logs``.

Everything a callback adds to ``logs`` in ``on_epoch_end`` reaches the callbacks
after it and the progress bar, so ``CSVLogger`` and ``TensorBoard`` (listed after
this one) record it::

    model.fit(x, y, callbacks=[SparsityLogger(), keras.callbacks.CSVLogger("log.csv")])
"""

from __future__ import annotations

from l1lab._compat import keras
from l1lab.edge.compact import dense_layers
from l1lab.sparsity import EPSILON_ZERO, count_nonzero, sparsity_of_counts
from l1lab.structure import dead_structure


class SparsityLogger(keras.callbacks.Callback):
    """Adds to ``logs`` at the end of each epoch, for a stack of Dense layers:

    * ``sparsity``: the fraction of weights with ``|w| <= epsilon``;
    * ``<layer>_sparsity``: the same for each Dense layer's kernel;
    * ``<layer>_units``: each layer's alive units (see :mod:`l1lab.structure`);
    * ``inputs``: the input features some alive unit reads.

    Args:
      epsilon: what counts as zero (the article's 1e-5).

    Raises:
      l1lab.edge.compact.CompactionError: at the first epoch, if the model is
        not a stack of Dense layers (its units cannot be counted).
    """

    def __init__(self, epsilon: float = EPSILON_ZERO):
        super().__init__()
        self.epsilon = float(epsilon)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["sparsity"] = sparsity_of_counts(count_nonzero(self.model, self.epsilon))
        layers = dense_layers(self.model)
        kernels = [layer.kernel.numpy() for layer in layers]
        structure = dead_structure(kernels, self.epsilon)
        for layer, kernel, units in zip(layers, kernels, structure.units):
            logs[f"{layer.name}_sparsity"] = float((abs(kernel) <= self.epsilon).mean())
            logs[f"{layer.name}_units"] = int(units.sum())
        logs["inputs"] = int(structure.inputs.sum())
