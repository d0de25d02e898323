"""A contender built on a :class:`rc.model.StepModel`: shared training settings and evaluation.

Subclasses create ``self.model`` in ``__init__`` and define :meth:`objective`;
training (:func:`baselines.training_loop.fit_minibatches`), per-step scores
and early-exit decisions come from here.
"""

from __future__ import annotations

import contextlib
import copy
import math
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from baselines.augment import random_shift
from baselines.learning_curve import Snapshot, SnapshotSchedule
from baselines.registry import Contender, Progress, TrainingReport
from baselines.training_loop import BatchOutcome, Validation, check_schedule_and_selection, fit_minibatches
from bench.core.options import require_positive
from bench.core.task_contract import Split
from rc.crossing import Decision
from rc.inference import early_exit_decide
from rc.operations import backward_macs_per_step, dense_macs_per_step, operations_to_decision, training_operations


MAX_LR = 1.0
"""The largest learning rate accepted: AdamW's step is about lr per weight, so beyond 1 training
diverges at once (and near float32's range torch fails with an overflow, not a loss)."""


@dataclass(frozen=True)
class TrainingConfig:
    """Training settings every step-model contender has.

    Attributes:
        epochs: training epochs.
        batch_size: training minibatch size.
        lr: AdamW learning rate.
        grad_clip: max gradient norm (0 disables clipping).
        eval_batch_size: batch size for evaluation.
        lr_schedule: ``constant`` or ``cosine`` (see :mod:`baselines.training_loop`).
        selection: ``best-val-accuracy`` or ``last-epoch`` (see :mod:`baselines.training_loop`).
        weight_decay: AdamW's decoupled weight decay (0: plain Adam).
        augment_shift: translate each training example's frames by a random offset of up
            to this many pixels per axis (:func:`baselines.augment.random_shift`; tasks with
            image frames only; 0: no augmentation).
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    grad_clip: float = 1.0
    eval_batch_size: int = 1024
    lr_schedule: str = "constant"
    selection: str = "best-val-accuracy"
    weight_decay: float = 0.0
    augment_shift: int = 0

    def __post_init__(self) -> None:
        require_positive(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                         eval_batch_size=self.eval_batch_size)
        if not self.lr <= MAX_LR:
            raise ValueError(f"lr must lie in (0, {MAX_LR:g}] (an Adam step size), got {self.lr!r}")
        for name in ("grad_clip", "weight_decay"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)!r}")
        check_schedule_and_selection(self.lr_schedule, self.selection)
        if isinstance(self.augment_shift, bool) or not isinstance(self.augment_shift, int) or self.augment_shift < 0:
            raise ValueError(f"augment_shift must be an integer >= 0, got {self.augment_shift!r}")


class StepModelContender(Contender):
    """A contender whose ``self.model`` is a :class:`rc.model.StepModel` ``nn.Module``.

    ``Config`` must extend :class:`TrainingConfig`.
    """

    model: torch.nn.Module

    @abstractmethod
    def objective(self, x: Tensor, y: Tensor) -> BatchOutcome:
        """The training loss of one minibatch and the step evaluations it computes."""

    def fit(self, train: Split, val: Split, progress: Progress) -> TrainingReport:
        def validate() -> Validation:
            decision, _ = self.decide(val.x)
            correct = (decision.prediction == val.y).float().mean().item()
            return Validation(correct, decision.steps_read.float().mean().item())

        cfg = self.config
        objective = self.objective
        if cfg.augment_shift > 0:
            if self.spec.frame_shape is None:
                raise ValueError(f"augment_shift needs a task whose steps are image frames; task "
                                 f"{self.spec.name!r} has none (set augment_shift = 0)")
            shifts = torch.Generator().manual_seed(self.seed)

            def objective(x: Tensor, y: Tensor) -> BatchOutcome:
                return self.objective(random_shift(x, self.spec.frame_shape, cfg.augment_shift, shifts), y)

        forward_macs, backward_macs = dense_macs_per_step(self.model), backward_macs_per_step(self.model)
        self._snapshots = SnapshotSchedule(
            forward_macs, backward_macs,
            upper_bound_macs=cfg.epochs * len(train) * self.spec.n_steps * (forward_macs + backward_macs))
        return fit_minibatches(
            self.model, objective, validate, train, snapshots=self._snapshots,
            epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, grad_clip=cfg.grad_clip,
            seed=self.seed, device=self.device, progress=progress,
            lr_schedule=cfg.lr_schedule, selection=cfg.selection, weight_decay=cfg.weight_decay,
        )

    def _chunks(self, x) -> list[Tensor]:
        size = self.config.eval_batch_size
        return [x[i:i + size].to(self.device) for i in range(0, x.shape[0], size)]

    @torch.no_grad()
    def step_scores(self, x: Tensor) -> Tensor:
        self.model.eval()
        return torch.cat([self.model(chunk).cpu() for chunk in self._chunks(x)])

    def operations_to_decision(self, x: Tensor, decision: Decision) -> dict[str, float]:
        size = self.config.eval_batch_size
        totals: dict[str, float] = {}
        for start in range(0, x.shape[0], size):
            part = Decision(decision.prediction[start:start + size], decision.step_index[start:start + size],
                            decision.crossed[start:start + size])
            counts = operations_to_decision(self.model, x[start:start + size].to(self.device), part)
            for name in ("dense_macs", "effective_macs", "effective_acs"):
                totals[name] = totals.get(name, 0.0) + float(getattr(counts, name).double().sum())
        return {name: total / x.shape[0] for name, total in totals.items()}

    def learning_curve(self) -> Sequence[Snapshot]:
        schedule = getattr(self, "_snapshots", None)
        return () if schedule is None else tuple(schedule.snapshots)

    @contextlib.contextmanager
    def snapshot_weights(self, snapshot: Snapshot) -> Iterator[None]:
        own = copy.deepcopy(self.model.state_dict())
        self.model.load_state_dict(snapshot.state)
        try:
            yield
        finally:
            self.model.load_state_dict(own)

    def training_operations(self, report: TrainingReport) -> dict[str, float]:
        counts = training_operations(self.model, report.step_evaluations_forward, report.step_evaluations_backward)
        return {"forward_macs": float(counts.forward_macs), "backward_macs": float(counts.backward_macs)}

    @torch.no_grad()
    def decide(self, x: Tensor) -> tuple[Decision, int]:
        self.model.eval()
        parts, evaluations = [], 0
        for chunk in self._chunks(x):
            decision, count = early_exit_decide(self.model, chunk, self.rule)
            parts.append(decision)
            evaluations += count
        return Decision(
            torch.cat([d.prediction for d in parts]).cpu(),
            torch.cat([d.step_index for d in parts]).cpu(),
            torch.cat([d.crossed for d in parts]).cpu(),
        ), evaluations
