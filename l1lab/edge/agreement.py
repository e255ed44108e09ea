"""How close two models' outputs are: the figures compaction's and export's checks both judge (NumPy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["compare_outputs"]


def compare_outputs(want, got) -> tuple[float, float, int]:
    """``(max |got - want|, max(1, max |want|), how many argmaxes agree)`` of two batches of outputs.

    The scale is the outputs' own (logits of raw pixels run to the hundreds),
    never below 1; empty batches compare as ``(0, 1, 0)``.
    """
    want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
    if not len(want):
        return 0.0, 1.0, 0
    same = int(np.sum(np.argmax(got, -1) == np.argmax(want, -1)))
    return float(np.max(np.abs(got - want))), max(1.0, float(np.max(np.abs(want)))), same
