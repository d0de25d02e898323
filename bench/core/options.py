"""Typed option dataclasses built from plain mappings (profile files, command lines).

Tasks and contenders declare their options as frozen dataclasses; this module
turns a mapping such as a TOML table into one, with errors that name the
offending key, its expected type and where it came from.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class OptionError(ValueError):
    """An option is unknown, of the wrong type, or out of range."""


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if annotation in (int, float, str, bool):
        if isinstance(value, bool) and annotation is not bool:
            raise OptionError(f"{where} must be {annotation.__name__}, got {value!r}")
        if not isinstance(value, annotation):
            raise OptionError(f"{where} must be {annotation.__name__}, got {value!r}")
        if annotation is float and not math.isfinite(value):
            raise OptionError(f"{where} must be finite, got {value!r}")
        return value
    return value  # other annotations (e.g. ``int | None``) are checked by the dataclass itself


def build_options(cls: type[T], values: Mapping[str, Any], where: str) -> T:
    """Build the dataclass ``cls`` from ``values``, checking names and types.

    Args:
        cls: a dataclass whose fields all have defaults.
        values: option names to values; missing ones keep their defaults.
        where: a label for error messages, e.g. ``"profile quick, task toy-noise"``.

    Raises:
        OptionError: for an unknown option, a wrong type, or whatever the
            dataclass's own ``__post_init__`` check rejects.
    """
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise OptionError(
            f"{where}: unknown option(s) {', '.join(unknown)}; known options: {', '.join(sorted(known))}"
        )
    kwargs = {name: _coerce(value, hints[name], f"{where}: option {name!r}") for name, value in values.items()}
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as error:
        raise OptionError(f"{where}: {error}") from None


def require_positive(**values: float) -> None:
    """Raise ``ValueError`` naming the first value that is not > 0."""
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
