"""Comparing a trajectory with a golden one: tolerances, mismatches, the failure table.

Tolerance policy. On the machine and stack that wrote a golden file, a rerun
reproduces it exactly (``--seed`` fixes data order and initialisation). The
tolerances absorb what may legitimately move a 200-epoch trajectory a little
(another CPU's kernels, a patch release); they are not meant to absorb a
change of TensorFlow or Keras version, for which golden files are written
again and reviewed as a diff. A value passes when
``|now - golden| <= atol + rtol * |golden|``.

===================  ======  ======  ==========================================
metric               rtol    atol    why
===================  ======  ======  ==========================================
sparsity             0       0.02    2 points of the model's 55,050 weights
inacc_train          0       0.01    1 point of accuracy
inacc_test           0       0.015   1.5 points: 10,000 images, noisier
ent_train            0.10    0.02    cross-entropy moves more than accuracy
ent_test             0.10    0.02
layer_sparsity       0       0.05    each kernel's sparsity
bias_sparsity        0       0.35    each bias's: see the note below
kept_inputs          0.05    2       what compaction keeps, where recorded
hidden_units         0.05    2       (runs.STRUCTURE_METRICS): a unit or pixel
multiply_adds        0.10    0       more or less is one cut of the schedule
removed_channels     0.05    2       a CNN's channel groups (runs.CHANNEL_METRICS)
micro_runs           0       0       TFLM runs the file, or not (runs.MICRO_METRICS)
arena_bytes          0.10    0       set by the widths the budget fixes
flash_bytes          0.05    0       the file: a few pixels more or less
micro_disagreements  0       50      half a point of the 10,000 test images
===================  ======  ======  ==========================================

A scenario may bring tolerances of its own (``Scenario(tolerances=...)``): one
for each metric of its own, and any of these it needs tighter or looser; its
golden file records the table it was written with.

Note on ``bias_sparsity`` (loosened from 0.05, measured): a bias's exact zeros
flip in and out while its value hovers at the threshold, and one flip is 0.1 of
the output layer's 10 biases. On another CPU (an AVX-512 machine, against
reference files written on another, same TensorFlow 2.21 and Keras 3.15.1) the
two Adagrad scenarios moved by 1-2 of ``predictions/bias``'s 10 for up to 80
epochs, by 3 of them (0.3) for one epoch, and by up to 5 of ``dense_2/bias``'s
64 (0.078), every kernel and every other metric within its tolerance; the
pre-refactor code measured the same there. 0.35 absorbs that and still fails a
method that stops thresholding the hidden layers' biases (about 0.53 -> 0).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from l1lab._io import format_table
from l1lab._names import is_bias
from l1lab.runs import LAYERS_NUM_NZ, OPTIONAL_METRICS, TRAJECTORY_METRICS
from l1lab.sparsity import fraction_zero


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """A value passes when ``|now - golden| <= atol + rtol * |golden|``."""

    rtol: float
    atol: float

    def allows(self, golden: float, now: float) -> bool:
        if golden is None or now is None:
            return golden is None and now is None
        return abs(now - golden) <= self.atol + self.rtol * abs(golden)

    def describe(self) -> str:
        return f"±{self.atol:g}" + (f" +{self.rtol:.0%}" if self.rtol else "")

    def as_dict(self) -> dict:
        return {"rtol": self.rtol, "atol": self.atol}


TOLERANCES: Mapping[str, Tolerance] = {
    "sparsity": Tolerance(0.0, 0.02),
    "inacc_train": Tolerance(0.0, 0.01),
    "inacc_test": Tolerance(0.0, 0.015),
    "ent_train": Tolerance(0.10, 0.02),
    "ent_test": Tolerance(0.10, 0.02),
    "layer_sparsity": Tolerance(0.0, 0.05),
    "bias_sparsity": Tolerance(0.0, 0.35),
    "kept_inputs": Tolerance(0.05, 2),
    "hidden_units": Tolerance(0.05, 2),
    "multiply_adds": Tolerance(0.10, 0),
    "removed_channels": Tolerance(0.05, 2),
    "micro_runs": Tolerance(0.0, 0),
    "arena_bytes": Tolerance(0.10, 0),
    "flash_bytes": Tolerance(0.05, 0),
    "micro_disagreements": Tolerance(0.0, 50),
}


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One value outside its tolerance."""

    scenario: str
    seed: int | None
    epoch: int | None
    metric: str
    golden: float | None
    now: float | None
    tolerance: str
    kind: str  # "drift" (numbers moved) or "claim" (a claim broke)

    def row(self) -> list[str]:
        def fmt(v):
            return "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

        what = "CLAIM BROKE" if self.kind == "claim" else "drift"
        return [
            self.scenario,
            fmt(self.seed),
            fmt(self.epoch),
            self.metric,
            fmt(self.golden),
            fmt(self.now),
            self.tolerance,
            what,
        ]


def layer_sparsity(trajectory: Mapping, sizes: Mapping[str, int], epoch: int) -> dict[str, float]:
    """Each variable's sparsity at ``epoch``, from its nonzero counts."""
    return {
        name: fraction_zero({"num": sizes[name], "numNz": column[epoch]})
        for name, column in trajectory[LAYERS_NUM_NZ].items()
    }


def own_metrics(*trajectories: Mapping) -> list[str]:
    """The columns of a scenario's own metrics in any of ``trajectories``: those l1lab does not define, sorted."""
    known = {*TRAJECTORY_METRICS, *OPTIONAL_METRICS, LAYERS_NUM_NZ}
    return sorted({name for t in trajectories for name in t} - known)


def tolerance_table(overrides: Mapping[str, Tolerance] | None = None) -> dict[str, Tolerance]:
    """:data:`TOLERANCES` with a scenario's own (for its own metrics, or tighter or looser ones of l1lab's)."""
    return {**TOLERANCES, **(overrides or {})}


def compare_trajectory(
    scenario: str,
    seed: int,
    golden: Mapping,
    now: Mapping,
    sizes: Mapping[str, int],
    tolerances: Mapping[str, Tolerance] = TOLERANCES,
) -> list[Mismatch]:
    """Every epoch's metrics of ``now`` against ``golden`` (same seed); trajectories are column-wise.

    ``sizes`` gives the size of every variable either side counts; ``tolerances``
    one tolerance per metric, a scenario's own metrics included (:func:`tolerance_table`).

    Returns:
      One :class:`Mismatch` per value outside its tolerance (or one for a
      different number of epochs).
    """
    epochs = len(golden["sparsity"])
    if len(now["sparsity"]) != epochs:
        return [Mismatch(scenario, seed, None, "epochs", epochs, len(now["sparsity"]), "equal", "drift")]
    mismatches = []
    metrics = (
        *TRAJECTORY_METRICS,
        *(m for m in OPTIONAL_METRICS if m in golden or m in now),
        *own_metrics(golden, now),
    )
    for epoch in range(epochs):
        for metric in metrics:
            tol = tolerances[metric]
            # A structure column on one side only reads as missing (None) on the other: a mismatch.
            g, n = (run[metric][epoch] if metric in run else None for run in (golden, now))
            if not tol.allows(g, n):
                mismatches.append(Mismatch(scenario, seed, epoch, metric, g, n, tol.describe(), "drift"))
        g_layers, n_layers = layer_sparsity(golden, sizes, epoch), layer_sparsity(now, sizes, epoch)
        # A variable counted on one side only reads as missing (None) on the other: a mismatch.
        for layer in (*g_layers, *(name for name in n_layers if name not in g_layers)):
            g, n = g_layers.get(layer), n_layers.get(layer)
            tol = tolerances["bias_sparsity" if is_bias(layer) else "layer_sparsity"]
            if not tol.allows(g, n):
                mismatches.append(Mismatch(scenario, seed, epoch, f"sparsity {layer}", g, n, tol.describe(), "drift"))
    return mismatches


MISMATCH_HEADER = ["scenario", "seed", "epoch", "metric", "golden", "now", "tolerance", "what"]


def mismatch_table(mismatches: list[Mismatch], limit: int = 40) -> str:
    """The readable failure table: broken claims first, then each drifted metric once.

    A metric that drifts usually drifts for many epochs; its row shows the
    first epoch outside tolerance and, in the last column, for how many.
    """
    claims = [m for m in mismatches if m.kind == "claim"]
    first_drift: dict = {}
    epochs: dict = {}
    for m in sorted((m for m in mismatches if m.kind != "claim"), key=lambda m: m.epoch or 0):
        key = (m.scenario, m.seed, m.metric)
        first_drift.setdefault(key, m)
        epochs[key] = epochs.get(key, 0) + 1
    rows = [m.row() for m in sorted(claims, key=lambda m: m.scenario)]
    for key, m in sorted(first_drift.items(), key=lambda item: (item[0][0], item[0][1] or 0, item[1].epoch or 0)):
        rows.append([*m.row()[:-1], f"drift from here ({epochs[key]} epochs)"])
    table = format_table(rows[:limit], MISMATCH_HEADER)
    if len(rows) > limit:
        table += f"\n... and {len(rows) - limit} more rows"
    return table
