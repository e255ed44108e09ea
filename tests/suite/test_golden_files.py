"""The committed golden files are usable by the code as it is: checked in the fast suite.

A scenario or claim changed without its golden file fails here in seconds,
not after minutes of training in ``pytest -m slow``. Each measured line
(``golden/<line>/line.json``, written by ``l1lab golden record-line``) must
agree with the files beside it.
"""

import dataclasses
from pathlib import Path

import pytest

from l1lab.config import MethodOptions
from l1lab.suite import golden, scenarios

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden"
LINE_DIRS = sorted(p for p in GOLDEN_DIR.iterdir() if p.is_dir())


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_reference_golden_file_matches_its_scenario(name):
    document = golden.load(GOLDEN_DIR, name)
    scenario = scenarios.get_scenario(name)
    golden.require_current(scenario, document)  # the configuration it computes, and the claims
    assert len(document["seeds"]) >= scenarios.CHECK_SEEDS


def test_reference_files_share_one_line():
    lines = {golden.stack_line(golden.load(GOLDEN_DIR, name)["versions"]) for name in scenarios.SCENARIOS}
    assert len(lines) == 1, f"the reference golden files come from several lines: {sorted(lines)}"
    assert all(line_dir.name not in lines for line_dir in LINE_DIRS)


@pytest.mark.parametrize("line_dir", LINE_DIRS, ids=[p.name for p in LINE_DIRS])
def test_measured_line_agrees_with_its_files(line_dir):
    manifest = golden.load_line(line_dir)
    assert manifest is not None, f"{line_dir} has no {golden.LINE_FILE}: measure it with l1lab golden record-line --all"
    assert manifest["line"] == line_dir.name == golden.stack_line(manifest["versions"])
    assert set(manifest["scenarios"]) <= set(scenarios.SCENARIOS)
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
        golden.require_current(scenarios.get_scenario(name), document, str(line_dir / f"{name}.json"))
        assert document["config"] == reference["config"]
        assert [c["id"] for c in document["claims"]] == [c["id"] for c in reference["claims"]]


# -- identity: what a run computes decides whether a golden file still fits ------------------


def _add_option(monkeypatch, value):
    """Simulates an option added after the golden files were written: ``momentum``, default 0.0."""
    from l1lab import config

    base = config.TrainConfig.as_args
    monkeypatch.setattr(config, "COMPUTED_ARGS", (*config.COMPUTED_ARGS, "momentum"))
    monkeypatch.setattr(
        config.TrainConfig,
        "as_args",
        lambda self: {**base(self), "momentum": 0.0 if self is config.DEFAULTS else value},
    )


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_a_new_option_at_its_default_leaves_the_golden_file_valid(name, monkeypatch):
    document = golden.load(GOLDEN_DIR, name)
    _add_option(monkeypatch, 0.0)
    assert "momentum" not in document["config"] and "momentum" in scenarios.get_scenario(name).describe()
    golden.require_current(scenarios.get_scenario(name), document)


def test_a_new_option_away_from_its_default_is_refused(monkeypatch):
    document = golden.load(GOLDEN_DIR, "article-alt")
    _add_option(monkeypatch, 0.5)
    with pytest.raises(golden.GoldenError, match=r"momentum: file 0.0, scenario 0.5.*l1lab golden update article-alt"):
        golden.require_current(scenarios.get_scenario("article-alt"), document)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"learning_rate": 2e-3}, "learningRate"),
        ({"options": MethodOptions(l1=2e-3)}, "l1"),
        ({"epochs": 100}, "numEpochs"),
        ({"pixel_scale": "unit"}, "pixelScale"),
        ({"method": "proximal-adagrad"}, "method"),
    ],
)
def test_a_changed_computation_is_refused_naming_the_field_and_the_command(change, field):
    scenario = scenarios.get_scenario("article-alt")
    document = golden.load(GOLDEN_DIR, "article-alt")
    changed = dataclasses.replace(scenario, **change)
    with pytest.raises(
        golden.GoldenError, match=rf"another configuration \({field}: .*`l1lab golden update article-alt`"
    ):
        golden.require_current(changed, document)


def test_a_label_is_not_a_computation():
    """The article flag names the run; the method and strengths it sets are what compute."""
    from l1lab import config

    scenario = scenarios.get_scenario("article-alt")
    unlabelled = dataclasses.replace(scenario, article_flag=None)
    labelled_args, unlabelled_args = scenario.config().as_args(), unlabelled.config().as_args()
    assert labelled_args["articleFlag"] != unlabelled_args["articleFlag"]  # the label differs
    assert config.identity(labelled_args) == config.identity(unlabelled_args)  # what computes does not
    document = golden.load(GOLDEN_DIR, "article-alt")
    golden.require_current(unlabelled, document)  # so the golden file still holds for it
    with pytest.raises(golden.GoldenError, match="another configuration"):
        golden.require_current(dataclasses.replace(unlabelled, learning_rate=scenario.learning_rate * 2), document)
