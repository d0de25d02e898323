"""Contenders and their registry.

A contender is a model plus its training recipe. The harness needs only what
:class:`Contender` declares: train it (:meth:`Contender.fit`), per-step class
scores for a batch (:meth:`Contender.step_scores`) and its decisions with
real early exit (:meth:`Contender.decide`). Adding one is one file with a
class decorated by :func:`register_contender`, imported in
``baselines/__init__.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

from bench.options import build_options
from bench.tasks.base import Split, TaskSpec
from rc.crossing import CrossingRule, Decision

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingReport:
    """What training cost and what it selected.

    Attributes:
        train_seconds: wall-clock seconds spent in training steps (forward,
            backward and optimiser), excluding validation.
        validation_seconds: wall-clock seconds spent evaluating on the
            validation split for model selection.
        examples_per_second: training examples processed per training second.
        epochs: epochs run.
        selected_epoch: the epoch (1-based) whose weights were kept.
        step_evaluations_forward: recurrent step evaluations (one example,
            one time step) computed by all forward passes of training.
        step_evaluations_backward: the same for all backward passes.
        final_train_loss: mean training loss of the last epoch.
        selected_val_accuracy: validation accuracy at the decision of the
            kept weights.
    """

    train_seconds: float
    validation_seconds: float
    examples_per_second: float
    epochs: int
    selected_epoch: int
    step_evaluations_forward: int
    step_evaluations_backward: int
    final_train_loss: float
    selected_val_accuracy: float


class Contender(ABC):
    """Base class of every contender.

    Class attributes:
        name: the short registered name (``rcbench list`` shows it).
        description: one line for ``rcbench list``.
        Config: a frozen dataclass of hyperparameters, all with defaults;
            profiles fill it in. A ``beta`` field makes the contender take
            part in beta sweeps.
        threshold_in_training: whether training depends on theta. When it
            does not, the harness trains once and evaluates every theta.

    Args:
        spec: the task's shape.
        rule: the crossing rule (with theta) for decisions; ignored when
            :meth:`own_rule` gives one.
        config: an instance of ``Config``.
        device: where to train and evaluate.
        seed: seeds weight initialisation and minibatch order.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type]
    threshold_in_training: ClassVar[bool]

    def __init__(self, spec: TaskSpec, rule: CrossingRule, config: Any, device: torch.device, seed: int) -> None:
        self.spec = spec
        self.rule = self.own_rule() or rule
        self.config = config
        self.device = device
        self.seed = seed

    @classmethod
    def make_config(cls, values: Mapping[str, Any], where: str) -> Any:
        """``Config`` built from ``values``, with errors naming the bad key."""
        return build_options(cls.Config, values, where)

    @classmethod
    def own_rule(cls) -> CrossingRule | None:
        """A rule the contender always decides with (e.g. the first spike), or None to take the
        harness's thresholded rule. With its own rule a contender gets one cell per seed."""
        return None

    @classmethod
    def uses_beta(cls) -> bool:
        """Whether the contender has an RC entropy weight ``beta``."""
        return any(f.name == "beta" for f in fields(cls.Config))

    @abstractmethod
    def fit(self, train: Split, val: Split, progress: Progress) -> TrainingReport:
        """Train on ``train``, select on ``val`` (never on the test split)."""

    @abstractmethod
    def step_scores(self, x: Tensor) -> Tensor:
        """Class scores at every step: ``(batch, time, features)`` -> ``(batch, time, outputs)``."""

    @abstractmethod
    def decide(self, x: Tensor) -> tuple[Decision, int]:
        """Decisions with real early exit, and the step evaluations that cost."""

    @abstractmethod
    def operations_to_decision(self, x: Tensor, decision: Decision) -> dict[str, float]:
        """Operations per example to each example's decision, means over ``x``'s examples.

        Keys: ``dense_macs``, ``effective_macs``, ``effective_acs`` (see
        :mod:`bench.operations` for the definitions). A count that cannot be
        made raises; it is never reported as 0.
        """

    @abstractmethod
    def training_operations(self, report: TrainingReport) -> dict[str, float]:
        """Dense MACs that training computed: ``forward_macs`` and ``backward_macs`` (totals)."""


C = TypeVar("C", bound=type[Contender])

CONTENDERS: dict[str, type[Contender]] = {}


def register_contender(cls: C) -> C:
    """Class decorator: register a :class:`Contender` subclass under its ``name``."""
    name = cls.name
    if name in CONTENDERS and CONTENDERS[name] is not cls:
        raise ValueError(
            f"contender {name!r} is registered twice ({CONTENDERS[name].__module__} and {cls.__module__})"
        )
    CONTENDERS[name] = cls
    return cls


def get_contender(name: str) -> type[Contender]:
    """The contender class registered as ``name``."""
    try:
        return CONTENDERS[name]
    except KeyError:
        known = ", ".join(sorted(CONTENDERS))
        raise ValueError(f"unknown contender {name!r}; known contenders: {known}") from None
