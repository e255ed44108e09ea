"""Golden files across TensorFlow/Keras lines: which file a stack is checked against.

What may differ between lines is the trajectory (initialisers, kernels and
fusions change the numbers); what may not is the claims.
``golden/<scenario>.json`` belongs to the line that wrote it
(:func:`l1lab.suite.golden.stack_line`, e.g. ``tf2.21-keras3``): the
reference. A line measured by ``l1lab golden record-line --all`` has
``golden/<line>/line.json``: there drift fails, against
``golden/<line>/<scenario>.json`` where that line's trajectories differed from
the reference's, against the reference where they were identical. On a line
never measured (the next TensorFlow, say), trajectories are compared with the
reference for information: drift is reported, not failed. The claims are
asserted on every line.

A scenario whose trajectory depends on the CPU's kernels (``cpu_dependent``:
ds-cnn, whose BatchNorm amplifies the kernels' rounding) is strict only on the
CPU that wrote its file (``versions["cpu"]``); on another, drift informs, as on
another line, and the claims decide.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from l1lab._compat import versions
from l1lab.suite import golden
from l1lab.suite.compare import Mismatch


@dataclasses.dataclass(frozen=True)
class GoldenChoice:
    """The golden file a stack is checked against, and whether drift from it is a failure."""

    document: dict
    strict: bool  # drift fails: the file's own line, or a line measured against it
    note: str

    def split(self, mismatches: Sequence[Mismatch]) -> tuple[list, list]:
        """``(failures, information)``: drift from another line's file informs, a broken claim always fails."""
        if self.strict:
            return list(mismatches), []
        return [m for m in mismatches if m.kind == "claim"], [m for m in mismatches if m.kind != "claim"]


def golden_for_stack(golden_dir, scenario, stack: Mapping | None = None) -> GoldenChoice:
    """The golden file to check ``scenario`` against on ``stack`` (default: this one).

    ``scenario`` is a Scenario, or the name of one of l1lab's own.

    Raises:
      golden.GoldenError: the reference is unusable, or the line's manifest
        says a recording exists and it is unusable.
    """
    stack = stack or versions()
    choice = _golden_for_line(golden_dir, scenario, stack)
    written_on = choice.document["versions"].get("cpu")
    if choice.strict and getattr(scenario, "cpu_dependent", False) and written_on != stack.get("cpu"):
        return GoldenChoice(
            choice.document,
            False,
            (
                f"{choice.note}; written on another CPU ({written_on or 'not recorded'}; this one: "
                f"{stack.get('cpu')}), and {scenario.name}'s trajectory depends on the CPU's kernels: drift "
                f"informs, claims asserted; for drift to fail here, `{golden.update_command(scenario)}` on this CPU"
            ),
        )
    return choice


def _golden_for_line(golden_dir, scenario, stack: Mapping) -> GoldenChoice:
    name = scenario if isinstance(scenario, str) else scenario.name
    measure = golden.scenario_command(scenario, "record-line")
    line = golden.stack_line(stack)
    reference = golden.load(golden_dir, name)
    reference_line = golden.stack_line(reference["versions"])
    if reference_line == line:
        return GoldenChoice(reference, True, f"trajectories compared ({line}, the golden file's own line)")
    line_dir = Path(golden_dir) / line
    manifest = golden.load_line(line_dir) or {"scenarios": {}}
    measured = manifest["scenarios"].get(name, {}).get("trajectories")
    if measured == "reference":
        return GoldenChoice(
            reference,
            True,
            (
                f"trajectories compared with golden/{name}.json ({reference_line}): identical on {line} "
                f"when measured (golden/{line}/{golden.LINE_FILE})"
            ),
        )
    try:
        recorded = golden.load(line_dir, name)
    except golden.GoldenError:
        if measured == "recorded":
            raise
    else:
        return GoldenChoice(recorded, True, f"trajectories compared against golden/{line}")
    return GoldenChoice(
        reference,
        False,
        (
            f"{line} was not measured for {name}: trajectories compared with golden/{name}.json ({reference_line}) "
            f"for information, claims asserted; measure this line with "
            f"`{measure} --golden-dir {golden_dir}`"
        ),
    )


def reference_lines(golden_dir, names: Iterable[str]) -> set[str]:
    """The lines that wrote the reference golden files of ``names`` (one, when all is well)."""
    return {golden.stack_line(golden.load(golden_dir, name)["versions"]) for name in names}


def line_status(golden_dir, stack: Mapping) -> str:
    """One phrase: the golden files this stack's line is checked against (for the matrix)."""
    line = golden.stack_line(stack)
    try:
        if line in reference_lines(golden_dir, (p.stem for p in Path(golden_dir).glob("*.json"))):
            return f"{line}: the reference"
        manifest = golden.load_line(Path(golden_dir) / line)
    except golden.GoldenError as exc:
        return f"{line}: {exc}"
    if manifest is None:
        return f"{line}: not measured (drift warns)"
    kinds = [entry["trajectories"] for entry in manifest["scenarios"].values()]
    return f"{line}: {kinds.count('reference')} as reference, {kinds.count('recorded')} recorded"
