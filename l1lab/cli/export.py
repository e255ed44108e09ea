"""``l1lab export``: TFLite files for the desktop runtime and for microcontrollers: parse and call."""

from __future__ import annotations

import argparse
import json
import sys

from l1lab.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    fail,
    int_between,
    output_dir,
    readable_dir,
    refuse_clashes,
    with_flags,
)
from l1lab.cli.edge import add_latency_arguments, check_output, load_model
from l1lab.data import DATASETS, PIXEL_SCALES
from l1lab.edge.boards import BOARDS, check_kib

# l1lab.edge.export's formats, runtimes and default calibration, copied so that --help
# imports no TensorFlow (tests/cli/test_export.py checks that they agree).
EXPORT_FORMATS = ("float", "float-sparse", "int8", "int8-sparse", "int8-full")
RUNTIMES = ("desktop", "micro")
DEFAULT_CALIBRATION = 1000
DEFAULT_REFERENCE = "dense-784-64-64-10"  # export's name of the article's network as the reference


def add_parsers(commands) -> None:
    export = commands.add_parser(
        "export",
        help="write TFLite files (float, int8, full-integer int8, with and without sparse storage), check them, "
        "time them, on the desktop and in TensorFlow Lite Micro",
        description="Convert each model to TFLite in each format, check every file's outputs against the Keras "
        "model's on MNIST's test file in the interpreter (LiteRT's where ai-edge-litert is installed, else "
        "TensorFlow's), write the files that agree, and measure batch-1 latency on one thread. Sizes and "
        "latencies are also given as ratios to a dense reference's float file, measured in the same run. "
        "With --runtime micro each file also runs in TensorFlow Lite Micro: its check, the smallest arena "
        "that allocates, reference-kernel latency (ratios to the reference's int8-full file), or TFLM's "
        "reason for not running it.",
    )
    export.add_argument("models", nargs="+", metavar="MODEL.keras", help="models saved by l1lab train or compact")
    export.add_argument("--out-dir", required=True, metavar="DIR", help="where NAME.FORMAT.tflite and export.json go")
    export.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=EXPORT_FORMATS,
        help="a format, repeatable (default: all five)",
    )
    export.add_argument(
        "--runtime",
        dest="runtimes",
        action="append",
        choices=RUNTIMES,
        help="where the files run and are timed, repeatable (default: desktop); micro: TensorFlow Lite Micro's "
        "reference kernels (pip install 'l1lab[edge]')",
    )
    export.add_argument(
        "--calibration",
        type=int_between(1, 60_000),
        default=DEFAULT_CALIBRATION,
        metavar="N",
        help=f"training images an int8-full file is calibrated on, drawn with seed 0 (default {DEFAULT_CALIBRATION})",
    )
    export.add_argument(
        "--c-array",
        action="store_true",
        help="also write each model's int8-full file as NAME.int8-full.h and .cc for firmware: the bytes, "
        "the arena size, input and output scale and zero point, a compacted model's kept pixels (runs TFLM)",
    )
    export.add_argument(
        "--device",
        dest="devices",
        action="append",
        choices=tuple(BOARDS),
        help="a board whose flash and RAM each file is checked against, repeatable (runs TFLM)",
    )
    export.add_argument("--flash-kb", type=_positive_kib, metavar="KIB", help="a board's flash, with --ram-kb")
    export.add_argument("--ram-kb", type=_positive_kib, metavar="KIB", help="a board's RAM, with --flash-kb")
    export.add_argument(
        "--reference",
        metavar="DENSE.keras",
        help="the dense model the ratios compare with (default: the zoo model the first model was trained from, "
        "else the article's 784-64-64-10 network; its initial weights: a dense model's latency and size do not "
        "depend on its values)",
    )
    export.add_argument(
        "--pixel-scale", choices=PIXEL_SCALES, default="raw", help="the pixels the models were trained on (raw)"
    )
    export.add_argument(
        "--dataset", choices=DATASETS, default="mnist", help="the images the models were trained on (mnist)"
    )
    export.add_argument("--data-dir", type=readable_dir, metavar="DIR", help="directory with the data set's files")
    add_latency_arguments(export)
    export.add_argument("--no-latency", action="store_true", help="convert and check only")
    export.add_argument("--json", action="store_true", help="print the report as JSON")
    export.set_defaults(handler=cmd_export)


def _positive_kib(text: str) -> float:
    try:
        return check_kib("size", float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a size needs to be a positive number of KiB") from None


def _model_names(paths: list[str], reference: str | None) -> tuple[list[str], str]:
    """``(names, reference name)``: each model's file name less ``.keras``; the reference's, prefixed.

    Raises:
      UsageError: two models (the reference included) whose files would have one name.
    """
    import os

    names = [os.path.basename(p).removesuffix(".keras") for p in paths]
    reference_name = (
        "reference-" + os.path.basename(reference).removesuffix(".keras") if reference else DEFAULT_REFERENCE
    )
    labels = [*paths, reference or "the default reference"]
    everyone = [*names, reference_name]
    for i, name in enumerate(everyone):
        if name in everyone[:i]:
            first = labels[everyone.index(name)]
            if os.path.realpath(first) == os.path.realpath(labels[i]):
                raise UsageError(f"{labels[i]} is given twice: export each model once")
            raise UsageError(
                f"{first} and {labels[i]} would both be exported as {name}.FORMAT.tflite, one replacing the "
                "other: rename one"
            )
    return names, reference_name


def _boards(args: argparse.Namespace) -> list:
    """The boards of ``--device`` and of ``--flash-kb``/``--ram-kb``."""
    from l1lab.edge import boards

    if (args.flash_kb is None) != (args.ram_kb is None):
        raise UsageError("--flash-kb and --ram-kb go together: give both sizes of the board, or use --device")
    chosen = [boards.BOARDS[name] for name in dict.fromkeys(args.devices or [])]
    if args.flash_kb is not None:
        chosen.append(boards.custom_board(args.flash_kb, args.ram_kb))
    return chosen


def cmd_export(args: argparse.Namespace) -> int:
    from l1lab import _io, data
    from l1lab.edge import export as export_lib
    from l1lab.edge import micro, model_file
    from l1lab.model import build_model

    boards = _boards(args)
    names, reference_name = _model_names(args.models, args.reference)
    out_dir = output_dir(args.out_dir)
    runtimes = tuple(dict.fromkeys(args.runtimes or ["desktop"]))
    if (args.c_array or boards) and "micro" not in runtimes:
        runtimes = (*runtimes, "micro")  # the arena is TFLM's figure
    formats = tuple(dict.fromkeys(args.formats or EXPORT_FORMATS))
    if "float" not in formats:
        formats = ("float", *formats)  # the desktop ratios' base
    if "micro" in runtimes and "int8-full" not in formats:
        formats = (*formats, "int8-full")  # what TFLM runs, and its ratios' base
    if "micro" in runtimes:
        try:
            micro.require()
        except micro.MicroUnavailable as exc:
            raise UsageError(f"--runtime micro, --c-array and --device run TFLM: {exc}") from None
    inputs = {path: path for path in [*args.models, *([args.reference] if args.reference else [])]}

    def check_outputs(owners: list[str], others: dict) -> None:
        outputs = {f"{name}.{fmt}.tflite": out_dir / f"{name}.{fmt}.tflite" for name in owners for fmt in formats}
        outputs.update(others)
        refuse_clashes(outputs, inputs)
        for label, path in outputs.items():
            check_output(f"--out-dir's {label}", path)

    firmware = {f"{n}.int8-full.{ext}": out_dir / f"{n}.int8-full.{ext}" for n in names for ext in ("h", "cc")}
    check_outputs(names, {**(firmware if args.c_array else {}), "export.json": out_dir / "export.json"})
    models = {name: load_model(path) for name, path in zip(names, args.models)}
    reference = load_model(args.reference) if args.reference else None
    if reference is None:
        from l1lab import zoo

        reference = zoo.counterpart(next(iter(models.values())))
        if reference is None:
            reference = build_model(seed=0)
        else:  # the zoo model the first model was trained from: its files are named after it
            reference_name = f"dense-{reference.name.replace('_', '-')}"
            if reference_name in names:
                raise UsageError(f"a model named {reference_name} would replace the reference's files: rename it")
    check_outputs([reference_name], {})  # once its name is known: it can come from the first model's
    for name, model in models.items():
        if tuple(model.inputs[0].shape[1:]) != tuple(reference.inputs[0].shape[1:]) or tuple(
            model.outputs[0].shape[1:]
        ) != tuple(reference.outputs[0].shape[1:]):
            raise UsageError(
                f"{name} takes {tuple(model.inputs[0].shape[1:])} and gives {tuple(model.outputs[0].shape[1:])}, "
                "unlike the reference network: name its dense counterpart with --reference"
            )
    try:
        mnist = data.load_mnist(pixel_scale=args.pixel_scale, data_dir=args.data_dir, dataset=args.dataset)
    except data.DataError as exc:
        return fail(EXIT_USAGE, str(exc))
    try:
        calibration = export_lib.calibration_images(mnist.x_train, args.calibration)
    except export_lib.ExportError as exc:
        return fail(EXIT_USAGE, with_flags(str(exc), {"calibration": "--calibration"}))
    title = data.DATASET_TITLES[args.dataset]
    x, checked_on = model_file.check_inputs(reference, mnist.x_heldout, f"{title}'s test file")
    labels = mnist.y_heldout if checked_on.startswith(title) else None
    calibration, calibrated_on = model_file.check_inputs(reference, calibration, f"{title}'s training file, seed 0")
    try:
        results = export_lib.export_models(
            {reference_name: reference, **models},
            x,
            formats=formats,
            out_dir=out_dir,
            measure=not args.no_latency,
            rounds=args.rounds,
            invokes=args.invokes,
            calibration=calibration,
            labels=labels,
            runtimes=runtimes,
        )
        rows = export_lib.report_rows(results, reference_name, boards)
        report = {
            "reference": reference_name,
            "examples": len(x),
            "inputs": checked_on,
            "calibration": {"images": len(calibration), "inputs": calibrated_on},
            "runtimes": list(runtimes),
            "files": rows,
        }
        if "micro" in runtimes:
            report["micro_note"] = micro.REFERENCE_KERNEL_NOTE
            report["boards"] = [board.as_dict() for board in boards]
        if args.c_array:
            report["c_arrays"] = _write_c_arrays(results, models, names, out_dir)
        _io.write_json_atomically(out_dir / "export.json", report)
    except export_lib.ExportError as exc:
        return fail(EXIT_FAILED, str(exc))
    except OSError as exc:
        return fail(EXIT_FAILED, f"--out-dir: {exc.strerror or exc}")
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(export_lib.table(rows))
        if "micro" in runtimes:
            print(micro.REFERENCE_KERNEL_NOTE)
    # The reference's files are the ratios' base: the default one is untrained, its classes near ties.
    failed = [f"{r['model']}.{r['format']}" for r in rows if not r["agrees"] and r["model"] != reference_name]
    if failed:
        return fail(
            EXIT_FAILED,
            f"a runtime's outputs differ from Keras's for {', '.join(failed)} (not written; see export.json)",
        )
    print(f"wrote {len(rows)} files and export.json to {out_dir}", file=sys.stderr)
    return EXIT_OK


def _write_c_arrays(results, models, names, out_dir) -> list[str]:
    """Each model's int8-full file as NAME.int8-full.h and .cc; the paths written.

    Raises:
      ExportError: a model whose int8-full file was not written or that TFLM does not run.
    """
    from l1lab.edge import c_array
    from l1lab.edge.export import ExportError
    from l1lab.edge.select_features import kept_inputs

    written = []
    for name in names:
        result = next(r for r in results if r.model == name and r.format == "int8-full")
        if result.path is None or not (result.micro and result.micro.runs):
            why = result.micro.reason if result.micro and not result.micro.runs else "its outputs disagree"
            raise ExportError(f"--c-array: {name}.int8-full.tflite cannot go in firmware: {why}")
        paths = c_array.write_sources(
            out_dir,
            f"{name}.int8-full",
            result.content,
            arena_bytes=result.micro.arena_bytes,
            input_quantization=result.quantization["input"],
            output_quantization=result.quantization["output"],
            kept_inputs=kept_inputs(models[name]),
            file_name=f"{name}.int8-full.tflite",
        )
        written += [str(p) for p in paths]
    return written
