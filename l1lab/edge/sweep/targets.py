"""The sweep's targets, judged on its summary: P1, P4, structure, P5 and the smallest useful model
for the article's network (:func:`targets`); a CNN's against TF-MOT's at 80% (:func:`channel_targets`).

The peer is TF-MOT at its best: at each target, the better (lower median
error) of ``tfmot`` (a constant learning rate, as its guide trains) and
``tfmot-decay`` (the rate decayed after pruning, as l1lab's fine-tuning does).
"""

from __future__ import annotations

from collections.abc import Sequence

from l1lab.edge.sweep.presets import DENSE, TFMOT_METHODS
from l1lab.edge.sweep.report import best_file, micro_file

__all__ = ["best_peer", "channel_targets", "targets"]


# The smallest useful model: at most this test error, flash and arena (bytes).
SMALLEST_USEFUL = {"error": 0.027, "flash_bytes": 12_000, "arena_bytes": 4_000}
# P5: an l1lab int8-full file against the peer's best 90% model's, in TFLM.
P5_WANTED = {"faster": 5.0, "smaller": 5.0}


def _row(rows: Sequence[dict], method: str, value: float) -> dict | None:
    return next((r for r in rows if r["method"] == method and r["value"] == value), None)


def best_peer(rows: Sequence[dict], value: float) -> dict | None:
    """TF-MOT's row at ``value`` with the lower median error of its two runs (the first on a tie)."""
    found = [r for r in (_row(rows, method, value) for method in TFMOT_METHODS) if r]
    return min(found, key=lambda r: r["inacc_test"]) if found else None


def _error_verdicts(rows: Sequence[dict], values, methods, label: str) -> list[dict]:
    """At each target of ``values``, each of ``methods``' median error against TF-MOT's at its best."""
    found = []
    for value in values:
        peer = best_peer(rows, value)
        for method in methods:
            mine = _row(rows, method, value)
            if peer and mine:
                found.append(
                    {
                        "name": f"{label} {method} at {value:g}",
                        "met": mine["inacc_test"] <= peer["inacc_test"],
                        "peer": peer["method"],
                        "text": f"error {mine['inacc_test']:.2%} at {mine['sparsity']:.1%} sparsity vs "
                        f"{peer['method']}'s {peer['inacc_test']:.2%} at {peer['sparsity']:.1%}",
                    }
                )
    return found


def targets(rows: Sequence[dict]) -> list[dict]:
    """The sweep's targets judged on its summary: P1 at 90% and 95%, P4 in float and int8, structure.

    * **P1**: at each of TF-MOT's targets 0.9 and 0.95, each l1lab method's
      median test error at the same target against the better TF-MOT run's.
    * **P4**: among the files (of each kind, float and int8) of l1lab's models
      whose median error is no higher than TF-MOT's at 0.9, the one closest to
      meeting every part: at least 2x faster and 2x smaller than TF-MOT's 90%
      file of that kind (its fastest) and, against the dense model's file of
      that kind, 3x faster and 10x smaller. Closest: the most of the four
      parts met, then the largest smallest fraction of the four wanted ratios.
    * **Structure**: that float model keeps at most half the input pixels and
      half the hidden units.
    * **P5**: among l1lab's int8-full files in TFLM whose model's median error is
      no higher than the better TF-MOT run's at 0.9, the one closest to being 5x
      faster and 5x smaller than that run's int8-full file with no larger an arena.
    * **Smallest useful model**: an l1lab int8-full file with at most 2.7% error,
      12,000 bytes of flash and 4,000 of arena (the smallest flash among those
      within the error, when none fits).

    Returns:
      One dict per target (``name``, ``met``, ``text``); an empty list when
      the sweep lacks TF-MOT's or the dense model's rows.
    """
    dense = _row(rows, DENSE, 0.0)
    found = _error_verdicts(rows, (0.9, 0.95), ("l1lab-l1", "l1lab-group"), "P1")
    peer = best_peer(rows, 0.9)
    found += _micro_targets(rows, peer)
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
                    "text": f"no l1lab model has an error <= {peer['method']}'s at 0.9 ({peer['inacc_test']:.2%})",
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
                f"{figures['latency_us']:.2f} µs, {figures['size_bytes'] / 1000:.1f} KB; vs {peer['method']}'s 90% "
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


def _micro_targets(rows: Sequence[dict], peer: dict | None) -> list[dict]:
    """P5 and the smallest useful model, on the int8-full files TFLM ran."""
    found = []
    ours = [(r, micro_file(r)) for r in rows if r["method"].startswith("l1lab")]
    ours = [(r, m) for r, m in ours if m]
    theirs = micro_file(peer) if peer else None
    if theirs:
        candidates = []
        for r, m in ours:
            if r["inacc_test"] > peer["inacc_test"]:
                continue
            ratios = {
                "faster": theirs["micro_latency_us"] / m["micro_latency_us"],
                "smaller": theirs["size_bytes"] / m["size_bytes"],
            }
            parts = [ratios[k] / P5_WANTED[k] for k in P5_WANTED]
            arena_ok = m["arena_bytes"] <= theirs["arena_bytes"]
            candidates.append(((sum(p >= 1 for p in parts) + arena_ok, min(parts)), r, m, ratios, arena_ok))
        if not candidates:
            found.append(
                {
                    "name": "P5 microcontroller",
                    "met": False,
                    "text": f"no l1lab model has an error <= {peer['method']}'s at 0.9 ({peer['inacc_test']:.2%})",
                }
            )
        else:
            (parts, _), r, m, ratios, arena_ok = max(candidates, key=lambda candidate: candidate[0])
            found.append(
                {
                    "name": "P5 microcontroller",
                    "met": parts == len(P5_WANTED) + 1,
                    "candidate": {"method": r["method"], "value": r["value"], "format": "int8-full"},
                    "ratios": ratios,
                    "text": f"{r['method']} at {r['value']:g} (error {r['inacc_test']:.2%}): "
                    f"{m['micro_latency_us']:.2f} µs, {m['size_bytes'] / 1000:.1f} KB flash, "
                    f"{m['arena_bytes'] / 1000:.1f} KB arena in TFLM; vs {peer['method']}'s 90% int8-full "
                    f"({peer['inacc_test']:.2%}: {theirs['micro_latency_us']:.2f} µs, "
                    f"{theirs['size_bytes'] / 1000:.1f} KB, {theirs['arena_bytes'] / 1000:.1f} KB arena) "
                    f"{ratios['faster']:.2f}x faster, {ratios['smaller']:.2f}x smaller (5x each), "
                    f"arena {'no larger' if arena_ok else 'LARGER'}",
                }
            )
    useful = [(r, m) for r, m in ours if r["inacc_test"] <= SMALLEST_USEFUL["error"]]
    if useful:
        fitting = [
            (r, m)
            for r, m in useful
            if m["size_bytes"] <= SMALLEST_USEFUL["flash_bytes"] and m["arena_bytes"] <= SMALLEST_USEFUL["arena_bytes"]
        ]
        r, m = min(fitting or useful, key=lambda pair: pair[1]["size_bytes"])
        found.append(
            {
                "name": "smallest useful model",
                "met": bool(fitting),
                "candidate": {"method": r["method"], "value": r["value"], "format": "int8-full"},
                "text": f"{r['method']} at {r['value']:g}: error {r['inacc_test']:.2%}, "
                f"{m['size_bytes'] / 1000:.1f} KB flash, {m['arena_bytes'] / 1000:.1f} KB arena "
                "(at most 2.7%, 12 KB and 4 KB)",
            }
        )
    elif ours:
        found.append(
            {"name": "smallest useful model", "met": False, "text": "no l1lab model has an error of at most 2.7%"}
        )
    return found


# A CNN's targets: against TF-MOT's model at 80% sparsity (its guide's final sparsity) at its
# best, an l1lab model of no higher test error needs these ratios, and half the prunable
# channels removed.
CHANNEL_PEER_TARGET = 0.8
CHANNEL_WANTED = {
    "multiply-adds": 3.0,
    "TFLM int8-full latency": 3.0,
    "desktop float latency": 2.0,
    "flash (int8-full)": 3.0,
}


def _channel_figures(row: dict) -> dict | None:
    """The figures the CNN targets compare, lower is better; None where a file is missing."""
    micro, desktop = micro_file(row), best_file(row, "float")
    if micro is None or desktop is None:
        return None
    return {
        "multiply-adds": row["multiply_adds"],
        "TFLM int8-full latency": micro["micro_latency_us"],
        "desktop float latency": desktop[1]["latency_us"],
        "flash (int8-full)": micro["size_bytes"],
    }


def _figure(value: float) -> str:
    """A count with thousands separators, a latency in µs with two decimals."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.2f}"


def channel_targets(rows: Sequence[dict]) -> list[dict]:
    """A CNN sweep's targets judged on its summary.

    * **Error** at 80% and 90%: each of l1lab-channel's and l1lab-slimming's
      median test error against TF-MOT's at its best (:func:`best_peer`) at the
      same target sparsity.
    * **Against TF-MOT's 80% model**: among l1lab's models whose median error
      is no higher than it, the one closest to meeting every part (the most
      parts met, then the largest smallest fraction of a wanted ratio):
      :data:`CHANNEL_WANTED` times fewer multiply-adds, lower TFLM ``int8-full``
      latency, lower desktop float latency (each model's fastest float file)
      and less flash (the ``int8-full`` file), and at least half of the
      prunable channels removed. One verdict per part, all of that model.
      When no l1lab model is within the error, every part is not met, and
      its text gives the most accurate l1lab model's figures.

    Returns:
      One dict per target (``name``, ``met``, ``text``); only the error
      verdicts when the sweep lacks TF-MOT's 80% rows or their files.
    """
    from l1lab.edge.sweep.presets import CHANNEL_TARGETS

    found = _error_verdicts(rows, CHANNEL_TARGETS, ("l1lab-channel", "l1lab-slimming"), "error")
    peer = best_peer(rows, CHANNEL_PEER_TARGET)
    theirs = _channel_figures(peer) if peer else None
    if theirs is None:
        return found
    against = f"{peer['method']}'s {CHANNEL_PEER_TARGET:.0%} model ({peer['inacc_test']:.2%} error)"
    candidates = []
    for row in rows:
        mine = _channel_figures(row)
        if not (row["method"].startswith("l1lab") and mine and row["inacc_test"] <= peer["inacc_test"]):
            continue
        ratios = {part: theirs[part] / mine[part] for part in CHANNEL_WANTED}
        fractions = [ratios[part] / wanted for part, wanted in CHANNEL_WANTED.items()]
        fractions.append(row["removed_channels"] / (row["prunable_channels"] / 2))
        candidates.append(((sum(f >= 1 for f in fractions), min(fractions)), row, mine, ratios))
    names = [*(f"CNN {wanted:g}x {part}" for part, wanted in CHANNEL_WANTED.items()), "CNN half the channels"]
    qualified = bool(candidates)
    if qualified:
        _, row, mine, ratios = max(candidates, key=lambda candidate: candidate[0])
        model = f"{row['method']} at {row['value']:g} ({row['inacc_test']:.2%} error)"
    else:  # none is within the error: each part says what the most accurate l1lab model has
        ours = [r for r in rows if r["method"].startswith("l1lab") and _channel_figures(r)]
        if not ours:
            text = f"no l1lab model has an error <= {against}"
            return found + [{"name": name, "met": False, "text": text} for name in names]
        row = min(ours, key=lambda r: r["inacc_test"])
        mine = _channel_figures(row)
        ratios = {part: theirs[part] / mine[part] for part in CHANNEL_WANTED}
        model = (
            f"no l1lab model has an error <= {against}; the most accurate, {row['method']} at "
            f"{row['value']:g} ({row['inacc_test']:.2%} error)"
        )
    for name, (part, wanted) in zip(names, CHANNEL_WANTED.items()):
        found.append(
            {
                "name": name,
                "met": qualified and ratios[part] >= wanted,
                "candidate": {"method": row["method"], "value": row["value"]},
                "ratio": ratios[part],
                "text": f"{model}: {part} {_figure(mine[part])} vs {_figure(theirs[part])} of {peer['method']}'s "
                f"{CHANNEL_PEER_TARGET:.0%} model: {ratios[part]:.2f}x ({wanted:g}x wanted)",
            }
        )
    found.append(
        {
            "name": names[-1],
            "met": qualified and row["removed_channels"] >= row["prunable_channels"] / 2,
            "candidate": {"method": row["method"], "value": row["value"]},
            "text": f"{model} removes {row['removed_channels']:.0f} of {row['prunable_channels']} prunable "
            "channels (half wanted)",
        }
    )
    return found
