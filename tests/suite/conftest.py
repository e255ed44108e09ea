"""The tiny scenario of the suite's tests, and its runs on synthetic data."""

import pytest

from l1lab import runs
from l1lab.config import MethodOptions
from l1lab.suite.scenarios import Claim, Scenario

TINY = Scenario(
    name="tiny",
    title="a tiny proximal run",
    method="proximal-sgd",
    options=MethodOptions(l1=0.05),
    claims=(
        Claim("sparse", "l1lab", "sparse", "sparsity", ">", 0.05),
        Claim("accurate", "l1lab", "accurate", "inacc_test", "<", 0.9),
        Claim("very-sparse", "article", "very sparse", "sparsity", ">", 0.999, asserted=False),
    ),
    why="tests",
    learning_rate=0.05,
    epochs=3,
    num_samples=64,
)


@pytest.fixture(scope="module")
def tiny_runs(tiny_split):
    return runs.run_seeds(TINY.config(), [0, 1, 2], data=tiny_split())


@pytest.fixture(scope="session")
def tiny_scenario():
    """The tiny scenario: three epochs of proximal SGD on synthetic digits, its claims."""
    return TINY
