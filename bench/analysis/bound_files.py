"""Reading the information-bound files that ``rcbench bound`` writes (``bound-*.json``).

A bound file holds, for one task and encoding, the test accuracy of a static
reference classifier trained on the cumulative input of the first t steps
(:mod:`bench.measure.bound`): what any model could know at step t. ``rcbench
figures --bounds FILE ...`` draws these beside the contenders' accuracy over
time and lists them in ``REPORT.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class BoundFileError(ValueError):
    """A bound file is missing, unreadable or lacks a field."""


@dataclass(frozen=True)
class BoundPoint:
    """The bound at step ``t`` (1-based steps read): test accuracy in [0, 1] and mean pixels spiked by t."""

    t: int
    test_accuracy: float
    mean_pixels: float


@dataclass(frozen=True)
class InformationBound:
    """One bound file: its task, encoding and reference classifier, and its points in step order."""

    task: str
    encoding: str
    reference: str
    points: tuple[BoundPoint, ...]
    source: Path

    @property
    def label(self) -> str:
        """E.g. ``bound (cnn, encoding normalized)``."""
        return f"bound ({self.reference}, encoding {self.encoding})"


def _field(mapping: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in mapping:
        raise BoundFileError(f"{where}: missing field {name!r}")
    value = mapping[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise BoundFileError(f"{where}: field {name!r} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def read_bound(path: Path) -> InformationBound:
    """Read a ``bound-*.json`` file written by ``rcbench bound``.

    Files written before the ``reference`` setting existed hold the MLP reference.

    Raises:
        BoundFileError: the file is missing or not JSON, or a field is missing or of the wrong type,
            or an accuracy lies outside [0, 1], or the steps are not increasing.
    """
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BoundFileError(f"bound file {path} does not exist (rcbench bound writes bound-*.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BoundFileError(f"bound file {path} cannot be read as JSON: {error}") from None
    if not isinstance(payload, dict):
        raise BoundFileError(f"bound file {path}: expected a JSON object, got {type(payload).__name__}")
    settings = _field(payload, "settings", dict, f"bound file {path}")
    rows = _field(payload, "rows", list, f"bound file {path}")
    where = f"bound file {path}, settings"
    task, encoding = _field(settings, "task", str, where), _field(settings, "encoding", str, where)
    reference = _field(settings, "reference", str, where) if "reference" in settings else "mlp"
    points = []
    for index, row in enumerate(rows):
        where = f"bound file {path}, row {index}"
        if not isinstance(row, dict):
            raise BoundFileError(f"{where}: expected an object, got {row!r}")
        point = BoundPoint(_field(row, "t", int, where), float(_field(row, "test_accuracy", (int, float), where)),
                           float(_field(row, "mean_pixels", (int, float), where)))
        if point.t < 1:
            raise BoundFileError(f"{where}: t counts steps read and must be >= 1, got {point.t}")
        if not 0 <= point.test_accuracy <= 1:
            raise BoundFileError(f"{where}: test_accuracy must lie in [0, 1], got {point.test_accuracy!r}")
        if points and point.t <= points[-1].t:
            raise BoundFileError(f"{where}: steps must increase, got t={point.t} after t={points[-1].t}")
        points.append(point)
    if not points:
        raise BoundFileError(f"bound file {path} has no rows")
    return InformationBound(task, encoding, reference, tuple(points), path)
