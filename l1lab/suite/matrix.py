"""The version matrix: l1lab's tests, doctor and claims on each pinned TensorFlow line.

``l1lab matrix`` runs, for each tox environment of ``tox.ini`` (``tf212``,
``tf215``, ``tf216``, ``tf221``, ``tf221-legacy``, and ``nightly``: the newest
tf-nightly and keras-nightly, unpinned by design, what users upgrade to next): the fast suite
(``tox -e ENV``), ``l1lab doctor --json`` inside it, and with ``--claims`` the
claims (``l1lab claims`` on the golden seeds, inside it). With ``--scenarios
MODULE`` it runs a project's own scenarios instead: their smoke tests
(``pytest -m "not slow"`` on the modules' files) and, with ``--claims``, their
claims against the project's ``golden/``, in the project's directory. It writes
one table, environment by environment, as JSON and Markdown; docs/versions.md
shows the latest.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

from l1lab._io import markdown_table, write_json_atomically, write_text_atomically

PINNED = ("tf212", "tf215", "tf216", "tf221", "tf221-legacy")
ENVIRONMENTS = (*PINNED, "nightly")
_SUMMARY = re.compile(r"=+ (?P<body>.*?) in [\d.]+s")


@dataclasses.dataclass
class Row:
    env: str
    tensorflow: str = "?"
    keras: str = "?"
    tests: str = "not run"
    tests_ok: bool = False
    doctor: str = "not run"
    broken_methods: list = dataclasses.field(default_factory=list)
    claims: dict = dataclasses.field(default_factory=dict)  # "scenario claim" -> "median verdict"
    claims_ok: bool = True  # no asserted claim broke, no drift from this line's own golden files
    trajectories: str = "-"  # how this line's trajectories compare with the golden files
    golden: str = "-"  # what golden/<line>/line.json says of this line
    seconds: float = 0.0


def pytest_summary(output: str) -> str:
    """``"272 passed, 4 skipped"`` from pytest's closing line (the last one)."""
    found = _SUMMARY.findall(output)
    return found[-1].strip() if found else "no pytest summary"


def _run(command: Sequence[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


@dataclasses.dataclass(frozen=True)
class Project:
    """A project's own scenarios (``l1lab matrix --scenarios``): their modules, and the directory they live in."""

    modules: tuple[str, ...]
    directory: Path

    def smoke_command(self) -> list[str]:
        """Its scenarios' smoke tests, and nothing else of its suite: pytest on the modules' files."""
        from l1lab.suite.scenarios import module_file

        files = [str(Path(module_file(m)).resolve()) for m in self.modules]
        scenarios = "\n".join(self.modules)
        return [
            "python",
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-m",
            "not slow",
            "-o",
            f"l1lab_scenarios={scenarios}",
            *files,
        ]

    def tox_exec(self, env: str, root: Path) -> list[str]:
        """``tox exec`` arguments that run in the project's directory, where its modules import from.

        tox runs a command in the directory of its tox.ini unless told otherwise
        (``change_dir``); ``python -m`` then imports from that directory.
        """
        return [*_tox_exec(root), "-x", f"testenv:{env}.change_dir={self.directory}"]

    def claims_arguments(self) -> list[str]:
        return [arg for module in self.modules for arg in ("--scenarios", module)] + [
            "--golden-dir",
            str(self.directory / "golden"),
        ]


def _tox_exec(root: Path) -> list[str]:
    """``tox exec`` arguments with l1lab's own tox.ini, wherever tox is started."""
    return ["exec", "-qq", "-c", str(root / "tox.ini")]


def _error_line(stderr: str) -> str:
    """``": <l1lab's one-line error>"``, where l1lab printed one (TensorFlow's noise around it dropped)."""
    errors = [line for line in stderr.splitlines() if line.startswith("l1lab: ")]
    return f": {errors[-1]}" if errors else ""


def run_env(
    env: str, root: Path, tox: str, *, claims: bool, seeds: int, project: Project | None = None, timeout: int = 3600
) -> Row:
    """One environment's row: its tests (l1lab's fast suite, or a project's smoke tests), doctor, claims."""
    row = Row(env)
    started = time.monotonic()
    if project is None:
        tests = _run([tox, "-e", env], root, timeout)
    else:
        # `tox exec` runs in the environment as it is: the l1lab being tested goes in first.
        _run([tox, "run", "-e", env, "--notest"], root, timeout)
        tests = _run(
            [tox, *project.tox_exec(env, root), "-e", env, "--", *project.smoke_command()],
            project.directory,
            timeout,
        )
    row.tests = pytest_summary(tests.stdout + tests.stderr)
    row.tests_ok = tests.returncode == 0
    # `python -m`: tox puts the environment's own interpreter there; a bare `l1lab`
    # could resolve to another installation on PATH.
    doctor = _run([tox, "exec", "-qq", "-e", env, "--", "python", "-m", "l1lab", "doctor", "--json"], root, timeout)
    try:
        report = json.loads(doctor.stdout[doctor.stdout.index("{") :])
        row.tensorflow, row.keras = report["versions"]["tensorflow"], report["versions"]["keras"]
        row.broken_methods = report["broken_methods"]
        row.doctor = "ok" if report["ok"] else "broken: " + ", ".join(report["broken_methods"])
        from l1lab.suite.lines import line_status  # imports TensorFlow

        golden_dir = (root if project is None else project.directory) / "golden"
        row.golden = line_status(golden_dir, report["versions"])
    except (ValueError, KeyError):
        row.doctor = f"no report (exit {doctor.returncode})"
    if claims:
        out_dir = root / "reports" / env
        command = ["python", "-m", "l1lab", "claims", "--quiet", "--seeds", str(seeds), "--out-dir", str(out_dir)]
        if project is not None:
            command += project.claims_arguments()
        where = _tox_exec(root) if project is None else project.tox_exec(env, root)
        done = _run([tox, *where, "-e", env, "--", *command], root if project is None else project.directory, timeout)
        row.claims_ok = done.returncode == 0
        try:
            report = json.loads((out_dir / "claims.json").read_text())
            for scenario, results in report["scenarios"].items():
                for r in results:
                    row.claims[f"{scenario} {r['metric']} {r['op']} {r['threshold']:g}"] = (
                        f"{r['median']:.4f} {r['verdict']}"
                    )
            row.trajectories = trajectory_summary(report["trajectories"])
        except (OSError, ValueError, KeyError):
            row.claims["(claims)"] = f"no report (exit {done.returncode}{_error_line(done.stderr)})"
            row.claims_ok = False
    row.seconds = time.monotonic() - started
    return row


def trajectory_summary(comparisons: dict) -> str:
    """One cell: were this line's trajectories within tolerance of the golden files they were compared with?"""
    if not comparisons:
        return "-"
    lines = ", ".join(sorted({c["golden_line"] for c in comparisons.values()}))
    differ = sorted(name for name, c in comparisons.items() if c["values_outside_tolerance"])
    if not differ:
        return f"within tolerance of {lines}"
    return f"differ from {lines} in {len(differ)}/{len(comparisons)}: {', '.join(differ)}"


def markdown(rows: Sequence[Row]) -> str:
    """The environments, one row each; where claims ran, a second table: one row per claim, one column per line."""
    claim_names = sorted({name for row in rows for name in row.claims})
    extra = ["trajectories"] if claim_names else []
    lines = markdown_table(
        ["environment", "TensorFlow", "Keras", "fast suite", "doctor", "golden files", *extra],
        [
            [
                row.env,
                row.tensorflow,
                row.keras,
                row.tests,
                row.doctor,
                row.golden,
                *([row.trajectories] if extra else []),
            ]
            for row in rows
        ],
    )
    if claim_names:
        lines += [
            "",
            *markdown_table(
                ["claim (median, verdict)", *(row.env for row in rows)],
                [[name, *(row.claims.get(name, "-") for row in rows)] for name in claim_names],
            ),
        ]
    return "\n".join(lines) + "\n"


def run_matrix(
    envs: Sequence[str],
    root: Path,
    out_dir: Path,
    *,
    claims: bool = False,
    seeds: int = 3,
    project: Project | None = None,
    on_row: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Runs every environment in turn and writes ``matrix.json`` and ``matrix.md`` into ``out_dir``.

    With ``project``, each environment runs that project's scenarios instead of
    l1lab's: their smoke tests, and with ``claims`` their claims against the
    project's golden files.

    Both files are rewritten (atomically) after each environment: a matrix with
    claims runs for an hour or more, and what it measured so far is kept.
    """
    tox = shutil.which("tox") or str(Path(sys.executable).with_name("tox"))
    if not Path(tox).exists():
        raise FileNotFoundError("tox is not installed: pip install tox (make setup installs it)")
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for env in envs:
        rows.append(run_env(env, root, tox, claims=claims, seeds=seeds, project=project))
        write_json_atomically(out_dir / "matrix.json", [dataclasses.asdict(r) for r in rows])
        write_text_atomically(out_dir / "matrix.md", markdown(rows))
        if on_row:
            on_row(rows[-1])
    return rows
