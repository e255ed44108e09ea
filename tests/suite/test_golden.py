import json

import pytest

from l1lab.runs import OPTIONAL_METRICS, TRAJECTORY_METRICS
from l1lab.suite import compare, golden
from l1lab.suite.compare import Tolerance
from l1lab.suite.golden import GoldenError


def minimal(name="s", epochs=2):
    column = [0.1] * epochs
    return {
        "schema": golden.SCHEMA,
        "scenario": name,
        "config": {"numEpochs": epochs},
        "seeds": [0],
        "versions": {},
        "claims": [],
        "tolerances": {},
        "layer_sizes": {"k": 10},
        "trajectories": {"0": {**{m: list(column) for m in TRAJECTORY_METRICS}, "layers_numNz": {"k": [5] * epochs}}},
    }


def test_tolerance():
    tol = Tolerance(rtol=0.1, atol=0.01)
    assert tol.allows(1.0, 1.105) and tol.allows(1.0, 0.895) and not tol.allows(1.0, 1.12)
    assert tol.allows(None, None) and not tol.allows(None, 0.0)
    assert tol.describe() == "±0.01 +10%"


def test_missing_golden_names_the_command(tmp_path):
    with pytest.raises(GoldenError, match=r"missing: regenerate it with `l1lab golden update s`"):
        golden.load(tmp_path, "s")


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "corrupt"),
        ("[]", "not a JSON object"),
        (json.dumps({**minimal(), "schema": "other"}), "schema"),
        (json.dumps({**minimal(), "scenario": "t"}), "golden file of 't'"),
        (json.dumps({k: v for k, v in minimal().items() if k != "claims"}), "no 'claims'"),
        (json.dumps({**minimal(), "seeds": [0, 1]}), "do not match its seeds"),
        (json.dumps({**minimal(), "config": {"numEpochs": 3}}), "does not have 3 epochs"),
    ],
)
def test_corrupt_golden_is_a_clear_failure(tmp_path, content, problem):
    (tmp_path / "s.json").write_text(content)
    with pytest.raises(GoldenError, match=f"{problem}.*l1lab golden update s"):
        golden.load(tmp_path, "s")


def test_truncated_golden_is_refused(tmp_path):
    golden.write(tmp_path, "s", minimal())
    text = (tmp_path / "s.json").read_text()
    (tmp_path / "s.json").write_text(text[: len(text) // 2])
    with pytest.raises(GoldenError, match="corrupt"):
        golden.load(tmp_path, "s")


def test_write_is_atomic_and_refuses_malformed(tmp_path):
    path = golden.write(tmp_path, "s", minimal())
    loaded = golden.load(tmp_path, "s")
    assert loaded == {**minimal(), "trajectories": {0: minimal()["trajectories"]["0"]}}  # seeds as ints in memory
    with pytest.raises(GoldenError, match="refusing"):
        golden.write(tmp_path, "s", {**minimal(), "seeds": [7]})
    assert golden.load(tmp_path, "s") == loaded  # untouched
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_full_precision_is_kept(tmp_path):
    document = minimal()
    document["trajectories"]["0"]["sparsity"] = [0.1234567890123456, 1 / 3]
    golden.write(tmp_path, "s", document)
    assert golden.load(tmp_path, "s")["trajectories"][0]["sparsity"] == [0.1234567890123456, 1 / 3]


def test_compare_trajectory_per_metric_and_layer():
    g = minimal()["trajectories"]["0"]
    now = json.loads(json.dumps(g))
    assert compare.compare_trajectory("s", 0, g, now, {"k": 10}) == []
    now["inacc_test"][1] = 0.2  # beyond 0.015
    now["layers_numNz"]["k"][0] = 4  # layer sparsity 0.5 -> 0.6, beyond 0.05
    found = compare.compare_trajectory("s", 0, g, now, {"k": 10})
    assert {(m.epoch, m.metric) for m in found} == {(1, "inacc_test"), (0, "sparsity k")}
    short = {m: v[:1] for m, v in now.items() if m != "layers_numNz"}
    assert compare.compare_trajectory("s", 0, g, short, {"k": 10})[0].metric == "epochs"


def test_tolerances_are_documented():
    for metric in compare.TOLERANCES:
        assert metric in compare.__doc__


def _one_epoch(value=0.5, kernel_nz=50, bias_nz=5):
    return {
        **{metric: [value] for metric in TRAJECTORY_METRICS},
        "layers_numNz": {"d/kernel": [kernel_nz], "d/bias": [bias_nz]},
    }


SIZES = {"d/kernel": 100, "d/bias": 10}


@pytest.mark.parametrize("metric", TRAJECTORY_METRICS)
@pytest.mark.parametrize("side", [-1, 1])
def test_each_metric_is_held_to_its_own_tolerance(metric, side):
    """Just inside its tolerance passes, just outside fails, whatever the other metrics' tolerances."""
    tol = compare.TOLERANCES[metric]
    golden_run = _one_epoch()
    allowed = tol.atol + tol.rtol * 0.5
    for factor, expected in ((0.99, []), (1.01, [metric])):
        now = _one_epoch()
        now[metric] = [0.5 + side * factor * allowed]
        found = compare.compare_trajectory("s", 0, golden_run, now, SIZES)
        assert [m.metric for m in found] == expected, (metric, factor)


@pytest.mark.parametrize("metric", OPTIONAL_METRICS)
@pytest.mark.parametrize("side", [-1, 1])
def test_each_structure_and_micro_metric_is_held_to_its_own_tolerance(metric, side):
    tol = compare.TOLERANCES[metric]
    golden_run = {**_one_epoch(), **{m: [1000] for m in OPTIONAL_METRICS}}
    allowed = tol.atol + tol.rtol * 1000
    # An exact metric (whether TFLM runs the file): any change is a mismatch.
    steps = ((0.99, []), (1.01, [metric])) if allowed else ((0, []), (1, [metric]))
    for factor, expected in steps:
        now = {**_one_epoch(), **{m: [1000] for m in OPTIONAL_METRICS}}
        now[metric] = [1000 + side * factor * (allowed or 1)]
        found = compare.compare_trajectory("s", 0, golden_run, now, SIZES)
        assert [m.metric for m in found] == expected, (metric, factor)


def test_a_structure_column_on_one_side_only_is_a_mismatch():
    with_structure = {**_one_epoch(), "multiply_adds": [1000]}
    for golden_run, now in ((_one_epoch(), with_structure), (with_structure, _one_epoch())):
        found = compare.compare_trajectory("s", 0, golden_run, now, SIZES)
        assert [(m.metric, m.golden is None, m.now is None) for m in found] == [
            ("multiply_adds", "multiply_adds" not in golden_run, "multiply_adds" not in now)
        ]


@pytest.mark.parametrize("variable, key, size", [("d/kernel", "layer_sparsity", 100), ("d/bias", "bias_sparsity", 10)])
def test_per_variable_sparsity_uses_the_kernel_or_bias_tolerance(variable, key, size):
    atol = compare.TOLERANCES[key].atol
    golden_run = _one_epoch()
    base = golden_run["layers_numNz"][variable][0]
    inside, outside = int(atol * size * 0.99), int(atol * size) + 1  # flips of weights (the exact bound rounds)
    for flips, expected in ((inside, []), (outside, [f"sparsity {variable}"])):
        now = _one_epoch()
        now["layers_numNz"][variable] = [base - flips]
        found = compare.compare_trajectory("s", 0, golden_run, now, SIZES)
        assert [m.metric for m in found] == expected, (variable, flips)


@pytest.mark.parametrize(
    "metric, epoch, value, problem",
    [
        ("sparsity", 1, float("nan"), "seed 0, sparsity, epoch 1: nan is not a finite number"),
        ("inacc_test", 0, float("inf"), "seed 0, inacc_test, epoch 0: inf is not a finite number"),
        ("ent_train", 1, None, "seed 0, ent_train, epoch 1: null is not a number"),
        ("inacc_train", 0, "0.1", 'seed 0, inacc_train, epoch 0: "0.1" is not a number'),
        ("sparsity", 0, 1.5, "seed 0, sparsity, epoch 0: 1.5 is outside \\[0, 1\\]"),
        ("ent_test", 1, -0.1, "seed 0, ent_test, epoch 1: -0.1 is outside"),
    ],
)
def test_a_value_that_cannot_be_a_measurement_is_refused_naming_seed_metric_epoch(
    tmp_path, metric, epoch, value, problem
):
    document = minimal()
    document["trajectories"]["0"][metric][epoch] = value
    (tmp_path / "s.json").write_text(json.dumps(document))  # NaN and Infinity as JSON's tokens
    with pytest.raises(GoldenError, match=f"golden file .*s.json is corrupt \\({problem}.*l1lab golden update s"):
        golden.load(tmp_path, "s")


@pytest.mark.parametrize(
    "column, problem",
    [
        ([5, -1], "multiply_adds, epoch 1: -1 is outside"),
        ([5, 2.5], "multiply_adds, epoch 1: 2.5 is not an integer"),
        ([5], "multiply_adds does not have 2 epochs"),
    ],
)
def test_a_structure_column_is_validated_where_present(tmp_path, column, problem):
    document = minimal()
    document["trajectories"]["0"]["multiply_adds"] = [5, 3]
    (tmp_path / "s.json").write_text(json.dumps(document))
    assert golden.load(tmp_path, "s")["trajectories"][0]["multiply_adds"] == [5, 3]
    document["trajectories"]["0"]["multiply_adds"] = column
    (tmp_path / "s.json").write_text(json.dumps(document))
    with pytest.raises(GoldenError, match=problem):
        golden.load(tmp_path, "s")


@pytest.mark.parametrize(
    "change, problem",
    [
        (
            lambda d: d["trajectories"]["0"]["layers_numNz"]["k"].__setitem__(0, 11),
            "layers_numNz\\['k'\\], epoch 0: 11",
        ),
        (lambda d: d["trajectories"]["0"]["layers_numNz"]["k"].__setitem__(1, 2.5), "epoch 1: 2.5 is not an integer"),
        (lambda d: d.__setitem__("layer_sizes", {}), "layer_sizes do not name the variables"),
    ],
)
def test_counts_must_be_integers_within_their_variable(tmp_path, change, problem):
    document = minimal()
    change(document)
    (tmp_path / "s.json").write_text(json.dumps(document))
    with pytest.raises(GoldenError, match=problem):
        golden.load(tmp_path, "s")


def test_a_value_exactly_at_its_tolerance_passes():
    """The bound is inclusive: |now - golden| <= atol + rtol * |golden| (values exact in binary)."""
    assert Tolerance(0.0, 0.25).allows(0.5, 0.75) and Tolerance(0.0, 0.25).allows(0.5, 0.25)
    assert not Tolerance(0.0, 0.25).allows(0.5, 0.75 + 2**-20)
    assert Tolerance(0.5, 0.0).allows(2.0, 3.0) and not Tolerance(0.5, 0.0).allows(2.0, 3.0 + 2**-20)


def test_a_different_number_of_epochs_is_one_mismatch_naming_the_scenario():
    g = minimal()["trajectories"]["0"]
    short = {**{m: v[:1] for m, v in g.items() if m != "layers_numNz"}, "layers_numNz": {"k": [5]}}
    (found,) = compare.compare_trajectory("s", 3, g, short, {"k": 10})
    assert (found.scenario, found.seed, found.epoch, found.metric, found.golden, found.now) == (
        "s",
        3,
        None,
        "epochs",
        2,
        1,
    )
    assert found.row() == ["s", "3", "-", "epochs", "2", "1", "equal", "drift"] and found.kind == "drift"


def test_tolerances_as_recorded_in_golden_files():
    assert compare.TOLERANCES["ent_test"].as_dict() == {"rtol": 0.1, "atol": 0.02}
    assert (
        compare.TOLERANCES["bias_sparsity"].describe() == "±0.35"
        and compare.TOLERANCES["ent_train"].describe() == "±0.02 +10%"
    )


def test_a_drift_mismatch_carries_every_field():
    golden_run = _one_epoch()
    now = _one_epoch()
    now["inacc_test"] = [0.9]
    now["layers_numNz"]["d/kernel"] = [10]
    metric, layer = compare.compare_trajectory("scn", 4, golden_run, now, SIZES)
    assert metric == compare.Mismatch("scn", 4, 0, "inacc_test", 0.5, 0.9, "±0.015", "drift")
    assert layer == compare.Mismatch("scn", 4, 0, "sparsity d/kernel", 0.5, 0.9, "±0.05", "drift")


def test_the_mismatch_table_exactly():
    """Claims first; each drifted metric once, at its first epoch, with how many epochs drifted; a limit."""
    drift = [compare.Mismatch("b", 1, epoch, "sparsity", 0.5, 0.6, "±0.02", "drift") for epoch in (7, 3, 5)] + [
        compare.Mismatch("a", 0, 2, "inacc_test", 0.25, 0.5, "±0.015", "drift")
    ]
    claim = compare.Mismatch("b", None, 9, "over: median of 3 seeds", 0.5, 0.125, "sparsity > 0.3", "claim")
    table = compare.mismatch_table([*drift, claim])
    assert table.splitlines() == [
        "scenario  seed  epoch  metric                   golden  now     tolerance       what",
        "--------  ----  -----  -----------------------  ------  ------  --------------  --------------------------",
        "b         -     9      over: median of 3 seeds  0.5000  0.1250  sparsity > 0.3  CLAIM BROKE",
        "a         0     2      inacc_test               0.2500  0.5000  ±0.015          drift from here (1 epochs)",
        "b         1     3      sparsity                 0.5000  0.6000  ±0.02           drift from here (3 epochs)",
    ]
    limited = compare.mismatch_table([*drift, claim], limit=2).splitlines()
    assert len(limited) == 5 and limited[-1] == "... and 1 more rows" and "CLAIM BROKE" in limited[2]
    assert compare.Mismatch("s", None, None, "epochs", 200, 20, "equal", "drift").row() == [
        "s",
        "-",
        "-",
        "epochs",
        "200",
        "20",
        "equal",
        "drift",
    ]


def test_the_mismatch_table_orders_claims_by_scenario_and_drift_by_scenario_seed_epoch():
    claims = [
        compare.Mismatch(name, None, 9, "c: median of 3 seeds", 0.5, 0.125, "sparsity > 0.3", "claim")
        for name in ("z", "a")
    ]
    drift = [
        compare.Mismatch("b", 1, 1, "sparsity", 0.5, 0.6, "±0.02", "drift"),
        compare.Mismatch("b", 1, 0, "sparsity", 0.5, 0.7, "±0.02", "drift"),  # the first epoch: its row
        compare.Mismatch("a", 5, 4, "a_metric", 0.5, 0.6, "±0.02", "drift"),
        compare.Mismatch("a", 5, 2, "z_metric", 0.5, 0.6, "±0.02", "drift"),
    ]
    rows = [line.split()[:4] for line in compare.mismatch_table([*drift, *claims]).splitlines()[2:]]
    assert rows == [
        ["a", "-", "9", "c:"],
        ["z", "-", "9", "c:"],
        ["a", "5", "2", "z_metric"],  # scenario, then seed, then the first epoch
        ["a", "5", "4", "a_metric"],
        ["b", "1", "0", "sparsity"],
    ]
    assert "0.7000" in compare.mismatch_table(drift).splitlines()[-1]


def test_the_mismatch_table_orders_seeds_within_a_scenario_and_cuts_at_its_limit():
    drift = [
        compare.Mismatch("s", 2, 0, "a", 0.5, 0.6, "±0.02", "drift"),
        compare.Mismatch("s", 1, 5, "z", 0.5, 0.6, "±0.02", "drift"),
        compare.Mismatch("s", 0, 7, "y", 0.5, 0.6, "±0.02", "drift"),
    ]
    rows = [line.split()[:4] for line in compare.mismatch_table(drift).splitlines()[2:]]
    assert rows == [["s", "0", "7", "y"], ["s", "1", "5", "z"], ["s", "2", "0", "a"]]
    many = [compare.Mismatch("s", seed, 0, "m", 0.5, 0.6, "±0.02", "drift") for seed in range(41)]
    assert compare.mismatch_table(many).splitlines()[-1] == "... and 1 more rows"  # 40 by default
    assert len(compare.mismatch_table(many[:40]).splitlines()) == 42  # exactly the limit: no "more" line


def test_golden_files_are_written_and_checked_with_one_tensorflow_thread():
    environ = {}
    golden.use_golden_threads(environ)
    assert environ == {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    told = {"TF_NUM_INTRAOP_THREADS": "4"}
    golden.use_golden_threads(told)
    assert told["TF_NUM_INTRAOP_THREADS"] == "4"  # what the user set stays


def test_golden_update_sets_the_threads_before_tensorflow_starts(monkeypatch, tmp_path):
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "import l1lab.suite.golden as golden\n"
        "use = golden.use_golden_threads\n"
        "def spy(environ=os.environ):\n"
        "    started = 'tensorflow' in sys.modules\n"
        "    use(environ)\n"
        "    print(environ.get('TF_NUM_INTRAOP_THREADS'), started)\n"
        "    raise SystemExit(0)\n"
        "golden.use_golden_threads = spy\n"
        "from l1lab.cli import main\n"
        f"main(['golden', 'update', 'article-sgd', '--golden-dir', {str(tmp_path)!r}])\n"
    )
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-2:] == ["1", "False"]  # one thread, set before TensorFlow was imported
