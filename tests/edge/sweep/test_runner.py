"""The sweep's points trained as resumable processes."""

import json
import sys

import numpy as np
import pytest

from l1lab import zoo
from l1lab.edge.sweep import points as points_lib
from l1lab.edge.sweep import presets, runner

SETTINGS = presets.SweepSettings(epochs=2, num_samples=100)


def test_tfmot_points_run_in_a_keras2_process(monkeypatch):
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")
    _, env = runner.point_command(presets.Point("tfmot", 0.9, 0), SETTINGS, "out")
    assert env["TF_USE_LEGACY_KERAS"] == "1" and env["TF_NUM_INTRAOP_THREADS"] == "1"
    argv, env = runner.point_command(presets.Point("l1lab-l1", 1e-3, 0), SETTINGS, "out")
    assert "TF_USE_LEGACY_KERAS" not in env and argv[1:3] == ["-m", "l1lab.edge.sweep.runner"]


def fake_command(fail_on=()):
    """Points 'trained' by a tiny process that saves made-up metrics, or fails with a message."""

    def command(point, settings, out_dir):
        if point.key in fail_on:
            return [sys.executable, "-c", "import sys; sys.exit('out of memory on purpose')"], None
        code = (
            "import json, sys\n"
            "import numpy as np\n"
            "from l1lab.edge.sweep import points, presets\n"
            "p = presets.Point(**json.loads(sys.argv[1]))\n"
            "s = presets.SweepSettings(**json.loads(sys.argv[2]))\n"
            "weights = [(np.ones((3, 2), np.float32), np.zeros(2, np.float32))]\n"
            "metrics = {'inacc_test': 0.1, 'ent_test': 0.3, 'sparsity': p.value, 'num_nonzero': {}}\n"
            "points.save_point(sys.argv[3], p, s, metrics, weights, 0.0, {})\n"
        )
        argv = [sys.executable, "-c", code, json.dumps(point.as_dict()), json.dumps(settings.as_dict()), str(out_dir)]
        return argv, None

    return command


def test_points_are_resumable_and_failures_reported(tmp_path):
    points = [p for p in presets.plan(["tfmot"], [0, 1], {"tfmot": (0.5, 0.9)}) if p.method == "tfmot"]
    lines = []
    failures = runner.run_points(
        points, SETTINGS, tmp_path, jobs=2, progress=lines.append, command=fake_command({"tfmot_0.9_s1"})
    )
    assert failures == ["tfmot_0.9_s1: exit 1: out of memory on purpose"]
    assert lines[0] == "0 of 4 points already trained; 4 to train" and len(lines) == 5
    assert [points_lib.is_done(tmp_path, p, SETTINGS) for p in points] == [True, True, True, False]
    # Again: only the failed point is tried.
    lines.clear()
    assert runner.run_points(points, SETTINGS, tmp_path, progress=lines.append, command=fake_command()) == []
    assert lines[0] == "3 of 4 points already trained; 1 to train" and "tfmot_0.9_s1" in lines[1]
    # Other settings: every point trains again.
    other = presets.SweepSettings(epochs=3, num_samples=100)
    assert not any(points_lib.is_done(tmp_path, p, other) for p in points)
    weights = points_lib.load_weights(points_lib.point_paths(tmp_path, points[0])[1])
    np.testing.assert_array_equal(weights[0][0], np.ones((3, 2)))


def test_tfmot_decay_points_run_in_a_keras2_process_too():
    _, env = runner.point_command(presets.Point("tfmot-decay", 0.9, 0), SETTINGS, "out")
    assert env["TF_USE_LEGACY_KERAS"] == "1"


def test_a_cnn_point_trains_its_zoo_model_and_keeps_its_weights_in_order(tiny_split):
    settings = presets.SweepSettings.for_model("tfmot-cnn", "fashion-mnist", epochs=2, num_samples=64)
    metrics, weights = runner.train_point(presets.Point("l1lab-channel", 0.8, 0), settings, tiny_split(n_train=128))
    assert [w.shape for w in weights] == [w.shape for w in zoo.build("tfmot-cnn").get_weights()]
    # Fine-tuning pruned the kernels TF-MOT prunes to the target; all weights counted, less.
    assert metrics["sparsity"] == pytest.approx(0.8, abs=1e-3) and metrics["weight_sparsity"] < 0.8
    assert 0 <= metrics["inacc_test"] <= 1
