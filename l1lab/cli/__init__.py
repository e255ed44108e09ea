"""Command line: ``l1lab train``, ``claims``, ``golden``, ``doctor``, ``matrix``.

Argument parsing only: each command calls the library (``train`` in
:mod:`l1lab.cli.train`, the validation commands in :mod:`l1lab.cli.suite`).
The article's flags are accepted verbatim (``--numEpochs``, ``--numSamples``)
beside readable ones. JSON lines go to stdout; progress, tables and errors go
to stderr. Bad arguments or data exit with code 2. Parsing and ``--help``
import no TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

from l1lab.cli import edge, export, suite, train
from l1lab.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, fail

EXIT_BROKEN_PIPE = 128 + 13  # the shell's status for a process ended by SIGPIPE

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="l1lab", description="Sparse models with L1 regularization in TensorFlow.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train.add_parser(commands)
    suite.add_parsers(commands)
    edge.add_parsers(commands)
    export.add_parsers(commands)
    return parser


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds like an exception: temporary files are removed on the way out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return args.handler(args)
    except UsageError as exc:
        return fail(EXIT_USAGE, str(exc))
    except BrokenPipeError:
        # The reader went away (`l1lab train | head -1`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's final flush must not raise again
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return fail(130, "interrupted")
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
