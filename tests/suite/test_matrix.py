import json
from pathlib import Path

import pytest

from l1lab.suite import golden, lines, matrix


def test_pytest_summary_takes_the_closing_line():
    output = (
        "== 3 failed, 1 passed in 2.00s ==\n...\n"
        "============ 272 passed, 4 skipped, 2 warnings in 24.18s =============\n"
    )
    assert matrix.pytest_summary(output) == "272 passed, 4 skipped, 2 warnings"
    assert matrix.pytest_summary("ERROR: no tox env") == "no pytest summary"


def test_markdown_has_a_row_per_environment_and_per_claim():
    rows = [
        matrix.Row(
            "tf212",
            "2.12.1",
            "2.12.0",
            "272 passed",
            True,
            "ok",
            [],
            {"article-try3 sparsity > 0.35": "0.36 fragile"},
            trajectories="within tolerance of tf2.21-keras3",
            golden="tf2.12-keras2: 4 as reference, 2 recorded",
        ),
        matrix.Row("tf221", "2.21.0", "3.15.1", "272 passed", True, "broken: ftrl", ["ftrl"], {}),
    ]
    lines = matrix.markdown(rows).splitlines()
    assert lines[0] == "| environment | TensorFlow | Keras | fast suite | doctor | golden files | trajectories |"
    assert lines[2] == (
        "| tf212 | 2.12.1 | 2.12.0 | 272 passed | ok | tf2.12-keras2: 4 as reference, 2 recorded "
        "| within tolerance of tf2.21-keras3 |"
    )
    assert lines[3] == "| tf221 | 2.21.0 | 3.15.1 | 272 passed | broken: ftrl | - | - |"
    assert lines[5] == "| claim (median, verdict) | tf212 | tf221 |"
    assert lines[7] == "| article-try3 sparsity > 0.35 | 0.36 fragile | - |"
    without_claims = matrix.markdown(rows[1:]).splitlines()
    assert without_claims[0] == "| environment | TensorFlow | Keras | fast suite | doctor | golden files |"
    assert len(without_claims) == 3


def test_trajectory_summary_names_the_scenarios_that_differ():
    def comparison(outside):
        return {"golden_line": "tf2.21-keras3", "drift_fails": False, "values_outside_tolerance": outside}

    assert matrix.trajectory_summary({}) == "-"
    assert matrix.trajectory_summary({"a": comparison(0), "b": comparison(0)}) == "within tolerance of tf2.21-keras3"
    assert matrix.trajectory_summary({"a": comparison(0), "b": comparison(7), "c": comparison(1)}) == (
        "differ from tf2.21-keras3 in 2/3: b, c"
    )


def test_environments_are_the_tox_ones():
    from pathlib import Path

    tox_ini = (Path(__file__).resolve().parents[2] / "tox.ini").read_text()
    for env in matrix.ENVIRONMENTS:
        assert f"[testenv:{env}]" in tox_ini


FAKE_TOX = r"""#!{python}
import json, os, pathlib, sys
args = sys.argv[1:]
if args[0] == "-e":
    print("============ 3 passed, 1 skipped in 1.50s ============")
elif args[0] == "run":
    pathlib.Path("installed").write_text(" ".join(args))
elif "pytest" in args:
    pathlib.Path("pytest-call.json").write_text(json.dumps({{"cwd": os.getcwd(), "args": args}}))
    print("============ 2 passed in 3.10s ============")
elif "doctor" in args:
    print("some TensorFlow noise")
    versions = {{"tensorflow": "2.99.0", "keras": "9.0", "keras_flavour": "keras9"}}
    print(json.dumps({{"versions": versions, "broken_methods": [], "ok": True}}))
elif "claims" in args and pathlib.Path("claims-error").exists():
    print("TensorFlow noise", file=sys.stderr)
    print(pathlib.Path("claims-error").read_text(), file=sys.stderr)
    sys.exit(2)
elif "claims" in args:
    pathlib.Path("claims-call.json").write_text(json.dumps(args))
    out = pathlib.Path(args[args.index("--out-dir") + 1])
    out.mkdir(parents=True)
    claim = {{"metric": "sparsity", "op": ">", "threshold": 0.35, "median": 0.3612, "verdict": "fragile"}}
    comparison = {{"golden_line": "tf2.21-keras3", "drift_fails": False, "values_outside_tolerance": 12}}
    (out / "claims.json").write_text(json.dumps({{"scenarios": {{"article-try3": [claim]}},
                                                   "trajectories": {{"article-try3": comparison}}}}))
    sys.exit({claims_exit})
"""


@pytest.mark.parametrize("claims_exit", [0, 1])
def test_run_env_reads_tests_doctor_and_claims(tmp_path, claims_exit):
    import sys

    tox = tmp_path / "tox"
    tox.write_text(FAKE_TOX.format(python=sys.executable, claims_exit=claims_exit))
    tox.chmod(0o755)
    row = matrix.run_env("tf299", tmp_path, str(tox), claims=True, seeds=1)
    assert (row.tests, row.tests_ok) == ("3 passed, 1 skipped", True)
    assert (row.tensorflow, row.keras, row.doctor) == ("2.99.0", "9.0", "ok")
    assert row.golden == "tf2.99-keras9: not measured (drift warns)"
    assert row.claims == {"article-try3 sparsity > 0.35": "0.3612 fragile"}
    assert row.trajectories == "differ from tf2.21-keras3 in 1/1: article-try3"
    assert row.claims_ok is (claims_exit == 0)
    assert (tmp_path / "reports" / "tf299" / "claims.json").exists()


def test_line_status_reads_the_line_manifest(tmp_path):
    stack = {"tensorflow": "2.99.1", "keras_flavour": "keras9"}
    assert lines.line_status(tmp_path, stack) == "tf2.99-keras9: not measured (drift warns)"
    entries = {"a": "reference", "b": "recorded", "c": "reference"}
    golden.write_line(
        tmp_path / "tf2.99-keras9",
        {
            "schema": golden.LINE_SCHEMA,
            "line": "tf2.99-keras9",
            "scenarios": {name: {"trajectories": kind} for name, kind in entries.items()},
        },
    )
    assert lines.line_status(tmp_path, stack) == "tf2.99-keras9: 2 as reference, 1 recorded"
    (tmp_path / "tf2.99-keras9" / golden.LINE_FILE).write_text("[]")
    assert "record-line --all" in lines.line_status(tmp_path, stack)
    real = Path(__file__).resolve().parents[2] / "golden"
    versions = golden.load(real, "article-sgd")["versions"]
    assert lines.line_status(real, versions) == f"{golden.stack_line(versions)}: the reference"


def test_run_env_runs_a_projects_smoke_tests_and_claims_in_its_directory(tmp_path):
    import sys

    tox = tmp_path / "tox"
    tox.write_text(FAKE_TOX.format(python=sys.executable, claims_exit=0))
    tox.chmod(0o755)
    project_dir = tmp_path / "project"
    (project_dir / "mypkg").mkdir(parents=True)
    (project_dir / "mypkg" / "__init__.py").write_text("")
    (project_dir / "mypkg" / "sparse_scenarios.py").write_text("SCENARIOS = []\n")
    sys.path.insert(0, str(project_dir))
    try:
        project = matrix.Project(("mypkg.sparse_scenarios",), project_dir)
        row = matrix.run_env("tf299", tmp_path, str(tox), claims=True, seeds=2, project=project)
    finally:
        sys.path.remove(str(project_dir))
        for name in ("mypkg", "mypkg.sparse_scenarios"):
            sys.modules.pop(name, None)
    assert (row.tests, row.tests_ok) == ("2 passed", True)
    assert row.golden == "tf2.99-keras9: not measured (drift warns)"  # the project's golden/, empty here
    assert (tmp_path / "installed").read_text() == "run -e tf299 --notest"  # l1lab into the env before tox exec
    call = json.loads((project_dir / "pytest-call.json").read_text())
    # tox itself runs in its tox.ini's directory unless change_dir says the project's.
    assert call["cwd"] == str(project_dir) and call["args"][:8] == [
        "exec",
        "-qq",
        "-c",
        str(tmp_path / "tox.ini"),
        "-x",
        f"testenv:tf299.change_dir={project_dir}",
        "-e",
        "tf299",
    ]
    assert call["args"][-3:] == [
        "-o",
        "l1lab_scenarios=mypkg.sparse_scenarios",
        str((project_dir / "mypkg" / "sparse_scenarios.py").resolve()),
    ]
    assert "not slow" in call["args"]
    claims = json.loads((project_dir / "claims-call.json").read_text())
    assert claims[-4:] == ["--scenarios", "mypkg.sparse_scenarios", "--golden-dir", str(project_dir / "golden")]


def test_a_claims_run_without_a_report_says_why(tmp_path):
    import sys

    tox = tmp_path / "tox"
    tox.write_text(FAKE_TOX.format(python=sys.executable, claims_exit=0))
    tox.chmod(0o755)
    (tmp_path / "claims-error").write_text("l1lab: error: --scenarios: cannot import 'mypkg': No module named 'mypkg'")
    project = matrix.Project(("l1lab.suite.scenarios",), tmp_path)
    row = matrix.run_env("tf299", tmp_path, str(tox), claims=True, seeds=2, project=project)
    assert row.claims == {
        "(claims)": "no report (exit 2: l1lab: error: --scenarios: cannot import 'mypkg': No module named 'mypkg')"
    }
    assert row.claims_ok is False
