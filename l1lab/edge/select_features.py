"""The layer a compacted model starts with: it reads only the kept input features.

Registered with Keras (``l1lab>SelectFeatures``), so a saved compacted model
loads wherever l1lab is imported.
"""

from __future__ import annotations

from l1lab._compat import keras, register_keras_serializable, tf

__all__ = ["SelectFeatures", "kept_inputs"]


@register_keras_serializable(package="l1lab")
class SelectFeatures(keras.layers.Layer):
    """Keeps the input features at ``indices`` (``tf.gather`` on the last axis)."""

    def __init__(self, indices, **kwargs):
        super().__init__(**kwargs)
        self.indices = [int(i) for i in indices]

    def call(self, inputs):
        return tf.gather(inputs, tf.constant(self.indices, tf.int32), axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.indices))

    def get_config(self):
        return {**super().get_config(), "indices": self.indices}


def kept_inputs(model) -> list[int] | None:
    """The input features a compacted model reads (its :class:`SelectFeatures` layer's), or None."""
    for layer in model.layers:
        if isinstance(layer, SelectFeatures):
            return list(layer.indices)
    return None
