"""The benchmark harness: plan cells from a profile, train, evaluate, record.

A *cell* is one (task, contender, seed, theta, beta) combination and gives one
record. Contenders whose training does not depend on theta (``lstm-eos``,
``lstm-allsteps``) are trained once per (task, seed, beta) and evaluated at
every theta; each of those records says so in
``training.shared_across_thresholds``.

Resume: a cell is skipped by ``--resume`` only when ``results.jsonl`` holds a
record with the same key, which includes ``config_hash`` (the contender's full
config, the task's data options and the data seed; see
:func:`bench.records.config_hash`), so a changed hyperparameter reruns its cells.

Failed cells: when training diverges (:class:`~baselines.training_loop.TrainingDiverged`,
a NaN or infinite loss) or a cell runs out of memory, only that cell (for a
failure in training: every theta of that training job) stops. The harness
prints the error, writes one error record per failed cell to ``errors.jsonl``
beside the records file (never a metric into ``results.jsonl``), and goes on
with the other cells; :func:`run_jobs` returns the failures and ``rcbench run``
exits with status 1 and a summary of them. An out-of-memory message names the
option to lower: ``batch_size`` (training) or ``eval_batch_size`` (evaluation).
``--resume`` reruns failed cells, since they have no record.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import torch

from baselines.registry import Contender, TrainingReport, get_contender
from baselines.training_loop import TrainingDiverged
from bench import metrics
from bench.datasets.paths import resolve_data_dir
from bench.profile import Profile, check_profile_names
from bench.provenance import command_line, git_revision, hardware, package_versions
from bench.records import (
    CELL_FIELDS,
    ERROR_SCHEMA_VERSION,
    SCHEMA_VERSION,
    append_error,
    append_record,
    config_hash,
    read_records,
    recorded_keys,
)
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

    def cell_keys(self, profile: str, config_hash: str | None) -> list[tuple]:
        """Record keys of this job's cells (see :data:`bench.records.KEY_FIELDS`)."""
        return [(self.task, self.contender, self.seed, theta, self.beta, profile, self.rule, config_hash)
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
        "per_example": metrics.per_example(decision, test.y),
    }
    if test.ideal_step is not None:
        result["decision_lag_mean"] = metrics.decision_lag(decision, test.ideal_step)
    return result


def cell_record(job: TrainingJob, theta: float | None, profile: Profile, data: TaskData, contender: Contender,
                report: TrainingReport, provenance: dict[str, Any], setup: JobSetup | None = None) -> dict[str, Any]:
    """The record of one cell: its key, the test metrics at ``theta``, training cost, config and provenance."""
    extra = {} if setup is None else {"config_hash": setup.config_hash, "data_options": setup.data_options}
    return {
        "schema_version": SCHEMA_VERSION,
        "task": job.task, "contender": job.contender, "seed": job.seed, "theta": theta,
        "beta": job.beta, "rule": job.rule, "profile": profile.name, **extra,
        "n_steps": data.spec.n_steps, "test_size": len(data.test),
        **evaluate(contender, data),
        "training": {**asdict(report), **contender.training_operations(report),
                     "shared_across_thresholds": len(job.thresholds)},
        "config": asdict(contender.config), "data_source": data.source, "data_seed": profile.data_seed,
        **provenance,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


@dataclass(frozen=True)
class JobSetup:
    """What a training job is configured with, known before training: the contender's ``Config``,
    the task's data options (as a dict) and the hash of both with the data seed."""

    config: Any
    data_options: dict[str, Any]
    config_hash: str


@dataclass(frozen=True)
class CellFailure:
    """A cell that failed: its key fields, what went wrong, and the printed message."""

    cell: tuple
    kind: str
    message: str


@dataclass
class RunResult:
    """What :func:`run_jobs` did: the records written and the cells that failed."""

    written: list[dict[str, Any]] = field(default_factory=list)
    failures: list[CellFailure] = field(default_factory=list)


class TaskCache:
    """Loads each task's data once per run, from ``data_dir``."""

    def __init__(self, profile: Profile, data_dir: Path) -> None:
        self.profile = profile
        self.data_dir = data_dir
        self._data: dict[str, TaskData] = {}

    def options(self, name: str) -> Any:
        """The task's options from the profile (checked; nothing is loaded)."""
        return get_task(name).options(self.profile.tasks[name].data, f"profile {self.profile.name}, task {name} data")

    def get(self, name: str) -> TaskData:
        if name not in self._data:
            self._data[name] = get_task(name).load(self.options(name), self.profile.data_seed, self.data_dir)
        return self._data[name]


def _as_dict(value: Any) -> dict[str, Any]:
    if is_dataclass(value):
        return asdict(value)
    return dict(value)


def job_setup(job: TrainingJob, profile: Profile, tasks: TaskCache) -> JobSetup:
    """The configuration of ``job`` and its :func:`bench.records.config_hash`."""
    config = contender_config(profile, job.task, get_contender(job.contender), job.beta)
    data_options = _as_dict(tasks.options(job.task))
    # through JSON, as the record stores them (tuples become lists, paths strings)
    config_dict = json.loads(json.dumps(_as_dict(config), default=str))
    data_options = json.loads(json.dumps(data_options, default=str))
    return JobSetup(config, data_options, config_hash(config_dict, data_options, profile.data_seed))


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an out-of-memory error of torch (CUDA or CPU allocator) or Python."""
    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None)) if t is not None)
    if isinstance(error, (MemoryError, *oom_types)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def failure_message(error: BaseException, phase: str, job: TrainingJob, config: Any) -> tuple[str, str] | None:
    """``(kind, message)`` for an error that fails only its cell, or None for any other error."""
    if isinstance(error, TrainingDiverged):
        return "training-diverged", f"training diverged: {error}"
    if is_out_of_memory(error):
        option = "batch_size" if phase == "training" else "eval_batch_size"
        value = getattr(config, option, None)
        now = f" (now {value})" if value is not None else ""
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return "out-of-memory", (
            f"out of memory during {phase}: {first_line}; lower {option}{now} for {job.contender} in the profile "
            f"([contenders.{job.contender}] or [tasks.{job.task}.contenders.{job.contender}]) "
            f"and rerun with --resume"
        )
    return None


def run_jobs(
    jobs: Sequence[TrainingJob],
    profile: Profile,
    out: Path,
    device: torch.device,
    resume: bool = False,
    progress: Progress = print_progress,
    data_dir: Path | None = None,
    errors: Path | None = None,
) -> RunResult:
    """Train and evaluate every job, appending one record per cell to ``out``.

    Args:
        jobs: from :func:`plan_jobs`.
        profile: the profile the jobs came from.
        out: the JSON-lines records file.
        device: where to train and evaluate.
        resume: skip cells already recorded in ``out`` (same key, configuration included);
            without it an existing, non-empty ``out`` or ``errors`` is an error.
        progress: receives progress lines (failures too).
        data_dir: the data folder (default: :func:`bench.datasets.paths.default_data_dir`).
        errors: the error records file (default: ``errors.jsonl`` beside ``out``).

    Returns:
        The records written by this call and the cells that failed (see the module docstring).
    """
    errors = errors if errors is not None else out.with_name("errors.jsonl")
    done: set[tuple] = set()
    for path in (out, errors):
        if path.exists() and path.stat().st_size > 0 and not resume:
            raise FileExistsError(
                f"{path} already holds {'results' if path == out else 'error records'}; pass --resume to skip its finished cells and add the rest, "
                f"or choose another --out"
            )
    if out.exists() and out.stat().st_size > 0:
        done = recorded_keys(read_records(out))
    tasks = TaskCache(profile, resolve_data_dir(data_dir))
    setups = [job_setup(job, profile, tasks) for job in jobs]
    pending = [(job, setup) for job, setup in zip(jobs, setups)
               if not set(job.cell_keys(profile.name, setup.config_hash)) <= done]
    if len(pending) < len(jobs):
        progress(f"resuming: {len(jobs) - len(pending)} of {len(jobs)} training jobs already recorded in {out}")
    if done:
        done_cells = {key[:len(CELL_FIELDS)] for key in done}
        changed = sum(key[:len(CELL_FIELDS)] in done_cells and key not in done
                      for job, setup in pending for key in job.cell_keys(profile.name, setup.config_hash))
        if changed:
            progress(f"resuming: {changed} recorded cell(s) have another configuration (config_hash) "
                     f"than the profile's now; they are run again")
    provenance = {"versions": package_versions(), "hardware": hardware(device),
                  "git_revision": git_revision(), "command": command_line()}
    result = RunResult()

    def fail(job: TrainingJob, setup: JobSetup, theta: float | None, phase: str, kind: str, message: str,
             error: BaseException, label: str) -> None:
        key = job.cell_keys(profile.name, setup.config_hash)[job.thresholds.index(theta)]
        cell = key[:len(CELL_FIELDS)]
        progress(f"{label}: FAILED{'' if theta is None else f' at theta={theta:g}'}: {message}")
        append_error(errors, {
            "error_schema_version": ERROR_SCHEMA_VERSION,
            **dict(zip(CELL_FIELDS, cell)), "config_hash": setup.config_hash,
            "error_kind": kind, "error_type": type(error).__name__, "message": message, "phase": phase,
            "config": asdict(setup.config) if is_dataclass(setup.config) else dict(setup.config),
            "data_options": setup.data_options, "data_seed": profile.data_seed, **provenance,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        })
        result.failures.append(CellFailure(cell, kind, message))

    def release_memory() -> None:
        if device.type == "cuda":
            torch.cuda.empty_cache()

    for number, (job, setup) in enumerate(pending, start=1):
        label = (f"[{number}/{len(pending)}] {job.task} {job.contender} seed={job.seed}"
                 + (f" beta={job.beta:g}" if job.beta is not None else "")
                 + (f" theta={','.join(f'{t:g}' for t in job.thresholds)}" if job.thresholds != (None,)
                    else f" rule={job.rule}"))
        progress(f"{label}: loading data")
        data = tasks.get(job.task)
        contender_class = get_contender(job.contender)
        first_rule = contender_class.own_rule() or make_rule(job.rule, job.thresholds[0])
        keys = job.cell_keys(profile.name, setup.config_hash)
        try:
            contender = contender_class(data.spec, first_rule, setup.config, device, job.seed)
            report = contender.fit(data.train, data.val, lambda line: progress(f"{label}: {line}"))
        except Exception as error:  # noqa: BLE001  (only diverged and out-of-memory cells are caught)
            failure = failure_message(error, "training", job, setup.config)
            if failure is None:
                raise
            release_memory()
            for theta, key in zip(job.thresholds, keys):
                if key not in done:
                    fail(job, setup, theta, "training", *failure, error, label)
            continue
        for theta, key in zip(job.thresholds, keys):
            if key in done:
                continue
            if theta is not None:
                contender.rule = make_rule(job.rule, theta)
            try:
                record = cell_record(job, theta, profile, data, contender, report, provenance, setup)
            except Exception as error:  # noqa: BLE001
                failure = failure_message(error, "evaluation", job, setup.config)
                if failure is None:
                    raise
                release_memory()
                fail(job, setup, theta, "evaluation", *failure, error, label)
                continue
            append_record(out, record)
            result.written.append(record)
            progress(f"{label}: theta={theta} accuracy {record['accuracy']:.4f} "
                     f"decision step {record['decision_step_mean']:.2f}/{data.spec.n_steps}")
    return result
