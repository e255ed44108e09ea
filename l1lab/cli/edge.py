"""``l1lab compact``: a trained sparse model as a smaller dense one: parse and call."""

from __future__ import annotations

import argparse
import json
import sys

from l1lab.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, keras_file
from l1lab.data import PIXEL_SCALES


def add_parsers(commands) -> None:
    compact = commands.add_parser(
        "compact",
        help="turn a trained sparse Dense model into a smaller dense one with the same input and output",
        description="Drop input features nothing reads and units that are dead (a dead unit's constant output is "
        "folded into the next bias), write the smaller model, and check that its outputs equal the sparse "
        "model's on MNIST's test file. Prints kept inputs and units per layer and multiply-adds before and after.",
    )
    compact.add_argument("model", metavar="MODEL.keras", help="a model saved by l1lab train --save-model")
    compact.add_argument("--out", type=keras_file, required=True, metavar="FILE.keras", help="the compact model")
    compact.add_argument("--epsilon", type=float, default=1e-5, help="weights with |w| <= epsilon are zero (1e-5)")
    compact.add_argument(
        "--pixel-scale", choices=PIXEL_SCALES, default="raw", help="the pixels the model was trained on (raw)"
    )
    compact.add_argument("--json", action="store_true", help="print the report as JSON")
    compact.set_defaults(handler=cmd_compact)


def cmd_compact(args: argparse.Namespace) -> int:
    import os

    from l1lab import _io, data
    from l1lab import optimizers as _  # noqa: F401  (registers l1lab's optimizers for loading)
    from l1lab._compat import keras
    from l1lab.edge import compact as compact_lib

    if not os.path.isfile(args.model):
        return fail(EXIT_USAGE, f"{args.model} is not a file: save one with `l1lab train --save-model FILE.keras`")
    try:
        model = keras.models.load_model(args.model)
    except Exception as exc:  # Keras raises many kinds on a bad file
        return fail(EXIT_USAGE, f"cannot load {args.model} as a Keras model: {type(exc).__name__}: {exc}")
    try:
        compacted, report = compact_lib.compact(model, epsilon=args.epsilon)
        test = data.load_mnist(pixel_scale=args.pixel_scale)
    except (compact_lib.CompactionError, data.DataError) as exc:
        return fail(EXIT_USAGE, str(exc))
    check = compact_lib.check_outputs(model, compacted, test.x_heldout)
    if not check["equal"]:
        return fail(EXIT_FAILED, f"the compact model's outputs differ from the sparse model's: {check}")
    try:
        _io.write_atomically(args.out, compacted.save)
    except OSError as exc:
        return fail(EXIT_FAILED, f"--out: {exc}")
    if args.json:
        print(json.dumps({**report.as_dict(), "check": check, "out": args.out}, indent=1))
    else:
        print(report.table())
        print(
            f"outputs on MNIST's test file ({check['examples']} images): max |difference| "
            f"{check['max_abs_diff']:.2e}, same prediction on {check['same_predictions']}"
        )
    print(f"wrote {args.out}", file=sys.stderr)
    return EXIT_OK
