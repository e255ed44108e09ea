"""Verdicts over seeds, and checking a fresh run against a golden file (tiny runs)."""

import dataclasses

import pytest

from l1lab import runs as runs_lib
from l1lab.suite import compare, golden, judge, record
from l1lab.suite.judge import ClaimResult
from l1lab.suite.scenarios import Claim


def test_trajectory_is_column_wise(tiny_runs):
    runs, sizes = tiny_runs
    assert sorted(runs) == [0, 1, 2]
    t = runs[0]
    assert all(len(t[m]) == 3 for m in runs_lib.TRAJECTORY_METRICS)
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
    with pytest.raises(ValueError, match="bad op '>='"):
        Claim("x", "l1lab", "", "sparsity", ">=", 0.5)
    with pytest.raises(ValueError, match="metric 'two words'"):
        Claim("x", "l1lab", "", "two words", ">", 0.5)


def test_drift_and_broken_claims_are_told_apart(tiny_runs, tmp_path, tiny_scenario):
    runs, sizes = tiny_runs
    document = record.golden_document(tiny_scenario, runs, sizes)
    moved = {seed: dict(t) for seed, t in runs.items()}
    moved[0]["inacc_test"] = [v + 0.5 for v in moved[0]["inacc_test"]]  # drift on seed 0
    broken = dataclasses.replace(tiny_scenario, claims=(Claim("sparse", "l1lab", "sparse", "sparsity", ">", 0.99),))
    _, mismatches = judge.check(broken, record.rejudge(broken, document), moved)
    kinds = {m.kind for m in mismatches}
    assert kinds == {"drift", "claim"}
    table = compare.mismatch_table(mismatches)
    lines = table.splitlines()
    assert lines[0].split() == compare.MISMATCH_HEADER
    assert "CLAIM BROKE" in lines[2]  # claims first
    assert "sparsity > 0.99" in lines[2] and "inacc_test" in table and "drift from here (3 epochs)" in table


def test_unasserted_claims_never_break_a_check(tiny_runs, tiny_scenario):
    runs, sizes = tiny_runs
    document = record.golden_document(tiny_scenario, runs, sizes)
    results, mismatches = judge.check(tiny_scenario, document, runs)
    assert results[2].verdict == "fails" and not results[2].claim.asserted
    assert mismatches == []


def test_foreign_seed_is_refused(tiny_runs, tiny_scenario):
    runs, sizes = tiny_runs
    document = record.golden_document(tiny_scenario, {0: runs[0]}, sizes)
    with pytest.raises(ValueError, match="seed 1 is not in the golden file"):
        judge.check(tiny_scenario, document, {1: runs[1]})
    with pytest.raises(ValueError, match="has 1"):
        judge.seeds_for_check(document, 2)


def test_changed_claims_or_config_need_the_golden_file_again(tiny_runs, tiny_scenario):
    runs, sizes = tiny_runs
    document = record.golden_document(tiny_scenario, runs, sizes)
    stricter = dataclasses.replace(
        tiny_scenario, claims=(dataclasses.replace(tiny_scenario.claims[0], threshold=0.5), *tiny_scenario.claims[1:])
    )
    with pytest.raises(golden.GoldenError, match="--rejudge"):
        judge.check(stricter, document, runs)
    rejudged = record.rejudge(stricter, document)
    assert rejudged["trajectories"] == document["trajectories"]
    assert rejudged["claims"][0]["threshold"] == 0.5
    judge.check(stricter, rejudged, runs)
    longer = dataclasses.replace(tiny_scenario, epochs=4)
    with pytest.raises(golden.GoldenError, match="another configuration"):
        judge.check(longer, document, runs)
    with pytest.raises(golden.GoldenError, match="another configuration.*l1lab golden update tiny"):
        record.rejudge(longer, document)


def test_a_run_that_counts_other_variables_needs_the_golden_file_again(tiny_runs, tiny_scenario):
    """A file whose variable names the model no longer has is refused, not a KeyError deep in the comparison."""
    runs, sizes = tiny_runs
    document = record.golden_document(tiny_scenario, runs, sizes)
    renamed = {
        seed: {**t, "layers_numNz": {f"sequential/{k}": v for k, v in t["layers_numNz"].items()}}
        for seed, t in runs.items()
    }
    with pytest.raises(
        golden.GoldenError, match=r"counts other variables.*sequential/dense_1/kernel.*l1lab golden update"
    ):
        judge.check(tiny_scenario, document, renamed)
