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

__all__ = ["measure_points"]


def measure_points(
    points: Sequence[Point],
    out_dir: Path,
    x_check: np.ndarray,
    *,
    rounds: int,
    invokes: int,
    progress: Callable[[str], None] = lambda line: None,
) -> list[dict]:
    """Every trained point: its structure after compaction and its TFLite files, checked and timed."""
    from l1lab.edge import compact as compact_lib
    from l1lab.edge import export
    from l1lab.model import from_dense_weights

    records = []
    for i, point in enumerate(points):
        record_path, weights_path = point_paths(out_dir, point)
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError) as exc:
            raise PointFileError(f"{record_path} cannot be read ({exc}): delete it to train the point again") from None
        model = from_dense_weights(load_weights(weights_path))
        compacted, report = compact_lib.compact(model)
        ship_compacted, formats = formats_for(point.method)
        shipped, indices = compact_lib.without_input_selection(compacted) if ship_compacted else (model, None)
        x = x_check if indices is None else x_check[:, indices]
        files = {}
        for result in export.export_models({point.key: shipped}, x, formats=formats, rounds=rounds, invokes=invokes):
            files[result.format] = {
                "size_bytes": result.size_bytes,
                "latency_us": result.latency.median_us,
                "runtime": result.latency.runtime,
                "agrees": result.check.agrees,
            }
        records.append(
            {
                **record,
                "structure": report.as_dict(),
                "shipped": "compacted, kept inputs read directly" if ship_compacted else "as trained",
                "files": files,
            }
        )
        progress(f"measured {i + 1}/{len(points)}: {point.key}")
    return records
