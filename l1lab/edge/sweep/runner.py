"""Training a sweep's points, each in a process of its own, ``jobs`` at a time.

Each point (method, value, seed) trains in ``python -m l1lab.edge.sweep.runner``
(TF-MOT's with ``TF_USE_LEGACY_KERAS=1``), one TensorFlow thread each, so
``jobs`` processes fill the cores; it leaves the point's files
(:mod:`l1lab.edge.sweep.points`), so an interrupted sweep resumes where it
stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from l1lab._io import write_bytes_atomically
from l1lab.edge.sweep.points import finished_record, is_done, point_paths, save_point
from l1lab.edge.sweep.presets import TFMOT_DECAY, TFMOT_METHODS, Point, SweepSettings, train_config

__all__ = ["point_command", "run_points", "train_point"]


def train_point(point: Point, settings: SweepSettings, split=None) -> tuple[dict, list[tuple]]:
    """Trains one point in this process; returns ``(metrics, weights)``.

    ``metrics`` holds ``inacc_test`` (error on the data set's test file),
    ``ent_test``, ``sparsity`` and ``num_nonzero`` as l1lab counts them;
    ``weights`` the article's network's ``(kernel, bias)`` per Dense layer, or a
    CNN's ``get_weights()`` (see :func:`l1lab.edge.sweep.points.save_point`).
    """
    from l1lab import data as data_lib

    split = split or data_lib.load_mnist(
        settings.num_samples, pixel_scale="unit", split="standard", dataset=settings.dataset
    )
    if point.method in TFMOT_METHODS:
        from l1lab.edge import peers

        config = peers.PruningConfig(
            target=point.value,
            epochs=settings.epochs,
            dense_epochs=settings.epochs - settings.finetune_epochs,
            learning_rate=settings.learning_rate,
            batch_size=settings.batch_size,
            seed=point.seed,
            decay=point.method == TFMOT_DECAY,
            model=settings.model,
        )
        model, metrics = peers.train_magnitude_pruning(config, split)
        return _with_kernel_sparsity(metrics, model, settings), _weights(model, settings)
    from l1lab import sparsity
    from l1lab import train as train_lib

    model, events = train_lib.train(train_config(point, settings), split)
    last = events[-1]
    metrics = {
        "inacc_test": last["inacc_test"],
        "ent_test": last["ent_test"],
        "num_nonzero": last["num_nonzero"],
        "sparsity": sparsity.fraction_zero(last["num_nonzero"][sparsity.TOTAL]),
    }
    return _with_kernel_sparsity(metrics, model, settings), _weights(model, settings)


def _with_kernel_sparsity(metrics: dict, model, settings: SweepSettings) -> dict:
    """A CNN's ``sparsity`` is its Dense and Conv2D kernels', what TF-MOT's target counts and prunes.

    (:func:`l1lab.target.prunable_kernels`); ``weight_sparsity`` keeps the
    sparsity of all its weights. The article's network's stays all its weights'.
    """
    if settings.model == "mlp":
        return metrics
    from l1lab import target

    kernels = target.prunable_kernels(model)
    return {**metrics, "weight_sparsity": metrics["sparsity"], "sparsity": target.kernel_sparsity(kernels)}


def _weights(model, settings: SweepSettings) -> list:
    from l1lab.model import dense_weights

    return dense_weights(model) if settings.model == "mlp" else model.get_weights()


def point_command(point: Point, settings: SweepSettings, out_dir: Path) -> tuple[list[str], dict]:
    """``(argv, environment)`` of the process that trains ``point``."""
    env = dict(os.environ)
    # One thread per point: the seed network's matmuls are too small for TensorFlow's pools
    # (an epoch in 0.77 s instead of 1.1 s on 2 cores), and --jobs fills the cores.
    env.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if point.method in TFMOT_METHODS:
        env["TF_USE_LEGACY_KERAS"] = "1"  # TF-MOT 0.8 runs on Keras 2 only
    else:
        env.pop("TF_USE_LEGACY_KERAS", None)
    argv = [
        sys.executable,
        "-m",
        "l1lab.edge.sweep.runner",
        json.dumps(point.as_dict()),
        json.dumps(settings.as_dict()),
        str(out_dir),
    ]
    return argv, env


def run_points(
    points: Sequence[Point],
    settings: SweepSettings,
    out_dir: Path,
    *,
    jobs: int = 1,
    progress: Callable[[str], None] = lambda line: None,
    command: Callable = point_command,
    ray_address: str | None = None,
) -> list[str]:
    """Trains every point not yet done, ``jobs`` processes at a time; returns the failures' messages.

    A point already done (:func:`is_done`) is not trained again. On an
    interruption the running processes are ended; their points left nothing.
    With ``ray_address`` (:mod:`l1lab.cluster`) each point is a Ray task
    instead, ``jobs`` ignored: the task runs the same process where Ray puts it
    and sends the point's files back, written here as a local point's are.
    """
    todo = [p for p in points if not is_done(out_dir, p, settings)]
    progress(f"{len(points) - len(todo)} of {len(points)} points already trained; {len(todo)} to train")
    if ray_address is not None:
        return _run_points_on_ray(todo, settings, out_dir, progress, command, ray_address)
    running: list[tuple[Point, subprocess.Popen, float]] = []
    failures, done = [], 0
    queue = list(todo)
    try:
        while queue or running:
            while queue and len(running) < jobs:
                point = queue.pop(0)
                argv, env = command(point, settings, out_dir)
                process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                running.append((point, process, time.monotonic()))
            time.sleep(0.2)
            for item in list(running):
                point, process, started = item
                if process.poll() is None:
                    continue
                running.remove(item)
                done += 1
                stderr = process.stderr.read() if process.stderr else ""
                seconds = time.monotonic() - started
                record = finished_record(out_dir, point, settings) if process.returncode == 0 else None
                if record is not None:
                    metrics = record["metrics"]
                    progress(
                        f"[{done}/{len(todo)}] {point.key}: {seconds:.0f} s, error {metrics['inacc_test']:.2%}, "
                        f"sparsity {metrics['sparsity']:.1%}"
                    )
                else:
                    last = stderr.strip().splitlines()[-1:] or ["no message"]
                    failures.append(f"{point.key}: exit {process.returncode}: {last[0]}")
                    progress(f"[{done}/{len(todo)}] {point.key}: FAILED (exit {process.returncode}): {last[0]}")
    finally:
        for _, process, _ in running:
            process.terminate()
        for _, process, _ in running:
            process.wait()
    return failures


def _run_points_on_ray(todo, settings, out_dir: Path, progress, command, ray_address: str) -> list[str]:
    from l1lab import cluster

    failures = []
    arguments = [(point, settings, command) for point in todo]
    for done, (index, (code, files, message, seconds)) in enumerate(
        cluster.run_tasks(_point_task, arguments, ray_address), start=1
    ):
        point = todo[index]
        if code == 0:
            record_path, weights_path = point_paths(out_dir, point)
            record_path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomically(weights_path, files["weights"])  # weights first: a record means a whole point
            write_bytes_atomically(record_path, files["record"])
        record = finished_record(out_dir, point, settings) if code == 0 else None
        if record is not None:
            metrics = record["metrics"]
            progress(
                f"[{done}/{len(todo)}] {point.key}: {seconds:.0f} s on Ray, error {metrics['inacc_test']:.2%}, "
                f"sparsity {metrics['sparsity']:.1%}"
            )
        else:
            failures.append(f"{point.key}: exit {code}: {message}")
            progress(f"[{done}/{len(todo)}] {point.key}: FAILED on Ray (exit {code}): {message}")
    return failures


def _point_task(point: Point, settings: SweepSettings, command: Callable):
    """A point in a Ray task: its process, in a scratch folder; ``(exit code, files, last error line, seconds)``."""
    import tempfile

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="l1lab-point-") as scratch:
        argv, env = command(point, settings, Path(scratch))
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        files = {}
        if done.returncode == 0:
            record_path, weights_path = point_paths(Path(scratch), point)
            files = {"record": record_path.read_bytes(), "weights": weights_path.read_bytes()}
    message = (done.stderr.strip().splitlines()[-1:] or ["no message"])[0]
    return done.returncode, files, message, time.monotonic() - started


def _point_main(argv: Sequence[str]) -> int:
    point = Point(**json.loads(argv[0]))
    settings = SweepSettings(**json.loads(argv[1]))
    started = time.monotonic()
    metrics, weights = train_point(point, settings)
    from l1lab._compat import versions

    save_point(Path(argv[2]), point, settings, metrics, weights, time.monotonic() - started, versions())
    return 0


if __name__ == "__main__":
    sys.exit(_point_main(sys.argv[1:]))
