"""Contenders and their registry.

A contender is a model plus its training recipe. The harness needs only what
:class:`Contender` declares: train it (:meth:`Contender.fit`), per-step class
scores for a batch (:meth:`Contender.step_scores`) and its decisions with
real early exit (:meth:`Contender.decide`). Adding one is one file with a
class decorated by :func:`register_contender`, imported in
``baselines/__init__.py``.

Third-party contenders come from installed distributions through the entry-point
group ``rcbench.contenders`` (:data:`ENTRY_POINT_GROUP`): each entry point is
named after the contender and points at its :class:`Contender` subclass, e.g. in
the distribution's ``pyproject.toml``::

    [project.entry-points."rcbench.contenders"]
    gru-eos = "rcbench_gru.contender:GRUEndOfSequence"

They are loaded the first time the registry (:data:`CONTENDERS`) is listed or
queried, so they appear in ``rcbench list``, in profiles and in runs like the
built-in ones. An entry point that cannot be imported, or does not give a
:class:`Contender` subclass of that name, is a :class:`ContenderPluginError`
that names it.
"""

from __future__ import annotations

import importlib.metadata
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

from baselines.learning_curve import Snapshot
from bench.core.options import build_options
from bench.core.task_contract import Split, TaskSpec
from rc.crossing import CrossingRule, Decision
from rc.operations import check_counts_operations
from rc.registry import Registry

Progress = Callable[[str], None]


@dataclass(frozen=True)
class EpochLog:
    """One epoch of training, as measured at its end.

    Attributes:
        epoch: 1-based.
        train_loss: mean training loss over the epoch's examples.
        val_accuracy: validation accuracy at the decision.
        val_decision_step: validation mean steps read (1-based) at the decision.
        train_seconds: training wall-clock seconds so far (cumulative, validation excluded).
        step_evaluations_forward: forward step evaluations so far (cumulative).
    """

    epoch: int
    train_loss: float
    val_accuracy: float
    val_decision_step: float
    train_seconds: float
    step_evaluations_forward: int


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
        history: one :class:`EpochLog` per epoch, in order (how fast the
            decision moved earlier, and at what cost).
        step_paths: minibatches trained by each implementation of the training
            step, for a contender that reports it (:class:`baselines.training_loop.BatchOutcome`);
            empty for the others.
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
    history: tuple[EpochLog, ...] = ()
    step_paths: dict[str, int] = field(default_factory=dict)


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
        :mod:`rc.operations` for the definitions). A count that cannot be
        made raises; it is never reported as 0.
        """

    @abstractmethod
    def training_operations(self, report: TrainingReport) -> dict[str, float]:
        """Dense MACs that training computed: ``forward_macs`` and ``backward_macs`` (totals)."""

    def check_counting(self) -> None:
        """Raise :class:`rc.operations.OperationCountError`, naming the methods to add, if this
        contender cannot count its operations. The harness calls it on a freshly built contender
        when it plans a run, before loading data or training. By default it checks ``self.model``,
        when the contender has one, against :data:`rc.operations.SELF_COUNTING_METHODS`; a
        contender that counts some other way overrides it."""
        model = getattr(self, "model", None)
        if isinstance(model, torch.nn.Module):
            check_counts_operations(model)

    def learning_curve(self) -> Sequence[Snapshot]:
        """The weights copied at fixed training compute during :meth:`fit`
        (:mod:`baselines.learning_curve`); none by default, and then a report compares this
        contender at equal training compute only through its final model."""
        return ()

    def snapshot_weights(self, snapshot: Snapshot) -> AbstractContextManager[None]:
        """A context in which the contender decides with ``snapshot``'s weights, restoring its own after."""
        raise NotImplementedError(f"{self.name} keeps no learning-curve snapshots")


C = TypeVar("C", bound=type[Contender])

ENTRY_POINT_GROUP = "rcbench.contenders"
"""The entry-point group third-party distributions register contenders in."""


class ContenderPluginError(ValueError):
    """A contender entry point could not be loaded or does not give a valid contender."""


class ContenderRegistry(Registry[type[Contender]]):
    """Name -> contender class; loads the :data:`ENTRY_POINT_GROUP` entry points on first read.

    Registering (:func:`register_contender`) never loads the entry points; reading, listing or
    testing membership does, once. An entry point that fails to load is kept in :attr:`broken`
    with its error and left out of the registry: listing and the other contenders work; asking
    for it by name raises its error.
    """

    def __init__(self) -> None:
        super().__init__("contender")
        self._entry_points_loaded = False
        self._loading = False
        self.broken: dict[str, ContenderPluginError] = {}
        self.distributions: dict[str, tuple[str, str]] = {}
        """Plug-in contender name -> (distribution name, version), for provenance."""

    def _before_read(self) -> None:
        self.load_entry_points()

    def load_entry_points(self) -> None:
        """Load every entry point of :data:`ENTRY_POINT_GROUP` not loaded yet (idempotent);
        one that fails goes to :attr:`broken`."""
        if self._entry_points_loaded or self._loading:
            return
        self._loading = True
        try:
            for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                try:
                    self._load_one(entry_point)
                except ContenderPluginError as error:
                    self.broken[entry_point.name] = error
            self._entry_points_loaded = True
        finally:
            self._loading = False

    def _load_one(self, entry_point: importlib.metadata.EntryPoint) -> None:
        where = f"contender entry point {entry_point.name!r} ({entry_point.value}) in group {ENTRY_POINT_GROUP!r}"
        dist = getattr(entry_point, "dist", None)
        if dist is not None:
            where += f" of distribution {dist.name!r}"
        try:
            cls = entry_point.load()
        except Exception as error:  # noqa: BLE001  (any import failure of a plug-in is reported the same way)
            raise ContenderPluginError(f"{where} failed to load: {type(error).__name__}: {error}") from error
        if not (isinstance(cls, type) and issubclass(cls, Contender)):
            raise ContenderPluginError(f"{where} gives {cls!r}, not a subclass of baselines.registry.Contender")
        name = getattr(cls, "name", None)
        if name != entry_point.name:
            raise ContenderPluginError(f"{where} gives a contender named {name!r}; the entry point must carry the "
                                       f"contender's name")
        missing = [attr for attr in ("description", "Config", "threshold_in_training") if not hasattr(cls, attr)]
        if missing or getattr(cls, "__abstractmethods__", None):
            details = ", ".join([*missing, *sorted(getattr(cls, "__abstractmethods__", ()))])
            raise ContenderPluginError(f"{where}: {cls.__module__}.{cls.__qualname__} lacks {details}")
        try:
            register_contender(cls)
        except ValueError as error:
            raise ContenderPluginError(f"{where}: {error}") from None
        if dist is not None:
            self.distributions[entry_point.name] = (dist.name, dist.version)

    def get(self, name: str) -> type[Contender]:
        """The contender registered as ``name``; a broken entry point of that name raises its own error."""
        if name not in self.registered():
            self.load_entry_points()
            if name in self.broken:
                raise self.broken[name]
        return super().get(name)


CONTENDERS: ContenderRegistry = ContenderRegistry()
"""Every registered contender by name: the built-in ones and those of installed entry points."""


def register_contender(cls: C) -> C:
    """Class decorator: register a :class:`Contender` subclass under its ``name``."""
    return CONTENDERS.register(cls)


def get_contender(name: str) -> type[Contender]:
    """The contender class registered as ``name`` (built-in or from an entry point); the error
    lists the known contenders."""
    return CONTENDERS.get(name)
