"""The sweep's targets judged on its summary."""

import pytest

from l1lab.edge.sweep import targets


def _summary_row(method, value, error, sparsity, files, kept=784, hidden=128):
    files = {f: {"latency_us": lat, "size_bytes": size, "agrees": True} for f, (lat, size) in files.items()}
    return {
        "method": method,
        "value": value,
        "inacc_test": error,
        "sparsity": sparsity,
        "kept_inputs": kept,
        "input_dim": 784,
        "hidden_units": hidden,
        "hidden_units_before": 128,
        "multiply_adds": 1000,
        "files": files,
    }


def test_targets_judge_p1_p4_and_structure_on_the_summary():
    rows = [
        _summary_row("dense", 0.0, 0.022, 0.0, {"float": (6.0, 220_000), "int8": (3.6, 60_000)}),
        _summary_row("tfmot", 0.9, 0.024, 0.9, {"float-sparse": (4.8, 36_000), "int8": (3.7, 60_000)}),
        _summary_row("tfmot", 0.95, 0.030, 0.95, {"float-sparse": (4.0, 20_000)}),
        # Faster and smaller than TF-MOT's 90% by 2x and more, and than dense by 3x / 10x, but too inaccurate:
        _summary_row("l1lab-group", 0.95, 0.025, 0.95, {"float": (1.0, 10_000)}, kept=300, hidden=40),
        # As accurate: the candidate for P4; 2.4x faster but only 1.8x smaller than TF-MOT in float.
        _summary_row(
            "l1lab-group",
            0.9,
            0.023,
            0.9,
            {"float": (2.4, 30_000), "float-sparse": (2.0, 20_000), "int8": (1.8, 9_000)},
            kept=400,
            hidden=60,
        ),
        _summary_row("l1lab-l1", 0.9, 0.0245, 0.9, {"float": (4.0, 100_000)}),
    ]
    verdicts = {v["name"]: v for v in targets.targets(rows)}
    assert [name for name in verdicts] == [
        "P1 l1lab-l1 at 0.9",
        "P1 l1lab-group at 0.9",
        "P1 l1lab-group at 0.95",
        "P4 float",
        "structure",
        "P4 int8",
    ]
    assert not verdicts["P1 l1lab-l1 at 0.9"]["met"] and verdicts["P1 l1lab-group at 0.9"]["met"]
    assert verdicts["P1 l1lab-group at 0.95"]["met"]  # 2.50% vs 3.00%
    p4 = verdicts["P4 float"]
    assert not p4["met"] and p4["candidate"] == {"method": "l1lab-group", "value": 0.9, "format": "float-sparse"}
    assert p4["ratios"]["peer"] == pytest.approx({"faster": 4.8 / 2.0, "smaller": 36_000 / 20_000})
    assert p4["ratios"]["dense"] == pytest.approx({"faster": 6.0 / 2.0, "smaller": 220_000 / 20_000})
    assert not verdicts["structure"]["met"] and verdicts["structure"]["kept"] == {"inputs": 400, "hidden_units": 60}
    assert verdicts["P4 int8"]["met"] is False  # 2.06x faster, 6.7x smaller than TF-MOT; vs dense 2x: short
    rows[-2]["files"]["int8"] = {"latency_us": 1.0, "size_bytes": 5_000, "agrees": True}
    assert {v["name"]: v for v in targets.targets(rows)}["P4 int8"]["met"]
    # The file meeting most parts of P4, not the fastest: a faster float file twice the size loses.
    rows[-2]["files"]["float"] = {"latency_us": 1.9, "size_bytes": 30_000, "agrees": True}
    assert {v["name"]: v for v in targets.targets(rows)}["P4 float"]["candidate"]["format"] == "float-sparse"
    assert targets.targets([r for r in rows if r["method"] != "tfmot"]) == []


def test_a_tie_with_the_peer_is_no_worse():
    """P1 and P4 ask for an error no higher than TF-MOT's: equal errors meet them."""
    rows = [
        _summary_row("dense", 0.0, 0.022, 0.0, {"float": (6.0, 220_000), "int8": (3.6, 60_000)}),
        _summary_row("tfmot", 0.9, 0.0268, 0.9, {"float-sparse": (4.8, 36_000), "int8": (3.7, 60_000)}),
        _summary_row("l1lab-group", 0.9, 0.0268, 0.9, {"float": (1.5, 15_000), "int8": (1.0, 5_000)}, 300, 60),
    ]
    verdicts = {v["name"]: v for v in targets.targets(rows)}
    assert verdicts["P1 l1lab-group at 0.9"]["met"]
    assert verdicts["P4 float"]["candidate"]["method"] == "l1lab-group" and verdicts["P4 float"]["met"]
    rows[2]["inacc_test"] = 0.02681  # one more error in 100,000: no longer
    verdicts = {v["name"]: v for v in targets.targets(rows)}
    assert not verdicts["P1 l1lab-group at 0.9"]["met"] and "candidate" not in verdicts["P4 float"]


def _p4_rows(ours_files, kept=300, hidden=60):
    return [
        _summary_row("dense", 0.0, 0.022, 0.0, {"float": (6.0, 200_000), "int8": (3.0, 100_000)}),
        _summary_row("tfmot", 0.9, 0.025, 0.9, {"float-sparse": (4.0, 40_000), "int8": (2.0, 50_000)}),
        _summary_row("l1lab-group", 0.9, 0.024, 0.9, ours_files, kept, hidden),
    ]


def test_p4_is_met_at_exactly_the_wanted_ratios_and_not_below():
    """2x faster and smaller than TF-MOT's file, 3x faster and 10x smaller than dense: exactly, so met."""
    verdicts = {v["name"]: v for v in targets.targets(_p4_rows({"float": (2.0, 20_000)}))}
    assert verdicts["P4 float"]["met"]
    assert verdicts["P4 float"]["ratios"] == {
        "peer": {"faster": 2.0, "smaller": 2.0},
        "dense": {"faster": 3.0, "smaller": 10.0},
    }
    for files in ({"float": (2.01, 20_000)}, {"float": (2.0, 20_001)}):  # a hair short of one ratio
        assert not {v["name"]: v for v in targets.targets(_p4_rows(files))}["P4 float"]["met"]


def test_p4_texts_carry_the_files_figures():
    verdicts = {v["name"]: v for v in targets.targets(_p4_rows({"float": (2.0, 20_000)}))}
    assert all(set(v) >= {"name", "met", "text"} for v in verdicts.values())
    text = verdicts["P4 float"]["text"]
    for figure in ("2.00 µs", "20.0 KB", "float-sparse", "2.00x faster", "2.00x smaller", "3.00x faster", "10.0x"):
        assert figure in text


@pytest.mark.parametrize("kept, hidden, met", [(392, 64, True), (393, 64, False), (392, 65, False)])
def test_structure_is_met_at_exactly_half(kept, hidden, met):
    verdicts = {v["name"]: v for v in targets.targets(_p4_rows({"float": (2.0, 20_000)}, kept, hidden))}
    assert verdicts["structure"]["met"] is met


def test_a_kind_the_peer_lacks_is_not_judged_and_the_others_are():
    rows = _p4_rows({"float": (2.0, 20_000), "int8": (1.0, 5_000)})
    del rows[1]["files"]["float-sparse"]  # TF-MOT shipped no float file
    verdicts = {v["name"]: v for v in targets.targets(rows)}
    assert "P4 float" not in verdicts and "structure" not in verdicts and verdicts["P4 int8"]["met"]


def test_p4_without_a_candidate_is_not_met_and_ties_between_candidates_choose_one():
    rows = _p4_rows({"float": (2.0, 20_000)})
    rows[2]["inacc_test"] = 0.03  # worse than TF-MOT
    verdicts = {v["name"]: v for v in targets.targets(rows)}
    assert verdicts["P4 float"]["met"] is False and "0.9 (2.50%)" in verdicts["P4 float"]["text"]
    rows = _p4_rows({"float": (2.0, 20_000)})
    rows.append({**rows[2], "value": 0.95})  # a second candidate with the very same figures
    assert {v["name"]: v for v in targets.targets(rows)}["P4 float"]["candidate"]["value"] in (0.9, 0.95)


def test_p4_reads_every_file_of_a_row_whatever_their_order():
    rows = _p4_rows({"int8": (1.0, 5_000), "float": (2.0, 20_000)})  # int8 first
    assert {v["name"]: v for v in targets.targets(rows)}["P4 float"]["candidate"]["format"] == "float"


def test_p4_texts_carry_each_figure_once():
    verdicts = {v["name"]: v for v in targets.targets(_p4_rows({"float": (2.0, 123_456)}))}
    text = verdicts["P4 float"]["text"]
    assert "123.5 KB" in text and "2.00x faster" in text and "0.32x smaller" in text and "{" not in text


def _micro(row, latency_us, size_bytes, arena_bytes):
    row["files"]["int8-full"] = {
        "latency_us": None,
        "size_bytes": size_bytes,
        "agrees": True,
        "micro_runs": True,
        "micro_latency_us": latency_us,
        "arena_bytes": arena_bytes,
    }
    return row


def test_the_peer_is_the_better_of_tfmot_and_tfmot_decay():
    rows = [
        _summary_row("tfmot", 0.9, 0.0268, 0.9, {}),
        _summary_row("tfmot-decay", 0.9, 0.0253, 0.9, {}),
        _summary_row("l1lab-group", 0.9, 0.0260, 0.9, {}),
    ]
    assert targets.best_peer(rows, 0.9)["method"] == "tfmot-decay"
    (p1,) = [v for v in targets.targets(rows) if v["name"].startswith("P1")]
    assert not p1["met"] and p1["peer"] == "tfmot-decay"  # ahead of tfmot, behind its better run
    rows[1]["inacc_test"] = 0.0268
    assert targets.best_peer(rows, 0.9)["method"] == "tfmot"  # a tie: the first


def test_p5_wants_5x_faster_5x_smaller_and_no_larger_arena_in_tflm():
    peer = _micro(_summary_row("tfmot-decay", 0.9, 0.0253, 0.9, {}), 28.0, 58_000, 3_400)
    near = _micro(_summary_row("l1lab-budget", 12000, 0.0250, 0.95, {}), 6.9, 14_700, 2_000)  # 4.1x, 3.9x
    inaccurate = _micro(_summary_row("l1lab-budget", 5000, 0.0300, 0.95, {}), 3.0, 8_000, 1_500)
    verdicts = {v["name"]: v for v in targets.targets([peer, near, inaccurate])}
    p5 = verdicts["P5 microcontroller"]
    assert not p5["met"] and p5["candidate"]["value"] == 12000
    assert p5["ratios"] == pytest.approx({"faster": 28.0 / 6.9, "smaller": 58_000 / 14_700})
    near["files"]["int8-full"].update(micro_latency_us=5.6, size_bytes=11_600)  # exactly 5x each
    assert {v["name"]: v for v in targets.targets([peer, near])}["P5 microcontroller"]["met"]
    near["files"]["int8-full"]["arena_bytes"] = 3_401  # one byte more arena than the peer's
    assert not {v["name"]: v for v in targets.targets([peer, near])}["P5 microcontroller"]["met"]


def test_the_smallest_useful_model_is_within_2_7_percent_12_kb_and_4_kb():
    small = _micro(_summary_row("l1lab-budget", 8000, 0.027, 0.95, {}), 4.0, 12_000, 4_000)
    smaller_but_worse = _micro(_summary_row("l1lab-budget", 3000, 0.0271, 0.95, {}), 2.0, 6_000, 1_000)
    verdict = {v["name"]: v for v in targets.targets([small, smaller_but_worse])}["smallest useful model"]
    assert verdict["met"] and verdict["candidate"]["value"] == 8000
    small["files"]["int8-full"]["size_bytes"] = 12_001
    verdict = {v["name"]: v for v in targets.targets([small, smaller_but_worse])}["smallest useful model"]
    assert not verdict["met"] and "12.0 KB flash" in verdict["text"]  # the smallest within the error


def _cnn_row(method, value, error, macs, micro_us, flash, float_us, removed, sparsity=0.8):
    row = _summary_row(method, value, error, sparsity, {"float-sparse": (float_us, 20_000)})
    for key in ("kept_inputs", "input_dim", "hidden_units", "hidden_units_before"):
        del row[key]
    row.update(multiply_adds=macs, removed_channels=removed, prunable_channels=128)
    return _micro(row, micro_us, flash, 20_000)


CNN_PEER = _cnn_row("tfmot-decay", 0.8, 0.150, 442_496, 3_000.0, 30_000, 9.0, 0)


def test_cnn_targets_want_3x_macs_tflm_flash_2x_float_and_half_the_channels_against_tfmot_at_80():
    exactly = _cnn_row("l1lab-budget", 147_000, 0.150, 442_496 / 3, 1_000.0, 10_000, 4.5, 64)
    verdicts = {v["name"]: v for v in targets.channel_targets([CNN_PEER, exactly])}
    five = [name for name in verdicts if name.startswith("CNN")]
    assert five == [
        "CNN 3x multiply-adds",
        "CNN 3x TFLM int8-full latency",
        "CNN 2x desktop float latency",
        "CNN 3x flash (int8-full)",
        "CNN half the channels",
    ]
    assert all(verdicts[name]["met"] for name in five)  # exactly the wanted ratios, a tie on error
    assert verdicts["CNN 3x flash (int8-full)"]["ratio"] == pytest.approx(3.0)
    assert "10,000 vs 30,000" in verdicts["CNN 3x flash (int8-full)"]["text"]
    short = _cnn_row("l1lab-budget", 147_000, 0.150, 442_496 / 3 + 1, 1_000.1, 10_001, 4.51, 63)
    verdicts = {v["name"]: v for v in targets.channel_targets([CNN_PEER, short])}
    assert not any(verdicts[name]["met"] for name in five)
    assert "63 of 128" in verdicts["CNN half the channels"]["text"]


def test_cnn_targets_judge_only_models_no_worse_than_the_better_tfmot_run():
    worse_peer = _cnn_row("tfmot", 0.8, 0.160, 442_496, 3_000.0, 30_000, 9.0, 0)
    fast_but_worse = _cnn_row("l1lab-budget", 110_000, 0.155, 100_000, 500.0, 8_000, 3.0, 80)
    accurate = _cnn_row("l1lab-channel", 0.8, 0.149, 200_000, 1_800.0, 20_000, 7.0, 50)
    verdicts = {v["name"]: v for v in targets.channel_targets([worse_peer, CNN_PEER, fast_but_worse, accurate])}
    assert verdicts["CNN 3x multiply-adds"]["candidate"] == {"method": "l1lab-channel", "value": 0.8}
    assert (
        not verdicts["CNN 3x multiply-adds"]["met"]
        and "tfmot-decay's 80% model" in verdicts["CNN 3x multiply-adds"]["text"]
    )
    assert (
        verdicts["error l1lab-channel at 0.8"]["met"]
        and verdicts["error l1lab-channel at 0.8"]["peer"] == "tfmot-decay"
    )
    only_worse = {v["name"]: v for v in targets.channel_targets([CNN_PEER, fast_but_worse])}
    assert not any(only_worse[name]["met"] for name in only_worse if name.startswith("CNN"))  # 3x and more, too late
    assert only_worse["CNN half the channels"]["text"].startswith("no l1lab model has an error <= tfmot-decay's")
    assert "the most accurate, l1lab-budget at 110000 (15.50% error)" in only_worse["CNN 3x multiply-adds"]["text"]
    assert only_worse["CNN 3x flash (int8-full)"]["ratio"] == pytest.approx(30_000 / 8_000)
    assert targets.channel_targets([fast_but_worse]) == []  # no peer: nothing to judge against
