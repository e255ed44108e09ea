"""What every command shares: exit codes, the usage error, argument types. No TensorFlow here."""

from __future__ import annotations

import argparse
import os
import sys

from l1lab.checks import check_positive, check_strength, check_target

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input found after parsing (data, configuration): exit code 2."""


def fail(code: int, message: str) -> int:
    print(f"l1lab: error: {message}", file=sys.stderr)
    return code


def int_between(minimum: int, maximum: int | None = None):
    """An argparse type: an integer from ``minimum`` to ``maximum`` (argparse names the flag)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{value} must be <= {maximum}")
        return value

    return parse


positive_int = int_between(1)


def _checked_float(check, name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        try:
            return check(name, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


positive_float = _checked_float(check_positive, "value")
strength = _checked_float(check_strength, "strength")
target_fraction = _checked_float(lambda name, value: check_target(value), "target")


def layer_strength(text: str) -> tuple[str, float]:
    """``LAYER=STRENGTH``."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not LAYER=STRENGTH (e.g. dense_1=0.001)")
    return name, strength(value)


def keras_file(text: str) -> str:
    """A path for ``model.save``: a name ending in ``.keras``, written through links, in a writable directory."""
    from l1lab._io import OutputError, check_output_file

    try:
        check_output_file(text, suffix=".keras")
    except OutputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def refuse_clashes(outputs: dict, inputs: dict | None = None) -> None:
    """Two outputs naming one file, or an output replacing an input, as a usage error (before any work).

    Raises:
      UsageError: the message names both flags.
    """
    from l1lab._io import OutputError
    from l1lab._io import refuse_clashes as refuse

    try:
        refuse(outputs, inputs)
    except OutputError as exc:
        raise UsageError(str(exc)) from None


def output_dir(text: str):
    """``--out-dir`` as a directory one can write into, created if missing: checked before any work.

    Raises:
      UsageError: a file, or a place that cannot be created or written.
    """
    from l1lab._io import OutputError, writable_dir

    try:
        return writable_dir(text)
    except OutputError as exc:
        raise UsageError(f"--out-dir: {exc}") from exc


def readable_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    if not os.access(text, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} is not readable")
    return text


def with_flags(message: str, flags: dict[str, str]) -> str:
    """A library message with its argument names as the command's flags.

    ```unit_multiple```, ``unit_multiple=1000`` and a bare ``unit_multiple``
    become ``--unit-multiple``, ``--unit-multiple 1000`` and ``--unit-multiple``,
    for the names in ``flags``; other words stay.
    """
    import re

    def swap(match, template="{}") -> str:
        name = match.group(1)
        return template.format(flags[name]) if name in flags else match.group(0)

    message = re.sub(r"`(\w+)`", swap, message)
    message = re.sub(r"\b(\w+)=", lambda m: swap(m, "{} "), message)
    return re.sub(r"(?<![-\w])(\w+_\w+)\b", swap, message)


def seed_progress(name: str, quiet: bool):
    """``(seed, seconds) -> None``: one line on stderr per trained seed, unless quiet."""

    def report(seed: int, seconds: float) -> None:
        if not quiet:
            print(f"{name}: seed {seed} trained in {seconds:.0f} s", file=sys.stderr, flush=True)

    return report


def add_ray_argument(parser, what: str) -> None:
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help=f"run {what} as Ray tasks on the cluster at ADDRESS ('local': a Ray instance here; default "
        "$L1LAB_RAY_ADDRESS, unset: here); needs pip install 'l1lab[cluster]'",
    )


def ray_address(args) -> str | None:
    """The Ray address the command runs on, connected now (before any long work), or None.

    Raises:
      UsageError: Ray is missing or the cluster cannot be reached.
    """
    from l1lab import cluster

    address = cluster.address(args.ray)
    if address is not None:
        try:
            cluster.connect(address)
        except cluster.ClusterError as exc:
            raise UsageError(f"--ray: {exc}") from None
    return address
