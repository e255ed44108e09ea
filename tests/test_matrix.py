from l1lab import matrix


def test_pytest_summary_takes_the_closing_line():
    output = "== 3 failed, 1 passed in 2.00s ==\n...\n============ 272 passed, 4 skipped, 2 warnings in 24.18s =============\n"
    assert matrix.pytest_summary(output) == "272 passed, 4 skipped, 2 warnings"
    assert matrix.pytest_summary("ERROR: no tox env") == "no pytest summary"


def test_markdown_has_a_row_per_environment_and_per_claim():
    rows = [
        matrix.Row("tf212", "2.12.1", "2.12.0", "272 passed", True, "ok", [], {"article-try3 sparsity > 0.35": "0.36 fragile"},
                   trajectories="within tolerance of tf2.21-keras3"),
        matrix.Row("tf221", "2.21.0", "3.15.1", "272 passed", True, "broken: ftrl", ["ftrl"], {}),
    ]
    lines = matrix.markdown(rows).splitlines()
    assert lines[0] == "| environment | TensorFlow | Keras | fast suite | doctor | trajectories |"
    assert lines[2] == "| tf212 | 2.12.1 | 2.12.0 | 272 passed | ok | within tolerance of tf2.21-keras3 |"
    assert lines[3] == "| tf221 | 2.21.0 | 3.15.1 | 272 passed | broken: ftrl | - |"
    assert lines[5] == "| claim (median, verdict) | tf212 | tf221 |"
    assert lines[7] == "| article-try3 sparsity > 0.35 | 0.36 fragile | - |"
    without_claims = matrix.markdown(rows[1:]).splitlines()
    assert without_claims[0] == "| environment | TensorFlow | Keras | fast suite | doctor |" and len(without_claims) == 3


def test_trajectory_summary_names_the_scenarios_that_differ():
    def comparison(outside):
        return {"golden_line": "tf2.21-keras3", "drift_fails": False, "values_outside_tolerance": outside}

    assert matrix.trajectory_summary({}) == "-"
    assert matrix.trajectory_summary({"a": comparison(0), "b": comparison(0)}) == "within tolerance of tf2.21-keras3"
    assert matrix.trajectory_summary({"a": comparison(0), "b": comparison(7), "c": comparison(1)}) == (
        "differ from tf2.21-keras3 in 2/3: b, c")


def test_environments_are_the_tox_ones():
    from pathlib import Path

    tox_ini = (Path(__file__).resolve().parents[1] / "tox.ini").read_text()
    for env in matrix.ENVIRONMENTS:
        assert f"[testenv:{env}]" in tox_ini
