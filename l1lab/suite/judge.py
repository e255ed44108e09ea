"""Judging claims over seeds, and checking a fresh run against a golden file.

Over the seeds run each claim gets a verdict:

* ``holds``: the median satisfies it and so does every seed;
* ``fragile``: the median satisfies it, some seed does not;
* ``fails``: the median does not.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping

from l1lab.runs import LAYERS_NUM_NZ
from l1lab.suite import compare
from l1lab.suite.golden import GoldenError, regenerate_hint, require_current
from l1lab.suite.scenarios import Claim, Scenario


class ArticleClaimWarning(UserWarning):
    """One of the article's claims does not hold robustly (the slow tests say so with it)."""


class StackWarning(UserWarning):
    """This TensorFlow/Keras line has no golden trajectories of its own and differs from another line's."""


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """A claim and its final values, seed by seed."""

    claim: Claim
    values: dict[int, float]  # seed -> final value

    @property
    def median(self) -> float:
        return statistics.median(self.values.values())

    @property
    def margin(self) -> float:
        return self.claim.margin(self.median)

    @property
    def holds_on(self) -> int:
        return sum(self.claim.holds(v) for v in self.values.values())

    @property
    def verdict(self) -> str:
        if not self.claim.holds(self.median):
            return "fails"
        return "holds" if self.holds_on == len(self.values) else "fragile"

    def as_dict(self) -> dict:
        return {
            **dataclasses.asdict(self.claim),
            "statistic": "median of the final epoch over seeds",
            "values": dict(self.values),
            "median": self.median,
            "min": min(self.values.values()),
            "max": max(self.values.values()),
            "margin": self.margin,
            "holds_on": self.holds_on,
            "seeds": len(self.values),
            "verdict": self.verdict,
        }


def judge(scenario: Scenario, trajectories: Mapping[int, Mapping]) -> list[ClaimResult]:
    """Each claim of ``scenario`` on the final epoch of each seed's trajectory."""
    return [
        ClaimResult(claim, {seed: t[claim.metric][-1] for seed, t in trajectories.items()}) for claim in scenario.claims
    ]


def seeds_for_check(document: Mapping, count: int | None = None) -> list[int]:
    """The seeds a check runs: the golden file's first ``count`` (never others).

    Raises:
      ValueError: more seeds asked for than the file has.
    """
    seeds = list(document["seeds"])
    count = len(seeds) if count is None else count
    if not 1 <= count <= len(seeds):
        raise ValueError(f"{count} seeds asked for; the golden file of {document['scenario']} has {len(seeds)}")
    return seeds[:count]


def _require_same_variables(scenario: Scenario, golden_sizes: Mapping[str, int], now: Mapping) -> None:
    """The run counted the variables the golden file counts, by name."""
    counted = set(now[LAYERS_NUM_NZ])
    if counted != set(golden_sizes):
        missing, extra = sorted(set(golden_sizes) - counted), sorted(counted - set(golden_sizes))
        raise GoldenError(
            f"the golden file of {scenario.name} counts other variables than the model has now "
            f"(only in the file: {missing or 'none'}; only in the model: {extra or 'none'})",
            regenerate_hint(scenario),
        )


def check(
    scenario: Scenario, document: Mapping, trajectories: Mapping[int, Mapping]
) -> tuple[list[ClaimResult], list[compare.Mismatch]]:
    """Claims and trajectories of a fresh run against the golden ``document``.

    Returns:
      The claim results and the mismatches: ``drift`` for values outside
      their tolerance, ``claim`` for an asserted claim that no longer holds on
      the median over the seeds run. Whether drift is a failure depends on the
      line (:meth:`l1lab.suite.lines.GoldenChoice.split`).

    Raises:
      golden.GoldenError: the file does not fit the scenario any more, or
        counts other variables than the model has.
      ValueError: a seed the golden file does not have.
    """
    require_current(scenario, document)
    mismatches = []
    golden_runs = document["trajectories"]
    for seed, now in trajectories.items():
        if seed not in golden_runs:
            raise ValueError(f"seed {seed} is not in the golden file of {scenario.name}: compare like with like")
        _require_same_variables(scenario, document["layer_sizes"], now)
        mismatches += compare.compare_trajectory(
            scenario.name, seed, golden_runs[seed], now, document["layer_sizes"], scenario.tolerance_table()
        )
    results = judge(scenario, trajectories)
    final = scenario.epochs - 1
    for result in results:
        if result.claim.asserted and not result.claim.holds(result.median):
            golden_median = statistics.median(golden_runs[s][result.claim.metric][-1] for s in trajectories)
            mismatches.append(
                compare.Mismatch(
                    scenario.name,
                    None,
                    final,
                    f"{result.claim.id}: median of {len(trajectories)} seeds",
                    golden_median,
                    result.median,
                    result.claim.statement(),
                    "claim",
                )
            )
    return results, mismatches
