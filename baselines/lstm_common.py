"""What the three LSTM contenders share: the model, hyperparameters, evaluation.

They differ only in their training objective (:meth:`LSTMContender.objective`).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from baselines.registry import Contender, Progress, TrainingReport
from baselines.training_loop import BatchOutcome, Validation, check_schedule_and_selection, fit_minibatches
from bench.options import require_positive
from bench.tasks.base import Split
from rc.crossing import Decision
from rc.inference import early_exit_decide
from rc.model import LSTMClassifier


@dataclass(frozen=True)
class LSTMConfig:
    """Hyperparameters of an LSTM contender.

    Attributes:
        hidden: LSTM units per layer.
        layers: stacked LSTM layers.
        epochs: training epochs.
        batch_size: training minibatch size.
        lr: Adam learning rate.
        grad_clip: max gradient norm (0 disables clipping).
        eval_batch_size: batch size for evaluation.
        lr_schedule: ``constant`` or ``cosine`` (see :mod:`baselines.training_loop`).
        selection: ``best-val-accuracy`` or ``last-epoch`` (see :mod:`baselines.training_loop`).
    """

    hidden: int = 32
    layers: int = 1
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    grad_clip: float = 1.0
    eval_batch_size: int = 1024
    lr_schedule: str = "constant"
    selection: str = "best-val-accuracy"

    def __post_init__(self) -> None:
        require_positive(hidden=self.hidden, layers=self.layers, epochs=self.epochs,
                         batch_size=self.batch_size, lr=self.lr, eval_batch_size=self.eval_batch_size)
        if self.grad_clip < 0:
            raise ValueError(f"grad_clip must be >= 0, got {self.grad_clip}")
        check_schedule_and_selection(self.lr_schedule, self.selection)


class LSTMContender(Contender):
    """An :class:`rc.model.LSTMClassifier` trained by :meth:`objective`."""

    Config = LSTMConfig

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        torch.manual_seed(self.seed)
        n_outputs = self.spec.n_outputs(self.rule.name)
        self.model = LSTMClassifier(self.spec.n_features, self.config.hidden, n_outputs,
                                    self.config.layers).to(self.device)

    @abstractmethod
    def objective(self, x: Tensor, y: Tensor) -> BatchOutcome:
        """The training loss of one minibatch and the step evaluations it computes."""

    def fit(self, train: Split, val: Split, progress: Progress) -> TrainingReport:
        def validate() -> Validation:
            decision, _ = self.decide(val.x)
            correct = (decision.prediction.cpu() == val.y).float().mean().item()
            return Validation(correct, decision.steps_read.float().mean().item())

        cfg = self.config
        return fit_minibatches(
            self.model, self.objective, validate, train,
            epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, grad_clip=cfg.grad_clip,
            seed=self.seed, device=self.device, progress=progress,
            lr_schedule=cfg.lr_schedule, selection=cfg.selection,
        )

    @torch.no_grad()
    def step_scores(self, x: Tensor) -> Tensor:
        self.model.eval()
        chunks = [self.model(x[i:i + self.config.eval_batch_size].to(self.device)).cpu()
                  for i in range(0, x.shape[0], self.config.eval_batch_size)]
        return torch.cat(chunks)

    @torch.no_grad()
    def decide(self, x: Tensor) -> tuple[Decision, int]:
        self.model.eval()
        parts, evaluations = [], 0
        for i in range(0, x.shape[0], self.config.eval_batch_size):
            decision, count = early_exit_decide(self.model, x[i:i + self.config.eval_batch_size].to(self.device),
                                                self.rule)
            parts.append(decision)
            evaluations += count
        return Decision(
            torch.cat([d.prediction for d in parts]).cpu(),
            torch.cat([d.step_index for d in parts]).cpu(),
            torch.cat([d.crossed for d in parts]).cpu(),
        ), evaluations
