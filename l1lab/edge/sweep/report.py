"""A sweep's summary over seeds, its Markdown table and its plot."""

from __future__ import annotations

import io
import statistics
from collections.abc import Sequence
from pathlib import Path

from l1lab._io import markdown_table, write_bytes_atomically
from l1lab.data import DATASET_TITLES
from l1lab.edge.sweep.presets import CHANNEL_METHODS, DENSE, METHODS, SweepSettings

__all__ = ["best_file", "markdown", "micro_file", "plot", "summarize"]


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(records: Sequence[dict]) -> list[dict]:
    """Per (method, value): medians over seeds of error, sparsity, structure, each format's size and latency.

    Structure: a Dense stack's kept inputs and hidden units, or a CNN's removed
    channels (of its prunable ones); multiply-adds for both.
    """
    groups: dict[tuple[str, float], list[dict]] = {}
    for record in records:
        groups.setdefault((record["point"]["method"], record["point"]["value"]), []).append(record)
    rows = []
    for (method, value), group in groups.items():
        structure = [r["structure"] for r in group]
        formats = sorted({f for r in group for f in r["files"]})
        if "removed_channels" in structure[0]:
            shape = {
                "removed_channels": _median(s["removed_channels"] for s in structure),
                "prunable_channels": structure[0]["prunable_channels"],
            }
        else:
            shape = {
                "kept_inputs": _median(s["kept_inputs"] for s in structure),
                "hidden_units": _median(sum(s["widths_after"][:-1]) for s in structure),
                "hidden_units_before": sum(structure[0]["widths_before"][:-1]),
                "input_dim": structure[0]["input_dim"],
            }
        rows.append(
            {
                "method": method,
                "value": value,
                "seeds": sorted(r["point"]["seed"] for r in group),
                "inacc_test": _median(r["metrics"]["inacc_test"] for r in group),
                "sparsity": _median(r["metrics"]["sparsity"] for r in group),
                **shape,
                "multiply_adds": _median(s["multiply_adds_after"] for s in structure),
                "shipped": group[0]["shipped"],
                "files": {f: _file_medians([r["files"][f] for r in group if f in r["files"]]) for f in formats},
            }
        )
    channels = any("removed_channels" in row for row in rows)
    order = list(dict.fromkeys([*CHANNEL_METHODS, *METHODS] if channels else [*METHODS, *CHANNEL_METHODS]))
    rows.sort(key=lambda r: (order.index(r["method"]) if r["method"] in order else 99, r["value"]))
    return rows


def _file_medians(files: Sequence[dict]) -> dict:
    """One format's figures over seeds: medians of sizes and latencies, and whether every seed agreed and ran."""
    medians = {
        "size_bytes": _median(f["size_bytes"] for f in files),
        "latency_us": _median(f["latency_us"] for f in files),
        "agrees": all(f["agrees"] for f in files),
    }
    if any("micro_runs" in f for f in files):
        medians["micro_runs"] = all(f.get("micro_runs") for f in files)
        medians["micro_latency_us"] = _median(f.get("micro_latency_us") for f in files)
        medians["arena_bytes"] = _median(f.get("arena_bytes") for f in files)
    return medians


def micro_file(row: dict) -> dict | None:
    """The row's int8-full figures where TFLM ran it on every seed, else None."""
    figures = row["files"].get("int8-full")
    return figures if figures and figures.get("micro_runs") else None


def best_file(row: dict, kind: str) -> tuple[str, dict] | None:
    """The format of ``kind`` (float or int8) with the lowest latency among the row's files."""
    options = [(f, v) for f, v in row["files"].items() if f.split("-")[0] == kind and v["latency_us"] is not None]
    return min(options, key=lambda item: item[1]["latency_us"]) if options else None


def _with_ratio(text: str, base: float | None, value: float) -> str:
    """``text`` and how many times ``value`` fits in ``base``: ``"2.00 (2.5x)"``; ``text`` alone without a base."""
    return text if base is None else f"{text} ({base / value:.1f}x)"


def markdown(rows: Sequence[dict], settings: SweepSettings, verdicts: Sequence[dict] = (), floor=None) -> str:
    """The summary as a Markdown table, with ratios to the dense model's files, then ``verdicts``.

    Desktop columns compare with the dense model's float file; the TFLM columns
    with its int8-full file in TFLM. With ``floor`` (the interpreter's own cost,
    :func:`l1lab.edge.sweep.measure.interpreter_floor`), the float latency above
    it is shown too.
    """
    base = next((r for r in rows if r["method"] == DENSE), None)
    base_file = base["files"].get("float") if base else None
    base_micro = micro_file(base) if base else None
    floor_us = None if floor is None else floor["latency_us"]
    with_floor = floor_us is not None
    channels = any("removed_channels" in row for row in rows)
    shape_header = ["channels removed"] if channels else ["inputs", "hidden"]
    header = ["method", "value", "error", "sparsity", *shape_header, "MACs", "float", "µs", "KB"]
    header += ["float µs above floor"] * with_floor + ["int8", "µs", "KB", "TFLM µs", "flash KB", "arena KB"]
    body = []
    for row in rows:
        cells = [
            row["method"],
            f"{row['value']:g}",
            f"{row['inacc_test']:.2%}",
            f"{row['sparsity']:.1%}",
            *_shape_cells(row),
            f"{row['multiply_adds']:.0f}",
        ]
        for kind in ("float", "int8"):
            floor_cell = kind == "float" and with_floor
            best = best_file(row, kind)
            if best is None:
                cells += ["-"] * (3 + floor_cell)
                continue
            fmt, figures = best
            latency, size = figures["latency_us"], figures["size_bytes"]
            cells += [
                fmt,
                _with_ratio(f"{latency:.2f}", base_file and base_file["latency_us"], latency),
                _with_ratio(f"{size / 1000:.1f}", base_file and base_file["size_bytes"], size),
            ]
            if floor_cell:
                cells.append(f"{latency - floor_us:.2f}")
        micro = micro_file(row)
        if micro is None:
            cells += ["-", "-", "-"]
        else:
            latency, size = micro["micro_latency_us"], micro["size_bytes"]
            cells += [
                _with_ratio(f"{latency:.2f}", base_micro and base_micro["micro_latency_us"], latency),
                _with_ratio(f"{size / 1000:.1f}", base_micro and base_micro["size_bytes"], size),
                f"{micro['arena_bytes'] / 1000:.1f}",
            ]
        body.append(cells)
    sparsity_note = (
        "Sparsity: of the Dense and Conv2D kernels, what TF-MOT prunes (it leaves depthwise kernels whole). "
        if settings.model != "mlp"
        else ""
    )
    lines = [
        f"Median of seeds; {_network(settings)}, {settings.epochs} epochs, learning rate "
        f"{settings.learning_rate:g}, batch {settings.batch_size}, {DATASET_TITLES[settings.dataset]}'s standard "
        f"split (pixels / 255), error on its test file. {sparsity_note}"
        "µs: batch-1 latency, one thread; (Nx): times faster or smaller than the dense model's float file. "
        "TFLM: the int8-full file in TensorFlow Lite Micro, reference kernels on this CPU (a proxy for a "
        "microcontroller's cycle count, not a device figure); (Nx) against the dense model's int8-full file "
        "there; flash is the file, arena the smallest tensor arena that allocates.",
        "",
    ]
    if floor_us is not None:
        lines += [
            f"The interpreter's floor: an almost empty model ({floor['model']}) takes {floor_us:.2f} µs per invoke "
            "in the same run; a latency is that floor plus the model's own work.",
            "",
        ]
    lines += markdown_table(header, body)
    if verdicts:
        lines += ["", "Targets:", ""]
        lines += [f"- **{v['name']}: {'met' if v['met'] else 'NOT met'}**: {v['text']}" for v in verdicts]
    return "\n".join(lines) + "\n"


def _shape_cells(row: dict) -> list[str]:
    if "removed_channels" in row:
        return [f"{row['removed_channels']:.0f} of {row['prunable_channels']}"]
    return [f"{row['kept_inputs']:.0f}", f"{row['hidden_units']:.0f}"]


def _network(settings: SweepSettings) -> str:
    return "the article's 784-64-64-10 network" if settings.model == "mlp" else settings.model


def plot(rows: Sequence[dict], path: Path) -> None:
    """Test error against sparsity, batch-1 latency (float) and file size (float), and TFLM latency where run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    micro = any(micro_file(r) for r in rows)
    figure, axes = plt.subplots(1, 3 + micro, figsize=(5 * (3 + micro), 4.2))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for method in methods:
        group = [r for r in rows if r["method"] == method]
        errors = [100 * r["inacc_test"] for r in group]
        axes[0].plot([100 * r["sparsity"] for r in group], errors, "o-", label=method)
        for ax, key in ((axes[1], "latency_us"), (axes[2], "size_bytes")):
            pairs = [(best_file(r, "float"), e) for r, e in zip(group, errors)]
            points = sorted((b[1][key] / (1000 if key == "size_bytes" else 1), e) for b, e in pairs if b)
            ax.plot([x for x, _ in points], [e for _, e in points], "o-", label=method)
        if micro:
            points = sorted((m["micro_latency_us"], e) for m, e in zip(map(micro_file, group), errors) if m)
            axes[3].plot([x for x, _ in points], [e for _, e in points], "o-", label=method)
    # A model that lost its weights (error near 90%) says nothing about the frontier: above
    # 10% error, or three times the dense model's, the points are off the chart, and the
    # table still lists them.
    dense = [100 * r["inacc_test"] for r in rows if r["method"] == DENSE]
    top = min(max([10.0] + [3 * e for e in dense]), 1.05 * max(100 * r["inacc_test"] for r in rows))
    channels = any("removed_channels" in r for r in rows)
    axes[0].set_xlabel("kernel sparsity (%, Dense and Conv2D)" if channels else "weight sparsity (%)")
    axes[1].set_xlabel("batch-1 latency, float TFLite (µs, one thread)")
    axes[2].set_xlabel("float TFLite file (KB)")
    if micro:
        axes[3].set_xlabel("TFLM int8-full latency (µs, reference kernels)")
    for ax in axes:
        ax.set_ylabel("test error (%)")
        ax.set_ylim(0, top)
        ax.grid(alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    write_bytes_atomically(path, buffer.getvalue())
