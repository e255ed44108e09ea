"""l1lab's pytest plugin, run by pytest itself (pytester) in a project made as a new user makes one."""

import json
import textwrap

import pytest

# Imported before pytester's in-process runs, which forget the modules a run imports: otherwise one run's
# GoldenError would not be the class the next run's plugin catches.
from l1lab.suite import compare, golden, judge, lines, record, reports, smoke  # noqa: F401

# A project's scenario module in the documented form, on synthetic data: 3 epochs, 2 seeds, seconds.
SCENARIO_MODULE = """
import os

import numpy as np

from l1lab.suite import Scenario

WIDTH = int(os.environ.get("MYPKG_WIDTH", "16"))
SPARSITY = os.environ.get("MYPKG_SPARSITY", "0.1")


def build(seed):
    from l1lab._compat import keras

    return keras.Sequential([keras.Input((20,)), keras.layers.Dense(WIDTH, activation="relu"), keras.layers.Dense(2)])


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, 20)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x[:1000], y[:1000], x[1000:], y[1000:]


SCENARIOS = [Scenario(name="tiny", model=build, data=data, method="proximal-sgd", l1=5e-2,
                      learning_rate=0.05, epochs=3, seeds=2,
                      claims=[f"sparsity > {SPARSITY}", "inacc_test < 0.5"])]
"""


@pytest.fixture
def project(pytester):
    """A scratch project: mypkg/sparse_scenarios.py, a test of its own, l1lab_scenarios in pyproject.toml."""
    pytester.mkpydir("mypkg")
    pytester.path.joinpath("mypkg", "sparse_scenarios.py").write_text(SCENARIO_MODULE)
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        l1lab_scenarios = ["mypkg.sparse_scenarios"]
        """
    )
    pytester.makepyfile(test_own="def test_own():\n    assert True\n")
    return pytester


def test_the_fast_suite_smoke_tests_each_scenario(project):
    result = project.runpytest("-m", "not slow", "-rA")
    result.assert_outcomes(passed=2, deselected=1)
    result.stdout.fnmatch_lines(["*smoke?tiny?*", "*tiny: 2 probe(s) ok, 1 epoch(s)*made exactly zero*"])


def test_regenerate_then_check_then_refuse_another_width(project, monkeypatch):
    result = project.runpytest("-m", "slow", "--l1lab-regen", "-rA")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["*wrote *golden/tiny.json*", "*tiny: new golden file, seeds [[]0, 1[]]*"])
    document = json.loads((project.path / "golden" / "tiny.json").read_text())
    assert document["command"] == "pytest -m slow --l1lab-regen -k tiny" and document["seeds"] == [0, 1]
    assert document["config"]["modelArchitecture"][1].startswith("0 Dense units=16")
    assert set(document["config"]["dataChecksum"]) == {"x_train", "y_train", "x_test", "y_test"}

    project.runpytest("-m", "slow").assert_outcomes(passed=1, deselected=2)

    monkeypatch.setenv("MYPKG_WIDTH", "24")
    result = project.runpytest("-m", "slow")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "tiny: the golden file of tiny was written for another model or other data (modelArchitecture: line 1: "
            "file '0 Dense units=16*', scenario '0 Dense units=24*'): regenerate it with "
            "`pytest -m slow --l1lab-regen -k tiny` (serially) and review the diff"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_claim_that_breaks_fails_with_the_claims_table(project, monkeypatch):
    project.runpytest("-m", "slow", "--l1lab-regen").assert_outcomes(passed=1, deselected=2)
    # The golden file and the scenario agree on a claim that the training no longer meets, as after an upgrade.
    path = project.path / "golden" / "tiny.json"
    document = json.loads(path.read_text())
    for claim in document["claims"]:
        if claim["metric"] == "sparsity":
            claim.update(threshold=0.99, id="sparsity>0.99")
    path.write_text(json.dumps(document))
    monkeypatch.setenv("MYPKG_SPARSITY", "0.99")
    result = project.runpytest("-m", "slow")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "tiny: 1 claim(s) broke on the median over 2 seed(s)",
            "scenario*claim*source*asserted*status*median*margin*holds on*range",
            "tiny*sparsity > 0.99*user*yes*FAILS*",
            "tiny*inacc_test < 0.5*user*yes*HOLDS*",
            "*sparsity>0.99: median of 2 seeds*CLAIM BROKE",
        ]
    )


def test_a_missing_golden_file_names_the_regenerate_flag(project):
    result = project.runpytest("-m", "slow")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(
        ["tiny: golden file *golden/tiny.json is missing: regenerate it with `pytest -m slow --l1lab-regen -k tiny`*"]
    )


def test_the_golden_dir_is_an_ini_option(project):
    project.makefile(
        ".ini", pytest="[pytest]\nl1lab_scenarios = mypkg.sparse_scenarios\nl1lab_golden_dir = checks/golden\n"
    )
    project.runpytest("-m", "slow", "--l1lab-regen").assert_outcomes(passed=1, deselected=2)
    assert (project.path / "checks" / "golden" / "tiny.json").is_file()


def test_regenerating_under_xdist_is_refused(project):
    result = project.runpytest("-m", "slow", "--l1lab-regen", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--l1lab-regen writes golden files: run it serially, without -n*"])


def test_a_path_that_holds_no_scenario_module_collects_none(project):
    project.runpytest("test_own.py").assert_outcomes(passed=1)
    project.runpytest("mypkg").assert_outcomes(passed=1, failed=1)  # the smoke test passes, the golden file is missing


@pytest.mark.parametrize(
    "module, message",
    [
        ("nosuch.module", "l1lab_scenarios: cannot import 'nosuch.module'*"),
        ("mypkg", "l1lab_scenarios: module 'mypkg' defines no SCENARIOS*"),
    ],
)
def test_a_bad_scenario_module_is_a_usage_error(project, module, message):
    project.makefile(".ini", pytest=f"[pytest]\nl1lab_scenarios = {module}\n")
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}"])


def test_two_scenarios_of_one_name_are_refused(project):
    project.path.joinpath("mypkg", "twice.py").write_text(
        "from mypkg.sparse_scenarios import SCENARIOS as ONE\nSCENARIOS = ONE + ONE\n"
    )
    project.makefile(".ini", pytest="[pytest]\nl1lab_scenarios = mypkg.twice\n")
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*two scenarios are called 'tiny'*"])


def test_loading_the_plugin_imports_no_tensorflow(project):
    """In a process of its own: this one has TensorFlow already."""
    project.makeconftest(
        textwrap.dedent(
            """
            import sys

            def pytest_collection_finish(session):
                loaded = sorted(m for m in ("tensorflow", "keras", "tf_keras") if m in sys.modules)
                print("frameworks after collection:", loaded or "none")
            """
        )
    )
    result = project.runpytest_subprocess("--collect-only", "-q", "-s")
    result.stdout.fnmatch_lines(["*smoke?tiny?*", "*claims?tiny?*", "frameworks after collection: none"])
    assert result.ret == pytest.ExitCode.OK


def test_a_project_without_scenarios_sees_no_change(pytester):
    pytester.makepyfile(test_own="def test_own():\n    assert True\n")
    result = pytester.runpytest("--strict-config", "--strict-markers")
    result.assert_outcomes(passed=1)
    assert "smoke" not in result.stdout.str()


def test_a_metric_of_the_projects_own_is_smoke_tested_recorded_and_checked(project):
    project.path.joinpath("mypkg", "own_metric.py").write_text(
        "from mypkg.sparse_scenarios import build, data\n"
        "from l1lab.suite import Scenario\n\n\n"
        "def weight_l1(model, split):\n"
        "    return float(sum(abs(v.numpy()).sum() for v in model.trainable_variables))\n\n\n"
        "SCENARIOS = [Scenario(name='own', model=build, data=data, method='proximal-sgd', l1=5e-2,\n"
        "                      learning_rate=0.05, epochs=3, seeds=2, metrics={'weight_l1': weight_l1},\n"
        "                      tolerances={'weight_l1': (0.01, 0)}, claims=['weight_l1 < 1000'])]\n"
    )
    project.makefile(".ini", pytest="[pytest]\nl1lab_scenarios = mypkg.own_metric\n")
    fast = project.runpytest("-m", "not slow", "-rA")
    fast.assert_outcomes(passed=2, deselected=1)
    fast.stdout.fnmatch_lines(["*own: 2 probe(s) ok*weight_l1 *"])
    project.runpytest("-m", "slow", "--l1lab-regen").assert_outcomes(passed=1, deselected=2)
    document = json.loads((project.path / "golden" / "own.json").read_text())
    assert all(len(t["weight_l1"]) == 3 for t in document["trajectories"].values())
    assert document["claims"][0]["metric"] == "weight_l1" and document["claims"][0]["verdict"] == "holds"
    project.runpytest("-m", "slow").assert_outcomes(passed=1, deselected=2)
