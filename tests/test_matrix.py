from l1lab import matrix


def test_pytest_summary_takes_the_closing_line():
    output = "== 3 failed, 1 passed in 2.00s ==\n...\n============ 272 passed, 4 skipped, 2 warnings in 24.18s =============\n"
    assert matrix.pytest_summary(output) == "272 passed, 4 skipped, 2 warnings"
    assert matrix.pytest_summary("ERROR: no tox env") == "no pytest summary"


def test_markdown_has_a_column_per_claim():
    rows = [
        matrix.Row("tf212", "2.12.1", "2.12.0", "272 passed", True, "ok", [], {"article-try3 sparsity > 0.35": "0.36 fragile"}),
        matrix.Row("tf221", "2.21.0", "3.15.1", "272 passed", True, "broken: ftrl", ["ftrl"], {}),
    ]
    lines = matrix.markdown(rows).splitlines()
    assert lines[0] == "| environment | TensorFlow | Keras | fast suite | doctor | article-try3 sparsity > 0.35 |"
    assert lines[2] == "| tf212 | 2.12.1 | 2.12.0 | 272 passed | ok | 0.36 fragile |"
    assert lines[3].endswith("| broken: ftrl | - |")


def test_environments_are_the_tox_ones():
    from pathlib import Path

    tox_ini = (Path(__file__).resolve().parents[1] / "tox.ini").read_text()
    for env in matrix.ENVIRONMENTS:
        assert f"[testenv:{env}]" in tox_ini
