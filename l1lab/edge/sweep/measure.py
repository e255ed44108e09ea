"""Measuring a sweep's trained points: compacted as their users ship them, exported, checked and timed.

One process converts, checks and times every model, one after another, so the
latencies compare like with like (see :mod:`l1lab.edge.latency`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from l1lab.edge.sweep.points import PointFileError, load_weights, point_paths
from l1lab.edge.sweep.presets import Point, formats_for

__all__ = ["interpreter_floor", "measure_points"]


def interpreter_floor(*, rounds: int, invokes: int) -> dict:
    """The desktop interpreter's own cost: an almost empty model (one input, one output unit) timed.

    What a batch-1 invoke costs whatever the model, so that a latency can be
    read as the floor plus the model's own work.
    """
    from l1lab._compat import keras
    from l1lab.edge import export
    from l1lab.edge.latency import batch1_latency

    inputs = keras.Input(shape=(1,))
    empty = keras.Model(inputs, keras.layers.Dense(1)(inputs), name="floor")
    timing = batch1_latency(export.to_tflite(empty, "float"), rounds=rounds, invokes=invokes)
    return {"latency_us": timing.median_us, "runtime": timing.runtime, "model": "1 input, 1 unit (float)"}


def _micro_figures(result) -> dict:
    run = result.micro
    return {
        "size_bytes": result.size_bytes,
        "latency_us": None,  # not timed on the desktop: it is the microcontroller's file
        "agrees": result.agrees,
        "micro_runs": bool(run and run.runs),
        "micro_latency_us": run.latency_us if run and run.runs else None,
        "arena_bytes": run.arena_bytes if run and run.runs else None,
        "micro_reason": None if run is None else run.reason,
    }


def _zoo_model(name: str, weights: list, path: Path):
    """The zoo model ``name`` holding a point's ``weights``."""
    from l1lab import zoo

    model = zoo.build(name, seed=0)
    try:
        model.set_weights(weights)
    except ValueError as exc:
        message = f"{path} does not hold {name}'s weights ({exc}): delete it to train the point again"
        raise PointFileError(message) from None
    return model


def _shipped(model_name: str, compacted: bool) -> str:
    if not compacted:
        return "as trained"
    return "compacted, kept inputs read directly" if model_name == "mlp" else "compacted, BatchNorm folded"


def measure_points(
    points: Sequence[Point],
    out_dir: Path,
    x_check: np.ndarray,
    *,
    rounds: int,
    invokes: int,
    calibration: np.ndarray | None = None,
    model_name: str = "mlp",
    progress: Callable[[str], None] = lambda line: None,
) -> list[dict]:
    """Every trained point: its structure after compaction and its TFLite files, checked and timed.

    The article's network (``model_name="mlp"``) is compacted with its kept
    input pixels read directly; a CNN of :mod:`l1lab.zoo` loses its dead channel
    groups and has its BatchNorm folded (:func:`l1lab.edge.compact.compact`), and
    its structure is channels per layer (``x_check`` and ``calibration`` are
    flat pixels either way).

    With ``calibration`` (training images), each shipped model is also written
    ``int8-full``, the file a microcontroller runs, and run in TensorFlow Lite
    Micro: its reference-kernel latency, flash and arena (TF-MOT's and Ftrl's
    models ship there as trained, their zeros stored densely: TFLM has no sparse
    format).
    """
    from l1lab.edge import compact as compact_lib
    from l1lab.edge import export
    from l1lab.model import from_dense_weights, shaped_for

    records = []
    for i, point in enumerate(points):
        record_path, weights_path = point_paths(out_dir, point)
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError) as exc:
            raise PointFileError(f"{record_path} cannot be read ({exc}): delete it to train the point again") from None
        ship_compacted, formats = formats_for(point.method, model_name)
        if model_name == "mlp":
            model = from_dense_weights(load_weights(weights_path))
            compacted, report = compact_lib.compact(model)
            shipped, indices = compact_lib.without_input_selection(compacted) if ship_compacted else (model, None)
            x = x_check if indices is None else x_check[:, indices]
        else:
            model = _zoo_model(model_name, load_weights(weights_path, model_name), weights_path)
            compacted, report = compact_lib.compact(model, fold_batchnorm=True)
            shipped, indices = (compacted if ship_compacted else model), None
            x = shaped_for(model, x_check)
        files = {}
        for result in export.export_models({point.key: shipped}, x, formats=formats, rounds=rounds, invokes=invokes):
            files[result.format] = {
                "size_bytes": result.size_bytes,
                "latency_us": result.latency.median_us,
                "runtime": result.latency.runtime,
                "agrees": result.check.agrees,
            }
        if calibration is not None:
            samples = calibration if indices is None else calibration[:, indices]
            samples = shaped_for(shipped, samples)
            (micro_file,) = export.export_models(
                {point.key: shipped},
                x,
                formats=("int8-full",),
                rounds=rounds,
                invokes=invokes,
                calibration=samples,
                runtimes=("micro",),
            )
            files["int8-full"] = _micro_figures(micro_file)
        records.append(
            {
                **record,
                "structure": report.as_dict(),
                "shipped": _shipped(model_name, ship_compacted),
                "files": files,
            }
        )
        progress(f"measured {i + 1}/{len(points)}: {point.key}")
    return records
