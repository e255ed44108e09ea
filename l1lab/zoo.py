"""Small convolutional models for 28x28x1 images, each scaled down from one engineers ship to devices.

Every model takes ``(28, 28, 1)`` images and returns 10 logits from a layer
named ``predictions``; layer names are fixed and each kernel's initialiser is
seeded (layer ``i`` gets ``seed + i``), as :func:`l1lab.model.build_model`
does, so variable names and initial weights do not depend on what else a
process built. All of them are channels-last graphs that
:func:`l1lab.channels.channel_graph` follows, so structured L1, compaction and
the edge commands take them as they take the article's network.

=============  ========================================================  ==============
name           what it scales down                                      multiply-adds
=============  ========================================================  ==============
``mlp``        the article's 784-64-64-10 network (:mod:`l1lab.model`)  54,912
``tfmot-cnn``  TF-MOT's pruning guide: Conv2D(12, 3x3), pool, Dense      93,288
``ds-cnn``     MLPerf Tiny's keyword-spotting DS-CNN (5,450 parameters)  442,496
``resnet8``    MLPerf Tiny's image-classification ResNet-8 (20,146)      645,216
=============  ========================================================  ==============

(:func:`multiply_adds` counts them: Dense and conv layers, as
:meth:`l1lab.channels.ChannelGraph.multiply_adds` does.)
"""

from __future__ import annotations

from collections.abc import Callable

from l1lab._compat import keras
from l1lab.model import NUM_CLASSES, OUTPUT_LAYER, build_model

IMAGE_SHAPE = (28, 28, 1)


class _Layers:
    """Makes layers with fixed names and seeded kernel initialisers, in order."""

    def __init__(self, seed: int | None):
        self.seed = seed
        self.count = 0

    def init(self):
        self.count += 1
        return keras.initializers.GlorotUniform(seed=None if self.seed is None else self.seed + self.count - 1)

    def conv(self, filters, kernel_size, name, strides=1, padding="same", use_bias=False):
        return keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            use_bias=use_bias,
            kernel_initializer=self.init(),
            name=name,
        )

    def depthwise(self, name, strides=1):
        return keras.layers.DepthwiseConv2D(
            3, strides=strides, padding="same", use_bias=False, depthwise_initializer=self.init(), name=name
        )

    def dense(self, units, name, activation=None):
        return keras.layers.Dense(units, activation=activation, kernel_initializer=self.init(), name=name)


# Keras's default 0.99 leaves the moving variance at 0.99**n of its start after n steps (15% after
# 188, an epoch of 12,000 images): short runs would evaluate with statistics still far off.
BATCHNORM_MOMENTUM = 0.9


def _batchnorm(name):
    return keras.layers.BatchNormalization(momentum=BATCHNORM_MOMENTUM, name=name)


def _bn_relu(x, name):
    x = _batchnorm(f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def tfmot_cnn(seed: int | None = None) -> keras.Model:
    """The CNN of TF-MOT's guide "Pruning in Keras": Conv2D(12, 3x3, ReLU), MaxPool 2x2, Flatten, Dense(10).

    The guide's model starts with a Reshape from (28, 28); this one takes
    (28, 28, 1) images directly, and is otherwise the same layers.

    References:
      TensorFlow Model Optimization, "Pruning in Keras example"
      (tensorflow.org/model_optimization/guide/pruning/pruning_with_keras).
    """
    make = _Layers(seed)
    inputs = keras.Input(shape=IMAGE_SHAPE, name="images")
    x = keras.layers.Conv2D(12, 3, activation="relu", kernel_initializer=make.init(), name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = make.dense(NUM_CLASSES, OUTPUT_LAYER)(x)
    return keras.Model(inputs, outputs, name="tfmot_cnn")


def ds_cnn(seed: int | None = None, width: int = 32, blocks: int = 3) -> keras.Model:
    """A depthwise-separable CNN with BatchNorm, MLPerf Tiny's keyword-spotting DS-CNN scaled down.

    A 3x3 stride-2 Conv2D of ``width`` filters, then ``blocks`` blocks of
    depthwise 3x3 and pointwise 1x1 convs (each with BatchNorm and ReLU; the
    second block has stride 2), dropout, global average pooling and Dense(10).
    MLPerf's model takes 49x10 MFCCs with a 10x4 first conv and 64 filters in
    4 blocks.

    References:
      Zhang et al., "Hello Edge: keyword spotting on microcontrollers",
      arXiv:1711.07128 (2017); Banbury et al., "MLPerf Tiny benchmark",
      NeurIPS Datasets and Benchmarks 2021.
    """
    make = _Layers(seed)
    inputs = keras.Input(shape=IMAGE_SHAPE, name="images")
    x = _bn_relu(make.conv(width, 3, "conv_1", strides=2)(inputs), "conv_1")
    for block in range(1, blocks + 1):
        strides = 2 if block == 2 else 1
        x = _bn_relu(make.depthwise(f"dw_{block}", strides=strides)(x), f"dw_{block}")
        x = _bn_relu(make.conv(width, 1, f"pw_{block}")(x), f"pw_{block}")
    x = keras.layers.Dropout(0.2, name="dropout")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = make.dense(NUM_CLASSES, OUTPUT_LAYER)(x)
    return keras.Model(inputs, outputs, name="ds_cnn")


def resnet8(seed: int | None = None, widths: tuple[int, int, int] = (8, 16, 32)) -> keras.Model:
    """A residual network with BatchNorm, MLPerf Tiny's image-classification ResNet-8 scaled down.

    A 3x3 stride-2 stem, then three stacks of two 3x3 convs with BatchNorm
    around a residual Add (the second and third downsample by 2, their
    shortcut a 1x1 conv), global average pooling and Dense(10). MLPerf's
    model takes 32x32x3 images with 16, 32 and 64 filters and no stem stride.

    References:
      He et al., "Deep residual learning for image recognition", CVPR 2016;
      Banbury et al., "MLPerf Tiny benchmark", NeurIPS Datasets and
      Benchmarks 2021.
    """
    make = _Layers(seed)
    inputs = keras.Input(shape=IMAGE_SHAPE, name="images")
    x = _bn_relu(make.conv(widths[0], 3, "stem", strides=2)(inputs), "stem")
    for stack, filters in enumerate(widths, start=1):
        strides = 1 if stack == 1 else 2
        y = _bn_relu(make.conv(filters, 3, f"stack_{stack}_a", strides=strides)(x), f"stack_{stack}_a")
        y = make.conv(filters, 3, f"stack_{stack}_b")(y)
        y = _batchnorm(f"stack_{stack}_b_bn")(y)
        if stack == 1:
            shortcut = x
        else:
            shortcut = make.conv(filters, 1, f"stack_{stack}_shortcut", strides=strides)(x)
            shortcut = _batchnorm(f"stack_{stack}_shortcut_bn")(shortcut)
        x = keras.layers.Add(name=f"stack_{stack}_add")([shortcut, y])
        x = keras.layers.ReLU(name=f"stack_{stack}_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = make.dense(NUM_CLASSES, OUTPUT_LAYER)(x)
    return keras.Model(inputs, outputs, name="resnet8")


MODELS: dict[str, Callable[..., keras.Model]] = {
    "mlp": lambda seed=None: build_model(seed=seed),
    "tfmot-cnn": tfmot_cnn,
    "ds-cnn": ds_cnn,
    "resnet8": resnet8,
}


def build(name: str, seed: int | None = None) -> keras.Model:
    """The model called ``name`` (one of :data:`MODELS`), its kernels seeded by ``seed``.

    Raises:
      ValueError: an unknown name, listing the known ones.
    """
    if name not in MODELS:
        raise ValueError(f"`model` needs to be one of {sorted(MODELS)}. Received: model={name!r}")
    return MODELS[name](seed=seed)


def multiply_adds(model) -> int:
    """One example's multiply-adds (:meth:`l1lab.channels.ChannelGraph.multiply_adds`)."""
    from l1lab.channels import channel_graph

    return channel_graph(model).multiply_adds()


def counterpart(model) -> keras.Model | None:
    """The dense zoo model ``model`` was trained (and perhaps compacted) from, by its Keras name, or None.

    A model keeps its name through ``l1lab train --save-model`` (``ds_cnn``)
    and compaction (``ds_cnn_compact``); the dense model's latency and size do
    not depend on its weights, so its initial weights serve as the reference.
    """
    name = model.name.removesuffix("_compact")
    for key, build_fn in MODELS.items():
        if key != "mlp" and name == key.replace("-", "_"):
            return build_fn(seed=0)
    return None
