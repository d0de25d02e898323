"""The record schema: every field of a record (``results.jsonl``) and of an error record
(``errors.jsonl``), with its JSON type and its one-line description.

:data:`RECORD_FIELDS` is the one list the rest reads: the writer (:func:`bench.core.records.append_record`
refuses a top-level field not declared here), the validator (:func:`bench.core.records.validate_record`
checks required fields and types from it), the report code (:class:`RecordKey` and :class:`GroupKey`
name the fields of the keys records are grouped by) and the generated reference page
(``tools/reference_docs.py`` writes ``docs/reference/records.md`` from it). Nested fields are named
with dots (``training.epochs``); a field inside a list of objects is named through the list
(``training.history.epoch`` is each history entry's ``epoch``).

Types are JSON's: ``integer`` (an int, not a bool), ``number`` (an int or a float), ``string``,
``object``, ``list``, ``metric`` (a finite number or a non-empty list of them) and ``any`` (null included).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

class RecordError(ValueError):
    """A record or records file is malformed, incomplete or of another schema."""


JSON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,), "number": (int, float), "string": (str,), "object": (Mapping,), "list": (list,),
    "metric": (int, float, list), "any": (object,),
}
"""Type name -> the Python types a parsed JSON value of it may have (``bool`` never counts as a number;
an object may be a read-only mapping, such as a side-file ``per_example``)."""


@dataclass(frozen=True)
class Field:
    """One record field.

    Attributes:
        name: the field's name, dotted below the top level (``training.epochs``).
        type: its JSON type, a key of :data:`JSON_TYPES`.
        description: one line for the reference page.
        required: whether every record must have it (top-level fields only; a nested field is
            checked when its parent is present).
        nullable: whether it may be null.
        kind: ``cell`` for the fields that name a cell, ``key`` for the rest of the resume key,
            else empty.
    """

    name: str
    type: str
    description: str
    required: bool = False
    nullable: bool = False
    kind: str = ""

    def __post_init__(self) -> None:
        if self.type not in JSON_TYPES:
            raise ValueError(f"record field {self.name!r}: unknown type {self.type!r}")

    @property
    def top_level(self) -> bool:
        """Whether the field sits at the top of a record (no dot in its name)."""
        return "." not in self.name

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` (parsed JSON) has this field's type (null only when nullable)."""
        if self.type == "any":
            return True
        if value is None:
            return self.nullable
        if isinstance(value, bool):
            return False
        return isinstance(value, JSON_TYPES[self.type])

    def type_text(self) -> str:
        """The type as the reference page prints it: ``number or null``."""
        return f"{self.type} or null" if self.nullable else self.type


RECORD_FIELDS: tuple[Field, ...] = (
    Field('schema_version', 'integer', 'record layout version; a reader refuses any other', required=True),
    Field('task', 'string', "the task's registered name", required=True, kind='cell'),
    Field('contender', 'string', "the contender's registered name", required=True, kind='cell'),
    Field('seed', 'integer', 'model seed: weight initialisation and minibatch order', required=True, kind='cell'),
    Field('theta', 'number',
          'threshold of the crossing rule; null for a contender with its own rule (`snn-ttfs`)',
          required=True, nullable=True, kind='cell'),
    Field('beta', 'number',
          'RC entropy weight; null for contenders without one', required=True, nullable=True, kind='cell'),
    Field('profile', 'string', 'name of the profile the cell ran under', required=True, kind='cell'),
    Field('rule', 'string', 'crossing rule (`rc/crossing.py`)', required=True, kind='cell'),
    Field('accuracy', 'metric',
          "test accuracy at each example's decision (first crossing, else the last step)", required=True),
    Field('accuracy_by_step', 'metric',
          'T values: test accuracy of the prediction at step t = 1..T, whether or not it crossed', required=True),
    Field('first_step_accuracy', 'metric', 'first entry of `accuracy_by_step`', required=True),
    Field('last_step_accuracy', 'metric', 'last entry of `accuracy_by_step`', required=True),
    Field('decision_step_mean', 'metric',
          'mean steps read at the decision (1-based: a decision at step t read t inputs)', required=True),
    Field('decision_step_median', 'metric', 'median steps read at the decision', required=True),
    Field('decision_step_p90', 'metric',
          '90th percentile of the steps read at the decision', required=True),
    Field('never_crossed_fraction', 'metric',
          'share of test examples whose output never crossed (decided at the last step)', required=True),
    Field('inference_step_evaluations', 'metric',
          'recurrent step evaluations (one example, one step) that early-exit inference computed on the '
          'test set', required=True),
    Field('ops_dense_macs', 'metric',
          'mean per test example of the MACs a dense implementation computes up to the decision '
          '(`rc/operations.py`)', required=True),
    Field('ops_effective_macs', 'metric',
          "the same, NeuroBench's way: operations with a zero input skipped; MACs where the input is not a "
          'spike', required=True),
    Field('ops_effective_acs', 'metric',
          'accumulates (ACs): the effective operations whose inputs are all in {-1, 0, 1} (spikes)', required=True),
    Field('ops_dense_macs_full_sequence', 'metric',
          'dense MACs per example over all T steps, for reference', required=True),
    Field('n_steps', 'integer', 'sequence length T', required=True),
    Field('test_size', 'integer', 'number of test examples', required=True),
    Field('training', 'object', 'what training cost and selected (the `training.*` fields below)', required=True),
    Field('config', 'object',
          "the contender's full `Config` (every hyperparameter, defaults included)", required=True),
    Field('data_source', 'string',
          'where the data came from, in words (files and folder, the MNIST fallback, generated)', required=True),
    Field('versions', 'object',
          'library versions (python, torch, numpy, snntorch, the package itself, ...)', required=True),
    Field('hardware', 'object', 'machine, CPU, device and torch threads', required=True),
    Field('git_revision', 'string', 'code revision; `-dirty` when the tree had uncommitted changes', required=True),
    Field('command', 'string', 'the command line', required=True),
    Field('created', 'string', 'UTC time the record was written', required=True),
    Field('config_hash', 'string',
          '16 hex digits of SHA-256 over the canonical JSON of `config`, `data_options` and `data_seed`; '
          'part of the key `--resume` matches', kind='key'),
    Field('decision_lag_mean', 'metric',
          '`toy-runs` only: mean of (decision step - ideal step) over positives; positive is late'),
    Field('data_options', 'object',
          "the task's data options as this contender read them (sizes, encoding, paths, `data.*` overrides)"),
    Field('data_seed', 'integer',
          'seed of generated data and of validation carving: the same test set for every cell'),
    Field('contender_distribution', 'object', 'plug-in contenders only: the installed distribution that provided it'),
    Field('contender_distribution.name', 'string', "the distribution's name"),
    Field('contender_distribution.version', 'string', "the distribution's version"),
    Field('per_example', 'object',
          "each test example's outcome, in test-set order, for paired comparisons; its means must equal "
          '`accuracy` and `decision_step_mean`. New records keep the two arrays in a side file (`file`, '
          '`sha256`); older ones hold them inline'),
    Field('per_example.correct', 'list',
          '`test_size` values: 1 where the decision was right, else 0 (inline, or as uint8 in the side file)'),
    Field('per_example.decision_step', 'list',
          '`test_size` values: steps read at the decision (inline, or as int32 in the side file)'),
    Field('per_example.file', 'string',
          'side-file records only: the file beside `results.jsonl` holding `correct` and `decision_step` '
          '(`per_example/<sha256>.npz`, `bench/core/per_example.py`)'),
    Field('per_example.sha256', 'string',
          'side-file records only: SHA-256 of the two arrays (uint8 `correct`, then int32 `decision_step`), '
          'which names the file and is checked when it is loaded'),
    Field('per_example.labels_sha256', 'string',
          'SHA-256 of the test labels (int64): names the test set; records pair only when it matches'),
    Field('protocol', 'object',
          "what the cell's contender shared with the others on its task (`bench/run/protocol.py`)"),
    Field('protocol.settings', 'object', "the task's protocol settings (budget, front end, augmentation)"),
    Field('protocol.overrides', 'list', "this contender's declared exceptions, each `setting`, `value` and `reason`"),
    Field('protocol.overrides.setting', 'string', 'a protocol setting, or `data.<option>`'),
    Field('protocol.overrides.value', 'any', "the contender's own value; null when it has no such setting"),
    Field('protocol.overrides.reason', 'string', "why it cannot share the protocol's value (printed beside its row)"),
    Field('learning_curve', 'object',
          'the weights snapshotted at fixed training compute, scored on the first test examples '
          '(`baselines/learning_curve.py`); the basis of the equal-compute view'),
    Field('learning_curve.examples', 'integer',
          'number of test examples (the first of the test split) every point is scored on'),
    Field('learning_curve.points', 'list', 'one per grid point crossed during training, in order'),
    Field('learning_curve.points.grid_index', 'integer',
          'k of the global grid 2^(k/4) MACs (the same for every contender)'),
    Field('learning_curve.points.training_macs', 'number',
          'dense forward + backward training MACs when the snapshot was taken'),
    Field('learning_curve.points.epoch', 'number', 'fractional epochs done (1.5: the middle of epoch 2)'),
    Field('learning_curve.points.train_seconds', 'number', 'training wall-clock so far'),
    Field('learning_curve.points.accuracy', 'number', 'accuracy at the decision on the `examples` test examples'),
    Field('learning_curve.points.decision_step_mean', 'number', 'mean steps read at the decision on them'),
    Field('learning_curve.points.correct', 'string', 'their 0/1 outcomes, packed 8 to a byte, base64 (`pack_bits`)'),
    Field('streaming', 'object',
          'the streaming time to decision with one input step per `step_ms`, for early exit and for the '
          'full sequence (`bench/measure/streaming.py` defines every value)'),
    Field('streaming.step_ms', 'number',
          "milliseconds between two input steps: the profile's task key `step_ms`, else the task's default "
          '(speech: the frame hop; SHD: the bin width; else 1 ms)'),
    Field('streaming.step_ms_from', 'string', '`profile` or `task`: where `step_ms` comes from'),
    Field('streaming.step_compute_ms', 'number',
          "milliseconds of compute per step at batch size 1, measured in the harness: the contender's own "
          'inference on one example at a time, over the steps it read'),
    Field('streaming.compute_examples', 'integer',
          'test examples (the first) that `step_compute_ms` was measured on'),
    Field('streaming.early_exit', 'object', 'early exit: each example decided at its decision step'),
    Field('streaming.full_sequence', 'object', 'full-sequence inference: every example decided after all T steps'),
    Field('streaming.early_exit.steps_read', 'object',
          '`p50`, `p90`, `p99` over the test examples of the steps read'),
    Field('streaming.early_exit.time_to_decision_ms', 'object',
          '`p50`, `p90`, `p99` of the time to decision, k max(dt, c) + min(dt, c) for k steps read, dt = '
          '`step_ms`, c = `step_compute_ms`'),
    Field('streaming.full_sequence.steps_read', 'object', '`p50`, `p90`, `p99` of the steps read: T throughout'),
    Field('streaming.full_sequence.time_to_decision_ms', 'object',
          '`p50`, `p90`, `p99` of the time to decision: T max(dt, c) + min(dt, c) throughout'),
    Field('training.train_seconds', 'number',
          'wall-clock of the training steps (forward, backward, optimiser), validation excluded'),
    Field('training.validation_seconds', 'number', 'wall-clock of the per-epoch validation used for model selection'),
    Field('training.examples_per_second', 'number', 'training examples per training second'),
    Field('training.epochs', 'integer', 'epochs run'),
    Field('training.selected_epoch', 'integer', 'the epoch (1-based) whose weights were kept'),
    Field('training.step_evaluations_forward', 'integer',
          'step evaluations (one example, one step) of all forward passes'),
    Field('training.step_evaluations_backward', 'integer', 'the same for all backward passes'),
    Field('training.final_train_loss', 'number', 'mean training loss of the last epoch'),
    Field('training.selected_val_accuracy', 'number', 'validation accuracy at the decision of the kept weights'),
    Field('training.step_paths', 'object',
          'minibatches trained by each implementation of the training step, for a contender with several '
          '(`rc-lstm`: `blas`, `compiled`, `fused`, `step-loop`, or `naive`); absent or empty for the others. The '
          'forward step evaluations, hence the training MACs, depend on it: only `fused` counts its search '
          "pass's steps past a crossing"),
    Field('training.history', 'list', 'one entry per epoch (fields `training.history.*`)'),
    Field('training.history.epoch', 'integer', '1-based epoch'),
    Field('training.history.train_loss', 'number', 'mean training loss over the epoch'),
    Field('training.history.val_accuracy', 'number', 'validation accuracy at the decision after the epoch'),
    Field('training.history.val_decision_step', 'number',
          'validation mean steps read at the decision after the epoch'),
    Field('training.history.train_seconds', 'number', 'cumulative training wall-clock (validation excluded)'),
    Field('training.history.step_evaluations_forward', 'integer', 'cumulative forward step evaluations'),
    Field('training.forward_macs', 'number',
          'dense MACs of all forward passes of training (step evaluations x MACs per step)'),
    Field('training.backward_macs', 'number',
          "dense MACs of all backward passes (a matmul's backward counts twice its forward)"),
    Field('training.shared_across_thresholds', 'integer',
          'number of theta cells evaluated from this one training run'),
)
"""Every field of a result record, required ones first (in the order the reference lists them)."""

ERROR_ONLY_FIELDS: tuple[Field, ...] = (
    Field('error_schema_version', 'integer', 'error-record layout version', required=True),
    Field('error_kind', 'string', '`training-diverged` (a NaN or infinite loss) or `out-of-memory`', required=True),
    Field('error_type', 'string', "the exception's class", required=True),
    Field('message', 'string', 'the message printed (an out-of-memory one names the option to lower)', required=True),
    Field('phase', 'string', '`training` or `evaluation`', required=True),
)
"""The fields of an error record that a result record does not have (its others are
:data:`RECORD_FIELDS`' key, configuration and provenance fields)."""

FIELDS_BY_NAME: dict[str, Field] = {field.name: field for field in (*RECORD_FIELDS, *ERROR_ONLY_FIELDS)}
"""Every field of either kind of record by its (dotted) name."""


class RecordKey(NamedTuple):
    """The identity of a record (:func:`bench.core.records.record_key`): its cell and its
    ``config_hash`` (None for a record written before the field existed)."""

    task: str
    contender: str
    seed: int
    theta: float | None
    beta: float | None
    profile: str
    rule: str
    config_hash: str | None

    @property
    def cell(self) -> tuple:
        """The cell alone: every field but ``config_hash``."""
        return tuple(self[:-1])


class GroupKey(NamedTuple):
    """The configuration a summary row stands for: a record's cell without its seed
    (:func:`bench.analysis.summary.group_records`)."""

    task: str
    contender: str
    rule: str
    theta: float | None
    beta: float | None
    profile: str

    @classmethod
    def of(cls, record: dict[str, Any]) -> GroupKey:
        """The group key of ``record``."""
        return cls(*(record[name] for name in cls._fields))
