"""Run profiles: what a benchmark run trains and evaluates, as data.

A profile is a TOML file. The built-in ones live in ``bench/run/profiles/``
(``quick``, ``paper``); ``--profile`` also takes a path to your own. Layout::

    name = "quick"
    description = "..."
    seeds = [0]            # model seeds (weight init, minibatch order)
    data_seed = 0          # seed of generated data (same test set for all cells)

    [contenders.rc-lstm]   # hyperparameters of a contender on every task
    hidden = 32

    [tasks.toy-noise]
    thresholds = [0.99]    # theta values; one cell per theta
    betas = [0.0]          # optional: beta values for contenders that have beta
    rule = "two-sided"     # optional: crossing rule (default: the task's)
    [tasks.toy-noise.data] # the task's options (sizes, paths)
    n_train = 4000
    [tasks.toy-noise.contenders.rc-lstm]   # per-task overrides
    epochs = 20
    [tasks.fsdd.contender_data.snn-ttfs]   # data options for one contender, over [tasks.fsdd.data]
    spikes = true                          # (here: spiking inputs for the spiking network)

A task may also say ``skip_if_missing = true``: when its files are not in the
data folder, its cells are skipped with a notice instead of failing the run
(the quick profile uses this for the data sets a fresh machine lacks).

Unknown keys are errors that name the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bench.core.options import OptionError
from rc.crossing import CROSSING_RULES, check_theta
from rc.loss import check_beta

BUILTIN_PROFILES = tuple(sorted(entry.name.removesuffix(".toml")
                                for entry in resources.files("bench.run.profiles").iterdir()
                                if entry.name.endswith(".toml")))
"""The profiles shipped in ``bench/run/profiles/``: one ``NAME.toml`` file each."""


@dataclass(frozen=True)
class TaskPlan:
    """What a profile says about one task."""

    name: str
    thresholds: tuple[float, ...]
    betas: tuple[float, ...] | None
    rule: str | None
    data: dict[str, Any]
    contenders: dict[str, dict[str, Any]]
    contender_data: dict[str, dict[str, Any]] = field(default_factory=dict)
    skip_if_missing: bool = False

    def data_values(self, contender: str) -> dict[str, Any]:
        """The task's data options as ``contender`` reads them: ``data``, then its ``contender_data``."""
        return {**self.data, **self.contender_data.get(contender, {})}


@dataclass(frozen=True)
class Profile:
    """A parsed profile (see the module docstring for the file layout)."""

    name: str
    description: str
    seeds: tuple[int, ...]
    data_seed: int
    contenders: dict[str, dict[str, Any]]
    tasks: dict[str, TaskPlan] = field(default_factory=dict)

    def contender_values(self, task: str, contender: str) -> dict[str, Any]:
        """Hyperparameters of ``contender`` on ``task``: its defaults, then the task's overrides."""
        values = dict(self.contenders.get(contender, {}))
        values.update(self.tasks[task].contenders.get(contender, {}))
        return values


def _expect_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise OptionError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OptionError(f"{where} must be a table, got {value!r}")
    return value


def _number_list(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise OptionError(f"{where} must be a non-empty list of numbers, got {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise OptionError(f"{where} must hold numbers, got {item!r}")
    return tuple(float(item) for item in value)


def parse_profile(data: dict[str, Any], source: str) -> Profile:
    """Check and parse a profile table read from ``source`` (a name or path, for messages)."""
    where = f"profile {source}"
    _expect_keys(data, {"name", "description", "seeds", "data_seed", "contenders", "tasks"}, where)
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise OptionError(f"{where}: seeds must be a non-empty list of integers, got {seeds!r}")
    contenders = {name: dict(_table(table, f"{where}: [contenders.{name}]"))
                  for name, table in _table(data.get("contenders", {}), f"{where}: contenders").items()}
    tasks = {}
    for task_name, raw in _table(data.get("tasks", {}), f"{where}: tasks").items():
        task_where = f"{where}: [tasks.{task_name}]"
        table = _table(raw, task_where)
        _expect_keys(table, {"thresholds", "betas", "rule", "data", "contenders", "contender_data",
                             "skip_if_missing"}, task_where)
        thresholds = _number_list(table.get("thresholds"), f"{task_where} thresholds")
        for theta in thresholds:
            try:
                check_theta(theta)
            except ValueError as error:
                raise OptionError(f"{task_where}: {error}") from None
        betas = None
        if "betas" in table:
            betas = _number_list(table["betas"], f"{task_where} betas")
            for beta in betas:
                try:
                    check_beta(beta)
                except ValueError as error:
                    raise OptionError(f"{task_where}: {error}") from None
        rule = table.get("rule")
        if rule is not None and rule not in CROSSING_RULES:
            raise OptionError(f"{task_where}: unknown rule {rule!r}; known rules: {', '.join(sorted(CROSSING_RULES))}")
        overrides = {name: dict(_table(t, f"{task_where} contenders.{name}"))
                     for name, t in _table(table.get("contenders", {}), f"{task_where} contenders").items()}
        contender_data = {name: dict(_table(t, f"{task_where} contender_data.{name}"))
                          for name, t in _table(table.get("contender_data", {}),
                                                f"{task_where} contender_data").items()}
        skip_if_missing = table.get("skip_if_missing", False)
        if not isinstance(skip_if_missing, bool):
            raise OptionError(f"{task_where} skip_if_missing must be true or false, got {skip_if_missing!r}")
        tasks[task_name] = TaskPlan(task_name, thresholds, betas, rule,
                                    dict(_table(table.get("data", {}), f"{task_where} data")), overrides,
                                    contender_data, skip_if_missing)
    if not tasks:
        raise OptionError(f"{where}: no [tasks.*] tables")
    return Profile(
        name=str(data.get("name", source)),
        description=str(data.get("description", "")),
        seeds=tuple(seeds),
        data_seed=int(data.get("data_seed", 0)),
        contenders=contenders,
        tasks=tasks,
    )


def check_profile_names(profile: Profile) -> None:
    """Raise :class:`OptionError` if ``profile`` names a task or contender that is not registered."""
    from baselines.registry import CONTENDERS
    from bench.tasks.registry import TASKS

    def check(name: str, registry: dict, kind: str, where: str) -> None:
        if name not in registry:
            raise OptionError(f"profile {profile.name}: {where} names unknown {kind} {name!r}; "
                              f"known {kind}s: {', '.join(sorted(registry))}")

    for contender_name in profile.contenders:
        check(contender_name, CONTENDERS, "contender", f"[contenders.{contender_name}]")
    for task_name, plan in profile.tasks.items():
        check(task_name, TASKS, "task", f"[tasks.{task_name}]")
        for contender_name in plan.contenders:
            check(contender_name, CONTENDERS, "contender", f"[tasks.{task_name}.contenders.{contender_name}]")
        for contender_name in plan.contender_data:
            check(contender_name, CONTENDERS, "contender", f"[tasks.{task_name}.contender_data.{contender_name}]")


def load_profile(name_or_path: str) -> Profile:
    """A built-in profile by name, or a profile TOML file by path."""
    if name_or_path in BUILTIN_PROFILES:
        text = resources.files("bench.run.profiles").joinpath(f"{name_or_path}.toml").read_text(encoding="utf-8")
        source = name_or_path
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise OptionError(
                f"unknown profile {name_or_path!r}: not a built-in profile ({', '.join(BUILTIN_PROFILES)}) "
                f"and no such file"
            )
        text = path.read_text(encoding="utf-8")
        source = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise OptionError(f"profile {source} is not valid TOML: {error}") from None
    profile = parse_profile(data, source)
    check_profile_names(profile)
    return profile
