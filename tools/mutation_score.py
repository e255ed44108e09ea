"""Prints the mutation score of the last ``mutmut run`` and lists the survivors (tox -e mutation).

Score = (killed + timed out) / (every mutant that some test ran); mutants no test
covers are counted apart. Exit status 0; the target (>= 90%) is reported, not enforced.
"""

from __future__ import annotations

import collections
import subprocess
import sys


def main() -> int:
    output = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    status = {}
    for line in output.splitlines():
        name, _, state = line.strip().rpartition(": ")
        if name:
            status[name] = state
    counts = collections.Counter(status.values())
    detected = counts["killed"] + counts["timeout"]
    ran = detected + counts["survived"] + counts["suspicious"]
    print(f"mutants: {len(status)}  " + "  ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    score = detected / ran if ran else 0.0
    print(f"score: {detected}/{ran} = {score:.1%} of the mutants the tests ran (target >= 90%)")
    for name, state in sorted(status.items()):
        if state in ("survived", "no tests", "suspicious"):
            print(f"  {state:9} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
