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
    lineup = ["rc-lstm", "lstm-eos"]       # optional: the contenders this task runs
    betas = [0.0]          # optional: beta values for contenders that have beta
    rule = "two-sided"     # optional: crossing rule (default: the task's)
    [tasks.toy-noise.data] # the task's options (sizes, paths)
    n_train = 4000
    [tasks.toy-noise.contenders.rc-lstm]   # per-task overrides
    epochs = 20
    [protocol]             # what every contender shares (bench.run.protocol): the budget
    epochs = 10            # (epochs, lr_schedule, selection are required), front end, augmentation
    lr_schedule = "cosine"
    selection = "last-epoch"
    [tasks.fsdd.protocol]  # per task, over [protocol]
    epochs = 60
    [[tasks.fsdd.overrides]]               # a declared exception, printed beside the row
    contender = "snn-ttfs"
    setting = "data.spikes"                # a protocol setting, or data.<option> for the input
    value = true
    reason = "the spiking network reads the spike code of the same frames"

A profile may start from another: ``extends = "paper"`` (a built-in name, or a path
relative to the extending file) takes that profile's tables and merges this file's
over them, table by table; ``overrides`` arrays are appended, other values replaced.

A task's ``lineup`` names the contenders that run on it when ``--contenders`` is not given
(default: every contender the profile names); ``--contenders`` replaces every task's lineup.

A task may set ``curve_examples`` (default 2,000): the learning-curve snapshots
(:mod:`baselines.learning_curve`) are scored on that many test examples, the first of
the test split, the same for every contender.

A task may also say ``skip_if_missing = true``: when its files are not in the
data folder, its cells are skipped with a notice instead of failing the run
(the quick profile uses this for the data sets a fresh machine lacks).

Unknown keys are errors that name the key.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from collections.abc import Collection
from typing import Any

from bench.core.options import OptionError
from bench.run.protocol import Protocol, check_required, parse_overrides, parse_settings
from rc.crossing import CROSSING_RULES, check_theta
from rc.loss import check_beta
from rc.registry import Registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

BUILTIN_PROFILES = tuple(sorted(entry.name.removesuffix(".toml")
                                for entry in resources.files("bench.run.profiles").iterdir()
                                if entry.name.endswith(".toml")))
"""The profiles shipped in ``bench/run/profiles/``: one ``NAME.toml`` file each."""


DEFAULT_CURVE_EXAMPLES = 2000
"""Test examples on which learning-curve snapshots are scored (the first ones of the test split)."""


@dataclass(frozen=True)
class TaskPlan:
    """What a profile says about one task."""

    name: str
    thresholds: tuple[float, ...]
    betas: tuple[float, ...] | None
    rule: str | None
    data: dict[str, Any]
    contenders: dict[str, dict[str, Any]]
    protocol: Protocol = field(default_factory=Protocol)
    skip_if_missing: bool = False
    curve_examples: int = DEFAULT_CURVE_EXAMPLES
    step_ms: float | None = None
    """Milliseconds between two input steps, for the streaming time to decision; None: the task's
    default (:func:`bench.measure.streaming.default_step_ms`)."""
    lineup: tuple[str, ...] | None = None
    """The contenders that run on this task without ``--contenders``; None: every contender the
    profile names (:meth:`Profile.named_contenders`)."""

    def data_values(self, contender: str) -> dict[str, Any]:
        """The task's data options as ``contender`` reads them: ``data``, then its ``data.*`` overrides."""
        return {**self.data, **self.protocol.data_overrides(contender)}

    def reads_other_data(self, contender: str) -> bool:
        """Whether ``contender`` reads the task's data with options of its own (a ``data.*`` override)."""
        return bool(self.protocol.data_overrides(contender))


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
        """The contender's own hyperparameters on ``task``: ``[contenders.X]``, then
        ``[tasks.<task>.contenders.X]`` (before the protocol; see :meth:`resolved_values`)."""
        values = dict(self.contenders.get(contender, {}))
        values.update(self.tasks[task].contenders.get(contender, {}))
        return values

    def named_contenders(self) -> list[str]:
        """The contenders the profile names (its ``[contenders.X]`` tables, its tasks' contender tables
        and overrides): the contenders a run takes without ``--contenders``; an installed plug-in
        joins a run only when named here or there."""
        names = set(self.contenders)
        for plan in self.tasks.values():
            names |= set(plan.contenders) | {override.contender for override in plan.protocol.overrides}
            names |= set(plan.lineup or ())
        return sorted(names)

    def lineup(self, task: str) -> list[str]:
        """The contenders that run on ``task`` without ``--contenders``: the task's ``lineup``, else
        every contender the profile names."""
        plan = self.tasks[task]
        return list(plan.lineup) if plan.lineup is not None else self.named_contenders()

    def resolved_values(self, task: str, contender: str, fields: Collection[str]) -> dict[str, Any]:
        """Hyperparameters of ``contender`` (which has the settings ``fields``) on ``task``: its own
        values with the task's protocol applied (:meth:`bench.run.protocol.Protocol.apply`)."""
        return self.tasks[task].protocol.apply(contender, fields, self.contender_values(task, contender),
                                               f"profile {self.name}, task {task}")


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


def _lineup(value: Any, where: str) -> tuple[str, ...] | None:
    """A task's ``lineup``: a non-empty list of distinct contender names (registration is checked
    by :func:`check_profile_names`), or None when the task has none."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(name, str) and name for name in value):
        raise OptionError(f"{where} must be a non-empty list of contender names, got {value!r}")
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise OptionError(f"{where} names {', '.join(repeated)} more than once")
    return tuple(value)


def parse_profile(data: dict[str, Any], source: str) -> Profile:
    """Check and parse a profile table read from ``source`` (a name or path, for messages)."""
    where = f"profile {source}"
    # search tables belong to ``rcbench tune`` (bench.run.tune), which checks them; a run ignores them
    _expect_keys(data, {"name", "description", "seeds", "data_seed", "contenders", "tasks", "protocol", "search"},
                 where)
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise OptionError(f"{where}: seeds must be a non-empty list of integers, got {seeds!r}")
    shared_settings = parse_settings(data.get("protocol", {}), f"{where}: [protocol]")
    contenders = {name: dict(_table(table, f"{where}: [contenders.{name}]"))
                  for name, table in _table(data.get("contenders", {}), f"{where}: contenders").items()}
    tasks = {}
    for task_name, raw in _table(data.get("tasks", {}), f"{where}: tasks").items():
        task_where = f"{where}: [tasks.{task_name}]"
        table = _table(raw, task_where)
        if "contender_data" in table:
            raise OptionError(f"{task_where}: contender_data is replaced by overrides that give a reason: "
                              f"[[tasks.{task_name}.overrides]] with contender, setting = \"data.<option>\", "
                              f"value and reason")
        _expect_keys(table, {"thresholds", "betas", "rule", "data", "contenders", "protocol", "overrides",
                             "skip_if_missing", "curve_examples", "step_ms", "search", "lineup"}, task_where)
        curve_examples = table.get("curve_examples", DEFAULT_CURVE_EXAMPLES)
        if isinstance(curve_examples, bool) or not isinstance(curve_examples, int) or curve_examples < 1:
            raise OptionError(f"{task_where} curve_examples must be a positive integer, got {curve_examples!r}")
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
        settings = {**shared_settings, **parse_settings(table.get("protocol", {}), f"{task_where} protocol")}
        check_required(settings, f"{task_where} protocol")
        protocol = Protocol(settings, parse_overrides(table.get("overrides", []), settings,
                                                      f"{task_where} overrides"))
        skip_if_missing = table.get("skip_if_missing", False)
        if not isinstance(skip_if_missing, bool):
            raise OptionError(f"{task_where} skip_if_missing must be true or false, got {skip_if_missing!r}")
        step_ms = table.get("step_ms")
        if step_ms is not None and (isinstance(step_ms, bool) or not isinstance(step_ms, (int, float))
                                    or not 0 < step_ms < float("inf")):
            raise OptionError(f"{task_where} step_ms must be a finite number of milliseconds > 0, got {step_ms!r}")
        lineup = _lineup(table.get("lineup"), f"{task_where} lineup")
        configured = set(overrides) | {override.contender for override in protocol.overrides}
        outside = sorted(configured - set(lineup)) if lineup is not None else []
        if outside:
            raise OptionError(f"{task_where} configures {', '.join(outside)} (contenders table or overrides), "
                              f"not in its lineup {list(lineup)}: add them to the lineup or drop their settings")
        tasks[task_name] = TaskPlan(task_name, thresholds, betas, rule,
                                    dict(_table(table.get("data", {}), f"{task_where} data")), overrides,
                                    protocol, skip_if_missing, curve_examples,
                                    None if step_ms is None else float(step_ms), lineup)
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

    def check(name: str, registry: Registry[Any], kind: str, where: str) -> None:
        if name not in registry:
            raise OptionError(f"profile {profile.name}: {where} names unknown {kind} {name!r}; "
                              f"known {kind}s: {', '.join(sorted(registry))}")

    for contender_name in profile.contenders:
        check(contender_name, CONTENDERS, "contender", f"[contenders.{contender_name}]")
    for task_name, plan in profile.tasks.items():
        check(task_name, TASKS, "task", f"[tasks.{task_name}]")
        for contender_name in plan.contenders:
            check(contender_name, CONTENDERS, "contender", f"[tasks.{task_name}.contenders.{contender_name}]")
        for override in plan.protocol.overrides:
            check(override.contender, CONTENDERS, "contender", f"[[tasks.{task_name}.overrides]] ({override.setting})")
        for contender_name in plan.lineup or ():
            check(contender_name, CONTENDERS, "contender", f"[tasks.{task_name}] lineup")


def _read_table(name_or_path: str, relative_to: Path | None) -> tuple[dict[str, Any], str, Path | None]:
    """The TOML table of a built-in profile or a file, its source for messages, and its folder."""
    if name_or_path in BUILTIN_PROFILES:
        text = resources.files("bench.run.profiles").joinpath(f"{name_or_path}.toml").read_text(encoding="utf-8")
        source, folder = name_or_path, None
    else:
        path = Path(name_or_path)
        if relative_to is not None and not path.is_absolute():
            path = relative_to / path
        if not path.is_file():
            raise OptionError(
                f"unknown profile {name_or_path!r}: not a built-in profile ({', '.join(BUILTIN_PROFILES)}) "
                f"and no such file"
            )
        text = path.read_text(encoding="utf-8")
        source, folder = str(path), path.parent
    try:
        return tomllib.loads(text), source, folder
    except tomllib.TOMLDecodeError as error:
        raise OptionError(f"profile {source} is not valid TOML: {error}") from None


def merge_tables(base: dict[str, Any], extension: dict[str, Any]) -> dict[str, Any]:
    """``extension`` over ``base``: tables merged key by key, ``overrides`` arrays appended, other values replaced."""
    merged = dict(base)
    for key, value in extension.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_tables(merged[key], value)
        elif key == "overrides" and isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = [*merged[key], *value]
        else:
            merged[key] = value
    return merged


def _resolve_extends(name_or_path: str, relative_to: Path | None, chain: tuple[str, ...]) -> tuple[dict, str]:
    data, source, folder = _read_table(name_or_path, relative_to)
    if source in chain:
        raise OptionError(f"profile {source} extends itself: {' -> '.join((*chain, source))}")
    base = data.pop("extends", None)
    if base is None:
        return data, source
    if not isinstance(base, str) or not base:
        raise OptionError(f"profile {source}: extends must name a profile (a built-in name or a path), got {base!r}")
    base_data, _ = _resolve_extends(base, folder, (*chain, source))
    base_data.pop("name", None)
    base_data.pop("description", None)
    return merge_tables(base_data, data), source


def load_profile(name_or_path: str) -> Profile:
    """A built-in profile by name, or a profile TOML file by path (with its ``extends`` resolved)."""
    data, source = _resolve_extends(name_or_path, None, ())
    profile = parse_profile(data, source)
    check_profile_names(profile)
    return profile
