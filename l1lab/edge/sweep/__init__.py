"""The frontier: test error against sparsity, batch-1 latency and file size, for every method.

:func:`run` is the whole pipeline that ``l1lab sweep`` calls: it trains l1lab's
methods over target sparsities and multiply-add budgets (and their schedule alone,
``l1lab-prune``), TF-MOT's magnitude pruning over target sparsities (as its guide
runs it, and with a decayed learning rate) and Keras's Ftrl over L1 strengths, each over
seeds, on the same network, data and epoch budget, then measures every trained
model as its users would ship it. The network is the article's by default; on a
CNN of :mod:`l1lab.zoo` (``settings.model``) l1lab's methods are channel group
lasso and network slimming, each fine-tuned to a target sparsity, and a
multiply-add budget met by removing whole channels
(:data:`~l1lab.edge.sweep.presets.CHANNEL_METHODS`), compacted with BatchNorm
folded. Every model is shipped so:

* l1lab's methods: compacted (:func:`l1lab.edge.compact.compact`), the kept
  input features read directly (no gather op: see
  :func:`l1lab.edge.compact.without_input_selection`), exported ``float`` and
  ``int8``, with and without sparse storage;
* TF-MOT and Ftrl: as trained, exported ``float-sparse``, ``int8`` and
  ``int8-sparse`` (TF-MOT's documented export keeps the zeros scattered);
* the dense model (plain SGD): ``float`` and ``int8``, the ratios' base;
* every model also as the microcontroller gets it: ``int8-full`` in TensorFlow
  Lite Micro (reference-kernel latency, flash, arena), TF-MOT's too;
* the interpreter's own floor: an almost empty model, timed in the same run.

Its parts, one job each: :mod:`~l1lab.edge.sweep.presets` (methods, values,
settings, the plan), :mod:`~l1lab.edge.sweep.points` (a point's files),
:mod:`~l1lab.edge.sweep.runner` (one process per point),
:mod:`~l1lab.edge.sweep.measure` (compaction, export, latency),
:mod:`~l1lab.edge.sweep.report` (summary, table, plot) and
:mod:`~l1lab.edge.sweep.targets` (the targets judged). Importing this package
imports no TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from l1lab.edge.sweep.presets import CHANNEL_METHODS, METHODS, Point, SweepError, SweepSettings, methods_for, plan

__all__ = [
    "CHANNEL_METHODS",
    "METHODS",
    "OUTPUTS",
    "Point",
    "SweepError",
    "SweepFailed",
    "SweepSettings",
    "methods_for",
    "plan",
    "run",
]

OUTPUTS = ("sweep.json", "sweep.md", "frontier.png")


class SweepFailed(RuntimeError):
    """Some points failed to train; the others are kept, and a rerun retries only the failed ones."""

    def __init__(self, failures: Sequence[str]):
        super().__init__("points failed (rerun to retry them; the others are kept):\n  " + "\n  ".join(failures))
        self.failures = list(failures)


def run(
    out_dir: str | os.PathLike,
    *,
    methods: Sequence[str] | None = None,
    values: Mapping[str, Sequence[float]] | None = None,
    seeds: int = 3,
    settings: SweepSettings = SweepSettings(),
    jobs: int = 1,
    rounds: int | None = None,
    invokes: int | None = None,
    progress: Callable[[str], None] = lambda line: None,
    ray_address: str | None = None,
) -> dict:
    """Trains, measures, summarises and judges a sweep, and writes it to ``out_dir``.

    Everything is checked before the first point trains: the methods and their
    values, the settings, the measurement's rounds and invokes, and every output
    (``out_dir/points/`` and :data:`OUTPUTS`). A point already trained with these
    settings is not trained again; a damaged point file is trained again.

    Args:
      out_dir: where ``points/``, ``sweep.json``, ``sweep.md`` and ``frontier.png`` go.
      methods: names of ``methods_for(settings.model)`` (default: all of them); ``dense`` is
        always added (the ratios' base).
      values: a method's own values instead of its defaults (see
        :func:`l1lab.edge.sweep.presets.check_values`).
      seeds: seeds per point, ``0 .. seeds - 1``.
      settings: what every point shares: the network and data set too
        (:meth:`SweepSettings.for_model` gives a CNN's defaults).
      jobs: points trained side by side, one process each.
      rounds: timed latency rounds (default :data:`l1lab.edge.latency.MIN_ROUNDS`).
      invokes: invokes per round (default :data:`l1lab.edge.latency.MIN_INVOKES`).
      progress: called with one line per trained or measured point.
      ray_address: train each point as a Ray task there (:mod:`l1lab.cluster`; default
        ``L1LAB_RAY_ADDRESS``, unset: local processes); measurement stays here.

    Returns:
      ``{"settings", "summary", "targets", "points", "table"}``: what ``sweep.json`` holds, and
      ``sweep.md``'s text as ``table``.

    Raises:
      SweepError: bad input or an output that cannot be written, or Ray missing or out of reach
        with a Ray address, before any training.
      l1lab.data.DataError: the data set cannot be loaded, before any training.
      SweepFailed: some points failed to train (nothing is measured).
      l1lab.edge.sweep.points.PointFileError: a point's file was damaged after it trained.
    """
    from l1lab import _io, cluster, data
    from l1lab.edge import convert, latency, micro
    from l1lab.edge.sweep import measure, report, runner
    from l1lab.edge.sweep import targets as targets_lib

    settings = settings.validate()
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= 100:
        raise SweepError(f"`seeds` needs to be an integer from 1 to 100. Received: seeds={seeds!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= 256:
        raise SweepError(f"`jobs` needs to be an integer from 1 to 256. Received: jobs={jobs!r}")
    rounds = latency.MIN_ROUNDS if rounds is None else rounds
    invokes = latency.MIN_INVOKES if invokes is None else invokes
    try:
        latency.check_measurement(rounds, invokes)
    except ValueError as exc:
        raise SweepError(str(exc)) from None
    if methods is None:
        methods = tuple(methods_for(settings.model))
    points = plan(methods, range(seeds), values, model=settings.model)
    try:
        folder = _io.writable_dir(out_dir)
        _io.writable_dir(folder / "points")
        outputs = {name: _io.check_output_file(folder / name) for name in OUTPUTS}
    except _io.OutputError as exc:
        raise SweepError(f"out_dir: {exc}") from None
    address = cluster.address(ray_address)
    if address is not None:
        try:
            cluster.connect(address)
        except cluster.ClusterError as exc:
            raise SweepError(str(exc)) from None
    try:
        micro.require()
    except micro.MicroUnavailable as exc:
        raise SweepError(f"the microcontroller columns run TFLM: {exc}") from None
    test = data.load_mnist(  # fetched once, here
        settings.num_samples, pixel_scale="unit", split="standard", dataset=settings.dataset
    )

    failures = runner.run_points(points, settings, folder, jobs=jobs, progress=progress, ray_address=address)
    if failures:
        raise SweepFailed(failures)
    floor = measure.interpreter_floor(rounds=rounds, invokes=invokes)
    calibration = convert.default_calibration(test.x_train)
    records = measure.measure_points(
        points,
        folder,
        test.x_test,
        rounds=rounds,
        invokes=invokes,
        calibration=calibration,
        model_name=settings.model,
        progress=progress,
    )
    rows = report.summarize(records)
    verdicts = targets_lib.targets(rows) if settings.model == "mlp" else targets_lib.channel_targets(rows)
    table = report.markdown(rows, settings, verdicts, floor=floor)
    result = {
        "settings": settings.as_dict(),
        "interpreter_floor": floor,
        "micro_note": micro.REFERENCE_KERNEL_NOTE,
        "summary": rows,
        "targets": verdicts,
        "points": records,
    }
    _io.write_json_atomically(outputs["sweep.json"], result)
    _io.write_text_atomically(outputs["sweep.md"], table)
    report.plot(rows, outputs["frontier.png"])
    return {**result, "table": table}
