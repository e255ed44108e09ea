"""Reports of a claims run: the table, claims.json, claims.md and claims.png."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping
from pathlib import Path

from l1lab._compat import versions
from l1lab._io import markdown_table, writable_dir, write_json_atomically, write_text_atomically
from l1lab.runs import OPTIONAL_METRICS
from l1lab.suite.judge import ClaimResult
from l1lab.suite.runner import Outcome
from l1lab.suite.scenarios import SCENARIOS


def stack_text(stack: Mapping) -> str:
    """``"tensorflow 2.21.0, keras 3.15.1, ..."``"""
    return ", ".join(f"{k} {v}" for k, v in stack.items())


REPORT_HEADER = ["scenario", "claim", "source", "asserted", "status", "median", "margin", "holds on", "range"]


def report_rows(results: Mapping[str, list[ClaimResult]]) -> list[list[str]]:
    """One row per claim: the table ``l1lab claims`` prints."""
    rows = []
    for name, claim_results in results.items():
        for r in claim_results:
            # Counts (kept inputs, multiply-adds) read as counts; fractions to 4 decimals.
            digits = 0 if r.claim.metric in OPTIONAL_METRICS else 4
            rows.append(
                [
                    name,
                    r.claim.statement(),
                    r.claim.source,
                    "yes" if r.claim.asserted else "no",
                    r.verdict.upper(),
                    f"{r.median:.{digits}f}",
                    f"{r.margin:+.{digits}f}",
                    f"{r.holds_on}/{len(r.values)} seeds",
                    f"{min(r.values.values()):.{digits}f}..{max(r.values.values()):.{digits}f}",
                ]
            )
    return rows


def report_markdown(results: Mapping[str, list[ClaimResult]], stack: Mapping) -> str:
    lines = [*markdown_table(REPORT_HEADER, report_rows(results)), "", "Stack: " + stack_text(stack)]
    return "\n".join(lines) + "\n"


def report_json(outcome: Outcome, stack: Mapping) -> dict:
    return {
        "versions": dict(stack),
        "scenarios": {name: [r.as_dict() for r in rs] for name, rs in outcome.results.items()},
        "trajectories": outcome.comparisons,
        "mismatches": [dataclasses.asdict(m) for m in outcome.mismatches],
        "drift_elsewhere": [dataclasses.asdict(m) for m in outcome.drift_elsewhere],
    }


def plot(path: Path, runs: Mapping[str, Mapping[int, Mapping]], goldens: Mapping[str, Mapping]) -> Path | None:
    """Median sparsity and test inaccuracy per epoch, golden (dashed) beside now, per scenario."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = list(runs)
    if not names:
        return None
    fig, axes = plt.subplots(2, len(names), figsize=(3.2 * len(names), 5.5), squeeze=False)

    def median_column(trajectories, metric):
        columns = [t[metric] for t in trajectories]
        return [statistics.median(values) for values in zip(*columns)]

    for i, name in enumerate(names):
        now = list(runs[name].values())
        gold = [goldens[name]["trajectories"][s] for s in runs[name]] if name in goldens else []
        for row, metric in enumerate(("sparsity", "inacc_test")):
            ax = axes[row][i]
            ax.plot(median_column(now, metric), label="now", color="C0")
            if gold:
                ax.plot(median_column(gold, metric), label="golden", color="C1", linestyle="--")
            for claim in SCENARIOS[name].claims if name in SCENARIOS else ():
                if claim.metric == metric:
                    ax.axhline(claim.threshold, color="grey", linewidth=0.8, linestyle=":")
            ax.set_title(name if row == 0 else "", fontsize=8)
            ax.set_ylabel(metric, fontsize=8)
            ax.tick_params(labelsize=7)
            if row == 1:
                ax.set_xlabel("epoch", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path


def write_reports(out_dir: Path, outcome: Outcome) -> list[Path]:
    """claims.json, claims.md and (with matplotlib) claims.png in ``out_dir``, each written atomically."""
    out_dir = writable_dir(out_dir)
    stack = versions()
    written = [
        write_json_atomically(out_dir / "claims.json", report_json(outcome, stack)),
        write_text_atomically(out_dir / "claims.md", report_markdown(outcome.results, stack)),
    ]
    png = plot(out_dir / "claims.png", outcome.runs, outcome.goldens)
    if png:
        written.append(png)
    return written
