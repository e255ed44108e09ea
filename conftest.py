"""Suite-wide settings: Hypothesis profiles, the seed fixture, the gpu marker,
and two logical CPU devices for the tf.distribute tests.

Hypothesis profiles (choose with ``--hypothesis-profile NAME`` or
``HYPOTHESIS_PROFILE``): ``dev`` (default), ``ci`` (default when ``CI`` is
set: no deadline, since TensorFlow's first call in a worker is slow), and
``deterministic`` (``derandomize=True``, no example database: the same
examples on every run, for bisecting), and ``mutation`` (``tox -e mutation``:
25 examples, no shrinking; a mutant is killed by any failing example).

``global_random_seed``: the seed of every test that trains or draws random
numbers. ``L1LAB_TEST_SEEDS`` picks the seeds: unset means ``0``; ``"3"``,
``"0-4"``, ``"1,5,9"`` or ``"all"`` (0-9) run each such test once per seed.
The list is parsed from the environment alone, so every xdist worker
collects the same tests.
"""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import HealthCheck, Phase, settings

settings.register_profile("dev", deadline=None, max_examples=40)
settings.register_profile(
    "ci", deadline=None, max_examples=60, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("deterministic", derandomize=True, database=None, deadline=None, max_examples=60)
# Mutation testing (tox -e mutation): a failing example is enough, no shrinking to a minimal one.
settings.register_profile(
    "mutation",
    deadline=None,
    max_examples=25,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

pytest_plugins = ["pytester"]  # the plugin's tests (tests/suite/test_plugin.py)

DEFAULT_TEST_SEED = 0


def parse_seeds(text: str | None) -> list[int]:
    """``None``/``""`` -> [0]; ``"all"`` -> 0..9; ``"0-4"``; ``"1,5,9"``."""
    text = (text or "").strip()
    if not text:
        return [DEFAULT_TEST_SEED]
    if text == "all":
        return list(range(10))
    seeds: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        try:
            seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
        except ValueError:
            raise pytest.UsageError(
                f"L1LAB_TEST_SEEDS={text!r}: use an integer, a range like 0-4, a list like 1,5,9, or 'all'"
            ) from None
    return seeds


def pytest_generate_tests(metafunc):
    if "global_random_seed" in metafunc.fixturenames:
        seeds = parse_seeds(os.environ.get("L1LAB_TEST_SEEDS"))
        metafunc.parametrize("global_random_seed", seeds, ids=[f"seed{s}" for s in seeds])


LOGICAL_CPUS = 2


def pytest_configure(config):
    """Devices, set before TensorFlow initialises them, so here, before any test runs.

    * Two logical CPU devices, so tf.distribute tests have two replicas (ops
      still run on CPU:0).
    * On a GPU: memory growth, so that xdist's workers share the GPU instead
      of the first one taking all of its memory; and TF32 off, so that float32
      comparisons meant to be exact are (Ampere and later GPUs run float32
      matmuls in TF32 by default: relative errors of 1e-3). What TF32 does is
      pinned by a ``gpu`` test in tests/test_devices.py.

    (l1lab's plugin, whose ``pytest_configure`` runs first, has set one thread per process
    where the slow suite runs: :data:`l1lab.suite.golden.GOLDEN_THREADS`.)
    """
    from l1lab._compat import tf

    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # already initialised: say so in the tests that care
            tf.config.experimental.set_memory_growth(gpu, True)
    tf.config.experimental.enable_tensor_float_32_execution(False)
    cpu = tf.config.list_physical_devices("CPU")[0]
    # Already initialised (e.g. by a plugin): the tests that need two devices will say so.
    with contextlib.suppress(RuntimeError):
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(LOGICAL_CPUS)]
        )


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    from l1lab._compat import tf

    if tf.config.list_physical_devices("GPU"):
        return
    skip = pytest.mark.skip(reason="no GPU visible to TensorFlow")
    for item in gpu_items:
        item.add_marker(skip)
