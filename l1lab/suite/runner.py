"""Training scenarios and checking them against the golden files: what ``l1lab claims`` does."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Callable

from l1lab.suite import golden
from l1lab.suite.judge import check, judge, seeds_for_check
from l1lab.suite.lines import golden_for_stack
from l1lab.suite.scenarios import GOLDEN_SEEDS, Scenario


@dataclasses.dataclass
class Outcome:
    """What :func:`check_scenarios` found, scenario by scenario."""

    results: dict = dataclasses.field(default_factory=dict)  # name -> [ClaimResult]
    runs: dict = dataclasses.field(default_factory=dict)  # name -> {seed: trajectory}
    goldens: dict = dataclasses.field(default_factory=dict)  # name -> golden document
    mismatches: list = dataclasses.field(default_factory=list)  # failures: broken claims, drift on its own line
    drift_elsewhere: list = dataclasses.field(default_factory=list)  # drift from another line's file: information
    comparisons: dict = dataclasses.field(default_factory=dict)  # name -> what the trajectories were compared with
    missing: list = dataclasses.field(default_factory=list)  # why a scenario had no comparison
    notes: list = dataclasses.field(default_factory=list)  # scenarios compared with another line's or CPU's file


def check_scenarios(
    scenarios: Iterable[Scenario],
    golden_dir,
    *,
    seeds: int | None = None,
    from_golden: bool = False,
    on_seed: Callable[[str], Callable[[int, float], None]] | None = None,
    ray_address: str | None = None,
) -> Outcome:
    """Trains each scenario on its golden file's first ``seeds`` seeds and checks it.

    Without a usable golden file a scenario trains on seeds ``0..seeds-1`` and
    is only judged (the reason is in ``missing``). With ``from_golden``,
    nothing trains: the golden files' own trajectories are judged. With
    ``ray_address`` each seed trains as a Ray task (:mod:`l1lab.cluster`).

    Raises:
      golden.GoldenError: ``from_golden`` and a golden file is unusable.
      ValueError: more seeds asked for than a golden file has.
    """
    outcome = Outcome()
    for scenario in scenarios:
        name = scenario.name
        try:
            choice = golden_for_stack(golden_dir, scenario)
            document = choice.document
            if not choice.strict and not from_golden:
                outcome.notes.append(f"{name}: {choice.note}")
            golden.require_same_config(scenario, document, f"{name}: the golden file")
        except golden.GoldenError as exc:
            exc = exc.with_fix(golden.regenerate_hint(scenario))  # a project's scenario needs its --scenarios
            if from_golden:
                raise exc from None
            outcome.missing.append(str(exc))
            document = None
        if from_golden:
            outcome.runs[name] = dict(document["trajectories"])
        else:
            chosen = seeds_for_check(document, seeds) if document else list(range(seeds or GOLDEN_SEEDS))
            outcome.runs[name], _ = scenario.train_seeds(
                chosen, on_seed=on_seed(name) if on_seed else None, ray_address=ray_address
            )
        if document is None or from_golden:
            outcome.results[name] = judge(scenario, outcome.runs[name])
        else:
            outcome.results[name], found = check(scenario, document, outcome.runs[name])
            failures, information = choice.split(found)
            outcome.mismatches += failures
            outcome.drift_elsewhere += information
            outcome.comparisons[name] = {
                "golden_line": golden.stack_line(document["versions"]),
                "drift_fails": choice.strict,
                "values_outside_tolerance": sum(m.kind == "drift" for m in found),
            }
        if document is not None:
            outcome.goldens[name] = document
    return outcome
