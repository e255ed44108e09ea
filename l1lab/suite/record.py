"""Writing golden files by training: ``l1lab golden update`` and ``l1lab golden record-line``.

Both train scenarios over seeds through :mod:`l1lab.runs`, build golden
documents and write them atomically, one scenario at a time (an interrupted
run keeps what it finished). Run them serially, never under ``pytest -n``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Callable

from l1lab._compat import versions
from l1lab.suite import compare, golden
from l1lab.suite.judge import judge, seeds_for_check
from l1lab.suite.scenarios import CHECK_SEEDS, GOLDEN_SEEDS, Scenario

OnSeed = Callable[[str], Callable[[int, float], None]]  # scenario name -> (seed, seconds) -> None


def golden_document(
    scenario: Scenario, trajectories: Mapping[int, Mapping], sizes: Mapping, command: str | None = None
) -> dict:
    """The golden document of ``scenario`` for these trajectories (seeds as ints).

    Args:
      command: the command that wrote it, stored in the file (default:
        ``golden update`` for the reference directory).
    """
    seeds = sorted(trajectories)
    return {
        "schema": golden.SCHEMA,
        "scenario": scenario.name,
        "title": scenario.title,
        "why": scenario.why,
        "command": command or f"{golden.update_command(scenario)} --seeds {len(seeds)}",
        "config": scenario.describe(),
        "seeds": seeds,
        "versions": versions(),
        "layer_sizes": dict(sizes),
        "trajectories": {seed: trajectories[seed] for seed in seeds},
        "claims": [result.as_dict() for result in judge(scenario, trajectories)],
        "tolerances": {name: tol.as_dict() for name, tol in scenario.tolerance_table().items()},
        "tolerance_policy": "pass when |now - golden| <= atol + rtol * |golden|, every epoch, every seed run; "
        "asserted claims must hold on the median over the seeds run (see l1lab/suite/compare.py)",
    }


def rejudge(scenario: Scenario, document: Mapping) -> dict:
    """The golden ``document`` with its claims judged again from its stored trajectories.

    For a change of claims only (a threshold chosen from measurements); the
    trajectories, which cost the training, are kept as they are.

    Raises:
      golden.GoldenError: the file was written for another configuration.
    """
    golden.require_same_config(scenario, document)
    return {**document, "claims": [r.as_dict() for r in judge(scenario, document["trajectories"])]}


def update(
    scenarios: Iterable[Scenario],
    golden_dir,
    *,
    seeds: int = GOLDEN_SEEDS,
    only_rejudge: bool = False,
    on_seed: OnSeed | None = None,
    ray_address: str | None = None,
) -> list[tuple[Path, str]]:
    """Rewrites the reference golden file of each scenario: trains seeds ``0..seeds-1``, or only rejudges.

    Returns:
      ``(path written, what changed)`` per scenario, for the person reviewing the diff.

    Raises:
      golden.GoldenError: with ``only_rejudge``, a file is missing or was
        written for another configuration.
    """
    done = []
    for scenario in scenarios:
        if only_rejudge:
            old = golden.load(golden_dir, scenario.name)
            document = rejudge(scenario, old)
            path = golden.write(golden_dir, scenario.name, document)
            done.append((path, change_summary(old, document)))
        else:
            where = "" if Path(golden_dir) == Path("golden") else f" --golden-dir {golden_dir}"
            command = f"{golden.update_command(scenario)} --seeds {seeds}{where}"
            path, summary, _ = regenerate(
                scenario,
                golden_dir,
                seeds=seeds,
                command=command,
                on_seed=on_seed(scenario.name) if on_seed else None,
                ray_address=ray_address,
            )
            done.append((path, summary))
    return done


def regenerate(
    scenario: Scenario,
    golden_dir,
    *,
    seeds: int,
    command: str,
    on_seed: Callable[[int, float], None] | None = None,
    ray_address: str | None = None,
) -> tuple[Path, str, dict]:
    """Trains ``scenario`` on seeds ``0..seeds-1`` and writes its golden file, whatever the old one held.

    Args:
      command: the command that wrote it, stored in the file.

    Returns:
      ``(path written, what changed, the document)``.
    """
    try:
        old = golden.load(golden_dir, scenario.name)
    except golden.GoldenError:
        old = None
    trained, sizes = scenario.train_seeds(list(range(seeds)), on_seed=on_seed, ray_address=ray_address)
    document = golden_document(scenario, trained, sizes, command)
    summary = change_summary(old, document)
    return golden.write(golden_dir, scenario.name, document), summary, document


def record_line(
    scenarios: Iterable[Scenario],
    golden_dir,
    *,
    seeds: int = CHECK_SEEDS,
    on_seed: OnSeed | None = None,
    ray_address: str | None = None,
) -> tuple[dict, list[str]]:
    """Measures this TensorFlow/Keras line against the reference golden files.

    Trains each scenario on the reference's first ``seeds`` seeds. Where the
    trajectories are identical to the reference's, nothing is recorded (the
    reference serves this line); where they differ, they are written to
    ``golden/<line>/<name>.json``. The manifest ``golden/<line>/line.json``
    says which, so that drift fails on this line from then on.

    Returns:
      The manifest, and one line per scenario saying what was found.

    Raises:
      golden.GoldenError: this is the reference's own line (use ``golden
        update``), or a reference golden file is unusable or out of date.
    """
    stack = versions()
    line = golden.stack_line(stack)
    line_dir = Path(golden_dir) / line
    manifest = golden.load_line(line_dir) or {"scenarios": {}}
    scenarios = list(scenarios)
    modules = "".join(f" --scenarios {m}" for m in dict.fromkeys(s.source_module for s in scenarios) if m)
    command = f"l1lab golden record-line --all{modules} --seeds {seeds} --golden-dir {golden_dir}"
    said = []
    for scenario in scenarios:
        name = scenario.name
        reference = golden.load(golden_dir, name)
        if golden.stack_line(reference["versions"]) == line:
            raise golden.GoldenError(
                f"{line} is the line of golden/{name}.json itself: update it with `{golden.update_command(scenario)}`"
            )
        golden.require_current(scenario, reference, f"golden/{name}.json")
        chosen = seeds_for_check(reference, seeds)
        trained, sizes = scenario.train_seeds(
            chosen, on_seed=on_seed(name) if on_seed else None, ray_address=ray_address
        )
        outside = sum(
            len(
                compare.compare_trajectory(
                    name,
                    seed,
                    reference["trajectories"][seed],
                    trained[seed],
                    {**reference["layer_sizes"], **sizes},
                    scenario.tolerance_table(),
                )
            )
            for seed in chosen
        )
        identical = all(trained[seed] == reference["trajectories"][seed] for seed in chosen)
        recorded = line_dir / f"{name}.json"
        if identical:
            recorded.unlink(missing_ok=True)
            said.append(f"{name}: identical to golden/{name}.json on seeds {chosen}: the reference serves {line}")
        else:
            golden.write(line_dir, name, golden_document(scenario, trained, sizes, command))
            said.append(
                f"{name}: differs from golden/{name}.json ({outside} values outside tolerance on seeds "
                f"{chosen}): recorded {recorded}"
            )
        manifest["scenarios"][name] = {
            "trajectories": "reference" if identical else "recorded",
            "seeds": chosen,
            "values_outside_reference_tolerance": outside,
        }
        manifest.update(
            {
                "schema": golden.LINE_SCHEMA,
                "line": line,
                "versions": stack,
                "command": command,
                "policy": "per scenario: 'reference' = trajectories identical to golden/<name>.json on these seeds, "
                "compared with it; 'recorded' = they differed, compared with golden/<line>/<name>.json; "
                "drift fails either way",
            }
        )
        # After each scenario: an interrupted measurement keeps what it measured, consistently.
        golden.write_line(line_dir, manifest)
    return manifest, said


def _tolerances_of(document: Mapping) -> dict:
    """The tolerance table a golden document was written with."""
    return {name: compare.Tolerance(**tol) for name, tol in document["tolerances"].items()}


def change_summary(old: Mapping | None, new: Mapping) -> str:
    """What an update changed, claim by claim, for the person reviewing the diff."""
    if old is None:
        return f"{new['scenario']}: new golden file, seeds {new['seeds']}"
    lines = [f"{new['scenario']}: seeds {old['seeds']} -> {new['seeds']}"]
    if old.get("versions") != new["versions"]:
        changed = {
            k: f"{old.get('versions', {}).get(k)} -> {v}"
            for k, v in new["versions"].items()
            if old.get("versions", {}).get(k) != v
        }
        lines.append(f"  versions: {changed}")
    old_claims = {c["id"]: c for c in old.get("claims", [])}
    for claim in new["claims"]:
        before = old_claims.get(claim["id"])
        if before is None:
            lines.append(f"  claim {claim['id']}: new, median {claim['median']:.6g}, {claim['verdict']}")
        else:
            lines.append(
                f"  claim {claim['id']}: median {before['median']:.6g} -> {claim['median']:.6g}, "
                f"{before['verdict']} -> {claim['verdict']}"
            )
    kept = {c["id"] for c in new["claims"]}
    for claim_id in old_claims:
        if claim_id not in kept:
            lines.append(f"  claim {claim_id}: removed")
    old_sizes, new_sizes = old.get("layer_sizes", {}), new["layer_sizes"]
    own = [set(compare.own_metrics(*d["trajectories"].values())) for d in (old, new)]
    for what, before, after in (("variables", set(old_sizes), set(new_sizes)), ("own metrics", *own)):
        if before != after:
            lines.append(
                f"  {what}: only in the previous file {sorted(before - after) or 'none'}, "
                f"only in the new one {sorted(after - before) or 'none'}"
            )
    drift = []
    for seed in sorted(set(old["seeds"]) & set(new["seeds"])):
        drift += compare.compare_trajectory(
            new["scenario"],
            seed,
            old["trajectories"][seed],
            new["trajectories"][seed],
            {**old_sizes, **new_sizes},
            _tolerances_of(new),
        )
    lines.append(f"  trajectories: {len(drift)} values outside tolerance of the previous file")
    return "\n".join(lines)
