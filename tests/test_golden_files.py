"""The committed golden files are usable by the code as it is: checked in the fast suite.

A scenario or claim changed without its golden file fails here in seconds,
not after minutes of training in ``pytest -m slow``. Each measured line
(``golden/<line>/line.json``, written by ``l1lab golden record-line``) must
agree with the files beside it.
"""

from pathlib import Path

import pytest

from l1lab import claims, golden

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
LINE_DIRS = sorted(p for p in GOLDEN_DIR.iterdir() if p.is_dir())


@pytest.mark.parametrize("name", sorted(claims.SCENARIOS))
def test_reference_golden_file_matches_its_scenario(name):
    document = golden.load(GOLDEN_DIR, name)
    scenario = claims.get_scenario(name)
    assert document["config"] == scenario.describe(), f"regenerate: {golden.regenerate_hint(name)}"
    assert [(c["id"], c["op"], c["threshold"]) for c in document["claims"]] == [
        (c.id, c.op, c.threshold) for c in scenario.claims
    ], f"judge again: l1lab golden update {name} --rejudge"
    assert len(document["seeds"]) >= claims.TEST_SEEDS_DEFAULT


def test_reference_files_share_one_line():
    lines = {golden.stack_line(golden.load(GOLDEN_DIR, name)["versions"]) for name in claims.SCENARIOS}
    assert len(lines) == 1, f"the reference golden files come from several lines: {sorted(lines)}"
    assert all(line_dir.name not in lines for line_dir in LINE_DIRS)


@pytest.mark.parametrize("line_dir", LINE_DIRS, ids=[p.name for p in LINE_DIRS])
def test_measured_line_agrees_with_its_files(line_dir):
    manifest = golden.load_line(line_dir)
    assert manifest is not None, f"{line_dir} has no {golden.LINE_FILE}: measure it with l1lab golden record-line --all"
    assert manifest["line"] == line_dir.name == golden.stack_line(manifest["versions"])
    assert set(manifest["scenarios"]) <= set(claims.SCENARIOS)
    recorded = {p.stem for p in line_dir.glob("*.json") if p.name != golden.LINE_FILE}
    assert recorded == {n for n, e in manifest["scenarios"].items() if e["trajectories"] == "recorded"}
    for name, entry in manifest["scenarios"].items():
        reference = golden.load(GOLDEN_DIR, name)
        assert entry["seeds"] == reference["seeds"][: len(entry["seeds"])]
        if entry["trajectories"] == "reference":
            assert entry["values_outside_reference_tolerance"] == 0
            continue
        document = golden.load(line_dir, name)
        assert golden.stack_line(document["versions"]) == line_dir.name
        assert document["seeds"] == entry["seeds"]
        assert document["config"] == reference["config"] == claims.get_scenario(name).describe()
        assert [c["id"] for c in document["claims"]] == [c["id"] for c in reference["claims"]]
