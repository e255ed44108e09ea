"""Which golden file a TensorFlow/Keras line is checked against (tiny runs)."""

import json

from l1lab.suite import golden, judge, lines, record, scenarios


def test_golden_for_stack_fails_drift_only_on_a_recorded_line(tiny_runs, tmp_path, monkeypatch, tiny_scenario):
    runs, sizes = tiny_runs
    monkeypatch.setitem(scenarios.SCENARIOS, "tiny", tiny_scenario)
    document = record.golden_document(tiny_scenario, runs, sizes)
    golden.write(tmp_path, "tiny", document)
    here = document["versions"]
    line = golden.stack_line(here)
    assert line.startswith("tf2.") and line.endswith(("keras2", "keras3"))
    assert lines.golden_for_stack(tmp_path, "tiny", here).strict is True
    other = {**here, "tensorflow": "2.99.0", "keras_flavour": "keras9"}  # a line that is never this one
    choice = lines.golden_for_stack(tmp_path, "tiny", other)
    assert choice.strict is False and choice.document["versions"] == json.loads(json.dumps(here))
    assert "for information" in choice.note and f"golden record-line tiny --golden-dir {tmp_path}" in choice.note

    # Another line's file: drift informs, a broken claim still fails.
    moved = {seed: {**t, "inacc_test": [v + 0.9 for v in t["inacc_test"]]} for seed, t in runs.items()}
    _, found = judge.check(tiny_scenario, document, moved)
    failures, information = choice.split(found)
    assert [m.kind for m in failures] == ["claim"] and failures[0].metric.startswith("accurate")
    assert information and {m.kind for m in information} == {"drift"} and len(information) == len(found) - 1

    # Recorded for that line: compared against it, and drift fails.
    line_document = record.golden_document(tiny_scenario, runs, sizes, "l1lab golden record-line --all")
    assert line_document["command"] == "l1lab golden record-line --all"
    assert document["command"] == "l1lab golden update tiny --seeds 3"
    golden.write(tmp_path / "tf2.99-keras9", "tiny", {**line_document, "versions": other})
    choice = lines.golden_for_stack(tmp_path, "tiny", other)
    assert choice.strict is True and choice.document["versions"]["tensorflow"] == "2.99.0"
    assert "tf2.99-keras9" in choice.note
    assert choice.split(found) == (found, [])


def test_a_cpu_dependent_scenario_is_strict_only_on_the_cpu_that_wrote_its_file(tiny_runs, tmp_path, tiny_scenario):
    import dataclasses

    runs, sizes = tiny_runs
    document = record.golden_document(tiny_scenario, runs, sizes)
    golden.write(tmp_path, "tiny", document)
    here = document["versions"]
    elsewhere = {**here, "cpu": "Another CPU (avx2)"}
    cpu_bound = dataclasses.replace(tiny_scenario, cpu_dependent=True)
    assert lines.golden_for_stack(tmp_path, cpu_bound, here).strict is True
    choice = lines.golden_for_stack(tmp_path, cpu_bound, elsewhere)
    assert choice.strict is False
    assert f"written on another CPU ({here['cpu']}; this one: Another CPU (avx2))" in choice.note
    assert "`l1lab golden update tiny` on this CPU" in choice.note
    # A file that records no CPU (written before l1lab recorded it) is another CPU's.
    golden.write(tmp_path, "tiny", {**document, "versions": {k: v for k, v in here.items() if k != "cpu"}})
    assert "another CPU (not recorded" in lines.golden_for_stack(tmp_path, cpu_bound, here).note
    # Other scenarios stay strict on any CPU of their line: the tolerances absorb the kernels.
    assert lines.golden_for_stack(tmp_path, tiny_scenario, elsewhere).strict is True
