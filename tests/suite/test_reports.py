"""claims.json, claims.md, claims.png."""

import importlib.util
import json

import pytest

from l1lab.suite import compare, judge, record, reports, runner, scenarios


def test_reports(tiny_runs, tmp_path, tiny_scenario):
    runs, sizes = tiny_runs
    document = record.golden_document(tiny_scenario, runs, sizes)
    comparison = {"golden_line": "tf2.99-keras9", "drift_fails": False, "values_outside_tolerance": 1}
    drift = compare.Mismatch("tiny", 0, 2, "sparsity", 0.1, 0.2, "±0.02", "drift")
    outcome = runner.Outcome(
        results={"tiny": judge.judge(tiny_scenario, runs)},
        runs={"tiny": runs},
        goldens={"tiny": document},
        drift_elsewhere=[drift],
        comparisons={"tiny": comparison},
    )
    written = reports.write_reports(tmp_path, outcome)
    names = sorted(p.name for p in written)
    plot = ["claims.png"] if importlib.util.find_spec("matplotlib") else []  # the `report` extra
    assert names == ["claims.json", "claims.md", *plot] == sorted(p.name for p in tmp_path.iterdir())
    report = json.loads((tmp_path / "claims.json").read_text())
    assert report["scenarios"]["tiny"][0]["verdict"] == "holds"
    assert report["trajectories"] == {"tiny": comparison}
    assert report["mismatches"] == [] and report["drift_elsewhere"][0]["now"] == 0.2
    markdown = (tmp_path / "claims.md").read_text()
    assert markdown.splitlines()[0].startswith("| scenario | claim |") and "FAILS" in markdown


def test_plot_is_a_png(tiny_runs, tmp_path):
    pytest.importorskip("matplotlib", reason="the plot needs the `report` extra")
    runs, _ = tiny_runs
    path = reports.plot(tmp_path / "claims.png", {"tiny": runs}, {})
    assert path == tmp_path / "claims.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.png"]  # no temporary left


def test_counts_read_as_counts_fractions_to_four_decimals():

    edge = scenarios.get_scenario("edge-group-target")
    fractions = ("sparsity", "inacc_train", "inacc_test", "ent_train", "ent_test")
    runs = {
        s: {
            **{m: [0.025] for m in fractions},
            "kept_inputs": [400 + s],
            "hidden_units": [70],
            "multiply_adds": [16000 + s],
        }
        for s in range(3)
    }
    rows = {row[1]: row for row in reports.report_rows({edge.name: judge.judge(edge, runs)})}
    assert rows["multiply_adds < 20000"][5:] == ["16001", "+3999", "3/3 seeds", "16000..16002"]
    assert rows["inacc_test < 0.03"][5:7] == ["0.0250", "+0.0050"]
