"""The article's claims, and l1lab's, trained for real against the golden files.

``pytest -m slow`` trains every scenario of l1lab.suite.scenarios for the article's 200
epochs, on the golden file's first ``L1LAB_CLAIM_SEEDS`` seeds (default 3),
then:

* asserts each asserted claim on the median over those seeds;
* compares every epoch of every seed with the golden file, within the
  tolerances of l1lab/suite/compare.py, on the TensorFlow/Keras line that wrote it
  (or golden/<line>/ where one was recorded for this line); on any other line
  drift from the golden file is a warning, not a failure;
* says plainly, as a warning, when one of the article's claims is not robust.

A failure prints one table: scenario, seed, epoch, metric, golden, now,
tolerance, and whether a claim broke or only the numbers drifted. Golden files
are regenerated with ``l1lab golden update SCENARIO`` (serially), never here.
"""

import os
import warnings
from pathlib import Path

import pytest

from l1lab.suite import compare, golden, judge, lines, scenarios

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden"
SEEDS = int(os.environ.get("L1LAB_CLAIM_SEEDS", scenarios.CHECK_SEEDS))


# The warning classes live in l1lab, importable by pytest-xdist's controller,
# which unpickles warnings raised in its workers.
ArticleClaimWarning = judge.ArticleClaimWarning
StackWarning = judge.StackWarning


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_scenario_against_its_golden_file(name):
    scenario = scenarios.get_scenario(name)
    try:
        choice = lines.golden_for_stack(GOLDEN_DIR, name)
        document = choice.document
        seeds = judge.seeds_for_check(document, SEEDS)
        runs, _ = scenario.train_seeds(seeds)
        results, found = judge.check(scenario, document, runs)
    except golden.GoldenError as exc:
        pytest.fail(str(exc), pytrace=False)
    mismatches, drift_elsewhere = choice.split(found)
    if drift_elsewhere:
        warnings.warn(
            StackWarning(
                f"{name}: this line's trajectories differ from another line's golden file in "
                f"{len(drift_elsewhere)} values ({choice.note})\n{compare.mismatch_table(drift_elsewhere, limit=8)}"
            ),
            stacklevel=1,
        )
    measured = {c["id"]: c for c in document["claims"]}
    for result in results:
        on_file = measured.get(result.claim.id)
        if result.claim.source != "article" or (result.verdict == "holds" and on_file["verdict"] == "holds"):
            continue
        warnings.warn(
            ArticleClaimWarning(
                f"{name}: the article's claim '{result.claim.text}' ({result.claim.statement()}) is not a fact: "
                f"{on_file['verdict'].upper()} over the golden file's {on_file['seeds']} seeds (median "
                f"{on_file['median']:.4f}, margin {on_file['margin']:+.4f}, holds on {on_file['holds_on']}); "
                f"{result.verdict.upper()} over the {len(result.values)} seeds run now (median {result.median:.4f})"
            ),
            stacklevel=1,
        )
    if mismatches:
        broke = sum(m.kind == "claim" for m in mismatches)
        headline = f"{broke} claim(s) broke" if broke else "no claim broke, but the numbers drifted"
        pytest.fail(f"{name}: {headline}\n{compare.mismatch_table(mismatches)}", pytrace=False)
