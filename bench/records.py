"""Result records: one JSON object per line, one line per evaluated cell.

A record holds everything needed to redraw a figure without retraining: the
cell's identity (task, contender, seed, theta, beta, profile), its metrics,
its training cost, and its provenance (versions, hardware, revision, command).
Each line is written with a single ``write`` call and flushed to disk, so an
interrupted run keeps every finished cell.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2

KEY_FIELDS = ("task", "contender", "seed", "theta", "beta", "profile", "rule")
"""Fields that identify a cell; ``--resume`` skips cells whose key is already recorded."""

METRIC_FIELDS = (
    "accuracy",
    "accuracy_by_step",
    "first_step_accuracy",
    "last_step_accuracy",
    "decision_step_mean",
    "decision_step_median",
    "decision_step_p90",
    "never_crossed_fraction",
    "inference_step_evaluations",
    "ops_dense_macs",
    "ops_effective_macs",
    "ops_effective_acs",
    "ops_dense_macs_full_sequence",
)

REQUIRED_FIELDS = (
    "schema_version", *KEY_FIELDS, *METRIC_FIELDS, "n_steps", "test_size", "training",
    "config", "data_source", "versions", "hardware", "git_revision", "command", "created",
)


class RecordError(ValueError):
    """A record or records file is malformed, incomplete or of another schema."""


OPTIONAL_METRIC_FIELDS = ("decision_lag_mean",)
"""Metrics that only some tasks define; checked like the others when present."""


def _check_finite(value: Any, where: str) -> None:
    """Raise :class:`RecordError` for a NaN or infinite float anywhere inside ``value``."""
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError(f"{where} is {value}, not a finite number")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, f"{where}[{i}]")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}")


def _check_metric(value: Any, name: str, where: str) -> None:
    """A metric is a finite number or a non-empty list of finite numbers."""
    items = value if isinstance(value, list) and value else [value]
    for i, item in enumerate(items):
        label = f"{name}[{i}]" if isinstance(value, list) else name
        if item is None:
            raise RecordError(f"{where}: metric {label} is null (a failed metric is never recorded)")
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise RecordError(f"{where}: metric {label} must be a number, got {item!r}")
    _check_finite(value, f"{where}: {name}")


def validate_record(record: dict[str, Any], where: str = "record") -> None:
    """Raise :class:`RecordError` if ``record`` lacks a field, is of another schema, or holds
    a null, non-numeric or non-finite metric, or a non-finite number anywhere."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordError(
            f"{where}: schema_version is {version!r}, this rcbench reads version {SCHEMA_VERSION}; "
            f"the file was written by another tool or another rcbench version"
        )
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if missing:
        raise RecordError(f"{where}: missing field(s) {', '.join(missing)}")
    for name in (*METRIC_FIELDS, *(field for field in OPTIONAL_METRIC_FIELDS if field in record)):
        _check_metric(record[name], name, where)
    _check_finite(record, where)


def record_key(record: dict[str, Any]) -> tuple:
    """The identity of the cell a record belongs to."""
    return tuple(record[name] for name in KEY_FIELDS)


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Validate ``record`` and append it to the JSON-lines file ``path`` (created if missing)."""
    validate_record(record)
    line = json.dumps(record, sort_keys=True, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of ``path``, validated; errors name the file and line."""
    if not path.is_file():
        raise RecordError(f"no records file at {path}")
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise RecordError(f"{where}: not valid JSON ({error.msg})") from None
            validate_record(record, where)
            records.append(record)
    return records


def recorded_keys(records: Iterable[dict[str, Any]]) -> set[tuple]:
    """The cell keys of ``records``."""
    return {record_key(record) for record in records}
