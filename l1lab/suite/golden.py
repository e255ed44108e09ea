"""Golden files: their format, reading them, writing them atomically, and whether one still fits.

A golden file (``golden/<scenario>.json``) holds what one command measured:
the scenario's configuration, the seeds, the versions of the stack, every
seed's per-epoch trajectory (column-wise: one list of 200 values per metric,
and per variable the count of nonzero weights), the distribution of each
claim's statistic over the seeds, and the tolerance policy of
:mod:`l1lab.suite.compare`. It is written only by ``l1lab golden update`` and
``l1lab golden record-line`` (serially, atomically; see
:mod:`l1lab.suite.record`), never by hand.

**Identity.** A golden file fits a scenario when the fields that decide what a
run computes agree (:data:`l1lab.config.COMPUTED_ARGS`: method, strengths,
learning rate, epochs, data size, pixel scale, batch, shuffle buffer, epsilon,
device choice, the network and images by name, and for a scenario that brings
its own model and data their fingerprints, :mod:`l1lab.fingerprints`); a field
the file lacks reads as its default, so an option added after the file was
written, at its default, leaves the file valid. The check is
:func:`require_current`, in one place with one message.

In memory, seeds are ints (``document["trajectories"][0]``); they are strings
only in the JSON file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from l1lab import fingerprints
from l1lab._io import reviewable_json, write_text_atomically
from l1lab.config import FINGERPRINT_DEFAULTS, identity, identity_differences
from l1lab.runs import LAYERS_NUM_NZ, OPTIONAL_METRICS, TRAJECTORY_METRICS

# Golden files are written, and the slow suite checks them, with one TensorFlow thread per process
# (as tox -e slow runs): a CNN's convolutions sum in another order with more threads, and its training
# amplifies that (measured: ds-cnn's training error 26.6% with two threads, 28.1% with one, after one
# epoch; 53 and 48 channel groups removed after three). The article's network computes the same
# numbers with any number of threads (tox.ini's slow environment: 5 epochs compared, bit for bit).
GOLDEN_THREADS = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def use_golden_threads(environ=os.environ) -> None:
    """Sets :data:`GOLDEN_THREADS` where not set; call it before TensorFlow starts (it reads them once)."""
    for name, value in GOLDEN_THREADS.items():
        environ.setdefault(name, value)


SCHEMA = "l1lab.golden/1"
RECORD_LINE_COMMAND = "l1lab golden record-line --all"

LINE_SCHEMA = "l1lab.golden-line/1"
LINE_FILE = "line.json"
LINE_TRAJECTORIES = ("reference", "recorded")  # identical to the reference's, or recorded for the line


class GoldenError(Exception):
    """A golden file is missing, unusable or out of date; the message names the fix.

    ``problem`` is what is wrong; ``fix``, where set, is the regenerate command's
    phrase (:func:`regenerate_hint`), which a caller that regenerates another way
    (the pytest plugin's ``--l1lab-regen``) replaces with :meth:`with_fix`.
    """

    def __init__(self, problem: str, fix: str | None = None):
        super().__init__(f"{problem}: {fix}" if fix else problem)
        self.problem = problem
        self.fix = fix

    def with_fix(self, fix: str) -> GoldenError:
        """The same problem with another regenerate phrase (unchanged where it has none)."""
        return GoldenError(self.problem, fix) if self.fix else self


def stack_line(stack: Mapping) -> str:
    """``"tf2.21-keras3"``: the TensorFlow line and Keras flavour a golden file belongs to."""
    major_minor = ".".join(str(stack["tensorflow"]).split(".")[:2])
    return f"tf{major_minor}-{stack['keras_flavour']}"


def golden_path(directory: str | os.PathLike, name: str) -> Path:
    return Path(directory) / f"{name}.json"


def scenario_command(scenario, verb: str) -> str:
    """``l1lab golden VERB NAME`` for ``scenario``: a Scenario (with its ``--scenarios`` flag), or an l1lab name."""
    return f"l1lab golden {verb} {scenario}" if isinstance(scenario, str) else scenario.command(verb)


def update_command(scenario) -> str:
    """The command that rewrites the golden file of ``scenario`` (a Scenario, or a name of l1lab's own)."""
    return scenario_command(scenario, "update")


def regenerate_hint(scenario) -> str:
    """The fix for an unusable golden file: ``scenario`` is a Scenario, or a name of l1lab's own."""
    return f"regenerate it with `{update_command(scenario)}` (serially) and review the diff"


def require_current(scenario, document: Mapping, where: str = "") -> None:
    """Raises unless ``document`` was written for what ``scenario`` computes now, with its claims.

    Args:
      scenario: a :class:`l1lab.suite.scenarios.Scenario`.
      document: a golden document.
      where: how to name the file in the message (default: the scenario's).

    Raises:
      GoldenError: a computed field differs (regenerate), or the claims'
        ids, operators or thresholds changed (judge again with ``--rejudge``).
    """
    require_same_config(scenario, document, where)
    where = where or f"the golden file of {scenario.name}"
    on_file = [(c.get("id"), c.get("op"), c.get("threshold")) for c in document["claims"]]
    if on_file != [(c.id, c.op, c.threshold) for c in scenario.claims]:
        raise GoldenError(
            f"the claims of {scenario.name} changed since {where} was written",
            f"judge them again with `{update_command(scenario)} --rejudge` and review the diff",
        )


def require_same_config(scenario, document: Mapping, where: str = "") -> None:
    """Raises unless the computed fields of ``document``'s config are the scenario's (see the module doc).

    Raises:
      GoldenError: naming each differing field and the regenerate command.
    """
    differences = identity_differences(scenario.describe(), document["config"])
    if differences:
        where = where or f"the golden file of {scenario.name}"
        fields = "; ".join(
            fingerprints.differences(k, have, want)
            if k in FINGERPRINT_DEFAULTS
            else f"{k}: file {have!r}, scenario {want!r}"
            for k, (have, want) in differences.items()
        )
        fingerprinted = set(differences) & set(FINGERPRINT_DEFAULTS)
        what = "another model or other data" if fingerprinted else "another configuration"
        raise GoldenError(f"{where} was written for {what} ({fields})", regenerate_hint(scenario))


def load(directory: str | os.PathLike, name: str) -> dict:
    """The golden document of scenario ``name``, seeds as ints.

    Raises:
      GoldenError: the file is missing, not JSON, or not a golden file of
        this schema; the message says how to regenerate it.
    """
    path = golden_path(directory, name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GoldenError(f"golden file {path} is missing", regenerate_hint(name)) from None
    except OSError as exc:
        raise GoldenError(f"golden file {path} cannot be read ({exc})", regenerate_hint(name)) from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GoldenError(f"golden file {path} is corrupt ({exc})", regenerate_hint(name)) from exc
    problem = _schema_problem(document, name)
    if problem:
        raise GoldenError(f"golden file {path} is corrupt ({problem})", regenerate_hint(name))
    return _with_int_seeds(document)


def _with_int_seeds(document: Mapping) -> dict:
    claims = [
        {**claim, "values": {int(seed): value for seed, value in claim["values"].items()}}
        if isinstance(claim.get("values"), dict)
        else claim
        for claim in document["claims"]
    ]
    trajectories = {int(seed): t for seed, t in document["trajectories"].items()}
    return {**document, "seeds": [int(s) for s in document["seeds"]], "trajectories": trajectories, "claims": claims}


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
    seeds = document["seeds"]
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        return "seeds are not a list of integers"
    runs = document["trajectories"]
    if not isinstance(runs, dict) or sorted(str(s) for s in runs) != sorted(str(s) for s in seeds):
        return "trajectories do not match its seeds"
    if not isinstance(document["config"], dict):
        return "config is not an object"
    computed = identity(document["config"])
    epochs, own = computed["numEpochs"], computed["scenarioMetrics"] or []
    if not isinstance(own, list) or not all(isinstance(m, str) for m in own):
        return "scenarioMetrics is not a list of names"
    if not isinstance(document["tolerances"], dict) or any(m not in document["tolerances"] for m in own):
        return "tolerances do not cover the scenario's own metrics"
    for seed, trajectory in runs.items():
        if not isinstance(trajectory, dict):
            return f"seed {seed} has no trajectory"
        # The structure and microcontroller columns are there only for scenarios that record them.
        optional = tuple(m for m in OPTIONAL_METRICS if m in trajectory)
        for metric in (*TRAJECTORY_METRICS, LAYERS_NUM_NZ, *optional, *own):
            column = trajectory.get(metric)
            columns = list(column.values()) if isinstance(column, dict) else [column]
            if not all(isinstance(c, list) and len(c) == epochs for c in columns):
                return f"seed {seed}: {metric} does not have {epochs} epochs"
        problem = _values_problem(trajectory, document.get("layer_sizes"), own)
        if problem:
            return f"seed {seed}, {problem}"
    return None


# Where each trajectory value must lie: a fraction, or a cross-entropy.
_BOUNDS = {"sparsity": (0.0, 1.0), "inacc_train": (0.0, 1.0), "inacc_test": (0.0, 1.0)}
_BOUNDS.update({"ent_train": (0.0, math.inf), "ent_test": (0.0, math.inf)})


def _number_problem(value: Any, low: float, high: float, integer: bool = False) -> str | None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        return f"{json.dumps(value)} is not {'an integer' if integer else 'a number'}"
    if not math.isfinite(value):
        return f"{value} is not a finite number"
    if not low <= value <= high:
        return f"{value} is outside [{low:g}, {high:g}]"
    return None


def _values_problem(trajectory: Mapping, sizes: Any, own_metrics: Sequence[str] = ()) -> str | None:
    """The first value that cannot be a measurement: ``"<metric>, epoch <e>: <why>"``."""
    for metric in TRAJECTORY_METRICS:
        low, high = _BOUNDS[metric]
        for epoch, value in enumerate(trajectory[metric]):
            problem = _number_problem(value, low, high)
            if problem:
                return f"{metric}, epoch {epoch}: {problem}"
    for metric in OPTIONAL_METRICS:
        for epoch, value in enumerate(trajectory.get(metric, ())):
            problem = _number_problem(value, 0, math.inf, integer=True)
            if problem:
                return f"{metric}, epoch {epoch}: {problem}"
    for metric in own_metrics:  # a scenario's own: any finite number
        for epoch, value in enumerate(trajectory[metric]):
            problem = _number_problem(value, -math.inf, math.inf)
            if problem:
                return f"{metric}, epoch {epoch}: {problem}"
    counts = trajectory[LAYERS_NUM_NZ]
    if not isinstance(sizes, dict) or set(sizes) != set(counts):
        return f"layer_sizes do not name the variables of {LAYERS_NUM_NZ}"
    for name, column in counts.items():
        problem = _number_problem(sizes[name], 1, math.inf, integer=True)
        if problem:
            return f"layer_sizes[{name!r}]: {problem}"
        for epoch, value in enumerate(column):
            problem = _number_problem(value, 0, sizes[name], integer=True)
            if problem:
                return f"{LAYERS_NUM_NZ}[{name!r}], epoch {epoch}: {problem}"
    return None


def write(directory: str | os.PathLike, name: str, document: Mapping) -> Path:
    """Writes ``document`` as ``<directory>/<name>.json`` atomically, keys sorted for diffs.

    Raises:
      GoldenError: the document is malformed (nothing is written).
    """
    problem = _schema_problem(document, name)
    if problem:
        raise GoldenError(f"refusing to write a malformed golden file for {name}: {problem}")
    path = golden_path(directory, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(path, reviewable_json(document) + "\n")


def load_line(directory: str | os.PathLike) -> dict | None:
    """The manifest ``<directory>/line.json`` of a measured line, or None where the line was never measured.

    It says, per scenario, whether this line's trajectories were identical to
    the reference's (``"reference"``) or differed and were recorded beside it
    (``"recorded"``). Written by ``l1lab golden record-line``.

    Raises:
      GoldenError: the manifest exists but is not one.
    """
    path = Path(directory) / LINE_FILE
    fix = f"measure the line again with `{RECORD_LINE_COMMAND}`"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise GoldenError(f"{path} is corrupt ({exc}): {fix}") from exc
    scenarios = document.get("scenarios") if isinstance(document, dict) else None
    if (
        not isinstance(scenarios, dict)
        or document.get("schema") != LINE_SCHEMA
        or any(not isinstance(e, dict) or e.get("trajectories") not in LINE_TRAJECTORIES for e in scenarios.values())
    ):
        raise GoldenError(f"{path} is not a line manifest of schema {LINE_SCHEMA!r}: {fix}")
    return document


def write_line(directory: str | os.PathLike, document: Mapping) -> Path:
    path = Path(directory) / LINE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(path, reviewable_json(document) + "\n")
