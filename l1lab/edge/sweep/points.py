"""A sweep point's files: ``points/KEY.json`` (metrics and settings) and ``points/KEY.npz`` (weights).

The article's network's weights are ``kernel_i`` and ``bias_i`` of each Dense
layer; a CNN's are ``weight_i``, its ``get_weights()`` in order (what
``set_weights`` takes on the zoo model of the same name).

Both are written atomically, the weights first, so a record on disk means the
point is whole; a damaged or stale pair reads as not done, and the point
trains again.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from l1lab._io import write_bytes_atomically, write_json_atomically
from l1lab.edge.sweep.presets import Point, SweepSettings

__all__ = ["PointFileError", "finished_record", "is_done", "load_weights", "point_paths", "save_point"]

# What a point's record holds in ``metrics``: finite numbers, and l1lab's count table.
NUMBER_METRICS = ("inacc_test", "ent_test", "sparsity")


class PointFileError(ValueError):
    """A point's file cannot be read; the message names the file."""


def point_paths(out_dir: Path, point: Point) -> tuple[Path, Path]:
    folder = Path(out_dir) / "points"
    return folder / f"{point.key}.json", folder / f"{point.key}.npz"


def finished_record(out_dir: Path, point: Point, settings: SweepSettings) -> dict | None:
    """The point's record if its files are whole and were trained with these settings, else None.

    Whole: the record is a JSON object with the point, the settings and finite
    metrics, and the weights load as one kernel and bias per layer with the
    shapes of a chain. Anything else (empty, truncated, random, ``[]``, a NaN
    or null metric) is not done, and the point trains again.
    """
    record_path, weights_path = point_paths(out_dir, point)
    if not (record_path.is_file() and weights_path.is_file()):
        return None
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or record.get("settings") != settings.as_dict():
        return None
    if record.get("point") != point.as_dict() or not _whole_metrics(record.get("metrics")):
        return None
    try:
        load_weights(weights_path, settings.model)
    except PointFileError:
        return None
    return record


def _whole_metrics(metrics) -> bool:
    if not isinstance(metrics, dict):
        return False
    for name in NUMBER_METRICS:
        value = metrics.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
    return isinstance(metrics.get("num_nonzero"), dict)


def is_done(out_dir: Path, point: Point, settings: SweepSettings) -> bool:
    """The point need not train again (:func:`finished_record`)."""
    return finished_record(out_dir, point, settings) is not None


def save_point(
    out_dir: Path, point: Point, settings: SweepSettings, metrics: dict, weights, seconds: float, versions: dict
) -> None:
    """Weights first, then the record: a record on disk means the point is whole.

    ``weights``: the article's network's ``(kernel, bias)`` pairs, or a CNN's
    ``get_weights()`` list (``settings.model`` says which).
    """
    record_path, weights_path = point_paths(out_dir, point)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    if settings.model == "mlp":
        arrays = {f"{kind}_{i}": w for i, pair in enumerate(weights) for kind, w in zip(("kernel", "bias"), pair)}
    else:
        arrays = {f"weight_{i}": np.asarray(w) for i, w in enumerate(weights)}
    np.savez(buffer, **arrays)
    write_bytes_atomically(weights_path, buffer.getvalue())
    record = {
        "point": point.as_dict(),
        "settings": settings.as_dict(),
        "metrics": metrics,
        "seconds": seconds,
        "versions": versions,
    }
    write_json_atomically(record_path, record)


def load_weights(path: Path, model: str = "mlp") -> list:
    """The weights saved by :func:`save_point`: the Dense layers' ``(kernel, bias)``, or a CNN's list.

    Raises:
      PointFileError: the file is not such an archive (empty, truncated, random),
        its arrays do not chain as Dense layers (the article's network) or are not
        ``weight_0 .. weight_n`` (a CNN), or a weight is not finite; the message names the file.
    """
    arrays = _arrays(path)
    names = set(arrays)
    if model != "mlp":
        if not names or names != {f"weight_{i}" for i in range(len(names))}:
            raise PointFileError(f"{path} holds {sorted(names)}, not weight_0 .. weight_n of a model")
        weights = [arrays[f"weight_{i}"] for i in range(len(names))]
        for i, weight in enumerate(weights):
            if not np.all(np.isfinite(weight)):
                raise PointFileError(f"{path}: weight {i} is not finite")
        return weights
    count = len(names) // 2
    if not count or names != {f"{kind}_{i}" for i in range(count) for kind in ("kernel", "bias")}:
        raise PointFileError(f"{path} holds {sorted(names)}, not kernel_i and bias_i of each layer")
    weights = [(arrays[f"kernel_{i}"], arrays[f"bias_{i}"]) for i in range(count)]
    previous = None
    for i, (kernel, bias) in enumerate(weights):
        if (
            kernel.ndim != 2
            or bias.shape != (kernel.shape[1],)
            or (previous is not None and kernel.shape[0] != previous)
        ):
            raise PointFileError(f"{path}: layer {i}'s kernel {kernel.shape} and bias {bias.shape} do not chain")
        if not (np.all(np.isfinite(kernel)) and np.all(np.isfinite(bias))):
            raise PointFileError(f"{path}: layer {i} has a non-finite weight")
        previous = kernel.shape[1]
    return weights


def _arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the archive at ``path``, read whole; an unreadable archive names the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise PointFileError(f"{path} is not a point's weights ({type(exc).__name__}: {exc})") from None
