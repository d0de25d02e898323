"""Running training jobs: load the data, train each job where an executor puts it, write the records.

What each job trains and what a cell's record holds are decided in :mod:`bench.run.harness`
(:func:`~bench.run.harness.plan_jobs`, :func:`~bench.run.harness.cell_record`); this module
runs the planned jobs: it checks and loads the tasks' data (:class:`TaskCache`,
:func:`check_data`), configures each job (:func:`job_setup`), trains it
(:func:`run_training_job`) and writes the records (:func:`run_jobs`).

Resume: a cell is skipped by ``--resume`` only when ``results.jsonl`` holds a
record with the same key, which includes ``config_hash`` (the contender's full
config, the task's data options and the data seed; see
:func:`bench.core.records.config_hash`), so a changed hyperparameter reruns its cells.

Failed cells: when training diverges (:class:`~baselines.training_loop.TrainingDiverged`,
a NaN or infinite loss) or a cell runs out of memory, only that cell (for a
failure in training: every theta of that training job) stops. The run
prints the error, writes one error record per failed cell to ``errors.jsonl``
beside the records file (never a metric into ``results.jsonl``), and goes on
with the other cells; :func:`run_jobs` returns the failures and ``rcbench run``
exits with status 1 and a summary of them. An out-of-memory message names the
option to lower: ``batch_size`` (training) or ``eval_batch_size`` (evaluation).
``--resume`` reruns failed cells, since they have no record.

Executors: :func:`run_jobs` hands each training job to an executor (see
:mod:`bench.run.executors`: this process, local worker processes or Ray tasks),
which runs :func:`run_training_job` and sends back the job's records and error
records as plain data. Only the process that called :func:`run_jobs` writes
``results.jsonl`` and ``errors.jsonl``, each job's records as soon as the job
finishes. Any other exception in a job stops the run with a :class:`JobError`
that names the job and carries the traceback text from wherever it ran.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import torch

from baselines.registry import get_contender
from baselines.training_loop import TrainingDiverged
from bench.data.paths import resolve_data_dir
from bench.run.executors import ExecutorSettings, RemoteFailure, WorkerError
from bench.run.harness import JobSetup, TrainingJob, cell_record, contender_config
from bench.run.profile import Profile
from bench.core.provenance import command_line, git_revision, hardware, package_versions
from bench.core.records import (
    CELL_FIELDS,
    ERROR_SCHEMA_VERSION,
    append_error,
    append_record,
    config_hash,
    read_records,
    recorded_keys,
    remove_stale_temporaries,
)
from bench.core.task_contract import TaskData
from bench.tasks.registry import get_task
from rc.crossing import make_rule

Progress = Callable[[str], None]


def print_progress(message: str) -> None:
    """Default progress sink: one line on standard error."""
    print(message, file=sys.stderr, flush=True)


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
    """Loads each task's data once per run and set of data options, from ``data_dir``.

    A contender reads a task with the task's data options, overridden by the profile's
    ``data.<option>`` overrides of the task's protocol (spike-coded inputs for a spiking network, say);
    contenders with the same options share one load.
    """

    def __init__(self, profile: Profile, data_dir: Path) -> None:
        self.profile = profile
        self.data_dir = data_dir
        self._data: dict[tuple[str, str], TaskData] = {}

    def options(self, name: str, contender: str | None = None) -> Any:
        """The task's options from the profile, as ``contender`` reads them (checked; nothing is loaded)."""
        plan = self.profile.tasks[name]
        where = f"profile {self.profile.name}, task {name} data" + (
            f" for {contender}" if contender and plan.reads_other_data(contender) else "")
        return get_task(name).options(plan.data_values(contender) if contender else plan.data, where)

    def get(self, name: str, contender: str | None = None) -> TaskData:
        options = self.options(name, contender)
        key = (name, repr(options))
        if key not in self._data:
            self._data[key] = get_task(name).load(options, self.profile.data_seed, self.data_dir)
        return self._data[key]


def _as_dict(value: Any) -> dict[str, Any]:
    if is_dataclass(value):
        return asdict(value)
    return dict(value)


def job_setup(job: TrainingJob, profile: Profile, tasks: TaskCache) -> JobSetup:
    """The configuration of ``job`` and its :func:`bench.core.records.config_hash`."""
    config = contender_config(profile, job.task, get_contender(job.contender), job.beta)
    data_options = _as_dict(tasks.options(job.task, job.contender))
    # through JSON, as the record stores them (tuples become lists, paths strings)
    config_dict = json.loads(json.dumps(_as_dict(config), default=str))
    data_options = json.loads(json.dumps(data_options, default=str))
    return JobSetup(config, data_options, config_hash(config_dict, data_options, profile.data_seed))


class MissingDataError(ValueError):
    """Tasks of a run whose files are not in the data folder (found before anything is trained)."""


def check_data(jobs: Sequence[TrainingJob], profile: Profile, tasks: TaskCache,
               progress: Progress = print_progress) -> list[TrainingJob]:
    """The jobs whose task data are in the data folder, checked before anything is trained.

    Each task is asked for its files (:meth:`bench.core.task_contract.Task.missing_data`) with the data
    options of each contender that reads it. A task with ``skip_if_missing = true`` in the profile
    and missing files loses its jobs, with a notice on ``progress``.

    Raises:
        MissingDataError: other tasks' files are missing; the message names each task, what is
            missing and how to fetch it, and says so when the data folder is empty or absent.
    """
    missing: dict[str, str] = {}
    for task_name, contender in dict.fromkeys((job.task, job.contender) for job in jobs):
        if task_name not in missing:
            problem = get_task(task_name).missing_data(tasks.options(task_name, contender), tasks.data_dir)
            if problem is not None:
                missing[task_name] = problem
    skipped = [name for name in missing if profile.tasks[name].skip_if_missing]
    for name in skipped:
        progress(f"skipping task {name} (skip_if_missing in profile {profile.name}): {missing[name]}")
    failing = {name: problem for name, problem in missing.items() if name not in skipped}
    if failing:
        folder = tasks.data_dir
        state = ("does not exist" if not folder.exists()
                 else "is empty" if folder.is_dir() and not any(folder.iterdir()) else None)
        header = (f"the data folder {folder} {state} (set --data-dir or the RCBENCH_DATA_DIR environment "
                  f"variable); " if state else "")
        raise MissingDataError(header + f"data missing or damaged for {len(failing)} task(s), nothing was trained: "
                               + " | ".join(f"{name}: {problem}" for name, problem in failing.items()))
    return [job for job in jobs if job.task not in skipped]


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


@dataclass(frozen=True)
class JobRun:
    """One training job as a worker receives it.

    Attributes:
        job, setup: what to train and its configuration.
        label: the job's name in progress lines and errors, e.g. ``[2/6] toy-noise rc-lstm seed=0 beta=0.1 theta=0.9``.
        recorded: thresholds of the job whose cells are already recorded (``--resume``): not evaluated again.
    """

    job: TrainingJob
    setup: JobSetup
    label: str
    recorded: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class RunContext:
    """What every job of a run shares; sent to a worker with each job.

    Attributes:
        profile: the profile the jobs came from.
        data_dir: the data folder.
        device: the torch device, as a string.
        command: the command line of the run.
        provenance: the records' ``versions``, ``hardware``, ``git_revision`` and ``command``; None when
            the process that runs a job measures them itself (a Ray worker records the machine it ran on).
        modules: modules that register the jobs' contenders, imported by a worker before it starts, so
            that contenders registered outside ``baselines`` (a plugin, a test module) exist there too.
    """

    profile: Profile
    data_dir: Path
    device: str
    command: str
    provenance: dict[str, Any] | None = None
    modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobOutcome:
    """What one training job gives back, as plain data: a record per finished cell and an error
    record (:data:`bench.core.records.ERROR_FIELDS`) per failed cell."""

    records: list[dict[str, Any]]
    errors: list[dict[str, Any]]


class JobError(RuntimeError):
    """A training job raised an error that is not a failed cell (a bug, unreadable data): the run stopped.

    The message names the job (its task, contender, seed, beta and thresholds) and the error.

    Attributes:
        label: the job's label (see :class:`JobRun`).
        error_type: the class name of the error.
        traceback: the error's traceback text, from the process that ran the job.
        result: what the run wrote before it stopped.
    """

    def __init__(self, label: str, failure: RemoteFailure, result: RunResult) -> None:
        super().__init__(f"training job {label} failed: {failure.error_type}: {failure.message}")
        self.label = label
        self.error_type = failure.error_type
        self.traceback = failure.traceback
        self.result = result


def job_label(number: int, total: int, job: TrainingJob) -> str:
    """``[number/total] task contender seed=S [beta=B] theta=T1,T2`` (or ``rule=R``)."""
    return (f"[{number}/{total}] {job.task} {job.contender} seed={job.seed}"
            + (f" beta={job.beta:g}" if job.beta is not None else "")
            + (f" theta={','.join(f'{t:g}' for t in job.thresholds)}" if job.thresholds != (None,)
               else f" rule={job.rule}"))


def run_provenance(device: torch.device, command: str) -> dict[str, Any]:
    """The provenance fields of this process's records: versions, hardware, revision and command."""
    return {"versions": package_versions(), "hardware": hardware(device), "git_revision": git_revision(),
            "command": command}


_PROCESS_TASKS: dict[str, TaskCache] = {}
_PROCESS_PROVENANCE: dict[tuple, dict[str, Any]] = {}


def process_task_cache(profile: Profile, data_dir: Path) -> TaskCache:
    """This process's :class:`TaskCache` for ``profile`` and ``data_dir``: a worker loads each task's
    data once, however many of the run's jobs it trains (it keeps one run's data only)."""
    key = repr((profile, str(data_dir)))
    if key not in _PROCESS_TASKS:
        _PROCESS_TASKS.clear()
        _PROCESS_TASKS[key] = TaskCache(profile, data_dir)
    return _PROCESS_TASKS[key]


def _process_provenance(device: torch.device, command: str) -> dict[str, Any]:
    key = (str(device), torch.get_num_threads(), command)
    if key not in _PROCESS_PROVENANCE:
        _PROCESS_PROVENANCE[key] = run_provenance(device, command)
    return _PROCESS_PROVENANCE[key]


def run_training_job(work: JobRun, context: RunContext, tasks: TaskCache | None = None,
                     progress: Progress = print_progress) -> JobOutcome:
    """Train one job and evaluate it at each threshold not yet recorded: the work of one worker.

    Loads the task's data (``tasks``, default: this process's :func:`process_task_cache`), builds
    the contender, fits it and makes one record per threshold with
    :func:`~bench.run.harness.cell_record`. A diverged or out-of-memory training or evaluation
    fails its cells only (see :func:`failure_message`): they come back as error records. Any other exception propagates. Writes no file; picklable
    (a top-level function), so that a worker process can run it.
    """
    for module in context.modules:
        importlib.import_module(module)
    job, setup, label = work.job, work.setup, work.label
    device = torch.device(context.device)
    tasks = tasks if tasks is not None else process_task_cache(context.profile, context.data_dir)
    provenance = context.provenance or _process_provenance(device, context.command)
    profile = context.profile
    outcome = JobOutcome([], [])

    def fail(theta: float | None, phase: str, kind: str, message: str, error: BaseException) -> None:
        key = job.cell_keys(profile.name, setup.config_hash)[job.thresholds.index(theta)]
        progress(f"{label}: FAILED{'' if theta is None else f' at theta={theta:g}'}: {message}")
        outcome.errors.append({
            "error_schema_version": ERROR_SCHEMA_VERSION,
            **key._asdict(),
            "error_kind": kind, "error_type": type(error).__name__, "message": message, "phase": phase,
            "config": asdict(setup.config) if is_dataclass(setup.config) else dict(setup.config),
            "data_options": setup.data_options, "data_seed": profile.data_seed, **provenance,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        })

    def release_memory() -> None:
        if device.type == "cuda":
            torch.cuda.empty_cache()

    progress(f"{label}: loading data")
    data = tasks.get(job.task, job.contender)
    contender_class = get_contender(job.contender)
    first_rule = contender_class.own_rule() or make_rule(job.rule, job.thresholds[0])
    try:
        contender = contender_class(data.spec, first_rule, setup.config, device, job.seed)
        report = contender.fit(data.train, data.val, lambda line: progress(f"{label}: {line}"))
    except Exception as error:  # noqa: BLE001  (only diverged and out-of-memory cells are caught)
        failure = failure_message(error, "training", job, setup.config)
        if failure is None:
            raise
        release_memory()
        for theta in job.thresholds:
            if theta not in work.recorded:
                fail(theta, "training", *failure, error)
        return outcome
    for theta in job.thresholds:
        if theta in work.recorded:
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
            fail(theta, "evaluation", *failure, error)
            continue
        outcome.records.append(record)
        progress(f"{label}: theta={theta} accuracy {record['accuracy']:.4f} "
                 f"decision step {record['decision_step_mean']:.2f}/{data.spec.n_steps}")
    return outcome


def run_jobs(
    jobs: Sequence[TrainingJob],
    profile: Profile,
    out: Path,
    device: torch.device,
    resume: bool = False,
    progress: Progress = print_progress,
    data_dir: Path | None = None,
    errors: Path | None = None,
    executor: ExecutorSettings | None = None,
) -> RunResult:
    """Train and evaluate every job, appending one record per cell to ``out``.

    Args:
        jobs: from :func:`bench.run.harness.plan_jobs`.
        profile: the profile the jobs came from.
        out: the JSON-lines records file.
        device: where to train and evaluate.
        resume: skip cells already recorded in ``out`` (same key, configuration included);
            without it an existing, non-empty ``out`` or ``errors`` is an error.
        progress: receives progress lines (failures too) of jobs run in this process; worker
            processes print theirs on standard error.
        data_dir: the data folder (default: :func:`bench.data.paths.default_data_dir`).
        errors: the error records file (default: ``errors.jsonl`` beside ``out``).
        executor: where the jobs run (see :mod:`bench.run.executors`); default: one after another in
            this process. Whatever runs them, only this process writes ``out`` and ``errors``, each
            job's records as soon as the job finishes (in completion order).

    Returns:
        The records written by this call and the cells that failed (see the module docstring).

    Raises:
        JobError: a job raised an error that is not a failed cell; the records of the jobs that
            finished are written, no new job is started.
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
    data_dir = resolve_data_dir(data_dir)
    tasks = TaskCache(profile, data_dir)
    jobs = check_data(jobs, profile, tasks, progress)
    for stale in remove_stale_temporaries(out) + remove_stale_temporaries(errors):
        progress(f"removed {stale}, a temporary file left by a run killed while writing (it held no new record)")
    setups = [job_setup(job, profile, tasks) for job in jobs]
    pending = [(job, setup) for job, setup in zip(jobs, setups)
               if not set(job.cell_keys(profile.name, setup.config_hash)) <= done]
    if len(pending) < len(jobs):
        progress(f"resuming: {len(jobs) - len(pending)} of {len(jobs)} training jobs already recorded in {out}")
    if done:
        done_cells = {key.cell for key in done}
        changed = sum(key.cell in done_cells and key not in done
                      for job, setup in pending for key in job.cell_keys(profile.name, setup.config_hash))
        if changed:
            progress(f"resuming: {changed} recorded cell(s) have another configuration (config_hash) "
                     f"than the profile's now; they are run again")
    result = RunResult()
    works = [JobRun(job, setup, job_label(number, len(pending), job),
                    tuple(theta for theta, key in zip(job.thresholds, job.cell_keys(profile.name, setup.config_hash))
                          if key in done))
             for number, (job, setup) in enumerate(pending, start=1)]
    if not works:
        return result
    modules = tuple(sorted({get_contender(work.job.contender).__module__ for work in works} - {"__main__"}))
    with (executor or ExecutorSettings(workers=1)).create(len(works), device.type) as runner:
        # on this machine the provenance is measured once, here; elsewhere by each job's process
        provenance = run_provenance(device, command_line()) if runner.same_machine else None
        context = RunContext(profile, data_dir, str(device), command_line(), provenance, modules)
        if runner.in_process:  # today's path: this process's data cache and progress sink
            function = functools.partial(run_training_job, context=context, tasks=tasks, progress=progress)
        else:
            progress(f"executor: {runner.describe()}")
            function = functools.partial(run_training_job, context=context)
        try:
            for finished, (index, outcome) in enumerate(runner.map_unordered(function, works), start=1):
                for record in outcome.records:
                    append_record(out, record)
                    result.written.append(record)
                for error in outcome.errors:
                    append_error(errors, error)
                    result.failures.append(CellFailure(tuple(error[name] for name in CELL_FIELDS),
                                                       error["error_kind"], error["message"]))
                if not runner.in_process:
                    progress(f"{works[index].label}: {len(outcome.records)} record(s) written"
                             + (f", {len(outcome.errors)} failed cell(s)" if outcome.errors else "")
                             + f" ({finished} of {len(works)} jobs done)")
        except WorkerError as error:
            raise JobError(works[error.index].label, error.failure, result) from (error.__cause__ or error)
    return result
