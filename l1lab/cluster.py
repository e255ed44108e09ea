"""Independent training runs as Ray tasks, when one machine is not enough.

A scenario's seeds (:meth:`l1lab.suite.scenarios.Scenario.train_seeds`) and a
sweep's points (:func:`l1lab.edge.sweep.runner.run_points`) do not depend on
each other. Given a Ray address (``--ray ADDRESS`` on the command line, or
:data:`ADDRESS_ENV` in the environment), each one runs as a Ray task, one CPU
each; without one they run here, as they always did. ``"local"`` starts a Ray
instance on this machine (what the tests use).

A task sees the environment variables of :data:`FORWARDED` as the caller has
them (the TensorFlow thread pools, the Keras flavour, where the data are), so a
seed computes on a worker what it computes here. Each node needs l1lab, the
data (l1lab's sources, or the scenario's data function) and the modules a
scenario's model and data functions live in.

Ray is optional: ``pip install 'l1lab[cluster]'``.

References:
  Ray Core, tasks: https://docs.ray.io/en/latest/ray-core/tasks.html
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

ADDRESS_ENV = "L1LAB_RAY_ADDRESS"
LOCAL = "local"
# What a task must see as the caller does: threads decide a CNN's sums, the flavour decides Keras.
FORWARDED = (
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_USE_LEGACY_KERAS",
    "TF_CPP_MIN_LOG_LEVEL",
    "L1LAB_DATA_DIR",
    "KERAS_HOME",
)


class ClusterError(RuntimeError):
    """Ray is missing or the cluster cannot be reached; the message names the fix."""


def address(explicit: str | None = None) -> str | None:
    """The Ray address to use: ``explicit``, else :data:`ADDRESS_ENV`, else None (run here; ``""`` too)."""
    chosen = explicit if explicit is not None else os.environ.get(ADDRESS_ENV, "")
    return chosen.strip() or None


def connect(ray_address: str):
    """Ray, connected to ``ray_address`` (``"local"``: a new instance here, on all its CPUs).

    Raises:
      ClusterError: Ray is not installed, or the address cannot be reached.
    """
    try:
        import ray
    except ImportError:
        raise ClusterError(
            f"running on a Ray cluster ({ray_address}) needs Ray: pip install 'l1lab[cluster]'"
        ) from None
    if ray.is_initialized():
        return ray
    settings = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        if ray_address == LOCAL:  # a new instance, never another process's
            ray.init(address="local", **settings)
        else:
            ray.init(address=ray_address, **settings)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(
            f"cannot reach the Ray cluster at {ray_address!r} ({exc}): start it with `ray start --head`, or "
            f"unset {ADDRESS_ENV} to run here"
        ) from exc
    return ray


def forwarded_environment(environ=os.environ) -> dict[str, str]:
    return {name: environ[name] for name in FORWARDED if name in environ}


def run_tasks(
    function: Callable, arguments: Sequence[tuple], ray_address: str, *, num_cpus: int = 1
) -> Iterator[tuple[int, object]]:
    """Runs ``function(*arguments[i])`` as one Ray task each; yields ``(i, result)`` as each finishes.

    Raises:
      ClusterError: as :func:`connect`.
      Exception: a task's own exception, re-raised here (Ray wraps it; its type is kept).
    """
    ray = connect(ray_address)
    remote = ray.remote(function).options(
        num_cpus=num_cpus, runtime_env={"env_vars": forwarded_environment()}, max_retries=0
    )
    pending = {remote.remote(*args): i for i, args in enumerate(arguments)}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            index = pending.pop(ref)
            try:
                yield index, ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                raise exc.as_instanceof_cause() from None
