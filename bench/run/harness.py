"""What a comparison computes: the training jobs planned from a profile and the record of each cell.

A *cell* is one (task, contender, seed, theta, beta) combination and gives one
record. Contenders whose training does not depend on theta (``lstm-eos``,
``lstm-allsteps``) are trained once per (task, seed, beta) and evaluated at
every theta; each of those records says so in
``training.shared_across_thresholds``.

:func:`plan_jobs` turns a profile into :class:`TrainingJob` s and checks every name,
threshold, beta and hyperparameter, and that every contender can count its operations
(:func:`check_counting`), before anything is trained. :func:`contender_config` gives a
contender's ``Config`` from the profile. :func:`cell_record` makes the record of one cell
from a trained contender: the test metrics (:func:`evaluate`, with the step duration of
:func:`task_step_ms`), the learning curve (:func:`learning_curve`), the training cost, the
configuration and the provenance.

Running the jobs (loading the data, the executors, failed cells, ``--resume``, writing the
records) is :mod:`bench.run.jobs`, which imports this module (never the reverse).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from baselines.registry import CONTENDERS, Contender, TrainingReport, get_contender
from bench.measure import metrics
from bench.measure.streaming import DEFAULT_STEP_MS, default_step_ms, step_compute_ms, streaming_fields
from bench.run.profile import Profile, check_profile_names
from bench.core.record_schema import RecordKey
from bench.core.records import LEARNING_CURVE_FIELD, SCHEMA_VERSION, pack_bits
from bench.core.task_contract import TaskData, TaskSpec
from bench.tasks.registry import get_task
from rc.crossing import Decision, make_rule
from rc.loss import check_beta
from rc.operations import OperationCountError


@dataclass(frozen=True)
class TrainingJob:
    """One training run and the thresholds it is evaluated at.

    Attributes:
        task, contender, seed: what is trained.
        rule: crossing rule name.
        beta: the RC entropy weight, or None for contenders without one.
        thresholds: theta values to evaluate; a contender with
            ``threshold_in_training`` gets one job per theta. ``(None,)`` for a
            contender with its own rule (see :meth:`Contender.own_rule`).
    """

    task: str
    contender: str
    seed: int
    rule: str
    beta: float | None
    thresholds: tuple[float | None, ...]

    def cell_keys(self, profile: str, config_hash: str | None) -> list[RecordKey]:
        """Record keys of this job's cells (see :class:`bench.core.record_schema.RecordKey`)."""
        return [RecordKey(self.task, self.contender, self.seed, theta, self.beta, profile, self.rule, config_hash)
                for theta in self.thresholds]


@dataclass(frozen=True)
class JobSetup:
    """What a training job is configured with, known before training: the contender's ``Config``,
    the task's data options (as a dict) and the hash of both with the data seed. Made by
    :func:`bench.run.jobs.job_setup`; :func:`cell_record` records its hash and data options."""

    config: Any
    data_options: dict[str, Any]
    config_hash: str


def plan_jobs(
    profile: Profile,
    tasks: Sequence[str],
    contenders: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    thresholds: Sequence[float] | None = None,
    betas: Sequence[float] | None = None,
) -> list[TrainingJob]:
    """Every training job of a run; command-line overrides replace the profile's lists
    (``contenders``, when given, replaces every task's lineup, :meth:`Profile.lineup`).

    Every name, threshold, beta and hyperparameter is checked here, before
    anything is trained.
    """
    check_profile_names(profile)
    for beta in betas or ():
        check_beta(beta)
    jobs = []
    for task_name in tasks:
        task = get_task(task_name)
        if task_name not in profile.tasks:
            raise ValueError(
                f"profile {profile.name!r} has no settings for task {task_name!r}; "
                f"it covers: {', '.join(sorted(profile.tasks))}"
            )
        plan = profile.tasks[task_name]
        rule = plan.rule or task.default_rule
        task_thresholds = tuple(thresholds or plan.thresholds)
        for theta in task_thresholds:
            make_rule(rule, theta)
        task_betas = tuple(betas or plan.betas or (None,))
        for contender_name in contenders or profile.lineup(task_name):
            contender = get_contender(contender_name)
            check_counting(profile, task_name, contender, rule, task_thresholds[0])
            own_rule = contender.own_rule()
            if own_rule is not None:
                _config_beta(profile, task_name, contender)  # checks the hyperparameters now
                jobs.extend(TrainingJob(task_name, contender_name, seed, own_rule.name, None, (None,))
                            for seed in seeds or profile.seeds)
                continue
            default_beta = _config_beta(profile, task_name, contender)
            contender_betas: tuple[float | None, ...] = (
                tuple(default_beta if b is None else b for b in task_betas) if contender.uses_beta() else (None,)
            )
            for seed in seeds or profile.seeds:
                for beta in dict.fromkeys(contender_betas):
                    if contender.threshold_in_training:
                        jobs.extend(TrainingJob(task_name, contender_name, seed, rule, beta, (theta,))
                                    for theta in task_thresholds)
                    else:
                        jobs.append(TrainingJob(task_name, contender_name, seed, rule, beta, task_thresholds))
    return jobs


COUNTING_CHECK_SPEC = dict(n_steps=4, n_features=28 * 28, frame_shape=(28, 28))
"""The shape of the stand-in task :func:`check_counting` builds contenders for: 4 steps of 28 x 28
image frames (784 features), so contenders with an image front end build too."""


def check_counting(profile: Profile, task: str, contender: type[Contender], rule: str, theta: float | None) -> None:
    """Build ``contender`` with its ``Config`` for ``task`` on a stand-in task shape
    (:data:`COUNTING_CHECK_SPEC`; two classes for a binary rule, else ten) and call its
    :meth:`~baselines.registry.Contender.check_counting`: a contender that cannot count its
    operations fails here, when the run is planned, not after training. The global torch random
    state is left as it was."""
    n_classes = 2 if rule.startswith("two-sided") else 10
    spec = TaskSpec(f"{task} (counting check)", n_classes=n_classes, default_rule=rule, **COUNTING_CHECK_SPEC)
    config = contender_config(profile, task, contender)
    with torch.random.fork_rng(devices=[]):
        built = contender(spec, make_rule(rule, 0.9 if theta is None else theta), config, torch.device("cpu"), 0)
    try:
        built.check_counting()
    except OperationCountError as error:
        raise OperationCountError(f"contender {contender.name!r} cannot count its operations, so it cannot be "
                                  f"run (checked before any training): {error}") from None


def contender_config(profile: Profile, task: str, contender: type[Contender], beta: float | None = None) -> Any:
    """The contender's ``Config`` for ``task`` from the profile (its protocol applied), with ``beta``
    replaced if given."""
    values = profile.resolved_values(task, contender.name, [f.name for f in fields(contender.Config)])
    if beta is not None:
        values["beta"] = beta
    return contender.make_config(values, f"profile {profile.name}, task {task}, contender {contender.name}")


def _config_beta(profile: Profile, task: str, contender: type[Contender]) -> float | None:
    """The profile's beta for ``contender`` on ``task`` (None for contenders without beta);
    building the config also checks every hyperparameter."""
    config = contender_config(profile, task, contender)
    return float(config.beta) if contender.uses_beta() else None


FULL_SEQUENCE_COUNT_EXAMPLES = 8
"""Test examples on which ``ops_dense_macs_full_sequence`` is counted (dense counts are the same for every input)."""


def evaluate(contender: Contender, data: TaskData, step_ms: float = DEFAULT_STEP_MS,
             step_ms_from: str = "task") -> dict[str, Any]:
    """Metrics of a trained contender on the test split, with its current rule.

    ``streaming`` holds the streaming time to decision with one input step per ``step_ms``
    milliseconds (``step_ms_from``: ``"task"``, the task's default, or ``"profile"``) and the
    compute of one step at batch 1 measured here on the first test examples
    (:mod:`bench.measure.streaming` defines every value).
    """
    test = data.test
    decision, evaluations = contender.decide(test.x)
    scores = contender.step_scores(test.x)
    by_step = metrics.accuracy_by_step(scores, test.y, contender.rule)
    operations = contender.operations_to_decision(test.x, decision)
    # Dense MACs do not depend on the input values: the full-sequence count is taken on a few examples.
    few = slice(0, FULL_SEQUENCE_COUNT_EXAMPLES)
    last_step = torch.full_like(decision.step_index[few], data.spec.n_steps - 1)
    full_sequence = contender.operations_to_decision(test.x[few], Decision(decision.prediction[few], last_step,
                                                                           decision.crossed[few]))
    result: dict[str, Any] = {
        "accuracy": metrics.accuracy(decision.prediction, test.y),
        "accuracy_by_step": by_step,
        "first_step_accuracy": by_step[0],
        "last_step_accuracy": by_step[-1],
        **metrics.decision_step_stats(decision),
        "never_crossed_fraction": metrics.never_crossed_fraction(decision),
        "inference_step_evaluations": evaluations,
        "ops_dense_macs": operations["dense_macs"],
        "ops_effective_macs": operations["effective_macs"],
        "ops_effective_acs": operations["effective_acs"],
        "ops_dense_macs_full_sequence": full_sequence["dense_macs"],
        "per_example": metrics.per_example(decision, test.y),
        "streaming": streaming_fields(decision.steps_read, data.spec.n_steps, step_ms,
                                      step_compute_ms(contender, test.x), step_ms_from),
    }
    if test.ideal_step is not None:
        result["decision_lag_mean"] = metrics.decision_lag(decision, test.ideal_step)
    return result


def task_step_ms(profile: Profile, task: str, contender: str) -> tuple[float, str]:
    """The step duration of ``task`` for the streaming time to decision and where it comes from: the
    profile's ``step_ms`` (``"profile"``), else the task's default for its data options as
    ``contender`` reads them (``"task"``, :func:`bench.measure.streaming.default_step_ms`)."""
    plan = profile.tasks[task]
    if plan.step_ms is not None:
        return plan.step_ms, "profile"
    options = get_task(task).options(plan.data_values(contender), f"profile {profile.name}, task {task} data")
    return default_step_ms(options), "task"


def learning_curve(contender: Contender, data: TaskData, examples: int) -> dict[str, Any] | None:
    """The contender's learning-curve snapshots scored on the first ``examples`` test examples
    (the same examples for every contender), with its current rule; None without snapshots."""
    snapshots = contender.learning_curve()
    if not snapshots:
        return None
    count = min(examples, len(data.test))
    x, y = data.test.x[:count], data.test.y[:count]
    points = []
    for snapshot in snapshots:
        with contender.snapshot_weights(snapshot):
            decision, _ = contender.decide(x)
        correct = (decision.prediction.cpu() == y.cpu()).to(torch.int64).tolist()
        points.append({"grid_index": snapshot.grid_index, "training_macs": snapshot.training_macs,
                       "epoch": snapshot.epoch, "train_seconds": snapshot.train_seconds,
                       "accuracy": metrics.accuracy(decision.prediction, y),
                       "decision_step_mean": metrics.decision_step_stats(decision)["decision_step_mean"],
                       "correct": pack_bits(correct)})
    return {"examples": count, "points": points}


def cell_record(job: TrainingJob, theta: float | None, profile: Profile, data: TaskData, contender: Contender,
                report: TrainingReport, provenance: dict[str, Any], setup: JobSetup | None = None) -> dict[str, Any]:
    """The record of one cell: its key, the test metrics at ``theta``, training cost, config and provenance."""
    extra = {} if setup is None else {"config_hash": setup.config_hash, "data_options": setup.data_options}
    curve = learning_curve(contender, data, profile.tasks[job.task].curve_examples)
    if curve is not None:
        extra[LEARNING_CURVE_FIELD] = curve
    plugin = CONTENDERS.distributions.get(job.contender)
    if plugin is not None:
        extra["contender_distribution"] = {"name": plugin[0], "version": plugin[1]}
    return {
        "schema_version": SCHEMA_VERSION,
        "task": job.task, "contender": job.contender, "seed": job.seed, "theta": theta,
        "beta": job.beta, "rule": job.rule, "profile": profile.name, **extra,
        "n_steps": data.spec.n_steps, "test_size": len(data.test),
        **evaluate(contender, data, *task_step_ms(profile, job.task, job.contender)),
        "training": {**asdict(report), "history": [asdict(log) for log in report.history],
                     **contender.training_operations(report),
                     "shared_across_thresholds": len(job.thresholds)},
        "config": asdict(contender.config), "protocol": profile.tasks[job.task].protocol.record(job.contender),
        "data_source": data.source, "data_seed": profile.data_seed,
        **provenance,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
