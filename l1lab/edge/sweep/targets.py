"""The sweep's targets, judged on its summary: P1, P4 and structure."""

from __future__ import annotations

from collections.abc import Sequence

from l1lab.edge.sweep.presets import DENSE, TFMOT
from l1lab.edge.sweep.report import best_file

__all__ = ["targets"]


def _row(rows: Sequence[dict], method: str, value: float) -> dict | None:
    return next((r for r in rows if r["method"] == method and r["value"] == value), None)


def targets(rows: Sequence[dict]) -> list[dict]:
    """The sweep's targets judged on its summary: P1 at 90% and 95%, P4 in float and int8, structure.

    * **P1**: at each of TF-MOT's targets 0.9 and 0.95, each l1lab method's
      median test error at the same target against TF-MOT's.
    * **P4**: among the files (of each kind, float and int8) of l1lab's models
      whose median error is no higher than TF-MOT's at 0.9, the one closest to
      meeting every part: at least 2x faster and 2x smaller than TF-MOT's 90%
      file of that kind (its fastest) and, against the dense model's file of
      that kind, 3x faster and 10x smaller. Closest: the most of the four
      parts met, then the largest smallest fraction of the four wanted ratios.
    * **Structure**: that float model keeps at most half the input pixels and
      half the hidden units.

    Returns:
      One dict per target (``name``, ``met``, ``text``); an empty list when
      the sweep lacks TF-MOT's or the dense model's rows.
    """
    dense = _row(rows, DENSE, 0.0)
    found = []
    for value in (0.9, 0.95):
        peer = _row(rows, TFMOT, value)
        for method in ("l1lab-l1", "l1lab-group"):
            mine = _row(rows, method, value)
            if peer and mine:
                met = mine["inacc_test"] <= peer["inacc_test"]
                found.append(
                    {
                        "name": f"P1 {method} at {value:g}",
                        "met": met,
                        "text": f"error {mine['inacc_test']:.2%} at {mine['sparsity']:.1%} sparsity vs TF-MOT's "
                        f"{peer['inacc_test']:.2%} at {peer['sparsity']:.1%}",
                    }
                )
    peer = _row(rows, TFMOT, 0.9)
    if not (peer and dense):
        return found
    ours = [r for r in rows if r["method"].startswith("l1lab") and r["inacc_test"] <= peer["inacc_test"]]
    wanted = {"peer": (2.0, 2.0), "dense": (3.0, 10.0)}
    for kind in ("float", "int8"):
        theirs, base = best_file(peer, kind), best_file(dense, kind)
        if not (theirs and base):
            continue

        candidates = []  # (parts met, smallest fraction of a wanted ratio), row, format, figures, ratios
        for r in ours:
            for fmt, figures in r["files"].items():
                if fmt.split("-")[0] != kind or figures["latency_us"] is None:
                    continue
                ratios = {
                    key: (other["latency_us"] / figures["latency_us"], other["size_bytes"] / figures["size_bytes"])
                    for key, (_, other) in (("peer", theirs), ("dense", base))
                }
                fractions = [ratios[key][i] / wanted[key][i] for key in wanted for i in (0, 1)]
                candidates.append(((sum(f >= 1 for f in fractions), min(fractions)), r, fmt, figures, ratios))
        if not candidates:
            found.append(
                {
                    "name": f"P4 {kind}",
                    "met": False,
                    "text": f"no l1lab model has an error <= TF-MOT's at 0.9 ({peer['inacc_test']:.2%})",
                }
            )
            continue
        (parts, _), row, fmt, figures, ratios = max(candidates, key=lambda candidate: candidate[0])
        met = parts == 2 * len(wanted)
        found.append(
            {
                "name": f"P4 {kind}",
                "met": met,
                "candidate": {"method": row["method"], "value": row["value"], "format": fmt},
                "ratios": {key: {"faster": pair[0], "smaller": pair[1]} for key, pair in ratios.items()},
                "text": f"{row['method']} at {row['value']:g} ({fmt}, error {row['inacc_test']:.2%}): "
                f"{figures['latency_us']:.2f} µs, {figures['size_bytes'] / 1000:.1f} KB; vs TF-MOT's 90% "
                f"{theirs[0]} ({peer['inacc_test']:.2%}) {ratios['peer'][0]:.2f}x faster, {ratios['peer'][1]:.2f}x "
                f"smaller (2x each); vs dense {base[0]} {ratios['dense'][0]:.2f}x faster (3x), "
                f"{ratios['dense'][1]:.1f}x smaller (10x)",
            }
        )
        if kind == "float":
            inputs_half = row["kept_inputs"] <= row["input_dim"] / 2
            units_half = row["hidden_units"] <= row["hidden_units_before"] / 2
            found.append(
                {
                    "name": "structure",
                    "met": inputs_half and units_half,
                    "kept": {"inputs": row["kept_inputs"], "hidden_units": row["hidden_units"]},
                    "text": f"{row['method']} at {row['value']:g} keeps {row['kept_inputs']:.0f} of "
                    f"{row['input_dim']} inputs and {row['hidden_units']:.0f} of {row['hidden_units_before']} "
                    "hidden units (at most half of each)",
                }
            )
    return found
