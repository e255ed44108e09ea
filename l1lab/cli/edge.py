"""``l1lab compact`` and ``l1lab sweep``, and the edge commands' shared arguments: parse and call."""

from __future__ import annotations

import argparse
import json
import sys

from l1lab.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_ray_argument,
    fail,
    int_between,
    keras_file,
    refuse_clashes,
    with_flags,
)
from l1lab.config import MODEL_NAMES
from l1lab.data import DATASET_TITLES, DATASETS, PIXEL_SCALES
from l1lab.edge.sweep.presets import CHANNEL_METHODS, METHODS

# l1lab.edge.latency's bounds, copied so that --help imports no TensorFlow
# (tests/cli/test_edge.py checks that they agree).
MIN_ROUNDS, MIN_INVOKES = 5, 2000
MAX_ROUNDS, MAX_INVOKES = 1000, 1_000_000


def add_parsers(commands) -> None:
    compact = commands.add_parser(
        "compact",
        help="turn a trained sparse model into a smaller dense one with the same input and output",
        description="Drop input features nothing reads and units that are dead (a dead unit's constant output is "
        "folded into the next bias) of a Dense stack, or the dead channel groups of any model of Dense, conv, "
        "BatchNorm, pooling, Add and Concatenate layers (l1lab.channels), write the smaller model, and check that "
        "its outputs equal the sparse model's on the data set's test file. Prints what each layer keeps and "
        "multiply-adds before and after.",
    )
    compact.add_argument("model", metavar="MODEL.keras", help="a model saved by l1lab train --save-model")
    compact.add_argument("--out", type=keras_file, required=True, metavar="FILE.keras", help="the compact model")
    compact.add_argument("--epsilon", type=_epsilon, default=1e-5, help="weights with |w| <= epsilon are zero (1e-5)")
    compact.add_argument(
        "--pixel-scale", choices=PIXEL_SCALES, default="raw", help="the pixels the model was trained on (raw)"
    )
    compact.add_argument(
        "--dataset", choices=DATASETS, default="mnist", help="the images the model was trained on (mnist)"
    )
    compact.add_argument(
        "--fold-batchnorm",
        action="store_true",
        help="fold each BatchNorm into the Dense or conv layer before it (where that layer has no activation)",
    )
    compact.add_argument("--json", action="store_true", help="print the report as JSON")
    compact.set_defaults(handler=cmd_compact)

    sweep = commands.add_parser(
        "sweep",
        help="the frontier: l1lab's methods, TF-MOT and Ftrl over strengths and seeds; error, latency, size",
        description="Train every method over its strengths, target sparsities or multiply-add budgets and seeds "
        "on the data set's standard split, each point in its own process (resumable: a trained point is not "
        "trained again), then compact, export, check and time every model, and write sweep.json, sweep.md and "
        "frontier.png. The article's network by default; a CNN of the zoo (--model) is swept with channel group "
        "lasso, network slimming and a channel budget against TF-MOT and Ftrl.",
    )
    sweep.add_argument("--out-dir", required=True, metavar="DIR", help="points/, sweep.json, sweep.md, frontier.png")
    sweep.add_argument(
        "--method",
        dest="methods",
        action="append",
        choices=tuple(dict.fromkeys([*METHODS, *CHANNEL_METHODS])),
        help="a method, repeatable (default: all of the model's; dense is always added: it is the ratios' base; "
        "l1lab-group and l1lab-l1 are the article's network's, l1lab-channel and l1lab-slimming a CNN's)",
    )
    sweep.add_argument(
        "--model", choices=MODEL_NAMES, default="mlp", help="the network: the article's (mlp, default) or a CNN"
    )
    sweep.add_argument("--dataset", choices=DATASETS, default="mnist", help="the images (mnist)")
    sweep.add_argument(
        "--values",
        action="append",
        default=[],
        type=_method_values,
        metavar="METHOD=V1,V2,...",
        help="one method's target sparsities (Ftrl: L1 strengths; l1lab-budget: multiply-add budgets) instead "
        "of its defaults (repeatable)",
    )
    sweep.add_argument("--seeds", type=int_between(1, 100), default=3, help="seeds per point: 0..N-1 (default 3)")
    sweep.add_argument(
        "--epochs", type=int_between(2, 10_000), help="epochs per point, the last half fine-tune (default 20; a CNN: 6)"
    )
    sweep.add_argument(
        "--num-samples",
        type=int_between(1, 10_000),
        default=10_000,
        help="train on 6n images, test on n of the test file (default 10000: all)",
    )
    sweep.add_argument("--jobs", type=int_between(1, 256), default=1, help="points trained side by side (default 1)")
    add_ray_argument(sweep, "each point (measurement stays here)")
    add_latency_arguments(sweep)
    sweep.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sweep.set_defaults(handler=cmd_sweep)


def add_latency_arguments(parser) -> None:
    """``--rounds`` and ``--invokes``: the latency measurement's rules, never below their minimums."""
    parser.add_argument(
        "--rounds",
        type=int_between(MIN_ROUNDS, MAX_ROUNDS),
        default=MIN_ROUNDS,
        help=f"timed rounds, {MIN_ROUNDS} to {MAX_ROUNDS} (default {MIN_ROUNDS})",
    )
    parser.add_argument(
        "--invokes",
        type=int_between(MIN_INVOKES, MAX_INVOKES),
        default=MIN_INVOKES,
        help=f"batch-1 invokes per round, {MIN_INVOKES} to {MAX_INVOKES} (default {MIN_INVOKES})",
    )


def _method_values(text: str) -> tuple[str, tuple[float, ...]]:
    """``METHOD=V1,V2,...`` as ``(method, values)``; the library checks the values against the method."""
    method, sep, values = text.partition("=")
    if not sep or not method:
        raise argparse.ArgumentTypeError(f"{text!r} is not METHOD=V1,V2,... with METHOD one of --method's")
    try:
        numbers = tuple(float(v) for v in values.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the values need to be numbers separated by commas") from None
    return method, numbers


def load_model(path: str):
    """The Keras model saved at ``path``, refused in one line if the edge commands cannot take it.

    Raises:
      UsageError: what :func:`l1lab.edge.model_file.load` refuses.
    """
    from l1lab.edge import model_file

    try:
        return model_file.load(path)
    except model_file.ModelFileError as exc:
        raise UsageError(str(exc)) from None


def _epsilon(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value >= 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: epsilon needs to be finite and >= 0 (1e-5: exact zeros)")
    return value


def cmd_compact(args: argparse.Namespace) -> int:
    from l1lab import _io, data
    from l1lab.edge import compact as compact_lib
    from l1lab.edge import model_file

    refuse_clashes({"--out": args.out}, {"MODEL": args.model})
    model = load_model(args.model)
    try:
        compacted, report = compact_lib.compact(model, epsilon=args.epsilon, fold_batchnorm=args.fold_batchnorm)
        images = data.load_mnist(pixel_scale=args.pixel_scale, dataset=args.dataset).x_heldout
    except (compact_lib.CompactionError, data.DataError) as exc:
        return fail(EXIT_USAGE, str(exc))
    x, checked_on = model_file.check_inputs(model, images, source=f"{DATASET_TITLES[args.dataset]}'s test file")
    check = {**compact_lib.check_outputs(model, compacted, x), "inputs": checked_on}
    if not check["equal"]:
        return fail(
            EXIT_FAILED,
            f"the compact model's outputs differ from the sparse model's on {checked_on}: max |difference| "
            f"{check['max_abs_diff']:.3g} (allowed {compact_lib.CHECK_TOLERANCE:g} x {check['output_scale']:.3g}); "
            "nothing written",
        )
    try:
        _io.write_atomically(args.out, compacted.save, suffix=".keras")
    except OSError as exc:
        return fail(EXIT_FAILED, f"--out: {exc}")
    if args.json:
        print(json.dumps({**report.as_dict(), "check": check, "out": args.out}, indent=1))
    else:
        print(report.table())
        print(
            f"outputs on {checked_on}: max |difference| "
            f"{check['max_abs_diff']:.2e}, same prediction on {check['same_predictions']}"
        )
    print(f"wrote {args.out}", file=sys.stderr)
    return EXIT_OK


def check_output(label: str, path) -> None:
    from l1lab._io import OutputError, check_output_file

    try:
        check_output_file(path)
    except OutputError as exc:
        raise UsageError(f"{label}: {exc}") from None


# sweep.run's arguments and SweepSettings' fields, as the flags that set them.
SWEEP_FLAGS = {
    "out_dir": "--out-dir",
    "methods": "--method",
    "values": "--values",
    "seeds": "--seeds",
    "jobs": "--jobs",
    "rounds": "--rounds",
    "invokes": "--invokes",
    "epochs": "--epochs",
    "num_samples": "--num-samples",
    "model": "--model",
    "dataset": "--dataset",
    "ray_address": "--ray",
}


def cmd_sweep(args: argparse.Namespace) -> int:
    from l1lab import data
    from l1lab.edge import sweep
    from l1lab.edge.sweep.points import PointFileError

    given = [method for method, _ in args.values]
    repeated = sorted({m for m in given if given.count(m) > 1})
    if repeated:
        raise UsageError(f"--values {repeated[0]}=... given twice: give all of a method's values in one flag")

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    try:
        result = sweep.run(
            args.out_dir,
            methods=args.methods,
            values=dict(args.values),
            seeds=args.seeds,
            settings=sweep.SweepSettings.for_model(
                args.model, args.dataset, epochs=args.epochs, num_samples=args.num_samples
            ),
            jobs=args.jobs,
            rounds=args.rounds,
            invokes=args.invokes,
            progress=progress,
            ray_address=args.ray,
        )
    except (sweep.SweepError, data.DataError) as exc:
        return fail(EXIT_USAGE, with_flags(str(exc), SWEEP_FLAGS))
    except (sweep.SweepFailed, PointFileError) as exc:
        return fail(EXIT_FAILED, str(exc))
    except OSError as exc:
        return fail(EXIT_FAILED, f"--out-dir: {exc.strerror or exc}")
    print(result["table"], end="")
    progress(f"wrote {', '.join(sweep.OUTPUTS)} to {args.out_dir}")
    return EXIT_OK
