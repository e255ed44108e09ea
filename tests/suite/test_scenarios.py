"""The scenarios and their claims."""

import dataclasses

import pytest

from l1lab.suite import scenarios


def test_scenarios_are_well_formed():
    for name, scenario in scenarios.SCENARIOS.items():
        # The article's experiment runs 200 epochs on its split; the edge scenarios 20 on the standard one;
        # the CNN's 6 on Fashion-MNIST's (a CNN's epoch costs what twenty of the article's network do).
        assert scenario.name == name
        runs = (("article", scenarios.ARTICLE_EPOCHS, "mlp"), ("standard", 20, "mlp"), ("standard", 6, "ds-cnn"))
        assert (scenario.split, scenario.epochs, scenario.model) in runs
        scenario.config(seed=0).validate()
        assert len({c.id for c in scenario.claims}) == len(scenario.claims)
    article = {s.article_flag for s in scenarios.SCENARIOS.values()}
    assert {"regL1Try1", "regL1Try3", "regL1Alt", None} <= article


def test_a_structure_claim_needs_a_scenario_that_records_structure():
    edge = scenarios.get_scenario("edge-group-target")
    assert edge.structure and any(c.metric == "multiply_adds" for c in edge.claims)
    with pytest.raises(ValueError, match="claim macs-under-20k needs structure=True"):
        dataclasses.replace(edge, structure=False)


def test_the_cnn_scenario_records_its_channels():
    cnn = scenarios.get_scenario("cnn-channels")
    config = cnn.config(seed=1)
    assert (config.model, config.dataset, config.options.channel_l1) == ("ds-cnn", "fashion-mnist", 0.02)
    assert {c.metric for c in cnn.claims} == {"removed_channels", "multiply_adds", "inacc_test"}
    with pytest.raises(ValueError, match="claim removes-a-third needs structure=True"):
        dataclasses.replace(cnn, structure=False)


def test_a_microcontroller_claim_needs_a_scenario_that_records_it():
    micro = scenarios.get_scenario("edge-micro")
    assert micro.micro and {c.metric for c in micro.claims} >= {"micro_runs", "arena_bytes", "flash_bytes"}
    with pytest.raises(ValueError, match="claim tflm-runs needs micro=True"):
        dataclasses.replace(micro, micro=False)


def test_the_micro_hook_measures_a_compacted_int8_full_file_in_tflm(planted_model, tiny_split):
    """What the edge-micro scenario records per epoch, on a planted model (no training)."""
    split = tiny_split()
    measure = scenarios._micro_of(split)
    figures = measure(planted_model())
    assert figures["micro_runs"] == 1 and 1000 < figures["arena_bytes"] < 10_000
    assert figures["flash_bytes"] > 0 and 0 <= figures["micro_disagreements"] <= len(split.x_test) // 10


@pytest.mark.parametrize(
    "text, metric, op, threshold",
    [
        ("sparsity > 0.3", "sparsity", ">", 0.3),
        ("inacc_test<5e-2", "inacc_test", "<", 0.05),
        (" kept_inputs < 484 ", "kept_inputs", "<", 484),
    ],
)
def test_a_claim_parses_from_its_text(text, metric, op, threshold):
    claim = scenarios.Claim.parse(text)
    assert (claim.metric, claim.op, claim.threshold, claim.source, claim.asserted) == (
        metric,
        op,
        threshold,
        "user",
        True,
    )
    assert claim.text == text.strip() and claim.id == f"{metric}{op}{threshold:g}"


@pytest.mark.parametrize("text", ["sparsity >= 0.3", "accuracy > 0.9", "sparsity > high", "sparsity", 0.3])
def test_a_claim_that_does_not_parse_lists_the_metrics(text):
    with pytest.raises(ValueError, match="a claim needs to read '<metric> > <number>'.*inacc_test"):
        scenarios.Claim.parse(text)


def _build(seed):
    from l1lab._compat import keras

    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def _load():
    import numpy as np

    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    return x[:8], np.arange(8) % 3, x[8:], np.array([0, 1])


def test_a_projects_scenario_in_the_documented_form():
    scenario = scenarios.Scenario(
        name="tiny",
        model=_build,
        data=_load,
        method="proximal-sgd",
        l1=1e-3,
        learning_rate=0.05,
        epochs=5,
        seeds=3,
        claims=["sparsity > 0.3", "inacc_test < 0.5"],
    )
    assert scenario.options.l1 == 1e-3 and scenario.title == "tiny" and scenario.check_seeds == 3
    assert [c.statement() for c in scenario.claims] == ["sparsity > 0.3", "inacc_test < 0.5"]
    described = scenario.describe()
    assert described["model"] == described["dataset"] == "caller's"
    assert described["modelArchitecture"][0] == "input (4,)"
    assert set(described["dataChecksum"]) == {"x_train", "y_train", "x_test", "y_test"}
    # l1lab's own scenarios add no fingerprint: their golden files hold none.
    assert "modelArchitecture" not in scenarios.get_scenario("article-sgd").describe()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(name="two words"), "`name` needs to be letters"),
        (dict(seeds=0), "`seeds` needs to be an integer >= 1"),
        (dict(model=3), "`model` needs to be a network's name or a function"),
        (dict(data="file.npz"), "`data` needs to be a function"),
        (dict(claims=["sparsity >> 1"]), "a claim needs to read"),
        (dict(claims=["kept_inputs < 10"]), "needs structure=True"),
    ],
)
def test_a_bad_scenario_is_refused_naming_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        scenarios.Scenario(**{"name": "tiny", "model": _build, "data": _load, **change})


def test_a_projects_scenario_knows_its_module_and_the_commands_name_it(tmp_path, monkeypatch):
    from l1lab.suite import golden, runner

    package = tmp_path / "mypkg_names"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "sparse_scenarios.py").write_text(
        "from l1lab.suite import Scenario\n"
        "from tests.suite.test_scenarios import _build, _load\n"
        "SCENARIOS = [Scenario(name='tiny', model=_build, data=_load, epochs=1, seeds=1)]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    tiny = scenarios.load_modules(["mypkg_names.sparse_scenarios"])["tiny"]
    assert tiny.source_module == "mypkg_names.sparse_scenarios"
    assert tiny.command("update") == "l1lab golden update tiny --scenarios mypkg_names.sparse_scenarios"
    assert golden.regenerate_hint(tiny) == (
        "regenerate it with `l1lab golden update tiny --scenarios mypkg_names.sparse_scenarios` (serially) "
        "and review the diff"
    )
    outcome = runner.check_scenarios([tiny], tmp_path / "golden", from_golden=False)
    assert outcome.missing == [
        f"golden file {tmp_path / 'golden' / 'tiny.json'} is missing: regenerate it with "
        "`l1lab golden update tiny --scenarios mypkg_names.sparse_scenarios` (serially) and review the diff"
    ]
    # l1lab's own, loaded as a module or not, need no flag.
    own = scenarios.load_modules(["l1lab.suite.scenarios"])["article-sgd"]
    assert own.source_module is None and own.command("update") == "l1lab golden update article-sgd"


def _weight_l1(model, split):
    """A metric of the project's own: the L1 norm of the weights."""
    return float(sum(abs(v.numpy()).sum() for v in model.trainable_variables))


def _with_own_metric(**changes):
    fields = dict(
        name="tiny",
        model=_build,
        data=_load,
        method="proximal-sgd",
        l1=1e-2,
        learning_rate=0.05,
        epochs=2,
        seeds=1,
        metrics={"weight_l1": _weight_l1},
        tolerances={"weight_l1": (0.01, 0.0)},
        claims=["weight_l1 < 100"],
    )
    return scenarios.Scenario(**{**fields, **changes})


def test_a_scenarios_own_metric_is_recorded_claimed_and_checked_within_its_tolerance(tmp_path):
    from l1lab.suite import golden, judge, record

    scenario = _with_own_metric()
    runs, sizes = scenario.train_seeds([0])
    assert len(runs[0]["weight_l1"]) == 2 and all(v > 0 for v in runs[0]["weight_l1"])
    golden.write(tmp_path, "tiny", record.golden_document(scenario, runs, sizes))
    document = golden.load(tmp_path, "tiny")
    assert document["config"]["scenarioMetrics"] == ["weight_l1"]
    assert document["tolerances"]["weight_l1"] == {"rtol": 0.01, "atol": 0.0}
    results, mismatches = judge.check(scenario, document, runs)
    assert mismatches == [] and results[0].claim.metric == "weight_l1" and results[0].verdict == "holds"
    within = {0: {**runs[0], "weight_l1": [v * 1.005 for v in runs[0]["weight_l1"]]}}
    assert judge.check(scenario, document, within)[1] == []
    beyond = {0: {**runs[0], "weight_l1": [v * 1.02 for v in runs[0]["weight_l1"]]}}
    assert [(m.metric, m.epoch, m.tolerance) for m in judge.check(scenario, document, beyond)[1]] == [
        ("weight_l1", 0, "±0 +1%"),
        ("weight_l1", 1, "±0 +1%"),
    ]
    # Without the metric the scenario computes something else: its golden file is refused.
    bare = dataclasses.replace(scenario, metrics={}, tolerances={}, claims=())
    with pytest.raises(golden.GoldenError, match=r"another configuration \(scenarioMetrics: file \['weight_l1'\]"):
        judge.check(bare, document, runs)


def test_a_scenarios_own_tolerance_replaces_l1labs():
    from l1lab.suite import compare

    assert _with_own_metric().tolerance_table()["inacc_test"] == compare.TOLERANCES["inacc_test"]
    looser = _with_own_metric(tolerances={"weight_l1": (0.01, 0), "inacc_test": compare.Tolerance(0, 0.5)})
    assert looser.tolerance_table()["inacc_test"] == compare.Tolerance(0.0, 0.5)
    assert looser.tolerance_table()["sparsity"] == compare.TOLERANCES["sparsity"]
    golden_run = {"sparsity": [0.5], "inacc_test": [0.1], "layers_numNz": {}}
    moved = {**golden_run, "inacc_test": [0.4]}
    for metric in ("inacc_train", "ent_train", "ent_test"):
        golden_run[metric] = moved[metric] = [0.1]
    assert [m.metric for m in compare.compare_trajectory("t", 0, golden_run, moved, {})] == ["inacc_test"]
    assert compare.compare_trajectory("t", 0, golden_run, moved, {}, looser.tolerance_table()) == []


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(tolerances={}), "`tolerances` needs an entry for each metric .* Received none for: weight_l1"),
        (dict(metrics={"sparsity": _weight_l1}), "`metrics` needs to map new names"),
        (dict(metrics={"two words": _weight_l1}), "`metrics` needs to map new names"),
        (dict(metrics={"weight_l1": 3}), "`metrics` needs to map new names"),
        (dict(metrics=[_weight_l1]), "`metrics` and `tolerances` need to be mappings"),
        (dict(tolerances={"weight_l1": (0, 0), "accuracy": (0, 1)}), "`tolerances` needs to name .* 'accuracy'"),
        (dict(tolerances={"weight_l1": (-1, 0)}), r"needs a Tolerance or \(rtol, atol\), both >= 0"),
        (dict(tolerances={"weight_l1": "tight"}), r"needs a Tolerance or \(rtol, atol\), both >= 0"),
        (dict(claims=["accuracy > 0.9"]), "a claim needs to read .*weight_l1"),
    ],
)
def test_a_bad_own_metric_or_tolerance_is_refused_naming_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        _with_own_metric(**changes)


def test_a_claim_object_on_a_metric_the_scenario_does_not_record_is_refused():
    claim = scenarios.Claim("acc", "user", "accuracy high", "accuracy", ">", 0.9)
    with pytest.raises(ValueError, match="claim acc names 'accuracy', which it does not record; the metrics are"):
        _with_own_metric(claims=[claim])


def test_an_own_metric_that_gives_no_finite_number_is_an_error_naming_it():
    nan = _with_own_metric(metrics={"weight_l1": lambda model, split: float("nan")})
    with pytest.raises(ValueError, match="metric 'weight_l1' gave nan; it needs a finite number"):
        nan.train_seeds([0])


def test_a_golden_file_with_a_damaged_own_metric_is_refused(tmp_path):
    from l1lab.suite import golden, record

    scenario = _with_own_metric()
    runs, sizes = scenario.train_seeds([0])
    document = record.golden_document(scenario, runs, sizes)
    document["trajectories"][0]["weight_l1"][1] = "high"
    with pytest.raises(golden.GoldenError, match=r"weight_l1, epoch 1: \"high\" is not a number"):
        golden.write(tmp_path, "tiny", document)
