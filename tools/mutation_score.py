"""Prints the mutation score of the last ``mutmut run`` and lists the survivors (tox -e mutation).

Score = killed / (every mutant that some test ran); mutants no test covers, and
mutants the run did not reach, are counted apart. Exit status 0; the target
(>= 90%) is reported, not enforced.

mutmut's timeouts are not trusted: its children are forked from a process that
has initialised TensorFlow, and a test that trains there can hang until the
timeout (measured: ``mismatch_table``'s default ``limit=40`` changed to 41
"timed out" in mutmut and passed every test in 9 s in a fresh process). So each
timed-out mutant is run again here, in a fresh process, against the test files
that run its function (mutmut's stats; else the whole selection of
``[tool.mutmut]``): a failing test kills it, passing tests make it a survivor,
and only a run past ``--recheck-seconds`` stays a timeout.
``--recheck-survivors`` does the same for the survivors, with the tests as
they are now (copied into ``mutants/``): for tests written after the run;
``--run-unchecked`` for the mutants the run did not reach (stopped early).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def mutmut_status() -> dict[str, str]:
    output = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    status = {}
    for line in output.splitlines():
        name, _, state = line.strip().rpartition(": ")
        if name:
            status[name] = state
    return status


def test_selection() -> list[str]:
    """The tests ``[tool.mutmut]`` runs against each mutant."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]["pytest_add_cli_args_test_selection"]


def covering_tests() -> dict[str, list[str]]:
    """The test files that run each mutated function, from mutmut's stats (``mutants/mutmut-stats.json``)."""
    import json

    path = ROOT / "mutants" / "mutmut-stats.json"
    if not path.is_file():
        return {}
    stats = json.loads(path.read_text())["tests_by_mangled_function_name"]
    return {function: sorted({test.split("::")[0] for test in tests}) for function, tests in stats.items()}


def tests_for(mutant: str, covering: dict[str, list[str]], selection: list[str]) -> list[str]:
    """The test files of the mutant's function, else the whole selection."""
    return covering.get(mutant.rsplit("__mutmut_", 1)[0]) or selection


def recheck(name: str, seconds: float, tests: list[str]) -> str:
    """``killed``, ``survived`` or ``timeout`` for one mutant, run in a fresh process against ``tests``."""
    env = {**os.environ, "MUTANT_UNDER_TEST": name, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        result = subprocess.run(command, cwd=ROOT / "mutants", env=env, capture_output=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if result.returncode == 0 else "killed"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recheck-seconds", type=float, default=300.0, help="wall time per timed-out mutant")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--recheck-survivors", action="store_true", help="with the tests as they are now")
    parser.add_argument("--run-unchecked", action="store_true", help="run the mutants mutmut did not reach")
    args = parser.parse_args(argv)
    status = mutmut_status()
    states = ("timeout", "survived") if args.recheck_survivors else ("timeout",)
    states += ("not checked",) if args.run_unchecked else ()
    timeouts = sorted(name for name, state in status.items() if state in states)
    if args.recheck_survivors:
        shutil.copytree(ROOT / "tests", ROOT / "mutants" / "tests", dirs_exist_ok=True)
    if timeouts:
        print(f"rechecking {len(timeouts)} mutants ({' and '.join(states)}) in fresh processes ...", flush=True)
        selection, covering = test_selection(), covering_tests()
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            verdicts = pool.map(lambda n: recheck(n, args.recheck_seconds, tests_for(n, covering, selection)), timeouts)
            for name, verdict in zip(timeouts, verdicts):
                status[name] = verdict
                print(f"  {verdict:9} {name}", flush=True)
    counts = collections.Counter(status.values())
    ran = counts["killed"] + counts["timeout"] + counts["survived"] + counts["suspicious"]
    print(f"mutants: {len(status)}  " + "  ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    score = counts["killed"] / ran if ran else 0.0
    print(f"score: {counts['killed']}/{ran} = {score:.1%} of the mutants the tests ran were killed (target >= 90%)")
    by_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for name, state in status.items():
        by_module[module_of(name)][state] += 1
    for module, module_counts in sorted(by_module.items()):
        module_ran = sum(module_counts[k] for k in ("killed", "timeout", "survived", "suspicious"))
        share = f"{module_counts['killed'] / module_ran:.1%}" if module_ran else "-"
        print(f"  {module:28} {module_counts['killed']:4}/{module_ran:<4} {share:>6} killed")
    for name, state in sorted(status.items()):
        if state in ("survived", "no tests", "suspicious", "timeout"):
            print(f"  {state:9} {name}")
    return 0


def module_of(mutant: str) -> str:
    """``l1lab.edge.sweep.report`` of ``l1lab.edge.sweep.report.x_summarize__mutmut_3``."""
    parts = mutant.split(".")
    return ".".join(p for p in parts[:-1]) if len(parts) > 1 else mutant


if __name__ == "__main__":
    sys.exit(main())
