"""Golden documents written by training: update, rejudge, record-line (tiny runs)."""

import json

import pytest

from l1lab import runs as runs_lib
from l1lab.suite import golden, judge, lines, record, scenarios


def test_golden_round_trip_and_clean_check(tiny_runs, tmp_path, tiny_split, tiny_scenario):
    runs, sizes = tiny_runs
    document = record.golden_document(tiny_scenario, runs, sizes)
    path = golden.write(tmp_path, "tiny", document)
    # One line per list: reviewable diffs (a file of one line per value would be thousands).
    assert path.read_text().count("\n") < 250
    loaded = golden.load(tmp_path, "tiny")
    assert set(json.loads(path.read_text())["trajectories"]) == {"0", "1", "2"}  # strings only in the file
    assert loaded["trajectories"] == document["trajectories"] and loaded["seeds"] == [0, 1, 2]  # ints in memory
    assert [c["verdict"] for c in loaded["claims"]] == ["holds", "holds", "fails"]
    assert loaded["claims"][0]["seeds"] == 3 and set(loaded["claims"][0]["values"]) == {0, 1, 2}
    assert loaded["versions"]["tensorflow"] and loaded["config"]["numEpochs"] == 3
    # A rerun with the golden seeds reproduces it: no mismatch.
    seeds = judge.seeds_for_check(loaded, 2)
    rerun, _ = runs_lib.run_seeds(tiny_scenario.config(), seeds, data=tiny_split())
    results, mismatches = judge.check(tiny_scenario, loaded, rerun)
    assert mismatches == []
    assert [r.verdict for r in results] == ["holds", "holds", "fails"]


def test_change_summary(tiny_runs, tiny_scenario):
    runs, sizes = tiny_runs
    new = record.golden_document(tiny_scenario, runs, sizes)
    assert "new golden file" in record.change_summary(None, new)
    old = {**new, "claims": [dict(c) for c in new["claims"]], "trajectories": dict(new["trajectories"])}
    old["claims"][0]["median"] = 0.5
    old["claims"].append({"id": "gone", "median": 0.1, "verdict": "holds"})
    old["trajectories"][1] = {**old["trajectories"][1], "sparsity": [0.9, 0.9, 0.9]}
    summary = record.change_summary(old, new)
    assert "claim sparse: median 0.5 ->" in summary
    assert "values outside tolerance" in summary and " 0 values" not in summary
    assert "claim gone: removed" in summary


def test_change_summary_names_renamed_variables(tiny_runs, tiny_scenario):
    runs, sizes = tiny_runs
    new = record.golden_document(tiny_scenario, runs, sizes)
    renamed = {f"sequential/{name}": size for name, size in sizes.items()}
    old_runs = {
        seed: {**t, "layers_numNz": {f"sequential/{k}": v for k, v in t["layers_numNz"].items()}}
        for seed, t in runs.items()
    }
    old = record.golden_document(tiny_scenario, old_runs, renamed)
    summary = record.change_summary(old, new)
    assert "only in the previous file ['sequential/dense_1/bias'" in summary
    assert "only in the new one ['dense_1/bias'" in summary
    variables, epochs, seeds = len(sizes), len(runs[0]["sparsity"]), len(runs)
    assert f"trajectories: {2 * variables * epochs * seeds} values outside tolerance" in summary


def test_record_line_records_only_what_differs_and_makes_drift_fail(
    tiny_runs, tmp_path, monkeypatch, tiny_split, tiny_scenario
):
    runs, sizes = tiny_runs
    monkeypatch.setitem(scenarios.SCENARIOS, "tiny", tiny_scenario)
    reference = record.golden_document(tiny_scenario, runs, sizes)
    golden.write(tmp_path, "tiny", reference)
    here = reference["versions"]
    with pytest.raises(golden.GoldenError, match="is the line of golden/tiny.json itself"):
        record.record_line([tiny_scenario], tmp_path, seeds=1)

    other = {**here, "tensorflow": "2.99.0", "keras_flavour": "keras9"}
    monkeypatch.setattr(record, "versions", lambda: other)
    train = runs_lib.run_seeds
    monkeypatch.setattr(
        runs_lib, "run_seeds", lambda config, seeds, **kwargs: train(config, seeds, **{**kwargs, "data": tiny_split()})
    )
    line_dir = tmp_path / "tf2.99-keras9"
    assert golden.load_line(line_dir) is None

    # Identical to the reference: nothing recorded, and drift now fails against the reference.
    manifest, said = record.record_line([tiny_scenario], tmp_path, seeds=1)
    assert manifest["scenarios"]["tiny"] == {
        "trajectories": "reference",
        "seeds": [0],
        "values_outside_reference_tolerance": 0,
    }
    assert "identical" in said[0] and not (line_dir / "tiny.json").exists()
    assert golden.load_line(line_dir)["line"] == "tf2.99-keras9"
    choice = lines.golden_for_stack(tmp_path, "tiny", other)
    assert choice.strict is True and choice.document == reference and "identical on tf2.99-keras9" in choice.note

    # The reference moved away: this line's trajectories are recorded beside it.
    moved = golden.load(tmp_path, "tiny")
    moved["trajectories"][0]["sparsity"] = [v + 0.5 for v in moved["trajectories"][0]["sparsity"]]
    golden.write(tmp_path, "tiny", moved)
    manifest, said = record.record_line([tiny_scenario], tmp_path, seeds=1)
    entry = manifest["scenarios"]["tiny"]
    assert entry["trajectories"] == "recorded" and entry["values_outside_reference_tolerance"] == tiny_scenario.epochs
    recorded = golden.load(line_dir, "tiny")
    assert recorded["versions"]["tensorflow"] == "2.99.0" and recorded["trajectories"][0] == runs[0]
    assert recorded["command"] == f"l1lab golden record-line --all --seeds 1 --golden-dir {tmp_path}"
    choice = lines.golden_for_stack(tmp_path, "tiny", other)
    assert choice.strict is True and choice.document == recorded

    # A recorded file the manifest needs is missing: say so, do not fall back.
    (line_dir / "tiny.json").unlink()
    with pytest.raises(golden.GoldenError, match="missing"):
        lines.golden_for_stack(tmp_path, "tiny", other)
    (line_dir / golden.LINE_FILE).write_text('{"schema": "something else"}')
    with pytest.raises(golden.GoldenError, match="record-line --all"):
        lines.golden_for_stack(tmp_path, "tiny", other)
