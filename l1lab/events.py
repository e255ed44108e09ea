"""The article's JSON-lines schema, and a writer that never leaves half a file.

One ``args`` event opens a run, then one ``measure_test`` event per epoch::

  {"event": "args", "args": {...}, "secStarted": 1613100000, "timeStarted": "Fri Feb 12 ..."}
  {"event": "measure_test", "epochAfter": 0, "ent_train": ..., "inacc_train": ...,
   "ent_test": ..., "inacc_test": ..., "num_nonzero": {"dense_1/kernel": {"num": .., "numNz": ..}, ..., "total": {..}}}

``ent_*`` is the mean cross-entropy, ``inacc_*`` is ``1 - accuracy``, and
``epochAfter`` counts from 0 as the article's loop did.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import IO, Any

from l1lab._io import AtomicTextFile

ARGS = "args"
MEASURE_TEST = "measure_test"
MEASURE_KEYS = ("epochAfter", "ent_train", "inacc_train", "ent_test", "inacc_test", "num_nonzero")


def args_event(args: Mapping[str, Any], started: float | None = None) -> dict:
    started = time.time() if started is None else started
    return {
        "event": ARGS,
        "args": dict(args),
        "secStarted": int(started),
        "timeStarted": time.asctime(time.localtime(started)),
    }


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def measure_event(
    epoch: int,
    *,
    ent_train: float,
    inacc_train: float,
    ent_test: float,
    inacc_test: float,
    num_nonzero: Mapping,
) -> dict:
    """A ``measure_test`` event; a non-finite metric is written as ``null``."""
    return {
        "event": MEASURE_TEST,
        "epochAfter": int(epoch),
        "ent_train": _finite_or_none(ent_train),
        "inacc_train": _finite_or_none(inacc_train),
        "ent_test": _finite_or_none(ent_test),
        "inacc_test": _finite_or_none(inacc_test),
        "num_nonzero": dict(num_nonzero),
    }


def dumps(event: Mapping) -> str:
    return json.dumps(event, allow_nan=False)


def read_events(lines: Iterable[str]) -> list[dict]:
    """Parses JSON lines (blank lines ignored)."""
    return [json.loads(line) for line in lines if line.strip()]


class EventWriter:
    """Writes each event as one JSON line to a stream and, optionally, a file.

    The stream (stdout by default) is flushed per line so a pipe sees each
    epoch as it ends; the file is committed atomically on a clean exit.
    """

    def __init__(self, stream: IO[str] | None = None, path: str | os.PathLike | None = None):
        self.stream = sys.stdout if stream is None else stream
        self._file = AtomicTextFile(path) if path is not None else None

    def write(self, event: Mapping) -> None:
        line = dumps(event) + "\n"
        self.stream.write(line)
        self.stream.flush()
        if self._file is not None:
            self._file.write(line)

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._file is not None:
            self._file.__exit__(exc_type, exc, tb)
