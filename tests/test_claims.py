"""Scenarios, claims and golden files, on tiny runs (the real ones are in test_claims_slow.py)."""

import dataclasses
import json

import pytest

from l1lab import claims, golden
from l1lab.claims import Claim, ClaimResult, Scenario
from l1lab.methods import MethodOptions
from tests.test_train import tiny_split

TINY = Scenario(
    name="tiny",
    title="a tiny proximal run",
    method="proximal-sgd",
    options=MethodOptions(l1=0.05),
    claims=(
        Claim("sparse", "l1lab", "sparse", "sparsity", ">", 0.05),
        Claim("accurate", "l1lab", "accurate", "inacc_test", "<", 0.9),
        Claim("very-sparse", "article", "very sparse", "sparsity", ">", 0.999, asserted=False),
    ),
    why="tests",
    learning_rate=0.05,
    epochs=3,
    num_samples=64,
)


@pytest.fixture(scope="module")
def tiny_runs():
    return claims.run(TINY, [0, 1, 2], data=tiny_split())


def test_trajectory_is_column_wise(tiny_runs):
    runs, sizes = tiny_runs
    assert sorted(runs) == [0, 1, 2]
    t = runs[0]
    assert all(len(t[m]) == 3 for m in golden.TRAJECTORY_METRICS)
    assert sorted(t["layers_numNz"]) == sorted(sizes)
    assert sizes["dense_1/kernel"] == 50176
    assert t["sparsity"][-1] > t["sparsity"][0] > 0


def test_verdicts():
    claim = Claim("c", "article", "over half", "sparsity", ">", 0.5)
    assert ClaimResult(claim, {0: 0.6, 1: 0.7, 2: 0.55}).verdict == "holds"
    fragile = ClaimResult(claim, {0: 0.6, 1: 0.49, 2: 0.51})
    assert fragile.verdict == "fragile" and fragile.holds_on == 2
    assert fragile.margin == pytest.approx(0.01)
    assert ClaimResult(claim, {0: 0.4, 1: 0.6, 2: 0.3}).verdict == "fails"
    below = Claim("b", "l1lab", "low error", "inacc_test", "<", 0.1)
    assert ClaimResult(below, {0: 0.05}).margin == pytest.approx(0.05)
    with pytest.raises(ValueError):
        Claim("x", "l1lab", "", "accuracy", ">", 0.5)


def test_golden_round_trip_and_clean_check(tiny_runs, tmp_path):
    runs, sizes = tiny_runs
    document = claims.golden_document(TINY, runs, sizes)
    path = golden.write(tmp_path, "tiny", document)
    assert path.read_text().count("\n") < 200  # one line per list: reviewable diffs
    loaded = golden.load(tmp_path, "tiny")
    assert loaded == json.loads(json.dumps(document))
    assert [c["verdict"] for c in loaded["claims"]] == ["holds", "holds", "fails"]
    assert loaded["claims"][0]["seeds"] == 3 and set(loaded["claims"][0]["values"]) == {"0", "1", "2"}
    assert loaded["versions"]["tensorflow"] and loaded["config"]["epochs"] == 3
    # A rerun with the golden seeds reproduces it: no mismatch.
    seeds = claims.seeds_for_check(loaded, 2)
    rerun, _ = claims.run(TINY, seeds, data=tiny_split())
    results, mismatches = claims.check(TINY, loaded, rerun)
    assert mismatches == []
    assert [r.verdict for r in results] == ["holds", "holds", "fails"]


def test_drift_and_broken_claims_are_told_apart(tiny_runs, tmp_path):
    runs, sizes = tiny_runs
    document = json.loads(json.dumps(claims.golden_document(TINY, runs, sizes)))
    moved = {seed: dict(t) for seed, t in runs.items()}
    moved[0]["inacc_test"] = [v + 0.5 for v in moved[0]["inacc_test"]]  # drift on seed 0
    broken = dataclasses.replace(TINY, claims=(Claim("sparse", "l1lab", "sparse", "sparsity", ">", 0.99),))
    _, mismatches = claims.check(broken, claims.rejudge(broken, document), moved)
    kinds = {m.kind for m in mismatches}
    assert kinds == {"drift", "claim"}
    table = golden.mismatch_table(mismatches)
    lines = table.splitlines()
    assert lines[0].split() == golden.MISMATCH_HEADER
    assert "CLAIM BROKE" in lines[2]  # claims first
    assert "sparsity > 0.99" in lines[2] and "inacc_test" in table and "drift from here (3 epochs)" in table


def test_unasserted_claims_never_break_a_check(tiny_runs):
    runs, sizes = tiny_runs
    document = json.loads(json.dumps(claims.golden_document(TINY, runs, sizes)))
    results, mismatches = claims.check(TINY, document, runs)
    assert results[2].verdict == "fails" and not results[2].claim.asserted
    assert mismatches == []


def test_foreign_seed_is_refused(tiny_runs):
    runs, sizes = tiny_runs
    document = json.loads(json.dumps(claims.golden_document(TINY, {0: runs[0]}, sizes)))
    with pytest.raises(ValueError, match="seed 1 is not in the golden file"):
        claims.check(TINY, document, {1: runs[1]})
    with pytest.raises(ValueError, match="has 1"):
        claims.seeds_for_check(document, 2)


def test_change_summary(tiny_runs):
    runs, sizes = tiny_runs
    new = json.loads(json.dumps(claims.golden_document(TINY, runs, sizes)))
    assert "new golden file" in claims.change_summary(None, new)
    old = json.loads(json.dumps(new))
    old["claims"][0]["median"] = 0.5
    old["claims"].append({"id": "gone", "median": 0.1, "verdict": "holds"})
    old["trajectories"]["1"]["sparsity"] = [0.9, 0.9, 0.9]
    summary = claims.change_summary(old, new)
    assert "claim sparse: median 0.5 ->" in summary
    assert "values outside tolerance" in summary and " 0 values" not in summary
    assert "claim gone: removed" in summary


def test_reports(tiny_runs, tmp_path):
    runs, sizes = tiny_runs
    document = json.loads(json.dumps(claims.golden_document(TINY, runs, sizes)))
    comparison = {"golden_line": "tf2.99-keras9", "drift_fails": False, "values_outside_tolerance": 1}
    drift = golden.Mismatch("tiny", 0, 2, "sparsity", 0.1, 0.2, "±0.02", "drift")
    outcome = claims.Outcome(results={"tiny": claims.judge(TINY, runs)}, runs={"tiny": runs},
                             goldens={"tiny": document}, drift_elsewhere=[drift], comparisons={"tiny": comparison})
    written = claims.write_reports(tmp_path, outcome)
    names = sorted(p.name for p in written)
    assert names[:2] == ["claims.json", "claims.md"]
    report = json.loads((tmp_path / "claims.json").read_text())
    assert report["scenarios"]["tiny"][0]["verdict"] == "holds"
    assert report["trajectories"] == {"tiny": comparison}
    assert report["mismatches"] == [] and report["drift_elsewhere"][0]["now"] == 0.2
    markdown = (tmp_path / "claims.md").read_text()
    assert markdown.splitlines()[0].startswith("| scenario | claim |") and "FAILS" in markdown
    if "claims.png" in names:
        assert (tmp_path / "claims.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scenarios_are_well_formed():
    for name, scenario in claims.SCENARIOS.items():
        assert scenario.name == name and scenario.epochs == claims.ARTICLE_EPOCHS
        scenario.config(seed=0).validate()
        assert len({c.id for c in scenario.claims}) == len(scenario.claims)
    article = {s.article_flag for s in claims.SCENARIOS.values()}
    assert {"regL1Try1", "regL1Try3", "regL1Alt", None} <= article


def test_changed_claims_or_config_need_the_golden_file_again(tiny_runs):
    runs, sizes = tiny_runs
    document = json.loads(json.dumps(claims.golden_document(TINY, runs, sizes)))
    stricter = dataclasses.replace(TINY, claims=(dataclasses.replace(TINY.claims[0], threshold=0.5), *TINY.claims[1:]))
    with pytest.raises(golden.GoldenError, match="--rejudge"):
        claims.check(stricter, document, runs)
    rejudged = claims.rejudge(stricter, document)
    assert rejudged["trajectories"] == document["trajectories"]
    assert rejudged["claims"][0]["threshold"] == 0.5
    claims.check(stricter, rejudged, runs)
    longer = dataclasses.replace(TINY, epochs=4)
    with pytest.raises(golden.GoldenError, match="another configuration"):
        claims.check(longer, document, runs)
    with pytest.raises(golden.GoldenError, match="configuration changed"):
        claims.rejudge(longer, document)


def test_golden_for_stack_fails_drift_only_on_a_recorded_line(tiny_runs, tmp_path, monkeypatch):
    runs, sizes = tiny_runs
    monkeypatch.setitem(claims.SCENARIOS, "tiny", TINY)
    document = claims.golden_document(TINY, runs, sizes)
    golden.write(tmp_path, "tiny", document)
    here = document["versions"]
    line = golden.stack_line(here)
    assert line.startswith("tf2.") and line.endswith(("keras2", "keras3"))
    assert claims.golden_for_stack(tmp_path, "tiny", here).strict is True
    other = {**here, "tensorflow": "2.99.0", "keras_flavour": "keras9"}  # a line that is never this one
    choice = claims.golden_for_stack(tmp_path, "tiny", other)
    assert choice.strict is False and choice.document["versions"] == json.loads(json.dumps(here))
    assert "for information" in choice.note and f"golden record-line tiny --golden-dir {tmp_path}" in choice.note

    # Another line's file: drift informs, a broken claim still fails.
    moved = {seed: {**t, "inacc_test": [v + 0.9 for v in t["inacc_test"]]} for seed, t in runs.items()}
    _, found = claims.check(TINY, document, moved)
    failures, information = choice.split(found)
    assert [m.kind for m in failures] == ["claim"] and failures[0].metric.startswith("accurate")
    assert information and {m.kind for m in information} == {"drift"} and len(information) == len(found) - 1

    # Recorded for that line: compared against it, and drift fails.
    line_document = claims.golden_document(TINY, runs, sizes, "golden/tf2.99-keras9")
    assert line_document["command"] == "l1lab golden update tiny --seeds 3 --golden-dir golden/tf2.99-keras9"
    assert document["command"] == "l1lab golden update tiny --seeds 3"
    golden.write(tmp_path / "tf2.99-keras9", "tiny", {**line_document, "versions": other})
    choice = claims.golden_for_stack(tmp_path, "tiny", other)
    assert choice.strict is True and choice.document["versions"]["tensorflow"] == "2.99.0"
    assert "tf2.99-keras9" in choice.note
    assert choice.split(found) == (found, [])


def test_record_line_records_only_what_differs_and_makes_drift_fail(tiny_runs, tmp_path, monkeypatch):
    runs, sizes = tiny_runs
    monkeypatch.setitem(claims.SCENARIOS, "tiny", TINY)
    reference = json.loads(json.dumps(claims.golden_document(TINY, runs, sizes)))
    golden.write(tmp_path, "tiny", reference)
    here = reference["versions"]
    with pytest.raises(golden.GoldenError, match="is the line of golden/tiny.json itself"):
        claims.record_line([TINY], tmp_path, seeds=1)

    other = {**here, "tensorflow": "2.99.0", "keras_flavour": "keras9"}
    monkeypatch.setattr(claims, "versions", lambda: other)
    train = claims.run
    monkeypatch.setattr(claims, "run", lambda scenario, seeds, on_seed=None: train(scenario, seeds, data=tiny_split()))
    line_dir = tmp_path / "tf2.99-keras9"
    assert golden.load_line(line_dir) is None

    # Identical to the reference: nothing recorded, and drift now fails against the reference.
    manifest, said = claims.record_line([TINY], tmp_path, seeds=1)
    assert manifest["scenarios"]["tiny"] == {
        "trajectories": "reference", "seeds": [0], "values_outside_reference_tolerance": 0}
    assert "identical" in said[0] and not (line_dir / "tiny.json").exists()
    assert golden.load_line(line_dir)["line"] == "tf2.99-keras9"
    choice = claims.golden_for_stack(tmp_path, "tiny", other)
    assert choice.strict is True and choice.document == reference and "identical on tf2.99-keras9" in choice.note

    # The reference moved away: this line's trajectories are recorded beside it.
    moved = json.loads(json.dumps(reference))
    moved["trajectories"]["0"]["sparsity"] = [v + 0.5 for v in moved["trajectories"]["0"]["sparsity"]]
    golden.write(tmp_path, "tiny", moved)
    manifest, said = claims.record_line([TINY], tmp_path, seeds=1)
    entry = manifest["scenarios"]["tiny"]
    assert entry["trajectories"] == "recorded" and entry["values_outside_reference_tolerance"] == TINY.epochs
    recorded = golden.load(line_dir, "tiny")
    assert recorded["versions"]["tensorflow"] == "2.99.0" and recorded["trajectories"]["0"] == runs[0]
    assert recorded["command"] == f"l1lab golden update tiny --seeds 1 --golden-dir {line_dir}"
    choice = claims.golden_for_stack(tmp_path, "tiny", other)
    assert choice.strict is True and choice.document == recorded

    # A recorded file the manifest needs is missing: say so, do not fall back.
    (line_dir / "tiny.json").unlink()
    with pytest.raises(golden.GoldenError, match="missing"):
        claims.golden_for_stack(tmp_path, "tiny", other)
    (line_dir / golden.LINE_FILE).write_text('{"schema": "something else"}')
    with pytest.raises(golden.GoldenError, match="record-line --all"):
        claims.golden_for_stack(tmp_path, "tiny", other)
