"""The benchmark harness: plan cells from a profile, train, evaluate, record.

A *cell* is one (task, contender, seed, theta, beta) combination and gives one
record. Contenders whose training does not depend on theta (``lstm-eos``,
``lstm-allsteps``) are trained once per (task, seed, beta) and evaluated at
every theta; each of those records says so in
``training.shared_across_thresholds``.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from baselines.registry import Contender, TrainingReport, get_contender
from bench import metrics
from bench.datasets.paths import resolve_data_dir
from bench.profile import Profile, check_profile_names
from bench.provenance import command_line, git_revision, hardware, package_versions
from bench.records import SCHEMA_VERSION, append_record, read_records, recorded_keys
from bench.tasks.base import TaskData
from bench.tasks.registry import get_task
from rc.crossing import Decision, make_rule
from rc.loss import check_beta

Progress = Callable[[str], None]


def print_progress(message: str) -> None:
    """Default progress sink: one line on standard error."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class TrainingJob:
    """One training run and the thresholds it is evaluated at.

    Attributes:
        task, contender, seed: what is trained.
        rule: crossing rule name.
        beta: the RC entropy weight, or None for contenders without one.
        thresholds: theta values to evaluate; a contender with
            ``threshold_in_training`` gets one job per theta. ``(None,)`` for a
            contender with its own rule (see :meth:`Contender.own_rule`).
    """

    task: str
    contender: str
    seed: int
    rule: str
    beta: float | None
    thresholds: tuple[float | None, ...]

    def cell_keys(self, profile: str) -> list[tuple]:
        """Record keys of this job's cells (see :data:`bench.records.KEY_FIELDS`)."""
        return [(self.task, self.contender, self.seed, theta, self.beta, profile, self.rule)
                for theta in self.thresholds]


def plan_jobs(
    profile: Profile,
    tasks: Sequence[str],
    contenders: Sequence[str],
    seeds: Sequence[int] | None = None,
    thresholds: Sequence[float] | None = None,
    betas: Sequence[float] | None = None,
) -> list[TrainingJob]:
    """Every training job of a run; command-line overrides replace the profile's lists.

    Every name, threshold, beta and hyperparameter is checked here, before
    anything is trained.
    """
    check_profile_names(profile)
    for beta in betas or ():
        check_beta(beta)
    jobs = []
    for task_name in tasks:
        task = get_task(task_name)
        if task_name not in profile.tasks:
            raise ValueError(
                f"profile {profile.name!r} has no settings for task {task_name!r}; "
                f"it covers: {', '.join(sorted(profile.tasks))}"
            )
        plan = profile.tasks[task_name]
        rule = plan.rule or task.default_rule
        task_thresholds = tuple(thresholds or plan.thresholds)
        for theta in task_thresholds:
            make_rule(rule, theta)
        task_betas = tuple(betas or plan.betas or (None,))
        for contender_name in contenders:
            contender = get_contender(contender_name)
            own_rule = contender.own_rule()
            if own_rule is not None:
                _config_beta(profile, task_name, contender)  # checks the hyperparameters now
                jobs.extend(TrainingJob(task_name, contender_name, seed, own_rule.name, None, (None,))
                            for seed in seeds or profile.seeds)
                continue
            default_beta = _config_beta(profile, task_name, contender)
            contender_betas: tuple[float | None, ...] = (
                tuple(default_beta if b is None else b for b in task_betas) if contender.uses_beta() else (None,)
            )
            for seed in seeds or profile.seeds:
                for beta in dict.fromkeys(contender_betas):
                    if contender.threshold_in_training:
                        jobs.extend(TrainingJob(task_name, contender_name, seed, rule, beta, (theta,))
                                    for theta in task_thresholds)
                    else:
                        jobs.append(TrainingJob(task_name, contender_name, seed, rule, beta, task_thresholds))
    return jobs


def contender_config(profile: Profile, task: str, contender: type[Contender], beta: float | None = None) -> Any:
    """The contender's ``Config`` for ``task`` from the profile, with ``beta`` replaced if given."""
    values = profile.contender_values(task, contender.name)
    if beta is not None:
        values["beta"] = beta
    return contender.make_config(values, f"profile {profile.name}, task {task}, contender {contender.name}")


def _config_beta(profile: Profile, task: str, contender: type[Contender]) -> float | None:
    """The profile's beta for ``contender`` on ``task`` (None for contenders without beta);
    building the config also checks every hyperparameter."""
    config = contender_config(profile, task, contender)
    return float(config.beta) if contender.uses_beta() else None


def evaluate(contender: Contender, data: TaskData) -> dict[str, Any]:
    """Metrics of a trained contender on the test split, with its current rule."""
    test = data.test
    decision, evaluations = contender.decide(test.x)
    scores = contender.step_scores(test.x)
    by_step = metrics.accuracy_by_step(scores, test.y, contender.rule)
    operations = contender.operations_to_decision(test.x, decision)
    last_step = torch.full_like(decision.step_index, data.spec.n_steps - 1)
    full_sequence = contender.operations_to_decision(test.x, Decision(decision.prediction, last_step,
                                                                      decision.crossed))
    result: dict[str, Any] = {
        "accuracy": metrics.accuracy(decision.prediction, test.y),
        "accuracy_by_step": by_step,
        "first_step_accuracy": by_step[0],
        "last_step_accuracy": by_step[-1],
        **metrics.decision_step_stats(decision),
        "never_crossed_fraction": metrics.never_crossed_fraction(decision),
        "inference_step_evaluations": evaluations,
        "ops_dense_macs": operations["dense_macs"],
        "ops_effective_macs": operations["effective_macs"],
        "ops_effective_acs": operations["effective_acs"],
        "ops_dense_macs_full_sequence": full_sequence["dense_macs"],
    }
    if test.ideal_step is not None:
        result["decision_lag_mean"] = metrics.decision_lag(decision, test.ideal_step)
    return result


def cell_record(job: TrainingJob, theta: float | None, profile: Profile, data: TaskData, contender: Contender,
                report: TrainingReport, provenance: dict[str, Any]) -> dict[str, Any]:
    """The record of one cell: its key, the test metrics at ``theta``, training cost, config and provenance."""
    return {
        "schema_version": SCHEMA_VERSION,
        "task": job.task, "contender": job.contender, "seed": job.seed, "theta": theta,
        "beta": job.beta, "rule": job.rule, "profile": profile.name,
        "n_steps": data.spec.n_steps, "test_size": len(data.test),
        **evaluate(contender, data),
        "training": {**asdict(report), **contender.training_operations(report),
                     "shared_across_thresholds": len(job.thresholds)},
        "config": asdict(contender.config), "data_source": data.source, "data_seed": profile.data_seed,
        **provenance,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


class TaskCache:
    """Loads each task's data once per run, from ``data_dir``."""

    def __init__(self, profile: Profile, data_dir: Path) -> None:
        self.profile = profile
        self.data_dir = data_dir
        self._data: dict[str, TaskData] = {}

    def get(self, name: str) -> TaskData:
        if name not in self._data:
            task = get_task(name)
            options = task.options(self.profile.tasks[name].data, f"profile {self.profile.name}, task {name} data")
            self._data[name] = task.load(options, self.profile.data_seed, self.data_dir)
        return self._data[name]


def run_jobs(
    jobs: Sequence[TrainingJob],
    profile: Profile,
    out: Path,
    device: torch.device,
    resume: bool = False,
    progress: Progress = print_progress,
    data_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """Train and evaluate every job, appending one record per cell to ``out``.

    Args:
        jobs: from :func:`plan_jobs`.
        profile: the profile the jobs came from.
        out: the JSON-lines records file.
        device: where to train and evaluate.
        resume: skip cells already recorded in ``out``; without it an
            existing, non-empty ``out`` is an error.
        progress: receives progress lines.
        data_dir: the data folder (default: :func:`bench.datasets.paths.default_data_dir`).

    Returns:
        The records written by this call.
    """
    done: set[tuple] = set()
    if out.exists() and out.stat().st_size > 0:
        if not resume:
            raise FileExistsError(
                f"{out} already holds results; pass --resume to skip its finished cells and add the rest, "
                f"or choose another --out"
            )
        done = recorded_keys(read_records(out))
    pending = [job for job in jobs if not set(job.cell_keys(profile.name)) <= done]
    if len(pending) < len(jobs):
        progress(f"resuming: {len(jobs) - len(pending)} of {len(jobs)} training jobs already recorded in {out}")
    tasks = TaskCache(profile, resolve_data_dir(data_dir))
    provenance = {"versions": package_versions(), "hardware": hardware(device),
                  "git_revision": git_revision(), "command": command_line()}
    written = []
    for number, job in enumerate(pending, start=1):
        label = (f"[{number}/{len(pending)}] {job.task} {job.contender} seed={job.seed}"
                 + (f" beta={job.beta:g}" if job.beta is not None else "")
                 + (f" theta={','.join(f'{t:g}' for t in job.thresholds)}" if job.thresholds != (None,)
                    else f" rule={job.rule}"))
        progress(f"{label}: loading data")
        data = tasks.get(job.task)
        contender_class = get_contender(job.contender)
        config = contender_config(profile, job.task, contender_class, job.beta)
        first_rule = contender_class.own_rule() or make_rule(job.rule, job.thresholds[0])
        contender = contender_class(data.spec, first_rule, config, device, job.seed)
        report = contender.fit(data.train, data.val, lambda line: progress(f"{label}: {line}"))
        for theta in job.thresholds:
            key = (job.task, job.contender, job.seed, theta, job.beta, profile.name, job.rule)
            if key in done:
                continue
            if theta is not None:
                contender.rule = make_rule(job.rule, theta)
            record = cell_record(job, theta, profile, data, contender, report, provenance)
            append_record(out, record)
            written.append(record)
            progress(f"{label}: theta={theta} accuracy {record['accuracy']:.4f} "
                     f"decision step {record['decision_step_mean']:.2f}/{data.spec.n_steps}")
    return written
