"""l1lab claims and l1lab golden: reports, usage errors, exit codes."""

import json

import pytest

from l1lab.suite import compare, golden, record, runner, scenarios
from tests.cli.helpers import run_cli

# -- claims and golden ---------------------------------------------------------


def _fake_golden(tmp_path, name="article-sgd", sparsity=0.001):
    """A golden file of a real scenario with made-up (but well-formed) trajectories."""
    scenario = scenarios.get_scenario(name)
    n = scenario.epochs
    trajectory = {
        "sparsity": [sparsity] * n,
        "inacc_train": [0.05] * n,
        "inacc_test": [0.06] * n,
        "ent_train": [0.2] * n,
        "ent_test": [0.25] * n,
        "layers_numNz": {"dense_1/kernel": [50000] * n},
    }
    document = record.golden_document(scenario, {0: trajectory, 1: trajectory}, {"dense_1/kernel": 50176})
    golden.write(tmp_path, name, document)
    return document


def test_claims_from_golden_reports_without_training(capsys, tmp_path):
    _fake_golden(tmp_path)
    code, out, err = run_cli(
        capsys,
        "claims",
        "--from-golden",
        "--scenario",
        "article-sgd",
        "--golden-dir",
        str(tmp_path),
        "--out-dir",
        str(tmp_path / "r"),
    )
    assert code == 0, err
    header, rule, row = out.splitlines()[:3]
    assert header.split()[:3] == ["scenario", "claim", "source"]
    assert row.split()[:2] == ["article-sgd", "sparsity"] and "HOLDS" in row and "2/2" in row
    import importlib.util

    plot = ["claims.png"] if importlib.util.find_spec("matplotlib") else []  # the `report` extra
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["claims.json", "claims.md", *plot]


def test_claims_from_golden_needs_the_file(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "claims", "--from-golden", "--scenario", "article-sgd", "--golden-dir", str(tmp_path)
    )
    assert code == 2 and "l1lab golden update article-sgd" in err


def test_rejudge_keeps_trajectories(capsys, tmp_path):
    before = _fake_golden(tmp_path, sparsity=0.5)  # breaks "no-zeros"
    code, out, err = run_cli(capsys, "golden", "update", "article-sgd", "--rejudge", "--golden-dir", str(tmp_path))
    assert code == 0, err
    after = golden.load(tmp_path, "article-sgd")
    assert after["trajectories"] == before["trajectories"]
    assert after["claims"][0]["verdict"] == "fails"
    assert "claim no-zeros" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["golden", "update"], "name the scenarios"),
        (["golden", "update", "nope"], "unknown scenario 'nope'"),
        (["golden", "update", "article-sgd", "--rejudge", "--golden-dir", "/nonexistent"], "missing"),
        (["claims", "--scenario", "nope"], "unknown scenario"),
        (["claims", "--scenarios", "nosuch.module"], "--scenarios: cannot import 'nosuch.module'"),
        (["golden", "update", "--all", "--scenarios", "l1lab"], "--scenarios: module 'l1lab' defines no SCENARIOS"),
        (["matrix", "--scenarios", "nosuch.module"], "--scenarios: cannot import 'nosuch.module'"),
        (["matrix", "--scenarios", "l1lab", "--project", "/nonexistent"], "--project /nonexistent: not a directory"),
        (["golden", "record-line"], "name the scenarios to measure"),
        (["golden", "record-line", "article-sgd", "--golden-dir", "/nonexistent"], "missing"),
    ],
)
def test_golden_and_claims_usage_errors(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and message in err


@pytest.mark.parametrize("broken", [False, True])
def test_claims_exit_code_drift_elsewhere_informs_a_broken_claim_fails(capsys, tmp_path, monkeypatch, broken):
    drift = compare.Mismatch("article-sgd", 0, 5, "sparsity predictions/bias", 0.1, 0.2, "±0.05", "drift")
    claim = compare.Mismatch(
        "article-sgd", None, 199, "no-zeros: median of 3 seeds", 0.0001, 0.3, "sparsity < 0.01", "claim"
    )
    outcome = runner.Outcome(
        drift_elsewhere=[drift],
        mismatches=[claim] if broken else [],
        notes=["article-sgd: no golden/tf2.99-keras9/article-sgd.json: ... for information"],
    )
    monkeypatch.setattr(runner, "check_scenarios", lambda *args, **kwargs: outcome)
    code, out, err = run_cli(capsys, "claims", "--scenario", "article-sgd", "--out-dir", str(tmp_path))
    assert code == (1 if broken else 0), err
    assert "Outside golden files of another line or CPU (information" in out and "sparsity predictions/bias" in out
    assert ("CLAIM BROKE" in out) is broken
    report = json.loads((tmp_path / "claims.json").read_text())
    assert len(report["drift_elsewhere"]) == 1 and len(report["mismatches"]) == int(broken)


@pytest.mark.parametrize("where", ["a-file", "read-only"])
def test_claims_out_dir_that_cannot_be_written_exits_2_before_any_work(capsys, tmp_path, monkeypatch, where):
    _fake_golden(tmp_path)
    target = tmp_path / "reports"
    if where == "a-file":
        target.write_text("not a directory")
    else:
        target.mkdir()
        monkeypatch.setattr("os.access", lambda path, mode: False)  # root ignores chmod
    called = []
    monkeypatch.setattr(runner, "check_scenarios", lambda *a, **k: called.append(1))
    code, out, err = run_cli(
        capsys, "claims", "--scenario", "article-sgd", "--golden-dir", str(tmp_path), "--out-dir", str(target)
    )
    assert code == 2 and "--out-dir" in err and out == "" and not called


@pytest.mark.parametrize("token", ["NaN", "Infinity", "null", '"high"'])
@pytest.mark.parametrize(
    "command",
    [["claims", "--from-golden", "--scenario", "article-sgd"], ["golden", "update", "article-sgd", "--rejudge"]],
)
def test_a_damaged_golden_file_exits_2_naming_the_value(capsys, tmp_path, token, command):
    _fake_golden(tmp_path)
    path = tmp_path / "article-sgd.json"
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if '"inacc_test": [' in line)
    lines[at] = lines[at].replace("[0.06,", f"[{token},", 1)
    path.write_text("\n".join(lines))
    before = path.read_text()
    code, out, err = (
        run_cli(capsys, *command, "--golden-dir", str(tmp_path), "--out-dir", str(tmp_path / "r"))
        if command[0] == "claims"
        else run_cli(capsys, *command, "--golden-dir", str(tmp_path))
    )
    assert code == 2 and "seed 0, inacc_test, epoch 0" in err and "Traceback" not in err
    assert path.read_text() == before
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())  # no report written
