"""``rcbench run --plan``: what a run would train, and about how long, before it trains anything.

The estimate of a training job is its training wall-clock in stored records
(by default the committed ones under ``results/`` of the source tree):

1. records of the same task, contender and ``config_hash`` (the very same
   configuration): their mean ``training.train_seconds``;
2. else records of the same task, contender and profile (then of any profile): their
   mean seconds per epoch times the job's epochs (a rougher estimate, marked ``~``);
3. else no estimate (``?``), and the total says how many jobs it leaves out.

Stored seconds were measured with one torch thread per job on the machines the
records name; evaluation and learning-curve scoring are not included. CPU-hours
are job-seconds / 3600 (one thread each).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.provenance import RECORD_DIRECTORY, SOURCE_DIR
from bench.core.records import read_records
from bench.run.harness import TrainingJob
from bench.run.jobs import TaskCache, job_setup
from bench.run.profile import Profile

DEFAULT_REFERENCE = SOURCE_DIR / RECORD_DIRECTORY
"""The committed results of the source tree (absent in an installed wheel)."""


@dataclass(frozen=True)
class JobEstimate:
    """One training job, its cells and its estimated training seconds (None: no estimate)."""

    job: TrainingJob
    cells: int
    seconds: float | None
    exact: bool


def reference_records(folder: Path) -> list[dict[str, Any]]:
    """Every record in ``folder``'s ``*/results.jsonl`` (and ``folder/results.jsonl``)."""
    files = sorted(folder.glob("*/results.jsonl")) + sorted(folder.glob("results.jsonl"))
    return [record for path in files for record in read_records(path)]


def estimate_jobs(jobs: Sequence[TrainingJob], profile: Profile, tasks: TaskCache,
                  reference: Sequence[dict[str, Any]]) -> list[JobEstimate]:
    """Each job's estimate from ``reference`` records (see the module docstring)."""
    by_config: dict[tuple, list[float]] = defaultdict(list)
    per_epoch: dict[tuple, list[float]] = defaultdict(list)
    for record in reference:
        training = record["training"]
        by_config[(record["task"], record["contender"], record.get("config_hash"))].append(training["train_seconds"])
        seconds_per_epoch = training["train_seconds"] / training["epochs"]
        per_epoch[(record["task"], record["contender"], record["profile"])].append(seconds_per_epoch)
        per_epoch[(record["task"], record["contender"], None)].append(seconds_per_epoch)
    estimates = []
    for job in jobs:
        setup = job_setup(job, profile, tasks)
        exact = by_config.get((job.task, job.contender, setup.config_hash))
        if exact:
            estimates.append(JobEstimate(job, len(job.thresholds), statistics.fmean(exact), True))
            continue
        rough = per_epoch.get((job.task, job.contender, profile.name)) or per_epoch.get((job.task, job.contender, None))
        seconds = statistics.fmean(rough) * setup.config.epochs if rough else None
        estimates.append(JobEstimate(job, len(job.thresholds), seconds, False))
    return estimates


def format_plan(estimates: Sequence[JobEstimate], profile: Profile, reference: Path | None) -> str:
    """A markdown table per (task, contender) and the total, in CPU-hours."""
    groups: dict[tuple[str, str], list[JobEstimate]] = defaultdict(list)
    for estimate in estimates:
        groups[(estimate.job.task, estimate.job.contender)].append(estimate)
    lines = [f"Plan of `rcbench run --profile {profile.name}`: nothing is trained.", "",
             "| task | contender | training jobs | cells | estimated CPU-hours |", "|---|---|---|---|---|"]
    total, unknown = 0.0, 0
    for (task, contender), group in groups.items():
        known = [e.seconds for e in group if e.seconds is not None]
        unknown += len(group) - len(known)
        hours = sum(known) / 3600
        total += hours
        mark = "" if all(e.exact for e in group) else "~"
        text = "?" if not known else f"{mark}{hours:.2f}" + (" + ?" if len(known) < len(group) else "")
        lines.append(f"| {task} | {contender} | {len(group)} | {sum(e.cells for e in group)} | {text} |")
    source = f"training seconds of the records in {reference}" if reference else "no stored records"
    lines += ["", f"{len(estimates)} training jobs, {sum(e.cells for e in estimates)} cells; about "
                  f"{total:.1f} CPU-hours of training (one thread per job; from {source}; `~`: scaled from "
                  f"another configuration's seconds per epoch"
                  + (f"; {unknown} job(s) without an estimate" if unknown else "") + ")."]
    return "\n".join(lines) + "\n"
