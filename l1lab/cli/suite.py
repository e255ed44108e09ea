"""``l1lab claims``, ``l1lab golden update|record-line``, ``l1lab doctor``, ``l1lab matrix``: parse and call."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from l1lab.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_ray_argument,
    fail,
    output_dir,
    positive_int,
    ray_address,
    seed_progress,
)
from l1lab.suite.matrix import ENVIRONMENTS
from l1lab.suite.scenarios import CHECK_SEEDS, GOLDEN_SEEDS, SCENARIOS, load_modules

SCENARIOS_HELP = (
    "a module that defines SCENARIOS (as pytest's l1lab_scenarios; repeatable; default: l1lab's own), "
    "imported from the current directory where it is not installed"
)


def add_parsers(commands) -> None:
    claims = commands.add_parser(
        "claims",
        help="train every scenario over several seeds and report the claims",
        description="Train each scenario (200 epochs) for several seeds, judge its claims on the median "
        "over seeds, compare with the golden files, and write claims.json, claims.md and claims.png.",
    )
    claims.add_argument(
        "--seeds",
        type=positive_int,
        metavar="N",
        help=f"seeds per scenario: the golden file's first N (default: all of them; {GOLDEN_SEEDS} without one)",
    )
    claims.add_argument("--scenario", action="append", metavar="NAME", help="only this scenario (repeatable)")
    claims.add_argument("--scenarios", dest="modules", action="append", metavar="MODULE", help=SCENARIOS_HELP)
    claims.add_argument("--golden-dir", default="golden", metavar="DIR", help="default ./golden")
    claims.add_argument("--out-dir", default="reports", metavar="DIR", help="default ./reports")
    claims.add_argument("--quiet", action="store_true", help="no per-seed progress on stderr")
    add_ray_argument(claims, "each seed")
    claims.add_argument(
        "--from-golden", action="store_true", help="train nothing: report the claims as the golden files measured them"
    )
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
        help="run the tests, doctor (and claims) on each pinned TensorFlow line and the nightly",
        description="For each tox environment of the version matrix, run the fast suite, l1lab doctor and, "
        "with --claims, the claims; write matrix.json and matrix.md. Run from the repository root.",
    )
    matrix.add_argument(
        "--env",
        action="append",
        metavar="ENV",
        help=f"only this tox environment (repeatable; default: {' '.join(ENVIRONMENTS)})",
    )
    matrix.add_argument("--claims", action="store_true", help="also train the claims in each (long)")
    matrix.add_argument(
        "--seeds", type=positive_int, default=CHECK_SEEDS, metavar="N", help=f"claims: seeds (default {CHECK_SEEDS})"
    )
    matrix.add_argument(
        "--scenarios",
        dest="modules",
        action="append",
        metavar="MODULE",
        help="a project's scenario module (repeatable): run its smoke tests (and with --claims its claims) "
        "instead of l1lab's suite",
    )
    matrix.add_argument(
        "--project",
        default=".",
        metavar="DIR",
        help="with --scenarios: the project's directory, where the modules import from and golden/ lives (default .)",
    )
    matrix.add_argument("--out-dir", default="reports", metavar="DIR", help="default ./reports")
    matrix.set_defaults(handler=cmd_matrix)

    golden = commands.add_parser("golden", help="write the golden files (serially)")
    actions = golden.add_subparsers(dest="golden_command", metavar="ACTION", required=True)
    update = actions.add_parser(
        "update",
        help="train scenarios and rewrite their golden files",
        description="Train each named scenario for --seeds seeds and rewrite golden/<scenario>.json "
        "atomically, printing what changed. The only way golden files are written; run it serially.",
    )
    update.add_argument(
        "--seeds", type=positive_int, default=GOLDEN_SEEDS, metavar="N", help=f"seeds 0..N-1 (default {GOLDEN_SEEDS})"
    )
    update.add_argument(
        "--rejudge", action="store_true", help="only judge the claims again from the stored trajectories (no training)"
    )
    update.set_defaults(handler=cmd_golden_update)

    record = actions.add_parser(
        "record-line",
        help="measure this TensorFlow/Keras line against the reference golden files",
        description="Train each scenario on the reference golden file's first --seeds seeds on the installed "
        "stack. Where the trajectories are identical to the reference's, record nothing; where they differ, "
        "write golden/<line>/<scenario>.json. golden/<line>/line.json says which; from then on drift fails on "
        "this line. Run it inside the line's environment (tox exec -e tf212 -- python -m l1lab golden "
        "record-line --all), serially.",
    )
    record.add_argument(
        "--seeds",
        type=positive_int,
        default=CHECK_SEEDS,
        metavar="N",
        help=f"the reference's first N seeds (default {CHECK_SEEDS}, what the slow tests run)",
    )
    record.set_defaults(handler=cmd_golden_record_line)
    for action in (update, record):
        action.add_argument("scenarios", nargs="*", metavar="SCENARIO")
        action.add_argument("--all", action="store_true", help="every scenario")
        action.add_argument("--scenarios", dest="modules", action="append", metavar="MODULE", help=SCENARIOS_HELP)
        action.add_argument("--golden-dir", default="golden", metavar="DIR", help="default ./golden")
        action.add_argument("--quiet", action="store_true", help="no per-seed progress on stderr")
        add_ray_argument(action, "each seed")


def _scenarios(names, modules=None):
    """The scenarios named (all without names) among l1lab's own, or among those ``modules`` define."""
    try:
        known = load_modules(modules, Path.cwd()) if modules else SCENARIOS
    except ValueError as exc:
        raise UsageError(f"--scenarios: {exc}") from exc
    unknown = [name for name in names or () if name not in known]
    if unknown:
        where = f"the modules {', '.join(modules)}" if modules else "l1lab's scenarios"
        raise UsageError(f"unknown scenario {unknown[0]!r} in {where}; choose from {sorted(known)}")
    return [known[name] for name in names] if names else list(known.values())


def _golden_scenarios(args: argparse.Namespace, verb: str):
    """The scenarios a golden command names, or every one with --all; naming none is a usage error."""
    if not args.all and not args.scenarios:
        raise UsageError(f"name the scenarios to {verb}, or --all")
    return _scenarios([] if args.all else args.scenarios, args.modules)


def _use_golden_threads() -> None:
    from l1lab.suite.golden import use_golden_threads

    use_golden_threads()  # before TensorFlow starts: the threads golden files are written and checked with


def cmd_claims(args: argparse.Namespace) -> int:
    scenarios = _scenarios(args.scenario, args.modules)  # a UsageError exits 2 (l1lab.cli.main)
    _use_golden_threads()
    from l1lab._compat import versions
    from l1lab._io import format_table

    output_dir(args.out_dir)  # before minutes of training, not after
    address = None if args.from_golden else ray_address(args)
    from l1lab.suite import compare, golden, reports, runner

    try:
        outcome = runner.check_scenarios(
            scenarios,
            args.golden_dir,
            seeds=args.seeds,
            from_golden=args.from_golden,
            on_seed=lambda name: seed_progress(name, args.quiet),
            ray_address=address,
        )
    except (ValueError, golden.GoldenError) as exc:
        return fail(EXIT_USAGE, str(exc))
    print(format_table(reports.report_rows(outcome.results), reports.REPORT_HEADER))
    print("stack: " + reports.stack_text(versions()))
    for message in outcome.missing:
        print(f"no comparison: {message}")
    for message in outcome.notes:
        print(message)
    if outcome.drift_elsewhere:
        print(
            "\nOutside golden files of another line or CPU (information: the trajectories differ here; "
            "the claims decide):\n" + compare.mismatch_table(outcome.drift_elsewhere)
        )
    if outcome.mismatches:
        print("\nOutside the golden files:\n" + compare.mismatch_table(outcome.mismatches))
    for path in reports.write_reports(args.out_dir, outcome):
        print(f"wrote {path}", file=sys.stderr)
    return EXIT_FAILED if outcome.mismatches or outcome.missing else EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from l1lab.suite import doctor

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
    from l1lab.suite import matrix

    root = Path.cwd()
    if not (root / "tox.ini").is_file():
        return fail(EXIT_USAGE, f"no tox.ini in {root}: run l1lab matrix from the repository root")

    def show(row):
        print(
            f"{row.env}: TensorFlow {row.tensorflow}, Keras {row.keras}; tests {row.tests}; "
            f"doctor {row.doctor} ({row.seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    project = None
    if args.modules:
        directory = Path(args.project).resolve()
        if not directory.is_dir():
            return fail(EXIT_USAGE, f"--project {args.project}: not a directory; give the project's root")
        try:
            load_modules(args.modules, directory)  # before an hour of environments: the modules must load here
        except ValueError as exc:
            return fail(EXIT_USAGE, f"--scenarios: {exc}")
        project = matrix.Project(tuple(args.modules), directory)
    try:
        rows = matrix.run_matrix(
            args.env or ENVIRONMENTS,
            root,
            Path(args.out_dir),
            claims=args.claims,
            seeds=args.seeds,
            project=project,
            on_row=show,
        )
    except FileNotFoundError as exc:
        return fail(EXIT_USAGE, str(exc))
    print(matrix.markdown(rows), end="")
    healthy = all(r.tests_ok and not r.broken_methods and r.doctor == "ok" and r.claims_ok for r in rows)
    return EXIT_OK if healthy else EXIT_FAILED


def cmd_golden_update(args: argparse.Namespace) -> int:
    scenarios = _golden_scenarios(args, "update")  # a UsageError exits 2 (l1lab.cli.main)
    _use_golden_threads()
    address = None if args.rejudge else ray_address(args)
    from l1lab.suite import golden, record

    try:
        done = record.update(
            scenarios,
            args.golden_dir,
            seeds=args.seeds,
            only_rejudge=args.rejudge,
            on_seed=lambda name: seed_progress(name, args.quiet),
            ray_address=address,
        )
    except golden.GoldenError as exc:
        return fail(EXIT_USAGE, str(exc))
    for path, summary in done:
        print(summary)
        print(f"wrote {path}")
    return EXIT_OK


def cmd_golden_record_line(args: argparse.Namespace) -> int:
    scenarios = _golden_scenarios(args, "measure")  # a UsageError exits 2 (l1lab.cli.main)
    _use_golden_threads()
    address = ray_address(args)
    from l1lab.suite import golden, record

    try:
        manifest, said = record.record_line(
            scenarios,
            args.golden_dir,
            seeds=args.seeds,
            on_seed=lambda name: seed_progress(name, args.quiet),
            ray_address=address,
        )
    except (ValueError, golden.GoldenError) as exc:
        return fail(EXIT_USAGE, str(exc))
    print("\n".join(said))
    print(f"wrote {Path(args.golden_dir) / manifest['line'] / golden.LINE_FILE}")
    return EXIT_OK
