"""A sweep's summary over seeds, its Markdown table and its plot."""

from __future__ import annotations

import io
import statistics
from collections.abc import Sequence
from pathlib import Path

from l1lab._io import markdown_table, write_bytes_atomically
from l1lab.edge.sweep.presets import DENSE, METHODS, SweepSettings

__all__ = ["best_file", "markdown", "plot", "summarize"]


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(records: Sequence[dict]) -> list[dict]:
    """Per (method, value): medians over seeds of error, sparsity, structure, each format's size and latency."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for record in records:
        groups.setdefault((record["point"]["method"], record["point"]["value"]), []).append(record)
    rows = []
    for (method, value), group in groups.items():
        structure = [r["structure"] for r in group]
        formats = sorted({f for r in group for f in r["files"]})
        rows.append(
            {
                "method": method,
                "value": value,
                "seeds": sorted(r["point"]["seed"] for r in group),
                "inacc_test": _median(r["metrics"]["inacc_test"] for r in group),
                "sparsity": _median(r["metrics"]["sparsity"] for r in group),
                "kept_inputs": _median(s["kept_inputs"] for s in structure),
                "hidden_units": _median(sum(s["widths_after"][:-1]) for s in structure),
                "hidden_units_before": sum(structure[0]["widths_before"][:-1]),
                "input_dim": structure[0]["input_dim"],
                "multiply_adds": _median(s["multiply_adds_after"] for s in structure),
                "shipped": group[0]["shipped"],
                "files": {
                    f: {
                        "size_bytes": _median(r["files"][f]["size_bytes"] for r in group if f in r["files"]),
                        "latency_us": _median(r["files"][f]["latency_us"] for r in group if f in r["files"]),
                        "agrees": all(r["files"][f]["agrees"] for r in group if f in r["files"]),
                    }
                    for f in formats
                },
            }
        )
    rows.sort(key=lambda r: (list(METHODS).index(r["method"]) if r["method"] in METHODS else 99, r["value"]))
    return rows


def best_file(row: dict, kind: str) -> tuple[str, dict] | None:
    """The format of ``kind`` (float or int8) with the lowest latency among the row's files."""
    options = [(f, v) for f, v in row["files"].items() if f.split("-")[0] == kind and v["latency_us"] is not None]
    return min(options, key=lambda item: item[1]["latency_us"]) if options else None


def markdown(rows: Sequence[dict], settings: SweepSettings, verdicts: Sequence[dict] = ()) -> str:
    """The summary as a Markdown table, with ratios to the dense model's float file, then ``verdicts``."""
    base = next((r for r in rows if r["method"] == DENSE), None)
    base_file = base["files"].get("float") if base else None
    header = (
        "method",
        "value",
        "error",
        "sparsity",
        "inputs",
        "hidden",
        "MACs",
        "float",
        "µs",
        "KB",
        "int8",
        "µs",
        "KB",
    )
    body = []
    for row in rows:
        cells = [
            row["method"],
            f"{row['value']:g}",
            f"{row['inacc_test']:.2%}",
            f"{row['sparsity']:.1%}",
            f"{row['kept_inputs']:.0f}",
            f"{row['hidden_units']:.0f}",
            f"{row['multiply_adds']:.0f}",
        ]
        for kind in ("float", "int8"):
            best = best_file(row, kind)
            if best is None:
                cells += ["-", "-", "-"]
                continue
            fmt, figures = best
            speed = f" ({base_file['latency_us'] / figures['latency_us']:.1f}x)" if base_file else ""
            size = f" ({base_file['size_bytes'] / figures['size_bytes']:.1f}x)" if base_file else ""
            cells += [fmt, f"{figures['latency_us']:.2f}{speed}", f"{figures['size_bytes'] / 1000:.1f}{size}"]
        body.append(cells)
    lines = [
        f"Median of seeds; {settings.epochs} epochs, learning rate {settings.learning_rate:g}, batch "
        f"{settings.batch_size}, MNIST's standard split (pixels / 255), error on its test file. "
        "µs: batch-1 latency, one thread; (Nx): times faster or smaller than the dense model's float file.",
        "",
        *markdown_table(header, body),
    ]
    if verdicts:
        lines += ["", "Targets:", ""]
        lines += [f"- **{v['name']}: {'met' if v['met'] else 'NOT met'}**: {v['text']}" for v in verdicts]
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[dict], path: Path) -> None:
    """Three panels: test error against sparsity, batch-1 latency (float) and file size (float)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for method in methods:
        group = [r for r in rows if r["method"] == method]
        errors = [100 * r["inacc_test"] for r in group]
        axes[0].plot([100 * r["sparsity"] for r in group], errors, "o-", label=method)
        for ax, key in ((axes[1], "latency_us"), (axes[2], "size_bytes")):
            pairs = [(best_file(r, "float"), e) for r, e in zip(group, errors)]
            points = sorted((b[1][key] / (1000 if key == "size_bytes" else 1), e) for b, e in pairs if b)
            ax.plot([x for x, _ in points], [e for _, e in points], "o-", label=method)
    # A model that lost its weights (error near 90%) says nothing about the frontier: above
    # 10% error the points are off the chart, and the table still lists them.
    top = min(10.0, 1.05 * max(100 * r["inacc_test"] for r in rows))
    axes[0].set_xlabel("weight sparsity (%)")
    axes[1].set_xlabel("batch-1 latency, float TFLite (µs, one thread)")
    axes[2].set_xlabel("float TFLite file (KB)")
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
