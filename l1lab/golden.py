"""Golden files: read them, compare a trajectory with them, write them atomically.

A golden file (``golden/<scenario>.json``) holds what one command measured:
the scenario's configuration, the seeds, the versions of the stack, every
seed's per-epoch trajectory (column-wise: one list of 200 values per metric,
and per variable the count of nonzero weights), the distribution of each
claim's statistic over the seeds, and the tolerance policy below. It is written only by
``l1lab golden update`` (serially, atomically), never by hand.

Tolerance policy. On the machine and stack that wrote a golden file, a rerun
reproduces it exactly (``--seed`` fixes data order and initialisation). The
tolerances absorb what may legitimately move a 200-epoch trajectory a little
(another CPU's kernels, a patch release); they are not meant to absorb a
change of TensorFlow or Keras version, for which golden files are written
again and reviewed as a diff. A value passes when
``|now - golden| <= atol + rtol * |golden|``.

Across versions: what may differ between TensorFlow/Keras lines is the
trajectory (initialisers, kernels and fusions change the numbers); what may not
is the claims. ``golden/<scenario>.json`` belongs to the line that wrote it
(:func:`stack_line`, e.g. ``tf2.21-keras3``), the reference. A line measured
by ``l1lab golden record-line --all`` has ``golden/<line>/line.json`` (see
:func:`load_line`): there drift fails, against ``golden/<line>/<scenario>.json``
where that line's trajectories differed from the reference's, against the
reference where they were identical. On a line never measured, trajectories
are compared with the reference and drift is reported as information. The
claims are asserted on every line.


================  ======  ======  ==========================================
metric            rtol    atol    why
================  ======  ======  ==========================================
sparsity          0       0.02    2 points of the model's 55,050 weights
inacc_train       0       0.01    1 point of accuracy
inacc_test        0       0.015   1.5 points: 10,000 images, noisier
ent_train         0.10    0.02    cross-entropy moves more than accuracy
ent_test          0.10    0.02
layer_sparsity    0       0.05    per-variable counts are small for biases
================  ======  ======  ==========================================
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from l1lab.events import AtomicTextFile

SCHEMA = "l1lab.golden/1"
UPDATE_COMMAND = "l1lab golden update {name}"


@dataclasses.dataclass(frozen=True)
class Tolerance:
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
}
TRAJECTORY_METRICS = ("sparsity", "inacc_train", "inacc_test", "ent_train", "ent_test")


class GoldenError(Exception):
    """A golden file is missing or unusable; the message names the fix."""


def stack_line(stack: Mapping) -> str:
    """``"tf2.21-keras3"``: the TensorFlow line and Keras flavour a golden file belongs to."""
    major_minor = ".".join(str(stack["tensorflow"]).split(".")[:2])
    return f"tf{major_minor}-{stack['keras_flavour']}"


def golden_path(directory: str | os.PathLike, name: str) -> Path:
    return Path(directory) / f"{name}.json"


def regenerate_hint(name: str) -> str:
    return f"regenerate it with `{UPDATE_COMMAND.format(name=name)}` (serially) and review the diff"


def load(directory: str | os.PathLike, name: str) -> dict:
    """The golden document of scenario ``name``.

    Raises:
      GoldenError: the file is missing, not JSON, or not a golden file of
        this schema; the message says how to regenerate it.
    """
    path = golden_path(directory, name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GoldenError(f"golden file {path} is missing: {regenerate_hint(name)}") from None
    except OSError as exc:
        raise GoldenError(f"golden file {path} cannot be read ({exc}): {regenerate_hint(name)}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GoldenError(f"golden file {path} is corrupt ({exc}): {regenerate_hint(name)}") from exc
    problem = _schema_problem(document, name)
    if problem:
        raise GoldenError(f"golden file {path} is corrupt ({problem}): {regenerate_hint(name)}")
    return document


def _schema_problem(document: Any, name: str) -> str | None:
    if not isinstance(document, dict):
        return "not a JSON object"
    if document.get("schema") != SCHEMA:
        return f"schema {document.get('schema')!r} is not {SCHEMA!r}"
    if document.get("scenario") != name:
        return f"it is the golden file of {document.get('scenario')!r}"
    for key in ("config", "seeds", "versions", "trajectories", "claims", "tolerances"):
        if key not in document:
            return f"no {key!r}"
    runs = document["trajectories"]
    if not isinstance(runs, dict) or sorted(runs) != sorted(str(s) for s in document["seeds"]):
        return "trajectories do not match its seeds"
    epochs = document["config"].get("epochs")
    for seed, trajectory in runs.items():
        if not isinstance(trajectory, dict):
            return f"seed {seed} has no trajectory"
        for metric in (*TRAJECTORY_METRICS, "layers_numNz"):
            column = trajectory.get(metric)
            columns = list(column.values()) if isinstance(column, dict) else [column]
            if not all(isinstance(c, list) and len(c) == epochs for c in columns):
                return f"seed {seed}: {metric} does not have {epochs} epochs"
    return None


def write(directory: str | os.PathLike, name: str, document: Mapping) -> Path:
    """Writes ``document`` as ``<directory>/<name>.json`` atomically, keys sorted for diffs."""
    problem = _schema_problem(document, name)
    if problem:
        raise GoldenError(f"refusing to write a malformed golden file for {name}: {problem}")
    path = golden_path(directory, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with AtomicTextFile(path) as f:
        f.write(dumps(document) + "\n")
    return path


def dumps(value: Any, indent: int = 0) -> str:
    """JSON with sorted keys, one key per line, and each list of numbers on one line.

    Full precision (``repr`` of each float), reviewable as a diff: a changed
    epoch shows as a changed line of its metric.
    """
    pad = " " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{json.dumps(str(k))}: {dumps(v, indent + 1)}" for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, (list, tuple)) and not any(isinstance(v, (dict, list, tuple)) for v in value):
        return json.dumps(list(value), allow_nan=False)
    if isinstance(value, (list, tuple)):
        return "[\n" + ",\n".join(pad + dumps(v, indent + 1) for v in value) + "\n" + " " * indent + "]"
    return json.dumps(value, allow_nan=False)


LINE_SCHEMA = "l1lab.golden-line/1"
LINE_FILE = "line.json"
LINE_TRAJECTORIES = ("reference", "recorded")  # identical to the reference's, or recorded for the line


def load_line(directory: str | os.PathLike) -> dict | None:
    """The manifest ``<directory>/line.json`` of a measured line, or None where the line was never measured.

    It says, per scenario, whether this line's trajectories were identical to
    the reference's (``"reference"``) or differed and were recorded beside it
    (``"recorded"``). Written by ``l1lab golden record-line``.

    Raises:
      GoldenError: the manifest exists but is not one.
    """
    path = Path(directory) / LINE_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise GoldenError(f"{path} is corrupt ({exc}): measure the line again with `l1lab golden record-line --all`")
    scenarios = document.get("scenarios") if isinstance(document, dict) else None
    if (
        not isinstance(scenarios, dict)
        or document.get("schema") != LINE_SCHEMA
        or any(not isinstance(e, dict) or e.get("trajectories") not in LINE_TRAJECTORIES for e in scenarios.values())
    ):
        raise GoldenError(f"{path} is not a line manifest of schema {LINE_SCHEMA!r}: "
                          "measure the line again with `l1lab golden record-line --all`")
    return document


def write_line(directory: str | os.PathLike, document: Mapping) -> Path:
    path = Path(directory) / LINE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with AtomicTextFile(path) as f:
        f.write(dumps(document) + "\n")
    return path


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
        return [self.scenario, fmt(self.seed), fmt(self.epoch), self.metric, fmt(self.golden), fmt(self.now),
                self.tolerance, what]


def layer_sparsity(trajectory: Mapping, sizes: Mapping[str, int], epoch: int) -> dict[str, float]:
    return {name: 1 - column[epoch] / sizes[name] for name, column in trajectory["layers_numNz"].items()}


def compare_trajectory(
    scenario: str, seed: int, golden: Mapping, now: Mapping, sizes: Mapping[str, int],
    tolerances: Mapping[str, Tolerance] = TOLERANCES,
) -> list[Mismatch]:
    """Every epoch's metrics of ``now`` against ``golden`` (same seed); trajectories are column-wise."""
    epochs = len(golden["sparsity"])
    if len(now["sparsity"]) != epochs:
        return [Mismatch(scenario, seed, None, "epochs", epochs, len(now["sparsity"]), "equal", "drift")]
    mismatches = []
    layer_tol = tolerances["layer_sparsity"]
    for epoch in range(epochs):
        for metric in TRAJECTORY_METRICS:
            tol = tolerances[metric]
            g, n = golden[metric][epoch], now[metric][epoch]
            if not tol.allows(g, n):
                mismatches.append(Mismatch(scenario, seed, epoch, metric, g, n, tol.describe(), "drift"))
        g_layers, n_layers = layer_sparsity(golden, sizes, epoch), layer_sparsity(now, sizes, epoch)
        for layer, g in g_layers.items():
            n = n_layers.get(layer)
            if not layer_tol.allows(g, n):
                mismatches.append(
                    Mismatch(scenario, seed, epoch, f"sparsity {layer}", g, n, layer_tol.describe(), "drift")
                )
    return mismatches


def format_table(rows: Iterable[list[str]], header: list[str]) -> str:
    rows = [header, *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


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

