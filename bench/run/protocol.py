"""The comparison protocol: what every contender on a task shares, and the declared exceptions.

A profile states, per task, the settings every contender gets (the training
budget, the front end, the augmentation; the input encoding is the task's data
options, which every contender reads alike)::

    [protocol]                      # every task
    epochs = 20
    lr_schedule = "cosine"
    selection = "last-epoch"

    [tasks.mnist-temporal.protocol] # this task, over [protocol]
    epochs = 10
    encoder = "conv"
    augment_shift = 2

    [[tasks.mnist-temporal.overrides]]
    contender = "snn-ttfs"
    setting = "encoder"             # a protocol setting, or "data.<option>" for the input
    reason = "snn-ttfs has no convolutional front end"   # required, never empty
    # value = ...                   # the contender's own value; left out when it has no such setting

Rules (checked before anything is trained, each error naming the task, contender and setting):

- every task's protocol sets :data:`REQUIRED_SETTINGS`;
- a protocol setting reaches every contender that has it, built-in or plug-in;
- a contender whose own values (``[contenders.X]``, ``[tasks.T.contenders.X]``) set a
  protocol setting to another value, or which lacks a protocol setting, is refused
  unless an override with a reason says so;
- an override names a protocol setting or a data option, and carries a reason.

Every record carries the protocol its cell ran under (:meth:`Protocol.record`), so a
report can list each row's budget and flag every row that ran under an override.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.core.options import OptionError

REQUIRED_SETTINGS = ("epochs", "lr_schedule", "selection")
"""The training budget: every task's protocol must fix these for all contenders."""

DATA_PREFIX = "data."
"""An override of ``data.<option>`` gives one contender another value of the task's data option."""


@dataclass(frozen=True)
class Override:
    """A declared exception to the protocol for one contender.

    Attributes:
        contender: the contender's registered name.
        setting: a protocol setting, or ``data.<option>``.
        value: the contender's own value; ``None`` when ``has_value`` is false (the
            contender has no such setting).
        reason: why the contender cannot share the protocol's value.
    """

    contender: str
    setting: str
    value: Any
    reason: str
    has_value: bool = True

    def as_record(self) -> dict[str, Any]:
        return {"setting": self.setting, "value": self.value if self.has_value else None, "reason": self.reason}


@dataclass(frozen=True)
class Protocol:
    """What every contender shares on one task (``settings``) and the declared exceptions (``overrides``)."""

    settings: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[Override, ...] = ()

    def overrides_for(self, contender: str) -> list[Override]:
        return [override for override in self.overrides if override.contender == contender]

    def data_overrides(self, contender: str) -> dict[str, Any]:
        """The data options ``contender`` reads differently from the task's (``data.<option>`` overrides)."""
        return {override.setting[len(DATA_PREFIX):]: override.value
                for override in self.overrides_for(contender) if override.setting.startswith(DATA_PREFIX)}

    def record(self, contender: str) -> dict[str, Any]:
        """The ``protocol`` field of a record of ``contender``: the shared settings and its overrides."""
        return {"settings": dict(self.settings),
                "overrides": [override.as_record() for override in self.overrides_for(contender)]}

    def apply(self, contender: str, fields: Collection[str], values: Mapping[str, Any], where: str) -> dict[str, Any]:
        """``values`` (the contender's own, from the profile) with the protocol applied.

        Args:
            contender: the contender's name.
            fields: the hyperparameters the contender has (its ``Config`` fields).
            values: the contender's own values from the profile.
            where: the profile and task, for messages.

        Raises:
            OptionError: a protocol setting the contender lacks or sets otherwise without an
                override; an override of a setting the contender does not have.
        """
        declared = {override.setting: override for override in self.overrides_for(contender)}
        resolved = dict(values)
        for setting, shared in self.settings.items():
            override = declared.get(setting)
            if override is not None:
                if override.has_value:
                    if setting not in fields:
                        raise OptionError(f"{where}: the override of {setting!r} for {contender} gives a value, "
                                          f"but {contender} has no setting {setting!r}; leave the value out")
                    resolved[setting] = override.value
                continue
            if setting not in fields:
                raise OptionError(
                    f"{where}: the protocol sets {setting} = {shared!r} for every contender, but {contender} has "
                    f"no setting {setting!r}; add [[overrides]] with contender = {contender!r}, "
                    f"setting = {setting!r} and a reason")
            if setting in values and values[setting] != shared:
                raise OptionError(
                    f"{where}: {contender} sets {setting} = {values[setting]!r} but the protocol gives every "
                    f"contender {setting} = {shared!r}; remove it, or declare an override with a reason")
            resolved[setting] = shared
        return resolved


def parse_settings(table: Any, where: str) -> dict[str, Any]:
    """A ``[protocol]`` table: setting names to values (no sub-tables)."""
    if not isinstance(table, dict):
        raise OptionError(f"{where} must be a table, got {table!r}")
    for name, value in table.items():
        if isinstance(value, dict):
            raise OptionError(f"{where}: {name} must be a value, not a table")
        if name.startswith(DATA_PREFIX):
            raise OptionError(f"{where}: {name}: the task's data options are shared already; set them in its "
                              f"[tasks.<task>.data] table")
    return dict(table)


def parse_overrides(items: Any, settings: Mapping[str, Any], where: str) -> tuple[Override, ...]:
    """``[[tasks.<task>.overrides]]``: each names a contender, a protocol setting or data option, and a reason."""
    if not isinstance(items, list):
        raise OptionError(f"{where} must be an array of tables ([[...overrides]]), got {items!r}")
    overrides, seen = [], set()
    for number, item in enumerate(items, 1):
        item_where = f"{where} #{number}"
        if not isinstance(item, dict):
            raise OptionError(f"{item_where} must be a table, got {item!r}")
        unknown = sorted(set(item) - {"contender", "setting", "value", "reason"})
        if unknown:
            raise OptionError(f"{item_where}: unknown key(s) {', '.join(unknown)}; "
                              f"allowed: contender, reason, setting, value")
        for key in ("contender", "setting"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise OptionError(f"{item_where}: {key} must be a non-empty string, got {item.get(key)!r}")
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise OptionError(f"{item_where} ({item['contender']}, {item['setting']}): an override needs a "
                              f"reason (a non-empty string); the report prints it beside the row")
        setting = item["setting"]
        if not setting.startswith(DATA_PREFIX) and setting not in settings:
            raise OptionError(
                f"{item_where}: {setting!r} is not a protocol setting of this task "
                f"({', '.join(sorted(settings)) or 'none'}) nor a data option (data.<option>); a contender's "
                f"own hyperparameters go in [tasks.<task>.contenders.{item['contender']}]")
        if setting.startswith(DATA_PREFIX) and "value" not in item:
            raise OptionError(f"{item_where}: the override of {setting} for {item['contender']} needs a value")
        key = (item["contender"], setting)
        if key in seen:
            raise OptionError(f"{item_where}: a second override of {setting} for {item['contender']}")
        seen.add(key)
        overrides.append(Override(item["contender"], setting, item.get("value"), reason.strip(), "value" in item))
    return tuple(overrides)


def check_required(settings: Mapping[str, Any], where: str) -> None:
    """Raise :class:`OptionError` naming the budget settings a task's protocol leaves unset."""
    missing = [name for name in REQUIRED_SETTINGS if name not in settings]
    if missing:
        raise OptionError(f"{where}: the protocol must give every contender the same training budget; "
                          f"set {', '.join(missing)} in [protocol] or [tasks.<task>.protocol]")
