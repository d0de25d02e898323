"""Result records: one JSON object per line, one line per evaluated cell.

A record holds everything needed to redraw a figure without retraining: the
cell's identity (task, contender, seed, theta, beta, profile), its metrics,
its training cost, and its provenance (versions, hardware, revision, command).

Writes append. :func:`append_record` adds one line to the file, never rewriting it, and flushes it
to disk; a record's per-example arrays go first to a side file beside it
(:mod:`bench.core.per_example`). A run killed at any moment keeps every finished record: at worst
it leaves a torn last line, which readers leave out and the next append cuts off (the rule is in
:mod:`bench.core.jsonl`), and a side file no record names. :func:`read_records` refuses any other
malformed line.

Resume key. A record's key (:data:`KEY_FIELDS`) is its cell (task, contender,
seed, theta, beta, profile, rule) plus ``config_hash``, a stable hash of
everything else that decides the cell's outcome: the contender's full
``Config``, the task's data options and the data seed (see
:func:`config_hash`). ``--resume`` skips a cell only when a record with the same
key exists, so changing a hyperparameter or a data size in the profile reruns
the cells it affects instead of silently keeping the old results. Records
written before ``config_hash`` existed (schema 2 without the field) read fine
but never match a new key, so resuming into such a file reruns their cells.

Failed cells. A cell whose training diverges (NaN loss) or runs out of memory
gets no record here (a failed metric is never written, not even as 0); the
harness writes an *error record* (:data:`ERROR_FIELDS`) to ``errors.jsonl``
beside ``results.jsonl`` with :func:`append_error`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import per_example
from bench.core.jsonl import append_line, read_lines
from bench.core.record_schema import RECORD_FIELDS, Field, RecordError, RecordKey

SCHEMA_VERSION = 2

CELL_FIELDS = tuple(field.name for field in RECORD_FIELDS if field.kind == "cell")
"""Fields that name a cell (one point of the benchmark's grid): task, contender, seed, theta, beta,
profile, rule (:data:`bench.core.record_schema.RECORD_FIELDS`)."""

KEY_FIELDS = RecordKey._fields
"""Fields that identify a record: its cell plus the hash of its configuration (see
:func:`config_hash`); ``--resume`` skips cells whose key is already recorded. ``config_hash``
is optional when reading (older records lack it; their key holds None there)."""

TOP_LEVEL_FIELDS = frozenset(field.name for field in RECORD_FIELDS if field.top_level)
"""Every field a record may have at its top level; the writer refuses any other."""

REQUIRED_FIELDS = tuple(field.name for field in RECORD_FIELDS if field.required)
"""Fields every record has, from the schema."""

METRIC_FIELDS = tuple(field.name for field in RECORD_FIELDS if field.type == "metric" and field.required)
"""Metrics every record has: finite numbers or non-empty lists of them, never null."""

OPTIONAL_METRIC_FIELDS = tuple(field.name for field in RECORD_FIELDS if field.type == "metric" and not field.required)
"""Metrics that only some tasks define; checked like the others when present."""

PER_EXAMPLE_FIELD = "per_example"
"""Each test example's outcome (see :func:`bench.measure.metrics.per_example`): ``correct`` (0/1) and
``decision_step`` (steps read) lists of ``test_size`` ints and ``labels_sha256``. New records
always carry it, their arrays in a side file (:mod:`bench.core.per_example`); records written
before the side files hold the lists inline and read the same; records written before the field
existed read fine but cannot be paired (:mod:`bench.analysis.paired`)."""


def _check_per_example(value: Any, test_size: Any, n_steps: Any, metrics: dict[str, Any], where: str) -> None:
    """Raise :class:`RecordError` unless ``value`` is a well-formed ``per_example`` field whose means
    equal the record's ``accuracy`` and ``decision_step_mean`` (in ``metrics``)."""
    if not isinstance(value, dict):
        raise RecordError(f"{where}: {PER_EXAMPLE_FIELD} must be an object, got {type(value).__name__}")
    missing = [name for name in ("correct", "decision_step", "labels_sha256") if name not in value]
    if missing:
        raise RecordError(f"{where}: {PER_EXAMPLE_FIELD} lacks {', '.join(missing)}")
    if not isinstance(value["labels_sha256"], str) or len(value["labels_sha256"]) != 64:
        raise RecordError(f"{where}: {PER_EXAMPLE_FIELD}.labels_sha256 must be 64 hex digits")
    for name, low, high in (("correct", 0, 1), ("decision_step", 1, n_steps)):
        items = value[name]
        if not isinstance(items, list) or len(items) != test_size:
            count = len(items) if isinstance(items, list) else type(items).__name__
            raise RecordError(f"{where}: {PER_EXAMPLE_FIELD}.{name} must list test_size={test_size} values, "
                              f"got {count}")
        bad = next((i for i, item in enumerate(items)
                    if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high), None)
        if bad is not None:
            raise RecordError(f"{where}: {PER_EXAMPLE_FIELD}.{name}[{bad}] is {items[bad]!r}, "
                              f"not an integer in [{low}, {high}]")
    for name, metric in (("correct", "accuracy"), ("decision_step", "decision_step_mean")):
        mean = sum(value[name]) / test_size
        if not math.isclose(mean, metrics[metric], rel_tol=1e-9, abs_tol=1e-12):
            raise RecordError(f"{where}: the mean of {PER_EXAMPLE_FIELD}.{name} ({mean!r}) differs from "
                              f"{metric} ({metrics[metric]!r})")


HISTORY_FIELDS = ("epoch", "train_loss", "val_accuracy", "val_decision_step", "train_seconds",
                  "step_evaluations_forward")
"""The fields of each item of ``training.history`` (:class:`baselines.registry.EpochLog`); records
written before it existed have no history."""


def _check_history(value: Any, where: str) -> None:
    """Raise :class:`RecordError` unless ``value`` lists one well-formed epoch log per epoch, in order."""
    if not isinstance(value, list):
        raise RecordError(f"{where}: training.history must be a list, got {type(value).__name__}")
    for i, item in enumerate(value):
        item_where = f"{where}: training.history[{i}]"
        if not isinstance(item, dict):
            raise RecordError(f"{item_where} must be an object, got {type(item).__name__}")
        missing = [name for name in HISTORY_FIELDS if name not in item]
        if missing:
            raise RecordError(f"{item_where} lacks {', '.join(missing)}")
        for name in HISTORY_FIELDS:
            _check_metric(item[name], name, item_where)
        if item["epoch"] != i + 1:
            raise RecordError(f"{item_where}.epoch is {item['epoch']!r}, expected {i + 1} (epochs in order from 1)")


LEARNING_CURVE_FIELD = "learning_curve"
"""The contender on the first ``examples`` test examples at each learning-curve snapshot
(:mod:`baselines.learning_curve`): ``points``, each with ``grid_index``, ``training_macs``,
``epoch``, ``train_seconds``, ``accuracy``, ``decision_step_mean`` and ``correct`` (the
examples' 0/1 outcomes, :func:`pack_bits`). Absent for contenders without snapshots."""

CURVE_POINT_FIELDS = ("grid_index", "training_macs", "epoch", "train_seconds", "accuracy", "decision_step_mean",
                      "correct")


def pack_bits(bits: Sequence[int]) -> str:
    """0/1 values as base64 text, 8 to a byte, first value in the highest bit (:func:`unpack_bits`)."""
    return base64.b64encode(bytes(np.packbits(np.asarray(bits, dtype=np.uint8)))).decode("ascii")


def unpack_bits(text: str, count: int) -> list[int]:
    """The ``count`` 0/1 values that :func:`pack_bits` wrote."""
    packed = np.frombuffer(base64.b64decode(text.encode("ascii"), validate=True), dtype=np.uint8)
    if len(packed) != -(-count // 8):
        raise RecordError(f"packed bits hold {len(packed) * 8} values, not {count}")
    return np.unpackbits(packed)[:count].astype(int).tolist()


def _check_learning_curve(value: Any, where: str) -> None:
    if not isinstance(value, dict) or set(value) != {"examples", "points"}:
        raise RecordError(f"{where}: {LEARNING_CURVE_FIELD} must be a table with examples and points")
    examples = value["examples"]
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise RecordError(f"{where}: {LEARNING_CURVE_FIELD}.examples must be a positive integer, got {examples!r}")
    if not isinstance(value["points"], list):
        raise RecordError(f"{where}: {LEARNING_CURVE_FIELD}.points must be a list")
    last = None
    for number, point in enumerate(value["points"]):
        point_where = f"{where}: {LEARNING_CURVE_FIELD}.points[{number}]"
        if not isinstance(point, dict) or set(point) != set(CURVE_POINT_FIELDS):
            raise RecordError(f"{point_where} must have exactly {', '.join(CURVE_POINT_FIELDS)}")
        if last is not None and not point["grid_index"] > last:
            raise RecordError(f"{point_where}: grid_index must increase from point to point")
        last = point["grid_index"]
        try:
            correct = unpack_bits(point["correct"], examples)
        except (ValueError, TypeError, AttributeError) as error:
            raise RecordError(f"{point_where}.correct is not {examples} packed bits: {error}") from None
        if not math.isclose(sum(correct) / examples, point["accuracy"], rel_tol=1e-9, abs_tol=1e-12):
            raise RecordError(f"{point_where}: accuracy {point['accuracy']!r} differs from the mean of its "
                              f"correct bits ({sum(correct) / examples!r})")


PROTOCOL_FIELD = "protocol"
"""What the cell's contender shared with the others on its task (:mod:`bench.run.protocol`):
``settings`` (the shared values) and ``overrides`` (``setting``, ``value``, ``reason`` each).
Records written before the protocol existed have none; reports say so."""


def _check_protocol(value: Any, where: str) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("settings"), dict) \
            or not isinstance(value.get("overrides"), list):
        raise RecordError(f"{where}: protocol must be a table with settings (a table) and overrides (a list)")
    for override in value["overrides"]:
        if not isinstance(override, dict) or set(override) != {"setting", "value", "reason"} \
                or not isinstance(override["reason"], str) or not override["reason"].strip():
            raise RecordError(f"{where}: each protocol override needs setting, value and a non-empty reason, "
                              f"got {override!r}")


STREAMING_FIELD = "streaming"
"""The streaming time to decision (:mod:`bench.measure.streaming` defines every value): ``step_ms``
(> 0), ``step_ms_from`` (``task`` or ``profile``), ``step_compute_ms`` (> 0), ``compute_examples``
(a positive integer), and for ``early_exit`` and ``full_sequence`` each ``steps_read`` and
``time_to_decision_ms``, each ``p50``, ``p90``, ``p99``: positive, finite, in that order, steps read
within [1, n_steps] (all T for ``full_sequence``), and each time ``k max(dt, c) + min(dt, c)`` of
its steps ``k``. Records written before it existed have none."""

STREAMING_MODES = ("early_exit", "full_sequence")
STREAMING_PERCENTILES = ("p50", "p90", "p99")


def _check_streaming(value: Any, n_steps: Any, where: str) -> None:
    """Raise :class:`RecordError` unless ``value`` is a well-formed ``streaming`` field (see :data:`STREAMING_FIELD`)."""
    where = f"{where}: {STREAMING_FIELD}"
    expected = {"step_ms", "step_ms_from", "step_compute_ms", "compute_examples", *STREAMING_MODES}
    if not isinstance(value, dict) or set(value) != expected:
        raise RecordError(f"{where} must be a table with exactly {', '.join(sorted(expected))}")

    def positive(number: Any, name: str) -> float:
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 < number < math.inf:
            raise RecordError(f"{where}.{name} must be a finite number > 0, got {number!r}")
        return float(number)

    step_ms, compute_ms = positive(value["step_ms"], "step_ms"), positive(value["step_compute_ms"], "step_compute_ms")
    if value["step_ms_from"] not in ("task", "profile"):
        raise RecordError(f"{where}.step_ms_from must be 'task' or 'profile', got {value['step_ms_from']!r}")
    examples = value["compute_examples"]
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise RecordError(f"{where}.compute_examples must be a positive integer, got {examples!r}")
    for mode in STREAMING_MODES:
        table = value[mode]
        if not isinstance(table, dict) or set(table) != {"steps_read", "time_to_decision_ms"}:
            raise RecordError(f"{where}.{mode} must be a table with exactly steps_read and time_to_decision_ms")
        found = {}
        for quantity in ("steps_read", "time_to_decision_ms"):
            points = table[quantity]
            name = f"{mode}.{quantity}"
            if not isinstance(points, dict) or set(points) != set(STREAMING_PERCENTILES):
                raise RecordError(f"{where}.{name} must be a table with exactly {', '.join(STREAMING_PERCENTILES)}")
            numbers = [positive(points[p], f"{name}.{p}") for p in STREAMING_PERCENTILES]
            if not numbers[0] <= numbers[1] <= numbers[2]:
                raise RecordError(f"{where}.{name} must have p50 <= p90 <= p99, got {numbers}")
            found[quantity] = numbers
        steps = found["steps_read"]
        if isinstance(n_steps, int) and not (1 <= steps[0] and steps[2] <= n_steps):
            raise RecordError(f"{where}.{mode}.steps_read must lie in [1, n_steps={n_steps}], got {steps}")
        if mode == "full_sequence" and isinstance(n_steps, int) and steps != [n_steps] * 3:
            raise RecordError(f"{where}.full_sequence.steps_read must be n_steps={n_steps} throughout, got {steps}")
        for k, milliseconds, p in zip(steps, found["time_to_decision_ms"], STREAMING_PERCENTILES):
            expected_ms = k * max(step_ms, compute_ms) + min(step_ms, compute_ms)
            if not math.isclose(milliseconds, expected_ms, rel_tol=1e-9):
                raise RecordError(f"{where}.{mode}.time_to_decision_ms.{p} is {milliseconds!r}, not {expected_ms!r} "
                                  f"(steps read x max(step_ms, step_compute_ms) + min of the two)")


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


def _values_at(record: dict[str, Any], dotted: str) -> list[tuple[str, Any]]:
    """``(path, value)`` of every value the dotted field name reaches in ``record``: through objects by
    name and through lists of objects item by item (``training.history.epoch`` reaches each entry's)."""
    found = [("", record)]
    for part in dotted.split("."):
        reached = []
        for path, value in found:
            items = enumerate(value) if isinstance(value, list) else [(None, value)]
            for index, item in items:
                if isinstance(item, dict) and part in item:
                    inner = path if index is None else f"{path}[{index}]"
                    reached.append((f"{inner}.{part}" if inner else part, item[part]))
        found = reached
    return found


def _check_type(record: dict[str, Any], field: Field, where: str) -> None:
    """Raise :class:`RecordError` where ``field`` is present in ``record`` with another type than the schema's."""
    for path, value in _values_at(record, field.name):
        if not field.accepts(value):
            raise RecordError(f"{where}: {path} must be {field.type_text()}, got {value!r:.60}")


def _check_per_example_field(record: dict[str, Any], where: str, folder: Path | None) -> None:
    """Check ``record``'s ``per_example``: inline lists in full; a side-file reference by its names and
    its file's presence in ``folder`` (its content is checked when loaded); a loaded one not again."""
    value = record[PER_EXAMPLE_FIELD]
    if isinstance(value, per_example.PerExample):
        return
    if not per_example.is_reference(value):
        _check_per_example(value, record["test_size"], record["n_steps"], record, where)
        return
    if folder is None:
        raise RecordError(f"{where}: {PER_EXAMPLE_FIELD} refers to a side file, but no records file is given")
    problem = per_example.check_reference(value, folder)
    if problem is not None:
        raise RecordError(f"{where}: {PER_EXAMPLE_FIELD}: {problem}")


def validate_record(record: dict[str, Any], where: str = "record", folder: Path | None = None) -> None:
    """Raise :class:`RecordError` if ``record`` lacks a field, is of another schema, or holds
    a null, non-numeric or non-finite metric, or a non-finite number anywhere. ``folder`` is the
    records file's folder, where a side-file ``per_example`` is looked for."""
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
    if isinstance(record["training"], dict) and "history" in record["training"]:
        _check_history(record["training"]["history"], where)
    if PER_EXAMPLE_FIELD in record:
        _check_per_example_field(record, where, folder)
    if PROTOCOL_FIELD in record:
        _check_protocol(record[PROTOCOL_FIELD], where)
    if LEARNING_CURVE_FIELD in record:
        _check_learning_curve(record[LEARNING_CURVE_FIELD], where)
    if STREAMING_FIELD in record:
        _check_streaming(record[STREAMING_FIELD], record["n_steps"], where)
    if "config_hash" in record and not isinstance(record["config_hash"], str):
        raise RecordError(f"{where}: config_hash must be a string, got {record['config_hash']!r}")
    for field in RECORD_FIELDS:  # after the checks above, whose messages say more about their fields
        if field.type != "metric":
            _check_type(record, field, where)
    _check_finite(record, where)


def config_hash(config: dict[str, Any], data_options: dict[str, Any], data_seed: int) -> str:
    """A stable hash (16 hex digits of SHA-256) of a cell's configuration.

    It covers the contender's full ``Config`` (as a dict, beta included), the
    task's data options (sizes, encoding, paths) and the data seed: the hash of
    the canonical JSON ``{"config": ..., "data_options": ..., "data_seed": ...}``
    with sorted keys. Records store all three (``config``, ``data_options``,
    ``data_seed``), so the hash can be recomputed from a record alone.
    """
    payload = {"config": config, "data_options": data_options, "data_seed": data_seed}
    text = json.dumps(payload, sort_keys=True, allow_nan=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def record_key(record: dict[str, Any]) -> RecordKey:
    """The identity of a record: its cell and its ``config_hash`` (None when the record has none)."""
    return RecordKey(*(record.get(name) for name in KEY_FIELDS))


def stale_temporaries(path: Path) -> list[Path]:
    """Temporary files that a process killed while writing left beside ``path``: side files not yet
    renamed into place (``per_example/.*.tmp``) and those of the whole-file rewrite rcbench used before
    appending (``.<name>.*.tmp``). None holds a record that ``path`` lacks."""
    if not path.parent.is_dir():
        return []
    return sorted([*path.parent.glob(f".{path.name}.*.tmp"),
                   *(path.parent / per_example.PER_EXAMPLE_DIR).glob(".*.tmp")])


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete :func:`stale_temporaries` of ``path`` and return them. Call it only while no other
    process writes ``path`` (a run starting or resuming)."""
    stale = stale_temporaries(path)
    for temporary in stale:
        temporary.unlink(missing_ok=True)
    return stale


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Validate ``record`` against the schema (every top-level field declared in
    :data:`bench.core.record_schema.RECORD_FIELDS`, required ones present, types and metrics
    checked) and append it as one line to the JSON-lines file ``path`` (created if missing),
    its per-example arrays first written to their side file (see the module docstring)."""
    undeclared = sorted(set(record) - TOP_LEVEL_FIELDS)
    if undeclared:
        raise RecordError(f"record: field(s) {', '.join(undeclared)} not declared in the record schema "
                          f"(bench/core/record_schema.py RECORD_FIELDS)")
    validate_record(record, folder=path.parent)
    value = record.get(PER_EXAMPLE_FIELD)
    if isinstance(value, per_example.PerExample) and value.path.parent == path.parent / per_example.PER_EXAMPLE_DIR:
        record = {**record, PER_EXAMPLE_FIELD: value.reference}
    elif isinstance(value, per_example.PerExample):  # read from another folder: its side file is not here
        record = {**record, PER_EXAMPLE_FIELD: per_example.store(path.parent, dict(value))}
    elif value is not None and not per_example.is_reference(value):
        record = {**record, PER_EXAMPLE_FIELD: per_example.store(path.parent, value)}
    append_line(path, json.dumps(record, sort_keys=True, allow_nan=False) + "\n")


ERROR_SCHEMA_VERSION = 1

ERROR_FIELDS = (
    "error_schema_version", *KEY_FIELDS, "error_kind", "error_type", "message", "phase",
    "config", "data_options", "data_seed", "versions", "hardware", "git_revision", "command", "created",
)
"""Fields of an error record in ``errors.jsonl``: the failed cell's key, what went wrong
(``error_kind``: ``training-diverged`` or ``out-of-memory``; ``error_type``: the exception class;
``message``: the message printed; ``phase``: ``training`` or ``evaluation``), its configuration
and the run's provenance. An error record holds no metric."""


def append_error(path: Path, error: dict[str, Any]) -> None:
    """Check ``error`` (every field of :data:`ERROR_FIELDS`, no metric) and append it atomically."""
    missing = [name for name in ERROR_FIELDS if name not in error]
    if missing:
        raise RecordError(f"error record: missing field(s) {', '.join(missing)}")
    metrics = [name for name in (*METRIC_FIELDS, *OPTIONAL_METRIC_FIELDS) if name in error]
    if metrics:
        raise RecordError(f"error record: holds metric(s) {', '.join(metrics)}; a failed cell has no metrics")
    append_line(path, json.dumps(error, sort_keys=True, allow_nan=False, default=str) + "\n")


def read_errors(path: Path) -> list[dict[str, Any]]:
    """Every error record of ``path`` (an ``errors.jsonl``); errors name the file and line."""
    errors = []
    for number, line in read_lines(path):
        try:
            errors.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise RecordError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    return errors


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of ``path``, validated; errors name the file and line. A side-file ``per_example``
    becomes a :class:`bench.core.per_example.PerExample`, loaded on first use; a torn last line is
    left out (:mod:`bench.core.jsonl`)."""
    if not path.is_file():
        raise RecordError(f"no records file at {path}")
    records = []
    for number, line in read_lines(path):
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise RecordError(f"{where}: not valid JSON ({error.msg})") from None
        validate_record(record, where, path.parent)
        if per_example.is_reference(record.get(PER_EXAMPLE_FIELD)):
            record[PER_EXAMPLE_FIELD] = per_example.PerExample(
                path.parent, record[PER_EXAMPLE_FIELD], _arrays_check(record, where))
        records.append(record)
    return records


def _arrays_check(record: dict[str, Any], where: str) -> Callable[[dict[str, Any]], None]:
    """The check of ``record``'s per-example arrays once loaded from their side file."""
    return lambda value: _check_per_example(value, record["test_size"], record["n_steps"], record, where)


def recorded_keys(records: Iterable[dict[str, Any]]) -> set[RecordKey]:
    """The cell keys of ``records``."""
    return {record_key(record) for record in records}
