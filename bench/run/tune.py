"""``rcbench tune``: a hyperparameter search on the validation split, the same trials for every contender.

The search spaces live in the profile, beside what they tune::

    [search]                        # every task (a task's [tasks.T.search] values replace these)
    trials = 20                     # trials per contender on each task: one count per profile or task
    objective = "accuracy"          # or "speed-accuracy" (with speed_weight), see below
    # speed_weight = 0.1
    # theta = 0.95                  # the threshold trials decide with (default: the task's middle one)

    [tasks.fsdd.search.rc-lstm]     # a contender's search space on a task
    lr = { low = 1e-4, high = 1e-2, log = true }    # a float range (log: sampled on a log scale)
    dropout = { low = 0.0, high = 0.5 }
    layers = { low = 1, high = 3 }                  # an int range (the setting is an int); step = N allowed
    hidden = { choices = [64, 128, 256] }           # a list of values

Rules (each checked before anything is trained; each error names the task, contender and setting):

- ``trials`` is an integer >= 1, set in ``[search]`` or ``[tasks.T.search]`` (or by ``--trials``), never
  per contender: every contender tuned on a task gets that many trials;
- a searched name is a field of the contender's ``Config`` and not a protocol setting of the task
  (``epochs``, ``lr_schedule``, ``selection`` and whatever ``[protocol]`` fixes: equal budgets stay equal),
  nor ``beta`` on a task whose ``betas`` list sweeps it;
- a range has ``low < high`` (``low > 0`` with ``log``), a choice list is not empty and has no repeats;
  every bound and choice must be a value the contender accepts (its ``Config`` is built with each).

Trials: each trial is one training job (a :class:`~bench.run.harness.TrainingJob` with the trial's
hyperparameters over the profile's values and the task's protocol), trained with the profile's first
seed at one threshold and beta per task (``theta``, default the middle of the task's ``thresholds``;
the middle of ``betas`` where the task sweeps beta, else the contender's own), handed to the
executors of ``rcbench run`` (:mod:`bench.run.executors`: this process, local workers or Ray
tasks). A trial trains on the training split, selects on the validation split as the protocol says,
and is then evaluated once on the validation split: the objective is read there. The test split is
never read (the trial function receives the task's data and touches only ``spec``, ``train`` and
``val``), and the trial records carry no test metric.

Objectives (maximised):

``accuracy``
    validation accuracy at the decision.
``speed-accuracy``
    validation accuracy at the decision minus ``speed_weight`` times the mean validation decision
    step over the sequence length T (steps read / T, in (0, 1]): with ``speed_weight = 0.1`` a model
    that decides at T/2 gives up 0.05 of accuracy against one that decides at once.

The sampler is Optuna's TPE (``TPESampler(seed=...)``), one study per (task, contender), seeded from
``--seed``, the task and the contender. Trials are asked in rounds: each study asks ``--batch-trials``
trials, all of a round run at once through the executor, and each study is told its results in trial
order before its next round; so the trials, given the seed and the batch size, do not depend on the
number of workers nor on which trial finishes first.

Output (in ``--out``):

``trials.jsonl``
    every trial, one JSON line as it finishes (:data:`TRIAL_FIELDS`): number, task, contender, seed,
    params, objective, validation accuracy and decision step, training seconds and MACs, the full
    config and its ``config_hash`` (the same hash ``rcbench run`` gives that configuration),
    provenance; a failed trial (diverged, out of memory) with its error and no objective.
``tuned.toml``
    a profile that ``extends`` the tuned one and sets, per task, each contender's best trial's values
    in ``[tasks.T.contenders.X]``: ``rcbench run --profile OUT/tuned.toml`` is the paper run. (While
    :mod:`bench.run.profile` refuses the ``search`` tables, ``rcbench run`` cannot read a profile that
    holds them; then ``tuned.toml`` extends ``searched-profile.toml``, a copy of the tuned profile's
    tables without them, written beside it.)
``summary.md``
    per task and contender: trials, finished and failed, the best objective, its validation accuracy
    and decision step, and its params; and whether every contender of a task got the same trials.

Best trial: the highest objective among finished trials, the lowest trial number on a tie.

Resume (``--resume``): the trials in ``trials.jsonl`` are replayed: each study asks its trials again
(the seeded sampler gives the same params; a record whose params or search settings differ is an
error) and is told the recorded results; only the missing trials are trained. An interrupted tune
loses only the trials that were in progress, and a resumed tune ends as an uninterrupted one would.
More ``--trials`` on a resume adds trials to every study.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import importlib
import json
import math
import os
import typing
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from baselines.registry import Contender, get_contender
from bench.core.options import OptionError
from bench.core.provenance import command_line
from bench.core.jsonl import append_line, read_lines
from bench.core.records import config_hash, remove_stale_temporaries
from bench.data.paths import resolve_data_dir
from bench.measure import metrics
from bench.run.executors import ExecutorSettings, WorkerError
from bench.run.harness import JobSetup, TrainingJob
from bench.run.jobs import (
    JobError,
    Progress,
    RunContext,
    RunResult,
    TaskCache,
    check_data,
    failure_message,
    print_progress,
    process_task_cache,
    run_provenance,
)
from bench.run.profile import (
    BUILTIN_PROFILES,
    Profile,
    _resolve_extends,
    check_profile_names,
    load_profile,
    parse_profile,
)
from bench.run.protocol import REQUIRED_SETTINGS
from bench.tasks.registry import get_task
from rc.crossing import check_theta, make_rule

TUNE_INSTALL_HINT = "pip install -e '.[tune]' in the rcbench checkout (the extra tune of rank-coding-bench: optuna)"
"""How to install the search library."""

TRIALS_SCHEMA_VERSION = 1

OBJECTIVES = ("accuracy", "speed-accuracy")
"""Objectives a search maximises (see the module docstring)."""

SEARCH_SETTINGS = ("trials", "objective", "speed_weight", "theta")
"""Keys of ``[search]`` and ``[tasks.T.search]`` (the other keys of a task's search table are contenders)."""

PARAM_KEYS = ("low", "high", "log", "step", "choices")

TRIALS_FILE = "trials.jsonl"
TUNED_PROFILE_FILE = "tuned.toml"
SEARCHED_PROFILE_FILE = "searched-profile.toml"
SUMMARY_FILE = "summary.md"

TRIAL_FIELDS = (
    "tune_schema_version", "state", "task", "contender", "trial", "seed", "params", "objective", "objective_value",
    "speed_weight", "theta", "beta", "rule", "sampler_seed", "study_key", "n_steps", "val_size", "val_accuracy",
    "val_decision_step_mean", "val_decision_step_median", "val_decision_step_p90", "val_never_crossed_fraction",
    "training", "config", "config_hash", "data_options", "data_seed", "data_source", "profile", "error",
    "versions", "hardware", "git_revision", "command", "created",
)
"""Fields of a trial record in ``trials.jsonl``. ``state`` is ``complete`` or ``failed``; a failed trial
has ``objective_value`` and the ``val_*`` metrics None and an ``error`` (``kind``, ``type``, ``message``,
``phase``); a complete one has ``error`` None. No field holds a test metric."""


def import_optuna() -> Any:
    """The ``optuna`` module, or :class:`OptionError` saying how to install it."""
    try:
        import optuna
    except ImportError as error:
        raise OptionError(f"rcbench tune needs Optuna, which is not installed here ({error}); "
                          f"install it with: {TUNE_INSTALL_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ---------------------------------------------------------------------------------------------------------
# The search, as the profile declares it


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: a range (``kind`` ``int`` or ``float``) or a list of ``choices``."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def distribution(self, optuna: Any) -> Any:
        """The Optuna distribution of this hyperparameter."""
        dists = optuna.distributions
        if self.kind == "choice":
            return dists.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return dists.IntDistribution(int(self.low), int(self.high), log=self.log,
                                         step=int(self.step) if self.step is not None else 1)
        return dists.FloatDistribution(float(self.low), float(self.high), log=self.log, step=self.step)

    def bounds(self) -> tuple[Any, ...]:
        """The values to check against the contender's ``Config``: both bounds, or every choice."""
        return self.choices if self.kind == "choice" else (self.low, self.high)

    def as_record(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step, "kind": self.kind}

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.name} in {{{', '.join(map(_format_value, self.choices))}}}"
        return (f"{self.name} in [{_format_value(self.low)}, {_format_value(self.high)}]"
                + (" (log)" if self.log else "") + (f" step {_format_value(self.step)}" if self.step else ""))


@dataclass(frozen=True)
class TaskSearch:
    """The search on one task: its trial count and objective, the threshold the trials decide with,
    and each tuned contender's space (hyperparameter name -> :class:`Param`)."""

    task: str
    trials: int
    objective: str
    speed_weight: float
    theta: float | None
    rule: str
    spaces: dict[str, dict[str, Param]]
    untuned: tuple[str, ...] = ()
    """Contenders the profile names on this task that have no search space here (kept as they are)."""


@dataclass(frozen=True)
class SearchPlan:
    """A profile's search, checked: the profile (without its ``search`` tables) and each task's search."""

    source: str
    source_path: Path | None
    profile: Profile
    tasks: dict[str, TaskSearch]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    """The profile's tables (``extends`` resolved) without the ``search`` tables."""
    run_loads_source: bool = True
    """Whether ``rcbench run`` can read the source profile as it is (see :func:`write_tuned_profile`)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _format_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _split_search_tables(data: dict[str, Any]) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """``data`` without its ``search`` tables, the top-level ``[search]`` and each task's ``search`` table."""
    stripped = {key: value for key, value in data.items() if key != "search"}
    task_search: dict[str, Any] = {}
    tasks = data.get("tasks")
    if isinstance(tasks, dict):
        stripped_tasks = {}
        for name, table in tasks.items():
            if isinstance(table, dict) and "search" in table:
                task_search[name] = table["search"]
                table = {key: value for key, value in table.items() if key != "search"}
                if not table:
                    raise OptionError(f"[tasks.{name}.search]: the profile has no task {name} to tune "
                                      f"(no [tasks.{name}] table with thresholds)")
            stripped_tasks[name] = table
        stripped["tasks"] = stripped_tasks
    return stripped, data.get("search", {}), task_search


def _check_trials(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"{where}: trials must be an integer >= 1 (the trials every contender gets), got {value!r}")
    return value


def _search_settings(table: Any, where: str) -> dict[str, Any]:
    """The settings (``trials``, ``objective``, ...) of a ``search`` table, checked; contender tables left out."""
    if not isinstance(table, dict):
        raise OptionError(f"{where} must be a table, got {table!r}")
    settings = {key: value for key, value in table.items() if not isinstance(value, dict)}
    unknown = sorted(set(settings) - set(SEARCH_SETTINGS))
    if unknown:
        raise OptionError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(SEARCH_SETTINGS)} "
                          f"and, in [tasks.<task>.search], one table per contender")
    if "trials" in settings:
        _check_trials(settings["trials"], where)
    if "objective" in settings and settings["objective"] not in OBJECTIVES:
        raise OptionError(f"{where}: unknown objective {settings['objective']!r}; known objectives: "
                          f"{', '.join(OBJECTIVES)}")
    if "speed_weight" in settings:
        weight = settings["speed_weight"]
        if not _is_number(weight) or not math.isfinite(weight) or weight < 0:
            raise OptionError(f"{where}: speed_weight must be a number >= 0, got {weight!r}")
    if "theta" in settings:
        theta = settings["theta"]
        if not _is_number(theta):
            raise OptionError(f"{where}: theta must be a number, got {theta!r}")
        try:
            check_theta(float(theta))
        except ValueError as error:
            raise OptionError(f"{where}: {error}") from None
    return settings


def _parse_param(name: str, spec: Any, annotation: Any, where: str) -> Param:
    """A hyperparameter's range or choices from its search table entry, checked for shape and type."""
    if not isinstance(spec, dict):
        raise OptionError(f"{where}: {name} must be a range {{ low = ..., high = ... }} or a list "
                          f"{{ choices = [...] }}, got {spec!r}")
    unknown = sorted(set(spec) - set(PARAM_KEYS))
    if unknown:
        raise OptionError(f"{where}: {name}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(PARAM_KEYS)}")
    if "choices" in spec:
        extra = sorted(set(spec) - {"choices"})
        if extra:
            raise OptionError(f"{where}: {name}: choices go alone, without {', '.join(extra)}")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise OptionError(f"{where}: {name}: empty search space: choices must be a non-empty list, got {choices!r}")
        for choice in choices:
            if not isinstance(choice, (bool, int, float, str)):
                raise OptionError(f"{where}: {name}: a choice must be a number, string or boolean, got {choice!r}")
        if len({json.dumps(choice) for choice in choices}) < len(choices):
            raise OptionError(f"{where}: {name}: choices repeat a value: {choices!r}")
        return Param(name, "choice", choices=tuple(choices))
    missing = [key for key in ("low", "high") if key not in spec]
    if missing:
        raise OptionError(f"{where}: {name}: a range needs low and high (missing {', '.join(missing)}), "
                          f"or give choices = [...]")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    if annotation not in (int, float):
        raise OptionError(f"{where}: {name} is not a number setting ({getattr(annotation, '__name__', annotation)}); "
                          f"give choices = [...]")
    for key, value in (("low", low), ("high", high)) + ((("step", step),) if step is not None else ()):
        if not _is_number(value) or not math.isfinite(value):
            raise OptionError(f"{where}: {name}: {key} must be a finite number, got {value!r}")
        if annotation is int and not isinstance(value, int):
            raise OptionError(f"{where}: {name} is an integer setting: {key} must be an integer, got {value!r}")
    if not isinstance(log, bool):
        raise OptionError(f"{where}: {name}: log must be true or false, got {log!r}")
    if not low < high:
        raise OptionError(f"{where}: {name}: empty search range: low = {low!r} must be below high = {high!r}")
    if log and low <= 0:
        raise OptionError(f"{where}: {name}: a log range needs low > 0, got {low!r}")
    if step is not None:
        if step <= 0:
            raise OptionError(f"{where}: {name}: step must be > 0, got {step!r}")
        if log:
            raise OptionError(f"{where}: {name}: step and log cannot go together")
    kind = "int" if annotation is int else "float"
    return Param(name, kind, low if kind == "int" else float(low), high if kind == "int" else float(high), log,
                 step if step is None or kind == "int" else float(step))


def _middle(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _parse_space(profile: Profile, task: str, contender_name: str, table: Any, where: str) -> dict[str, Param]:
    """A contender's search space on ``task``: each name a searchable setting, each bound a value it accepts."""
    try:
        contender = get_contender(contender_name)
    except ValueError as error:
        raise OptionError(f"{where}: {error}") from None
    if not isinstance(table, dict) or not table:
        raise OptionError(f"{where}: a contender's search space must be a non-empty table of "
                          f"hyperparameters, got {table!r}")
    plan = profile.tasks[task]
    names = [f.name for f in fields(contender.Config)]
    hints = typing.get_type_hints(contender.Config)
    protocol = set(plan.protocol.settings) | set(REQUIRED_SETTINGS) | {
        override.setting for override in plan.protocol.overrides_for(contender_name)}
    base = profile.resolved_values(task, contender_name, names)
    space = {}
    for name, spec in table.items():
        if name in SEARCH_SETTINGS:
            raise OptionError(f"{where}: {name} is set per profile ([search]) or per task ([tasks.{task}.search]), "
                              f"never per contender: every contender on a task gets the same search")
        if name in protocol:
            shared = plan.protocol.settings.get(name, "(declared by an override)")
            raise OptionError(
                f"{where}: {name} is a protocol setting (every contender on {task} gets {name} = {shared!r}; the "
                f"protocol fixes {', '.join(sorted(protocol))}): equal budgets stay equal, so it is not searchable")
        if name not in names:
            raise OptionError(f"{where}: unknown hyperparameter {name!r}: {contender_name} has no such setting; "
                              f"its settings: {', '.join(n for n in names if n not in protocol)}")
        if name == "beta" and plan.betas is not None:
            raise OptionError(f"{where}: beta is swept by the task's betas list {list(plan.betas)}; it is not "
                              f"searchable there (drop betas from [tasks.{task}] to search it)")
        param = _parse_param(name, spec, hints[name], where)
        for value in param.bounds():
            try:
                contender.make_config({**base, name: value}, f"{where}: {name} = {value!r}")
            except OptionError as error:
                raise OptionError(f"{error} ({contender_name} refuses a value of the search space)") from None
        space[name] = param
    return space


def load_search(name_or_path: str, tasks: Sequence[str] | None = None, contenders: Sequence[str] | None = None,
                trials: int | None = None) -> SearchPlan:
    """Read a profile with its search spaces and check everything (see the module docstring).

    Args:
        name_or_path: a built-in profile or a profile TOML file.
        tasks: tune only these tasks (default: every task with a search space).
        contenders: tune only these contenders (default: every contender with a search space on a task).
        trials: trials per contender on every task, over the profile's ``trials``.

    Raises:
        OptionError: a bad search (named), or a task or contender without a search space.
    """
    if trials is not None:
        _check_trials(trials, "--trials")
    data, source = _resolve_extends(name_or_path, None, ())
    stripped, top, per_task = _split_search_tables(data)
    profile = parse_profile(stripped, source)
    check_profile_names(profile)
    where = f"profile {source}"
    top_settings = _search_settings(top, f"{where}: [search]")
    selected = list(tasks) if tasks else [name for name in profile.tasks if name in per_task]
    if not selected:
        raise OptionError(f"{where}: no search space: add [tasks.<task>.search.<contender>] tables "
                          f"(see docs/tuning.md)")
    searches = {}
    for task in selected:
        if task not in profile.tasks:
            raise OptionError(f"{where} has no task {task}; it covers: {', '.join(sorted(profile.tasks))}")
        if task not in per_task:
            raise OptionError(f"{where}: task {task} has no search space ([tasks.{task}.search.<contender>])")
        task_where = f"{where}: [tasks.{task}.search]"
        settings = {**top_settings, **_search_settings(per_task[task], task_where)}
        count = trials if trials is not None else settings.get("trials")
        if count is None:
            raise OptionError(f"{where}: no trial count for task {task}: set [search] trials = N (or "
                              f"[tasks.{task}.search] trials, or --trials)")
        objective = settings.get("objective", "accuracy")
        weight = float(settings.get("speed_weight", 0.0))
        if objective == "speed-accuracy" and "speed_weight" not in settings:
            raise OptionError(f"{task_where}: objective speed-accuracy needs speed_weight (accuracy minus "
                              f"speed_weight x mean decision step / T)")
        if objective == "accuracy" and "speed_weight" in settings and weight != 0:
            raise OptionError(f"{task_where}: speed_weight = {weight:g} needs objective = \"speed-accuracy\"")
        plan = profile.tasks[task]
        rule = plan.rule or get_task(task).default_rule
        theta = float(settings["theta"]) if "theta" in settings else _middle(plan.thresholds)
        try:
            make_rule(rule, theta)
        except ValueError as error:
            raise OptionError(f"{task_where}: theta {theta:g}: {error}") from None
        tables = {name: value for name, value in per_task[task].items() if isinstance(value, dict)}
        names = list(contenders) if contenders else list(tables)
        if not names:
            raise OptionError(f"{task_where}: no contender search space ([tasks.{task}.search.<contender>])")
        spaces = {}
        for contender_name in names:
            if contender_name not in tables:
                try:
                    get_contender(contender_name)
                except ValueError as error:
                    raise OptionError(f"--contenders: {error}") from None
                raise OptionError(f"{task_where}: {contender_name} has no search space on {task} "
                                  f"([tasks.{task}.search.{contender_name}]); every contender tuned on a task "
                                  f"gets the same trials, so give it one or leave it out of --contenders")
            spaces[contender_name] = _parse_space(profile, task, contender_name, tables[contender_name],
                                                  f"{where}: [tasks.{task}.search.{contender_name}]")
        named = set(profile.contenders) | set(plan.contenders) | {o.contender for o in plan.protocol.overrides}
        untuned = tuple(sorted(named - set(spaces)))
        searches[task] = TaskSearch(task, count, objective, weight, theta, rule, spaces, untuned)
    path = None if name_or_path in BUILTIN_PROFILES else Path(name_or_path).resolve()
    try:
        load_profile(name_or_path)
        loads = True
    except OptionError:
        loads = False  # the search tables: bench.run.profile does not know them
    return SearchPlan(name_or_path, path, profile, searches, stripped, loads)


# ---------------------------------------------------------------------------------------------------------
# One trial, as a worker runs it


@dataclass(frozen=True)
class Trial:
    """One trial: a training job with its hyperparameters, and how its objective is read."""

    job: TrainingJob
    number: int
    params: dict[str, Any]
    objective: str
    speed_weight: float
    theta: float | None
    sampler_seed: int
    study_key: str


@dataclass(frozen=True)
class TrialRun:
    """A trial as a worker receives it (see :class:`bench.run.jobs.JobRun`)."""

    trial: Trial
    setup: JobSetup
    label: str


def objective_value(objective: str, speed_weight: float, accuracy: float, decision_step_mean: float,
                    n_steps: int) -> float:
    """The maximised objective (see the module docstring)."""
    if objective == "accuracy":
        return accuracy
    if objective == "speed-accuracy":
        return accuracy - speed_weight * decision_step_mean / n_steps
    raise ValueError(f"unknown objective {objective!r}; known objectives: {', '.join(OBJECTIVES)}")


_PROVENANCE: dict[tuple, dict[str, Any]] = {}


def _provenance(device: torch.device, command: str) -> dict[str, Any]:
    key = (str(device), torch.get_num_threads(), command)
    if key not in _PROVENANCE:
        _PROVENANCE[key] = run_provenance(device, command)
    return _PROVENANCE[key]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_trial(work: TrialRun, context: RunContext, tasks: TaskCache | None = None,
              progress: Progress = print_progress) -> dict[str, Any]:
    """Train one trial and evaluate it on the validation split: the work of one worker.

    Returns the trial's record (:data:`TRIAL_FIELDS`); a diverged or out-of-memory trial comes back as
    a ``failed`` record. Any other exception propagates. Reads the task's ``spec``, ``train`` and ``val``
    only, never its test split; writes no file; picklable (a top-level function).
    """
    for module in context.modules:
        importlib.import_module(module)
    trial, setup, label = work.trial, work.setup, work.label
    job = trial.job
    device = torch.device(context.device)
    tasks = tasks if tasks is not None else process_task_cache(context.profile, context.data_dir)
    provenance = context.provenance or _provenance(device, context.command)
    data = tasks.get(job.task, job.contender)
    spec, train, val = data.spec, data.train, data.val
    contender_class = get_contender(job.contender)
    rule = contender_class.own_rule() or make_rule(job.rule, job.thresholds[0])
    record: dict[str, Any] = {
        "tune_schema_version": TRIALS_SCHEMA_VERSION, "task": job.task, "contender": job.contender,
        "trial": trial.number, "seed": job.seed, "params": trial.params, "objective": trial.objective,
        "speed_weight": trial.speed_weight, "theta": trial.theta, "beta": job.beta, "rule": job.rule,
        "sampler_seed": trial.sampler_seed, "study_key": trial.study_key, "n_steps": spec.n_steps,
        "val_size": len(val), "config": asdict(setup.config), "config_hash": setup.config_hash,
        "data_options": setup.data_options, "data_seed": context.profile.data_seed, "data_source": data.source,
        "profile": context.profile.name, **provenance,
    }
    empty = {"objective_value": None, "val_accuracy": None, "val_decision_step_mean": None,
             "val_decision_step_median": None, "val_decision_step_p90": None, "val_never_crossed_fraction": None,
             "training": None}
    phase = "training"
    try:
        contender: Contender = contender_class(spec, rule, setup.config, device, job.seed)
        report = contender.fit(train, val, lambda line: progress(f"{label}: {line}"))
        phase = "evaluation"
        decision, _ = contender.decide(val.x)
        accuracy = metrics.accuracy(decision.prediction, val.y)
        steps = metrics.decision_step_stats(decision)
        never = metrics.never_crossed_fraction(decision)
        operations = contender.training_operations(report)
    except Exception as error:  # noqa: BLE001  (only diverged and out-of-memory trials are caught)
        failure = failure_message(error, phase, job, setup.config)
        if failure is None:
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        progress(f"{label}: FAILED: {failure[1]}")
        return {**record, **empty, "state": "failed",
                "error": {"kind": failure[0], "type": type(error).__name__, "message": failure[1], "phase": phase},
                "created": _now()}
    value = objective_value(trial.objective, trial.speed_weight, accuracy, steps["decision_step_mean"], spec.n_steps)
    training = {key: value for key, value in asdict(report).items() if key != "history"}
    training["history"] = [asdict(log) for log in report.history]
    training.update(operations)
    progress(f"{label}: objective {value:.4f} (validation accuracy {accuracy:.4f}, decision step "
             f"{steps['decision_step_mean']:.2f}/{spec.n_steps})")
    return {**record, "state": "complete", "objective_value": value, "val_accuracy": accuracy,
            "val_decision_step_mean": steps["decision_step_mean"],
            "val_decision_step_median": steps["decision_step_median"],
            "val_decision_step_p90": steps["decision_step_p90"], "val_never_crossed_fraction": never,
            "training": training, "error": None, "created": _now()}


# ---------------------------------------------------------------------------------------------------------
# The search loop


class TrialsFileError(ValueError):
    """``trials.jsonl`` is malformed or holds trials of another search (``--resume``)."""


def read_trials(path: Path) -> list[dict[str, Any]]:
    """Every trial record of ``path``; errors name the file and line."""
    records = []
    for number, line in read_lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise TrialsFileError(f"{path}:{number}: not a JSON line ({error})") from None
        missing = [name for name in TRIAL_FIELDS if name not in record]
        if missing or record.get("tune_schema_version") != TRIALS_SCHEMA_VERSION:
            raise TrialsFileError(f"{path}:{number}: not a trial record of schema {TRIALS_SCHEMA_VERSION}"
                                  + (f" (missing {', '.join(missing)})" if missing else ""))
        records.append(record)
    return records


def _append_trial(path: Path, record: dict[str, Any]) -> None:
    missing = [name for name in TRIAL_FIELDS if name not in record]
    if missing:
        raise TrialsFileError(f"trial record: missing field(s) {', '.join(missing)}")
    append_line(path, json.dumps(record, sort_keys=True, allow_nan=False, default=str) + "\n")


def _stable_seed(*parts: Any) -> int:
    text = "/".join(map(str, parts))
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def _json_roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@dataclass(eq=False)
class Study:
    """One (task, contender) search: its Optuna study and what each of its trials shares."""

    task: str
    contender: str
    trials: int
    study: Any
    distributions: dict[str, Any]
    base_values: dict[str, Any]
    rule: str
    beta: float | None
    theta: float | None
    seed: int
    sampler_seed: int
    key: str
    search: TaskSearch
    asked: int = 0

    @property
    def remaining(self) -> int:
        return self.trials - self.asked


@dataclass
class TuneResult:
    """What :func:`tune` did: every trial of the search (this call's and the resumed ones), the new
    ones, the best trial per (task, contender) (None: no finished trial), and the files written."""

    trials: list[dict[str, Any]] = field(default_factory=list)
    new: list[dict[str, Any]] = field(default_factory=list)
    best: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    out: Path | None = None
    skipped_tasks: tuple[str, ...] = ()


def _make_studies(plan: SearchPlan, optuna: Any, seed: int, batch_trials: int, tasks: TaskCache) -> list[Study]:
    profile = plan.profile
    train_seed = profile.seeds[0]
    studies = []
    for task, search in plan.tasks.items():
        task_plan = profile.tasks[task]
        for contender_name, space in search.spaces.items():
            contender = get_contender(contender_name)
            names = [f.name for f in fields(contender.Config)]
            base = profile.resolved_values(task, contender_name, names)
            own_rule = contender.own_rule()
            rule = own_rule.name if own_rule is not None else search.rule
            theta = None if own_rule is not None else search.theta
            beta = None
            if contender.uses_beta() and "beta" not in space:
                beta = (_middle(task_plan.betas) if task_plan.betas is not None
                        else float(contender.make_config(base, f"profile {profile.name}").beta))
            sampler_seed = _stable_seed(seed, task, contender_name)
            data_options = _json_roundtrip(asdict(tasks.options(task, contender_name)))
            fixed = {name: value for name, value in base.items() if name not in space}
            key_payload = {"task": task, "contender": contender_name,
                           "space": {name: param.as_record() for name, param in space.items()},
                           "objective": search.objective, "speed_weight": search.speed_weight, "theta": theta,
                           "rule": rule, "beta": beta, "values": fixed, "data_options": data_options,
                           "data_seed": profile.data_seed, "seed": train_seed, "sampler_seed": sampler_seed,
                           "batch_trials": batch_trials}
            key = hashlib.sha256(json.dumps(_json_roundtrip(key_payload), sort_keys=True).encode()).hexdigest()[:16]
            study = optuna.create_study(direction="maximize", study_name=f"{task}/{contender_name}",
                                        sampler=optuna.samplers.TPESampler(seed=sampler_seed))
            studies.append(Study(task, contender_name, search.trials, study,
                                 {name: param.distribution(optuna) for name, param in space.items()},
                                 base, rule, beta, theta, train_seed, sampler_seed, key, search))
    return studies


def _trial_setup(study: Study, params: dict[str, Any], profile: Profile,
                 tasks: TaskCache) -> tuple[TrainingJob, JobSetup]:
    contender = get_contender(study.contender)
    values = {**study.base_values, **params}
    if study.beta is not None:
        values["beta"] = study.beta
    config = contender.make_config(values, f"profile {profile.name}, task {study.task}, contender "
                                           f"{study.contender}, trial params {params}")
    beta = float(config.beta) if contender.uses_beta() else None
    job = TrainingJob(study.task, study.contender, study.seed, study.rule, beta, (study.theta,))
    data_options = _json_roundtrip(asdict(tasks.options(study.task, study.contender)))
    config_dict = _json_roundtrip(asdict(config))
    return job, JobSetup(config, data_options, config_hash(config_dict, data_options, profile.data_seed))


def _format_params(params: Mapping[str, Any]) -> str:
    return " ".join(f"{name}={_format_value(value)}" for name, value in params.items())


def best_trial(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The finished trial with the highest objective (the lowest trial number on a tie), or None."""
    finished = [r for r in records if r["state"] == "complete" and r["objective_value"] is not None]
    if not finished:
        return None
    return min(finished, key=lambda r: (-r["objective_value"], r["trial"]))


def tune(plan: SearchPlan, out: Path, device: torch.device, *, seed: int = 0, batch_trials: int = 1,
         executor: ExecutorSettings | None = None, data_dir: Path | None = None, resume: bool = False,
         progress: Progress = print_progress) -> TuneResult:
    """Run the search of ``plan``, writing every trial to ``out/trials.jsonl`` as it finishes, then the
    tuned profile and the summary (see the module docstring).

    Args:
        plan: from :func:`load_search`.
        out: the output folder.
        device: where trials train.
        seed: seeds the samplers (one per task and contender, derived from it).
        batch_trials: trials each study asks per round (run at once); more keep more workers busy.
        executor: where trials run (:mod:`bench.run.executors`); default: one after another here.
        data_dir: the data folder.
        resume: replay ``out/trials.jsonl`` and train only the missing trials; without it an existing,
            non-empty ``trials.jsonl`` is an error.

    Raises:
        JobError: a trial raised an error that is not a failed trial; finished trials are kept.
        TrialsFileError: on resume, ``trials.jsonl`` holds trials of another search.
    """
    if batch_trials < 1:
        raise OptionError(f"--batch-trials must be >= 1, got {batch_trials}")
    optuna = import_optuna()
    profile = plan.profile
    out.mkdir(parents=True, exist_ok=True)
    trials_path = out / TRIALS_FILE
    if trials_path.exists() and trials_path.stat().st_size > 0 and not resume:
        raise FileExistsError(f"{trials_path} already holds trials; pass --resume to replay them and run the rest, "
                              f"or choose another --out")
    for stale in remove_stale_temporaries(trials_path):
        progress(f"removed {stale}, a temporary file left by a tune killed while writing (it held no new trial)")
    previous = read_trials(trials_path) if resume and trials_path.exists() else []
    recorded = {(r["task"], r["contender"], r["trial"]): r for r in previous}
    data_dir = resolve_data_dir(data_dir)
    tasks = TaskCache(profile, data_dir)
    probes = [TrainingJob(task, contender, profile.seeds[0], search.rule, None, (search.theta,))
              for task, search in plan.tasks.items() for contender in search.spaces]
    kept = {job.task for job in check_data(probes, profile, tasks, progress)}
    skipped = tuple(task for task in plan.tasks if task not in kept)
    plan = SearchPlan(plan.source, plan.source_path, profile, {t: s for t, s in plan.tasks.items() if t in kept},
                      plan.raw, plan.run_loads_source)
    studies = _make_studies(plan, optuna, seed, batch_trials, tasks)
    total = sum(study.trials for study in studies)
    pending_total = sum(1 for study in studies for number in range(study.trials)
                        if (study.task, study.contender, number) not in recorded)
    if previous:
        progress(f"resuming: {total - pending_total} of {total} trials already in {trials_path}")
    result = TuneResult(out=out, skipped_tasks=skipped)
    modules = tuple(sorted({get_contender(s.contender).__module__ for s in studies} - {"__main__"}))
    settings = executor or ExecutorSettings(workers=1)
    width = min(pending_total, len(studies) * batch_trials)
    finished_count = total - pending_total
    with contextlib.ExitStack() as stack:
        runner = None
        function = None
        while any(study.remaining > 0 for study in studies):
            asked: list[tuple[Study, Any, dict[str, Any] | None]] = []
            works: list[TrialRun] = []
            for study in studies:
                for _ in range(min(batch_trials, study.remaining)):
                    trial = study.study.ask(study.distributions)
                    study.asked += 1
                    params = {name: trial.params[name] for name in study.distributions}
                    old = recorded.get((study.task, study.contender, trial.number))
                    if old is not None:
                        if old["study_key"] != study.key:
                            raise TrialsFileError(
                                f"{trials_path}: trial {trial.number} of {study.task} {study.contender} belongs to "
                                f"another search (its search space, objective, seed, --batch-trials or the "
                                f"profile's values differ); resume with the same settings, or choose another --out")
                        if _json_roundtrip(old["params"]) != _json_roundtrip(params):
                            raise TrialsFileError(
                                f"{trials_path}: trial {trial.number} of {study.task} {study.contender} has params "
                                f"{old['params']}, but the replayed sampler gives {params}; it was written by "
                                f"another version of the sampler: choose another --out")
                        old = {**old, "params": {name: old["params"][name] for name in study.distributions}}
                        asked.append((study, trial, old))
                        continue
                    job, setup = _trial_setup(study, params, profile, tasks)
                    search = study.search
                    work_trial = Trial(job, trial.number, params, search.objective, search.speed_weight,
                                       study.theta, study.sampler_seed, study.key)
                    label = (f"[trial {study.task} {study.contender} #{trial.number + 1}/{study.trials}] "
                             f"{_format_params(params)}")
                    works.append(TrialRun(work_trial, setup, label))
                    asked.append((study, trial, None))
            outcomes: dict[tuple[str, str, int], dict[str, Any]] = {}
            if works:
                if runner is None:
                    runner = stack.enter_context(settings.create(width, device.type))
                    provenance = _provenance(device, command_line()) if runner.same_machine else None
                    context = RunContext(profile, data_dir, str(device), command_line(), provenance, modules)
                    if runner.in_process:
                        function = functools.partial(run_trial, context=context, tasks=tasks, progress=progress)
                    else:
                        progress(f"executor: {runner.describe()}")
                        function = functools.partial(run_trial, context=context)
                try:
                    for index, record in runner.map_unordered(function, works):
                        _append_trial(trials_path, record)
                        result.new.append(record)
                        finished_count += 1
                        outcomes[(record["task"], record["contender"], record["trial"])] = record
                        if not runner.in_process:
                            state = (f"objective {record['objective_value']:.4f}" if record["state"] == "complete"
                                     else f"failed ({record['error']['kind']})")
                            progress(f"{works[index].label}: {state} ({finished_count} of {total} trials done)")
                except WorkerError as error:
                    raise JobError(works[error.index].label, error.failure, RunResult()) from (error.__cause__ or error)
            order = {id(study): index for index, study in enumerate(studies)}
            for study, trial, old in sorted(asked, key=lambda item: (order[id(item[0])], item[1].number)):
                record = old or outcomes[(study.task, study.contender, trial.number)]
                if record["state"] == "complete":
                    study.study.tell(trial, record["objective_value"])
                else:
                    study.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                result.trials.append(record)
    for study in studies:
        records = [r for r in result.trials if (r["task"], r["contender"]) == (study.task, study.contender)]
        result.best[(study.task, study.contender)] = best_trial(records)
    write_tuned_profile(plan, result, out, seed, batch_trials)
    write_summary(plan, result, out, seed, batch_trials)
    return result


# ---------------------------------------------------------------------------------------------------------
# Output: the tuned profile and the summary


def _toml_key(key: str) -> str:
    if key and all(c.isalnum() and c.isascii() or c in "-_" for c in key):
        return key
    return json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ValueError(f"cannot write {value!r} as TOML")


def _toml_path(parts: Sequence[str]) -> str:
    return ".".join(_toml_key(part) for part in parts)


def to_toml(table: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """A TOML document of ``table`` (its values, then its tables, then its arrays of tables); ``prefix``
    is the path of ``table`` itself (its header is written when it holds values or nothing else)."""
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not _is_table_array(v)}
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in table.items() if _is_table_array(v)}
    text = ""
    if prefix and (scalars or not (tables or arrays)):
        text += f"\n[{_toml_path(prefix)}]\n"
    text += "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in scalars.items())
    for key, sub in tables.items():
        text += to_toml(sub, (*prefix, key))
    for key, items in arrays.items():
        for item in items:
            inner = {k: v for k, v in item.items() if isinstance(v, dict) or _is_table_array(v)}
            text += f"\n[[{_toml_path((*prefix, key))}]]\n"
            text += "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in item.items() if k not in inner)
            for sub_key, sub in inner.items():
                text += to_toml({sub_key: sub}, (*prefix, key))
    return text


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _extends_value(plan: SearchPlan, out: Path) -> str:
    if plan.source_path is None:
        return plan.source
    try:
        return Path(os.path.relpath(plan.source_path, out.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return plan.source_path.as_posix()


def write_tuned_profile(plan: SearchPlan, result: TuneResult, out: Path, seed: int, batch_trials: int) -> Path:
    """``out/tuned.toml``: the tuned profile extended by each contender's best trial's values."""
    profile = plan.profile
    extends = _extends_value(plan, out)
    lines = [f"# Written by rcbench tune from profile {profile.name} ({plan.source}) on {_now()}.",
             f"# Each value below is the best trial's (trials.jsonl) on the validation split; sampler seed {seed}, "
             f"--batch-trials {batch_trials}.",
             f"# Command: {command_line()}",
             f"# Run the benchmark with: rcbench run --profile {out / TUNED_PROFILE_FILE}"]
    if not plan.run_loads_source:
        searched = out / SEARCHED_PROFILE_FILE
        searched.write_text(
            f"# The tables of profile {profile.name} ({plan.source}) as rcbench tune read them, without its search\n"
            f"# tables (rcbench run does not read those); tuned.toml extends this file.\n"
            + to_toml({"name": profile.name, "description": profile.description,
                       **{k: v for k, v in plan.raw.items() if k not in ("name", "description")}}),
            encoding="utf-8")
        extends = SEARCHED_PROFILE_FILE
    document: dict[str, Any] = {
        "extends": extends, "name": f"{profile.name}-tuned",
        "description": (f"{profile.name} with the hyperparameters rcbench tune chose on the validation split "
                        f"(the same trials for every contender of a task; see summary.md beside this file)"),
    }
    tasks: dict[str, Any] = {}
    for (task, contender), best in result.best.items():
        if best is None:
            continue
        space = plan.tasks[task].spaces[contender]
        tasks.setdefault(task, {"contenders": {}})["contenders"][contender] = {
            name: best["params"][name] for name in space if name in best["params"]}
    if tasks:
        document["tasks"] = tasks
    path = out / TUNED_PROFILE_FILE
    path.write_text("\n".join(lines) + "\n" + to_toml(document), encoding="utf-8")
    return path


def write_summary(plan: SearchPlan, result: TuneResult, out: Path, seed: int, batch_trials: int) -> Path:
    """``out/summary.md``: trials, failures and the best trial per task and contender."""
    profile = plan.profile
    lines = [f"# rcbench tune: profile {profile.name}", "",
             "Searched on the validation split only (no test example was read). Sampler: Optuna TPE, seed "
             f"{seed}, {batch_trials} trial(s) per study per round; every trial trains with seed "
             f"{profile.seeds[0]}. Every trial: `{TRIALS_FILE}`; the chosen values: `{TUNED_PROFILE_FILE}` "
             f"(`rcbench run --profile {out / TUNED_PROFILE_FILE}`).", ""]
    for task, search in plan.tasks.items():
        objective = ("validation accuracy at the decision" if search.objective == "accuracy" else
                     f"validation accuracy - {search.speed_weight:g} x mean decision step / T")
        theta = f"theta {search.theta:g}, rule {search.rule}"
        lines += [f"## {task}", "", f"Objective: {objective}; {theta} (contenders with their own rule use it); "
                                    f"{search.trials} trials per contender.", "",
                  "| contender | trials | finished | failed | best objective | val accuracy | decision step | "
                  "best trial | best params |", "|---|---|---|---|---|---|---|---|---|"]
        counts = []
        for contender in search.spaces:
            records = [r for r in result.trials if (r["task"], r["contender"]) == (task, contender)]
            finished = sum(r["state"] == "complete" for r in records)
            best = result.best.get((task, contender))
            counts.append(len(records))
            lines.append(
                f"| {contender} | {len(records)} | {finished} | {len(records) - finished} | "
                + (f"{best['objective_value']:.4f} | {best['val_accuracy']:.4f} | "
                   f"{best['val_decision_step_mean']:.2f}/{best['n_steps']} | {best['trial']} | "
                   f"{_format_params(best['params'])} |" if best else "- | - | - | - | no finished trial |"))
        equal = f"equal ({counts[0]})" if len(set(counts)) == 1 else "NOT equal: " + ", ".join(map(str, counts))
        lines += ["", f"Trials per contender: {equal}."]
        if search.untuned:
            lines.append("Not tuned here (no search space; they keep the profile's values): "
                         f"{', '.join(search.untuned)}.")
        spaces = "; ".join(f"{contender}: " + ", ".join(p.describe() for p in space.values())
                           for contender, space in search.spaces.items())
        lines += [f"Search spaces: {spaces}.", ""]
    if result.skipped_tasks:
        lines += [f"Skipped (data missing, skip_if_missing): {', '.join(result.skipped_tasks)}.", ""]
    path = out / SUMMARY_FILE
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def summary_lines(result: TuneResult) -> list[str]:
    """One line per (task, contender): its best trial, for the command's output."""
    lines = []
    for (task, contender), best in result.best.items():
        trials = [r for r in result.trials if (r["task"], r["contender"]) == (task, contender)]
        if best is None:
            lines.append(f"{task} {contender}: {len(trials)} trials, none finished")
            continue
        lines.append(f"{task} {contender}: {len(trials)} trials; best #{best['trial']}: objective "
                     f"{best['objective_value']:.4f} (validation accuracy {best['val_accuracy']:.4f}, decision step "
                     f"{best['val_decision_step_mean']:.2f}/{best['n_steps']}) {_format_params(best['params'])}")
    return lines


__all__ = ["OBJECTIVES", "Param", "SearchPlan", "TaskSearch", "TuneResult", "TUNE_INSTALL_HINT", "best_trial",
           "import_optuna", "load_search", "objective_value", "read_trials", "run_trial", "summary_lines", "to_toml",
           "tune", "write_summary", "write_tuned_profile"]
