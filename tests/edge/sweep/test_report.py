"""The sweep's summary over seeds, its table and its plot."""

import pytest

from l1lab.edge.sweep import presets, report

SETTINGS = presets.SweepSettings(epochs=2, num_samples=100)


def record(method, value, seed, error, sparsity, latency):
    return {
        "point": {"method": method, "value": value, "seed": seed},
        "metrics": {"inacc_test": error, "sparsity": sparsity},
        "structure": {
            "input_dim": 784,
            "kept_inputs": 784 - 100 * seed,
            "widths_before": [64, 64, 10],
            "widths_after": [64 - seed, 64, 10],
            "multiply_adds_after": 1000 + seed,
        },
        "shipped": "as trained",
        "files": {"float": {"size_bytes": 200_000 // (1 + value), "latency_us": latency, "agrees": True}},
    }


def test_summary_takes_medians_over_seeds_and_the_table_gives_ratios_to_dense():
    records = [record("dense", 0, s, 0.03, 0.0, 5.0) for s in range(3)]
    records += [record("l1lab-l1", 1, s, e, sp, lat) for s, e, sp, lat in ((0, 0.05, 0.9, 1.0), (1, 0.02, 0.8, 2.0))]
    records.append(record("l1lab-l1", 1, 2, 0.04, 0.85, 2.5))
    rows = report.summarize(records)
    assert [r["method"] for r in rows] == ["dense", "l1lab-l1"]
    row = rows[1]
    assert row["seeds"] == [0, 1, 2] and row["inacc_test"] == 0.04 and row["sparsity"] == 0.85
    assert row["kept_inputs"] == 684 and row["hidden_units"] == 127 and row["multiply_adds"] == 1001
    assert row["hidden_units_before"] == 128 and row["input_dim"] == 784
    assert row["files"]["float"] == {"size_bytes": 100_000, "latency_us": 2.0, "agrees": True}
    table = report.markdown(rows, SETTINGS)
    header, rule, *body = [line for line in table.splitlines() if line.startswith("|")]
    assert rule.count("---") == len(cells(header)) == 16 and len(body) == 2
    row = dict(zip(cells(header)[:10], cells(body[1])))  # the float columns: name, µs, KB
    assert (row["method"], float(row["value"]), row["float"]) == ("l1lab-l1", 1.0, "float")
    assert (percent(row["error"]), percent(row["sparsity"])) == (4.0, 85.0)
    assert (int(row["inputs"]), int(row["hidden"]), int(row["MACs"])) == (684, 127, 1001)
    assert figure_and_ratio(cells(body[1])[8]) == (2.0, 2.5)  # µs, and 5.0 / 2.0 times the dense model's
    assert figure_and_ratio(cells(body[1])[9]) == (100.0, 2.0)  # KB, and 200 / 100
    assert cells(body[1])[10:] == ["-"] * 6  # no int8 file, no TFLM file
    assert "Targets:" not in table and "Targets:" in report.markdown(
        rows, SETTINGS, [{"name": "P", "met": True, "text": ""}]
    )


def cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def percent(text):
    return float(text.rstrip("%"))


def figure_and_ratio(text):
    """``"2.00 (2.5x)"`` as ``(2.0, 2.5)``."""
    figure, ratio = text.split(" (")
    return float(figure), float(ratio.rstrip("x)"))


def test_the_plot_is_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="the report extra draws the plots")
    rows = report.summarize([record("dense", 0, 0, 0.03, 0.0, 5.0), record("tfmot", 0.9, 0, 0.04, 0.9, 3.0)])
    report.plot(rows, tmp_path / "frontier.png")
    assert (tmp_path / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["frontier.png"]


HEADER = ["method", "value", "error", "sparsity", "inputs", "hidden", "MACs", "float", "µs", "KB", "int8", "µs", "KB"]
HEADER += ["TFLM µs", "flash KB", "arena KB"]


def test_the_tables_header_and_verdict_lines():
    rows = report.summarize([record("dense", 0, 0, 0.03, 0.0, 5.0)])
    table = report.markdown(
        rows, SETTINGS, [{"name": "P1", "met": True, "text": "a"}, {"name": "P4", "met": False, "text": "b"}]
    )
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("|"))
    assert cells(header) == HEADER
    assert lines[-2:] == ["- **P1: met**: a", "- **P4: NOT met**: b"] and lines[-4:-2] == ["Targets:", ""]
    assert lines[-5] != "Targets:" and "µs: batch-1 latency, one thread; (Nx): times faster or smaller" in table


def test_a_table_without_a_dense_row_has_no_ratios_and_an_int8_only_row_keeps_its_cells():
    only_int8 = record("tfmot", 0.9, 0, 0.04, 0.9, 3.0)
    only_int8["files"] = {"int8": {"size_bytes": 50_000, "latency_us": 2.0, "agrees": True}}
    table = report.markdown(report.summarize([only_int8]), SETTINGS)
    body = [cells(line) for line in table.splitlines() if line.startswith("| tfmot")]
    assert body == [
        ["tfmot", "0.9", "4.00%", "90.0%", "784", "128", "1000", "-", "-", "-", "int8", "2.00", "50.0", "-", "-", "-"]
    ]


def test_summary_rows_by_hand():
    dense = record("dense", 0, 0, 0.03, 0.0, 5.0)
    mine = [record("custom", 1, s, 0.04, 0.5, 2.0) for s in range(2)]
    mine[1]["files"]["float"]["agrees"] = False  # one seed's file disagreed
    peer = record("tfmot", 0.9, 0, 0.04, 0.9, 3.0)
    peer["files"]["float"]["latency_us"] = None  # measured with --no-latency
    rows = report.summarize([peer, *mine, dense])
    assert [r["method"] for r in rows] == ["dense", "tfmot", "custom"]  # the sweep's order; unknown ones last
    assert rows[0]["shipped"] == "as trained" and rows[2]["files"]["float"]["agrees"] is False
    assert rows[1]["files"]["float"]["latency_us"] is None and rows[0]["files"]["float"]["agrees"] is True


def test_the_best_file_is_the_fastest_of_its_kind():
    row = {"files": {"float": {"latency_us": 3.0}, "float-sparse": {"latency_us": 2.0}, "int8": {"latency_us": 1.0}}}
    assert report.best_file(row, "float") == ("float-sparse", {"latency_us": 2.0})
    assert report.best_file(row, "int8")[0] == "int8" and report.best_file({"files": {}}, "float") is None


def test_the_table_stands_apart_from_its_caption_and_its_targets():
    rows = report.summarize([record("dense", 0, 0, 0.03, 0.0, 5.0)])
    lines = report.markdown(rows, SETTINGS, [{"name": "P1", "met": True, "text": "a"}]).splitlines()
    assert lines[1] == "" and lines[2].startswith("| method")  # Markdown needs the blank line
    assert lines[lines.index("Targets:") - 1] == "" and lines[lines.index("Targets:") + 1] == ""


def with_micro(rec, latency_us, size_bytes, arena_bytes, runs=True):
    rec["files"]["int8-full"] = {
        "size_bytes": size_bytes,
        "latency_us": None,
        "agrees": True,
        "micro_runs": runs,
        "micro_latency_us": latency_us if runs else None,
        "arena_bytes": arena_bytes if runs else None,
        "micro_reason": None if runs else "DENSIFY",
    }
    return rec


def test_the_tflm_columns_give_ratios_to_the_dense_int8_full_file_and_the_floor_column():
    dense = with_micro(record("dense", 0, 0, 0.03, 0.0, 5.0), 28.0, 58_000, 3_400)
    mine = [with_micro(record("l1lab-budget", 8000, s, 0.027, 0.95, 2.0), 7.0 + s, 14_500, 2_000) for s in range(3)]
    rows = report.summarize([dense, *mine])
    assert rows[1]["files"]["int8-full"]["micro_latency_us"] == 8.0 and rows[1]["files"]["int8-full"]["micro_runs"]
    assert report.micro_file(rows[1])["arena_bytes"] == 2_000
    floor = {"latency_us": 0.5, "model": "1 input, 1 unit (float)"}
    table = report.markdown(rows, SETTINGS, floor=floor)
    header, _, *body = [line for line in table.splitlines() if line.startswith("|")]
    row = dict(zip(cells(header), cells(body[1])))
    assert float(row["float µs above floor"]) == 1.5  # 2.0 - 0.5
    assert figure_and_ratio(row["TFLM µs"]) == (8.0, 3.5)  # 28 / 8
    assert figure_and_ratio(row["flash KB"]) == (14.5, 4.0)  # 58,000 / 14,500
    assert float(row["arena KB"]) == 2.0
    assert "an almost empty model (1 input, 1 unit (float)) takes 0.50 µs per invoke" in table


def test_a_file_tflm_refused_on_one_seed_has_no_tflm_figures():
    recs = [with_micro(record("tfmot", 0.9, s, 0.03, 0.9, 3.0), 28.0, 58_000, 3_400, runs=s != 1) for s in range(3)]
    (row,) = report.summarize(recs)
    assert report.micro_file(row) is None and row["files"]["int8-full"]["micro_runs"] is False


def cnn_record(method, value, seed, removed, macs):
    base = record(method, value, seed, 0.15, value, 9.0)
    base["structure"] = {"prunable_channels": 128, "removed_channels": removed, "multiply_adds_after": macs}
    return base


def test_a_cnns_summary_counts_removed_channels_and_its_table_says_so():
    records = [cnn_record("dense", 0, 0, 0, 442_496)]
    records += [
        cnn_record("l1lab-channel", 0.8, s, r, m) for s, r, m in ((0, 44, 210_000), (1, 48, 200_000), (2, 51, 190_000))
    ]
    records.append(cnn_record("tfmot", 0.8, 0, 0, 442_496))
    rows = report.summarize(records)
    assert [r["method"] for r in rows] == ["dense", "l1lab-channel", "tfmot"]  # a CNN sweep's order
    assert (rows[1]["removed_channels"], rows[1]["prunable_channels"], rows[1]["multiply_adds"]) == (48, 128, 200_000)
    assert "kept_inputs" not in rows[1]
    settings = presets.SweepSettings.for_model("ds-cnn", "fashion-mnist")
    table = report.markdown(rows, settings)
    header = next(cells(line) for line in table.splitlines() if line.startswith("|"))
    assert header[:7] == ["method", "value", "error", "sparsity", "channels removed", "MACs", "float"]
    body = next(cells(line) for line in table.splitlines() if line.startswith("| l1lab-channel"))
    assert body[4:6] == ["48 of 128", "200000"]
    assert "ds-cnn, 6 epochs, learning rate 0.05" in table and "Fashion-MNIST's standard split" in table
    assert "Sparsity: of the Dense and Conv2D kernels, what TF-MOT prunes" in table
    assert "the article's 784-64-64-10 network" in report.markdown(
        report.summarize([record("dense", 0, 0, 0.03, 0, 5.0)]), SETTINGS
    )


def test_the_plot_has_a_tflm_panel_where_tflm_ran(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib", reason="the report extra draws the plots")
    import matplotlib.pyplot as plt

    panels = []
    subplots = plt.subplots
    monkeypatch.setattr(plt, "subplots", lambda *a, **k: panels.append(a[1]) or subplots(*a, **k))
    rows = report.summarize([cnn_record("dense", 0, 0, 0, 442_496)])
    report.plot(rows, tmp_path / "plain.png")
    rows[0]["files"]["int8-full"] = {"size_bytes": 17_700, "micro_runs": True, "micro_latency_us": 600.0}
    report.plot(rows, tmp_path / "micro.png")
    assert panels == [3, 4]
