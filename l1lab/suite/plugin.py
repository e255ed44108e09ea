"""l1lab's validation suite for a project's own models, as a pytest plugin.

Installed with l1lab (the ``pytest11`` entry point ``l1lab``). A project
names the modules that define its scenarios in its pytest configuration::

    [tool.pytest.ini_options]
    l1lab_scenarios = ["mypkg.sparse_scenarios"]
    l1lab_golden_dir = "golden"          # the default, relative to the rootdir

Each module's ``SCENARIOS`` (a list of :class:`l1lab.suite.Scenario`, or a
mapping of them) becomes two tests per scenario:

* ``smoke[<name>]``: the method's probes, one epoch on a slice of the data,
  exact zeros (:mod:`l1lab.suite.smoke`); it runs in the fast suite
  (``pytest -m "not slow"``);
* ``claims[<name>]`` (marked ``slow``): trains the scenario over its golden
  file's seeds, compares every epoch with the golden file within the
  tolerances of :mod:`l1lab.suite.compare`, and asserts its claims on the
  median over the seeds; a failure prints the mismatch table. With
  ``--l1lab-regen`` it trains its seeds and writes the golden file instead
  (serially: not under ``-n``), then asserts the claims.

A golden file written for another model or other data (their fingerprints,
:mod:`l1lab.fingerprints`) or another configuration is refused before
anything trains, naming what differs and ``--l1lab-regen``.

The scenario tests are collected when pytest collects its default paths
(no path on the command line), or when a path given contains a scenario
module's file. Loading the plugin imports no TensorFlow, and a project that
sets no ``l1lab_scenarios`` sees no change.

References:
  pytest-regressions (``--force-regen``, ``pytest11``):
  https://pytest-regressions.readthedocs.io/
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

REGEN_FLAG = "--l1lab-regen"
RAY_FLAG = "--l1lab-ray"
SCENARIOS_INI = "l1lab_scenarios"
GOLDEN_DIR_INI = "l1lab_golden_dir"
SEEDS_ENV = "L1LAB_CLAIM_SEEDS"


def pytest_addoption(parser):
    group = parser.getgroup("l1lab", "l1lab: sparse-training scenarios against golden files")
    group.addoption(
        REGEN_FLAG,
        action="store_true",
        default=False,
        help="train each selected scenario's seeds and write its golden file instead of checking it "
        "(with -m slow; not under -n)",
    )
    group.addoption(
        RAY_FLAG,
        metavar="ADDRESS",
        default=None,
        help="train each scenario's seeds as Ray tasks at ADDRESS ('local': a Ray instance here; default "
        "$L1LAB_RAY_ADDRESS); needs pip install 'l1lab[cluster]'",
    )
    parser.addini(SCENARIOS_INI, type="linelist", default=[], help="modules that define SCENARIOS (l1lab.suite)")
    parser.addini(GOLDEN_DIR_INI, default="golden", help="the golden files' directory, relative to the rootdir")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Before any conftest starts TensorFlow: the slow checks run with one thread, as golden files are written."""
    config.addinivalue_line("markers", "slow: trains for real (minutes); deselect with -m 'not slow'")
    markexpr = config.getoption("markexpr", default="") or ""
    regen = config.getoption(REGEN_FLAG, default=False)
    if regen or ("slow" in markexpr and "not slow" not in markexpr):
        from l1lab.suite.golden import use_golden_threads

        use_golden_threads()
    if regen and _under_xdist(config):
        raise pytest.UsageError(f"{REGEN_FLAG} writes golden files: run it serially, without -n")


def _under_xdist(config) -> bool:
    return config.getoption("numprocesses", default=None) not in (None, 0, "0")


def _collects(config, module_file: Path) -> bool:
    """Whether this run's paths cover a scenario module: the default paths, or a path containing its file."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return True
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        if module_file == path or path in module_file.parents:
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """Adds the scenario tests before ``-k`` and ``-m`` select among the items."""
    from l1lab.suite.scenarios import module_file, scenarios_by_module

    names = config.getini(SCENARIOS_INI)
    if not names:
        return
    try:
        loaded = scenarios_by_module(names, config.rootpath)  # each scenario's tests belong to its module's file
    except ValueError as exc:
        raise pytest.UsageError(f"{SCENARIOS_INI}: {exc}") from None
    for name, scenarios in loaded.items():
        path = Path(module_file(name)).resolve()
        if _collects(config, path):
            for scenario in scenarios.values():
                _add(session, config, items, path, scenario)


def _add(session, config, items, path: Path, scenario) -> None:
    parent = _module_node(session, path)
    added = [
        SmokeItem.from_parent(parent, name=f"smoke[{scenario.name}]", scenario=scenario),
        ClaimsItem.from_parent(parent, name=f"claims[{scenario.name}]", scenario=scenario),
    ]
    items += added
    # Counted as collected, as if the module's file had been collected (the terminal's "collected N items").
    config.hook.pytest_collectreport(report=pytest.CollectReport(parent.nodeid, "passed", None, added))


def _module_node(session, module_file: Path):
    nodes = session.config.stash.setdefault(_MODULE_NODES, {})
    if module_file not in nodes:
        nodes[module_file] = ScenarioModule.from_parent(session, path=module_file)
    return nodes[module_file]


_MODULE_NODES = pytest.StashKey[dict]()


class ScenarioModule(pytest.File):
    """A module of scenarios; its items are added by :func:`pytest_collection_modifyitems`."""

    def collect(self):
        return []


class ScenarioFailure(Exception):
    """A scenario test failed; the message is the whole report (no traceback)."""


class _ScenarioItem(pytest.Item):
    def __init__(self, *, scenario, **kwargs):
        super().__init__(**kwargs)
        self.scenario = scenario
        self.keywords[scenario.name] = True

    def repr_failure(self, excinfo, style=None):
        if excinfo.errisinstance(ScenarioFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"{self.name} ({self.scenario.title})"

    @property
    def golden_dir(self) -> Path:
        return self.config.rootpath / self.config.getini(GOLDEN_DIR_INI)


class SmokeItem(_ScenarioItem):
    """The fast smoke test of one scenario (:func:`l1lab.suite.smoke.run_smoke`)."""

    def runtest(self):
        from l1lab.suite.smoke import SmokeFailure, run_smoke

        try:
            result = run_smoke(self.scenario)
        except SmokeFailure as exc:
            raise ScenarioFailure(str(exc)) from None
        self.add_report_section("call", "l1lab", result.summary())


class ClaimsItem(_ScenarioItem):
    """The slow check of one scenario against its golden file, or, with ``--l1lab-regen``, its regeneration."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_marker(pytest.mark.slow)

    @property
    def ray_address(self) -> str | None:
        return self.config.getoption(RAY_FLAG)

    def regenerate_hint(self) -> str:
        return (
            f"regenerate it with `pytest -m slow {REGEN_FLAG} -k {self.scenario.name}` (serially) and review the diff"
        )

    def runtest(self):
        from l1lab import cluster
        from l1lab.suite import golden

        try:
            if self.config.getoption(REGEN_FLAG):
                self._regenerate()
            else:
                self._check()
        except golden.GoldenError as exc:
            raise ScenarioFailure(f"{self.scenario.name}: {exc.with_fix(self.regenerate_hint())}") from None
        except cluster.ClusterError as exc:
            raise ScenarioFailure(f"{self.scenario.name}: {RAY_FLAG}: {exc}") from None

    def _regenerate(self):
        from l1lab.suite import record
        from l1lab.suite.judge import judge

        scenario = self.scenario
        path, summary, document = record.regenerate(
            scenario,
            self.golden_dir,
            seeds=scenario.seeds,
            command=f"pytest -m slow {REGEN_FLAG} -k {scenario.name}",
            ray_address=self.ray_address,
        )
        self.add_report_section("call", "l1lab", f"wrote {path}\n{summary}")
        self._assert_claims(judge(scenario, document["trajectories"]), [])

    def _check(self):
        from l1lab.suite import compare, golden, judge, lines

        scenario = self.scenario
        choice = lines.golden_for_stack(self.golden_dir, scenario)
        document = choice.document
        golden.require_current(scenario, document)  # before anything trains
        wanted = int(os.environ.get(SEEDS_ENV, scenario.check_seeds))
        seeds = judge.seeds_for_check(document, min(wanted, len(document["seeds"])))
        runs, _ = scenario.train_seeds(seeds, ray_address=self.ray_address)
        results, found = judge.check(scenario, document, runs)
        mismatches, drift_elsewhere = choice.split(found)
        if drift_elsewhere:
            warnings.warn(
                judge.StackWarning(
                    f"{scenario.name}: the trajectories differ from a golden file of another line or CPU in "
                    f"{len(drift_elsewhere)} values ({choice.note})\n"
                    f"{compare.mismatch_table(drift_elsewhere, limit=8)}"
                ),
                stacklevel=1,
            )
        _warn_article_claims(scenario, document, results)
        self._assert_claims(results, mismatches)

    def _assert_claims(self, results, mismatches):
        from l1lab._io import format_table
        from l1lab.suite import compare, reports

        broken = [r for r in results if r.claim.asserted and not r.claim.holds(r.median)]
        if not broken and not mismatches:
            return
        name = self.scenario.name
        claims = format_table(reports.report_rows({name: results}), reports.REPORT_HEADER)
        if broken:
            headline = f"{len(broken)} claim(s) broke on the median over {len(results[0].values)} seed(s)"
        else:
            headline = "no claim broke, but the numbers drifted from the golden file"
        table = f"\n{compare.mismatch_table(mismatches)}" if mismatches else ""
        raise ScenarioFailure(f"{name}: {headline}\n{claims}{table}")


def _warn_article_claims(scenario, document, results) -> None:
    """Says, as a warning, when one of the article's claims is not robust (it is reported, not asserted)."""
    from l1lab.suite.judge import ArticleClaimWarning

    measured = {c["id"]: c for c in document["claims"]}
    for result in results:
        on_file = measured.get(result.claim.id)
        if result.claim.source != "article" or (result.verdict == "holds" and on_file["verdict"] == "holds"):
            continue
        warnings.warn(
            ArticleClaimWarning(
                f"{scenario.name}: the article's claim '{result.claim.text}' ({result.claim.statement()}) is not a "
                f"fact: {on_file['verdict'].upper()} over the golden file's {on_file['seeds']} seeds (median "
                f"{on_file['median']:.4f}, margin {on_file['margin']:+.4f}, holds on {on_file['holds_on']}); "
                f"{result.verdict.upper()} over the {len(result.values)} seeds run now (median {result.median:.4f})"
            ),
            stacklevel=1,
        )
