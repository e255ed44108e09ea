"""Training one configuration over several seeds, as column-wise trajectories.

A *trajectory* is what a golden file stores of one seed's run: per metric, one
value per epoch (:data:`TRAJECTORY_METRICS`), and per variable the count of
nonzero weights (``layers_numNz``). Seeds are ints here; they become strings
only in JSON files.

TensorFlow is imported only when something trains, so the golden-file checks
and the CLI's ``--help`` stay free of it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Callable

from l1lab import data as data_lib
from l1lab import events as events_lib
from l1lab.config import CALLERS, TrainConfig
from l1lab.sparsity import TOTAL, fraction_zero

# Per epoch, in a trajectory: the model's sparsity, then the article's metrics.
TRAJECTORY_METRICS = ("sparsity", "inacc_train", "inacc_test", "ent_train", "ent_test")
LAYERS_NUM_NZ = "layers_numNz"
# Per epoch too, where a run is asked for them (``per_epoch``): what compaction would keep
# (l1lab.structure.summary), so that claims and golden files can hold structure.
STRUCTURE_METRICS = ("kept_inputs", "hidden_units", "multiply_adds")
# A CNN's structure, where asked: the prunable channel groups compaction removes (l1lab.channels),
# with the compacted model's multiply_adds.
CHANNEL_METRICS = ("removed_channels",)
# Per epoch too, where asked: the compacted model as a microcontroller gets it, an int8-full
# file in TensorFlow Lite Micro (1 if TFLM runs it; its smallest arena and its flash in bytes;
# test images whose class differs from the Keras model's).
MICRO_METRICS = ("micro_runs", "arena_bytes", "flash_bytes", "micro_disagreements")
# The integer columns a trajectory holds only where its scenario records them.
OPTIONAL_METRICS = (*STRUCTURE_METRICS, *CHANNEL_METRICS, *MICRO_METRICS)


def trajectory(events: Iterable[Mapping], own_metrics: Sequence[str] = ()) -> tuple[dict, dict]:
    """Column-wise per-epoch metrics of a run's events, and the variables' sizes.

    Args:
      events: the run's events.
      own_metrics: the names of a scenario's own metrics, which its events carry too.

    Returns:
      ``(trajectory, sizes)``: ``trajectory[metric]`` is a list with one value
      per ``measure_test`` event (the :data:`OPTIONAL_METRICS` only where the
      events carry them); ``trajectory["layers_numNz"][variable]`` the
      nonzero counts; ``sizes[variable]`` the variable's number of weights.
    """
    columns: dict = {metric: [] for metric in TRAJECTORY_METRICS}
    columns[LAYERS_NUM_NZ] = {}
    sizes: dict = {}
    for event in events:
        if event["event"] != events_lib.MEASURE_TEST:
            continue
        counts = event["num_nonzero"]
        columns["sparsity"].append(fraction_zero(counts[TOTAL]))
        for metric in TRAJECTORY_METRICS[1:]:
            columns[metric].append(event[metric])
        for metric in OPTIONAL_METRICS:
            if metric in event:
                columns.setdefault(metric, []).append(event[metric])
        for metric in own_metrics:
            columns.setdefault(metric, []).append(event[metric])
        for name, entry in counts.items():
            if name != TOTAL:
                columns[LAYERS_NUM_NZ].setdefault(name, []).append(entry["numNz"])
                sizes[name] = entry["num"]
    return columns, sizes


def run_seeds(
    config: TrainConfig,
    seeds: Sequence[int],
    *,
    data=None,
    model=None,
    on_seed: Callable[[int, float], None] | None = None,
    per_epoch: Callable[[object], Mapping] | None = None,
    own_metrics: Sequence[str] = (),
) -> tuple[dict[int, dict], dict]:
    """Trains ``config`` once per seed (its own ``seed`` is replaced).

    Args:
      config: the run; ``seed`` is set from ``seeds``.
      seeds: the seeds, as ints.
      data: the split to train on, or the caller's ``(x_train, y_train, x_test, y_test)``
        (default: loaded for ``config``).
      model: a function of the seed that builds the caller's Keras model (default: built
        from ``config.model``'s name); see :class:`l1lab.train.Run`.
      on_seed: called with ``(seed, seconds)`` after each seed.
      per_epoch: called with the model after each epoch's measurement; what it
        returns joins that epoch's values (the :data:`OPTIONAL_METRICS`, and ``own_metrics``).
      own_metrics: the names of the scenario's own metrics that ``per_epoch`` returns.

    Returns:
      ``({seed: trajectory}, sizes)``.
    """
    from l1lab import train as train_lib

    if data is None:
        data = config.load_data()
    elif not isinstance(data, data_lib.MnistSplit):
        data = data_lib.split_from_arrays(data)
        config = dataclasses.replace(config, dataset=CALLERS)
    trajectories, sizes = {}, {}
    for seed in (int(s) for s in seeds):  # NumPy ints too
        started = time.monotonic()
        run = train_lib.Run(dataclasses.replace(config, seed=seed), data, model=model)
        events = run.events()
        if per_epoch is not None:
            # A generator: per_epoch sees the model as each epoch's event is taken, before the next epoch.
            events = ({**e, **per_epoch(run.model)} if e["event"] == events_lib.MEASURE_TEST else e for e in events)
        trajectories[seed], sizes = trajectory(events, own_metrics)
        if on_seed:
            on_seed(seed, time.monotonic() - started)
    return trajectories, sizes
