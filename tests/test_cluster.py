"""l1lab.cluster: a scenario's seeds and a sweep's points as Ray tasks give the numbers they give here."""

import json
import sys

import numpy as np
import pytest

from l1lab import cluster


def test_the_address_comes_from_the_caller_then_the_environment(monkeypatch):
    monkeypatch.delenv(cluster.ADDRESS_ENV, raising=False)
    assert cluster.address() is None and cluster.address("ray://head:10001") == "ray://head:10001"
    monkeypatch.setenv(cluster.ADDRESS_ENV, "local")
    assert cluster.address() == "local"
    assert cluster.address("") is None  # "" runs here whatever the environment says
    monkeypatch.setenv(cluster.ADDRESS_ENV, "  ")
    assert cluster.address() is None


def test_without_ray_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(cluster.ClusterError, match=r"needs Ray: pip install 'l1lab\[cluster\]'"):
        cluster.connect("local")


def test_only_the_forwarded_variables_reach_a_task():
    environ = {"TF_NUM_INTRAOP_THREADS": "1", "TF_USE_LEGACY_KERAS": "1", "HOME": "/root", "L1LAB_RAY_ADDRESS": "x"}
    assert cluster.forwarded_environment(environ) == {"TF_NUM_INTRAOP_THREADS": "1", "TF_USE_LEGACY_KERAS": "1"}


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="Ray is l1lab's optional cluster extra, not installed here")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield cluster.LOCAL
    ray.shutdown()


def test_scenario_seeds_and_sweep_points_on_ray_match_the_local_run(local_ray, tmp_path, tiny_split):
    """One Ray instance for both (two instances side by side would cost two more TensorFlow starts)."""
    from l1lab.edge.sweep import points, presets, runner
    from tests.suite.conftest import TINY as tiny_scenario

    split = tiny_split()
    here, here_sizes = tiny_scenario.train_seeds([0, 1], data=split, ray_address="")
    seen = []
    there, there_sizes = tiny_scenario.train_seeds(
        [0, 1], data=split, ray_address=local_ray, on_seed=lambda seed, seconds: seen.append(seed)
    )
    assert there == here and there_sizes == here_sizes and sorted(seen) == [0, 1]

    settings = presets.SweepSettings(epochs=2, num_samples=100)
    point = presets.Point("l1lab-l1", 0.9, 0)  # L1, then fine-tuning pruned to 90%
    lines = []
    assert runner.run_points([point], settings, tmp_path / "here", progress=lines.append) == []
    assert runner.run_points([point], settings, tmp_path / "ray", progress=lines.append, ray_address=local_ray) == []
    assert "on Ray" in lines[-1]
    records = [json.loads(points.point_paths(tmp_path / d, point)[0].read_text()) for d in ("here", "ray")]
    assert records[0]["metrics"] == records[1]["metrics"]
    for a, b in zip(*(points.load_weights(points.point_paths(tmp_path / d, point)[1]) for d in ("here", "ray"))):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    # A point that fails on Ray is reported as a local one is, and leaves nothing.
    failing = presets.Point("l1lab-l1", 0.95, 0)

    def command(p, s, out_dir):
        return [sys.executable, "-c", "import sys; sys.exit('out of memory on purpose')"], None

    failures = runner.run_points([failing], settings, tmp_path / "ray", command=command, ray_address=local_ray)
    assert failures == ["l1lab-l1_0.95_s0: exit 1: out of memory on purpose"]
    assert not points.is_done(tmp_path / "ray", failing, settings)
