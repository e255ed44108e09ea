"""SparsityLogger: sparsity and alive units in model.fit's logs, CSVLogger and History (both Keras flavours)."""

import csv

import numpy as np

from l1lab._compat import keras
from l1lab.edge.callbacks import SparsityLogger
from l1lab.model import build_model
from l1lab.optimizers import ProximalSGD


def test_fit_logs_sparsity_and_alive_units_to_history_and_csv(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(64, 784)).astype(np.float32), rng.integers(0, 10, 64).astype(np.int32)
    x[:, :100] = 0  # 100 pixels that are always off: group lasso removes their rows
    model = build_model(seed=0)
    model.compile(
        optimizer=ProximalSGD(0.1, l1=0.05, group_l1={"dense_1": {"inputs": 0.5}, "dense_2": {"units": 2.0}}),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    log = tmp_path / "log.csv"
    history = model.fit(
        x, y, epochs=2, batch_size=16, verbose=0, callbacks=[SparsityLogger(), keras.callbacks.CSVLogger(str(log))]
    )
    logs = history.history
    assert 0.5 < logs["sparsity"][-1] < 1
    kernel = model.get_layer("dense_1").kernel.numpy()
    assert logs["dense_1_sparsity"][-1] == float((np.abs(kernel) <= 1e-5).mean())
    assert logs["inputs"][-1] == int(np.any(np.abs(kernel) > 1e-5, axis=1).sum()) <= 684
    assert logs["predictions_units"][-1] == 10 and logs["dense_2_units"][-1] < 64
    with open(log) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and float(rows[-1]["sparsity"]) == logs["sparsity"][-1]
    assert int(float(rows[-1]["dense_1_units"])) == logs["dense_1_units"][-1]


def test_logs_count_inputs_by_rows_and_use_the_given_epsilon():
    """By hand: 300 pixel rows zero, one row of 0.05s (zero within epsilon 0.1, not within 1e-5), one unit dead."""
    model = build_model(seed=0)
    layer = model.get_layer("dense_1")
    kernel = np.full((784, 64), 0.5, np.float32)
    kernel[:300] = 0
    kernel[300] = 0.05
    kernel[:, 7] = 0  # unit 7: no incoming weights
    layer.kernel.assign(kernel)
    logs = {}
    logger = SparsityLogger(epsilon=0.1)
    logger.set_model(model)
    logger.on_epoch_end(0, logs)
    assert logs["inputs"] == 784 - 300 - 1  # rows: pixels; not 64 - 1 (the columns)
    assert logs["dense_1_units"] == 63
    assert logs["dense_1_sparsity"] == (301 * 64 + (784 - 301) * 1) / (784 * 64)
    default = {}
    tight = SparsityLogger()
    tight.set_model(model)
    tight.on_epoch_end(0, default)
    assert default["inputs"] == 784 - 300 and default["dense_1_sparsity"] == (300 * 64 + 484) / (784 * 64)
    assert logs["sparsity"] > default["sparsity"]  # the whole model counted with epsilon 0.1


def test_a_cnn_logs_its_channels_and_multiply_adds(channel_model):
    from l1lab.channels import channel_graph

    model = channel_model("conv-bn")
    graph = channel_graph(model)
    kernel, bias = model.get_layer("conv_2").get_weights()
    kernel[..., 1], bias[1] = 0, 0  # conv_2's filter 1: zero, then relu(0) = 0
    model.get_layer("conv_2").set_weights([kernel, bias])
    logger = SparsityLogger()
    logger.set_model(model)
    logs = {}
    logger.on_epoch_end(0, logs)
    assert logs["conv_1_channels"] == 6 and logs["conv_2_channels"] == 4 and logs["removed_channels"] == 1
    assert logs["multiply_adds"] == graph.multiply_adds(graph.dead_groups()) < graph.multiply_adds()
    assert 0 < logs["conv_2_sparsity"] < 1 and "inputs" not in logs
